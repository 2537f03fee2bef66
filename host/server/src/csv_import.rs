//! `provisio users import FILE.csv`: users from a spreadsheet, each refused
//! row reported by its line while the others go on.

use std::path::PathBuf;

use anyhow::{Context as _, bail};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::{Value, json};

use crate::remote::Client;

/// Creates a user for each row; a row refused is reported by its line and
/// the others go on; a login that exists already is skipped (so a run can
/// be repeated). `dry_run` checks every row without creating any.
pub async fn import(c: &Client, file: &PathBuf, dry_run: bool) -> anyhow::Result<()> {
    let mut reader = csv::Reader::from_path(file).with_context(|| format!("reading {}", file.display()))?;
    let headers = reader.headers()?.clone();
    if !headers.iter().any(|h| h == "login") {
        bail!("{}: the header row must name a `login` column", file.display());
    }
    let records: Vec<Result<csv::StringRecord, csv::Error>> = reader.records().collect();
    let bar = ProgressBar::new(records.len() as u64);
    bar.set_style(ProgressStyle::with_template("{bar:40} {pos}/{len} users  {elapsed_precise}  {msg}")?);
    if c.json {
        bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    let path = if dry_run { "/users?preview=true" } else { "/users" };
    let (mut created, mut skipped, mut rejected) = (Vec::new(), Vec::new(), Vec::new());
    // Login (case aside) → its first line: a repeat within the file.
    let mut seen: std::collections::HashMap<String, u64> = std::collections::HashMap::new();
    for (i, record) in records.into_iter().enumerate() {
        bar.inc(1);
        let record = match record {
            Ok(record) => record,
            Err(e) => {
                let line = e.position().map_or(i as u64 + 2, |p| p.line());
                rejected.push(json!({ "line": line, "error": e.to_string() }));
                continue;
            }
        };
        let line = record.position().map_or(i as u64 + 2, |p| p.line());
        let profile: serde_json::Map<String, Value> = headers
            .iter()
            .zip(record.iter())
            .filter(|(_, v)| !v.is_empty())
            .map(|(k, v)| (k.to_string(), json!(v)))
            .collect();
        let login = profile.get("login").and_then(Value::as_str).unwrap_or_default().to_string();
        bar.set_message(login.clone());
        if let Some(first) = seen.insert(login.to_lowercase(), line) {
            seen.insert(login.to_lowercase(), first);
            rejected.push(json!({ "line": line, "login": login, "error": format!("login also on line {first}") }));
            continue;
        }
        match c.try_call(reqwest::Method::POST, path, Some(&json!({ "profile": profile }))).await? {
            Ok(user) => created.push(json!({ "line": line, "login": login, "id": user["id"] })),
            Err(refused) if refused.status == 409 => skipped.push(json!({ "line": line, "login": login })),
            Err(refused) => rejected.push(json!({ "line": line, "login": login, "error": refused.to_string() })),
        }
    }
    bar.finish_and_clear();
    let verb = if dry_run { "would create" } else { "created" };
    let report = json!({ "dryRun": dry_run, "created": created, "skipped": skipped, "rejected": rejected });
    if !c.json {
        for r in &rejected {
            eprintln!("{} line {}: {}", file.display(), r["line"], r["error"].as_str().unwrap_or_default());
        }
    }
    c.done(
        &report,
        format!(
            "{verb} {} users; skipped {} whose login exists; rejected {}",
            created.len(),
            skipped.len(),
            rejected.len()
        ),
    );
    if !rejected.is_empty() {
        bail!("{} of the rows were rejected (listed above by line)", rejected.len());
    }
    Ok(())
}
