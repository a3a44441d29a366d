-- Two registrations a client may carry, added together so that the work on
-- DPoP (RFC 9449) and on back-channel logout builds on one clients table.

-- Every token request of this client must carry a DPoP proof
-- (`clients create --dpop-bound`).
alter table clients add column dpop_bound integer not null default 0;

-- Where a logout_token is posted when a session in which the client got
-- tokens ends (OpenID Connect Back-Channel Logout 1.0).
alter table clients add column backchannel_logout_uri text;
