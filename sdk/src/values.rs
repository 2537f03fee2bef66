//! Moving between the contract's typed values and JSON, for JSON-speaking
//! applications. Types survive: booleans stay booleans, integers integers;
//! binary values travel as base64 text in JSON.

use base64::Engine as _;
use serde_json::{Map, Value as Json};

use crate::{Attribute, Field, Scalar, Value};

pub fn scalar_to_json(s: &Scalar) -> Json {
    match s {
        Scalar::Boolean(b) => Json::Bool(*b),
        Scalar::Integer(i) => Json::from(*i),
        Scalar::Number(n) => serde_json::Number::from_f64(*n).map_or(Json::Null, Json::Number),
        Scalar::Text(t) => Json::String(t.clone()),
        Scalar::Binary(b) => Json::String(base64::engine::general_purpose::STANDARD.encode(b)),
    }
}

fn fields_to_json(fields: &[Field]) -> Json {
    Json::Object(fields.iter().map(|f| (f.name.clone(), scalar_to_json(&f.value))).collect())
}

pub fn value_to_json(v: &Value) -> Json {
    match v {
        Value::Single(s) => scalar_to_json(s),
        Value::Multi(m) => Json::Array(m.iter().map(scalar_to_json).collect()),
        Value::Complex(fields) => fields_to_json(fields),
        Value::MultiComplex(items) => Json::Array(items.iter().map(|f| fields_to_json(f)).collect()),
    }
}

/// A JSON scalar as a typed scalar; objects and arrays become JSON text.
pub fn json_to_scalar(j: &Json) -> Option<Scalar> {
    Some(match j {
        Json::Null => return None,
        Json::Bool(b) => Scalar::Boolean(*b),
        Json::Number(n) => match n.as_i64() {
            Some(i) => Scalar::Integer(i),
            None => Scalar::Number(n.as_f64().unwrap_or_default()),
        },
        Json::String(s) => Scalar::Text(s.clone()),
        other => Scalar::Text(other.to_string()),
    })
}

fn object_to_fields(o: &Map<String, Json>) -> Vec<Field> {
    o.iter().filter_map(|(k, v)| json_to_scalar(v).map(|value| Field { name: k.clone(), value })).collect()
}

/// A JSON value as a typed value; `None` for null.
pub fn json_to_value(j: &Json) -> Option<Value> {
    Some(match j {
        Json::Null => return None,
        Json::Object(o) => Value::Complex(object_to_fields(o)),
        Json::Array(items) if items.iter().all(|i| i.is_object()) && !items.is_empty() => {
            Value::MultiComplex(items.iter().filter_map(|i| i.as_object()).map(object_to_fields).collect())
        }
        Json::Array(items) => Value::Multi(items.iter().filter_map(json_to_scalar).collect()),
        scalar => Value::Single(json_to_scalar(scalar)?),
    })
}

/// A profile as one JSON object.
pub fn profile_to_json(profile: &[Attribute]) -> Map<String, Json> {
    profile.iter().map(|a| (a.name.clone(), value_to_json(&a.value))).collect()
}

/// A JSON object as a profile (nulls dropped).
pub fn json_to_profile(object: &Map<String, Json>) -> Vec<Attribute> {
    object.iter().filter_map(|(k, v)| json_to_value(v).map(|value| Attribute { name: k.clone(), value })).collect()
}

pub fn text(s: impl Into<String>) -> Value {
    Value::Single(Scalar::Text(s.into()))
}

pub fn boolean(b: bool) -> Value {
    Value::Single(Scalar::Boolean(b))
}

/// An application's id for an account, as text: a string, or an integer
/// (json-server, many REST APIs) written out. `None` for anything else, an
/// empty string included: an account without an id cannot be found again,
/// so refuse it rather than hand the host `""`.
pub fn json_id(id: &Json) -> Option<String> {
    match id {
        Json::String(s) if !s.is_empty() => Some(s.clone()),
        Json::Number(n) if n.is_i64() || n.is_u64() => Some(n.to_string()),
        _ => None,
    }
}

/// The attribute named `name`, if present.
pub fn attribute<'a>(profile: &'a [Attribute], name: &str) -> Option<&'a Value> {
    profile.iter().find(|a| a.name == name).map(|a| &a.value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn booleans_and_integers_keep_their_json_types() {
        let v = json_to_value(&serde_json::json!(false)).expect("value");
        assert_eq!(value_to_json(&v), serde_json::json!(false));
        let v = json_to_value(&serde_json::json!(42)).expect("value");
        assert!(matches!(v, Value::Single(Scalar::Integer(42))));
    }

    #[test]
    fn an_id_is_text_or_an_integer_never_empty() {
        use serde_json::json;
        assert_eq!(json_id(&json!("u-7")), Some("u-7".into()));
        assert_eq!(json_id(&json!(7)), Some("7".into()));
        for bad in [json!(""), json!(null), json!(1.5), json!({"id": 1}), json!([1])] {
            assert_eq!(json_id(&bad), None, "{bad}");
        }
    }

    #[test]
    fn complex_multi_valued_attributes_round_trip() {
        let j = serde_json::json!([{"value": "a@example.com", "type": "work", "primary": true}]);
        let v = json_to_value(&j).expect("value");
        assert_eq!(value_to_json(&v), j);
    }
}
