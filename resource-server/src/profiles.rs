//! User profiles: created just in time from the token's claims, read by
//! their owner (`profile:read`) or by anyone holding `profiles:read`, and
//! changed by their owner (`profile:write`). A token carries `email` and
//! `name` only when the user let its client see them: a field no token has
//! carried yet is `null`, and the first token that carries it fills it in.
//!
//! Who may read is decided from the token alone, before the database is
//! asked, so a caller without the scope cannot learn whether an id exists.

use std::io::Cursor;
use std::sync::Arc;
use std::time::Duration;

use rocket::data::{Data, ToByteUnit};
use rocket::fairing::AdHoc;
use rocket::http::Status;
use rocket::http::{ContentType, Header};
use rocket::request::{FromRequest, Outcome, Request};
use rocket::response::{self, Responder, Response};
use rocket::{get, patch, routes};
use serde::Serialize;
use serde_json::{Map, Value};
use shared::access::Authenticated;
use shared::clock::rfc3339;
use shared::problem::{FieldError, Problem};
use shared::scope::Scope;
use sqlx::AnyPool;

use shared::clock::AppClock;

use crate::config::AppConfig;
use crate::db::Db;
use crate::error::ProfileError;
use crate::profile_cache::ProfileCache;

pub const NAME_MAX_CHARS: usize = 100;
pub const BIO_MAX_CHARS: usize = 1000;

pub fn stage() -> AdHoc {
    AdHoc::on_ignite("profiles", |rocket| async {
        let ttl = rocket
            .state::<AppConfig>()
            .map_or(0, |config| config.profile_cache_ttl_ms);
        rocket
            .manage(ProfileCache::new(
                Duration::from_millis(ttl),
                Profile::weight,
            ))
            .mount("/", routes![me, update_me])
            .mount("/profile", routes![profile])
            .mount("/profiles", routes![profile])
    })
}

/// The profile as the API shows it: its own fields and nothing else.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct ProfileBody {
    pub id: String,
    /// `null` until a token carries the `email` claim (a first-party
    /// client's, or one granted the `email` scope).
    pub email: Option<String>,
    /// `null` until a token carries the `name` claim (a first-party
    /// client's, or one granted the `profile` scope), or the user sets it.
    pub name: Option<String>,
    pub bio: String,
    pub created_at: String,
    pub updated_at: String,
}

impl ProfileBody {
    /// The bytes its strings hold, for the profile cache's bound.
    fn weight(&self) -> usize {
        self.id.len()
            + self.email.as_ref().map_or(0, String::len)
            + self.name.as_ref().map_or(0, String::len)
            + self.bio.len()
            + self.created_at.len()
            + self.updated_at.len()
    }
}

/// A profile as read from the database, with its answer's JSON written
/// once: the profile cache hands out both by reference count, so a cached
/// `GET` copies and serializes nothing.
#[derive(Debug, Clone)]
pub struct Profile(Arc<ReadProfile>);

#[derive(Debug)]
struct ReadProfile {
    body: ProfileBody,
    json: Vec<u8>,
}

impl Profile {
    fn new(body: ProfileBody) -> Result<Profile, ProfileError> {
        let json = serde_json::to_vec(&body)?;
        Ok(Profile(Arc::new(ReadProfile { body, json })))
    }

    fn body(&self) -> &ProfileBody {
        &self.0.body
    }

    /// The bytes it holds, for the profile cache's bound.
    fn weight(&self) -> usize {
        self.0.body.weight() + self.0.json.len()
    }
}

impl AsRef<[u8]> for Profile {
    fn as_ref(&self) -> &[u8] {
        &self.0.json
    }
}

/// A profile answer: JSON that no cache may keep.
pub struct ProfileResponse(Profile);

impl From<Profile> for ProfileResponse {
    fn from(profile: Profile) -> ProfileResponse {
        ProfileResponse(profile)
    }
}

impl<'r> Responder<'r, 'static> for ProfileResponse {
    fn respond_to(self, _: &'r Request<'_>) -> response::Result<'static> {
        let length = self.0.as_ref().len();
        Response::build()
            .header(ContentType::JSON)
            .header(Header::new("Cache-Control", "no-store"))
            .sized_body(length, Cursor::new(self.0))
            .ok()
    }
}

/// The caller's profile, created from the token's claims on first use.
#[utoipa::path(get, path = "/profile/me", tag = "profiles",
    security(("oauth2" = ["profile:read"])),
    responses(
        (status = 200, description = "The caller's profile", body = ProfileBody),
        (status = 401, description = "No token or a bad token (RFC 6750)", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "insufficient_scope", body = Problem, content_type = "application/problem+json"),
    ))]
#[get("/profile/me")]
pub async fn me(auth: Authenticated, store: Store<'_>) -> Result<ProfileResponse, ProfileError> {
    auth.require_any(Scope::ProfileRead, &[Scope::ProfilesRead])?;
    let profile = own_profile(&store, &auth).await?;
    Ok(profile.into())
}

// Mounted at `/profile` and at `/profiles` (API.md gives both paths one
// answer); the document lists the second as `BY_ID_ALIAS`.
/// A profile by id: one's own with `profile:read`, anyone's with `profiles:read`.
#[utoipa::path(get, path = "/profile/{id}", tag = "profiles",
    security(("oauth2" = ["profile:read"]), ("oauth2" = ["profiles:read"])),
    params(("id" = String, Path, description = "The user's id (the token's sub)")),
    responses(
        (status = 200, description = "The profile", body = ProfileBody),
        (status = 401, description = "No token or a bad token (RFC 6750)", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "insufficient_scope", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such profile", body = Problem, content_type = "application/problem+json"),
    ))]
#[get("/<id>")]
pub async fn profile(
    id: &str,
    auth: Authenticated,
    store: Store<'_>,
) -> Result<ProfileResponse, ProfileError> {
    read_profile(id, &auth, &store).await
}

/// The second path of [`profile`], as the OpenAPI document lists it.
pub const BY_ID_ALIAS: &str = "/profiles/{id}";

async fn read_profile(
    id: &str,
    auth: &Authenticated,
    store: &Store<'_>,
) -> Result<ProfileResponse, ProfileError> {
    if id == auth.sub() {
        auth.require_any(Scope::ProfileRead, &[Scope::ProfilesRead])?;
        return Ok(own_profile(store, auth).await?.into());
    }
    auth.require(Scope::ProfilesRead)?;
    // The reader's own profile comes into being on their first request too.
    sync_own(store, auth).await?;
    store
        .find(id)
        .await?
        .map(ProfileResponse::from)
        .ok_or(ProfileError::NotFound("No profile has this id."))
}

/// Changes the caller's name and/or bio.
#[utoipa::path(patch, path = "/profile/me", tag = "profiles",
    security(("oauth2" = ["profile:write"])),
    request_body(content = ProfilePatch, content_type = "application/json"),
    responses(
        (status = 200, description = "The updated profile", body = ProfileBody),
        (status = 400, description = "Body is not JSON, or names a member twice", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No token or a bad token (RFC 6750)", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "insufficient_scope", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body over 64 KiB", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not application/json", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields, each listed", body = Problem, content_type = "application/problem+json"),
    ))]
#[patch("/profile/me", data = "<data>")]
pub async fn update_me(
    auth: Authenticated,
    content_type: Option<&ContentType>,
    data: Data<'_>,
    store: Store<'_>,
) -> Result<ProfileResponse, ProfileError> {
    auth.require(Scope::ProfileWrite)?;
    let changes = read_changes(content_type, data).await?;
    let now = store.now;
    own_profile(&store, &auth).await?;
    sqlx::query(
        "update profiles set name = coalesce($1, name), bio = coalesce($2, bio), updated_at = $3 \
         where id = $4",
    )
    .bind(changes.name)
    .bind(changes.bio)
    .bind(now)
    .bind(auth.sub())
    .execute(store.pool)
    .await?;
    // Committed: this process's next read must see it.
    store.cache.changed(auth.sub());
    store
        .find(auth.sub())
        .await?
        .map(ProfileResponse::from)
        .ok_or(ProfileError::NotFound(
            "No profile exists for this token's subject.",
        ))
}

// What `validate_changes` makes of a `PATCH` body: a field left out is
// `None` and stays as it is; a `null` bio is an empty one.
/// The fields to change; a field left out stays as it is. Every invalid
/// field is listed in the `422` answer.
#[derive(Debug, Default, PartialEq, Eq, utoipa::ToSchema)]
pub struct ProfilePatch {
    /// 1 to 100 characters.
    pub name: Option<String>,
    /// At most 1000 characters; `null` clears it.
    pub bio: Option<String>,
}

async fn read_changes(
    content_type: Option<&ContentType>,
    data: Data<'_>,
) -> Result<ProfilePatch, ProfileError> {
    if !content_type.is_some_and(|ct| ct.is_json()) {
        return Err(ProfileError::UnsupportedMediaType);
    }
    let body = data
        .open(platform::settings::BODY_LIMIT.bytes())
        .into_bytes()
        .await
        .map_err(|_| ProfileError::NotJson)?;
    if !body.is_complete() {
        return Err(ProfileError::TooLarge);
    }
    // A member named twice is refused, never one of its values picked.
    let value =
        shared::strict_json::from_slice(&body.into_inner()).map_err(|error| match error {
            shared::strict_json::Error::Duplicate => ProfileError::DuplicateMember,
            shared::strict_json::Error::Invalid => ProfileError::NotJson,
        })?;
    validate_changes(&value)
}

/// Checks a `PATCH` body and lists every bad field at once.
pub fn validate_changes(value: &Value) -> Result<ProfilePatch, ProfileError> {
    let Some(object) = value.as_object() else {
        return Err(ProfileError::Invalid(vec![field_error(
            "",
            "The body must be a JSON object.",
        )]));
    };
    let mut errors = Vec::new();
    let mut changes = ProfilePatch::default();
    for key in object.keys() {
        if key != "name" && key != "bio" {
            errors.push(field_error(key, "This field cannot be changed."));
        }
    }
    match read_name(object) {
        Ok(name) => changes.name = name,
        Err(error) => errors.push(error),
    }
    match read_bio(object) {
        Ok(bio) => changes.bio = bio,
        Err(error) => errors.push(error),
    }
    if errors.is_empty() {
        Ok(changes)
    } else {
        Err(ProfileError::Invalid(errors))
    }
}

fn read_name(object: &Map<String, Value>) -> Result<Option<String>, FieldError> {
    let Some(value) = object.get("name") else {
        return Ok(None);
    };
    let Some(name) = value.as_str() else {
        return Err(field_error("name", "Must be a string."));
    };
    let name = name.trim();
    let chars = name.chars().count();
    if chars == 0 || chars > NAME_MAX_CHARS {
        return Err(field_error("name", "Must be 1 to 100 characters."));
    }
    if name.chars().any(char::is_control) {
        return Err(field_error("name", "Must not contain control characters."));
    }
    Ok(Some(name.to_owned()))
}

fn read_bio(object: &Map<String, Value>) -> Result<Option<String>, FieldError> {
    match object.get("bio") {
        None => Ok(None),
        // Explicit null clears the bio.
        Some(Value::Null) => Ok(Some(String::new())),
        Some(Value::String(bio)) => {
            if bio.chars().count() > BIO_MAX_CHARS {
                return Err(field_error("bio", "Must be at most 1000 characters."));
            }
            if bio
                .chars()
                .any(|c| c.is_control() && c != '\n' && c != '\t')
            {
                return Err(field_error("bio", "Must not contain control characters."));
            }
            Ok(Some(bio.clone()))
        }
        Some(_) => Err(field_error("bio", "Must be a string or null.")),
    }
}

fn field_error(field: &str, message: &str) -> FieldError {
    FieldError {
        field: field.to_owned(),
        message: message.to_owned(),
    }
}

/// The caller's own profile, created from the token's claims when missing.
async fn own_profile(store: &Store<'_>, auth: &Authenticated) -> Result<Profile, ProfileError> {
    sync_own(store, auth).await?.ok_or(ProfileError::NotFound(
        "No profile exists for this token's subject.",
    ))
}

/// The caller's own profile as far as its token knows it: created on a
/// user's first request, and an `email` or `name` still missing filled in
/// from a token that carries it. `None` for a client acting for itself.
async fn sync_own(
    store: &Store<'_>,
    auth: &Authenticated,
) -> Result<Option<Profile>, ProfileError> {
    let (claims, now) = (ClaimedFields::of(auth), store.now);
    // Read first: once the profile is complete a GET never writes (no
    // upsert), which keeps SQLite's single writer out of the read path.
    if let Some(profile) = store.find(auth.sub()).await? {
        if !claims.fills_a_gap_in(profile.body()) {
            return Ok(Some(profile));
        }
        fill_in(store, auth, &claims, now).await?;
    } else if is_client_token(auth) {
        return Ok(None);
    } else {
        create_from_claims(store.pool, auth, &claims, now).await?;
    }
    store.find(auth.sub()).await
}

/// A client's own token (client credentials): `sub` is the client id. It
/// names no user, so it has no profile.
fn is_client_token(auth: &Authenticated) -> bool {
    auth.sub() == auth.claims.client_id
}

/// The profile fields a token's claims carry. A token has them only when
/// the user let the client see them, so either may be missing.
struct ClaimedFields<'a> {
    email: Option<&'a str>,
    name: Option<&'a str>,
}

impl<'a> ClaimedFields<'a> {
    fn of(auth: &'a Authenticated) -> ClaimedFields<'a> {
        let email = auth.claims.email.as_deref().filter(|e| !e.is_empty());
        let name = auth
            .claims
            .name
            .as_deref()
            .map(str::trim)
            .filter(|n| !n.is_empty())
            // At most NAME_MAX_CHARS characters, cut at a character boundary.
            .map(|n| {
                n.char_indices()
                    .nth(NAME_MAX_CHARS)
                    .map_or(n, |(end, _)| &n[..end])
            });
        ClaimedFields { email, name }
    }

    fn fills_a_gap_in(&self, profile: &ProfileBody) -> bool {
        (profile.email.is_none() && self.email.is_some())
            || (profile.name.is_none() && self.name.is_some())
    }
}

/// Just-in-time creation from a user token; a field it does not carry is
/// stored null. Concurrent first requests are safe: the insert that loses
/// the race does nothing.
async fn create_from_claims(
    pool: &AnyPool,
    auth: &Authenticated,
    claims: &ClaimedFields<'_>,
    now: i64,
) -> Result<(), ProfileError> {
    sqlx::query(
        "insert into profiles (id, email, name, bio, created_at, updated_at) \
         values ($1, $2, $3, '', $4, $5) on conflict (id) do nothing",
    )
    .bind(auth.sub())
    .bind(claims.email)
    .bind(claims.name)
    .bind(now)
    .bind(now)
    .execute(pool)
    .await?;
    Ok(())
}

/// Fills the fields still null from a token that carries them; a field
/// already set (by an earlier token or by the user) is never overwritten.
async fn fill_in(
    store: &Store<'_>,
    auth: &Authenticated,
    claims: &ClaimedFields<'_>,
    now: i64,
) -> Result<(), ProfileError> {
    sqlx::query(
        "update profiles set email = coalesce(email, $1), name = coalesce(name, $2), \
         updated_at = $3 where id = $4 and (email is null or name is null)",
    )
    .bind(claims.email)
    .bind(claims.name)
    .bind(now)
    .bind(auth.sub())
    .execute(store.pool)
    .await?;
    // Committed: this process's next read must see it.
    store.cache.changed(auth.sub());
    Ok(())
}

/// Where a request reads and writes profiles: the cache, then the
/// database, at the time the request arrived.
pub struct Store<'r> {
    pool: &'r AnyPool,
    cache: &'r ProfileCache<Profile>,
    now: i64,
}

#[rocket::async_trait]
impl<'r> FromRequest<'r> for Store<'r> {
    type Error = &'static str;

    async fn from_request(request: &'r Request<'_>) -> Outcome<Self, Self::Error> {
        let rocket = request.rocket();
        let state = (|| {
            Some(Store {
                pool: &rocket.state::<Db>()?.0,
                cache: rocket.state::<ProfileCache<Profile>>()?,
                now: rocket.state::<AppClock>()?.now(),
            })
        })();
        match state {
            Some(store) => Outcome::Success(store),
            None => Outcome::Error((Status::InternalServerError, "profile state is not managed")),
        }
    }
}

impl Store<'_> {
    async fn find(&self, id: &str) -> Result<Option<Profile>, ProfileError> {
        if let Some(profile) = self.cache.get(id) {
            return Ok(Some(profile));
        }
        let generation = self.cache.generation();
        let Some(body) = find(self.pool, id).await? else {
            return Ok(None);
        };
        let profile = Profile::new(body)?;
        self.cache.insert(generation, id, &profile);
        Ok(Some(profile))
    }
}

/// `id, email, name, bio, created_at, updated_at`: `email` and `name` may
/// be null.
type ProfileRow = (String, Option<String>, Option<String>, String, i64, i64);

/// One read by primary key. sqlx prepares the statement once per
/// connection and keeps it (`persistent`, its default), so a read is a
/// bind and a step, not a parse.
async fn find(pool: &AnyPool, id: &str) -> Result<Option<ProfileBody>, ProfileError> {
    let row: Option<ProfileRow> = sqlx::query_as(
        "select id, email, name, bio, created_at, updated_at from profiles where id = $1",
    )
    .bind(id)
    .persistent(true)
    .fetch_optional(pool)
    .await?;
    Ok(row.map(
        |(id, email, name, bio, created_at, updated_at)| ProfileBody {
            id,
            email,
            name,
            bio,
            created_at: rfc3339(created_at),
            updated_at: rfc3339(updated_at),
        },
    ))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    fn fields(result: Result<ProfilePatch, ProfileError>) -> Vec<String> {
        match result {
            Err(ProfileError::Invalid(errors)) => errors.into_iter().map(|e| e.field).collect(),
            _ => Vec::new(),
        }
    }

    #[test]
    fn accepts_partial_changes() {
        let changes = validate_changes(&json!({"name": "  Ada L. "})).unwrap();
        assert_eq!(changes.name.as_deref(), Some("Ada L."));
        assert_eq!(changes.bio, None);
        let changes = validate_changes(&json!({"bio": null})).unwrap();
        assert_eq!(changes.bio.as_deref(), Some(""));
        assert_eq!(
            validate_changes(&json!({})).unwrap(),
            ProfilePatch::default()
        );
    }

    #[test]
    fn lists_every_bad_field() {
        let long = "x".repeat(101);
        assert_eq!(
            fields(validate_changes(
                &json!({"name": long, "bio": 5, "email": "x@y"})
            )),
            ["email", "name", "bio"]
        );
        assert_eq!(fields(validate_changes(&json!({"name": ""}))), ["name"]);
        assert_eq!(fields(validate_changes(&json!({"name": null}))), ["name"]);
        assert_eq!(
            fields(validate_changes(&json!({"bio": "b".repeat(1001)}))),
            ["bio"]
        );
        assert_eq!(fields(validate_changes(&json!([1]))), [""]);
        // 100 characters (not bytes) is fine.
        assert!(validate_changes(&json!({"name": "é".repeat(100)})).is_ok());
    }
}
