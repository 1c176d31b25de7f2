"""The database: one proxy for all models, per-thread connections, start-up checks, locks.

`KARUSAKU_DATABASE` is a file path (SQLite) or a `postgresql://` URL (PostgreSQL). Each
waitress thread keeps its own connection (peewee keeps connection state per thread), opened on
the thread's first request, never shared between threads.

SQLite: WAL, synchronous=FULL, foreign keys, and write transactions that begin IMMEDIATE, so
writers queue. The app's connections open an existing file only: nothing but `init-db`
(`create_missing_file`) makes a database, and start-up refuses a file it could not serve
before anything is written beside it (`check_sqlite_file`).

PostgreSQL: READ COMMITTED, autocommit outside `atomic()`, row-level security keyed on the
connection's setting `karusaku.clinic_id`, which every statement first brings in line with the
tenancy context (see `PostgresDatabase`). The app connects as a role that the policies hold
(`check_safety`); platform work that must see every clinic runs on a connection of the
operator's or the owner's role instead (`platform_role`).
"""
import os
import re
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import datetime
from urllib.parse import quote

from flask import current_app
from peewee import (
    DatabaseError,
    DatabaseProxy,
    InterfaceError,
    OperationalError,
    PeeweeException,
    PostgresqlDatabase,
    SqliteDatabase,
    sqlite3,
)

from ..japanese import normalize_kana, normalize_phone
from ..settings import StartupRefused
from . import clinic_proof
from .tenancy import NoClinicInContext, current_scope

_platform_database = ContextVar("platform_database", default=None)


class RoleProxy(DatabaseProxy):
    """The database every model uses: the app's, or inside `platform_role()` (in that context
    only, so other threads keep the app's) the operator's or owner's connection."""

    __slots__ = ("_app_database",)

    @property
    def obj(self):
        platform = _platform_database.get()
        return self._app_database if platform is None else platform[1]

    @obj.setter
    def obj(self, value):
        object.__setattr__(self, "_app_database", value)

    def __setattr__(self, attr, value):
        object.__setattr__(self, attr, value)


database = RoleProxy()

SQLITE_PRAGMAS = {
    "journal_mode": "wal",
    "synchronous": "full",  # a saved record survives a power cut
    "foreign_keys": 1,
    "busy_timeout": 10000,  # threads queue for the write lock instead of failing at once
    "cache_size": -2000,  # 2 MiB page cache per connection
    "temp_store": "memory",
}
POSTGRES_URL = re.compile(r"^postgres(ql)?://", re.IGNORECASE)
# A lock wait as long as SQLite's busy timeout; then the request fails instead of hanging.
POSTGRES_OPTIONS = "-c lock_timeout=10s -c application_name=karusaku"
SQLITE_HEADER = b"SQLite format 3\x00"


class PostgresDatabase(PostgresqlDatabase):
    """PostgreSQL whose session settings follow the tenancy context, statement by statement.

    Row-level security (schema/postgresql/0006, 0009, 0010) reads `karusaku.clinic_id`, and
    believes it only with `karusaku.clinic_proof`, which SQL as the app's role cannot make
    (clinic_proof.py). Before each statement the connection's last applied clinic is compared
    with the current one (`tenancy.current_scope()`); when it differs, `set_config(..., false)`
    of both (session level, so they outlive transactions) is sent in the same round trip as the
    statement. So every
    statement runs with the clinic of the context it was issued in, on whichever thread and
    connection, with no query at all while the scope stays the same. A rollback (of a
    transaction or a savepoint) or a failed statement can undo a set_config, so after one the
    applied values count as unknown and the next statement sets them again. (psycopg2 runs the
    two statements of one execute() and returns the last one's result; requirements.txt pins it.)
    """

    sees_every_clinic = None  # the role's BYPASSRLS (or superuser), read on first need
    proof_key = b""  # clinic_proof.key_of(the app's secret key); the platform roles need none

    def _initialize_connection(self, conn):
        self._state.scope = None

    def forget_applied_scope(self):
        """The connection's settings count as unknown: the next statement sets them again."""
        self._state.scope = None

    def _refuse_unscoped_as_a_held_role(self):
        """all_clinics() turns the Python scope off; on a role that the policies hold it would
        silently see no row at all (a backup of nothing), so it is refused instead."""
        if self.sees_every_clinic is None:
            self.sees_every_clinic = super().execute_sql(
                "SELECT rolsuper OR rolbypassrls FROM pg_roles WHERE rolname = current_user"
            ).fetchone()[0]
        if not self.sees_every_clinic:
            raise NoClinicInContext("all_clinics() needs a role that sees every clinic: run "
                                    "it inside db.platform_role('operator')")

    def _settings(self, clinic_id):
        """The statement that tells the connection its clinic ('' for none) with the clinic's
        proof (clinic_proof.py): digits and hex only, so it needs no parameters and has no %."""
        value = str(clinic_id)
        proved = "" if value == "" else clinic_proof.proof(
            self.proof_key, value, self.connection().get_backend_pid())
        return (f"SELECT set_config('karusaku.clinic_id', '{value}', false),"
                f" set_config('karusaku.clinic_proof', '{proved}', false); ")

    def execute_sql(self, sql, params=None):
        if not params:  # psycopg2 interpolates even an empty tuple: a bare % must stay itself
            sql = sql.replace("%", "%%")
        if self.is_closed() and self.autoconnect:
            self.connect()  # a new connection starts with nothing applied
        scope = current_scope()
        if scope[1]:
            self._refuse_unscoped_as_a_held_role()
        wanted = ("",) if scope[0] is None else (int(scope[0]),)  # None: nothing applied yet
        if getattr(self._state, "scope", None) != wanted:
            sql = self._settings(wanted[0]) + sql
        else:
            wanted = None  # nothing to apply
        try:
            cursor = super().execute_sql(sql, params)
        except Exception:
            self._state.scope = None
            raise
        if wanted is not None:
            self._state.scope = wanted
        elif sql.lstrip()[:8].upper() == "ROLLBACK":  # ROLLBACK TO SAVEPOINT undoes set_config
            self._state.scope = None
        return cursor

    def rollback(self):
        self._state.scope = None
        super().rollback()


def as_datetime(value):
    """A DATETIME column's value as the driver gives it (SQLite: ISO text; PostgreSQL: a
    datetime) as a datetime."""
    return datetime.fromisoformat(value) if isinstance(value, str) else value


def is_postgres(db=None):
    """True when db (default: the app's database) is PostgreSQL."""
    db = database if db is None else db
    return isinstance(getattr(db, "obj", db), PostgresqlDatabase)


def dialect(db=None):
    """'postgresql' or 'sqlite': the folder of schema/ that db's migrations come from."""
    return "postgresql" if is_postgres(db) else "sqlite"


def safe_location(location):
    """The location without its password, for messages."""
    return re.sub(r"(://[^:/@]*):[^@]*@", r"\1:***@", str(location))


class SqliteFile(SqliteDatabase):
    """The app's SQLite database: connecting opens the existing file (`mode=rw`) and never
    makes a new, empty one; `create_missing_file` (init-db) does that."""

    def _connect(self):
        uri = "file:" + quote(os.path.abspath(self.database)) + "?mode=rw"
        conn = sqlite3.connect(uri, uri=True, timeout=self._timeout, isolation_level=None,
                               **self.connect_params)
        try:
            self._add_conn_hooks(conn)
        except Exception:
            conn.close()
            raise
        return conn


def open_database(location, pragmas=None, existing_only=False):
    """A peewee database for a path or a postgresql:// URL. `existing_only`: the app's own,
    which connecting never creates (SqliteFile); otherwise (exports, generated files) the file
    and its folder are made as needed."""
    if POSTGRES_URL.match(str(location)):
        url = POSTGRES_URL.sub("postgresql://", str(location), count=1)
        return PostgresDatabase(url, connect_timeout=10, options=POSTGRES_OPTIONS)
    merged = {**SQLITE_PRAGMAS, **(pragmas or {})}
    if not existing_only:
        try:
            os.makedirs(os.path.dirname(os.path.abspath(location)), exist_ok=True)
        except OSError as error:
            raise StartupRefused(f"cannot create the database folder for {location}: "
                                 f"{error.strerror}") from None
    kind = SqliteFile if existing_only else SqliteDatabase
    db = kind(location, pragmas=merged, lock_type="IMMEDIATE", timeout=10)
    # The search keys of patients, for migrations that fill them in SQL.
    db.register_function(normalize_kana, "karusaku_kana_key", 1, deterministic=True)
    db.register_function(normalize_phone, "karusaku_digits", 1, deterministic=True)
    return db


def check_sqlite_file(location, creatable_folder=None):
    """Refuse, before anything is opened or written, a SQLite file the app could not serve: in
    a folder that does not exist (except `creatable_folder`, the instance folder, which init-db
    makes) or is read-only (SQLite writes -wal and -shm files beside the database), read-only
    itself, or not a SQLite database. True when the file exists (a missing one is init-db's)."""
    path = os.path.abspath(location)
    folder = os.path.dirname(path)
    if not os.path.isdir(folder):
        if folder == creatable_folder:
            return False
        raise StartupRefused(f"the database folder {folder} does not exist")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise StartupRefused(f"the folder {folder} is read-only: SQLite writes its -wal and "
                             f"-shm files beside the database")
    if not os.path.lexists(path):
        return False
    if not os.path.isfile(path):
        raise StartupRefused(f"the database {path} is not a file")
    if not os.access(path, os.R_OK | os.W_OK):
        raise StartupRefused(f"the database {path} is read-only: Karusaku must write to it")
    with open(path, "rb") as f:
        header = f.read(len(SQLITE_HEADER))
    if header and header != SQLITE_HEADER:
        raise StartupRefused(f"{path} is not a SQLite database")
    return True


def is_missing(db=None):
    """True when the app's SQLite file does not exist yet: init-db makes it."""
    db = database if db is None else db
    return isinstance(getattr(db, "obj", db), SqliteFile) and not os.path.lexists(db.database)


def create_missing_file(db):
    """init-db's first step: make the app's SQLite file when it is missing (and its folder,
    which check_sqlite_file let through only as the instance folder), then check it as start-up
    checks an existing one."""
    if not is_missing(db):
        return
    os.makedirs(os.path.dirname(os.path.abspath(db.database)), exist_ok=True)
    sqlite3.connect(db.database).close()
    check_safety(db)


@contextmanager
def refusing_errors(db):
    """Turn a database error met while checking at start-up into StartupRefused, one line."""
    try:
        yield
    except (DatabaseError, InterfaceError) as error:
        text = str(error).strip()
        first_line = text.splitlines()[0] if text else type(error).__name__
        location = safe_location(db.database)
        if is_postgres(db) or isinstance(error, (OperationalError, InterfaceError)):
            raise StartupRefused(f"cannot open the database {location}: {first_line}") from None
        raise StartupRefused(f"the database {location} is damaged: {first_line}") from None


def _open(db):
    """Connect db, or StartupRefused in one line (the password masked)."""
    with refusing_errors(db):
        db.connect(reuse_if_open=True)


def check_safety(db):
    """Refuse to run on a connection where the data is not safe: SQLite with foreign keys or
    WAL off; PostgreSQL as a role that row-level security does not apply to."""
    with refusing_errors(db):
        db.connect(reuse_if_open=True)
        if is_postgres(db):
            _check_postgres_role(db)
            return
        foreign_keys = db.execute_sql("PRAGMA foreign_keys").fetchone()[0]
        journal_mode = db.execute_sql("PRAGMA journal_mode").fetchone()[0]
    if foreign_keys != 1:
        raise StartupRefused("SQLite foreign keys are off: refusing to start")
    if str(journal_mode).lower() != "wal":
        raise StartupRefused(f"SQLite journal mode is {journal_mode}, not WAL: refusing to start")


def _check_postgres_role(db):
    """The app's role must be held by the policies: not a superuser, not BYPASSRLS, and unable
    to become a role that is one or that owns the tables (SET ROLE needs only membership)."""
    role = db.execute_sql("SELECT current_user").fetchone()[0]
    bypass = db.execute_sql(
        "SELECT rolname, rolsuper FROM pg_roles WHERE (rolsuper OR rolbypassrls)"
        " AND pg_has_role(current_user, oid, 'MEMBER') ORDER BY rolname = current_user DESC"
    ).fetchone()
    if bypass is not None:
        what = "a superuser" if bypass[1] else "allowed to BYPASSRLS"
        via = "" if bypass[0] == role else f" through its membership in {bypass[0]}"
        raise StartupRefused(f"PostgreSQL role {role} is {what}{via}, so row-level security "
                             f"would not apply: refusing to start (connect as a role made with "
                             f"NOSUPERUSER NOBYPASSRLS, e.g. karusaku_app)")
    owner = db.execute_sql(
        "SELECT pg_get_userbyid(relowner) FROM pg_class WHERE relnamespace = current_schema()"
        "::regnamespace AND relkind IN ('r', 'p') AND pg_has_role(current_user, relowner,"
        " 'MEMBER') LIMIT 1").fetchone()
    if owner is not None:
        via = "" if owner[0] == role else f" (through its membership in {owner[0]})"
        raise StartupRefused(f"PostgreSQL role {role} owns the tables{via}, so it could switch "
                             f"row-level security off: refusing to start (the app connects as "
                             f"karusaku_app, migrations as the owner: docs/scaling.md)")


PLATFORM_ROLES = {  # kind: (setting, what it is for)
    "operator": ("OPERATOR_DATABASE", "the operator's role (sees every clinic, no DDL)"),
    "owner": ("OWNER_DATABASE", "the owner's role (owns the tables, runs the migrations)"),
}


@contextmanager
def platform_role(kind):
    """Run the block (this context only) on a connection as the operator's or the owner's
    PostgreSQL role, for work that must see every clinic (row-level security does not hold
    either role back; the app's role cannot flip a setting to do the same). The URL is
    KARUSAKU_OPERATOR_DATABASE or KARUSAKU_OWNER_DATABASE. SQLite: the block runs as is.
    Inside a block of the owner's role, the operator's work reuses its connection."""
    current = _platform_database.get()
    if not is_postgres() or (current is not None and current[0] in (kind, "owner")):
        yield
        return
    setting, purpose = PLATFORM_ROLES[kind]
    url = current_app.config.get(setting)
    if not url or not POSTGRES_URL.match(str(url)):
        raise StartupRefused(f"this command runs as {purpose}: set KARUSAKU_{setting} to its "
                             f"postgresql:// URL (docs/scaling.md)")
    db = open_database(url)
    try:
        _check_platform_role(db, purpose)
        with acting_as(kind, db):
            yield
    finally:
        db.close()


@contextmanager
def acting_as(kind, db):
    """Run the block (this context only) on db, an open connection of the `kind` role."""
    token = _platform_database.set((kind, db))
    try:
        yield
    finally:
        _platform_database.reset(token)


def _check_platform_role(db, purpose):
    _open(db)
    role, sees_all = db.execute_sql(
        "SELECT rolname, rolsuper OR rolbypassrls FROM pg_roles WHERE rolname = current_user"
    ).fetchone()
    if not sees_all:
        raise StartupRefused(f"PostgreSQL role {role} is held by row-level security, but this "
                             f"command needs {purpose}, made with BYPASSRLS (docs/scaling.md)")


def lock_for_update(model, row_id):
    """Inside a write transaction, wait for and hold the row's lock until the commit, so that
    read-check-write sequences on it (a therapist's overlap check) run one at a time.
    PostgreSQL: SELECT … FOR NO KEY UPDATE (foreign-key checks of other inserts don't wait on
    it). SQLite: nothing to do, the transaction began IMMEDIATE and holds the write lock."""
    if not is_postgres():
        return
    _require_transaction()
    model.select(model.id).where(model.id == row_id).for_update("FOR NO KEY UPDATE").execute()


def transaction_lock(name, key):
    """Inside a write transaction, serialise it with every other transaction that takes the
    same (name, key) lock, until the commit: a chart number MAX+1, an audit chain's last row,
    a plan limit's count.
    PostgreSQL: a transaction-level advisory lock. SQLite: nothing to do (IMMEDIATE)."""
    if not is_postgres():
        return
    _require_transaction()
    database.execute_sql("SELECT pg_advisory_xact_lock(hashtext(%s), %s)", (name, int(key)))


def _require_transaction():
    if not database.in_transaction():
        raise RuntimeError("a lock outside a transaction would be released at once")


def _connection_in_transaction():
    """PostgreSQL: True when the connection itself (not only peewee's record) is in a transaction."""
    return database.connection().get_transaction_status() != 0  # not TRANSACTION_STATUS_IDLE


def prove_clinics_with(secret_key):
    """PostgreSQL: the app's connections prove their clinic with the key of secret_key."""
    if is_postgres():
        database.obj.proof_key = clinic_proof.key_of(secret_key)


def init_app(app):
    """Open the configured database, check it (a missing SQLite file is left for init-db), and
    connect each request's thread."""
    location = app.config["DATABASE"]
    db = open_database(location, app.config["SQLITE_PRAGMAS"], existing_only=True)
    database.initialize(db)
    if is_postgres(db) or check_sqlite_file(location, creatable_folder=app.instance_path):
        check_safety(db)
    app.before_request(_connect)
    app.teardown_request(_end_transaction)


def _connect():
    if is_postgres() and not database.is_closed() and database.connection().closed:
        database.dispose()  # the server closed it (restart, idle timeout): open a new one
    database.connect(reuse_if_open=True)


def _end_transaction(exc):
    """Never carry an open transaction into the thread's next request."""
    if database.is_closed():
        return
    if not is_postgres():
        if database.in_transaction() or database.connection().in_transaction:
            database.connection().rollback()
    elif database.in_transaction() or _connection_in_transaction():
        try:
            database.rollback()
        except PeeweeException:
            database.dispose()  # a broken connection: the next request opens a new one
    while database.in_transaction():  # forget peewee's record of it too
        database.pop_transaction()
