-- Version 9 (PostgreSQL only): row-level security that the app's role cannot switch off.
--
-- Three roles (docs/scaling.md, "The roles"; made by the database's superuser beforehand):
--   karusaku_owner     owns the tables and runs the migrations (this file runs as it), BYPASSRLS
--   karusaku_operator  backups, exports, imports, verify-audit, creating clinics: every clinic's
--                      rows (BYPASSRLS), no ownership, no DDL, never changes an audit row
--   karusaku_app       the web app: the rows of the clinic named by karusaku.clinic_id only,
--                      the data privileges it uses and nothing else
-- The escape setting karusaku.all_clinics is gone: seeing every clinic is a role's attribute,
-- not a setting a statement can flip. The admin pages' counts come from the SECURITY DEFINER
-- functions below, which return counts only.
--
-- A later migration that creates a table gets the default privileges set here (the app and the
-- operator may read and change it); an append-only table REVOKEs UPDATE and DELETE again, a
-- table of a clinic adds its clinic_isolation policy as below.

DO $$
BEGIN
    IF (SELECT count(*) FROM pg_roles
        WHERE rolname IN ('karusaku_app', 'karusaku_operator')) < 2 THEN
        RAISE EXCEPTION 'the roles karusaku_app and karusaku_operator do not exist: create them '
                        'first (docs/scaling.md, "The roles")';
    END IF;
    IF pg_has_role('karusaku_app', current_user, 'MEMBER') THEN
        RAISE EXCEPTION 'karusaku_app may act as % (the owner): it must not', current_user;
    END IF;
END;
$$;

-- Every policy that honoured the escape setting now reads the clinic alone.
DO $$
DECLARE
    guarded record;
BEGIN
    FOR guarded IN
        SELECT tablename, policyname FROM pg_policies
        WHERE schemaname = current_schema()
          AND (qual LIKE '%karusaku_all_clinics%' OR with_check LIKE '%karusaku_all_clinics%')
    LOOP
        EXECUTE format('DROP POLICY %I ON %I', guarded.policyname, guarded.tablename);
        EXECUTE format(
            'CREATE POLICY %I ON %I '
            'USING (clinic_id = (SELECT karusaku_clinic_id())) '
            'WITH CHECK (clinic_id = (SELECT karusaku_clinic_id()))',
            guarded.policyname, guarded.tablename);
    END LOOP;
END;
$$;
DROP FUNCTION karusaku_all_clinics();

-- The schema's objects belong to the owner: nobody else creates, alters or drops them.
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
REVOKE ALL ON ALL TABLES IN SCHEMA public FROM PUBLIC, karusaku_app, karusaku_operator;
REVOKE ALL ON ALL SEQUENCES IN SCHEMA public FROM PUBLIC, karusaku_app, karusaku_operator;

-- The app: reads and writes rows, nothing more (no TRUNCATE, REFERENCES or TRIGGER).
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO karusaku_app;
REVOKE UPDATE, DELETE ON audit_log, platform_audit_log, record_revisions FROM karusaku_app;
REVOKE INSERT, UPDATE, DELETE ON schema_migrations FROM karusaku_app;
GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO karusaku_app;

-- The operator: every clinic's rows; an import replaces a clinic's rows (revisions included,
-- never audit rows) and moves the identity sequences past the ids it brought.
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO karusaku_operator;
REVOKE UPDATE, DELETE ON audit_log, platform_audit_log FROM karusaku_operator;
REVOKE UPDATE ON record_revisions FROM karusaku_operator;
REVOKE INSERT, UPDATE, DELETE ON schema_migrations FROM karusaku_operator;
GRANT SELECT, USAGE, UPDATE ON ALL SEQUENCES IN SCHEMA public TO karusaku_operator;

-- Tables and sequences that later migrations (run as the owner) create.
ALTER DEFAULT PRIVILEGES IN SCHEMA public
    GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO karusaku_app, karusaku_operator;
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE ON SEQUENCES TO karusaku_app;
ALTER DEFAULT PRIVILEGES IN SCHEMA public
    GRANT SELECT, USAGE, UPDATE ON SEQUENCES TO karusaku_operator;

-- The platform admin's counts, per clinic, for its pages: numbers only, no row. They run as
-- the owner (which row-level security does not hold back), with the search path pinned.
CREATE FUNCTION karusaku_clinic_counts(month_start timestamp)
RETURNS TABLE (clinic_id integer, patients bigint, therapists bigint,
               records_this_month bigint, staff bigint)
LANGUAGE sql STABLE SECURITY DEFINER AS $$
    SELECT c.id,
           (SELECT count(*) FROM patients p WHERE p.clinic_id = c.id),
           (SELECT count(*) FROM therapists t WHERE t.clinic_id = c.id AND t.status = 'active'),
           (SELECT count(*) FROM medical_records m
            WHERE m.clinic_id = c.id AND m.created_at >= month_start),
           (SELECT count(*) FROM users u WHERE u.clinic_id = c.id AND u.is_active)
    FROM clinics c
$$;

-- Each clinic's rows across every table of a clinic (the tables under row-level security).
CREATE FUNCTION karusaku_rows_per_clinic()
RETURNS TABLE (clinic_id integer, row_count bigint)
LANGUAGE plpgsql STABLE SECURITY DEFINER AS $$
DECLARE
    tenant_table text;
BEGIN
    FOR tenant_table IN
        SELECT c.relname FROM pg_class c
        WHERE c.relnamespace = current_schema()::regnamespace AND c.relkind = 'r'
          AND c.relrowsecurity
    LOOP
        RETURN QUERY EXECUTE format(
            'SELECT clinic_id, count(*) FROM %I GROUP BY clinic_id', tenant_table);
    END LOOP;
END;
$$;

DO $$
BEGIN
    EXECUTE format('ALTER FUNCTION karusaku_clinic_counts(timestamp) SET search_path = %I, pg_temp',
                   current_schema());
    EXECUTE format('ALTER FUNCTION karusaku_rows_per_clinic() SET search_path = %I, pg_temp',
                   current_schema());
END;
$$;
REVOKE EXECUTE ON FUNCTION karusaku_clinic_counts(timestamp), karusaku_rows_per_clinic() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION karusaku_clinic_counts(timestamp), karusaku_rows_per_clinic()
    TO karusaku_app, karusaku_operator;
