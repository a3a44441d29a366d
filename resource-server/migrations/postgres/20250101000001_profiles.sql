-- Profiles of the users the issuer vouches for. The resource-server owns
-- this table; the issuer's database is never read.
create table profiles (
    -- The `sub` of the user's access tokens (the issuer's opaque user id),
    -- so a profile is found from a token without any lookup table.
    id text primary key,
    -- Copied from the token's claims when the profile is first created.
    email text not null,
    name text not null,
    -- Free text the user writes; empty until they do.
    bio text not null default '',
    -- Unix seconds (UTC), as on SQLite, so one query text serves both;
    -- rendered as RFC 3339 by the API.
    created_at bigint not null,
    updated_at bigint not null
);
