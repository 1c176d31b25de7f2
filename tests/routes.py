"""Walking the app's URL map: every route and method, with ids filled in from a clinic."""
from .conftest import run_sql

SKIPPED_ENDPOINTS = {"static"}
TENANT_TABLES = ["users", "patients", "therapists", "appointments", "medical_records",
                 "record_revisions", "record_drafts", "record_templates", "audit_log"]


def routes(app, prefix=None):
    """(rule, method) for every route of the app, optionally only those under a URL prefix."""
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: (r.rule, r.endpoint)):
        if rule.endpoint in SKIPPED_ENDPOINTS:
            continue
        if prefix is not None and not rule.rule.startswith(prefix):
            continue
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            yield rule, method


def url(app, rule, ids):
    """The rule's URL with every argument taken from ids (a KeyError names a missing mapping)."""
    missing = set(rule.arguments) - set(ids)
    assert not missing, f"{rule.rule}: add test ids for {missing} in tests/conftest.py"
    adapter = app.url_map.bind("localhost")
    return adapter.build(rule.endpoint, {arg: ids[arg] for arg in rule.arguments})


def request(session, method, path):
    if method == "GET":
        return session.get(path)
    return session.post(path, data={})


def snapshot(clinic_id):
    """Every row of every tenant table of one clinic, to prove a walk changed nothing."""
    tables = {}
    for table in TENANT_TABLES:
        cursor = run_sql(f"SELECT * FROM {table} WHERE clinic_id = ? ORDER BY id",
                                      (clinic_id,))
        tables[table] = cursor.fetchall()
    return tables


PUBLIC_BLUEPRINTS = {"auth", "health"}  # log-in pages and /healthz need no login


def is_staff_route(rule):
    return (not rule.rule.startswith("/admin")
            and rule.endpoint.split(".")[0] not in PUBLIC_BLUEPRINTS)
