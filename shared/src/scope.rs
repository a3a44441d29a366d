//! The scopes of the profile API and a small set type for scope strings
//! (RFC 6749 §3.3: space-delimited, case-sensitive, order irrelevant).

use std::collections::BTreeSet;
use std::fmt;

/// Scopes the issuer knows. Unknown scope tokens are kept as strings by
/// [`ScopeSet`] so that a resource server can check scopes it defines itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Scope {
    /// Read one's own profile.
    ProfileRead,
    /// Change one's own profile.
    ProfileWrite,
    /// Read any profile: admins and clients registered with it.
    ProfilesRead,
    /// OpenID Connect: an `id_token` and `/oauth/userinfo` (OIDC Core §3.1.2.1).
    OpenId,
    /// OpenID Connect: the `email` and `email_verified` claims (OIDC Core §5.4).
    Email,
    /// OpenID Connect: the `name` claim (OIDC Core §5.4).
    Profile,
    /// The issuer's admin API (`/admin/v1/`): only for a client registered
    /// with it from the command line, through client credentials. Not in
    /// [`Scope::ALL`], so never advertised nor offered to users.
    Admin,
}

impl Scope {
    pub const ALL: [Scope; 6] = [
        Scope::ProfileRead,
        Scope::ProfileWrite,
        Scope::ProfilesRead,
        Scope::OpenId,
        Scope::Email,
        Scope::Profile,
    ];

    /// The OpenID Connect scopes: about who the user is, not what a
    /// resource server lets the token do. Every user holds them.
    pub const IDENTITY: [Scope; 3] = [Scope::OpenId, Scope::Email, Scope::Profile];

    pub const fn as_str(self) -> &'static str {
        match self {
            Scope::ProfileRead => "profile:read",
            Scope::ProfileWrite => "profile:write",
            Scope::ProfilesRead => "profiles:read",
            Scope::OpenId => "openid",
            Scope::Email => "email",
            Scope::Profile => "profile",
            Scope::Admin => "admin",
        }
    }

    /// What holding the scope allows, for consent pages and API docs.
    pub const fn description(self) -> &'static str {
        match self {
            Scope::ProfileRead => "Read your own profile",
            Scope::ProfileWrite => "Change your own profile",
            Scope::ProfilesRead => "Read any profile (admins)",
            Scope::OpenId => "Sign you in with your account",
            Scope::Email => "See your email address",
            Scope::Profile => "See your name",
            Scope::Admin => "Administer the issuer: clients, users, keys, events",
        }
    }

    pub fn parse(s: &str) -> Option<Scope> {
        Scope::ALL
            .into_iter()
            .chain([Scope::Admin])
            .find(|scope| scope.as_str() == s)
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A set of scope tokens, printed space-separated in a stable order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScopeSet(BTreeSet<String>);

impl ScopeSet {
    /// Parses a space-separated scope string; empty tokens from repeated
    /// spaces are ignored.
    pub fn parse(s: &str) -> ScopeSet {
        ScopeSet(
            s.split(' ')
                .filter(|t| !t.is_empty())
                .map(str::to_owned)
                .collect(),
        )
    }

    pub fn from_scopes(scopes: impl IntoIterator<Item = Scope>) -> ScopeSet {
        ScopeSet(scopes.into_iter().map(|s| s.as_str().to_owned()).collect())
    }

    pub fn contains(&self, scope: &str) -> bool {
        self.0.contains(scope)
    }

    pub fn has(&self, scope: Scope) -> bool {
        self.0.contains(scope.as_str())
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn is_subset(&self, other: &ScopeSet) -> bool {
        self.0.is_subset(&other.0)
    }

    pub fn intersection(&self, other: &ScopeSet) -> ScopeSet {
        ScopeSet(self.0.intersection(&other.0).cloned().collect())
    }

    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(String::as_str)
    }
}

impl fmt::Display for ScopeSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for token in &self.0 {
            if !first {
                f.write_str(" ")?;
            }
            f.write_str(token)?;
            first = false;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints_in_stable_order() {
        let set = ScopeSet::parse("profile:write  profile:read");
        assert_eq!(set.to_string(), "profile:read profile:write");
        assert!(set.has(Scope::ProfileRead));
        assert!(!set.has(Scope::ProfilesRead));
        assert!(ScopeSet::parse("profile:read").is_subset(&set));
        assert!(ScopeSet::parse("").is_empty());
    }
}
