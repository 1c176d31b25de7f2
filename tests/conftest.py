"""Shared fixtures: an app on a temporary SQLite file, two clinics with rows in every tenant
table and a user of every role, logged-in clients, a real waitress server, a real browser.

With KARUSAKU_TEST_POSTGRES set (a postgresql:// URL of the app's role, karusaku_app),
KARUSAKU_TEST_POSTGRES_OWNER and _OPERATOR (the owner's and the operator's roles, docs/scaling.md)
and KARUSAKU_TEST_POSTGRES_ADMIN (a URL of a role that may create databases), each test's app
gets a fresh PostgreSQL database instead, owned by the owner and copied from a template migrated
once per session; tests/postgres_server.sh starts a throwaway cluster and prints them.
SQLite-only tests carry `sqlite_only(reason)` and skip there.

On SQLite each test's database is a file copy of a template migrated once per session, or, for
a test that asks for `world`, of one also seeded with the world once per session (and clinic-local
day). The suite's apps run with `synchronous=OFF` (no fsync: a test's database need not survive a
power cut); tests about durability carry `@pytest.mark.durable` and get the production pragmas.
"""
import copy
import itertools
import os
import re
import shutil
import threading
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, time
from urllib.parse import urlsplit

import pyotp
import pytest
import time_machine
from waitress import wasyncore
from waitress.server import create_server
from werkzeug.routing.rules import Rule

from karusaku import create_app
from karusaku.accounts import create_clinic, create_platform_admin, create_user
from karusaku.clock import TOKYO, today
from karusaku.db import migrations
from karusaku.db.connection import acting_as, database, open_database
from karusaku.db.tenancy import all_clinics, clinic_context
from karusaku.models import (
    Appointment,
    AuditLog,
    MedicalRecord,
    Patient,
    PlatformAdmin,
    RecordDraft,
    RecordTemplate,
    Therapist,
    User,
)
from karusaku.ops.postgres_copy import to_sqlite

POSTGRES_URL = os.environ.get("KARUSAKU_TEST_POSTGRES", "")
POSTGRES_ADMIN_URL = os.environ.get("KARUSAKU_TEST_POSTGRES_ADMIN", "")
POSTGRES_ROLE_URLS = {"OWNER_DATABASE": os.environ.get("KARUSAKU_TEST_POSTGRES_OWNER", ""),
                      "OPERATOR_DATABASE": os.environ.get("KARUSAKU_TEST_POSTGRES_OPERATOR", "")}
ON_POSTGRES = bool(POSTGRES_URL)
_test_owner = {}  # PostgreSQL: "db", the owner's connection to the current test's database
_test_world = {}  # SQLite: "rows", the world already in the current test's database
FAST_SQLITE = {"synchronous": "off"}  # the suite's pragmas; `durable` tests keep production's
CHEAP_ARGON2 = {"time_cost": 1, "memory_cost": 8, "parallelism": 1}


def _share_url_builders():
    """Werkzeug compiles two URL builders for each rule of each app (some 70% of create_app's
    time), and the suite makes an app per test: a builder is compiled once per rule and shared.
    It is code of the rule's text and defaults alone; all else it reads from the rule it is
    bound to (`self`)."""
    compile_builder, builders = Rule._compile_builder, {}

    def shared(self, append_unknown=True):
        key = (self.rule, self.host, self.subdomain, tuple(self._trace), append_unknown,
               tuple(sorted((name, repr(value)) for name, value in (self.defaults or {}).items())))
        if key not in builders:
            builders[key] = compile_builder(self, append_unknown)
        return builders[key]

    Rule._compile_builder = shared


_share_url_builders()


def sqlite_only(reason):
    """Mark a test (or, as `pytestmark`, a module) that checks SQLite itself."""
    return pytest.mark.skipif(ON_POSTGRES, reason=f"SQLite only: {reason}")


def travel(moment):
    """Stop the clock (time-machine) at a clinic-local moment, a naive Tokyo datetime."""
    return time_machine.travel(moment.replace(tzinfo=TOKYO), tick=False)


def role_urls(location):
    """The app config's OWNER_DATABASE and OPERATOR_DATABASE for the test database at location
    (PostgreSQL; nothing on SQLite)."""
    if not ON_POSTGRES:
        return {}
    return {key: urlsplit(url)._replace(path=urlsplit(location).path).geturl()
            for key, url in POSTGRES_ROLE_URLS.items()}


@contextmanager
def every_clinic():
    """all_clinics() as the test's own tools need it: on PostgreSQL on the owner's connection
    (someone with direct access to the database), since the app's role sees one clinic at most."""
    if not ON_POSTGRES:
        with all_clinics():
            yield
        return
    with acting_as("owner", _test_owner["db"]), all_clinics():
        yield


def run_sql(sql, params=()):
    """A raw statement as SQLite tests write it (? placeholders) on either database, seeing
    every clinic's rows: on PostgreSQL as the tables' owner (every_clinic())."""
    if ON_POSTGRES:
        sql = sql.replace("?", "%s")
    with every_clinic():
        return database.execute_sql(sql, params)


def insert_sql(sql, params=()):
    """run_sql for one INSERT; returns the new row's id."""
    if ON_POSTGRES:
        return run_sql(sql + " RETURNING id", params).fetchone()[0]
    return run_sql(sql, params).lastrowid


def live_rows(sql, params=()):
    """run_sql's rows, with values as SQLite holds them: comparable with a SQLite export."""
    return [tuple(map(to_sqlite, row)) for row in run_sql(sql, params).fetchall()]


def table_columns(table):
    """The live table's columns, in order."""
    if ON_POSTGRES:
        return [name for (name,) in run_sql(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = "
            "current_schema() AND table_name = ? ORDER BY ordinal_position", (table,)).fetchall()]
    return [row[1] for row in run_sql(f'PRAGMA table_info("{table}")').fetchall()]


def live_tables():
    """The live database's tables."""
    if ON_POSTGRES:
        return [name for (name,) in run_sql(
            "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()").fetchall()]
    return [name for (name,) in run_sql(
        "SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()]


@contextmanager
def trigger_off(table, name):
    """Tamper as someone with direct database access would: a guarding trigger is off for the
    block (SQLite: dropped and created again from its stored SQL; PostgreSQL: disabled)."""
    if ON_POSTGRES:
        run_sql(f"ALTER TABLE {table} DISABLE TRIGGER {name}")
        try:
            yield
        finally:
            run_sql(f"ALTER TABLE {table} ENABLE TRIGGER {name}")
        return
    sql = run_sql("SELECT sql FROM sqlite_master WHERE name = ?", (name,)).fetchone()[0]
    run_sql(f"DROP TRIGGER {name}")
    try:
        yield
    finally:
        run_sql(sql)


PASSWORD = "correct horse battery"
ADMIN_TOTP_SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"  # the world's operator's authenticator
ROLES = ("owner", "therapist", "receptionist")
CHROMIUM = "/usr/bin/chromium"


@dataclass
class ClinicRows:
    """One test clinic and a row of every tenant table in it."""

    code: str
    clinic: object = None
    users: dict = field(default_factory=dict)
    therapist: object = None
    patient: object = None
    appointment: object = None
    record: object = None
    template: object = None

    def ids(self):
        """URL argument name -> this clinic's object id."""
        return {"user_id": self.users["owner"].id, "patient_id": self.patient.id,
                "therapist_id": self.therapist.id, "appointment_id": self.appointment.id,
                "record_id": self.record.id, "rid": self.record.id,
                "template_id": self.template.id, "clinic_id": self.clinic.id}


def make_clinic(code, name, patient_name, plan="pro"):
    rows = ClinicRows(code)
    rows.clinic = create_clinic(code, name, plan, f"{code}-owner", PASSWORD)
    with clinic_context(rows.clinic.id):
        rows.users["owner"] = User.by_username(f"{code}-owner")
        for role in ("therapist", "receptionist"):
            rows.users[role] = create_user(f"{code}-{role}", PASSWORD, role)
        rows.therapist = Therapist.create(name=f"{name}の施術者", user=rows.users["therapist"])
        rows.patient = Patient.create(chart_number=1, name=patient_name,
                                      name_kana="ヤマダ タロウ", phone="090-0000-0000",
                                      date_of_birth=date(1980, 4, 1))
        rows.appointment = Appointment.create(
            patient=rows.patient, therapist=rows.therapist, duration_minutes=30,
            appointment_date=datetime.combine(today(), time(10, 0)), notes=f"{name}の予約メモ")
        rows.record = MedicalRecord.write(
            rows.patient, rows.users["therapist"], therapist=rows.therapist,
            appointment=rows.appointment, visit_date=today(), symptoms=f"{name}の症状")
        rows.template = RecordTemplate.create(field="treatment", title="肩", body=f"{name}の定型文")
        RecordDraft.keep(rows.users["owner"], rows.patient.id, None, {"symptoms": f"{name}の下書き"})
        AuditLog.append("test_row", "patient", rows.patient.id)
    return rows


class PostgresDatabases:
    """Databases for tests on one PostgreSQL server: a template migrated once, then a copy of
    it per test (CREATE DATABASE … TEMPLATE is much faster than running the migrations)."""

    def __init__(self, url, admin_url):
        import psycopg2

        if not admin_url or not all(POSTGRES_ROLE_URLS.values()):
            raise pytest.UsageError("KARUSAKU_TEST_POSTGRES_ADMIN (a URL of a role that may "
                                    "create databases), KARUSAKU_TEST_POSTGRES_OWNER and "
                                    "KARUSAKU_TEST_POSTGRES_OPERATOR must be set with "
                                    "KARUSAKU_TEST_POSTGRES (tests/postgres_server.sh prints them)")
        self.url = url
        self.role = urlsplit(POSTGRES_ROLE_URLS["OWNER_DATABASE"]).username
        self.admin = psycopg2.connect(admin_url)
        self.admin.autocommit = True
        # PostgreSQL 15's default, WAL_LOG, writes the whole copy to the WAL: 5x slower here.
        self.strategy = " STRATEGY FILE_COPY" if self.admin.server_version >= 150000 else ""
        self.names = (f"karusaku_test_{os.getpid()}_{n}" for n in itertools.count())
        self.template = f"karusaku_template_{os.getpid()}"
        self._run(f'DROP DATABASE IF EXISTS "{self.template}"')
        self._run(f'CREATE DATABASE "{self.template}" OWNER "{self.role}"')
        db = open_database(self.url_of(self.template, POSTGRES_ROLE_URLS["OWNER_DATABASE"]))
        migrations.upgrade(db=db)  # as the owner's role, like init-db
        db.close()

    def _run(self, sql):
        with self.admin.cursor() as cursor:
            cursor.execute(sql)

    def url_of(self, name, url=None):
        """The URL of database name for the app's role (or url's)."""
        return urlsplit(url or self.url)._replace(path=f"/{name}").geturl()

    def create(self, empty=False):
        """A fresh database for one test, migrated unless empty: (name, url)."""
        name = next(self.names)
        template = "template1" if empty else self.template
        self._run(f'CREATE DATABASE "{name}" TEMPLATE "{template}" OWNER "{self.role}"'
                  + self.strategy)
        return name, self.url_of(name)

    def drop(self, name):
        self._run(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def close(self):
        self.drop(self.template)
        self.admin.close()


class SqliteTemplates:
    """Databases for tests on SQLite: a template migrated once and one also seeded with the
    world (once per clinic-local day, as the world's appointment is today's), each copied per
    test: a file copy is much faster than migrating and seeding."""

    def __init__(self, folder):
        self.folder = folder
        self.migrated = None
        self.worlds = {}  # date -> (file, the world's rows)

    def copy(self, target, seeded=False):
        """Copy a template to target; the world's rows in it when seeded, else None."""
        if seeded:
            source, rows = self._seeded()
        else:
            source, rows = self._migrated(), None
        shutil.copyfile(source, target)
        return copy.deepcopy(rows)

    def _migrated(self):
        if self.migrated is None:
            path = self.folder / "migrated.db"
            with self._making(path):
                migrations.upgrade()
            self.migrated = path
        return self.migrated

    def _seeded(self):
        day = today()
        if day not in self.worlds:
            path = self.folder / f"world-{day}.db"
            shutil.copyfile(self._migrated(), path)
            with self._making(path):
                self.worlds[day] = (path, make_world())
        return self.worlds[day]

    @contextmanager
    def _making(self, path):
        """An app of the suite's settings on path for the block; then the file is whole
        without its -wal (checkpointed), ready to copy."""
        app = make_app(str(path))
        with app.app_context():
            yield
            database.execute_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        database.close()


@pytest.fixture(scope="session")
def sqlite_templates(tmp_path_factory):
    return SqliteTemplates(tmp_path_factory.mktemp("templates"))


@pytest.fixture(scope="session")
def postgres_databases():
    databases = PostgresDatabases(POSTGRES_URL, POSTGRES_ADMIN_URL)
    yield databases
    databases.close()


@pytest.fixture
def database_location(request, tmp_path):
    """Where the test's app keeps its data: a temporary SQLite file, or (PostgreSQL mode) the
    URL of a fresh database that is dropped after the test."""
    if not ON_POSTGRES:
        path = tmp_path / "karusaku.db"
        seeded = "world" in request.fixturenames
        _test_world["rows"] = request.getfixturevalue("sqlite_templates").copy(path, seeded)
        try:
            yield str(path)
        finally:
            _test_world.pop("rows", None)
        return
    databases = request.getfixturevalue("postgres_databases")
    name, url = databases.create()
    _test_owner["db"] = open_database(role_urls(url)["OWNER_DATABASE"])
    try:
        yield url
    finally:
        try:
            database.close()
            _test_owner.pop("db").close()
        finally:
            databases.drop(name)  # WITH (FORCE): also ends the live server threads' connections


def make_app(location, durable=False):
    """The suite's app on location: cheap password hashing and, unless durable, no fsync."""
    return create_app({
        "TESTING": True,
        "DATABASE": location,
        **role_urls(location),
        "SECRET_KEY": "test secret key",
        "ARGON2": CHEAP_ARGON2,
        "SQLITE_PRAGMAS": {} if durable else FAST_SQLITE,
    })


@pytest.fixture
def app(request, database_location):
    app = make_app(database_location, durable=request.node.get_closest_marker("durable") is not None)
    with app.app_context():
        migrations.upgrade()
    yield app
    database.close()


def make_world():
    """Clinics A and B and the platform's operator, in the current app's database."""
    a = make_clinic("clinic-a", "A整骨院", "山田 太郎")
    b = make_clinic("clinic-b", "B鍼灸院", "別院 花子")
    admin = create_platform_admin("operator", PASSWORD)
    PlatformAdmin.update(totp_secret=ADMIN_TOTP_SECRET).where(
        PlatformAdmin.id == admin.id).execute()
    return {"a": a, "b": b}


@pytest.fixture
def world(app):
    """Clinics A and B, each with users of every role and a row in every tenant table (on
    SQLite copied in with the database, see SqliteTemplates)."""
    if _test_world.get("rows") is not None:
        return _test_world["rows"]
    with app.app_context():
        return make_world()


def csrf_token(client, path="/login"):
    page = client.get(path, follow_redirects=True)
    match = re.search(r'<meta name="csrf-token" content="([^"]+)"', page.get_data(as_text=True))
    return match.group(1)


def login(client, clinic_code, username, password=PASSWORD, **extra):
    token = csrf_token(client)
    return client.post("/login", data={"clinic_code": clinic_code, "username": username,
                                       "password": password, "csrf_token": token, **extra})


def fresh_code(app, model, account_id, secret):
    """The authenticator's current code. Tests log in many times within one 30-second step,
    which the replay check refuses, so the account's last used step is forgotten first."""
    with app.app_context(), every_clinic():
        model.update(totp_last_step=None).where(model.id == account_id).execute()
    return pyotp.TOTP(secret).now()


def admin_login(client, password=PASSWORD, username="operator", app=None):
    """Log in at /admin/login and, when the password was right, at /admin/login/2fa with the
    world's operator's authenticator. The last answer."""
    app = app or client.application
    token = csrf_token(client, "/admin/login")
    response = client.post("/admin/login", data={"username": username, "password": password,
                                                 "csrf_token": token})
    if response.headers.get("Location") != "/admin/login/2fa":
        return response
    with app.app_context():
        admin = PlatformAdmin.by_username(username)
    code = fresh_code(app, PlatformAdmin, admin.id, ADMIN_TOTP_SECRET)
    return client.post("/admin/login/2fa", data={
        "code": code, "csrf_token": csrf_token(client, "/admin/login/2fa")})


class Session:
    """A logged-in test client that adds the CSRF token to every POST."""

    def __init__(self, client):
        self.client = client
        self.token = csrf_token(client, "/account/password")

    def get(self, path, **kwargs):
        return self.client.get(path, **kwargs)

    def post(self, path, data=None, **kwargs):
        return self.client.post(path, data={"csrf_token": self.token, **(data or {})}, **kwargs)


@pytest.fixture
def as_user(app, world):
    """as_user('a', 'owner') -> a Session logged in as clinic A's owner."""

    def make(clinic_key, role):
        rows = world[clinic_key]
        client = app.test_client()
        response = login(client, rows.code, rows.users[role].username)
        assert response.status_code == 303, response.get_data(as_text=True)
        return Session(client)

    return make


class LiveServer:
    """A real waitress server for the app on a free loopback port, in a thread."""

    def __init__(self, app):
        self.server = create_server(app, host="127.0.0.1", port=0, threads=8,
                                    clear_untrusted_proxy_headers=True)
        self.url = f"http://127.0.0.1:{self.server.effective_port}"
        self.stopping = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        try:
            self.server.run()
        except OSError:  # the loop's select() on a socket closed by stop()
            if not self.stopping:
                raise

    def stop(self):
        self.stopping = True
        # Close every socket from within the loop: its select() returns now, not after 1 s.
        self.server.trigger.pull_trigger(lambda: wasyncore.close_all(self.server._map))
        self.thread.join(timeout=5)
        self.server.task_dispatcher.shutdown()


@pytest.fixture
def live_server(app):
    """The app served by a real waitress server on a free loopback port; yields its URL."""
    server = LiveServer(app)
    yield server.url
    server.stop()


@pytest.fixture(scope="session")
def chromium():
    """A headless Debian Chromium driven by Playwright; skipped (locally) when it is absent."""
    if not os.path.exists(CHROMIUM):
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} is missing in CI: .ci/run should install chromium")
        pytest.skip(f"browser tests need Debian's chromium at {CHROMIUM} (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        yield browser
        browser.close()


def _page(chromium, width, height):
    context = chromium.new_context(viewport={"width": width, "height": height}, locale="ja-JP")
    yield context.new_page()
    context.close()


@pytest.fixture
def tablet(chromium):
    """A page at 768×1024, a portrait tablet (the front desk)."""
    yield from _page(chromium, 768, 1024)


@pytest.fixture
def landscape(chromium):
    """A page at 1024×768, a tablet on its side (the treatment room)."""
    yield from _page(chromium, 1024, 768)


@pytest.fixture
def screenshot_dir(tmp_path):
    """Where browser tests save screenshots: $KARUSAKU_SCREENSHOTS (e.g. docs/screenshots) or a temp dir."""
    target = os.environ.get("KARUSAKU_SCREENSHOTS") or str(tmp_path / "screenshots")
    os.makedirs(target, exist_ok=True)
    return target


@pytest.fixture
def full(app, world):
    """Clinics A and B with several rows in every tenant table, B's with text only B has."""
    with app.app_context():
        for key, marker in (("a", "エー"), ("b", "ビーだけ")):
            rows = world[key]
            with clinic_context(rows.clinic.id):
                for n in range(5):
                    patient = Patient.register(name=f"{marker}患者{n}", name_kana=f"{marker}{n}",
                                               phone=f"0{n}0-{marker}", address=f"{marker}市{n}")
                    Appointment.create(patient=patient, therapist=rows.therapist,
                                       duration_minutes=30, notes=f"{marker}メモ{n}",
                                       appointment_date=datetime(2026, 1, 5 + n, 10))
                    MedicalRecord.write(patient, rows.users["therapist"], therapist=rows.therapist,
                                        visit_date=date(2026, 1, 5 + n), symptoms=f"{marker}症状{n}")
    return world
