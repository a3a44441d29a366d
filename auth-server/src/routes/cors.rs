//! CORS for the token endpoint only, for `CORS_ALLOWED_ORIGINS` only: what
//! Swagger UI's Authorize button on the resource-server's `/docs` needs to
//! log in from the browser. Other routes send no CORS headers, so browsers
//! keep them same-origin.

use rocket::fairing::{Fairing, Info, Kind};
use rocket::http::{Header, Method, Status};
use rocket::{Request, Response, options, routes};

use crate::config::AppConfig;

const CORS_PATHS: &[&str] = &["/oauth/token", "/login"];

pub fn stage() -> rocket::fairing::AdHoc {
    rocket::fairing::AdHoc::on_ignite("cors", |rocket| async {
        rocket
            .attach(TokenCors)
            .mount("/", routes![preflight_token, preflight_login])
    })
}

/// Preflight answers carry no body; the fairing adds the headers.
#[options("/oauth/token")]
fn preflight_token() -> Status {
    Status::NoContent
}

#[options("/login")]
fn preflight_login() -> Status {
    Status::NoContent
}

struct TokenCors;

#[rocket::async_trait]
impl Fairing for TokenCors {
    fn info(&self) -> Info {
        Info {
            name: "token endpoint CORS",
            kind: Kind::Response,
        }
    }

    async fn on_response<'r>(&self, request: &'r Request<'_>, response: &mut Response<'r>) {
        if !CORS_PATHS.contains(&request.uri().path().as_str()) {
            return;
        }
        // Caches must not serve one origin's answer to another.
        response.adjoin_header(Header::new("Vary", "Origin"));
        let Some(origin) = request.headers().get_one("Origin") else {
            return;
        };
        let allowed = request
            .rocket()
            .state::<AppConfig>()
            .is_some_and(|c| c.cors_allowed_origins.iter().any(|o| o == origin));
        if !allowed {
            return;
        }
        response.set_header(Header::new(
            "Access-Control-Allow-Origin",
            origin.to_owned(),
        ));
        if request.method() == Method::Options {
            response.set_header(Header::new("Access-Control-Allow-Methods", "POST"));
            response.set_header(Header::new(
                "Access-Control-Allow-Headers",
                "authorization, content-type, x-requested-with",
            ));
            response.set_header(Header::new("Access-Control-Max-Age", "600"));
        }
    }
}
