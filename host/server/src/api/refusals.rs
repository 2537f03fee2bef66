//! Refused calls in the system log: who tried what and was told no (401,
//! 403), so an audit answers "who tried" as well as "who did". An
//! unauthenticated caller could otherwise write to the log as fast as it can
//! send requests, so each node records at most `PER_MINUTE` refusals a
//! minute and counts the rest into the next one it records.

use std::sync::Mutex;

use axum::http::{Method, StatusCode};
use serde_json::json;

use provisio_directory::{NewLogEvent, Store};

/// What `ApiError` leaves on a refusal's response for the guard to log.
#[derive(Clone, Debug)]
pub struct Refusal {
    pub code: &'static str,
    pub message: String,
}

/// Who was refused, as far as is known.
pub enum Caller<'a> {
    /// No token, or one that is not valid: identified by its hash's first
    /// characters only (repeated tries with one token can be told apart).
    Anonymous {
        token_hash: Option<String>,
    },
    Admin(&'a str),
}

pub const PER_MINUTE: u32 = 120;
const WINDOW_MS: i64 = 60_000;

#[derive(Default)]
pub struct Refusals(Mutex<Window>);

#[derive(Default)]
struct Window {
    started: i64,
    recorded: u32,
    suppressed: u64,
}

impl Refusals {
    /// Writes the refusal to the system log, unless this minute's share is
    /// spent. A log that cannot be written does not change the answer.
    pub async fn record(
        &self,
        store: &Store,
        caller: Caller<'_>,
        (method, path): (&Method, &str),
        status: StatusCode,
        refusal: &Refusal,
    ) {
        let Some(suppressed) = self.admit(store.now_ms()) else { return };
        let (actor, token_hash) = match caller {
            Caller::Admin(name) => (name.to_string(), None),
            Caller::Anonymous { token_hash } => ("anonymous".to_string(), token_hash),
        };
        let mut details = json!({
            "method": method.as_str(),
            "path": path,
            "status": status.as_u16(),
            "code": refusal.code,
            "reason": refusal.message,
        });
        if let Some(hash) = token_hash {
            details["tokenHash"] = json!(hash);
        }
        if suppressed > 0 {
            details["notRecordedBefore"] = json!(suppressed);
        }
        let event = NewLogEvent::failure(&actor, "api.refuse", "api", path, details);
        if let Err(e) = store.append_log(&event).await {
            tracing::warn!(error = %e, "could not record a refused call");
        }
    }

    /// `Some(refusals not recorded since the last one that was)` when this
    /// one may be recorded.
    fn admit(&self, now: i64) -> Option<u64> {
        let mut w = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if now - w.started >= WINDOW_MS {
            w.started = now;
            w.recorded = 0;
        }
        if w.recorded >= PER_MINUTE {
            if w.suppressed == 0 {
                tracing::warn!("over {PER_MINUTE} refused calls this minute; the rest are counted, not logged");
            }
            w.suppressed += 1;
            return None;
        }
        w.recorded += 1;
        Some(std::mem::take(&mut w.suppressed))
    }
}

#[cfg(test)]
mod tests {
    use super::{PER_MINUTE, Refusals, WINDOW_MS};

    #[test]
    fn past_the_minutes_share_refusals_are_counted_into_the_next_one_recorded() {
        let r = Refusals::default();
        for _ in 0..PER_MINUTE {
            assert_eq!(r.admit(1_000), Some(0));
        }
        assert_eq!(r.admit(2_000), None);
        assert_eq!(r.admit(3_000), None);
        assert_eq!(r.admit(1_000 + WINDOW_MS), Some(2), "the next minute's first says how many went unrecorded");
        assert_eq!(r.admit(1_001 + WINDOW_MS), Some(0));
    }
}
