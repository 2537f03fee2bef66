//! Input refused at the door, the same on every backend: a JSON body that
//! names a key twice in one object (last-wins would hide what the caller
//! meant), text holding a NUL (PostgreSQL refuses it in text, so one stored
//! value would break every search), and a URL whose path or query decodes
//! to a NUL. Everything else about a body is the handler's type to judge.

use std::collections::HashSet;
use std::fmt;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::de::{self, DeserializeOwned, Deserializer, MapAccess, SeqAccess, Visitor};

use super::ApiError;

/// The largest body most endpoints take: a user, an app, a mapping.
pub const MAX_BODY: usize = 1 << 20;
/// The largest body the connector routes take: a package, whose component
/// (10-20 MB is usual) travels in base64.
pub const MAX_PACKAGE_BODY: usize = 64 << 20;

/// A JSON body whose rejection (malformed, unknown field, wrong type, a key
/// twice, a NUL) is a coded error.
pub struct Body<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Body<T> {
    type Rejection = ApiError;
    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let (parts, body) = req.into_parts();
        let bytes =
            Bytes::from_request(Request::from_parts(parts.clone(), body), state).await.map_err(|rejection| {
                if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    ApiError::new(
                        StatusCode::PAYLOAD_TOO_LARGE,
                        "too-large",
                        format!(
                            "the body is larger than this endpoint takes ({} MiB; a connector package {} MiB)",
                            MAX_BODY >> 20,
                            MAX_PACKAGE_BODY >> 20
                        ),
                    )
                } else {
                    ApiError::invalid(rejection.body_text())
                }
            })?;
        // Checked only once the body is JSON at all: a malformed one gets
        // serde's message, with its line and column, from the parse below.
        if let Err(e) = serde_json::from_slice::<Checked>(&bytes)
            && e.is_data()
        {
            return Err(ApiError::invalid(format!("the JSON body {e}")));
        }
        match Json::<T>::from_request(Request::from_parts(parts, axum::body::Body::from(bytes)), state).await {
            Ok(Json(v)) => Ok(Body(v)),
            Err(rejection) => Err(ApiError::invalid(rejection.body_text())),
        }
    }
}

/// Query parameters, with the same coded rejection.
pub struct Params<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for Params<T> {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(v)) => Ok(Params(v)),
            Err(rejection) => Err(ApiError::invalid(rejection.body_text())),
        }
    }
}

/// Refuses a request whose path or query decodes to a NUL (`%00`), before
/// any handler: ids and filters never reach the directory with one.
pub async fn refuse_nul_in_url(request: Request, next: Next) -> Response {
    let uri = request.uri();
    let decoded = |text: &str| percent_encoding::percent_decode_str(text).any(|b| b == 0);
    if decoded(uri.path()) || uri.query().is_some_and(decoded) {
        return ApiError::invalid("the URL holds a NUL character (%00), which no id or parameter may hold")
            .into_response();
    }
    next.run(request).await
}

/// Any JSON value, walked to refuse a key named twice in one object and a
/// NUL in any string or key.
struct Checked;

impl<'de> de::Deserialize<'de> for Checked {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(CheckedVisitor)
    }
}

struct CheckedVisitor;

fn no_nul<E: de::Error>(text: &str) -> Result<(), E> {
    if text.contains('\0') {
        return Err(E::custom("holds a NUL character (\\u0000), which no text may hold"));
    }
    Ok(())
}

impl<'de> Visitor<'de> for CheckedVisitor {
    type Value = Checked;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Checked, E> {
        Ok(Checked)
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Checked, E> {
        Ok(Checked)
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Checked, E> {
        Ok(Checked)
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Checked, E> {
        Ok(Checked)
    }
    fn visit_unit<E: de::Error>(self) -> Result<Checked, E> {
        Ok(Checked)
    }
    fn visit_str<E: de::Error>(self, text: &str) -> Result<Checked, E> {
        no_nul(text).map(|()| Checked)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Checked, A::Error> {
        while seq.next_element::<Checked>()?.is_some() {}
        Ok(Checked)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Checked, A::Error> {
        let mut seen = HashSet::new();
        while let Some(key) = map.next_key::<String>()? {
            no_nul(&key)?;
            if !seen.insert(key.clone()) {
                let shown: String = key.chars().take(64).collect();
                return Err(de::Error::custom(format!("names \"{shown}\" twice in one object; give each key once")));
            }
            map.next_value::<Checked>()?;
        }
        Ok(Checked)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(json: &str) -> Result<(), String> {
        serde_json::from_str::<Checked>(json).map(|_| ()).map_err(|e| e.to_string())
    }

    #[test]
    fn a_key_twice_in_one_object_is_refused_wherever_it_is() {
        assert!(check(r#"{"a": 1, "b": {"c": 2, "d": [ {"e": 3} ]}}"#).is_ok());
        assert!(check(r#"{"a": 1, "a": 2}"#).is_err_and(|e| e.contains("names \"a\" twice")));
        assert!(check(r#"{"p": [{"x": 1, "x": 1}]}"#).is_err_and(|e| e.contains("names \"x\" twice")));
        // The same key in two objects is two keys.
        assert!(check(r#"[{"x": 1}, {"x": 2}]"#).is_ok());
    }

    #[test]
    fn a_nul_in_any_string_or_key_is_refused_but_the_text_backslash_u0000_is_not() {
        assert!(check(r#"{"login": "a\u0000b"}"#).is_err_and(|e| e.contains("NUL")));
        assert!(check(r#"{"a\u0000": 1}"#).is_err_and(|e| e.contains("NUL")));
        assert!(check(r#"["x", ["\u0000"]]"#).is_err());
        assert!(check(r#"{"note": "\\u0000 is how JSON writes it"}"#).is_ok());
    }
}
