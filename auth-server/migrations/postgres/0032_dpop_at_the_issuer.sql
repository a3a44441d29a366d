-- DPoP (RFC 9449) at the issuer.

-- Proof `jti`s already seen at the token endpoint and UserInfo, so that a
-- proof works once on any instance: the SHA-256 of the key's thumbprint and
-- the jti, unique (the insert that fails is the replay); a row goes once its
-- proof's iat has left the window and the proof could not pass anyway.
create table dpop_proof_jtis (
    jti_hash text primary key not null,
    expires_at bigint not null
);

create index dpop_proof_jtis_expires_at on dpop_proof_jtis (expires_at);

-- The key (RFC 7638 thumbprint) a public client's refresh tokens are bound
-- to (RFC 9449 §5): refreshing needs a proof of it. Null: not bound.
alter table refresh_families add column dpop_jkt text;

-- The authorization request's `dpop_jkt` (RFC 9449 §10): redeeming the
-- code needs a proof of that key. Null: none was asked.
alter table authorization_codes add column dpop_jkt text;
