//! Clients as operators register them, by either door: the checks of a
//! registration (the contract's redirect URI rules, grants and scopes), and
//! a client as the doors show it; and the changes to a client that only
//! the admin API makes (a change of registration, a new secret).

use serde_json::{Value, json};
use shared::scope::{Scope, ScopeSet};

use super::Actor;
use crate::grant_type::GrantType;
use crate::store::clients::{Client, ClientMetadata, Clients, NewClient};

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

/// Checks a `backchannel_logout_uri` (OpenID Connect Back-Channel Logout
/// 1.0 §2.2) given by an operator and adds it to `new`. The command line
/// and the admin API may name any absolute http(s) URL, an internal
/// service included; dynamic registration has its own, stricter rule.
pub fn with_backchannel_logout_uri(
    mut new: NewClient,
    uri: Option<&str>,
) -> Result<NewClient, String> {
    if let Some(uri) = uri {
        check_backchannel_logout_uri(uri)
            .map_err(|why| format!("--backchannel-logout-uri {uri:?}: {why}"))?;
        new.metadata.backchannel_logout_uri = Some(uri.to_owned());
    }
    Ok(new)
}

/// An absolute `http` or `https` URL with a host and no fragment (§2.2).
pub fn check_backchannel_logout_uri(uri: &str) -> Result<(), &'static str> {
    if uri.chars().count() > 2000 {
        return Err("longer than 2000 characters");
    }
    if uri.contains(|c: char| c.is_whitespace() || c.is_control()) {
        return Err("must not contain spaces or control characters");
    }
    let parsed = url::Url::parse(uri).map_err(|_| "not an absolute URL")?;
    if !matches!(parsed.scheme(), "https" | "http") || parsed.host().is_none() {
        return Err("not an http or https URL");
    }
    if parsed.fragment().is_some() || uri.contains('#') {
        return Err("must not have a fragment");
    }
    Ok(())
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
    let mut shown = json!({
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
    });
    if let Some(uri) = &metadata.backchannel_logout_uri {
        shown["backchannel_logout_uri"] = json!(uri);
    }
    shown
}

/// What an operator changes on a client (`PATCH /admin/v1/clients/{id}`):
/// each field given replaces the registered one.
#[derive(Debug, Default, Clone)]
pub struct ClientChanges {
    pub name: Option<String>,
    pub grant_types: Option<Vec<GrantType>>,
    pub scope: Option<String>,
    pub redirect_uris: Option<Vec<String>>,
    pub audiences: Option<Vec<String>>,
    pub post_logout_redirect_uris: Option<Vec<String>>,
    /// `Some(None)` removes it.
    pub backchannel_logout_uri: Option<Option<String>>,
}

/// Why a change to a client was not made.
#[derive(Debug)]
pub enum ClientError {
    /// A rule of a registration is broken; the message names the flag.
    Invalid(String),
    Database(sqlx::Error),
}

impl From<sqlx::Error> for ClientError {
    fn from(error: sqlx::Error) -> ClientError {
        ClientError::Database(error)
    }
}

/// Applies `changes` to the client, checked as a registration is (the
/// result must be one `clients create` would accept); every instance uses
/// the change within 2 s (the clients' version). `None` when there is no
/// such client.
pub async fn update(
    clients: &Clients,
    client_id: &str,
    changes: &ClientChanges,
    actor: &Actor,
    now: i64,
) -> Result<Option<Client>, ClientError> {
    let Some(client) = clients.find(client_id).await? else {
        return Ok(None);
    };
    let current = &client.metadata;
    let name = changes.name.as_deref().unwrap_or(&current.name);
    let grants = changes
        .grant_types
        .clone()
        .unwrap_or_else(|| current.grant_types.clone());
    let scope = changes
        .scope
        .clone()
        .unwrap_or_else(|| current.scopes.to_string());
    // Only the command line hands out the admin API itself.
    if ScopeSet::parse(&scope).has(Scope::Admin) && !current.scopes.has(Scope::Admin) {
        return Err(ClientError::Invalid(
            "--scope admin is registered only from the command line".into(),
        ));
    }
    let redirect_uris = changes
        .redirect_uris
        .as_ref()
        .unwrap_or(&current.redirect_uris);
    let audiences = changes.audiences.as_ref().unwrap_or(&current.audiences);
    let post_logout = changes
        .post_logout_redirect_uris
        .as_ref()
        .unwrap_or(&current.post_logout_redirect_uris);
    let backchannel = match &changes.backchannel_logout_uri {
        Some(uri) => uri.clone(),
        None => current.backchannel_logout_uri.clone(),
    };
    if let Some(uri) = &backchannel {
        check_backchannel_logout_uri(uri).map_err(|why| {
            ClientError::Invalid(format!("--backchannel-logout-uri {uri:?}: {why}"))
        })?;
    }
    let mut new = validate(
        name,
        &grants,
        &scope,
        redirect_uris,
        client.is_public(),
        current.first_party,
    )
    .and_then(|new| with_targets(new, audiences, post_logout))
    .map_err(ClientError::Invalid)?;
    new.metadata.backchannel_logout_uri = backchannel;
    let event = actor.event("client_updated");
    if !clients
        .update_recorded(client_id, &new.metadata, &client.auth, now, event)
        .await?
    {
        return Ok(None);
    }
    Ok(clients.find(client_id).await?)
}

/// The outcome of a new secret.
#[derive(Debug)]
pub enum SecretRotation {
    /// The new secret, shown once.
    Rotated(String),
    NoSuchClient,
    /// A public or key client has no secret to replace.
    NoSecret,
}

/// Gives a secret client a new secret; the old one stops working at once
/// here, and at every instance within 2 s.
pub async fn rotate_secret(
    clients: &Clients,
    client_id: &str,
    actor: &Actor,
    now: i64,
) -> Result<SecretRotation, sqlx::Error> {
    let event = actor.event("client_secret_rotated");
    if let Some(secret) = clients
        .rotate_secret_recorded(client_id, now, event)
        .await?
    {
        return Ok(SecretRotation::Rotated(secret));
    }
    Ok(match clients.find(client_id).await? {
        Some(_) => SecretRotation::NoSecret,
        None => SecretRotation::NoSuchClient,
    })
}
