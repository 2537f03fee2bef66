//! `provisio admins` and `provisio tokens`: who may use the API, with which
//! role, and their API tokens.

use anyhow::bail;
use clap::Subcommand;
use serde_json::json;

use provisio_proto::{Admin, IssuedToken, Token};

use crate::remote::{Client, enc};

#[derive(Subcommand, Debug)]
pub enum Admins {
    /// Every admin, their role and groups.
    #[command(after_help = "Example:\n  provisio admins list")]
    List,
    /// Who the calling token belongs to.
    #[command(after_help = "Example:\n  provisio admins me")]
    Me,
    /// An admin, by id or login.
    #[command(after_help = "Example:\n  provisio admins get ops@example.com")]
    Get { admin: String },
    /// Create an admin: super-admin, app-admin, group-admin (with the
    /// groups they manage) or read-only.
    #[command(after_help = "Examples:\n  provisio admins create ops@example.com --role app-admin\n  \
                            provisio admins create lead@example.com --role group-admin --group 01JD…")]
    Create {
        login: String,
        #[arg(long)]
        role: String,
        /// A group a group admin manages (repeat for more).
        #[arg(long = "group")]
        groups: Vec<String>,
    },
    /// Change an admin's role (and a group admin's groups).
    #[command(after_help = "Example:\n  provisio admins role ops@example.com read-only")]
    Role {
        admin: String,
        role: String,
        #[arg(long = "group")]
        groups: Vec<String>,
    },
    /// Deactivate an admin: every token of theirs stops working.
    #[command(after_help = "Example:\n  provisio admins deactivate ops@example.com")]
    Deactivate { admin: String },
    /// Delete an admin.
    #[command(after_help = "Example:\n  provisio admins delete ops@example.com")]
    Delete { admin: String },
}

#[derive(Subcommand, Debug)]
pub enum Tokens {
    /// Your tokens, or another admin's (`--admin`); never their values.
    #[command(after_help = "Examples:\n  provisio tokens list\n  provisio tokens list --admin ops@example.com")]
    List {
        #[arg(long)]
        admin: Option<String>,
    },
    /// Issue a token: its value is printed this once, and stored nowhere.
    #[command(after_help = "Example:\n  provisio tokens create ci --expires 2027-06-01T00:00:00Z")]
    Create {
        name: String,
        /// For another admin (a super admin's right).
        #[arg(long)]
        admin: Option<String>,
        /// When it stops working (RFC 3339); never, if absent.
        #[arg(long)]
        expires: Option<String>,
    },
    /// Revoke a token: it stops working at once on this node, within
    /// seconds on the others.
    #[command(after_help = "Example:\n  provisio tokens revoke 01JD… --admin ops@example.com")]
    Revoke {
        /// The token's id (not its value).
        #[arg(value_name = "TOKEN_ID")]
        id: String,
        #[arg(long)]
        admin: Option<String>,
    },
}

/// The id of the admin with this id or login.
async fn admin_id(c: &Client, key: &str) -> anyhow::Result<String> {
    let admins: Vec<Admin> = c.get_as("/admins").await?;
    let found = admins.into_iter().find(|a| a.id.as_deref() == Some(key) || a.login.eq_ignore_ascii_case(key));
    match found.and_then(|a| a.id) {
        Some(id) => Ok(id),
        None => bail!("no admin has the id or login \"{key}\""),
    }
}

/// `/admins/me` or `/admins/{id}`: where an admin's tokens live.
async fn tokens_base(c: &Client, admin: Option<&str>) -> anyhow::Result<String> {
    Ok(match admin {
        None => "/admins/me".into(),
        Some(key) => format!("/admins/{}", enc(&admin_id(c, key).await?)),
    })
}

pub async fn admins(c: &Client, cmd: Admins) -> anyhow::Result<()> {
    match cmd {
        Admins::List => c.rows(&c.get_as::<Vec<Admin>>("/admins").await?),
        Admins::Me => c.row(&c.get_as::<Admin>("/admins/me").await?),
        Admins::Get { admin } => {
            let id = admin_id(c, &admin).await?;
            c.row(&c.get_as::<Admin>(&format!("/admins/{}", enc(&id))).await?)
        }
        Admins::Create { login, role, groups } => {
            let a = c.post("/admins", Some(&json!({ "login": login, "role": role, "groups": groups }))).await?;
            c.done(&a, format!("created {role} {login}"));
        }
        Admins::Role { admin, role, groups } => {
            let id = admin_id(c, &admin).await?;
            let a = c.put(&format!("/admins/{}", enc(&id)), Some(&json!({ "role": role, "groups": groups }))).await?;
            c.done(&a, format!("{admin} is now {role}"));
        }
        Admins::Deactivate { admin } => {
            let id = admin_id(c, &admin).await?;
            let a = c.post(&format!("/admins/{}/lifecycle/deactivate", enc(&id)), None).await?;
            c.done(&a, format!("deactivated {admin}; their tokens no longer work"));
        }
        Admins::Delete { admin } => {
            let id = admin_id(c, &admin).await?;
            c.delete(&format!("/admins/{}", enc(&id))).await?;
            c.done(&json!({ "deleted": id }), format!("deleted {admin}"));
        }
    }
    Ok(())
}

pub async fn tokens(c: &Client, cmd: Tokens) -> anyhow::Result<()> {
    match cmd {
        Tokens::List { admin } => {
            let base = tokens_base(c, admin.as_deref()).await?;
            c.rows(&c.get_as::<Vec<Token>>(&format!("{base}/tokens")).await?);
        }
        Tokens::Create { name, admin, expires } => {
            let base = tokens_base(c, admin.as_deref()).await?;
            let mut body = json!({ "name": name });
            if let Some(expires) = expires {
                body["expiresAt"] = json!(expires);
            }
            let answer = c.post(&format!("{base}/tokens"), Some(&body)).await?;
            let issued: IssuedToken = serde_json::from_value(answer.clone())?;
            // The value is the point of this command: printed even with --quiet.
            c.done(
                &answer,
                format!("token {} ({}): {}\nit is shown this once", issued.token.name, issued.token.id, issued.value),
            );
        }
        Tokens::Revoke { id, admin } => {
            let base = tokens_base(c, admin.as_deref()).await?;
            c.delete(&format!("{base}/tokens/{}", enc(&id))).await?;
            c.done(&json!({ "revoked": id }), format!("revoked {id}"));
        }
    }
    Ok(())
}
