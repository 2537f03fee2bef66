//! Every status on the wire, spelled one way: UPPERCASE, as Okta spells
//! a user's (`ACTIVE`, `DEPROVISIONED`) and an app's (`ACTIVE`). The store
//! keeps them lowercase (its CHECK constraints list them); a query may
//! spell one in either case.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Declares a status enum with the store's spelling of each value.
macro_rules! status {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident = $stored:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
        #[serde(rename_all = "UPPERCASE")]
        pub enum $name {
            $($(#[$vmeta])* $variant),+
        }

        impl $name {
            pub const ALL: &'static [Self] = &[$(Self::$variant),+];

            /// As the store keeps it.
            pub fn stored(self) -> &'static str {
                match self {
                    $(Self::$variant => $stored),+
                }
            }

            /// From the store's spelling. The store's CHECK constraint
            /// admits only these, so anything else is a store this
            /// version cannot read, which the first value stands for.
            pub fn from_stored(stored: &str) -> Self {
                match stored {
                    $($stored => Self::$variant,)+
                    other => {
                        debug_assert!(false, "{} {other:?} is not a stored value", stringify!($name));
                        Self::ALL[0]
                    }
                }
            }

            /// As a query spells it, in either case; an error lists what
            /// would do.
            pub fn parse(field: &str, text: &str) -> Result<Self, String> {
                let lower = text.to_ascii_lowercase();
                Self::ALL.iter().copied().find(|s| s.stored() == lower).ok_or_else(|| {
                    let names: Vec<String> = Self::ALL.iter().map(Self::to_string).collect();
                    format!("{field} \"{text}\": use {}", names.join(", "))
                })
            }
        }

        impl std::fmt::Display for $name {
            /// As the wire spells it.
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.stored().to_ascii_uppercase())
            }
        }
    };
}

status!(
    /// Where a user is in its lifecycle.
    UserStatus { Staged = "staged", Active = "active", Suspended = "suspended", Deprovisioned = "deprovisioned" }
);

status!(
    /// Whether an app's accounts are being worked.
    AppStatus {
        /// Worked.
        Active = "active",
        /// Deactivated by an admin: changes wait, none is lost.
        Paused = "paused",
        /// Stopped by failures of its connector until an admin resumes it.
        Quarantined = "quarantined",
    }
);

status!(
    /// What an app account is, or should be.
    AccountState {
        /// None in the app (never made, or not yet).
        Absent = "absent",
        Active = "active",
        /// Made, with no access.
        Inactive = "inactive",
        Deleted = "deleted",
    }
);

status!(
    /// Whether an admin's tokens work.
    AdminStatus { Active = "active", Deactivated = "deactivated" }
);

status!(
    /// A plan of the mass-change guard.
    PlanStatus {
        /// Waits for an admin's decision.
        Held = "held",
        /// Approved, being applied.
        Approved = "approved",
        Rejected = "rejected",
        Applied = "applied",
    }
);

status!(
    /// A manual deprovisioning task.
    TaskStatus { Open = "open", Done = "done", Cancelled = "cancelled" }
);

status!(
    /// Whether a hook is sent events.
    HookStatus { Active = "active", Disabled = "disabled" }
);

status!(
    /// One event's delivery to a hook.
    DeliveryStatus {
        /// Not delivered yet; retried until its attempts run out.
        Pending = "pending",
        Delivered = "delivered",
        /// Its attempts ran out.
        Failed = "failed",
    }
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_status_is_uppercase_on_the_wire_lowercase_in_the_store_and_parsed_in_either_case() {
        assert_eq!(serde_json::to_value(AppStatus::Quarantined).ok(), Some(serde_json::json!("QUARANTINED")));
        assert_eq!(AppStatus::Quarantined.to_string(), "QUARANTINED");
        assert_eq!(AppStatus::from_stored("quarantined"), AppStatus::Quarantined);
        assert_eq!(PlanStatus::parse("status", "held"), Ok(PlanStatus::Held));
        assert_eq!(PlanStatus::parse("status", "HELD"), Ok(PlanStatus::Held));
        assert_eq!(
            TaskStatus::parse("status", "finished"),
            Err("status \"finished\": use OPEN, DONE, CANCELLED".to_string())
        );
        for s in UserStatus::ALL {
            let wire: UserStatus = serde_json::from_value(serde_json::json!(s.to_string())).expect("round trip");
            assert_eq!(wire, *s);
        }
    }
}
