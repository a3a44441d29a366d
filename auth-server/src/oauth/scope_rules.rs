//! What a grant may carry: the one place where the scope of every code and
//! token is worked out (API.md: "A granted scope is never empty").
//!
//! The scope of a grant is what the client asked for, or its registered
//! scopes when it asked for nothing ([`asked`]); asking beyond the
//! registration is `invalid_scope`. That is then narrowed to what the
//! holder has the right to ([`narrowed`]): the user's rights for a user
//! grant, the client's registration for a client acting for itself. When
//! nothing is left the answer is `invalid_scope`, never an empty grant:
//! "every scope was consented to" is true of an empty set, so an empty
//! grant would pass consent unseen.
//!
//! Who calls what:
//! - the authorization endpoint: [`asked`] when the registrar negotiates,
//!   then [`narrowed`] to the signed-in user before consent is looked up,
//!   asked for, remembered or a code is stored;
//! - the password grant: [`granted`], both steps at once;
//! - the refresh grant: the family's scope narrowed to the user's current
//!   rights when the token is recovered, and what the request asks may
//!   only narrow that (RFC 6749 §6);
//! - every grant, code and client credentials included: [`for_token`] just
//!   before minting, against the client and the user as they are now, so
//!   no token is ever minted with an empty scope or beyond either.

use shared::scope::{Scope, ScopeSet};

use crate::errors::{OAuthError, OAuthErrorCode};
use crate::store::clients::Client;
use crate::store::users::User;

/// The refusal when nothing of a request can be granted.
pub const fn nothing_to_grant() -> OAuthError {
    OAuthError::new(
        OAuthErrorCode::InvalidScope,
        "Nothing of the requested scope can be granted: the client is not registered for it, or the user does not hold it.",
    )
}

/// The scopes a user holds.
pub fn user_scopes(user: &User) -> ScopeSet {
    // Who the user is (OpenID Connect) is theirs to share with any client.
    let mut scopes = vec![Scope::ProfileRead, Scope::ProfileWrite];
    scopes.extend(Scope::IDENTITY);
    if user.is_admin {
        scopes.push(Scope::ProfilesRead);
    }
    ScopeSet::from_scopes(scopes)
}

/// What a client asks for: the requested scope if it is registered for
/// all of it, or its registered scopes when it asks for nothing. Asking
/// for more than the registration, for a blank scope, or for nothing by
/// a client registered with no scope is `invalid_scope`.
pub fn asked(requested: Option<&str>, registered: &ScopeSet) -> Result<ScopeSet, OAuthError> {
    let asked = match requested {
        None => registered.clone(),
        Some(requested) => {
            let requested = ScopeSet::parse(requested);
            if !requested.is_subset(registered) {
                return Err(OAuthError::invalid_scope());
            }
            requested
        }
    };
    if asked.is_empty() {
        return Err(nothing_to_grant());
    }
    Ok(asked)
}

/// `asked` narrowed to what its holder has the right to; `invalid_scope`
/// when that leaves nothing.
pub fn narrowed(asked: &ScopeSet, rights: &ScopeSet) -> Result<ScopeSet, OAuthError> {
    let scope = asked.intersection(rights);
    if scope.is_empty() {
        return Err(nothing_to_grant());
    }
    Ok(scope)
}

/// A user grant decided at once (the password grant): [`asked`] of the
/// client, [`narrowed`] to the user.
pub fn granted(
    requested: Option<&str>,
    client: &Client,
    user: &User,
) -> Result<ScopeSet, OAuthError> {
    narrowed(
        &asked(requested, &client.metadata.scopes)?,
        &user_scopes(user),
    )
}

/// The scope a token is minted with: the grant's, within what the client
/// is registered for and, for a user token, what the user holds now.
pub fn for_token(
    scope: &ScopeSet,
    client: &Client,
    user: Option<&User>,
) -> Result<ScopeSet, OAuthError> {
    let scope = narrowed(scope, &client.metadata.scopes)?;
    match user {
        Some(user) => narrowed(&scope, &user_scopes(user)),
        None => Ok(scope),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(s: &str) -> ScopeSet {
        ScopeSet::parse(s)
    }

    fn code(result: Result<ScopeSet, OAuthError>) -> Option<OAuthErrorCode> {
        result.err().map(|e| e.code)
    }

    #[test]
    fn nothing_asked_is_the_registration_and_an_empty_one_is_refused() {
        let registered = set("profile:read profile:write");
        assert_eq!(asked(None, &registered), Ok(registered.clone()));
        assert_eq!(
            code(asked(None, &ScopeSet::default())),
            Some(OAuthErrorCode::InvalidScope)
        );
    }

    #[test]
    fn asking_beyond_the_registration_or_blank_is_refused() {
        let registered = set("profile:read");
        assert_eq!(
            code(asked(Some("profile:read profiles:read"), &registered)),
            Some(OAuthErrorCode::InvalidScope)
        );
        assert_eq!(
            code(asked(Some(" "), &registered)),
            Some(OAuthErrorCode::InvalidScope)
        );
        assert_eq!(
            asked(Some("profile:read"), &registered),
            Ok(set("profile:read"))
        );
    }

    #[test]
    fn narrowing_to_nothing_is_refused() {
        assert_eq!(
            narrowed(&set("profile:read profiles:read"), &set("profile:read")),
            Ok(set("profile:read"))
        );
        assert_eq!(
            code(narrowed(&set("profiles:read"), &set("profile:read"))),
            Some(OAuthErrorCode::InvalidScope)
        );
        assert_eq!(
            code(narrowed(&ScopeSet::default(), &set("profile:read"))),
            Some(OAuthErrorCode::InvalidScope)
        );
    }
}
