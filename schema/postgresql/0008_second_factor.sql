-- Version 8 (PostgreSQL): the second factor (TOTP, RFC 6238) of staff and platform admins, and the clinic's
-- rule on who must have one.
--   totp_secret          the confirmed base32 secret; NULL: no second factor
--   totp_pending_secret  a secret being enrolled, until a code from it is typed
--   totp_last_step       the time step of the last accepted code: that code and older ones are
--                        refused, so a used code cannot be replayed
--   totp_failures        wrong codes in a row; the fifth locks the account like passwords do
--   recovery_codes       SHA-256 hashes of the unused one-time recovery codes, space-separated

ALTER TABLE users ADD COLUMN totp_secret TEXT;
ALTER TABLE users ADD COLUMN totp_pending_secret TEXT;
ALTER TABLE users ADD COLUMN totp_last_step INTEGER;
ALTER TABLE users ADD COLUMN totp_failures INTEGER NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN recovery_codes TEXT NOT NULL DEFAULT '';

ALTER TABLE platform_admins ADD COLUMN totp_secret TEXT;
ALTER TABLE platform_admins ADD COLUMN totp_pending_secret TEXT;
ALTER TABLE platform_admins ADD COLUMN totp_last_step INTEGER;
ALTER TABLE platform_admins ADD COLUMN totp_failures INTEGER NOT NULL DEFAULT 0;
ALTER TABLE platform_admins ADD COLUMN recovery_codes TEXT NOT NULL DEFAULT '';

-- none: nobody must; owners: owners must; staff: every staff member must.
ALTER TABLE clinics ADD COLUMN second_factor_required TEXT NOT NULL DEFAULT 'none'
    CHECK (second_factor_required IN ('none', 'owners', 'staff'));

-- No new table: users keeps its row-level security policy (version 6), and platform_admins and
-- clinics stay platform tables without one.
