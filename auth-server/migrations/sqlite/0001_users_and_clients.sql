-- Users and OAuth clients. Timestamps are unix seconds in a bigint: the one
-- representation that sqlx's `Any` driver reads the same from SQLite and
-- PostgreSQL; the API renders them as RFC 3339. Flags are integers 0/1 here
-- (the `Any` driver cannot read SQLite's boolean affinity) and booleans in
-- PostgreSQL; `db::flag` reads both.

create table users (
    -- A UUID, opaque to clients; it is the `sub` of the user's tokens.
    id text primary key not null,
    -- Trimmed and lower-cased before insert, so the unique index is the
    -- duplicate check, race-free under concurrent signups.
    email text not null unique,
    name text not null,
    -- PHC string of an argon2id hash; the password itself is never stored.
    password_hash text not null,
    -- Admins are granted `profiles:read`; only the CLI can set this.
    is_admin integer not null default 0,
    created_at bigint not null,
    updated_at bigint not null
);

create table clients (
    -- The client_id. Generated for registered clients; `first-party` is the
    -- built-in public client used when a password grant names no client.
    id text primary key not null,
    name text not null,
    -- Hex SHA-256 of the secret for confidential clients, null for public
    -- ones. Secrets are 256-bit random strings made by the server, so a fast
    -- hash is enough and a slow one would only cap the token rate.
    secret_hash text,
    -- Allowed the password grant (RFC 9700 §2.4: first-party clients only).
    first_party integer not null default 0,
    -- Space-separated grant types this client may use.
    grant_types text not null,
    -- Space-separated scopes this client may be granted.
    scopes text not null,
    -- Space-separated redirect URIs, compared exactly (RFC 9700 §2.1).
    redirect_uris text not null default '',
    created_at bigint not null
);

insert into clients (id, name, secret_hash, first_party, grant_types, scopes, redirect_uris, created_at)
values ('first-party', 'Built-in first-party client (Swagger UI, the guide)', null, true,
        'password refresh_token', 'profile:read profile:write profiles:read', '', 0);
