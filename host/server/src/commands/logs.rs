//! `provisio logs`: the system log, newest first, or exported whole.

use provisio_proto::LogEvent;

use crate::remote::{Client, enc};

#[derive(clap::Args, Debug)]
#[command(
    after_help = "Examples:\n  provisio logs\n  provisio logs --event-type api.refuse --since 2026-12-01T00:00:00Z\n  \
                        provisio logs --actor ops@example.com --oldest-first\n  provisio logs --export csv > audit.csv"
)]
pub struct Logs {
    /// The admin (login) or process that acted; `anonymous` for calls
    /// refused before anyone was known.
    #[arg(long)]
    actor: Option<String>,
    /// e.g. user.lifecycle.deactivate, app.update, api.refuse.
    #[arg(long)]
    event_type: Option<String>,
    /// user, group, app, admin, token, plan, api, …
    #[arg(long)]
    target_type: Option<String>,
    #[arg(long)]
    target_id: Option<String>,
    /// success or failure.
    #[arg(long)]
    outcome: Option<String>,
    /// RFC 3339, e.g. 2026-11-30T00:00:00Z.
    #[arg(long)]
    since: Option<String>,
    #[arg(long)]
    until: Option<String>,
    #[arg(long, default_value_t = 100)]
    limit: u32,
    /// The oldest first (the default is the newest first).
    #[arg(long)]
    oldest_first: bool,
    /// Print every matching event as csv or json instead of a page.
    #[arg(long)]
    export: Option<String>,
}

pub async fn logs(c: &Client, q: Logs) -> anyhow::Result<()> {
    let order = if q.oldest_first { "ASCENDING" } else { "DESCENDING" };
    let filters = [
        ("actor", &q.actor),
        ("eventType", &q.event_type),
        ("targetType", &q.target_type),
        ("targetId", &q.target_id),
        ("outcome", &q.outcome),
        ("since", &q.since),
        ("until", &q.until),
    ];
    let mut query: String =
        filters.iter().filter_map(|(k, v)| v.as_ref().map(|v| format!("&{k}={}", enc(v)))).collect();
    query.push_str(&format!("&sortOrder={order}"));
    if let Some(format) = q.export {
        crate::remote::say_raw(format_args!(
            "{}",
            c.get_text(&format!("/logs/export?format={}{query}", enc(&format))).await?
        ));
        return Ok(());
    }
    c.rows(&c.get_as::<Vec<LogEvent>>(&format!("/logs?limit={}{query}", q.limit)).await?);
    Ok(())
}
