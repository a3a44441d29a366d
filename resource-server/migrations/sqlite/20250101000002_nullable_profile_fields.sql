-- `email` and `name` come from the token's claims, and a token carries them
-- only when the user let the client see them (the `email` / `profile`
-- scopes) or the client is first-party. A profile made from a token
-- without them stores null, filled in by a later token that has them.
-- SQLite cannot drop a NOT NULL in place: the table is rebuilt.
create table profiles_new (
    -- The `sub` of the user's access tokens (the issuer's opaque user id),
    -- so a profile is found from a token without any lookup table.
    id text primary key not null,
    -- From the token's claims; null until a token carries the claim.
    email text,
    name text,
    -- Free text the user writes; empty until they do.
    bio text not null default '',
    -- Unix seconds (UTC): the same integer type on SQLite and PostgreSQL,
    -- rendered as RFC 3339 by the API.
    created_at bigint not null,
    updated_at bigint not null
);
insert into profiles_new (id, email, name, bio, created_at, updated_at)
    select id, email, name, bio, created_at, updated_at from profiles;
drop table profiles;
alter table profiles_new rename to profiles;
