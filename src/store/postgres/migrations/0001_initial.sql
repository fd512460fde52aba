-- hookd's first PostgreSQL schema. IDs are the 16 big-endian bytes of their
-- ULID (bytea compares bytewise, so byte order is ID order is time order);
-- times are milliseconds since the epoch; whole records are jsonb.

-- The log: one row per event, partitioned by day so retention drops whole
-- partitions instead of deleting rows. Partitions are created ahead of time
-- by the application (see schema.rs); created_ms is the time in the ID.
CREATE TABLE events (
    created_ms bigint NOT NULL,
    id bytea NOT NULL,
    account_id text,
    event_type text NOT NULL,
    record jsonb NOT NULL,
    PRIMARY KEY (created_ms, id)
) PARTITION BY RANGE (created_ms);
CREATE INDEX events_by_account ON events (account_id, created_ms, id);
CREATE INDEX events_by_type ON events (event_type, created_ms, id);

-- Every field of a delivery is a column, so bulk status changes (hold,
-- resume, cancel) stay single UPDATEs with no copy to keep in step.
-- claimed_by / claimed_until: the lease a node holds while it attempts it.
CREATE TABLE deliveries (
    id bytea PRIMARY KEY,
    event_id bytea NOT NULL,
    endpoint_id bytea NOT NULL,
    event_type text NOT NULL,
    status text NOT NULL,
    attempts integer NOT NULL,
    next_attempt_ms bigint,
    updated_ms bigint NOT NULL,
    claimed_by text,
    claimed_until bigint
);
CREATE INDEX deliveries_due ON deliveries (next_attempt_ms, id) WHERE status = 'pending';
CREATE INDEX deliveries_claimed ON deliveries (claimed_by) WHERE claimed_by IS NOT NULL;
CREATE INDEX deliveries_by_endpoint ON deliveries (endpoint_id, id DESC);
CREATE INDEX deliveries_by_event ON deliveries (event_id);
CREATE INDEX deliveries_by_status ON deliveries (status, id);

CREATE TABLE attempts (
    delivery_id bytea NOT NULL,
    n integer NOT NULL,
    record jsonb NOT NULL,
    PRIMARY KEY (delivery_id, n)
);

CREATE TABLE endpoints (
    id bytea PRIMARY KEY,
    account_id text,
    record jsonb NOT NULL
);
CREATE INDEX endpoints_by_account ON endpoints (account_id, id);

CREATE TABLE accounts (
    id text PRIMARY KEY,
    record jsonb NOT NULL
);

-- secret_hash: SHA-256 of the partner endpoint's shared secret, so a bearer
-- is found by one index lookup.
CREATE TABLE partners (
    id bytea PRIMARY KEY,
    endpoint_id bytea NOT NULL,
    secret_hash bytea NOT NULL UNIQUE,
    record jsonb NOT NULL
);

-- The primary key is what makes a key accepted once across every node.
CREATE TABLE idempotency (
    key text PRIMARY KEY,
    stored_ms bigint NOT NULL,
    answer jsonb NOT NULL
);
CREATE INDEX idempotency_by_age ON idempotency (stored_ms);

CREATE TABLE health (
    endpoint_id bytea PRIMARY KEY,
    consecutive_failures integer NOT NULL,
    failing_since_ms bigint
);

-- runner / lease_until: the node running a job, and until when; another
-- node takes the job over once the lease has run out.
CREATE TABLE replays (
    id bytea PRIMARY KEY,
    status text NOT NULL,
    job jsonb NOT NULL,
    runner text,
    lease_until bigint
);
CREATE INDEX replays_running ON replays (id) WHERE status = 'running';
