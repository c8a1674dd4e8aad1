-- Append-only, hash-chained audit log. Portable SQL: the same file runs on SQLite and PostgreSQL.
-- Timestamps are Unix microseconds (BIGINT) so both backends compare and order them alike.
CREATE TABLE audit_events (
    seq BIGINT PRIMARY KEY,
    occurred_at_us BIGINT NOT NULL,
    user_id BIGINT,
    event TEXT NOT NULL,
    status TEXT NOT NULL,
    details TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
);

CREATE INDEX audit_events_user_seq ON audit_events (user_id, seq);
CREATE INDEX audit_events_time ON audit_events (occurred_at_us);

-- The chain head: lets a writer find it without scanning, and lets `verify` notice a truncated tail.
CREATE TABLE audit_head (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    seq BIGINT NOT NULL,
    hash TEXT NOT NULL
);

INSERT INTO audit_head (id, seq, hash)
VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000');
