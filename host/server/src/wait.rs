//! `provisio wait`: until every account change is pushed, or until only
//! what waits for an admin is left (then it says what, and fails).

use std::time::Duration;

use anyhow::bail;
use indicatif::{ProgressBar, ProgressStyle};
use provisio_proto::{AppStatus, AppWork, Work};
use serde_json::json;

use crate::remote::Client;

pub async fn wait(c: &Client, timeout: Duration) -> anyhow::Result<()> {
    let started = std::time::Instant::now();
    let first = c.get_as::<Work>("/work").await?.pending.max(0) as u64;
    let bar = ProgressBar::new(first);
    bar.set_style(ProgressStyle::with_template("{bar:40} {pos}/{len} account changes pushed  {elapsed_precise}")?);
    if c.json {
        bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    loop {
        let work: Work = c.get_as("/work").await?;
        let pending = work.pending.max(0) as u64;
        if pending > bar.length().unwrap_or(0) {
            bar.set_length(pending);
        }
        bar.set_position(bar.length().unwrap_or(0).saturating_sub(pending));
        if pending == 0 {
            bar.finish_and_clear();
            c.done(&json!({ "pending": 0 }), "every account is in step");
            return Ok(());
        }
        // Only what waits for an admin is left: waiting longer changes nothing.
        if work.waiting_for_admin.max(0) as u64 == pending {
            bar.abandon();
            if c.json {
                crate::remote::say(format_args!("{}", serde_json::to_string_pretty(&work)?));
            }
            for app in work.apps.iter().filter(|a| a.waiting_for_admin > 0) {
                eprintln!("{}", waiting_line(app));
            }
            bail!("{pending} account changes wait for an admin; nothing more will be pushed until then");
        }
        if started.elapsed() > timeout {
            bar.abandon();
            bail!("{pending} account changes still pending after {}s", timeout.as_secs());
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// What one app's waiting changes need, in a line.
fn waiting_line(app: &AppWork) -> String {
    let (id, name, n) = (&app.app_id, &app.name, app.waiting_for_admin);
    match app.status {
        AppStatus::Quarantined => format!(
            "app {name} ({id}) is quarantined ({}): {n} changes wait for `provisio apps resume {id}`",
            app.reason.as_deref().unwrap_or_default()
        ),
        AppStatus::Paused => format!("app {name} ({id}) is paused: {n} changes wait for `provisio apps resume {id}`"),
        _ => format!("app {name} ({id}): {n} accounts in ERROR; see `provisio errors list {id}`, then retry"),
    }
}
