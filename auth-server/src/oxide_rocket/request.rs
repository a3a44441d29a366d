//! The request side of the adapter: [`OAuthRequest`], oxide-auth's view of a
//! Rocket request (the `Authorization` header, the query, the form body).

use std::borrow::Cow;

use oxide_auth::endpoint::{NormalizedParameter, QueryParameter, WebRequest};
use rocket::data::{self, Data, FromData, Limits};
use rocket::http::Status;
use rocket::outcome::Outcome;
use rocket::request::{self, FromRequest, Request};

use super::{OAuthResponse, WebError};

/// The parts of an HTTP request that oxide-auth's flows read.
///
/// As a data guard (`data = "<request>"`) it reads a form-encoded body up to
/// Rocket's `form` limit; as a request guard it has no body (for `GET`
/// endpoints). Use `Result<OAuthRequest, WebError>` as the guard type to answer
/// a malformed request yourself, in the OAuth error format, rather than through
/// Rocket's catchers.
///
/// Keys that appear twice in the query or body are kept but have no value, so
/// oxide-auth treats them as missing: RFC 6749 §3.1 forbids repeated
/// parameters, and picking one of them would let an attacker choose.
#[derive(Clone, Debug, Default)]
pub struct OAuthRequest {
    auth: Option<String>,
    query: NormalizedParameter,
    body: Option<NormalizedParameter>,
}

impl OAuthRequest {
    /// Builds a request from its raw parts: the `Authorization` header value,
    /// the raw (still percent-encoded) query string, and the raw
    /// `application/x-www-form-urlencoded` body if the request had one.
    pub fn from_parts(
        authorization: Option<&str>,
        query: Option<&str>,
        form: Option<&[u8]>,
    ) -> Self {
        OAuthRequest {
            auth: authorization.map(str::to_owned),
            query: query.map(|q| parse_form(q.as_bytes())).unwrap_or_default(),
            body: form.map(parse_form),
        }
    }

    /// The `Authorization` header, if there was exactly one.
    pub fn authorization_header(&self) -> Option<&str> {
        self.auth.as_deref()
    }

    /// The query parameters (empty when the URI had no query).
    pub fn query_params(&self) -> &NormalizedParameter {
        &self.query
    }

    /// The form body, if the request carried a form-encoded one.
    pub fn body_params(&self) -> Option<&NormalizedParameter> {
        self.body.as_ref()
    }

    /// A query parameter that appeared exactly once.
    pub fn query_value(&self, key: &str) -> Option<Cow<'_, str>> {
        self.query.unique_value(key)
    }

    /// A body parameter that appeared exactly once.
    pub fn body_value(&self, key: &str) -> Option<Cow<'_, str>> {
        self.body.as_ref().and_then(|body| body.unique_value(key))
    }

    /// Reads the header and query of a Rocket request.
    fn head(req: &Request<'_>) -> Result<Self, WebError> {
        let mut headers = req.headers().get("Authorization");
        let auth = headers.next();
        // Two credentials in one request is ambiguous; refuse rather than guess.
        if headers.next().is_some() {
            return Err(WebError::Authorization);
        }
        let query = req.uri().query().map(|q| q.as_str());
        Ok(Self::from_parts(auth, query, None))
    }
}

fn parse_form(raw: &[u8]) -> NormalizedParameter {
    url::form_urlencoded::parse(raw)
        .map(|(k, v)| (Cow::Owned(k.into_owned()), Cow::Owned(v.into_owned())))
        .collect()
}

impl WebRequest for OAuthRequest {
    type Error = WebError;
    type Response = OAuthResponse;

    fn query(&mut self) -> Result<Cow<'_, dyn QueryParameter + 'static>, Self::Error> {
        Ok(Cow::Borrowed(&self.query as &dyn QueryParameter))
    }

    fn urlbody(&mut self) -> Result<Cow<'_, dyn QueryParameter + 'static>, Self::Error> {
        self.body
            .as_ref()
            .map(|body| Cow::Borrowed(body as &dyn QueryParameter))
            .ok_or(WebError::NotAForm)
    }

    fn authheader(&mut self) -> Result<Option<Cow<'_, str>>, Self::Error> {
        Ok(self.auth.as_deref().map(Cow::Borrowed))
    }
}

#[rocket::async_trait]
impl<'r> FromRequest<'r> for OAuthRequest {
    type Error = WebError;

    async fn from_request(req: &'r Request<'_>) -> request::Outcome<Self, Self::Error> {
        match Self::head(req) {
            Ok(request) => Outcome::Success(request),
            Err(error) => Outcome::Error((error.status(), error)),
        }
    }
}

#[rocket::async_trait]
impl<'r> FromData<'r> for OAuthRequest {
    type Error = WebError;

    async fn from_data(req: &'r Request<'_>, data: Data<'r>) -> data::Outcome<'r, Self> {
        let mut request = match Self::head(req) {
            Ok(request) => request,
            Err(error) => return Outcome::Error((error.status(), error)),
        };
        // Any other body is left unread: oxide-auth then answers invalid_request
        // because the parameters it needs are missing.
        if req.content_type().is_some_and(|ct| ct.is_form()) {
            let limit = req.limits().get("form").unwrap_or(Limits::FORM);
            let body = match data.open(limit).into_bytes().await {
                Ok(body) if body.is_complete() => body.into_inner(),
                Ok(_) => return Outcome::Error((Status::PayloadTooLarge, WebError::TooLarge)),
                Err(error) => {
                    let error = WebError::Io(error);
                    return Outcome::Error((error.status(), error));
                }
            };
            request.body = Some(parse_form(&body));
        }
        Outcome::Success(request)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
mod tests {
    use super::*;
    use rocket::http::{ContentType, Header};
    use rocket::local::asynchronous::Client;
    use rocket::serde::json::{Json, Value, json};
    use rocket::{get, post, routes};

    fn describe(request: OAuthRequest) -> Value {
        json!({
            "auth": request.authorization_header(),
            "query_state": request.query_value("state"),
            "body": request.body_params().is_some(),
            "grant_type": request.body_value("grant_type"),
            "scope": request.body_value("scope"),
        })
    }

    #[post("/token", data = "<request>")]
    fn token(request: Result<OAuthRequest, WebError>) -> Result<Json<Value>, WebError> {
        request.map(|r| Json(describe(r)))
    }

    #[get("/authorize")]
    fn authorize(request: OAuthRequest) -> Json<Value> {
        Json(describe(request))
    }

    async fn client(limit_bytes: u64) -> Client {
        let figment = rocket::Config::figment()
            .merge(("limits.form", limit_bytes))
            .merge(("log_level", "off"));
        let rocket = rocket::custom(figment).mount("/", routes![token, authorize]);
        match Client::untracked(rocket).await {
            Ok(client) => client,
            Err(error) => panic!("test rocket failed to start: {error}"),
        }
    }

    #[rocket::async_test]
    async fn reads_header_query_and_form_body() {
        let client = client(64 * 1024).await;
        let response = client
            .post("/token?state=abc%20def")
            .header(ContentType::Form)
            .header(Header::new("Authorization", "Basic Zm9vOmJhcg=="))
            .body("grant_type=client_credentials&scope=a+b%3Ac")
            .dispatch()
            .await;
        assert_eq!(response.status(), Status::Ok);
        let value: Value = response.into_json().await.unwrap_or_default();
        assert_eq!(
            value,
            json!({
                "auth": "Basic Zm9vOmJhcg==",
                "query_state": "abc def",
                "body": true,
                "grant_type": "client_credentials",
                "scope": "a b:c",
            })
        );
    }

    #[rocket::async_test]
    async fn repeated_parameters_have_no_value() {
        let request = OAuthRequest::from_parts(None, Some("a=1&a=2&b=3"), Some(b"x=1&x=1"));
        assert_eq!(request.query_value("a"), None);
        assert_eq!(request.query_value("b").as_deref(), Some("3"));
        assert_eq!(request.body_value("x"), None);
    }

    #[rocket::async_test]
    async fn a_body_that_is_not_a_form_is_not_read() {
        let client = client(64 * 1024).await;
        let response = client
            .post("/token")
            .header(ContentType::JSON)
            .body(r#"{"grant_type":"client_credentials"}"#)
            .dispatch()
            .await;
        let value: Value = response.into_json().await.unwrap_or_default();
        assert_eq!(value["body"], json!(false));

        let mut request = OAuthRequest::from_parts(None, None, None);
        assert!(matches!(request.urlbody(), Err(WebError::NotAForm)));
    }

    #[rocket::async_test]
    async fn a_body_over_the_form_limit_is_refused_with_413() {
        let client = client(1024).await;
        let body = format!("grant_type=client_credentials&pad={}", "x".repeat(2048));
        let response = client
            .post("/token")
            .header(ContentType::Form)
            .body(body)
            .dispatch()
            .await;
        assert_eq!(response.status(), Status::PayloadTooLarge);
        let value: Value = response.into_json().await.unwrap_or_default();
        assert_eq!(value["error"], json!("invalid_request"));
    }

    #[rocket::async_test]
    async fn two_authorization_headers_are_refused() {
        let client = client(64 * 1024).await;
        let response = client
            .post("/token")
            .header(ContentType::Form)
            .header(Header::new("Authorization", "Basic YTpi"))
            .header(Header::new("Authorization", "Basic Yzpk"))
            .body("grant_type=client_credentials")
            .dispatch()
            .await;
        assert_eq!(response.status(), Status::BadRequest);
        let value: Value = response.into_json().await.unwrap_or_default();
        assert_eq!(value["error"], json!("invalid_request"));
    }

    #[rocket::async_test]
    async fn as_a_request_guard_it_reads_the_query_only() {
        let client = client(64 * 1024).await;
        let response = client.get("/authorize?state=xyz").dispatch().await;
        let value: Value = response.into_json().await.unwrap_or_default();
        assert_eq!(value["query_state"], json!("xyz"));
        assert_eq!(value["body"], json!(false));
    }
}
