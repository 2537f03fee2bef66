//! Finding users: Okta's `q` (a prefix of the login, first or last name, or
//! email) and `filter` expressions (`status eq "ACTIVE" and
//! profile.department eq "Engineering"`, `lastUpdated gt "2026-11-01T00:00:00Z"`),
//! paged by id, optionally limited to the users a group admin manages.
//!
//! The SQL is assembled from a fixed set of expressions; every value and
//! attribute name is a bound parameter.

use sqlx::Arguments;
use sqlx::any::AnyArguments;

use crate::error::StoreError;
use crate::store::{Backend, Store};
use crate::users::{USER_COLUMNS, User, UserStatus, from_row};

/// One `field op "value"` clause of a filter.
#[derive(Debug, Clone, PartialEq)]
enum Clause {
    Status(UserStatus),
    /// `created` or `lastUpdated`, compared with a time in ms.
    Time {
        column: &'static str,
        op: &'static str,
        at: i64,
    },
    /// `profile.name eq|sw "value"`.
    Profile {
        name: String,
        prefix: bool,
        value: String,
    },
}

#[derive(Debug, Clone, Default)]
pub struct UserSearch {
    pub q: Option<String>,
    pub filter: Option<String>,
    /// Only the users of this group admin's groups.
    pub managed_by: Option<String>,
    pub after: Option<String>,
    pub limit: u32,
}

fn unquote(value: &str) -> Result<String, StoreError> {
    let value = value.trim();
    let mut strings = serde_json::Deserializer::from_str(value).into_iter::<String>();
    match strings.next() {
        Some(Ok(text)) => {
            let rest = value[strings.byte_offset()..].trim();
            if rest.is_empty() {
                return Ok(text);
            }
            // A quoted value followed by more: an `or`, a `not`, a bracket.
            Err(StoreError::Invalid(format!(
                "filter: after {} comes \"{rest}\"; terms are joined with \"and\" only (no \"or\", \"not\" or parentheses)",
                &value[..strings.byte_offset()]
            )))
        }
        _ => Err(StoreError::Invalid(format!("filter value {value}: quote it, e.g. \"ACTIVE\""))),
    }
}

fn parse_time(value: &str) -> Result<i64, StoreError> {
    crate::clock::parse_time(value).map_err(|e| StoreError::Invalid(format!("filter time {e}")))
}

/// The most `and` terms a filter may join: far more than any real search
/// needs, and well below what SQLite's expression tree takes (about 1,000
/// terms answer "Expression tree is too large").
pub const MAX_FILTER_TERMS: usize = 50;

/// Parses `clause (and clause)*`; anything else is refused with the reason.
fn parse_filter(filter: &str) -> Result<Vec<Clause>, StoreError> {
    let mut clauses = Vec::new();
    for (n, part) in clauses_of(filter).into_iter().enumerate() {
        if n == MAX_FILTER_TERMS {
            return Err(StoreError::Invalid(format!(
                "the filter joins more than {MAX_FILTER_TERMS} terms; narrow it, or search in several steps"
            )));
        }
        let part = part.trim();
        let mut words = part.splitn(3, ' ');
        let (Some(field), Some(op), Some(value)) = (words.next(), words.next(), words.next()) else {
            return Err(StoreError::Invalid(format!("filter \"{part}\": write FIELD OP \"VALUE\"")));
        };
        let value = unquote(value)?;
        let clause = match (field, op) {
            ("status", "eq") => {
                let status = UserStatus::parse(&value.to_lowercase()).map_err(|_| {
                    StoreError::Invalid(format!("status \"{value}\": use STAGED, ACTIVE, SUSPENDED or DEPROVISIONED"))
                })?;
                Clause::Status(status)
            }
            ("created" | "lastUpdated", "gt" | "ge" | "lt" | "le") => Clause::Time {
                column: if field == "created" { "created_at" } else { "updated_at" },
                op: match op {
                    "gt" => ">",
                    "ge" => ">=",
                    "lt" => "<",
                    _ => "<=",
                },
                at: parse_time(&value)?,
            },
            (f, "eq" | "sw") if f.starts_with("profile.") => {
                let name = &f["profile.".len()..];
                if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                    return Err(StoreError::Invalid(format!("filter field \"{f}\": name a profile attribute")));
                }
                Clause::Profile { name: name.to_string(), prefix: op == "sw", value }
            }
            _ => {
                return Err(StoreError::Invalid(format!(
                    "filter \"{part}\": use status eq, created|lastUpdated gt|ge|lt|le, or profile.NAME eq|sw"
                )));
            }
        };
        clauses.push(clause);
    }
    Ok(clauses)
}

/// A profile attribute as text, for the backend; `p` is the placeholder
/// holding the attribute's name (or JSON path).
///
/// Both backends give the same text for the same JSON value: PostgreSQL's
/// `->>` writes numbers and booleans as JSON does; SQLite's `json_extract`
/// would give 1 for `true` and an integer for `7`, which equal no text.
fn attribute(backend: Backend, p: usize) -> String {
    match backend {
        Backend::Sqlite => format!(
            "(CASE json_type(profile, ${p}) WHEN 'true' THEN 'true' WHEN 'false' THEN 'false' \
             ELSE CAST(json_extract(profile, ${p}) AS TEXT) END)"
        ),
        Backend::Postgres => format!("(profile::jsonb ->> ${p})"),
    }
}

/// Splits `clause and clause …` on the `and`s outside quoted values.
fn clauses_of(filter: &str) -> Vec<&str> {
    let (mut parts, mut start, mut quoted, mut escaped) = (Vec::new(), 0, false, false);
    let bytes = filter.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if quoted {
            match b {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => quoted = false,
                _ => {}
            }
        } else if b == b'"' {
            quoted = true;
        } else if bytes[i..].starts_with(b" and ") {
            parts.push(&filter[start..i]);
            i += " and ".len();
            start = i;
            continue;
        }
        i += 1;
    }
    parts.push(&filter[start..]);
    parts
}

/// Bound parameters, numbered as they are added.
struct Binder {
    args: AnyArguments,
    n: usize,
}

impl Binder {
    fn text(&mut self, value: String) -> Result<usize, StoreError> {
        self.args.add(value).map_err(|e| StoreError::Invalid(e.to_string()))?;
        self.n += 1;
        Ok(self.n)
    }

    fn int(&mut self, value: i64) -> Result<usize, StoreError> {
        self.args.add(value).map_err(|e| StoreError::Invalid(e.to_string()))?;
        self.n += 1;
        Ok(self.n)
    }
}

/// A LIKE pattern matching values that start with `prefix`.
fn starts_with(prefix: &str) -> String {
    format!("{}%", prefix.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_"))
}

impl Store {
    pub async fn search_users(&self, search: &UserSearch) -> Result<Vec<User>, StoreError> {
        let backend = self.backend();
        let mut b = Binder { args: AnyArguments::default(), n: 0 };
        let mut conditions: Vec<String> = Vec::new();
        // SQLite takes a JSON path, PostgreSQL a key.
        let path = |name: &str| match backend {
            Backend::Sqlite => format!("$.{name}"),
            Backend::Postgres => name.to_string(),
        };
        if let Some(q) = search.q.as_deref().map(str::trim).filter(|q| !q.is_empty()) {
            let p = b.text(starts_with(&crate::logins::login_key(q)))?;
            let mut any = vec![format!("login_key LIKE ${p} ESCAPE '\\'")];
            for name in ["firstName", "lastName", "email"] {
                let a = b.text(path(name))?;
                any.push(format!("lower({}) LIKE ${p} ESCAPE '\\'", attribute(backend, a)));
            }
            conditions.push(format!("({})", any.join(" OR ")));
        }
        let clauses = match search.filter.as_deref().map(str::trim).filter(|f| !f.is_empty()) {
            Some(f) => parse_filter(f)?,
            None => Vec::new(),
        };
        for clause in clauses {
            match clause {
                Clause::Status(status) => {
                    let p = b.text(status.as_str().to_string())?;
                    conditions.push(format!("status = ${p}"));
                }
                Clause::Time { column, op, at } => {
                    let p = b.int(at)?;
                    conditions.push(format!("{column} {op} ${p}"));
                }
                // The login is a column of its own (shown in the profile):
                // matched as uniqueness matches it, without regard to case.
                Clause::Profile { name, prefix, value } if name == "login" => {
                    let p = match prefix {
                        true => b.text(starts_with(&crate::logins::login_key(&value)))?,
                        false => b.text(crate::logins::login_key(&value))?,
                    };
                    let op = if prefix { "LIKE" } else { "=" };
                    let escape = if prefix { " ESCAPE '\\'" } else { "" };
                    conditions.push(format!("login_key {op} ${p}{escape}"));
                }
                Clause::Profile { name, prefix, value } => {
                    let a = b.text(path(&name))?;
                    if prefix {
                        // `sw` ignores case on both backends (PostgreSQL's
                        // LIKE would not; SQLite's ignores ASCII case only).
                        let p = b.text(starts_with(&value.to_lowercase()))?;
                        conditions.push(format!("lower({}) LIKE ${p} ESCAPE '\\'", attribute(backend, a)));
                    } else {
                        let p = b.text(value)?;
                        conditions.push(format!("{} = ${p}", attribute(backend, a)));
                    }
                }
            }
        }
        if let Some(admin) = &search.managed_by {
            let p = b.text(admin.clone())?;
            conditions.push(format!(
                "id IN (SELECT m.user_id FROM memberships m JOIN admin_groups g ON g.group_id = m.group_id \
                 WHERE g.admin_id = ${p})"
            ));
        }
        if let Some(after) = &search.after {
            let p = b.text(after.clone())?;
            conditions.push(format!("id > ${p}"));
        }
        let limit = b.int(i64::from(search.limit.clamp(1, 1000)))?;
        let condition = if conditions.is_empty() { "1 = 1".to_string() } else { conditions.join(" AND ") };
        let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE {condition} ORDER BY id LIMIT ${limit}");
        let rows = sqlx::query_with(sqlx::AssertSqlSafe(sql), b.args).fetch_all(&self.pool).await?;
        rows.iter().map(from_row).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::{Clause, parse_filter};
    use crate::users::UserStatus;

    #[test]
    fn filters_parse_into_clauses_and_anything_else_is_refused() {
        let clauses = parse_filter(r#"status eq "ACTIVE" and profile.department sw "Eng""#).expect("parses");
        assert_eq!(
            clauses,
            vec![
                Clause::Status(UserStatus::Active),
                Clause::Profile { name: "department".into(), prefix: true, value: "Eng".into() }
            ]
        );
        let or = parse_filter(r#"status eq "ACTIVE" or status eq "STAGED""#).expect_err("no or");
        assert!(or.to_string().contains("\"and\" only (no \"or\""), "{or}");
        let unquoted = parse_filter("status eq ACTIVE").expect_err("unquoted");
        assert!(unquoted.to_string().contains("quote it"), "{unquoted}");
        let quoted = parse_filter(r#"profile.team eq "Research and Development" and status eq "ACTIVE""#);
        assert_eq!(
            quoted.expect("an and inside quotes is part of the value"),
            vec![
                Clause::Profile { name: "team".into(), prefix: false, value: "Research and Development".into() },
                Clause::Status(UserStatus::Active)
            ]
        );
        for bad in [
            "status eq ACTIVE",
            r#"status gt "ACTIVE""#,
            r#"profile.a;drop eq "x""#,
            r#"password eq "x""#,
            r#"lastUpdated gt "yesterday""#,
            "status",
        ] {
            assert!(parse_filter(bad).is_err(), "{bad} is refused");
        }
    }
}
