-- Pushed authorization requests (RFC 9126).

-- A client whose authorization requests must all be pushed
-- (`clients create --require-par`; `REQUIRE_PAR=on` does it for all).
alter table clients add column require_par integer not null default 0;

-- A pushed request, under the SHA-256 of its request_uri (the URI is a
-- 256-bit secret of the server's; a copy of the table names none), until
-- it expires 60 s after the push or is spent by the authorization it
-- served. `parameters` is the request as a JSON object of strings.
create table pushed_requests (
    request_uri_hash text primary key not null,
    client_id text not null references clients (id) on delete cascade,
    parameters text not null,
    expires_at bigint not null
);

create index pushed_requests_expires_at on pushed_requests (expires_at);
