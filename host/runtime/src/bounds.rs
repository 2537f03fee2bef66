//! Bounds on everything a guest returns, checked before any of it leaves the
//! runtime: the engine stores ids, logins and messages, and serves them back
//! through the API.
//!
//! Two rules. Text that only describes (an error message, a log line) is cut
//! to its limit with a marker saying how much was cut, and its control
//! characters are replaced (PostgreSQL refuses NUL in text; a terminal obeys
//! escapes). Text that identifies or is data (an id, a login, a cursor, a
//! profile value) is refused whole when it is over its limit or holds a NUL:
//! a cut id is another id, and a changed value is a wrong one.

use crate::model::{Account, Authentication, ConnectorError, Descriptor, Group, Page, Profile, Scalar, Value};

/// An error message or a log line, in bytes.
pub const MAX_MESSAGE_BYTES: usize = 4 << 10;
/// An id, a login, a group or attribute name, a cursor or a watermark.
pub const MAX_KEY_BYTES: usize = 1024;
/// One text or binary value of a profile.
pub const MAX_VALUE_BYTES: usize = 1 << 20;
/// Attributes of one profile, sub-attributes of one complex value.
pub const MAX_ATTRIBUTES: usize = 1024;
/// Items of one list: accounts or groups of a page, deleted ids, members,
/// values of a multi-valued attribute.
pub const MAX_ITEMS: usize = 100_000;
/// The longest pause a connector may ask for (`rate-limited`).
pub const MAX_RETRY_AFTER_MS: u64 = 24 * 60 * 60 * 1000;

/// The longest prefix of `text` of at most `max` bytes that ends on a
/// character boundary, and how many bytes are left out.
pub(crate) fn cut(text: &str, max: usize) -> (&str, usize) {
    if text.len() <= max {
        return (text, 0);
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    (&text[..end], text.len() - end)
}

pub(crate) fn with_marker(kept: &str, dropped: usize) -> String {
    format!("{kept}… [{dropped} more bytes cut]")
}

/// `text` with NUL and other control characters (but newlines and tabs)
/// replaced by U+FFFD.
pub(crate) fn printable(text: &str) -> String {
    if !text.chars().any(is_unprintable) {
        return text.to_string();
    }
    text.chars().map(|c| if is_unprintable(c) { '\u{FFFD}' } else { c }).collect()
}

fn is_unprintable(c: char) -> bool {
    c.is_control() && c != '\n' && c != '\t'
}

/// What a guest returned, checked: `Err` says what is wrong with it.
pub(crate) trait Bounded {
    fn bound(&mut self) -> Result<(), String>;
}

fn key(what: &str, value: &str) -> Result<(), String> {
    if value.len() > MAX_KEY_BYTES {
        return Err(format!("{what} has {} bytes; the most the host takes is {MAX_KEY_BYTES}", value.len()));
    }
    if value.contains('\0') {
        return Err(format!("{what} contains a NUL character"));
    }
    Ok(())
}

fn items(what: &str, n: usize) -> Result<(), String> {
    if n > MAX_ITEMS {
        return Err(format!("{what} has {n} items; the most the host takes is {MAX_ITEMS}"));
    }
    Ok(())
}

fn scalar(what: &str, s: &Scalar) -> Result<(), String> {
    let len = match s {
        Scalar::Text(t) if t.contains('\0') => return Err(format!("{what} contains a NUL character")),
        Scalar::Text(t) => t.len(),
        Scalar::Binary(b) => b.len(),
        Scalar::Number(n) if !n.is_finite() => return Err(format!("{what} is not a finite number")),
        Scalar::Boolean(_) | Scalar::Integer(_) | Scalar::Number(_) => 0,
    };
    if len > MAX_VALUE_BYTES {
        return Err(format!("{what} has {len} bytes; the most the host takes is {MAX_VALUE_BYTES}"));
    }
    Ok(())
}

fn fields(what: &str, fields: &std::collections::BTreeMap<String, Scalar>) -> Result<(), String> {
    if fields.len() > MAX_ATTRIBUTES {
        return Err(format!("{what} has {} sub-attributes; the most is {MAX_ATTRIBUTES}", fields.len()));
    }
    for (name, s) in fields {
        key(&format!("a sub-attribute name of {what}"), name)?;
        scalar(&format!("{what}.{}", cut(name, 64).0), s)?;
    }
    Ok(())
}

fn profile(what: &str, p: &Profile) -> Result<(), String> {
    if p.len() > MAX_ATTRIBUTES {
        return Err(format!("{what} has {} attributes; the most the host takes is {MAX_ATTRIBUTES}", p.len()));
    }
    for (name, value) in p {
        key(&format!("an attribute name of {what}"), name)?;
        let at = format!("attribute \"{}\" of {what}", cut(name, 64).0);
        match value {
            Value::Single(s) => scalar(&at, s)?,
            Value::Multi(values) => {
                items(&at, values.len())?;
                values.iter().try_for_each(|s| scalar(&at, s))?;
            }
            Value::Complex(f) => fields(&at, f)?,
            Value::MultiComplex(all) => {
                items(&at, all.len())?;
                all.iter().try_for_each(|f| fields(&at, f))?;
            }
        }
    }
    Ok(())
}

impl Bounded for () {
    fn bound(&mut self) -> Result<(), String> {
        Ok(())
    }
}

impl Bounded for Account {
    fn bound(&mut self) -> Result<(), String> {
        key("the account id", &self.id)?;
        if self.id.is_empty() {
            return Err("the account id is empty".into());
        }
        if let Some(login) = &self.login {
            key("the account's login", login)?;
        }
        profile("the account's profile", &self.profile)
    }
}

impl<T: Bounded> Bounded for Option<T> {
    fn bound(&mut self) -> Result<(), String> {
        self.as_mut().map_or(Ok(()), Bounded::bound)
    }
}

impl Bounded for Group {
    fn bound(&mut self) -> Result<(), String> {
        key("the group id", &self.id)?;
        key("the group name", &self.name)?;
        if let Some(d) = &self.description {
            scalar("the group description", &Scalar::Text(d.clone()))?;
        }
        if let Some(members) = &self.members {
            items("the group's members", members.len())?;
            members.iter().try_for_each(|m| key("a member id", m))?;
        }
        Ok(())
    }
}

impl<T: Bounded> Bounded for Page<T> {
    fn bound(&mut self) -> Result<(), String> {
        items("the page", self.items.len())?;
        items("the page's deleted ids", self.deleted.len())?;
        self.deleted.iter().try_for_each(|d| key("a deleted id", d))?;
        if let Some(c) = &self.next_cursor {
            key("the next cursor", c)?;
        }
        if let Some(w) = &self.watermark {
            key("the watermark", w)?;
        }
        self.items.iter_mut().try_for_each(Bounded::bound)
    }
}

impl Bounded for Authentication {
    fn bound(&mut self) -> Result<(), String> {
        match self {
            Authentication::Accepted(account) => account.bound(),
            Authentication::Rejected(message) => {
                *message = message_of(message);
                Ok(())
            }
        }
    }
}

impl Bounded for Descriptor {
    fn bound(&mut self) -> Result<(), String> {
        key("the connector name", &self.name)?;
        key("the connector version", &self.version)?;
        items("the descriptor's profile", self.profile.len())?;
        items("the descriptor's settings", self.settings.len())
    }
}

fn drop_if_unbounded(existing: &mut Option<Account>) {
    if existing.bound().is_err() {
        *existing = None;
    }
}

/// A message cut to [`MAX_MESSAGE_BYTES`], made printable.
pub(crate) fn message_of(text: &str) -> String {
    let (kept, dropped) = cut(text, MAX_MESSAGE_BYTES);
    let kept = printable(kept);
    if dropped == 0 { kept } else { with_marker(&kept, dropped) }
}

impl ConnectorError {
    /// Clamps what the guest chose: a retry-after past the ceiling becomes
    /// the ceiling, and an existing account that breaks the bounds is
    /// dropped (the engine then looks the account up itself).
    pub(crate) fn bound(&mut self) {
        match self {
            ConnectorError::RateLimited { retry_after_ms: Some(ms), .. } => *ms = (*ms).min(MAX_RETRY_AFTER_MS),
            ConnectorError::Conflict { existing, .. } => drop_if_unbounded(existing),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cut_ends_on_a_character_boundary_and_says_how_much_was_cut() {
        assert_eq!(cut("héllo", 2), ("h", 5));
        assert_eq!(
            message_of(&"é".repeat(MAX_MESSAGE_BYTES)).len(),
            MAX_MESSAGE_BYTES + "… [4096 more bytes cut]".len()
        );
        assert_eq!(message_of("short"), "short");
    }

    #[test]
    fn control_characters_in_a_message_are_replaced_but_newlines_kept() {
        assert_eq!(printable("a\0b\x1b[31mc\nd\te"), "a\u{FFFD}b\u{FFFD}[31mc\nd\te");
    }

    #[test]
    fn an_id_over_its_limit_or_with_a_nul_is_refused_not_cut() {
        let account = |id: &str| Account { id: id.into(), login: None, active: None, profile: Profile::new() };
        assert!(account(&"x".repeat(MAX_KEY_BYTES)).bound().is_ok());
        assert!(account(&"x".repeat(MAX_KEY_BYTES + 1)).bound().is_err());
        assert!(account("a\0b").bound().is_err());
        assert!(account("").bound().is_err());
    }

    #[test]
    fn a_retry_after_near_the_largest_number_is_clamped_to_the_ceiling() {
        let mut e = ConnectorError::RateLimited { message: String::new(), retry_after_ms: Some(u64::MAX) };
        e.bound();
        assert_eq!(e, ConnectorError::RateLimited { message: String::new(), retry_after_ms: Some(MAX_RETRY_AFTER_MS) });
    }
}
