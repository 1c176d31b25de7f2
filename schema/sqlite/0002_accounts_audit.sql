-- Version 2: what accounts need (lockout, disabling, server-side sessions, platform admins)
-- and the append-only, hash-chained audit log.

ALTER TABLE users ADD COLUMN is_active INTEGER NOT NULL DEFAULT 1;
ALTER TABLE users ADD COLUMN failed_logins INTEGER NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN locked_until DATETIME;

CREATE TABLE platform_admins (
    id            INTEGER PRIMARY KEY,
    username      TEXT    NOT NULL UNIQUE,
    password      TEXT    NOT NULL,
    is_active     INTEGER NOT NULL DEFAULT 1,
    failed_logins INTEGER NOT NULL DEFAULT 0,
    locked_until  DATETIME,
    created_at    DATETIME NOT NULL,
    last_login    DATETIME
);

-- One row per logged-in device. The cookie holds a random token; only its hash is stored,
-- so deleting the row ends every copy of that cookie.
CREATE TABLE login_sessions (
    id           INTEGER PRIMARY KEY,
    token_hash   TEXT    NOT NULL UNIQUE,
    user_id      INTEGER REFERENCES users (id) ON DELETE CASCADE,
    admin_id     INTEGER REFERENCES platform_admins (id) ON DELETE CASCADE,
    clinic_id    INTEGER REFERENCES clinics (id),
    created_at   DATETIME NOT NULL,
    last_seen_at DATETIME NOT NULL,
    ip           TEXT    NOT NULL DEFAULT '',
    user_agent   TEXT    NOT NULL DEFAULT '',
    CHECK ((user_id IS NULL) <> (admin_id IS NULL))
);
CREATE INDEX idx_login_sessions_user ON login_sessions (user_id);
CREATE INDEX idx_login_sessions_admin ON login_sessions (admin_id);

-- Each row carries the hash of the previous row of its clinic (prev_hash) and its own
-- (row_hash), so an altered or removed row breaks the chain.
CREATE TABLE audit_log (
    id          INTEGER PRIMARY KEY,
    clinic_id   INTEGER NOT NULL REFERENCES clinics (id),
    user_id     INTEGER,
    username    TEXT    NOT NULL DEFAULT '',
    action      TEXT    NOT NULL,
    object_type TEXT    NOT NULL DEFAULT '',
    object_id   INTEGER,
    detail      TEXT    NOT NULL DEFAULT '',
    ip          TEXT    NOT NULL DEFAULT '',
    created_at  DATETIME NOT NULL,
    prev_hash   TEXT    NOT NULL,
    row_hash    TEXT    NOT NULL
);
CREATE INDEX idx_audit_log_clinic_id ON audit_log (clinic_id, id);
CREATE INDEX idx_audit_log_clinic_object ON audit_log (clinic_id, object_type, object_id);

CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only');
END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only');
END;
-- INSERT OR REPLACE deletes without firing delete triggers (unless recursive_triggers is on).
CREATE TRIGGER audit_log_no_replace BEFORE INSERT ON audit_log
WHEN EXISTS (SELECT 1 FROM audit_log WHERE id = NEW.id)
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only');
END;

-- Events that belong to no clinic: platform-admin log-ins and log-ins naming an unknown clinic.
CREATE TABLE platform_audit_log (
    id          INTEGER PRIMARY KEY,
    admin_id    INTEGER,
    username    TEXT    NOT NULL DEFAULT '',
    action      TEXT    NOT NULL,
    object_type TEXT    NOT NULL DEFAULT '',
    object_id   INTEGER,
    detail      TEXT    NOT NULL DEFAULT '',
    ip          TEXT    NOT NULL DEFAULT '',
    created_at  DATETIME NOT NULL,
    prev_hash   TEXT    NOT NULL,
    row_hash    TEXT    NOT NULL
);

CREATE TRIGGER platform_audit_log_no_update BEFORE UPDATE ON platform_audit_log
BEGIN
    SELECT RAISE(ABORT, 'platform_audit_log is append-only');
END;
CREATE TRIGGER platform_audit_log_no_delete BEFORE DELETE ON platform_audit_log
BEGIN
    SELECT RAISE(ABORT, 'platform_audit_log is append-only');
END;
CREATE TRIGGER platform_audit_log_no_replace BEFORE INSERT ON platform_audit_log
WHEN EXISTS (SELECT 1 FROM platform_audit_log WHERE id = NEW.id)
BEGIN
    SELECT RAISE(ABORT, 'platform_audit_log is append-only');
END;
