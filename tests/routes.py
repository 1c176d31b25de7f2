"""Walking the app's URL map: every route and method, with ids filled in from a clinic; and
who may use each route, written from the design, not read from the views."""
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


# Who may use each route: ../shared/design.md's table of roles (receptionists book, register
# patients and check them in, never read record content; therapists see the schedule, open charts,
# write records, never manage staff or the clinic; owners do everything, plus staff accounts,
# settings, plan usage, export, audit log) and the issues that settled the rest (#3/#4: receptionists
# and owners manage therapists, therapists read the schedule, patients and therapists and change
# an appointment's status; #4: the owner keeps the 定型文; #5: reports are for owners).
# A new route needs a row here, or test_every_route_has_a_row_in_the_role_table fails.
OWNER = frozenset({"owner"})
FRONT_DESK = frozenset({"owner", "receptionist"})
CLINICAL = frozenset({"owner", "therapist"})
EVERY_ROLE = frozenset({"owner", "therapist", "receptionist"})
PUBLIC = "public"  # no login needed (log-in pages, /healthz)
ADMIN = "admin"  # the platform admin's pages: 404 for clinic users

WHO_MAY = {
    "GET /": EVERY_ROLE,
    "GET /healthz": PUBLIC,
    # log in and out, one's own password
    "GET /login": PUBLIC,
    "POST /login": PUBLIC,
    "POST /logout": PUBLIC,
    "GET /account/password": EVERY_ROLE,
    "POST /account/password": EVERY_ROLE,
    # the second factor: the code after the password, one's own enrolment
    "GET /login/2fa": PUBLIC,
    "POST /login/2fa": PUBLIC,
    "GET /account/2fa": EVERY_ROLE,
    "POST /account/2fa": EVERY_ROLE,
    "POST /account/2fa/disable": EVERY_ROLE,
    # the schedule and appointments
    "GET /schedule": EVERY_ROLE,
    "GET /schedule/week": EVERY_ROLE,
    "GET /appointments/new": FRONT_DESK,
    "POST /appointments": FRONT_DESK,
    "GET /appointments/<int:appointment_id>": EVERY_ROLE,
    "POST /appointments/<int:appointment_id>": FRONT_DESK,
    "POST /appointments/<int:appointment_id>/status": EVERY_ROLE,
    # patients
    "GET /patients": EVERY_ROLE,
    "GET /patients/pick": EVERY_ROLE,
    "GET /patients/new": FRONT_DESK,
    "POST /patients": FRONT_DESK,
    "GET /patients/<int:patient_id>": EVERY_ROLE,
    "GET /patients/<int:patient_id>/edit": FRONT_DESK,
    "POST /patients/<int:patient_id>": FRONT_DESK,
    # records: clinical content
    "GET /patients/<int:patient_id>/records": CLINICAL,
    "POST /patients/<int:patient_id>/records": CLINICAL,
    "GET /patients/<int:patient_id>/records/new": CLINICAL,
    "GET /patients/<int:patient_id>/records/print": CLINICAL,
    "POST /patients/<int:patient_id>/records/draft": CLINICAL,
    "POST /patients/<int:patient_id>/records/draft/discard": CLINICAL,
    "GET /records/<int:record_id>": CLINICAL,
    "POST /records/<int:record_id>": CLINICAL,
    "GET /records/<int:record_id>/edit": CLINICAL,
    "POST /records/<int:record_id>/draft": CLINICAL,
    "GET /records/<int:record_id>/history": CLINICAL,
    "POST /records/<int:record_id>/delete": CLINICAL,
    "GET /record-templates": OWNER,
    "POST /record-templates": OWNER,
    "POST /record-templates/<int:template_id>": OWNER,
    "POST /record-templates/<int:template_id>/delete": OWNER,
    # therapists
    "GET /therapists": EVERY_ROLE,
    "GET /therapists/<int:therapist_id>": EVERY_ROLE,
    "GET /therapists/new": FRONT_DESK,
    "POST /therapists": FRONT_DESK,
    "POST /therapists/<int:therapist_id>": FRONT_DESK,
    "POST /therapists/<int:therapist_id>/status": FRONT_DESK,
    # the clinic: staff, settings, export, audit log, reports
    "GET /users": OWNER,
    "POST /users": OWNER,
    "POST /users/<int:user_id>/active": OWNER,
    "POST /users/<int:user_id>/password": OWNER,
    "POST /users/<int:user_id>/second-factor/reset": OWNER,
    "GET /settings": OWNER,
    "POST /settings": OWNER,
    "POST /settings/second-factor": OWNER,
    "GET /settings/export": OWNER,
    "GET /audit": OWNER,
    "GET /audit.csv": OWNER,
    "GET /reports": OWNER,
    # the platform admin
    "GET /admin": ADMIN,
    "GET /admin/login": ADMIN,
    "POST /admin/login": ADMIN,
    "GET /admin/login/2fa": ADMIN,
    "POST /admin/login/2fa": ADMIN,
    "POST /admin/logout": ADMIN,
    "GET /admin/clinics/new": ADMIN,
    "POST /admin/clinics": ADMIN,
    "GET /admin/clinics/<int:clinic_id>": ADMIN,
    "POST /admin/clinics/<int:clinic_id>/plan": ADMIN,
    "POST /admin/clinics/<int:clinic_id>/status": ADMIN,
    "POST /admin/clinics/<int:clinic_id>/second-factor/reset": ADMIN,
}


def route_key(rule, method):
    """The route's row in WHO_MAY: 'METHOD /rule'."""
    return f"{method} {rule.rule}"


def who_may(rule, method):
    return WHO_MAY[route_key(rule, method)]


def is_staff_route(rule):
    """A route for logged-in clinic staff (every method of it has roles in WHO_MAY)."""
    return all(isinstance(WHO_MAY.get(route_key(rule, method)), frozenset)
               for method in rule.methods - {"HEAD", "OPTIONS"})


def is_clinic_page(rule):
    """A staff route with the clinic's data (not /account/…, one's own login settings)."""
    return is_staff_route(rule) and not rule.rule.startswith("/account/")
