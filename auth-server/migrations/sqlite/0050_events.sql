-- Audit events (src/store/events.rs): who signed in or failed to, what was
-- issued, replayed, revoked, and every change to a key, a client or a
-- user. Written in the transaction of what they record where there is one.
-- Never a password, a secret or a whole token: a token is named by its
-- jti or its family, a client secret not at all. Kept EVENT_RETENTION
-- seconds. Times are unix seconds.
create table events (
    -- Milliseconds (hex) and random bits; with `time`, the order events
    -- are listed and paged in.
    id text primary key,
    time bigint not null,
    -- login_succeeded, login_failed, token_issued, refresh_replayed, …
    -- (docs/operations.md lists them).
    type text not null,
    -- The process that wrote it: host name and process id.
    instance text not null,
    -- The caller's address as the throttle sees it (TRUSTED_PROXIES);
    -- null from the command line.
    client_address text,
    client_id text,
    -- A user id, or the client id of a client acting for itself.
    subject text,
    -- A JSON object of what else the type records.
    details text not null
);
-- Listing newest first, all types or one, and pruning by age.
create index events_by_time on events (time, id);
create index events_by_type on events (type, time, id);
