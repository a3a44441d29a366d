-- Dynamic client registration (RFC 7591, RFC 7592).

-- Initial access tokens (RFC 7591 §3): made by an operator
-- (`registration-tokens create`, the admin API), each lets up to max_uses
-- registrations before expires_at. Only the token's SHA-256 digest is kept.
-- A registration spends one use with a single conditional update
-- (uses < max_uses), so racing registrations never spend more than there is.
create table registration_tokens (
    token_hash text primary key not null,
    expires_at bigint not null,
    max_uses bigint not null,
    uses bigint not null default 0,
    created_at bigint not null
);

create index registration_tokens_expiry on registration_tokens (expires_at);

-- The digest of the registration access token (RFC 7592) of a client that
-- registered itself at /oauth/register; null for clients an operator made,
-- which are managed by the command line and the admin API instead. A
-- replacement (PUT) rotates it.
alter table clients add column registration_token_hash text;
