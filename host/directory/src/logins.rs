//! What a login may hold and when two logins are one. A login is stored in
//! NFC, so `café` typed as `e` + combining accent is the same login as `é`;
//! it is compared by a key that also ignores case. Characters that make one
//! login look like another (zero-width and bidi controls, full-width
//! letters, ligatures) are refused, not quietly mapped: the operator sees
//! what will be stored.

use serde::Serialize;
use sqlx::Row;
use unicode_normalization::UnicodeNormalization;
use unicode_properties::{GeneralCategory, UnicodeGeneralCategory};

use crate::error::StoreError;
use crate::store::Store;
use crate::users::shown;

/// The longest login, in bytes.
pub const MAX_LOGIN_BYTES: usize = 256;

/// The login as it will be stored (NFC), or why it cannot be one.
pub(crate) fn normal_login(raw: &str) -> Result<String, StoreError> {
    let login: String = raw.nfc().collect();
    let refuse = |why: String| Err(StoreError::Invalid(format!("login \"{}\" {why}", shown(&login))));
    if login.trim().is_empty() || login.len() > MAX_LOGIN_BYTES {
        return refuse(format!("must be 1-{MAX_LOGIN_BYTES} bytes"));
    }
    if login.trim() != login {
        return refuse("must not start or end with a space".into());
    }
    if let Some(c) = login.chars().find(|c| hidden(*c)) {
        return refuse(format!(
            "holds U+{:04X}, a control, format, separator or private-use character that shows as nothing or \
             as something else; remove it",
            c as u32
        ));
    }
    let plain: String = login.nfkc().collect();
    if plain != login {
        return refuse(format!(
            "holds compatibility characters (full-width letters, ligatures, superscripts) that look like \
             others; write it as \"{}\"",
            shown(&plain)
        ));
    }
    Ok(login)
}

/// Characters a login must not hold: they render as nothing, reorder what
/// follows (bidi overrides), or break lines; spaces other than U+0020 too.
fn hidden(c: char) -> bool {
    use GeneralCategory as G;
    matches!(
        c.general_category(),
        G::Control
            | G::Format
            | G::Surrogate
            | G::PrivateUse
            | G::Unassigned
            | G::LineSeparator
            | G::ParagraphSeparator
    ) || (c.is_whitespace() && c != ' ')
}

/// The key two logins are compared by: NFC, without regard to case.
/// `Ada@Example.com` and `ada@example.com` are one person.
pub(crate) fn login_key(login: &str) -> String {
    login.nfc().collect::<String>().to_lowercase().nfc().collect()
}

/// Two users whose logins are one under today's comparison, stored apart
/// by an earlier version (which compared them byte for byte, case aside).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LoginCollision {
    pub key: String,
    /// The user holding the key, and the one who keeps their old key.
    pub holder: String,
    pub other: String,
    pub other_login: String,
}

impl Store {
    /// Brings every user's stored login and key to today's rules (run at
    /// start; it changes nothing once done). Users whose logins collide
    /// under them are not merged: the second keeps its old key, and each
    /// pair is reported for an admin to resolve (rename or delete one).
    pub async fn rekey_logins(&self) -> Result<Vec<LoginCollision>, StoreError> {
        let rows = sqlx::query("SELECT id, login, login_key FROM users ORDER BY id").fetch_all(&self.pool).await?;
        let mut collisions = Vec::new();
        for row in rows {
            let (id, login, key): (String, String, String) =
                (row.try_get("id")?, row.try_get("login")?, row.try_get("login_key")?);
            let new_login: String = login.nfc().collect();
            let new_key = login_key(&login);
            if new_login == login && new_key == key {
                continue;
            }
            let mut tx = self.write().await?;
            let holder = sqlx::query("SELECT id FROM users WHERE login_key = $1 AND id <> $2")
                .bind(&new_key)
                .bind(&id)
                .fetch_optional(tx.conn())
                .await?;
            if let Some(holder) = holder {
                tx.rollback().await?;
                collisions.push(LoginCollision {
                    key: new_key,
                    holder: holder.try_get("id")?,
                    other: id,
                    other_login: login,
                });
                continue;
            }
            sqlx::query("UPDATE users SET login = $1, login_key = $2 WHERE id = $3")
                .bind(&new_login)
                .bind(&new_key)
                .bind(&id)
                .execute(tx.conn())
                .await?;
            tx.commit().await?;
        }
        Ok(collisions)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nfc_and_nfd_are_one_login_and_case_is_ignored() {
        let nfd = "Cafe\u{301}@example.com";
        assert_eq!(normal_login(nfd).ok().as_deref(), Some("Caf\u{e9}@example.com"));
        assert_eq!(login_key(nfd), login_key("caf\u{e9}@EXAMPLE.com"));
    }

    #[test]
    fn invisible_reordering_and_look_alike_characters_are_refused() {
        for login in [
            "ada\u{200b}@example.com",
            "ada\u{202e}moc.elpmaxe@",
            "\u{ff41}da@example.com",
            "ada\u{a0}l@example.com",
            "ada\u{feff}@example.com",
            "a\tb",
            " ada",
        ] {
            assert!(normal_login(login).is_err(), "{login:?} was accepted");
        }
        for login in ["grace+ops@example.com", "Zo\u{eb} Ng", "o'hara", "\u{5f20}\u{4f1f}@example.cn"] {
            assert!(normal_login(login).is_ok(), "{login:?} was refused");
        }
    }
}
