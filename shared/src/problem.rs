//! Problem details (RFC 9457), the error format of every route outside the
//! OAuth endpoints, on both services.

use serde::{Deserialize, Serialize};

pub const CONTENT_TYPE: &str = "application/problem+json";

/// One invalid field of a request body, for `422` answers.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Problem {
    #[serde(rename = "type")]
    pub type_: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
}

impl Problem {
    /// A problem whose `type` is `about:blank` (RFC 9457 §4.2.1), titled
    /// with the status code's reason phrase.
    pub fn new(status: u16, detail: impl Into<String>) -> Problem {
        Problem {
            type_: "about:blank".into(),
            title: reason_phrase(status).into(),
            status,
            detail: detail.into(),
            errors: Vec::new(),
        }
    }

    pub fn with_errors(mut self, errors: Vec<FieldError>) -> Problem {
        self.errors = errors;
        self
    }
}

pub fn reason_phrase(status: u16) -> &'static str {
    match status {
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        406 => "Not Acceptable",
        409 => "Conflict",
        413 => "Content Too Large",
        415 => "Unsupported Media Type",
        422 => "Unprocessable Content",
        429 => "Too Many Requests",
        503 => "Service Unavailable",
        _ if status >= 500 => "Internal Server Error",
        _ => "Error",
    }
}

#[cfg(feature = "rocket")]
mod rocket_impl {
    use super::{CONTENT_TYPE, Problem};
    use rocket::Request;
    use rocket::http::{ContentType, Status};
    use rocket::response::{self, Responder, Response};
    use std::io::Cursor;

    impl<'r> Responder<'r, 'static> for Problem {
        fn respond_to(self, _: &'r Request<'_>) -> response::Result<'static> {
            let body = serde_json::to_vec(&self).unwrap_or_default();
            let content_type =
                ContentType::parse_flexible(CONTENT_TYPE).unwrap_or(ContentType::JSON);
            Response::build()
                .status(Status::new(self.status))
                .header(content_type)
                .sized_body(body.len(), Cursor::new(body))
                .ok()
        }
    }

    /// Catchers for every status Rocket produces by itself, so no route ever
    /// answers with Rocket's HTML error page.
    pub fn catchers() -> Vec<rocket::Catcher> {
        rocket::catchers![default_catcher]
    }

    #[rocket::catch(default)]
    fn default_catcher(status: Status, _req: &Request<'_>) -> Problem {
        let detail = match status.code {
            400 => "The request could not be understood.",
            401 => "Authentication is required.",
            403 => "Not allowed.",
            404 => "No such resource.",
            405 => "Method not allowed on this resource.",
            413 => "The request body is larger than the limit of 64 KiB.",
            415 => "The request body must be application/json.",
            422 => "The request body is not valid.",
            _ if status.code >= 500 => "An internal error occurred.",
            _ => "The request failed.",
        };
        Problem::new(status.code, detail)
    }
}

#[cfg(feature = "rocket")]
pub use rocket_impl::catchers;
