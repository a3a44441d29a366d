-- The state of the authorization-code and refresh-token grants. Every secret
-- (code, refresh token, login ticket) is stored only as the hex SHA-256 of a
-- 256-bit random value: a fast hash suffices for values nobody can guess, and
-- a database leak then hands out nothing usable. Times are unix seconds.

create table authorization_codes (
    code_hash text primary key not null,
    client_id text not null references clients (id) on delete cascade,
    user_id text not null references users (id) on delete cascade,
    -- Exactly as sent on the authorization request; the exchange must repeat it.
    redirect_uri text not null,
    scope text not null,
    -- The PKCE S256 challenge (RFC 7636); null only for a confidential client
    -- that sent none. `plain` is never stored: it is refused.
    code_challenge text,
    expires_at bigint not null,
    -- Set by the first exchange. A second exchange finds it set, and revokes
    -- what the first one issued (RFC 6749 §4.1.2).
    used_at bigint,
    -- What the first exchange issued, so that a replay can revoke it.
    family_id text,
    access_jti text,
    created_at bigint not null
);

create table refresh_tokens (
    token_hash text primary key not null,
    -- All tokens rotated from one grant share a family; presenting a rotated
    -- token again revokes the whole family (RFC 9700 §4.14.2).
    family_id text not null,
    client_id text not null references clients (id) on delete cascade,
    user_id text not null references users (id) on delete cascade,
    -- The scope of the original grant; refreshes may narrow the access
    -- token's scope, never this one (RFC 6749 §6).
    scope text not null,
    expires_at bigint not null,
    -- Set when the token is rotated; it is dead from then on.
    used_at bigint,
    -- Set on every member when the family is revoked.
    revoked_at bigint,
    -- The jti of the access token issued alongside, revoked with the family.
    access_jti text,
    created_at bigint not null
);

create index refresh_tokens_family_id on refresh_tokens (family_id);

-- Access tokens are self-contained JWTs; revoking one (RFC 7009) lists its
-- jti here so that introspection answers `active: false`. Rows past
-- `expires_at` describe tokens that are dead anyway and may be deleted.
create table revoked_access_tokens (
    jti text primary key not null,
    expires_at bigint not null
);

-- The proof that the person at the authorization page has logged in, carried
-- from the login form to the consent form (no server session otherwise).
create table login_tickets (
    ticket_hash text primary key not null,
    user_id text not null references users (id) on delete cascade,
    -- A ticket only serves the client whose consent page it was made for.
    client_id text not null references clients (id) on delete cascade,
    expires_at bigint not null
);
