-- Failed-login counts, shared by every instance on this database
-- (src/oauth/throttle.rs). One row per throttled key: a client address,
-- an account at an address, or an account. The key is stored only as the
-- hex SHA-256 of its kind-prefixed value, never the email or address itself.
-- Times are unix seconds.
create table login_failures (
    key_hash text primary key not null,
    -- Failures counted since the row's window began (for an account:
    -- consecutive failures, reset by a successful login).
    failures bigint not null,
    -- Attempts are refused until then; 0 when never locked.
    locked_until bigint not null default 0,
    -- After this instant the row means nothing: the next failure starts a
    -- new count, and the pruner deletes it. Never before `locked_until`.
    expires_at bigint not null
);

create index login_failures_expires_at on login_failures (expires_at);
