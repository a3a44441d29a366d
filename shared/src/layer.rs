//! The tower adapter of [`crate::access`] (feature `tower`), in the shape
//! of tower-http's async authorization layer: a service in axum or any
//! tower stack adds it in one line,
//!
//! ```text
//! router.layer(AccessTokenLayer::new(authenticator))
//! ```
//!
//! and every request that reaches the inner service carries the verified
//! caller in its extensions (axum: `Extension<Authenticated>`). A refused
//! request never reaches it: it is answered with the [`Refusal`] the
//! [`Authenticator`] writes, the same status, `WWW-Authenticate` challenge
//! and problem+json body the Rocket guard sends.
//!
//! [`AccessTokenLayer::require`] makes the layer also demand a scope
//! (`403 insufficient_scope`), for a route or a group of routes; under an
//! outer layer it reuses the caller that layer proved rather than checking
//! the token twice.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::header::{HeaderName, HeaderValue};
use http::{Request, Response, StatusCode};
use tower_layer::Layer;
use tower_service::Service;

use crate::access::{Authenticated, Authenticator, Refusal, RequestHead};
use crate::scope::Scope;

impl RequestHead for http::request::Parts {
    fn header_values<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.headers
            .get_all(name)
            .iter()
            .map(|value| value.to_str().unwrap_or(""))
    }

    fn method(&self) -> &str {
        self.method.as_str()
    }

    fn path(&self) -> &str {
        self.uri.path()
    }
}

/// Authenticates every request with an [`Authenticator`], and with
/// [`AccessTokenLayer::require`] checks a scope too.
#[derive(Debug, Clone)]
pub struct AccessTokenLayer {
    auth: Arc<Authenticator>,
    required: Option<Scope>,
}

impl AccessTokenLayer {
    pub fn new(auth: Arc<Authenticator>) -> AccessTokenLayer {
        AccessTokenLayer {
            auth,
            required: None,
        }
    }

    /// Also refuses a caller whose token lacks `scope`.
    pub fn require(mut self, scope: Scope) -> AccessTokenLayer {
        self.required = Some(scope);
        self
    }
}

impl<S> Layer<S> for AccessTokenLayer {
    type Service = AccessToken<S>;

    fn layer(&self, inner: S) -> AccessToken<S> {
        AccessToken {
            inner,
            layer: self.clone(),
        }
    }
}

/// The service [`AccessTokenLayer`] wraps around `S`.
#[derive(Debug, Clone)]
pub struct AccessToken<S> {
    inner: S,
    layer: AccessTokenLayer,
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for AccessToken<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    ReqBody: Send + 'static,
    ResBody: From<String>,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Response<ResBody>, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        // The service that was polled ready answers; its clone stays for
        // the next call (tower's guidance for services that are `Clone`).
        let ready = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, ready);
        let layer = self.layer.clone();
        Box::pin(async move {
            let (mut parts, body) = request.into_parts();
            let caller = match parts.extensions.get::<Authenticated>() {
                Some(caller) => Ok(caller.clone()),
                None => layer.auth.authenticate(&parts).await,
            };
            let checked = caller.and_then(|caller| match layer.required {
                Some(scope) => caller.require(scope).map(|()| caller),
                None => Ok(caller),
            });
            match checked {
                Ok(caller) => {
                    parts.extensions.insert(caller);
                    inner.call(Request::from_parts(parts, body)).await
                }
                Err(error) => Ok(response(layer.auth.refusal(&error))),
            }
        })
    }
}

fn response<B: From<String>>(refusal: Refusal) -> Response<B> {
    let mut response = Response::new(B::from(refusal.body));
    *response.status_mut() =
        StatusCode::from_u16(refusal.status).unwrap_or(StatusCode::UNAUTHORIZED);
    for (name, value) in refusal.headers {
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(&value),
        ) {
            response.headers_mut().append(name, value);
        }
    }
    response
}
