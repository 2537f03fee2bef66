//! `provisio users`: list and search, read, create, update, lifecycle
//! (one user or many), a user's groups and apps, delete, import a CSV.

use std::path::PathBuf;

use anyhow::Context as _;
use clap::Subcommand;
use serde_json::json;

use provisio_proto::{Group, Preview, User, UserApp};

use super::{held_or, pointer_str};
use crate::remote::{Client, attributes, enc};
use crate::resolve;

#[derive(Subcommand, Debug)]
pub enum Users {
    /// List or search users (paged by id).
    #[command(after_help = "Examples:\n  provisio users list\n  provisio users list --q ada\n  \
                            provisio users list --filter 'status eq \"ACTIVE\" and profile.department eq \"Sales\"'")]
    List {
        /// A prefix of the login, first or last name, or email.
        #[arg(long)]
        q: Option<String>,
        /// e.g. `status eq "SUSPENDED"`, `profile.department eq "Sales"`,
        /// `lastUpdated gt "2026-11-01T00:00:00Z"`, joined with `and`.
        #[arg(long)]
        filter: Option<String>,
        #[arg(long)]
        after: Option<String>,
        #[arg(long, default_value_t = 200)]
        limit: u32,
    },
    /// A user, by id or login.
    #[command(after_help = "Example:\n  provisio users get ada@example.com")]
    Get { user: String },
    /// The groups a user is in.
    #[command(after_help = "Example:\n  provisio users groups ada@example.com")]
    Groups { user: String },
    /// The apps a user has, and why: directly, or through which groups.
    #[command(after_help = "Example:\n  provisio users apps ada@example.com")]
    Apps { user: String },
    /// Create a user; `--attr name=value` for any other attribute.
    #[command(after_help = "Example:\n  provisio users create ada@example.com --first Ada --last Lovelace \
                            --email ada@example.com --attr department=Engineering")]
    Create {
        login: String,
        #[arg(long)]
        first: Option<String>,
        #[arg(long)]
        last: Option<String>,
        #[arg(long)]
        email: Option<String>,
        #[arg(long = "attr")]
        attrs: Vec<String>,
        /// Stage the user instead of activating them.
        #[arg(long)]
        staged: bool,
    },
    /// Change profile attributes (`--attr name=value`; `name=null` removes).
    #[command(after_help = "Example:\n  provisio users update ada@example.com --attr title=CTO --attr nickname=null")]
    Update {
        user: String,
        #[arg(long = "attr", required = true)]
        attrs: Vec<String>,
    },
    /// Activate a staged user, or reactivate a deprovisioned one.
    #[command(after_help = "Example:\n  provisio users activate ada@example.com")]
    Activate { user: String },
    /// Deprovision a user: every app account follows its app's policy.
    #[command(after_help = "Example:\n  provisio users deactivate ada@example.com")]
    Deactivate { user: String },
    #[command(after_help = "Example:\n  provisio users suspend ada@example.com")]
    Suspend { user: String },
    #[command(after_help = "Example:\n  provisio users unsuspend ada@example.com")]
    Unsuspend { user: String },
    /// One lifecycle operation on many users (ids or logins, as arguments
    /// or one per line in a file); `--preview` shows what it would do.
    #[command(after_help = "Examples:\n  provisio users bulk suspend ada@example.com alan@example.com\n  \
                            provisio users bulk deactivate --file leavers.txt --preview")]
    Bulk {
        /// activate, reactivate, suspend, unsuspend or deactivate.
        action: String,
        users: Vec<String>,
        /// A file of ids or logins, one per line (`-`: standard input).
        #[arg(long)]
        file: Option<PathBuf>,
        /// Show the effect on every app; change nothing.
        #[arg(long)]
        preview: bool,
    },
    /// Purge a deprovisioned user whose app accounts are settled.
    #[command(after_help = "Example:\n  provisio users delete ada@example.com")]
    Delete { user: String },
    /// Create users from a CSV file (a header row naming `login` and other
    /// attributes), with a progress bar. Every refused row is reported by
    /// its line and the rest go on; a login that exists is skipped, so a
    /// run can be repeated.
    #[command(after_help = "Example:\n  provisio users import hires.csv --dry-run")]
    Import {
        file: PathBuf,
        /// Check every row, create none.
        #[arg(long)]
        dry_run: bool,
    },
}

pub async fn users(c: &Client, cmd: Users) -> anyhow::Result<()> {
    match cmd {
        Users::List { q, filter, after, limit } => {
            let mut query = format!("limit={limit}");
            for (k, v) in [("q", q), ("filter", filter), ("after", after)] {
                if let Some(v) = v {
                    query.push_str(&format!("&{k}={}", enc(&v)));
                }
            }
            c.rows(&c.get_as::<Vec<User>>(&format!("/users?{query}")).await?);
        }
        Users::Get { user } => c.row(&c.get_as::<User>(&format!("/users/{}", enc(&user))).await?),
        Users::Groups { user } => {
            let id = resolve::user(c, &user).await?;
            c.rows(&c.get_as::<Vec<Group>>(&format!("/users/{}/groups", enc(&id))).await?);
        }
        Users::Apps { user } => {
            let id = resolve::user(c, &user).await?;
            c.rows(&c.get_as::<Vec<UserApp>>(&format!("/users/{}/apps", enc(&id))).await?);
        }
        Users::Create { login, first, last, email, attrs, staged } => {
            let mut profile = attributes(&attrs)?;
            profile.insert("login".into(), json!(login));
            for (k, v) in [("firstName", first), ("lastName", last), ("email", email)] {
                if let Some(v) = v {
                    profile.insert(k.into(), json!(v));
                }
            }
            let user = c.post(&format!("/users?activate={}", !staged), Some(&json!({ "profile": profile }))).await?;
            c.done(&user, format!("created {} ({})", pointer_str(&user, "/profile/login"), pointer_str(&user, "/id")));
        }
        Users::Update { user, attrs } => {
            let id = resolve::user(c, &user).await?;
            let body = json!({ "profile": attributes(&attrs)? });
            let user = c.post(&format!("/users/{}", enc(&id)), Some(&body)).await?;
            c.done(&user, format!("updated {}", pointer_str(&user, "/profile/login")));
        }
        Users::Activate { user } => lifecycle(c, &user, "activate").await?,
        Users::Deactivate { user } => lifecycle(c, &user, "deactivate").await?,
        Users::Suspend { user } => lifecycle(c, &user, "suspend").await?,
        Users::Unsuspend { user } => lifecycle(c, &user, "unsuspend").await?,
        Users::Bulk { action, users, file, preview } => bulk(c, &action, users, file, preview).await?,
        Users::Delete { user } => {
            let id = resolve::user(c, &user).await?;
            c.delete(&format!("/users/{}", enc(&id))).await?;
            c.done(&json!({ "deleted": id }), format!("deleted {user}"));
        }
        Users::Import { file, dry_run } => crate::csv_import::import(c, &file, dry_run).await?,
    }
    Ok(())
}

async fn lifecycle(c: &Client, user: &str, action: &str) -> anyhow::Result<()> {
    let id = resolve::user(c, user).await?;
    let answer = c.post(&format!("/users/{}/lifecycle/{action}", enc(&id)), None).await?;
    let message = format!("{} is now {}", pointer_str(&answer, "/profile/login"), pointer_str(&answer, "/status"));
    held_or(c, &answer, message);
    Ok(())
}

async fn bulk(
    c: &Client,
    action: &str,
    mut users: Vec<String>,
    file: Option<PathBuf>,
    preview: bool,
) -> anyhow::Result<()> {
    if let Some(file) = file {
        let text = if file.as_os_str() == "-" {
            std::io::read_to_string(std::io::stdin()).context("reading users from standard input")?
        } else {
            std::fs::read_to_string(&file).with_context(|| format!("reading {}", file.display()))?
        };
        users.extend(text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')).map(String::from));
    }
    if users.is_empty() {
        anyhow::bail!("name the users: as arguments, or --file with one id or login per line");
    }
    let mut ids = Vec::with_capacity(users.len());
    for user in &users {
        ids.push(resolve::user(c, user).await?);
    }
    let path = format!("/bulk/users/lifecycle/{}?preview={preview}", enc(action));
    let answer = c.post(&path, Some(&json!({ "userIds": ids }))).await?;
    if preview {
        let p: Preview = serde_json::from_value(answer.clone()).context("the preview came back in an unknown shape")?;
        let held = if p.would_be_held { "; over the mass-change guard, it would wait for approval" } else { "" };
        let mut lines = vec![format!("{action} {} users would change (nothing was changed{held}):", ids.len())];
        lines.extend(super::rows::effect_lines(&p.effects));
        c.done(&answer, lines.join("\n"));
    } else {
        held_or(c, &answer, format!("{action}: {} of {} users changed", answer["users"], ids.len()));
    }
    Ok(())
}
