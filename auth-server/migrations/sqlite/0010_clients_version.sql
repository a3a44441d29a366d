-- Every change to `clients` bumps this in the same transaction. Running
-- servers read it in the one-row query that already polls the key version
-- each second, and drop the clients they remember when it moved, so a
-- `clients delete` reaches every instance within 2 seconds.
alter table key_ring add column clients_version bigint not null default 0;
