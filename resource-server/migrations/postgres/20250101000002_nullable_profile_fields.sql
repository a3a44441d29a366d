-- `email` and `name` come from the token's claims, and a token carries them
-- only when the user let the client see them (the `email` / `profile`
-- scopes) or the client is first-party. A profile made from a token
-- without them stores null, filled in by a later token that has them.
alter table profiles alter column email drop not null;
alter table profiles alter column name drop not null;
