-- Version 6 (PostgreSQL only): row-level security, rule 6 of the design's tenancy rules.
-- The app scopes every tenant query to the current clinic in Python (tenancy.TenantModel);
-- these policies repeat that inside the database, so that even a raw query without a clinic_id
-- filter sees, changes and adds only the current clinic's rows.
--
-- The app tells each connection its clinic before each statement (db.PostgresDatabase):
--   karusaku.clinic_id    the current clinic's id, '' when there is none: no rows at all
--   karusaku.all_clinics  'on' inside tenancy.all_clinics() (platform counts, backups,
--                         migrations, the data generator): every clinic's rows
-- FORCE applies the policies to the tables' owner too (the app's role owns them when it runs
-- the migrations). A superuser or a BYPASSRLS role skips them: the app refuses to start as one.
-- clinics, platform_admins, login_sessions, platform_audit_log and schema_migrations are
-- platform tables without policies. A later migration that adds a tenant table adds its policy.

CREATE FUNCTION karusaku_clinic_id() RETURNS integer LANGUAGE sql STABLE AS $$
    SELECT NULLIF(current_setting('karusaku.clinic_id', true), '')::integer
$$;

CREATE FUNCTION karusaku_all_clinics() RETURNS boolean LANGUAGE sql STABLE AS $$
    SELECT COALESCE(current_setting('karusaku.all_clinics', true), '') = 'on'
$$;

-- (SELECT f()) is computed once per statement (an InitPlan), not once per row.
DO $$
DECLARE
    tenant_table text;
BEGIN
    FOREACH tenant_table IN ARRAY ARRAY[
        'users', 'patients', 'therapists', 'appointments', 'medical_records',
        'record_revisions', 'record_drafts', 'record_templates', 'audit_log'
    ] LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', tenant_table);
        EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', tenant_table);
        EXECUTE format(
            'CREATE POLICY clinic_isolation ON %I '
            'USING (clinic_id = (SELECT karusaku_clinic_id()) OR (SELECT karusaku_all_clinics())) '
            'WITH CHECK (clinic_id = (SELECT karusaku_clinic_id()) OR (SELECT karusaku_all_clinics()))',
            tenant_table);
    END LOOP;
END;
$$;
