-- Version 10 (PostgreSQL only): the clinic of a connection needs a proof the app's role cannot
-- make from SQL.
--
-- karusaku.clinic_id is a setting any statement may change, so the policies no longer take it
-- alone: karusaku_clinic_id() gives the clinic only when karusaku.clinic_proof is
-- HMAC-SHA256(key, '<clinic id>:<backend pid>') in hex, and NULL (no rows) otherwise. The key
-- lives in karusaku_secret, which only the owner reads; init-db (migrations.upgrade) writes it
-- there, derived from the app's secret key (clinic_proof.py), and the app computes the same
-- proofs in Python. A proof is bound to its connection's backend, so one read from another
-- session's query text (pg_stat_activity) proves nothing on the reader's own.
-- Until init-db writes the app's key, the row holds a random one: no proof matches, no rows.

CREATE TABLE karusaku_secret (
    only_row boolean PRIMARY KEY DEFAULT true CHECK (only_row),
    inner_pad bytea NOT NULL,  -- the key, zero-padded to 64 bytes, XOR 0x36 (HMAC's ipad)
    outer_pad bytea NOT NULL   -- the same, XOR 0x5c (opad)
);
REVOKE ALL ON karusaku_secret FROM PUBLIC, karusaku_app, karusaku_operator;
INSERT INTO karusaku_secret (inner_pad, outer_pad)
SELECT sha256(convert_to(gen_random_uuid()::text, 'UTF8')) || sha256(convert_to(random()::text, 'UTF8')),
       sha256(convert_to(gen_random_uuid()::text, 'UTF8')) || sha256(convert_to(random()::text, 'UTF8'));

-- Replaced in place: the policies keep calling it (they name the function, not its text).
-- PL/pgSQL keeps its plans for the session (a SQL function with SECURITY DEFINER would plan its
-- body in every statement); the policies call it once per statement, as an InitPlan.
CREATE OR REPLACE FUNCTION karusaku_clinic_id() RETURNS integer
LANGUAGE plpgsql STABLE SECURITY DEFINER AS $$
DECLARE
    claimed integer := NULLIF(current_setting('karusaku.clinic_id', true), '')::integer;
BEGIN
    IF claimed IS NULL OR NOT EXISTS (
        SELECT FROM karusaku_secret s
        WHERE current_setting('karusaku.clinic_proof', true) = encode(sha256(s.outer_pad
              || sha256(s.inner_pad || convert_to(claimed || ':' || pg_backend_pid(), 'UTF8'))),
              'hex')) THEN
        RETURN NULL;
    END IF;
    RETURN claimed;
END;
$$;

DO $$
BEGIN
    EXECUTE format('ALTER FUNCTION karusaku_clinic_id() SET search_path = %I, pg_temp',
                   current_schema());
END;
$$;
