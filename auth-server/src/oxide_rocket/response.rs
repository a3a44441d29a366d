//! The response side of the adapter: [`OAuthResponse`], what an oxide-auth
//! flow decided, rendered by Rocket.

use std::io::Cursor;

use oxide_auth::endpoint::WebResponse;
use rocket::http::{ContentType, Header, HeaderMap, Status};
use rocket::request::Request;
use rocket::response::{self, Responder, Response};
use url::Url;

use super::WebError;

/// A response assembled by an oxide-auth flow (or by hand).
///
/// It starts as `200 OK` with no body. Flows set the status, `Location`,
/// `WWW-Authenticate` and a body through [`WebResponse`]; the application may
/// add headers of its own (for example `Cache-Control: no-store` on token
/// responses) with [`OAuthResponse::set_header`].
#[derive(Clone, Debug)]
pub struct OAuthResponse {
    status: Status,
    headers: HeaderMap<'static>,
    body: Option<(ContentType, String)>,
}

impl Default for OAuthResponse {
    fn default() -> Self {
        OAuthResponse {
            status: Status::Ok,
            headers: HeaderMap::new(),
            body: None,
        }
    }
}

impl OAuthResponse {
    /// An empty `200 OK` response.
    pub fn new() -> Self {
        Self::default()
    }

    /// The status the flow chose.
    pub fn status(&self) -> Status {
        self.status
    }

    /// Overrides the status.
    pub fn set_status(&mut self, status: Status) {
        self.status = status;
    }

    /// The value of a header, if set.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get_one(name)
    }

    /// Sets (replaces) a header. Values with control characters are refused
    /// so that nothing a flow copies from a request can split the response.
    pub fn set_header(&mut self, name: &'static str, value: &str) -> Result<(), WebError> {
        if value.chars().any(|c| c.is_control() && c != '\t') {
            return Err(WebError::Header);
        }
        self.headers.replace(Header::new(name, value.to_owned()));
        Ok(())
    }

    /// The body and its content type, if any.
    pub fn body(&self) -> Option<(&ContentType, &str)> {
        self.body.as_ref().map(|(ct, body)| (ct, body.as_str()))
    }

    /// Replaces the body.
    pub fn set_body(&mut self, content_type: ContentType, body: String) {
        self.body = Some((content_type, body));
    }
}

impl WebResponse for OAuthResponse {
    type Error = WebError;

    fn ok(&mut self) -> Result<(), Self::Error> {
        self.status = Status::Ok;
        Ok(())
    }

    fn redirect(&mut self, url: Url) -> Result<(), Self::Error> {
        // 302 as RFC 6749 §4.1.2 shows; 303 would also do, 301/308 would be cached.
        self.status = Status::Found;
        self.set_header("Location", url.as_str())
    }

    fn client_error(&mut self) -> Result<(), Self::Error> {
        self.status = Status::BadRequest;
        Ok(())
    }

    fn unauthorized(&mut self, header_value: &str) -> Result<(), Self::Error> {
        self.status = Status::Unauthorized;
        self.set_header("WWW-Authenticate", header_value)
    }

    fn body_text(&mut self, text: &str) -> Result<(), Self::Error> {
        self.set_body(ContentType::Plain, text.to_owned());
        Ok(())
    }

    fn body_json(&mut self, data: &str) -> Result<(), Self::Error> {
        self.set_body(ContentType::JSON, data.to_owned());
        Ok(())
    }
}

impl<'r> Responder<'r, 'static> for OAuthResponse {
    fn respond_to(self, _: &'r Request<'_>) -> response::Result<'static> {
        let mut response = Response::build();
        response.status(self.status);
        for header in self.headers.into_iter() {
            response.header(header);
        }
        if let Some((content_type, body)) = self.body {
            response
                .header(content_type)
                .sized_body(body.len(), Cursor::new(body));
        }
        response.ok()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
mod tests {
    use super::*;
    use rocket::local::asynchronous::Client;
    use rocket::{get, routes};

    #[test]
    fn flows_set_status_and_headers() {
        let mut response = OAuthResponse::new();
        assert_eq!(response.status(), Status::Ok);

        response
            .redirect(Url::parse("https://client.example/cb?code=abc").unwrap())
            .unwrap();
        assert_eq!(response.status(), Status::Found);
        assert_eq!(
            response.header("Location"),
            Some("https://client.example/cb?code=abc")
        );

        response.unauthorized("Basic realm=\"oauth\"").unwrap();
        assert_eq!(response.status(), Status::Unauthorized);
        assert_eq!(
            response.header("WWW-Authenticate"),
            Some("Basic realm=\"oauth\"")
        );

        response.client_error().unwrap();
        assert_eq!(response.status(), Status::BadRequest);

        response.body_json(r#"{"error":"invalid_grant"}"#).unwrap();
        let (ct, body) = response.body().unwrap();
        assert_eq!(ct, &ContentType::JSON);
        assert_eq!(body, r#"{"error":"invalid_grant"}"#);
    }

    #[test]
    fn header_values_cannot_split_the_response() {
        let mut response = OAuthResponse::new();
        assert!(matches!(
            response.unauthorized("Basic\r\nSet-Cookie: x=y"),
            Err(WebError::Header)
        ));
        assert_eq!(response.header("Set-Cookie"), None);
    }

    #[get("/")]
    fn flow() -> OAuthResponse {
        let mut response = OAuthResponse::new();
        response.client_error().unwrap();
        response.set_header("Cache-Control", "no-store").unwrap();
        response
            .body_json(r#"{"error":"invalid_request"}"#)
            .unwrap();
        response
    }

    #[rocket::async_test]
    async fn renders_as_a_rocket_response() {
        let rocket = rocket::custom(rocket::Config::figment().merge(("log_level", "off")))
            .mount("/", routes![flow]);
        let client = Client::untracked(rocket).await.unwrap();
        let response = client.get("/").dispatch().await;
        assert_eq!(response.status(), Status::BadRequest);
        assert_eq!(response.content_type(), Some(ContentType::JSON));
        assert_eq!(
            response.headers().get_one("Cache-Control"),
            Some("no-store")
        );
        assert_eq!(
            response.into_string().await.as_deref(),
            Some(r#"{"error":"invalid_request"}"#)
        );
    }
}
