-- OpenID Connect and resource indicators (RFC 8707).

-- The resources (RFC 8707 `resource`, the access token's `aud`) a client may
-- ask for besides AUDIENCE, and where RP-Initiated Logout may send the
-- browser back to; both space-separated, compared exactly.
alter table clients add column audiences text not null default '';
alter table clients add column post_logout_redirect_uris text not null default '';

-- What an authorization request adds for OpenID Connect: the `nonce` the
-- id_token echoes, when the user signed in (`auth_time`), and the resource
-- the access token will be for.
alter table authorization_codes add column nonce text;
alter table authorization_codes add column auth_time bigint;
alter table authorization_codes add column resource text;

-- The same facts for every refresh of a grant: the id_token of a refresh
-- names the original sign-in, and the access token keeps its resource.
alter table refresh_families add column auth_time bigint;
alter table refresh_families add column resource text;

-- The sign-in that a login ticket (login form to consent form) carries.
alter table login_tickets add column auth_time bigint;

-- Sign-in sessions at the authorization pages: the cookie holds a 256-bit
-- random value, only its SHA-256 is stored, so every instance on this
-- database knows every session and a leak of the table signs nobody in.
create table sign_in_sessions (
    session_hash text primary key not null,
    user_id text not null references users (id) on delete cascade,
    -- When the user typed their password (OIDC `auth_time`, `max_age`).
    auth_time bigint not null,
    -- auth_time + SESSION_TTL.
    expires_at bigint not null
);

create index sign_in_sessions_user_id on sign_in_sessions (user_id);

-- Consent given, one row per scope, so that a later request for the same
-- client and scopes needs no consent page (and `prompt=none` can succeed).
create table consents (
    user_id text not null references users (id) on delete cascade,
    client_id text not null references clients (id) on delete cascade,
    scope text not null,
    granted_at bigint not null,
    primary key (user_id, client_id, scope)
);
