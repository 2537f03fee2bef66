//! Event hooks: outbound webhooks admins register for lifecycle events, and
//! their deliveries. Events reach a hook through the outbox that the system
//! log fills in the same transaction as each event (see `log::append`); a
//! delivery is made once per (hook, event) and retried until it lands or
//! its attempts run out, each attempt recorded.

use base64::Engine as _;
use rand_core::{OsRng, RngCore};
use serde::Serialize;
use serde_json::{Value, json};
use sqlx::Row;
use sqlx::any::AnyRow;
use zeroize::Zeroizing;

use crate::error::StoreError;
use crate::log::{HOOK_EVENTS, NewLogEvent};
use crate::sealing::Sealer;
use crate::store::{Store, new_id};

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Hook {
    pub id: String,
    pub name: String,
    pub url: String,
    pub events: Vec<String>,
    pub status: String,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Delivery {
    pub id: String,
    pub hook_id: String,
    pub log_id: String,
    pub event_type: String,
    pub payload: String,
    /// `pending`, `delivered` or `failed` (attempts exhausted).
    pub status: String,
    pub attempts: i64,
    pub next_attempt_at: i64,
    pub last_status: Option<i64>,
    pub last_error: Option<String>,
    pub created_at: i64,
    pub delivered_at: Option<i64>,
}

/// How one delivery attempt went.
#[derive(Debug, Clone)]
pub enum Attempt {
    Delivered {
        status: u16,
    },
    /// Try again at `retry_at`, or give up when `None`.
    Failed {
        status: Option<u16>,
        error: String,
        retry_at: Option<i64>,
    },
}

fn hook_from_row(r: &AnyRow) -> Result<Hook, StoreError> {
    let events: String = r.try_get("events")?;
    Ok(Hook {
        id: r.try_get("id")?,
        name: r.try_get("name")?,
        url: r.try_get("url")?,
        events: serde_json::from_str(&events).map_err(|e| StoreError::Invalid(format!("stored events: {e}")))?,
        status: r.try_get("status")?,
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
    })
}

fn delivery_from_row(r: &AnyRow) -> Result<Delivery, StoreError> {
    Ok(Delivery {
        id: r.try_get("id")?,
        hook_id: r.try_get("hook_id")?,
        log_id: r.try_get("log_id")?,
        event_type: r.try_get("event_type")?,
        payload: r.try_get("payload")?,
        status: r.try_get("status")?,
        attempts: r.try_get("attempts")?,
        next_attempt_at: r.try_get("next_attempt_at")?,
        last_status: r.try_get("last_status")?,
        last_error: r.try_get("last_error")?,
        created_at: r.try_get("created_at")?,
        delivered_at: r.try_get("delivered_at")?,
    })
}

fn seal_context(hook_id: &str) -> String {
    format!("hook {hook_id}")
}

const HOOK_COLUMNS: &str = "id, name, url, events, status, created_at, updated_at";

impl Store {
    /// Registers a hook; returns it with its signing secret, which is shown
    /// only now (it is kept sealed, for signing).
    pub async fn create_hook(
        &self,
        actor: &str,
        name: &str,
        url: &str,
        events: &[String],
        sealer: &Sealer,
    ) -> Result<(Hook, Zeroizing<String>), StoreError> {
        if name.trim().is_empty() || name.len() > 256 {
            return Err(StoreError::Invalid("a hook's name must be 1-256 characters".into()));
        }
        if !(url.starts_with("https://") || url.starts_with("http://")) || url.len() > 2048 {
            return Err(StoreError::Invalid(format!("hook url \"{url}\": give an http(s) URL")));
        }
        if events.is_empty() {
            return Err(StoreError::Invalid(format!("name the events to send: {}", HOOK_EVENTS.join(", "))));
        }
        if let Some(unknown) = events.iter().find(|e| !HOOK_EVENTS.contains(&e.as_str())) {
            return Err(StoreError::Invalid(format!(
                "unknown event \"{unknown}\"; hooks can hear {}",
                HOOK_EVENTS.join(", ")
            )));
        }
        let mut bytes = Zeroizing::new([0u8; 32]);
        OsRng.fill_bytes(bytes.as_mut());
        let secret = Zeroizing::new(format!(
            "whsec_{}",
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes.as_ref())
        ));
        let id = new_id();
        let sealed = sealer.seal(&seal_context(&id), secret.as_bytes())?;
        let mut tx = self.write().await?;
        let now = tx.now_ms();
        sqlx::query(
            "INSERT INTO event_hooks (id, name, url, events, secret, status, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, 'active', $6, $6)",
        )
        .bind(&id)
        .bind(name)
        .bind(url)
        .bind(json!(events).to_string())
        .bind(sealed)
        .bind(now)
        .execute(tx.conn())
        .await?;
        let details = json!({ "name": name, "url": url, "events": events });
        tx.log(&NewLogEvent::success(actor, "hook.create", "hook", &id, details)).await?;
        tx.commit().await?;
        Ok((self.hook(&id).await?, secret))
    }

    pub async fn hook(&self, id: &str) -> Result<Hook, StoreError> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!("SELECT {HOOK_COLUMNS} FROM event_hooks WHERE id = $1")))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
            .ok_or_else(|| StoreError::not_found(format!("hook {id}")))?;
        hook_from_row(&row)
    }

    pub async fn hooks(&self) -> Result<Vec<Hook>, StoreError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!("SELECT {HOOK_COLUMNS} FROM event_hooks ORDER BY id")))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(hook_from_row).collect()
    }

    /// Removes a hook and its deliveries.
    pub async fn delete_hook(&self, actor: &str, id: &str) -> Result<(), StoreError> {
        let mut tx = self.write().await?;
        let done = sqlx::query("DELETE FROM event_hooks WHERE id = $1").bind(id).execute(tx.conn()).await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::not_found(format!("hook {id}")));
        }
        tx.log(&NewLogEvent::success(actor, "hook.delete", "hook", id, json!({}))).await?;
        tx.commit().await
    }

    pub async fn hook_secret(&self, id: &str, sealer: &Sealer) -> Result<Zeroizing<String>, StoreError> {
        let row = sqlx::query("SELECT secret FROM event_hooks WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
            .ok_or_else(|| StoreError::not_found(format!("hook {id}")))?;
        let sealed: Vec<u8> = row.try_get("secret")?;
        let plain = sealer.open(&seal_context(id), &sealed)?;
        String::from_utf8(plain.to_vec())
            .map(Zeroizing::new)
            .map_err(|_| StoreError::Invalid(format!("hook {id}'s secret is not text")))
    }

    /// Turns outbox events into one delivery per subscribed active hook, in
    /// one transaction; events no hook hears are simply dropped. Returns
    /// how many events were taken.
    pub async fn fan_out_hook_events(&self, limit: u32) -> Result<usize, StoreError> {
        // Polled often: look before taking the (SQLite: single) writer.
        if sqlx::query("SELECT 1 FROM hook_outbox LIMIT 1").fetch_optional(&self.pool).await?.is_none() {
            return Ok(0);
        }
        let mut tx = self.write().await?;
        let now = tx.now_ms();
        let events = sqlx::query(
            "SELECT o.log_id, o.event_type, l.at, l.actor, l.target_type, l.target_id, l.details \
             FROM hook_outbox o JOIN system_log l ON l.id = o.log_id ORDER BY l.seq LIMIT $1",
        )
        .bind(i64::from(limit))
        .fetch_all(tx.conn())
        .await?;
        if events.is_empty() {
            return Ok(0);
        }
        let hooks =
            sqlx::query("SELECT id, events FROM event_hooks WHERE status = 'active'").fetch_all(tx.conn()).await?;
        let hooks: Vec<(String, Vec<String>)> = hooks
            .iter()
            .map(|r| {
                let events: String = r.try_get("events")?;
                Ok((r.try_get("id")?, serde_json::from_str(&events).unwrap_or_default()))
            })
            .collect::<Result<_, StoreError>>()?;
        for e in &events {
            let log_id: String = e.try_get("log_id")?;
            let event_type: String = e.try_get("event_type")?;
            let details: String = e.try_get("details")?;
            let at: i64 = e.try_get("at")?;
            let payload = json!({
                "eventId": log_id,
                "eventType": event_type,
                "published": crate::clock::format_time(at),
                "actor": e.try_get::<String, _>("actor")?,
                "target": { "type": e.try_get::<String, _>("target_type")?, "id": e.try_get::<String, _>("target_id")? },
                "data": serde_json::from_str::<Value>(&details).unwrap_or(Value::Null),
            })
            .to_string();
            for (hook_id, subscribed) in &hooks {
                if !subscribed.contains(&event_type) {
                    continue;
                }
                sqlx::query(
                    "INSERT INTO hook_deliveries (id, hook_id, log_id, event_type, payload, status, next_attempt_at, created_at) \
                     VALUES ($1, $2, $3, $4, $5, 'pending', $6, $6) ON CONFLICT DO NOTHING",
                )
                .bind(new_id())
                .bind(hook_id)
                .bind(&log_id)
                .bind(&event_type)
                .bind(&payload)
                .bind(now)
                .execute(tx.conn())
                .await?;
            }
            sqlx::query("DELETE FROM hook_outbox WHERE log_id = $1").bind(&log_id).execute(tx.conn()).await?;
        }
        tx.commit().await?;
        Ok(events.len())
    }

    /// Takes due deliveries under a lease, so two nodes never send one at
    /// the same time.
    pub async fn claim_deliveries(&self, owner: &str, lease_ms: i64, limit: u32) -> Result<Vec<Delivery>, StoreError> {
        // The connection first, then the time: a lease reckoned from before
        // a wait for a connection could be over when it is written.
        let mut conn = self.pool.acquire().await?;
        let now = self.now_ms();
        let due = sqlx::query(
            "SELECT id FROM hook_deliveries WHERE status = 'pending' AND next_attempt_at <= $1 \
             AND (lease_until IS NULL OR lease_until < $1) ORDER BY next_attempt_at LIMIT $2",
        )
        .bind(now)
        .bind(i64::from(limit))
        .fetch_all(&mut *conn)
        .await?;
        let mut claimed = Vec::new();
        for row in due {
            let id: String = row.try_get("id")?;
            let taken = sqlx::query(
                "UPDATE hook_deliveries SET lease_owner = $1, lease_until = $2 \
                 WHERE id = $3 AND status = 'pending' AND (lease_until IS NULL OR lease_until < $4)",
            )
            .bind(owner)
            .bind(now + lease_ms)
            .bind(&id)
            .bind(now)
            .execute(&mut *conn)
            .await?
            .rows_affected();
            if taken == 1 {
                let row =
                    sqlx::query("SELECT * FROM hook_deliveries WHERE id = $1").bind(&id).fetch_one(&mut *conn).await?;
                claimed.push(delivery_from_row(&row)?);
            }
        }
        Ok(claimed)
    }

    /// Records an attempt and gives the lease back.
    pub async fn record_delivery(&self, owner: &str, id: &str, attempt: &Attempt) -> Result<(), StoreError> {
        let now = self.now_ms();
        let (status, http_status, error, next) = match attempt {
            Attempt::Delivered { status } => ("delivered", Some(*status), None, now),
            Attempt::Failed { status, error, retry_at: Some(at) } => ("pending", *status, Some(error.clone()), *at),
            Attempt::Failed { status, error, retry_at: None } => ("failed", *status, Some(error.clone()), now),
        };
        sqlx::query(
            "UPDATE hook_deliveries SET status = $1, attempts = attempts + 1, last_status = $2, last_error = $3, \
             next_attempt_at = $4, delivered_at = CASE WHEN $1 = 'delivered' THEN $5 ELSE NULL END, \
             lease_owner = NULL, lease_until = NULL WHERE id = $6 AND lease_owner = $7",
        )
        .bind(status)
        .bind(http_status.map(i64::from))
        .bind(error)
        .bind(next)
        .bind(now)
        .bind(id)
        .bind(owner)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// A hook's deliveries, newest first.
    pub async fn deliveries(&self, hook_id: &str, limit: u32) -> Result<Vec<Delivery>, StoreError> {
        let rows =
            sqlx::query("SELECT * FROM hook_deliveries WHERE hook_id = $1 ORDER BY created_at DESC, id DESC LIMIT $2")
                .bind(hook_id)
                .bind(i64::from(limit.clamp(1, 1000)))
                .fetch_all(&self.pool)
                .await?;
        rows.iter().map(delivery_from_row).collect()
    }
}
