-- Every insert into `revoked_access_tokens` (a token, a family, a user's
-- tokens) bumps this in the same transaction. Running servers read it each
-- second and drop the "not revoked" answers they remember when it moved, so
-- the admin API and token exchange see a revocation made at another
-- instance within 2 seconds without reading the list on every request.
create table revocations_version (
    id integer primary key check (id = 1),
    version bigint not null default 0
);
insert into revocations_version (id, version) values (1, 0);
