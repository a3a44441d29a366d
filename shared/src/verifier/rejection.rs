//! Why a token is refused: one [`TokenRejection`] per reason, each with a
//! stable label for metrics and logs, and the mapping of every refusal
//! `jsonwebtoken` can report onto one of them. To the client all of them
//! are `invalid_token` (see [`crate::access`]); the reason never leaves the
//! server.

use jsonwebtoken::errors::ErrorKind;

use super::{ALGORITHM, MAX_TOKEN_BYTES};

/// Why a token was refused. All of these are `invalid_token` to the client;
/// the reason is for logs and metrics only.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenRejection {
    #[error("token longer than {MAX_TOKEN_BYTES} bytes")]
    TooLong,
    #[error("not a compact JWS")]
    Malformed,
    #[error("header alg is not {ALGORITHM}")]
    WrongAlgorithm,
    #[error("header typ is not at+jwt")]
    WrongType,
    #[error("header names a key location (jku, x5u, x5c or jwk)")]
    KeyLocatingHeader,
    #[error("header has a crit extension we do not understand")]
    UnknownCritical,
    #[error("a member appears twice in the header or the claims")]
    DuplicateMember,
    #[error("header has no kid")]
    MissingKid,
    #[error("kid is not among the issuer's published keys")]
    UnknownKey,
    #[error("signature does not verify")]
    BadSignature,
    #[error("claim {0} is missing")]
    MissingClaim(&'static str),
    #[error("claim {0} has the wrong JSON type")]
    ClaimType(&'static str),
    #[error("iss is not the trusted issuer")]
    WrongIssuer,
    #[error("aud does not name this service")]
    WrongAudience,
    #[error("token expired")]
    Expired,
    #[error("token not valid yet (nbf)")]
    NotYetValid,
    #[error("token issued in the future (iat)")]
    IssuedInFuture,
    #[error("token bound to a DPoP key came as Bearer")]
    BoundAsBearer,
    #[error("token under the DPoP scheme is bound to no key")]
    NotBound,
}

impl TokenRejection {
    /// A short stable label for metrics.
    pub fn label(self) -> &'static str {
        match self {
            TokenRejection::TooLong => "too_long",
            TokenRejection::Malformed => "malformed",
            TokenRejection::WrongAlgorithm => "wrong_alg",
            TokenRejection::WrongType => "wrong_typ",
            TokenRejection::KeyLocatingHeader => "key_locating_header",
            TokenRejection::UnknownCritical => "unknown_crit",
            TokenRejection::DuplicateMember => "duplicate_member",
            TokenRejection::MissingKid => "missing_kid",
            TokenRejection::UnknownKey => "unknown_kid",
            TokenRejection::BadSignature => "bad_signature",
            TokenRejection::MissingClaim(_) => "missing_claim",
            TokenRejection::ClaimType(_) => "claim_type",
            TokenRejection::WrongIssuer => "wrong_iss",
            TokenRejection::WrongAudience => "wrong_aud",
            TokenRejection::Expired => "expired",
            TokenRejection::NotYetValid => "not_yet_valid",
            TokenRejection::IssuedInFuture => "issued_in_future",
            TokenRejection::BoundAsBearer => "bound_as_bearer",
            TokenRejection::NotBound => "not_bound",
        }
    }
}

/// True for the errors `jsonwebtoken::decode` reports only after the
/// signature verified: those about the claims. Our header checks leave it no
/// JSON error to find in the header (see `STRING_HEADERS` in [`super::jws`]), so a JSON
/// error is the claims'.
pub(super) fn is_about_claims(kind: &ErrorKind) -> bool {
    matches!(
        kind,
        ErrorKind::Json(_)
            | ErrorKind::MissingRequiredClaim(_)
            | ErrorKind::InvalidClaimFormat(_)
            | ErrorKind::InvalidIssuer
            | ErrorKind::InvalidAudience
            | ErrorKind::ExpiredSignature
            | ErrorKind::ImmatureSignature
    )
}

/// Our reason for a refusal by `jsonwebtoken`. Those about the claims are
/// reached only when our own reading found nothing wrong, which our checks
/// make impossible for all but the time claims it does not check; they are
/// mapped all the same, so that a disagreement still refuses.
pub(super) fn rejection_of(kind: &ErrorKind) -> TokenRejection {
    match kind {
        ErrorKind::InvalidSignature => TokenRejection::BadSignature,
        // The key is unusable for RS256 (e.g. under 2048 bits): nothing it
        // signed can be proven.
        ErrorKind::InvalidRsaKey(_) | ErrorKind::InvalidKeyFormat => TokenRejection::BadSignature,
        ErrorKind::InvalidAlgorithm | ErrorKind::MissingAlgorithm => TokenRejection::WrongAlgorithm,
        ErrorKind::InvalidIssuer => TokenRejection::WrongIssuer,
        ErrorKind::InvalidAudience => TokenRejection::WrongAudience,
        ErrorKind::ExpiredSignature => TokenRejection::Expired,
        ErrorKind::ImmatureSignature => TokenRejection::NotYetValid,
        ErrorKind::MissingRequiredClaim(name) => TokenRejection::MissingClaim(spec_claim(name)),
        ErrorKind::InvalidClaimFormat(name) => TokenRejection::ClaimType(spec_claim(name)),
        // Base64, a token that is not three parts, JSON, and what a later
        // version may add.
        _ => TokenRejection::Malformed,
    }
}

/// The `'static` name of a claim `jsonwebtoken` names (it names no other:
/// only these can be required or checked).
fn spec_claim(name: &str) -> &'static str {
    match name {
        "exp" => "exp",
        "nbf" => "nbf",
        "iss" => "iss",
        "aud" => "aud",
        "sub" => "sub",
        _ => "claim",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_error_kind_maps_to_a_reason() {
        let cases = [
            (ErrorKind::InvalidSignature, TokenRejection::BadSignature),
            (ErrorKind::InvalidKeyFormat, TokenRejection::BadSignature),
            (ErrorKind::InvalidAlgorithm, TokenRejection::WrongAlgorithm),
            (ErrorKind::InvalidIssuer, TokenRejection::WrongIssuer),
            (ErrorKind::InvalidAudience, TokenRejection::WrongAudience),
            (ErrorKind::ExpiredSignature, TokenRejection::Expired),
            (ErrorKind::ImmatureSignature, TokenRejection::NotYetValid),
            (
                ErrorKind::MissingRequiredClaim("aud".into()),
                TokenRejection::MissingClaim("aud"),
            ),
            (
                ErrorKind::InvalidClaimFormat("nbf".into()),
                TokenRejection::ClaimType("nbf"),
            ),
            (ErrorKind::InvalidToken, TokenRejection::Malformed),
        ];
        for (kind, rejection) in cases {
            assert_eq!(rejection_of(&kind), rejection, "{kind:?}");
        }
        assert!(is_about_claims(&ErrorKind::InvalidIssuer));
        assert!(!is_about_claims(&ErrorKind::InvalidSignature));
        assert!(!is_about_claims(&ErrorKind::InvalidAlgorithm));
    }
}
