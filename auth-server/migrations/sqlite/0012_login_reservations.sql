-- Login attempts in flight (src/oauth/throttle.rs): an attempt takes its
-- place under each of its keys before its password is checked, and gives it
-- back when it is settled (its failure counted, or a success), so that
-- concurrent attempts can never check more passwords than `failures` still
-- allows. Times are unix seconds.
--
-- Attempts reserved and not yet settled.
alter table login_failures add column pending bigint not null default 0;
-- After this instant `pending` counts nothing: an attempt settles within
-- seconds, so places still held then belong to a process that died.
alter table login_failures add column pending_until bigint not null default 0;
