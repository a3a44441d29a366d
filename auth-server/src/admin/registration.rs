//! Dynamic client registration (RFC 7591, RFC 7592): what a third party may
//! register for itself, and a registration as it is answered. A client
//! registered this way is third-party by construction: never first-party,
//! never the password grant, never `admin` nor `profiles:read`. Its redirect
//! URIs follow the contract's rules ([`checks::check_redirect_uri`]); the
//! URLs the server itself would reach (`jwks_uri`, `backchannel_logout_uri`)
//! must be https to a public host ([`check_outbound_uri`]), refused before
//! anything is fetched, since otherwise a stranger could make the server
//! reach into its own network.
//!
//! Unknown members are refused (`invalid_client_metadata`) rather than
//! ignored as RFC 7591 §2 allows: a misspelt member silently dropped would
//! register a client other than the one asked for.

use serde::Deserialize;
use serde_json::{Value, json};
use shared::outbound::is_internal;
use shared::scope::{Scope, ScopeSet};

use super::clients as checks;
use crate::grant_type::GrantType;
use crate::store::clients::{AuthMethod, Client, ClientAuth, NewClient};

/// The longest URI accepted in any member.
pub const MAX_URI_LENGTH: usize = 2000;
/// The most entries in any list member.
pub const MAX_LIST_LENGTH: usize = 20;
/// The longest `scope`.
const MAX_SCOPE_LENGTH: usize = 1000;
/// The largest `jwks`, as JSON text.
const MAX_JWKS_LENGTH: usize = 16 * 1024;
/// The scope of a registration that names none: a person's own profile.
const DEFAULT_SCOPE: &str = "profile:read";
/// The name of a registration that gives none.
const DEFAULT_NAME: &str = "Registered client";

/// RFC 7591 §2 client metadata, as a registration (or an RFC 7592
/// replacement) sends it. `client_id` and `client_secret` are read only in
/// a replacement (RFC 7592 §2.2). Any other member is ignored, as §2
/// requires of metadata the server does not understand (`first_party`
/// included: nothing a registration sends can make a client first-party),
/// and is not stored or echoed.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
pub struct Metadata {
    pub redirect_uris: Option<Vec<String>>,
    pub grant_types: Option<Vec<String>>,
    pub response_types: Option<Vec<String>>,
    pub token_endpoint_auth_method: Option<String>,
    pub client_name: Option<String>,
    pub scope: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub jwks: Option<Value>,
    pub jwks_uri: Option<String>,
    pub post_logout_redirect_uris: Option<Vec<String>>,
    pub backchannel_logout_uri: Option<String>,
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
}

/// An RFC 7591 §3.2.2 error: `invalid_redirect_uri` or
/// `invalid_client_metadata`, with a description that names the member and
/// the rule, never an echo of the value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub error: &'static str,
    pub description: String,
}

impl Refusal {
    pub fn metadata(description: impl Into<String>) -> Refusal {
        Refusal {
            error: "invalid_client_metadata",
            description: description.into(),
        }
    }

    fn redirect_uri(description: impl Into<String>) -> Refusal {
        Refusal {
            error: "invalid_redirect_uri",
            description: description.into(),
        }
    }
}

/// Reads a JSON object as [`Metadata`]: a member of the wrong type is
/// refused, naming the member only; unknown members are ignored.
pub fn parse(body: serde_json::Map<String, Value>) -> Result<Metadata, Refusal> {
    serde_json::from_value(Value::Object(body)).map_err(|e| {
        let what = e.to_string();
        let what = what.split(" at line").next().unwrap_or_default();
        // serde's message names the member and the expectation; cap it
        // all the same.
        Refusal::metadata(what.chars().take(200).collect::<String>())
    })
}

/// Checks a registration and turns it into what is stored. `keep_method`
/// is `Some` on a replacement: the client keeps how it authenticates.
pub fn validate(
    metadata: &Metadata,
    keep_method: Option<AuthMethod>,
) -> Result<(NewClient, ClientAuth), Refusal> {
    let redirect_uris = list(&metadata.redirect_uris, "redirect_uris")?;
    for (index, uri) in redirect_uris.iter().enumerate() {
        checks::check_redirect_uri(uri)
            .map_err(|why| Refusal::redirect_uri(format!("redirect_uris[{index}]: {why}")))?;
    }
    let post_logout = list(
        &metadata.post_logout_redirect_uris,
        "post_logout_redirect_uris",
    )?;
    for (index, uri) in post_logout.iter().enumerate() {
        checks::check_redirect_uri(uri).map_err(|why| {
            Refusal::metadata(format!("post_logout_redirect_uris[{index}]: {why}"))
        })?;
    }

    let grant_names = metadata
        .grant_types
        .clone()
        .unwrap_or_else(|| vec![GrantType::AuthorizationCode.as_str().to_owned()]);
    if grant_names.is_empty() || grant_names.len() > MAX_LIST_LENGTH {
        return Err(Refusal::metadata("grant_types: 1 to 20 entries"));
    }
    let mut grants = Vec::new();
    for name in &grant_names {
        let grant = GrantType::parse(name)
            .ok_or_else(|| Refusal::metadata("grant_types: a grant type this server lacks"))?;
        match grant {
            // RFC 9700 §2.4: never the password grant for a third party.
            GrantType::Password => {
                return Err(Refusal::metadata(
                    "grant_types: password is for first-party clients only",
                ));
            }
            // Acting for other subjects is granted by an operator only.
            GrantType::TokenExchange => {
                return Err(Refusal::metadata(
                    "grant_types: token exchange is registered by an operator only",
                ));
            }
            _ => {}
        }
        if !grants.contains(&grant) {
            grants.push(grant);
        }
    }

    let code = grants.contains(&GrantType::AuthorizationCode);
    let response_types = metadata.response_types.clone().unwrap_or_else(|| {
        if code {
            vec!["code".to_owned()]
        } else {
            Vec::new()
        }
    });
    if response_types.len() > MAX_LIST_LENGTH {
        return Err(Refusal::metadata("response_types: too many entries"));
    }
    if response_types.iter().any(|r| r != "code") {
        return Err(Refusal::metadata("response_types: only code is supported"));
    }
    // RFC 7591 §2.1: the two lists must agree.
    if code == response_types.is_empty() {
        return Err(Refusal::metadata(
            "response_types: code goes with the authorization_code grant, and only with it",
        ));
    }

    let method = match metadata.token_endpoint_auth_method.as_deref() {
        None => keep_method.unwrap_or(AuthMethod::ClientSecretBasic),
        // Both are the secret; a confidential client may use either.
        Some("client_secret_basic" | "client_secret_post") => AuthMethod::ClientSecretBasic,
        Some("private_key_jwt") => AuthMethod::PrivateKeyJwt,
        Some("none") => AuthMethod::None,
        Some(_) => {
            return Err(Refusal::metadata(
                "token_endpoint_auth_method: one of client_secret_basic, client_secret_post, \
                 private_key_jwt, none",
            ));
        }
    };
    if let Some(kept) = keep_method
        && kept != method
    {
        return Err(Refusal::metadata(
            "token_endpoint_auth_method: a registration keeps the method it was made with",
        ));
    }
    let mut auth = ClientAuth::by_secret_or_none(method == AuthMethod::None);
    auth.method = method;
    match (method, &metadata.jwks, &metadata.jwks_uri) {
        (AuthMethod::PrivateKeyJwt, Some(jwks), None) => auth.jwks = Some(check_jwks(jwks)?),
        (AuthMethod::PrivateKeyJwt, None, Some(uri)) => {
            check_outbound_uri(uri).map_err(|why| Refusal::metadata(format!("jwks_uri: {why}")))?;
            auth.jwks_uri = Some(uri.clone());
        }
        (AuthMethod::PrivateKeyJwt, _, _) => {
            return Err(Refusal::metadata(
                "private_key_jwt needs exactly one of jwks and jwks_uri",
            ));
        }
        (_, None, None) => {}
        (_, _, _) => {
            return Err(Refusal::metadata(
                "jwks and jwks_uri are for private_key_jwt clients",
            ));
        }
    }

    let scope = metadata.scope.as_deref().unwrap_or(DEFAULT_SCOPE);
    if scope.len() > MAX_SCOPE_LENGTH {
        return Err(Refusal::metadata("scope: too long"));
    }
    let scopes = ScopeSet::parse(scope);
    for reserved in [Scope::Admin, Scope::ProfilesRead] {
        if scopes.has(reserved) {
            return Err(Refusal::metadata(format!(
                "scope: {} is never granted to a registered client",
                reserved.as_str()
            )));
        }
    }

    let backchannel = match &metadata.backchannel_logout_uri {
        Some(uri) => {
            check_outbound_uri(uri)
                .map_err(|why| Refusal::metadata(format!("backchannel_logout_uri: {why}")))?;
            Some(uri.clone())
        }
        None => None,
    };

    let name = metadata.client_name.as_deref().unwrap_or(DEFAULT_NAME);
    if name.chars().any(char::is_control) {
        return Err(Refusal::metadata(
            "client_name: must not contain control characters",
        ));
    }
    let mut new = checks::validate(
        name,
        &grants,
        scope,
        &redirect_uris,
        method == AuthMethod::None,
        false,
    )
    .and_then(|new| checks::with_targets(new, &[], &post_logout))
    .map_err(|message| Refusal::metadata(in_metadata_terms(&message)))?;
    new.metadata.backchannel_logout_uri = backchannel;
    Ok((new, auth))
}

/// A list member: at most [`MAX_LIST_LENGTH`] entries of at most
/// [`MAX_URI_LENGTH`] bytes.
fn list(value: &Option<Vec<String>>, member: &str) -> Result<Vec<String>, Refusal> {
    let values = value.clone().unwrap_or_default();
    if values.len() > MAX_LIST_LENGTH {
        return Err(Refusal::metadata(format!("{member}: too many entries")));
    }
    if values.iter().any(|v| v.len() > MAX_URI_LENGTH) {
        return Err(Refusal::metadata(format!("{member}: an entry is too long")));
    }
    Ok(values)
}

/// The command line's messages name its flags; a registration names the
/// metadata members.
fn in_metadata_terms(message: &str) -> String {
    [
        ("--name", "client_name"),
        (
            "--grant authorization_code",
            "grant_types authorization_code",
        ),
        ("--grant", "grant_types"),
        ("--scope", "scope"),
        ("--redirect-uri", "redirect_uris"),
        ("--public", "token_endpoint_auth_method none"),
        ("--post-logout-redirect-uri", "post_logout_redirect_uris"),
    ]
    .iter()
    .fold(message.to_owned(), |m, (flag, member)| {
        m.replace(flag, member)
    })
}

/// A `jwks` member: a JWK Set of public signing keys the server can use.
fn check_jwks(jwks: &Value) -> Result<String, Refusal> {
    let text = serde_json::to_string(jwks).map_err(|_| Refusal::metadata("jwks: not JSON"))?;
    if text.len() > MAX_JWKS_LENGTH {
        return Err(Refusal::metadata("jwks: larger than 16 KiB"));
    }
    let keys = jwks
        .get("keys")
        .and_then(Value::as_array)
        .filter(|keys| !keys.is_empty())
        .ok_or_else(|| Refusal::metadata("jwks: a JWK Set with at least one key"))?;
    for (index, key) in keys.iter().enumerate() {
        shared::jwks_cache::VerifyingKey::from_client_jwk(key).map_err(|_| {
            Refusal::metadata(format!("jwks: key {index} is not a usable public key"))
        })?;
    }
    serde_json::to_string(&json!({ "keys": keys })).map_err(|_| Refusal::metadata("jwks: not JSON"))
}

/// A URL the server itself will fetch or post to, registered by a
/// stranger: `https`, no credentials nor fragment, and a host that is not a
/// loopback, private, link-local, unspecified or otherwise internal
/// address, nor a name for one (`localhost`, `*.localhost`). A public name
/// that resolves to an internal address is refused when the server
/// connects (`shared::outbound::PublicAddressesOnly`): names move.
pub fn check_outbound_uri(uri: &str) -> Result<(), &'static str> {
    if uri.len() > MAX_URI_LENGTH {
        return Err("too long");
    }
    if uri.contains(|c: char| c.is_whitespace() || c.is_control()) {
        return Err("must not contain spaces or control characters");
    }
    let parsed = url::Url::parse(uri).map_err(|_| "not an absolute URL")?;
    if parsed.scheme() != "https" {
        return Err("must be https");
    }
    if parsed.fragment().is_some() || uri.contains('#') {
        return Err("must not have a fragment");
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err("must not carry credentials");
    }
    match parsed.host() {
        None => Err("needs a host"),
        Some(url::Host::Ipv4(ip)) if is_internal(ip.into()) => Err("names an internal address"),
        Some(url::Host::Ipv6(ip)) if is_internal(ip.into()) => Err("names an internal address"),
        Some(url::Host::Domain(name)) => {
            let name = name.trim_end_matches('.').to_ascii_lowercase();
            if name == "localhost" || name.ends_with(".localhost") || !name.contains('.') {
                Err("names a local host")
            } else {
                Ok(())
            }
        }
        Some(_) => Ok(()),
    }
}

/// A registration as RFC 7591 §3.2.1 answers it: the metadata as stored,
/// the client's id and when it was issued. The caller adds the secrets of
/// this answer (`client_secret`, `registration_access_token`), which are
/// never stored in the clear.
pub fn describe(client: &Client, registration_client_uri: &str) -> Value {
    let metadata = &client.metadata;
    let response_types: &[&str] = if metadata.grant_types.contains(&GrantType::AuthorizationCode) {
        &["code"]
    } else {
        &[]
    };
    let mut shown = json!({
        "client_id": client.id,
        "client_id_issued_at": client.created_at,
        "client_name": metadata.name,
        "redirect_uris": metadata.redirect_uris,
        "grant_types": metadata.grant_types,
        "response_types": response_types,
        "token_endpoint_auth_method": client.auth.method.as_str(),
        "scope": metadata.scopes.to_string(),
        "post_logout_redirect_uris": metadata.post_logout_redirect_uris,
        "registration_client_uri": registration_client_uri,
    });
    if let Some(uri) = &metadata.backchannel_logout_uri {
        shown["backchannel_logout_uri"] = json!(uri);
    }
    if let Some(uri) = &client.auth.jwks_uri {
        shown["jwks_uri"] = json!(uri);
    }
    if let Some(jwks) = client
        .auth
        .jwks
        .as_deref()
        .and_then(|text| serde_json::from_str::<Value>(text).ok())
    {
        shown["jwks"] = jwks;
    }
    shown
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_hosts_are_refused_in_every_spelling() {
        for uri in [
            "https://127.0.0.1/x",
            "https://127.1/x",
            "https://2130706433/x",
            "https://10.1.2.3/",
            "https://172.16.0.1/",
            "https://192.168.1.1/",
            "https://169.254.169.254/latest/meta-data",
            "https://0.0.0.0/",
            "https://100.64.0.1/",
            "https://[::1]/",
            "https://[::]/",
            "https://[::ffff:127.0.0.1]/",
            "https://[::ffff:169.254.169.254]/",
            "https://[fe80::1]/",
            "https://[fd00::1]/",
            "https://localhost/",
            "https://LOCALHOST./",
            "https://api.localhost/",
            "https://intranet/",
            "http://example.com/",
            "https://user:pw@example.com/",
            "https://example.com/#x",
        ] {
            assert!(check_outbound_uri(uri).is_err(), "{uri} accepted");
        }
        for uri in [
            "https://example.com/logout",
            "https://93.184.216.34/keys",
            "https://[2606:4700::1111]/keys",
        ] {
            assert_eq!(check_outbound_uri(uri), Ok(()), "{uri}");
        }
    }

    #[test]
    fn a_registration_is_third_party() {
        let ask = |scope: &str, grants: &[&str]| Metadata {
            redirect_uris: Some(vec!["https://app.example/cb".into()]),
            grant_types: Some(grants.iter().map(|g| (*g).to_owned()).collect()),
            response_types: None,
            scope: Some(scope.into()),
            ..Metadata::default()
        };
        assert!(validate(&ask("profile:read", &["authorization_code"]), None).is_ok());
        for (scope, grants) in [
            ("admin", &["authorization_code"][..]),
            ("profiles:read", &["authorization_code"][..]),
            ("profile:read", &["password"][..]),
            ("profile:read", &["authorization_code", "password"][..]),
        ] {
            let refusal = validate(&ask(scope, grants), None).err();
            assert_eq!(
                refusal.map(|r| r.error),
                Some("invalid_client_metadata"),
                "{scope} {grants:?}"
            );
        }
    }
}
