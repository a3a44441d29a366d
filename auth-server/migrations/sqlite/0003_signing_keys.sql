-- Signing keys live here rather than in KEYS_DIR, so that every instance of
-- one issuer agrees on them and rotation works where KEYS_DIR is a read-only
-- secret. The private key is sealed with AES-256-GCM under the key-encryption
-- key (KEY_ENCRYPTION_KEY), the kid as associated data: base64url of the
-- 96-bit nonce followed by the ciphertext and tag. A removed or revoked key
-- keeps its row with the sealed key erased (null), a tombstone of a few bytes
-- kept forever, so its kid can never come back (a re-import of its PEM, a
-- re-insert). Times are unix seconds, the key's walk
-- next → active → retiring → removed.

create table signing_keys (
    kid text primary key not null,
    public_jwk text not null,
    sealed_private_key text,
    created_at bigint not null,
    activates_at bigint not null,
    retires_at bigint,
    removed_at bigint
);

-- One row. Every change to signing_keys bumps `version` first, in the same
-- transaction: the bump takes the row's lock, so concurrent changers (other
-- instances, the CLI) take turns, and running servers poll this one row to
-- notice changes. `kek_id` identifies the key-encryption key the keys were
-- sealed with (a hash, not the key), so that an instance given another one
-- says so at start.
create table key_ring (
    id integer primary key not null check (id = 1),
    version bigint not null,
    kek_id text
);

insert into key_ring (id, version) values (1, 0);
