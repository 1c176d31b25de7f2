-- Version 7 (PostgreSQL): logins that resist abuse. Two platform tables (no clinic_id: they
-- are read before any clinic is known, and belong to addresses and browsers, not to a clinic),
-- so no row-level security policy: the app's role reads and writes them whatever clinic its
-- connection is set to (as login_sessions).

-- Counters per client address and time window, each bumped in one short transaction
-- (INSERT ... ON CONFLICT DO UPDATE, so app processes cannot lose each other's counts):
--   'failures'  failed log-ins in the address's current budget window (throttle.py);
--   'audited'   failed log-ins in the address's current hour, for the audit log's bound.
CREATE TABLE login_throttle (
    counter      TEXT      NOT NULL,
    address      TEXT      NOT NULL,
    window_start TIMESTAMP NOT NULL,
    hits         INTEGER   NOT NULL DEFAULT 0,
    PRIMARY KEY (counter, address, window_start)
);

-- The lockout of one device cookie (OWASP: lock out the device cookie after its own failures).
CREATE TABLE device_lockouts (
    nonce         TEXT      PRIMARY KEY,
    failed_logins INTEGER   NOT NULL DEFAULT 0,
    locked_until  TIMESTAMP,
    updated_at    TIMESTAMP NOT NULL
);
