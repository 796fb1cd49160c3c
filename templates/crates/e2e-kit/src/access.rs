//! Who the checks sign in as: for something the blueprint protects with `read` and `write`
//! roles, the user that writes, the user that reads back, and the refusal the blueprint
//! implies. A pure function of the manifest, shared with the generator (`#[path]`).
//!
//! The suite signs in one user per role of `[auth]`, holding that role only, and the first
//! admin (`admin`), who holds every role. An empty list means any signed-in user; a system
//! without `[auth]` has no tokens at all.

/// The first admin: holds every role of `[auth]`.
pub const ADMIN: &str = "admin";

/// The identities for one protected thing; `None` means no token (a system without auth).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Access {
    /// Creates, changes and deletes (`POST`, `PUT`, `DELETE`, commands).
    pub writer: Option<String>,
    /// Reads back what the writer wrote (`GET`): the writer itself when it may read.
    pub reader: Option<String>,
    /// A writer the blueprint does not let read: its `GET` must get 403.
    pub refused: Option<String>,
}

/// Whether the suite's user of `role` passes a check for `allowed` (empty: anyone signed in).
pub fn holds(role: &str, allowed: &[String]) -> bool {
    role == ADMIN || allowed.is_empty() || allowed.iter().any(|r| r == role)
}

/// The identities for `read` and `write` among the system's `roles` (empty: no auth).
///
/// One user does both when the blueprint lets one: a writer that is also a reader. Otherwise
/// the first writer writes, the first reader reads, and the writer is expected to be refused
/// reading. An empty `write` (or `read`) is any signed-in user: a reader, else the first role
/// that is not the admin (whose roles would hide a missing one).
pub fn access(roles: &[String], read: &[String], write: &[String]) -> Access {
    if roles.is_empty() {
        return Access::default();
    }
    let anyone = || {
        roles
            .iter()
            .find(|r| *r != ADMIN)
            .map_or_else(|| ADMIN.to_string(), Clone::clone)
    };
    let writer = write
        .iter()
        .find(|w| read.is_empty() || read.contains(w))
        .or_else(|| write.first())
        .or_else(|| read.first())
        .cloned()
        .unwrap_or_else(anyone);
    let (reader, refused) = if holds(&writer, read) {
        (writer.clone(), None)
    } else {
        let reader = read.first().cloned().unwrap_or_else(anyone);
        (reader, Some(writer.clone()))
    };
    Access {
        writer: Some(writer),
        reader: Some(reader),
        refused,
    }
}

/// The user that reads something only `read` protects (a route, a view, a composition).
pub fn reader(roles: &[String], read: &[String]) -> Option<String> {
    access(roles, read, &[]).reader
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(roles: &[&str]) -> Vec<String> {
        roles.iter().map(|r| r.to_string()).collect()
    }

    fn of(roles: &[&str], read: &[&str], write: &[&str]) -> Access {
        access(&list(roles), &list(read), &list(write))
    }

    fn who(writer: &str, reader: &str, refused: Option<&str>) -> Access {
        Access {
            writer: Some(writer.into()),
            reader: Some(reader.into()),
            refused: refused.map(str::to_string),
        }
    }

    const ROLES: &[&str] = &["customer", "clerk", "admin"];

    #[test]
    fn a_writer_that_reads_does_both() {
        assert_eq!(
            of(ROLES, &["customer", "admin"], &["customer"]),
            who("customer", "customer", None)
        );
        // The first writer that also reads, not the first writer.
        assert_eq!(
            of(ROLES, &["customer"], &["clerk", "customer"]),
            who("customer", "customer", None)
        );
    }

    #[test]
    fn a_write_only_role_writes_and_a_reader_reads_back() {
        // A payment authorisation: clerks write, only admins read.
        assert_eq!(
            of(ROLES, &["admin"], &["clerk"]),
            who("clerk", "admin", Some("clerk"))
        );
        assert_eq!(
            of(ROLES, &["customer"], &["clerk"]),
            who("clerk", "customer", Some("clerk"))
        );
    }

    #[test]
    fn the_admin_holds_every_role() {
        // Declared as a writer only, the admin still reads: nothing to refuse.
        assert_eq!(
            of(ROLES, &["customer"], &["admin"]),
            who("admin", "admin", None)
        );
        // A declared reader-writer is preferred to the admin.
        assert_eq!(
            of(ROLES, &["customer"], &["admin", "customer"]),
            who("customer", "customer", None)
        );
    }

    #[test]
    fn an_empty_list_is_any_signed_in_user() {
        // Anyone reads: the writer reads back.
        assert_eq!(of(ROLES, &[], &["clerk"]), who("clerk", "clerk", None));
        // Anyone writes: a reader writes too.
        assert_eq!(of(ROLES, &["admin"], &[]), who("admin", "admin", None));
        // Anyone at all: a user without the admin's roles.
        assert_eq!(of(ROLES, &[], &[]), who("customer", "customer", None));
        assert_eq!(of(&["admin"], &[], &[]), who("admin", "admin", None));
        assert_eq!(reader(&list(ROLES), &[]), Some("customer".into()));
        assert_eq!(
            reader(&list(ROLES), &list(&["clerk"])),
            Some("clerk".into())
        );
    }

    #[test]
    fn without_auth_there_are_no_tokens() {
        assert_eq!(of(&[], &[], &[]), Access::default());
        assert_eq!(reader(&[], &[]), None);
    }

    #[test]
    fn holds_follows_the_lists() {
        assert!(holds("clerk", &[]));
        assert!(holds("clerk", &list(&["clerk"])));
        assert!(!holds("clerk", &list(&["admin"])));
        assert!(holds(ADMIN, &list(&["clerk"])));
    }
}
