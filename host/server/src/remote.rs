//! The command line's side of the API: where the server is, which token to
//! present, calls that turn coded errors into readable ones, and output as
//! tables for people or JSON for scripts.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use comfy_table::{ContentArrangement, Table, presets::UTF8_BORDERS_ONLY};
use serde::Deserialize;
use serde_json::Value;

/// Where the server is and who is calling.
#[derive(clap::Args, Debug, Clone)]
pub struct Target {
    /// The server's base URL.
    #[arg(long, global = true, env = "PROVISIO_URL")]
    pub url: Option<String>,
    /// An API token (better: PROVISIO_TOKEN, or `token` in the config file).
    #[arg(long, global = true, env = "PROVISIO_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// A TOML file with `url` and `token` (default: ~/.config/provisio/cli.toml).
    #[arg(long, global = true, env = "PROVISIO_CLI_CONFIG")]
    pub cli_config: Option<PathBuf>,
    /// Print JSON instead of a table.
    #[arg(long, global = true)]
    pub json: bool,
    /// Print only the id of what a command creates or changes (for scripts).
    #[arg(long, short, global = true, conflicts_with = "json")]
    pub quiet: bool,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct CliFile {
    url: Option<String>,
    token: Option<String>,
}

pub struct Client {
    base: String,
    token: zeroize::Zeroizing<String>,
    http: reqwest::Client,
    pub json: bool,
    quiet: bool,
}

impl Client {
    /// Flags and environment win over the config file; a local server's
    /// bootstrap token (in the data directory) is the last resort.
    pub fn new(target: &Target, data_dir: &Path) -> anyhow::Result<Client> {
        let file = match &target.cli_config {
            Some(path) => Some(path.clone()),
            None => std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config/provisio/cli.toml")),
        };
        let file: CliFile = match file.filter(|p| p.exists()) {
            Some(path) => {
                let text = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
                toml::from_str(&text).with_context(|| format!("{}", path.display()))?
            }
            None => CliFile::default(),
        };
        let base = target.url.clone().or(file.url).unwrap_or_else(|| "http://127.0.0.1:8080".into());
        let token = match target.token.clone().or(file.token) {
            Some(t) => t,
            None => {
                let path = data_dir.join("bootstrap-token");
                std::fs::read_to_string(&path).map(|t| t.trim().to_string()).with_context(|| {
                    format!(
                        "no API token: set PROVISIO_TOKEN, pass --token, put `token` in ~/.config/provisio/cli.toml, \
                             or run where {} exists",
                        path.display()
                    )
                })?
            }
        };
        let http = reqwest::Client::builder().build()?;
        Ok(Client {
            base: base.trim_end_matches('/').to_string(),
            token: zeroize::Zeroizing::new(token),
            http,
            json: target.json,
            quiet: target.quiet,
        })
    }

    /// Calls `/api/v1{path}`; a coded error becomes a readable one.
    pub async fn call(&self, method: reqwest::Method, path: &str, body: Option<&Value>) -> anyhow::Result<Value> {
        match self.try_call(method.clone(), path, body).await? {
            Ok(value) => Ok(value),
            Err(refused) if refused.code.is_empty() => bail!("{method} {path}: HTTP {}", refused.status),
            Err(refused) => bail!("{refused}"),
        }
    }

    /// Calls `/api/v1{path}`: the answer, or the server's refusal as data
    /// (for a caller that goes on after one). Err only when it cannot ask.
    pub async fn try_call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
    ) -> anyhow::Result<Result<Value, Refused>> {
        let url = format!("{}/api/v1{path}", self.base);
        let mut request =
            self.http.request(method.clone(), &url).header("Authorization", format!("SSWS {}", self.token.as_str()));
        if let Some(body) = body {
            request = request.header("content-type", "application/json").body(body.to_string());
        }
        let response = request.send().await.with_context(|| format!("cannot reach Provisio at {}", self.base))?;
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        let value: Value =
            if text.is_empty() { Value::Null } else { serde_json::from_str(&text).unwrap_or(Value::String(text)) };
        if status.is_success() {
            return Ok(Ok(value));
        }
        Ok(Err(Refused {
            status: status.as_u16(),
            code: value["errorCode"].as_str().unwrap_or_default().to_string(),
            summary: value["errorSummary"].as_str().unwrap_or_default().to_string(),
        }))
    }

    /// A GET read as its wire type (`provisio_proto`): a field the server
    /// renamed is a compile error here, not an empty column.
    pub async fn get_as<T: serde::de::DeserializeOwned>(&self, path: &str) -> anyhow::Result<T> {
        let value = self.get(path).await?;
        serde_json::from_value(value).with_context(|| format!("GET {path}: the server answered in an unknown shape"))
    }

    /// Every page of a list paged by `after` (the key of the last item).
    pub async fn get_all<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        key: impl Fn(&T) -> &str,
    ) -> anyhow::Result<Vec<T>> {
        const PAGE: usize = 1000;
        let sep = if path.contains('?') { '&' } else { '?' };
        let mut all: Vec<T> = Vec::new();
        loop {
            let after = all.last().map(|item| format!("&after={}", enc(key(item)))).unwrap_or_default();
            let page: Vec<T> = self.get_as(&format!("{path}{sep}limit={PAGE}{after}")).await?;
            let full = page.len() == PAGE;
            all.extend(page);
            if !full {
                return Ok(all);
            }
        }
    }

    pub async fn get(&self, path: &str) -> anyhow::Result<Value> {
        self.call(reqwest::Method::GET, path, None).await
    }

    pub async fn post(&self, path: &str, body: Option<&Value>) -> anyhow::Result<Value> {
        self.call(reqwest::Method::POST, path, body).await
    }

    pub async fn put(&self, path: &str, body: Option<&Value>) -> anyhow::Result<Value> {
        self.call(reqwest::Method::PUT, path, body).await
    }

    pub async fn patch(&self, path: &str, body: &Value) -> anyhow::Result<Value> {
        self.call(reqwest::Method::PATCH, path, Some(body)).await
    }

    pub async fn delete(&self, path: &str) -> anyhow::Result<Value> {
        self.call(reqwest::Method::DELETE, path, None).await
    }

    /// A raw GET (exports that are not JSON).
    pub async fn get_text(&self, path: &str) -> anyhow::Result<String> {
        let url = format!("{}/api/v1{path}", self.base);
        let response = self
            .http
            .get(&url)
            .header("Authorization", format!("SSWS {}", self.token.as_str()))
            .send()
            .await
            .with_context(|| format!("cannot reach Provisio at {}", self.base))?;
        let status = response.status();
        let text = response.text().await?;
        if !status.is_success() {
            let value: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
            bail!("{} (HTTP {})", value["errorSummary"].as_str().unwrap_or(&text), status.as_u16());
        }
        Ok(text)
    }

    /// Prints typed items as JSON, or as a table of their columns.
    pub fn rows<T: Row>(&self, items: &[T]) {
        if self.json {
            say(format_args!("{}", serde_json::to_string_pretty(items).unwrap_or_default()));
            return;
        }
        say(format_args!("{}", table_of(items)));
    }

    /// Prints one typed item: a JSON object, or a table of one row.
    pub fn row<T: Row>(&self, item: &T) {
        if self.json {
            say(format_args!("{}", serde_json::to_string_pretty(item).unwrap_or_default()));
        } else {
            self.rows(std::slice::from_ref(item));
        }
    }

    /// Prints a one-line confirmation, or the answer as JSON.
    pub fn done(&self, value: &Value, message: impl std::fmt::Display) {
        if self.quiet {
            // The id of what was made, or of the plan that holds it.
            if let Some(id) = value.get("id").or_else(|| value.pointer("/plan/id")).and_then(Value::as_str) {
                crate::remote::say(format_args!("{id}"));
            }
            return;
        }
        if self.json {
            crate::remote::say(format_args!("{}", serde_json::to_string_pretty(value).unwrap_or_default()));
        } else {
            crate::remote::say(format_args!("{message}"));
        }
    }
}

/// A wire type shown as a table: its columns, and each row's cells.
pub trait Row: serde::Serialize {
    const HEADER: &'static [&'static str];
    fn cells(&self) -> Vec<String>;
}

/// `items` as a table that fits the terminal.
pub fn table_of<T: Row>(items: &[T]) -> Table {
    let mut table = fitted_table();
    table.set_header(T::HEADER.iter().copied());
    for item in items {
        table.add_row(item.cells());
    }
    table
}

/// A table that keeps within the terminal's width (or `COLUMNS`, where
/// the output is not a terminal), wrapping the widest cells.
fn fitted_table() -> Table {
    let mut table = Table::new();
    table.load_preset(UTF8_BORDERS_ONLY).set_content_arrangement(ContentArrangement::Dynamic);
    if !std::io::IsTerminal::is_terminal(&std::io::stdout())
        && let Some(width) = std::env::var("COLUMNS").ok().and_then(|c| c.trim().parse::<u16>().ok())
    {
        table.set_width(width);
    }
    table
}

/// Prints a line of output. A closed pipe (`provisio users list | head`)
/// ends the command quietly, as it ends any Unix tool, instead of a panic.
pub fn say(text: impl std::fmt::Display) {
    say_raw(format_args!("{text}\n"));
}

/// Prints text as it is (an export ends with its own newline).
pub fn say_raw(text: impl std::fmt::Display) {
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    if let Err(e) = write!(out, "{text}").and_then(|()| out.flush())
        && e.kind() == std::io::ErrorKind::BrokenPipe
    {
        std::process::exit(0);
    }
}

/// A call the server refused: its status and coded error.
#[derive(Debug, Clone)]
pub struct Refused {
    pub status: u16,
    pub code: String,
    pub summary: String,
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({}, HTTP {})", self.summary, self.code, self.status)
    }
}

/// `a=b` pairs into a JSON object; values that parse as JSON keep their type.
pub fn attributes(pairs: &[String]) -> anyhow::Result<serde_json::Map<String, Value>> {
    let mut map = serde_json::Map::new();
    for pair in pairs {
        let (k, v) = pair.split_once('=').with_context(|| format!("\"{pair}\": give NAME=VALUE"))?;
        let value = serde_json::from_str(v).unwrap_or_else(|_| Value::String(v.to_string()));
        map.insert(k.to_string(), value);
    }
    Ok(map)
}

/// Percent-encodes a path segment or query value.
pub fn enc(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}
