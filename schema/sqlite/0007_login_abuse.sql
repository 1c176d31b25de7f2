-- Version 7: logins that resist abuse. Two platform tables (no clinic_id: they are read
-- before any clinic is known, and belong to addresses and browsers, not to a clinic).

-- Counters per client address and time window, each bumped in one short transaction:
--   'failures'  failed log-ins in the address's current budget window (throttle.py);
--   'audited'   failed log-ins in the address's current hour, for the audit log's bound.
-- Rows of closed windows are deleted as new failures come in.
CREATE TABLE login_throttle (
    id           INTEGER  PRIMARY KEY,
    counter      TEXT     NOT NULL,
    address      TEXT     NOT NULL,
    window_start DATETIME NOT NULL,
    hits         INTEGER  NOT NULL DEFAULT 0,
    UNIQUE (counter, address, window_start)
);

-- The lockout of one device cookie (OWASP: lock out the device cookie after its own failures).
-- The nonce is the one signed into the cookie; the account's own failed_logins/locked_until
-- now count the failures of browsers without a valid device cookie for it.
CREATE TABLE device_lockouts (
    id            INTEGER  PRIMARY KEY,
    nonce         TEXT     NOT NULL UNIQUE,
    failed_logins INTEGER  NOT NULL DEFAULT 0,
    locked_until  DATETIME,
    updated_at    DATETIME NOT NULL
);
