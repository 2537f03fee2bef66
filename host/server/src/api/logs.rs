//! `/api/v1/logs`: the system log, queried by actor, target, event type,
//! outcome and time range; paged; exported whole as CSV or JSON.

use axum::Json;
use axum::body::Body as HttpBody;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures::stream::{self, StreamExt};
use serde::Deserialize;
use utoipa_axum::{router::OpenApiRouter, routes};

use provisio_proto as proto;

use provisio_directory::{LogCursor, LogEvent, LogQuery, Outcome, Store};

use super::{ApiError, AppState, Params, parse_timestamp, timestamp};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list)).routes(routes!(export))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
struct LogParams {
    /// The admin (login) or process that acted.
    actor: Option<String>,
    /// e.g. `user.create`, `app.quarantine`, `token.revoke`.
    event_type: Option<String>,
    /// e.g. `user`, `group`, `app`, `admin`, `token`, `plan`.
    target_type: Option<String>,
    target_id: Option<String>,
    /// `success` or `failure`.
    outcome: Option<String>,
    /// Events at or after this time (RFC 3339).
    since: Option<String>,
    /// Events before this time (RFC 3339).
    until: Option<String>,
    /// The `cursor` of the last event of the previous page.
    after: Option<String>,
    /// At most this many (1-1000); ignored by the export.
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<u32>,
    /// The export's format: `json` (default) or `csv`.
    format: Option<String>,
    /// `ASCENDING` (the default: oldest first, a feed to page on with
    /// `after`) or `DESCENDING` (newest first, as `provisio logs` shows).
    sort_order: Option<String>,
}

fn parse_time(name: &str, value: &Option<String>) -> Result<Option<i64>, ApiError> {
    value.as_deref().map(|s| parse_timestamp(name, s)).transpose()
}

impl LogParams {
    fn query(&self, default_limit: u32) -> Result<LogQuery, ApiError> {
        let outcome = match self.outcome.as_deref() {
            None => None,
            Some("success") => Some(Outcome::Success),
            Some("failure") => Some(Outcome::Failure),
            Some(other) => return Err(ApiError::invalid(format!("outcome \"{other}\": use success or failure"))),
        };
        let newest_first = match self.sort_order.as_deref().map(str::to_ascii_uppercase).as_deref() {
            None | Some("ASCENDING") => false,
            Some("DESCENDING") => true,
            Some(_) => {
                let given = self.sort_order.as_deref().unwrap_or_default();
                return Err(ApiError::invalid(format!("sortOrder \"{given}\": use ASCENDING or DESCENDING")));
            }
        };
        let limit = super::checked_limit(Some(self.limit.unwrap_or(default_limit)))?;
        Ok(LogQuery {
            actor: self.actor.clone(),
            action: self.event_type.clone(),
            target_type: self.target_type.clone(),
            target_id: self.target_id.clone(),
            outcome,
            since_ms: parse_time("since", &self.since)?,
            until_ms: parse_time("until", &self.until)?,
            after: self.after.as_deref().map(str::parse::<LogCursor>).transpose().map_err(ApiError::invalid)?,
            limit,
            newest_first,
        })
    }
}

fn event_json(e: &LogEvent) -> proto::LogEvent {
    proto::LogEvent {
        seq: e.seq,
        cursor: e.cursor.to_string(),
        uuid: e.id.clone(),
        published: timestamp(e.at),
        actor: e.actor.clone(),
        event_type: e.action.clone(),
        target: proto::LogTarget { kind: e.target_type.clone(), id: e.target_id.clone() },
        outcome: e.outcome.clone(),
        details: e.details.clone(),
    }
}

#[utoipa::path(
    get,
    path = "/logs",
    operation_id = "listLogEvents",
    tag = "logs",
    summary = "System log events, oldest first (or newest with `sortOrder=DESCENDING`), filtered and paged (`after` = the last `cursor` seen)",
    params(LogParams),
    responses((status = 200, description = "Events; a `Link: rel=next` header when there may be more", body = Vec<proto::LogEvent>)),
    security(("apiToken" = ["logs:read"]))
)]
async fn list(State(state): State<AppState>, Params(p): Params<LogParams>) -> Result<Response, ApiError> {
    if p.format.is_some() {
        return Err(ApiError::invalid("format applies to /logs/export; /logs answers JSON pages"));
    }
    let q = p.query(100)?;
    let events = state.store.log(&q).await?;
    let mut response = Json(events.iter().map(event_json).collect::<Vec<_>>()).into_response();
    if let Some(last) = events.last().filter(|_| events.len() as u32 == q.limit) {
        // The same filters, from after the last event returned.
        let mut next = url_params(&p);
        next.push(("after".into(), last.cursor.to_string()));
        next.push(("limit".into(), q.limit.to_string()));
        let link = format!("</api/v1/logs?{}>; rel=\"next\"", encode(&next));
        if let Ok(v) = HeaderValue::from_str(&link) {
            response.headers_mut().insert(header::LINK, v);
        }
    }
    Ok(response)
}

fn url_params(p: &LogParams) -> Vec<(String, String)> {
    let fields = [
        ("actor", &p.actor),
        ("eventType", &p.event_type),
        ("targetType", &p.target_type),
        ("targetId", &p.target_id),
        ("outcome", &p.outcome),
        ("since", &p.since),
        ("until", &p.until),
        ("sortOrder", &p.sort_order),
    ];
    fields.into_iter().filter_map(|(k, v)| v.clone().map(|v| (k.to_string(), v))).collect()
}

fn encode(pairs: &[(String, String)]) -> String {
    url::form_urlencoded::Serializer::new(String::new()).extend_pairs(pairs).finish()
}

const CSV_HEADER: [&str; 8] = ["seq", "uuid", "published", "actor", "eventType", "targetType", "targetId", "outcome"];

fn csv_rows(events: &[LogEvent], header: bool) -> Result<Vec<u8>, csv::Error> {
    let mut w = csv::Writer::from_writer(Vec::new());
    if header {
        let mut h = CSV_HEADER.to_vec();
        h.push("details");
        w.write_record(h)?;
    }
    for e in events {
        let cells = [
            e.seq.to_string(),
            e.id.clone(),
            timestamp(e.at),
            e.actor.clone(),
            e.action.clone(),
            e.target_type.clone(),
            e.target_id.clone(),
            e.outcome.clone(),
            e.details.to_string(),
        ];
        w.write_record(cells.iter().map(|c| spreadsheet_safe(c).into_owned()))?;
    }
    w.into_inner().map_err(|e| csv::Error::from(e.into_error()))
}

/// A cell a spreadsheet will not run: one that starts like a formula (`=`,
/// `+`, `-`, `@`, or a tab or carriage return before one) gets a leading
/// `'`, as OWASP advises, so an auditor opening the export sees the text.
fn spreadsheet_safe(cell: &str) -> std::borrow::Cow<'_, str> {
    match cell.as_bytes().first() {
        Some(b'=' | b'+' | b'-' | b'@' | b'\t' | b'\r') => format!("'{cell}").into(),
        _ => cell.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cell_that_starts_like_a_formula_is_written_as_text() {
        let event = |actor: &str| LogEvent {
            seq: 1,
            cursor: LogCursor { tx: 0, seq: 1 },
            id: "id".into(),
            at: 0,
            actor: actor.into(),
            action: "user.create".into(),
            target_type: "user".into(),
            target_id: "-1+2".into(),
            outcome: "SUCCESS".into(),
            details: serde_json::json!({}),
        };
        for attack in ["=HYPERLINK(\"http://evil.example\")", "+1", "@SUM(A1)", "\t=1"] {
            let text = String::from_utf8(csv_rows(&[event(attack)], false).expect("csv")).expect("utf-8");
            let mut reader = csv::ReaderBuilder::new().has_headers(false).from_reader(text.as_bytes());
            let row = reader.records().next().expect("a row").expect("csv");
            assert_eq!(&row[3], format!("'{attack}"), "{text}");
            assert_eq!(&row[6], "'-1+2");
        }
        let plain = String::from_utf8(csv_rows(&[event("ops@example.com")], false).expect("csv")).expect("utf-8");
        assert!(plain.contains(",ops@example.com,"), "{plain}");
    }
}

#[utoipa::path(
    get,
    path = "/logs/export",
    operation_id = "exportLogEvents",
    tag = "logs",
    summary = "Every matching event, streamed as CSV (`format=csv`) or a JSON array (`format=json`)",
    params(LogParams),
    responses((status = 200, description = "The events, as an attachment")),
    security(("apiToken" = ["logs:read"]))
)]
async fn export(State(state): State<AppState>, Params(p): Params<LogParams>) -> Result<Response, ApiError> {
    let csv = match p.format.as_deref().unwrap_or("json") {
        "csv" => true,
        "json" => false,
        other => return Err(ApiError::invalid(format!("format \"{other}\": use csv or json"))),
    };
    if p.limit.is_some() {
        return Err(ApiError::invalid("the export has every matching event; page with /logs instead"));
    }
    let mut first = p.query(1000)?;
    // Read the first page now, so a failing query is an error, not a cut-off file.
    let page = state.store.log(&first).await?;
    first.after = page.last().map(|e| e.cursor);
    let pages =
        stream::unfold((state.store.clone(), first, Some(page), true), move |(store, mut q, page, head)| async move {
            let events = match page {
                Some(events) => events,
                None if q.after.is_none() => return None,
                None => match next_page(&store, &q).await {
                    Ok(events) => events,
                    Err(e) => return Some((Err(e), (store, q, None, false))),
                },
            };
            let last_page = (events.len() as u32) < q.limit;
            q.after = if last_page { None } else { events.last().map(|e| e.cursor) };
            let chunk = if csv {
                csv_rows(&events, head).map_err(std::io::Error::other)
            } else {
                Ok(json_chunk(&events, head, last_page))
            };
            Some((chunk, (store, q, None, false)))
        });
    let (kind, name) =
        if csv { ("text/csv; charset=utf-8", "system-log.csv") } else { ("application/json", "system-log.json") };
    let response = Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, kind)
        .header(header::CONTENT_DISPOSITION, format!("attachment; filename=\"{name}\""))
        .body(HttpBody::from_stream(pages.map(|chunk| chunk.map(bytes_of))))
        .map_err(|e| ApiError::invalid(e.to_string()))?;
    Ok(response)
}

fn bytes_of(v: Vec<u8>) -> axum::body::Bytes {
    axum::body::Bytes::from(v)
}

async fn next_page(store: &Store, q: &LogQuery) -> Result<Vec<LogEvent>, std::io::Error> {
    store.log(q).await.map_err(|e| {
        tracing::error!(error = %e, "the log export stopped part-way");
        std::io::Error::other("the directory stopped answering")
    })
}

/// One page of the JSON array: `[` before the first, `]` after the last.
fn json_chunk(events: &[LogEvent], head: bool, last: bool) -> Vec<u8> {
    let mut out = Vec::new();
    if head {
        out.push(b'[');
    }
    for (i, e) in events.iter().enumerate() {
        if !(head && i == 0) {
            out.push(b',');
        }
        out.extend_from_slice(&serde_json::to_vec(&event_json(e)).unwrap_or_default());
    }
    if last {
        out.push(b']');
    }
    out
}
