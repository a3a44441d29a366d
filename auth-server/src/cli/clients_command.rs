//! `auth-server clients create|list|delete`: registering OAuth clients. The
//! secret of a confidential client is printed once and stored only as its
//! SHA-256 digest; lose it and the client must be registered again.

use clap::Subcommand;
use rocket::figment::Figment;
use serde_json::{Value, json};
use shared::clock::{Clock, SystemClock};

use super::CliError;
use crate::admin::clients::{validate, with_backchannel_logout_uri, with_targets};
use crate::admin::{self, Actor};
use crate::config::AppConfig;
use crate::grant_type::GrantType;
use crate::store::clients::{AuthMethod, Client, ClientAuth, ClientMetadata, Clients};
use crate::store::db::Db;

// Parsed once per run: the size of `Create`'s flags costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum ClientsCommand {
    /// Register a client and print its client_id and (once) its secret.
    Create {
        #[arg(long)]
        name: String,
        /// A grant type the client may use; repeat for several. Default:
        /// client_credentials, or authorization_code and refresh_token with --public.
        #[arg(long = "grant", value_name = "GRANT", value_enum)]
        grants: Vec<GrantType>,
        /// Space-separated scopes the client may be granted.
        #[arg(long, default_value = "")]
        scope: String,
        /// A redirect URI, compared exactly; repeat for several.
        #[arg(long = "redirect-uri", value_name = "URI")]
        redirect_uris: Vec<String>,
        /// A resource (RFC 8707) the client may ask tokens for, besides
        /// AUDIENCE; repeat for several.
        #[arg(long = "audience", value_name = "URI")]
        audiences: Vec<String>,
        /// Where OpenID RP-Initiated Logout may send the browser back to;
        /// same rules as --redirect-uri; repeat for several.
        #[arg(long = "post-logout-redirect-uri", value_name = "URI")]
        post_logout_redirect_uris: Vec<String>,
        /// No secret: a browser or native app, which must use PKCE.
        #[arg(long)]
        public: bool,
        /// Allowed the password grant (RFC 9700 forbids it for third parties).
        #[arg(long)]
        first_party: bool,
        /// How the client authenticates, fixed: client_secret_basic (the
        /// default; client_secret_post too), private_key_jwt, or none (--public).
        #[arg(long = "auth-method", value_name = "METHOD",
              value_parser = ["client_secret_basic", "private_key_jwt", "none"])]
        auth_method: Option<String>,
        /// private_key_jwt: a file holding the client's public JWK Set.
        #[arg(long = "jwks-file", value_name = "FILE")]
        jwks_file: Option<std::path::PathBuf>,
        /// private_key_jwt: the URL the client's JWK Set is fetched from.
        #[arg(long = "jwks-uri", value_name = "URI")]
        jwks_uri: Option<String>,
        /// Its authorization requests must be pushed to /oauth/par (RFC 9126).
        #[arg(long)]
        require_par: bool,
        /// Where a logout_token is posted when a session in which the
        /// client got tokens ends (OpenID Connect Back-Channel Logout 1.0):
        /// an absolute http(s) URL.
        #[arg(long = "backchannel-logout-uri", value_name = "URI")]
        backchannel_logout_uri: Option<String>,
        /// Every token request must carry a DPoP proof (RFC 9449), so its
        /// tokens are always sender-constrained.
        #[arg(long)]
        dpop_bound: bool,
        #[arg(long)]
        json: bool,
    },
    /// List registered clients (never their secrets).
    List {
        #[arg(long)]
        json: bool,
    },
    /// Delete a client; its codes and refresh tokens go with it.
    Delete {
        #[arg(value_name = "CLIENT_ID")]
        client_id: String,
    },
}

/// The largest JWK Set file read, as the largest set fetched.
const MAX_JWKS_BYTES: usize = 64 * 1024;

/// How a client registered with `--auth-method` (or `--public`)
/// authenticates, its keys read and checked. `Ok` also says whether the
/// client is public.
pub fn auth_of(
    public: bool,
    auth_method: Option<&str>,
    jwks_file: Option<&std::path::Path>,
    jwks_uri: Option<&str>,
) -> Result<(bool, ClientAuth), CliError> {
    let method = match (auth_method.and_then(AuthMethod::parse), public) {
        (None, public) => ClientAuth::by_secret_or_none(public).method,
        (Some(AuthMethod::None), _) => AuthMethod::None,
        (Some(_), true) => {
            return Err(CliError(
                "--public clients authenticate with nothing: --auth-method none".into(),
            ));
        }
        (Some(method), false) => method,
    };
    let mut auth = ClientAuth {
        method,
        jwks: None,
        jwks_uri: None,
        require_par: false,
        dpop_bound: false,
    };
    match (method, jwks_file, jwks_uri) {
        (AuthMethod::PrivateKeyJwt, Some(file), None) => {
            auth.jwks = Some(
                read_jwks(file)
                    .map_err(|why| CliError(format!("--jwks-file {}: {why}", file.display())))?,
            );
        }
        (AuthMethod::PrivateKeyJwt, None, Some(uri)) => {
            check_jwks_uri(uri).map_err(|why| CliError(format!("--jwks-uri {uri:?}: {why}")))?;
            auth.jwks_uri = Some(uri.to_owned());
        }
        (AuthMethod::PrivateKeyJwt, _, _) => {
            return Err(CliError(
                "--auth-method private_key_jwt needs one of --jwks-file and --jwks-uri".into(),
            ));
        }
        (_, None, None) => {}
        _ => {
            return Err(CliError(
                "--jwks-file and --jwks-uri are for --auth-method private_key_jwt".into(),
            ));
        }
    }
    Ok((method == AuthMethod::None, auth))
}

/// A JWK Set file: JSON with at least one key, every key a public signing
/// key the server can use (no private member); returned as stored.
fn read_jwks(file: &std::path::Path) -> Result<String, String> {
    let bytes = std::fs::read(file).map_err(|e| format!("cannot read it: {e}"))?;
    if bytes.len() > MAX_JWKS_BYTES {
        return Err("larger than 64 KiB".into());
    }
    let set =
        shared::strict_json::from_slice(&bytes).map_err(|_| "not a JSON object".to_owned())?;
    let keys = set
        .get("keys")
        .and_then(Value::as_array)
        .filter(|keys| !keys.is_empty())
        .ok_or("no keys")?;
    for (index, key) in keys.iter().enumerate() {
        shared::jwks_cache::VerifyingKey::from_client_jwk(key)
            .map_err(|why| format!("key {index}: {why}"))?;
    }
    serde_json::to_string(&json!({ "keys": keys })).map_err(|e| e.to_string())
}

/// A `jwks_uri` is an absolute http(s) URL without a fragment.
fn check_jwks_uri(uri: &str) -> Result<(), &'static str> {
    let parsed = url::Url::parse(uri).map_err(|_| "not an absolute URL")?;
    if !matches!(parsed.scheme(), "https" | "http") || parsed.host().is_none() {
        return Err("not an http or https URL");
    }
    if parsed.fragment().is_some() {
        return Err("must not have a fragment");
    }
    Ok(())
}

/// A client as `--json` shows it: its id, whether it is public, its
/// metadata, and `more` (its secret once, or when it was registered).
fn describe(
    client_id: &str,
    public: bool,
    metadata: &ClientMetadata,
    more: [(&str, Value); 1],
) -> Value {
    let mut shown = json!({
        "client_id": client_id,
        "name": metadata.name,
        "public": public,
        "first_party": metadata.first_party,
        "grant_types": metadata.grant_types,
        "scope": metadata.scopes.to_string(),
        "redirect_uris": metadata.redirect_uris,
        "audiences": metadata.audiences,
        "post_logout_redirect_uris": metadata.post_logout_redirect_uris,
    });
    if let Some(uri) = &metadata.backchannel_logout_uri {
        shown["backchannel_logout_uri"] = json!(uri);
    }
    for (name, value) in more {
        shown[name] = value;
    }
    shown
}

fn described(client: &Client) -> Value {
    let created_at = json!(shared::clock::rfc3339(client.created_at));
    let mut shown = describe(
        &client.id,
        client.is_public(),
        &client.metadata,
        [("created_at", created_at)],
    );
    with_auth(&mut shown, &client.auth);
    shown
}

/// The client's authentication method and, for a key client, where its
/// keys come from.
fn with_auth(shown: &mut Value, auth: &ClientAuth) {
    shown["token_endpoint_auth_method"] = json!(auth.method.as_str());
    shown["require_pushed_authorization_requests"] = json!(auth.require_par);
    shown["dpop_bound"] = json!(auth.dpop_bound);
    if let Some(uri) = &auth.jwks_uri {
        shown["jwks_uri"] = json!(uri);
    }
    if let Some(jwks) = &auth.jwks {
        shown["jwks"] = serde_json::from_str(jwks).unwrap_or(Value::Null);
    }
}

async fn open(figment: &Figment) -> Result<Clients, CliError> {
    let config = AppConfig::from_figment(figment).map_err(|e| CliError(e.to_string()))?;
    let db = Db::connect(&config.database_url)
        .await
        .map_err(|e| CliError(format!("DATABASE_URL: {e}")))?;
    Ok(Clients::new(db))
}

pub async fn run(command: ClientsCommand, figment: &Figment) -> Result<(), CliError> {
    match command {
        ClientsCommand::Create {
            name,
            grants,
            scope,
            redirect_uris,
            audiences,
            post_logout_redirect_uris,
            public,
            first_party,
            auth_method,
            jwks_file,
            jwks_uri,
            require_par,
            backchannel_logout_uri,
            dpop_bound,
            json,
        } => {
            let (public, mut auth) = auth_of(
                public,
                auth_method.as_deref(),
                jwks_file.as_deref(),
                jwks_uri.as_deref(),
            )?;
            auth.require_par = require_par;
            auth.dpop_bound = dpop_bound;
            let new = validate(&name, &grants, &scope, &redirect_uris, public, first_party)
                .map_err(CliError)?;
            let new =
                with_targets(new, &audiences, &post_logout_redirect_uris).map_err(CliError)?;
            let new = with_backchannel_logout_uri(new, backchannel_logout_uri.as_deref())
                .map_err(CliError)?;
            let clients = open(figment).await?;
            let now = SystemClock.now();
            let (client_id, secret) =
                admin::create_client(&clients, &new, &auth, &Actor::CommandLine, now).await?;
            if json {
                let secret = [("client_secret", json!(secret))];
                let mut shown = describe(&client_id, new.public, &new.metadata, secret);
                with_auth(&mut shown, &auth);
                println!("{shown}");
            } else {
                println!("client_id:     {client_id}");
                match secret {
                    Some(secret) => {
                        println!("client_secret: {secret}");
                        println!("The secret is shown only now; store it safely.");
                    }
                    None if auth.method == AuthMethod::PrivateKeyJwt => {
                        println!("private_key_jwt: no secret, assertions signed by its keys")
                    }
                    None => println!("public client: no secret, PKCE (S256) required"),
                }
            }
            Ok(())
        }
        ClientsCommand::List { json } => {
            let list = open(figment).await?.list().await?;
            if json {
                let all: Vec<_> = list.iter().map(described).collect();
                println!("{}", Value::Array(all));
            } else {
                for client in &list {
                    println!(
                        "{}\t{}\t{}\t{}\t{}",
                        client.id,
                        if client.is_public() {
                            "public"
                        } else {
                            "confidential"
                        },
                        client
                            .metadata
                            .grant_types
                            .iter()
                            .map(|g| g.as_str())
                            .collect::<Vec<_>>()
                            .join(","),
                        client.metadata.scopes,
                        client.metadata.name
                    );
                }
            }
            Ok(())
        }
        ClientsCommand::Delete { client_id } => {
            let clients = open(figment).await?;
            let now = SystemClock.now();
            if admin::delete_client(&clients, &client_id, &Actor::CommandLine, now).await? {
                println!("deleted {client_id}");
                Ok(())
            } else {
                Err(CliError(format!("no client {client_id}")))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::admin::clients::check_redirect_uri;

    #[test]
    fn registrations_are_checked() {
        let uris = vec!["https://app.example/cb".to_owned()];
        assert!(validate("app", &[], "profile:read", &uris, true, false).is_ok());
        assert!(validate("app", &[GrantType::ClientCredentials], "", &[], true, false).is_err());
        assert!(validate("app", &[GrantType::Password], "", &[], false, false).is_err());
        assert!(validate("app", &[], "admin", &[], true, false).is_err());
        assert!(validate("app", &[], "admin", &[], false, false).is_ok());
        let uris = vec!["https://app.example/cb".to_owned()];
        let both = [GrantType::ClientCredentials, GrantType::AuthorizationCode];
        assert!(validate("app", &both, "admin", &uris, false, false).is_err());
        assert!(
            validate(
                "app",
                &[GrantType::AuthorizationCode],
                "",
                &[],
                false,
                false
            )
            .is_err()
        );
        let bad = vec!["https://app.example/cb#frag".to_owned()];
        assert!(
            validate(
                "app",
                &[GrantType::AuthorizationCode],
                "",
                &bad,
                false,
                false
            )
            .is_err()
        );
        let plain_http = vec!["http://app.example/cb".to_owned()];
        assert!(
            validate(
                "app",
                &[GrantType::AuthorizationCode],
                "",
                &plain_http,
                false,
                false
            )
            .is_err()
        );
        let loopback = vec!["http://127.0.0.1:8080/cb".to_owned()];
        assert!(validate("app", &[], "", &loopback, true, false).is_ok());
        assert!(
            validate(
                "app",
                &[GrantType::AuthorizationCode],
                "",
                &loopback,
                false,
                false
            )
            .is_ok()
        );
    }

    #[test]
    fn redirect_uris_follow_the_contract() {
        for good in [
            "https://app.example/cb",
            "https://app.example:8443/cb?x=1",
            "http://127.0.0.1/cb",
            "http://127.0.0.1:51004/oauth2redirect",
            "http://127.8.9.10:80/cb",
            "http://[::1]:8080/cb",
            "http://localhost/cb",
            "http://LOCALHOST:3000/cb",
            "com.example.app:/oauth2redirect/example-provider",
            "com.example.app://callback",
        ] {
            assert_eq!(check_redirect_uri(good), Ok(()), "{good}");
        }
        for bad in [
            "javascript:alert(1)",
            "JavaScript:alert(1)",
            "data:text/html,<script>alert(1)</script>",
            "file:///etc/passwd",
            "https://app.example/cb#frag",
            "https://app.example/cb#",
            "com.example.app:/cb#x",
            "http://app.example/cb",
            "http://localhost.evil.example/cb",
            "http://127.0.0.1.evil.example/cb",
            "http://10.0.0.1/cb",
            "/relative/cb",
            "app.example/cb",
            "myapp:/cb",
            "ftp://app.example/cb",
            "mailto:someone@example.com",
            "https://app.example/c b",
            "https://app.example/cb\nX: y",
            "",
        ] {
            assert!(check_redirect_uri(bad).is_err(), "{bad}");
        }
    }
}
