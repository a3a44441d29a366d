-- OpenID Connect Back-Channel Logout 1.0: the session id (`sid`) that
-- id_tokens and logout tokens carry, which clients got tokens in which
-- session, and the queue of logout tokens to deliver.

-- A session's public id: random, never the cookie's value (whose hash is
-- the key), so an id_token that names its session cannot be turned into
-- the cookie. Null for sessions begun before this migration.
alter table sign_in_sessions add column sid text;
create unique index sign_in_sessions_sid on sign_in_sessions (sid);

-- The session carried from the sign-in to the code, and from the code to
-- its refresh family, so every id_token of the grant names it.
alter table login_tickets add column sid text;
alter table authorization_codes add column sid text;
alter table refresh_families add column sid text;

-- Which clients got tokens in which session (written when a code of that
-- session is redeemed): those with a backchannel_logout_uri are told when
-- it ends. Rows of sessions that are gone are pruned.
create table session_clients (
    sid text not null,
    client_id text not null references clients (id) on delete cascade,
    user_id text not null,
    created_at bigint not null,
    primary key (sid, client_id)
);
create index session_clients_user_id on session_clients (user_id);

-- Logout tokens waiting to be posted. The token itself is signed at each
-- attempt from these facts (its `jti` is the row's id, so a receiver can
-- tell a retry). An instance leases a due row by pushing next_attempt_at
-- ahead before it posts, so one instance at a time delivers it. Times are
-- unix seconds.
create table logout_deliveries (
    id text primary key not null,
    client_id text not null,
    uri text not null,
    subject text not null,
    sid text not null,
    enqueued_at bigint not null,
    next_attempt_at bigint not null,
    attempts bigint not null default 0
);
create index logout_deliveries_due on logout_deliveries (next_attempt_at);
create index logout_deliveries_age on logout_deliveries (enqueued_at, id);

-- When the audit trail recorded that the key became `active` (by time, as
-- the schedule planned it); null until then. Keys present before this
-- migration count as recorded.
alter table signing_keys add column activation_recorded_at bigint;
update signing_keys set activation_recorded_at = activates_at;
