-- The device authorization grant (RFC 8628): one row per device_code.
-- Both codes are stored only as SHA-256 digests, like every credential.
create table device_codes (
    device_code_hash text primary key not null,
    -- The digest of the user code as typed on /oauth/device once normalised
    -- (8 letters, upper case, no dash); unique among the codes still stored.
    user_code_hash text not null unique,
    client_id text not null references clients (id) on delete cascade,
    -- What the device asked for, already within the client's registration.
    scope text not null,
    -- RFC 8707: the resource its access token is for; null is AUDIENCE.
    resource text,
    -- pending, approved, denied, or issued (tokens handed out, once).
    status text not null,
    -- The user who approved or denied.
    user_id text references users (id) on delete cascade,
    -- Seconds the device must wait between polls; slow_down adds 5, here so
    -- that every instance agrees on it.
    interval_secs bigint not null,
    last_polled_at bigint,
    created_at bigint not null,
    expires_at bigint not null
);

create index device_codes_expiry on device_codes (expires_at);
