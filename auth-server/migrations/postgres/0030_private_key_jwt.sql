-- Client authentication by private key (RFC 7523).

-- Each client has one way to authenticate, fixed at registration:
-- `client_secret_basic` (its secret, in the Basic header or the body),
-- `private_key_jwt` (an assertion signed by a key of its JWK Set) or `none`
-- (a public client). Rows from before were told apart by their secret.
alter table clients add column auth_method text not null default 'client_secret_basic';
update clients set auth_method = 'none' where secret_hash is null;
-- A private_key_jwt client's public keys: the JWK Set itself (as JSON text,
-- stored at registration) or the URL it is fetched from, never both.
alter table clients add column jwks text;
alter table clients add column jwks_uri text;

-- Assertion `jti`s already used, so that an assertion works once on any
-- instance: the SHA-256 of client id and jti, unique; a row goes once its
-- assertion has expired, when it could no longer be accepted anyway.
create table client_assertion_jtis (
    jti_hash text primary key not null,
    expires_at bigint not null
);

create index client_assertion_jtis_expires_at on client_assertion_jtis (expires_at);
