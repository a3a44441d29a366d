//! The issuer's metadata documents (RFC 8414, OpenID Connect Discovery):
//! the issuer and absolute endpoints.

use serde_json::Value;

use crate::helpers::{ISSUER, spawn_app};

#[tokio::test]
async fn both_metadata_documents_name_the_issuer_and_absolute_endpoints() {
    let app = spawn_app().await;
    for path in [
        "/.well-known/oauth-authorization-server",
        "/.well-known/openid-configuration",
    ] {
        let response = app.get(path).await;
        assert_eq!(response.status(), 200, "{path}");
        assert_eq!(response.headers()["content-type"], "application/json");
        let doc: Value = response.json().await.unwrap();
        assert_eq!(doc["issuer"], ISSUER);
        assert_eq!(doc["token_endpoint"], format!("{ISSUER}/oauth/token"));
        assert_eq!(doc["jwks_uri"], format!("{ISSUER}/.well-known/jwks.json"));
        for (name, value) in doc.as_object().unwrap() {
            if name.ends_with("_endpoint") || name.ends_with("_uri") {
                let url = url::Url::parse(value.as_str().unwrap()).unwrap();
                assert!(
                    url.as_str().starts_with(ISSUER),
                    "{name} is absolute under the issuer"
                );
            }
        }
        let grants: Vec<&str> = doc["grant_types_supported"]
            .as_array()
            .unwrap()
            .iter()
            .map(|g| g.as_str().unwrap())
            .collect();
        assert!(grants.contains(&"password"));
        assert_eq!(
            doc["code_challenge_methods_supported"],
            serde_json::json!(["S256"])
        );
        assert!(
            doc["scopes_supported"]
                .as_array()
                .unwrap()
                .contains(&"profile:read".into())
        );
    }
}
