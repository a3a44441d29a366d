//! Clients as operators register them, by either door: the checks of a
//! registration (the contract's redirect URI rules, grants and scopes), and
//! a client as the doors show it.

use serde_json::{Value, json};
use shared::scope::{Scope, ScopeSet};

use crate::grant_type::GrantType;
use crate::store::clients::{Client, ClientMetadata, NewClient};

/// Checks a registration request and turns it into a [`NewClient`].
pub fn validate(
    name: &str,
    grants: &[GrantType],
    scope: &str,
    redirect_uris: &[String],
    public: bool,
    first_party: bool,
) -> Result<NewClient, String> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err("--name must be 1 to 100 characters".into());
    }
    let mut grant_types: Vec<GrantType> = if grants.is_empty() {
        if public {
            vec![GrantType::AuthorizationCode, GrantType::RefreshToken]
        } else {
            vec![GrantType::ClientCredentials]
        }
    } else {
        grants.to_vec()
    };
    grant_types.dedup();
    if public && grant_types.contains(&GrantType::ClientCredentials) {
        return Err("--public clients cannot use client_credentials: they have no secret".into());
    }
    if public && grant_types.contains(&GrantType::TokenExchange) {
        return Err("--public clients cannot use token-exchange: they have no secret".into());
    }
    if grant_types.contains(&GrantType::Password) && !first_party {
        return Err("--grant password needs --first-party (RFC 9700 §2.4)".into());
    }
    if let Some(unknown) = scope.split_whitespace().find(|s| Scope::parse(s).is_none()) {
        return Err(format!("--scope {unknown}: unknown scope"));
    }
    // `admin` is the admin API's: a service acting for itself, never a
    // user's token.
    if ScopeSet::parse(scope).has(Scope::Admin) && grant_types != [GrantType::ClientCredentials] {
        return Err("--scope admin needs --grant client_credentials and no other grant".into());
    }
    for uri in redirect_uris {
        check_redirect_uri(uri).map_err(|why| {
            format!(
                "--redirect-uri {uri:?}: {why}; a redirect URI is https, http on a loopback host, \
                 or a private-use scheme such as com.example.app:/cb"
            )
        })?;
    }
    if grant_types.contains(&GrantType::AuthorizationCode) && redirect_uris.is_empty() {
        return Err("--grant authorization_code needs at least one --redirect-uri".into());
    }
    Ok(NewClient {
        public,
        metadata: ClientMetadata {
            name: name.to_owned(),
            first_party,
            grant_types,
            scopes: ScopeSet::parse(scope),
            redirect_uris: redirect_uris.to_vec(),
            audiences: Vec::new(),
            post_logout_redirect_uris: Vec::new(),
            backchannel_logout_uri: None,
        },
    })
}

/// Checks the OpenID Connect and RFC 8707 parts of a registration and adds
/// them to `new`.
pub fn with_targets(
    mut new: NewClient,
    audiences: &[String],
    post_logout_redirect_uris: &[String],
) -> Result<NewClient, String> {
    for audience in audiences {
        check_audience(audience).map_err(|why| format!("--audience {audience:?}: {why}"))?;
    }
    for uri in post_logout_redirect_uris {
        check_redirect_uri(uri).map_err(|why| {
            format!(
                "--post-logout-redirect-uri {uri:?}: {why}; it follows the rules of a redirect URI"
            )
        })?;
    }
    new.metadata.audiences = dedup(audiences);
    new.metadata.post_logout_redirect_uris = dedup(post_logout_redirect_uris);
    Ok(new)
}

fn dedup(values: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for value in values {
        if !out.contains(value) {
            out.push(value.clone());
        }
    }
    out
}

/// An audience is what a resource server has as its `AUDIENCE`: one word,
/// usually an absolute URI (RFC 8707 §2), never with a fragment.
pub fn check_audience(audience: &str) -> Result<(), &'static str> {
    if audience.is_empty() || audience.chars().count() > 200 {
        return Err("must be 1 to 200 characters");
    }
    if audience.contains(|c: char| c.is_whitespace() || c.is_control()) {
        return Err("must not contain spaces or control characters");
    }
    if audience.contains('#') {
        return Err("must not have a fragment (RFC 8707)");
    }
    Ok(())
}

/// The contract's rule for a registered redirect URI: an absolute `https`
/// URI; `http` only on a loopback host (RFC 8252 §7.3, 8.3); or a
/// private-use scheme in reverse-domain form (RFC 8252 §7.1). Never
/// `javascript:`, `data:`, `file:`, nor a fragment (RFC 6749 §3.1.2).
/// `Err` says why, in a few words.
pub fn check_redirect_uri(uri: &str) -> Result<(), &'static str> {
    if uri.contains(|c: char| c.is_whitespace() || c.is_control()) {
        return Err("must not contain spaces or control characters");
    }
    let parsed = url::Url::parse(uri).map_err(|_| "not an absolute URI")?;
    if parsed.fragment().is_some() || uri.contains('#') {
        return Err("must not have a fragment");
    }
    match parsed.scheme() {
        "javascript" | "data" | "file" | "vbscript" | "blob" | "about" => {
            Err("this scheme is never a redirect URI")
        }
        "https" => match parsed.host() {
            Some(_) => Ok(()),
            None => Err("https needs a host"),
        },
        "http" => match parsed.host() {
            Some(url::Host::Ipv4(ip)) if ip.is_loopback() => Ok(()),
            Some(url::Host::Ipv6(ip)) if ip.is_loopback() => Ok(()),
            Some(url::Host::Domain("localhost")) => Ok(()),
            _ => Err("plain http is allowed only on a loopback host"),
        },
        // RFC 8252 §7.1: a private-use scheme is a reverse domain name the
        // app controls, so it has a dot; this also rules out ftp:, ws:,
        // mailto: and the like.
        scheme if scheme.contains('.') && !scheme.starts_with('.') && !scheme.ends_with('.') => {
            Ok(())
        }
        _ => Err("the scheme is neither https, loopback http, nor a private-use scheme"),
    }
}

/// A client as both doors show it: its id, whether it is public, its
/// metadata and when it was registered; never its secret.
pub fn describe(client: &Client) -> Value {
    let metadata = &client.metadata;
    json!({
        "client_id": client.id,
        "name": metadata.name,
        "public": client.is_public(),
        "first_party": metadata.first_party,
        "grant_types": metadata.grant_types,
        "scope": metadata.scopes.to_string(),
        "redirect_uris": metadata.redirect_uris,
        "audiences": metadata.audiences,
        "post_logout_redirect_uris": metadata.post_logout_redirect_uris,
        "created_at": shared::clock::rfc3339(client.created_at),
        "dpop_bound": client.auth.dpop_bound,
    })
}
