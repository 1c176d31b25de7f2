"""The database: one proxy for all models, per-thread connections, start-up checks, locks.

`KARUSAKU_DATABASE` is a file path (SQLite) or a `postgresql://` URL (PostgreSQL). Each
waitress thread keeps its own connection (peewee keeps connection state per thread), opened on
the thread's first request, never shared between threads.

SQLite: WAL, synchronous=FULL, foreign keys, and write transactions that begin IMMEDIATE, so
writers queue. The app's connections open an existing file only: nothing but `init-db`
(`create_missing_file`) makes a database, and start-up refuses a file it could not serve
before anything is written beside it (`check_sqlite_file`).

PostgreSQL: READ COMMITTED, autocommit outside `atomic()`, row-level security keyed on the
connection's settings `karusaku.clinic_id` and `karusaku.all_clinics`, which every statement
first brings in line with the tenancy context (see `PostgresDatabase`).
"""
import os
import re
from contextlib import contextmanager
from datetime import datetime
from urllib.parse import quote

from peewee import (
    DatabaseError, DatabaseProxy, InterfaceError, OperationalError, PeeweeException,
    PostgresqlDatabase, SqliteDatabase, sqlite3,
)

from .japanese import normalize_kana, normalize_phone
from .settings import StartupRefused
from .tenancy import current_scope

database = DatabaseProxy()

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

    Row-level security (schema/postgresql/0006) reads `karusaku.clinic_id` and
    `karusaku.all_clinics`. Before each statement the connection's last applied values are
    compared with `tenancy.current_scope()`; when they differ, `set_config(..., false)` (session
    level, so it outlives transactions) is sent in the same round trip as the statement. So every
    statement runs with the clinic of the context it was issued in, on whichever thread and
    connection, with no query at all while the scope stays the same. A rollback (of a
    transaction or a savepoint) or a failed statement can undo a set_config, so after one the
    applied values count as unknown and the next statement sets them again. (psycopg2 runs the
    two statements of one execute() and returns the last one's result; requirements.txt pins it.)
    """

    def _initialize_connection(self, conn):
        self._state.scope = None

    @staticmethod
    def _settings(scope):
        clinic_id, unscoped = scope
        return "" if clinic_id is None else str(int(clinic_id)), "on" if unscoped else ""

    def execute_sql(self, sql, params=None):
        if not params:  # psycopg2 interpolates even an empty tuple: a bare % must stay itself
            sql = sql.replace("%", "%%")
        if self.is_closed() and self.autoconnect:
            self.connect()  # a new connection starts with nothing applied
        wanted = self._settings(current_scope())
        if getattr(self._state, "scope", None) != wanted:
            # The values are digits, 'on' or '': the prefix needs no parameters and has no %.
            sql = ("SELECT set_config('karusaku.clinic_id', '%s', false), "
                   "set_config('karusaku.all_clinics', '%s', false); " % wanted) + sql
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
                                 f"{error.strerror}")
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
    role, superuser, bypass = db.execute_sql(
        "SELECT rolname, rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user"
    ).fetchone()
    if superuser or bypass:
        what = "a superuser" if superuser else "allowed to BYPASSRLS"
        raise StartupRefused(f"PostgreSQL role {role} is {what}, so row-level security would not "
                             f"apply: refusing to start (connect as a role made with NOSUPERUSER "
                             f"NOBYPASSRLS)")


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
    same (name, key) lock, until the commit: a chart number MAX+1, an audit chain's last row.
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
