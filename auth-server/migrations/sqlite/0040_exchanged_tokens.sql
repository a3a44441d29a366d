-- Token exchange (RFC 8693): every token an exchanged access token descends
-- from (its subject token, that token's own subject, and so on), one row
-- each, so that a revoked ancestor revokes it (introspection joins this to
-- revoked_access_tokens) without a walk up the chain.
create table exchanged_tokens (
    -- The exchanged access token's jti.
    jti text not null,
    -- The jti of one token it descends from.
    ancestor_jti text not null,
    -- The user the chain is about (none when it began with a client's own
    -- token): changing their rights revokes it, as it revokes their families.
    user_id text,
    -- The exchanged token's exp: after it the row says nothing.
    expires_at bigint not null,
    primary key (jti, ancestor_jti)
);

create index exchanged_tokens_user on exchanged_tokens (user_id);
create index exchanged_tokens_expiry on exchanged_tokens (expires_at);
