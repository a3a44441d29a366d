-- Runs once, when the PostgreSQL volume is first initialised (the official
-- image runs /docker-entrypoint-initdb.d/*.sql then). POSTGRES_DB already
-- created the auth-server's database `auth`; this adds the resource-server's.
-- The two services never share tables: each owns its database and runs its
-- own migrations on start.
CREATE DATABASE resource;
