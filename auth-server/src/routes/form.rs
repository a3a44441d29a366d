//! Reading request bodies ourselves, so each way a body can be wrong gets
//! the contract's answer: too large → 413, wrong media type → 415, not JSON
//! (or not a form) → 400, instead of Rocket's generic guard failures. JSON
//! is read by `shared::strict_json`, so a member named twice is a `400` too,
//! as it is in a token: never one of the two values picked silently.
//!
//! OAuth's parameters (a token-style form, or the authorization request's
//! query or form) are all read one way ([`OAuthParams`], RFC 6749 §3.1): a
//! parameter sent without a value is omitted, and one sent twice is
//! refused, since picking either would let an attacker choose. Then they
//! become the typed form the endpoint reads and documents ([`OAuthForm`],
//! [`PageForm`]).

use std::collections::HashMap;

use platform::settings::BODY_LIMIT;
use rocket::data::{self, Data, FromData, ToByteUnit};
use rocket::http::{ContentType, Status};
use rocket::request::Request;
use serde::de::DeserializeOwned;

use crate::errors::{ApiError, OAuthError};
use crate::pages::authorization::{PageResponse, error_page};

/// Reads at most [`BODY_LIMIT`] bytes.
async fn read_limited(data: Data<'_>) -> Result<Vec<u8>, ApiError> {
    let capped = data
        .open(BODY_LIMIT.bytes())
        .into_bytes()
        .await
        .map_err(|_| ApiError::BadRequest("The request body could not be read."))?;
    if !capped.is_complete() {
        return Err(ApiError::PayloadTooLarge);
    }
    Ok(capped.into_inner())
}

/// A JSON object body, for problem+json endpoints.
pub async fn json_object(
    content_type: Option<&ContentType>,
    data: Data<'_>,
) -> Result<serde_json::Map<String, serde_json::Value>, ApiError> {
    if !content_type.is_some_and(|ct| ct.is_json() || ct.sub().as_str().ends_with("+json")) {
        return Err(ApiError::UnsupportedMediaType);
    }
    let bytes = read_limited(data).await?;
    match shared::strict_json::from_slice(&bytes) {
        Ok(serde_json::Value::Object(map)) => Ok(map),
        Ok(_) => Err(ApiError::BadRequest(
            "The request body must be a JSON object.",
        )),
        Err(shared::strict_json::Error::Duplicate) => Err(ApiError::BadRequest(
            "The request body names a member twice.",
        )),
        Err(shared::strict_json::Error::Invalid) => {
            Err(ApiError::BadRequest("The request body is not valid JSON."))
        }
    }
}

/// The parameters of an OAuth request, read by one policy.
#[derive(Default)]
pub struct OAuthParams(HashMap<String, String>);

impl OAuthParams {
    pub fn parse(body: &[u8]) -> Result<OAuthParams, OAuthError> {
        let mut params = HashMap::new();
        for (name, value) in url::form_urlencoded::parse(body) {
            if value.is_empty() {
                continue;
            }
            if params
                .insert(name.into_owned(), value.into_owned())
                .is_some()
            {
                return Err(OAuthError::invalid_request(
                    "A request parameter was repeated.",
                ));
            }
        }
        Ok(OAuthParams(params))
    }

    /// Refuses a NUL anywhere. PostgreSQL text cannot hold one, so such a
    /// value would reach a query as a database error (500) instead of a
    /// clear refusal.
    pub fn refuse_nul(self) -> Result<OAuthParams, OAuthError> {
        let nul = |s: &String| s.contains('\0');
        if self.0.iter().any(|(name, value)| nul(name) || nul(value)) {
            return Err(OAuthError::invalid_request(
                "A request parameter contains a NUL character.",
            ));
        }
        Ok(self)
    }

    /// The typed form of these parameters: its fields are all optional
    /// text, so any parameters make one, and the unknown ones are left out.
    pub fn into_form<T: DeserializeOwned>(self) -> Result<T, OAuthError> {
        let members = self
            .0
            .into_iter()
            .map(|(name, value)| (name, serde_json::Value::String(value)))
            .collect();
        serde_json::from_value(serde_json::Value::Object(members))
            .map_err(|_| OAuthError::invalid_request("The request is malformed."))
    }
}

/// Failures of reading an OAuth form: OAuth errors, or a body over the
/// limit (problem+json, as everywhere).
#[derive(Debug, rocket::Responder)]
pub enum TokenFailure {
    OAuth(OAuthError),
    Api(ApiError),
}

impl From<OAuthError> for TokenFailure {
    fn from(error: OAuthError) -> Self {
        TokenFailure::OAuth(error)
    }
}

/// The form body of an OAuth request, its NUL policy chosen by `refuse_nul`.
async fn read_params(
    content_type: Option<&ContentType>,
    data: Data<'_>,
    refuse_nul: bool,
) -> Result<OAuthParams, TokenFailure> {
    if !content_type.is_some_and(|ct| *ct == ContentType::Form) {
        return Err(OAuthError::invalid_request(
            "The request body must be application/x-www-form-urlencoded.",
        )
        .into());
    }
    let bytes = read_limited(data).await.map_err(|e| match e {
        ApiError::PayloadTooLarge => TokenFailure::Api(e),
        _ => OAuthError::invalid_request("The request body could not be read.").into(),
    })?;
    let params = OAuthParams::parse(&bytes)?;
    Ok(if refuse_nul {
        params.refuse_nul()?
    } else {
        params
    })
}

/// The typed form of a token-style request (token, revocation,
/// introspection): a route takes `Result<OAuthForm<T>, TokenFailure>` and
/// answers the failure in the OAuth format.
pub struct OAuthForm<T>(pub T);

/// The typed form of an authorization page. A NUL is left in place: the
/// sign-in it reaches looks accounts up safely and simply fails.
pub struct PageForm<T>(pub T);

impl TokenFailure {
    /// The page that says why an authorization page's form could not be
    /// read.
    pub fn page(&self) -> PageResponse {
        match self {
            TokenFailure::Api(_) => error_page(Status::PayloadTooLarge, "The form is too large."),
            TokenFailure::OAuth(_) => error_page(Status::BadRequest, "The form is malformed."),
        }
    }
}

async fn typed<T: DeserializeOwned>(
    request: &Request<'_>,
    data: Data<'_>,
    refuse_nul: bool,
) -> Result<T, TokenFailure> {
    let params = read_params(request.content_type(), data, refuse_nul).await?;
    Ok(params.into_form()?)
}

fn outcome<'r, F>(result: Result<F, TokenFailure>) -> data::Outcome<'r, F, TokenFailure> {
    match result {
        Ok(form) => data::Outcome::Success(form),
        // The route takes the `Result` and answers this itself.
        Err(failure) => data::Outcome::Error((Status::BadRequest, failure)),
    }
}

#[rocket::async_trait]
impl<'r, T: DeserializeOwned + Send> FromData<'r> for OAuthForm<T> {
    type Error = TokenFailure;

    async fn from_data(request: &'r Request<'_>, data: Data<'r>) -> data::Outcome<'r, Self> {
        outcome(typed(request, data, true).await.map(OAuthForm))
    }
}

#[rocket::async_trait]
impl<'r, T: DeserializeOwned + Send> FromData<'r> for PageForm<T> {
    type Error = TokenFailure;

    async fn from_data(request: &'r Request<'_>, data: Data<'r>) -> data::Outcome<'r, Self> {
        outcome(typed(request, data, false).await.map(PageForm))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn get(params: &OAuthParams, name: &str) -> Option<String> {
        params.0.get(name).cloned()
    }

    #[test]
    fn empty_parameters_are_omitted_and_repeated_ones_refused() {
        let params = OAuthParams::parse(b"a=1&b=&c=%20").unwrap_or_default();
        assert_eq!(get(&params, "a").as_deref(), Some("1"));
        assert_eq!(get(&params, "b"), None);
        assert_eq!(get(&params, "c").as_deref(), Some(" "));
        for repeated in [&b"a=1&a=2"[..], b"a=1&a=1", b"a=1&b=2&a=3"] {
            let error = OAuthParams::parse(repeated).err();
            assert_eq!(
                error.map(|e| e.description),
                Some("A request parameter was repeated.")
            );
        }
        // An empty repeat is no repeat: it was never sent.
        assert!(OAuthParams::parse(b"a=1&a=").is_ok());
    }

    #[test]
    fn a_nul_is_refused_where_asked() {
        for body in [&b"a=x%00y"[..], b"x%00=1"] {
            let params = OAuthParams::parse(body);
            assert!(params.is_ok(), "the reading itself keeps it");
            let refused = params.and_then(OAuthParams::refuse_nul).err();
            assert_eq!(
                refused.map(|e| e.description),
                Some("A request parameter contains a NUL character.")
            );
        }
    }

    #[test]
    fn parameters_become_the_typed_form_and_unknown_ones_are_left_out() {
        #[derive(serde::Deserialize, Default)]
        struct Form {
            a: Option<String>,
            b: Option<String>,
        }
        let form: Form = OAuthParams::parse(b"a=1&z=2")
            .and_then(OAuthParams::into_form)
            .unwrap_or_default();
        assert_eq!(form.a.as_deref(), Some("1"));
        assert_eq!(form.b, None);
    }
}
