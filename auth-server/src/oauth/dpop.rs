//! DPoP at the issuer (RFC 9449): the proof a token request carries,
//! checked by `shared`'s one proof check for `POST ISSUER/oauth/token`, its
//! `jti` spent in the database as the tokens are minted (after the client
//! and the grant are proven), so that a proof works once on any instance,
//! and, with `DPOP_NONCE=on`, the server nonce (§8) that every instance
//! makes and takes without sharing state: base64url(time step ‖
//! HMAC-SHA256(key, time step)), the key derived from the key-encryption
//! key. A nonce of the current step or the one before is taken, so any
//! nonce lives at least one step.
//!
//! UserInfo takes the DPoP scheme with the same proof check and the same
//! `jti` table ([`check_resource_proof`]).

use aws_lc_rs::hmac;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use shared::access::ProofRefusal;
use shared::dpop::{PROOF_WINDOW_SECS, ProofRequest, VerifiedProof, check_proof};

use super::context::GrantContext;
use crate::errors::OAuthError;
use crate::store::clients::Client;
use crate::store::spent_jtis::SpentJtis;

/// The algorithms proofs are taken in, as discovery lists them.
pub const DPOP_ALGORITHMS: [&str; 4] = ["ES256", "PS256", "RS256", "EdDSA"];

/// A nonce's time step: a nonce is taken for one to two steps.
pub const NONCE_STEP_SECS: i64 = 60;

/// A proof's `jti` is kept until its `iat` is out of the window on every
/// instance: the window, and as much again for clocks that disagree.
const JTI_MEMORY_SECS: i64 = 2 * PROOF_WINDOW_SECS;

const BAD_PROOF: &str = "The DPoP proof is invalid.";

/// A token request's `DPoP` header, checked for `POST` to `path` (the
/// token endpoint, or `/oauth/par`, whose proof binds the code) without
/// touching the database: `None` without the header. With `DPOP_NONCE=on`
/// the proof must carry a nonce of ours. Its `jti` is not spent here but
/// by [`spend_for_minting`] (or [`pushed_request_key`]) once the client and
/// the grant are proven, so that a caller who proves nothing cannot add a
/// row per request, and a proof refused for its nonce or its request may
/// be sent again.
pub fn check_token_request_proof(
    ctx: &GrantContext<'_>,
    path: &str,
) -> Result<Option<VerifiedProof>, OAuthError> {
    let proof = match ctx.meta.dpop.as_slice() {
        [] => return Ok(None),
        [proof] => proof,
        _ => return Err(OAuthError::invalid_dpop_proof("Send one DPoP header.")),
    };
    let url = ctx.config.endpoint(path);
    let verified = check_proof(
        proof,
        &ProofRequest {
            method: "POST",
            url: &url,
            access_token: None,
            now: ctx.now,
        },
    )
    .map_err(|reason| {
        tracing::info!(%reason, "DPoP proof refused");
        OAuthError::invalid_dpop_proof(BAD_PROOF)
    })?;
    if ctx.config.dpop_nonce && !nonce_is_current(ctx, verified.nonce.as_deref()) {
        return Err(OAuthError::use_dpop_nonce());
    }
    Ok(Some(verified))
}

/// The last step before tokens are signed for `client`, whose
/// authentication and grant have been proven: a client registered
/// `--dpop-bound` must have sent a proof, and the proof's `jti` is spent
/// now, once on any instance.
pub async fn spend_for_minting(ctx: &GrantContext<'_>, client: &Client) -> Result<(), OAuthError> {
    match &ctx.dpop_proof {
        None if client.auth.dpop_bound => Err(OAuthError::invalid_dpop_proof(
            "This client must send a DPoP proof with every token request.",
        )),
        None => Ok(()),
        Some(verified) => spend_or_refuse(ctx, verified).await,
    }
}

/// The key a pushed authorization request's proof binds its code to, the
/// pushing client already authenticated: checked, then spent.
pub async fn pushed_request_key(
    ctx: &GrantContext<'_>,
    path: &str,
) -> Result<Option<String>, OAuthError> {
    let Some(verified) = check_token_request_proof(ctx, path)? else {
        return Ok(None);
    };
    spend_or_refuse(ctx, &verified).await?;
    Ok(Some(verified.jkt))
}

async fn spend_or_refuse(
    ctx: &GrantContext<'_>,
    verified: &VerifiedProof,
) -> Result<(), OAuthError> {
    if spend(ctx, verified).await? {
        Ok(())
    } else {
        tracing::info!("DPoP proof replayed");
        Err(OAuthError::invalid_dpop_proof(
            "The DPoP proof was already used.",
        ))
    }
}

/// A proof presented with `access_token` bound to `jkt` at an endpoint of
/// ours that takes the DPoP scheme (UserInfo), as a resource server checks
/// it (RFC 9449 §7): one header, the request's method and URL, `ath`, the
/// token's key, a `jti` not seen.
pub async fn check_resource_proof(
    ctx: &GrantContext<'_>,
    method: &str,
    path: &str,
    access_token: &str,
    jkt: &str,
) -> Result<Result<(), ProofRefusal>, sqlx::Error> {
    let proof = match ctx.meta.dpop.as_slice() {
        [] => return Ok(Err(ProofRefusal::Missing)),
        [proof] => proof,
        _ => return Ok(Err(ProofRefusal::Repeated)),
    };
    let url = ctx.config.endpoint(path);
    let request = ProofRequest {
        method,
        url: &url,
        access_token: Some(access_token),
        now: ctx.now,
    };
    let verified = match check_proof(proof, &request) {
        Ok(verified) => verified,
        Err(error) => return Ok(Err(ProofRefusal::Proof(error))),
    };
    if verified.jkt != jkt {
        return Ok(Err(ProofRefusal::OtherKey));
    }
    if !spend(ctx, &verified).await? {
        return Ok(Err(ProofRefusal::Replayed));
    }
    Ok(Ok(()))
}

async fn spend(ctx: &GrantContext<'_>, verified: &VerifiedProof) -> Result<bool, sqlx::Error> {
    let expires_at = verified.iat.saturating_add(JTI_MEMORY_SECS);
    SpentJtis::DpopProofs
        .spend(ctx.db, &verified.jkt, &verified.jti, expires_at)
        .await
}

fn nonce_key(ctx: &GrantContext<'_>) -> std::sync::Arc<crate::keys::Kek> {
    ctx.tokens.keys().kek()
}

fn nonce_at(key: &hmac::Key, step: i64) -> String {
    let step = step.to_be_bytes();
    let tag = hmac::sign(key, &step);
    let mut bytes = step.to_vec();
    bytes.extend_from_slice(tag.as_ref());
    URL_SAFE_NO_PAD.encode(bytes)
}

/// A nonce for proofs sent from now on (RFC 9449 §8), good on every
/// instance of this issuer.
pub fn fresh_nonce(ctx: &GrantContext<'_>) -> String {
    let kek = nonce_key(ctx);
    nonce_at(kek.dpop_nonce_key(), ctx.now.div_euclid(NONCE_STEP_SECS))
}

/// Is `nonce` one of ours of this step or the one before?
fn nonce_is_current(ctx: &GrantContext<'_>, nonce: Option<&str>) -> bool {
    let Some(bytes) = nonce.and_then(|n| URL_SAFE_NO_PAD.decode(n).ok()) else {
        return false;
    };
    let Some((step, tag)) = bytes.split_first_chunk::<8>() else {
        return false;
    };
    let current = ctx.now.div_euclid(NONCE_STEP_SECS);
    let step_number = i64::from_be_bytes(*step);
    if step_number != current && step_number != current.saturating_sub(1) {
        return false;
    }
    let kek = nonce_key(ctx);
    hmac::verify(kek.dpop_nonce_key(), step, tag).is_ok()
}
