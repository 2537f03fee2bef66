//! The command line takes a login, a group's name or an app's name wherever
//! it takes an id: an operator thinks "ada@example.com", not "01J…". An id
//! always wins; names are unique (case-insensitively) in the directory,
//! and should two ever match, the command refuses rather than guesses.

use anyhow::bail;
use provisio_proto::{App, Group, User};

use crate::remote::{Client, enc};

/// The id of the user with this id or login (the server's `GET /users/{id}`
/// takes either, as Okta's does).
pub async fn user(c: &Client, key: &str) -> anyhow::Result<String> {
    match c.try_call(reqwest::Method::GET, &format!("/users/{}", enc(key)), None).await? {
        Ok(value) => Ok(serde_json::from_value::<User>(value)?.id),
        Err(refused) if refused.status == 404 => bail!("no user has the id or login \"{key}\""),
        Err(refused) => bail!("{refused}"),
    }
}

/// The id of the group with this id or name.
pub async fn group(c: &Client, key: &str) -> anyhow::Result<String> {
    if let Ok(value) = c.try_call(reqwest::Method::GET, &format!("/groups/{}", enc(key)), None).await? {
        return Ok(serde_json::from_value::<Group>(value)?.id);
    }
    let mut named = Vec::new();
    let mut after = String::new();
    loop {
        let page: Vec<Group> = c.get_as(&format!("/groups?limit=1000{after}")).await?;
        named.extend(page.iter().filter(|g| g.profile.name.eq_ignore_ascii_case(key)).map(|g| g.id.clone()));
        match page.last() {
            Some(last) if page.len() == 1000 => after = format!("&after={}", enc(&last.id)),
            _ => break,
        }
    }
    one("group", key, named)
}

/// The id of the app with this id or name.
pub async fn app(c: &Client, key: &str) -> anyhow::Result<String> {
    if let Ok(value) = c.try_call(reqwest::Method::GET, &format!("/apps/{}", enc(key)), None).await? {
        return Ok(serde_json::from_value::<App>(value)?.id);
    }
    let apps: Vec<App> = c.get_as("/apps").await?;
    one("app", key, apps.into_iter().filter(|a| a.name.eq_ignore_ascii_case(key)).map(|a| a.id).collect())
}

fn one(what: &str, key: &str, mut ids: Vec<String>) -> anyhow::Result<String> {
    match ids.len() {
        0 => bail!("no {what} has the id or name \"{key}\""),
        1 => Ok(ids.remove(0)),
        _ => bail!("several {what}s are named \"{key}\" ({}); give the id", ids.join(", ")),
    }
}
