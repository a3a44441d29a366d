-- A refresh token family: every token rotated from one grant (a login or a
-- code exchange). The family row is what serialises the family: every
-- transaction that rotates or revokes it begins by writing this row, which
-- takes its row lock on PostgreSQL and the database write lock on SQLite, so
-- a revocation always sees a successor committed before it, and a rotation
-- never commits into a family revoked before it.
create table refresh_families (
    family_id text primary key not null,
    client_id text not null references clients (id) on delete cascade,
    user_id text not null references users (id) on delete cascade,
    -- The login or code exchange that began the family.
    created_at bigint not null,
    -- created_at + REFRESH_TOKEN_MAX_LIFETIME: absolute, rotation never moves
    -- it, and no token of the family outlives it.
    expires_at bigint not null,
    revoked_at bigint,
    -- The last rotation or revocation; writing it is the family lock.
    updated_at bigint not null
);

-- Families already running: their age counts from the oldest token still
-- stored, with the default REFRESH_TOKEN_MAX_LIFETIME (30 days); a family
-- whose every token was revoked stays revoked.
insert into refresh_families (family_id, client_id, user_id, created_at, expires_at, revoked_at, updated_at)
select family_id, min(client_id), min(user_id), min(created_at), min(created_at) + 2592000,
       case when count(*) = count(revoked_at) then max(revoked_at) end,
       max(created_at)
from refresh_tokens
group by family_id;

-- No token outlives its family.
update refresh_tokens
set expires_at = (select f.expires_at from refresh_families f where f.family_id = refresh_tokens.family_id)
where expires_at > (select f.expires_at from refresh_families f where f.family_id = refresh_tokens.family_id);
