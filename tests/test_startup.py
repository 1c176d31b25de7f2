"""Start-up refuses, with one line and before creating any file, what it cannot serve safely: a
read-only database or folder, a file that is not SQLite or is damaged, a schema newer than the
code, a folder or a database that does not exist, a busy port, a setting that is not a number.
Run as an operator runs Karusaku: `python run.py` and `flask --app karusaku …` in processes
of their own (as root without the capability to override permissions, when the suite runs as
root, so that permissions count)."""
import shutil
import socket
import sqlite3

import pytest

from karusaku import create_app
from karusaku.db.connection import database
from karusaku.ops import cli

from .conftest import PASSWORD, sqlite_only
from .serving import environment, flask, init_db, run_py

pytestmark = sqlite_only("SQLite files and folders; run.py's settings need no PostgreSQL")

DATABASE = "karusaku.db"
COMMAND = ("create-platform-admin", "--username", "ops", "--password", PASSWORD)


@pytest.fixture
def folder(tmp_path):
    path = tmp_path / "data"
    path.mkdir()
    yield path
    path.chmod(0o755)


@pytest.fixture(scope="module")
def migrated(tmp_path_factory):
    """A database made by init-db, copied by the tests that need one."""
    return init_db(tmp_path_factory.mktemp("migrated") / DATABASE)


def snapshot(folder):
    """Every file under folder with its size and modification time."""
    return {str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns)
            for p in sorted(folder.rglob("*"))}


def refused_in_one_line(done, *words):
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert done.returncode != 0, done.stdout + done.stderr
    assert len(lines) == 1, done.stderr
    assert "Traceback" not in done.stderr
    for word in words:
        assert word in lines[0], lines[0]
    return lines[0]


def copy_of(migrated, folder):
    path = folder / DATABASE
    shutil.copyfile(migrated, path)
    return path


def read_only_file(migrated, folder):
    path = copy_of(migrated, folder)
    path.chmod(0o444)
    return path, "read-only"


def read_only_folder(migrated, folder):
    path = copy_of(migrated, folder)
    folder.chmod(0o555)
    return path, "read-only"


def not_sqlite(migrated, folder):
    path = folder / DATABASE
    path.write_text("患者一覧\n山田 太郎, 090-0000-0000\n" * 50, encoding="utf-8")
    return path, "not a SQLite database"


def damaged_schema(migrated, folder):
    """A Karusaku database whose first page (the schema) was overwritten after its header."""
    path = copy_of(migrated, folder)
    with open(path, "r+b") as f:
        f.seek(100)
        f.write(b"\xa5" * 3000)
    return path, "damaged"


def truncated(migrated, folder):
    """The first pages of a Karusaku database only, as a disk that filled up might leave it."""
    path = copy_of(migrated, folder)
    with open(path, "r+b") as f:
        f.truncate(8192)
    return path, "damaged"


def newer_schema(migrated, folder):
    path = copy_of(migrated, folder)
    with sqlite3.connect(path) as conn:
        conn.execute("INSERT INTO schema_migrations (version, name, applied_at) "
                     "VALUES (9999, 'from_the_future', '2030-01-01 00:00:00')")
    conn.close()
    return path, "newer"


def missing_folder(migrated, folder):
    return folder / "no such folder" / DATABASE, "does not exist"


BAD_DATABASES = [read_only_file, read_only_folder, not_sqlite, damaged_schema, truncated,
                 newer_schema, missing_folder]


@pytest.mark.parametrize("entry", ["run.py", "flask command", "flask init-db"])
@pytest.mark.parametrize("bad", BAD_DATABASES, ids=[f.__name__ for f in BAD_DATABASES])
def test_start_up_refuses_a_database_it_cannot_serve_in_one_line_creating_nothing(
        migrated, folder, bad, entry):
    path, words = bad(migrated, folder)
    before = snapshot(folder)
    env = environment(KARUSAKU_DATABASE=str(path))
    if entry == "run.py":
        done = run_py(env)
    else:
        done = flask(*(("init-db",) if entry == "flask init-db" else COMMAND), env=env)
    folder.chmod(0o755)
    refused_in_one_line(done, words)
    assert snapshot(folder) == before


@pytest.mark.parametrize("entry", ["run.py", "flask command"])
@pytest.mark.parametrize("existing", [None, "empty file", "empty database"])
def test_a_database_without_init_db_is_refused_with_the_command_to_run(folder, entry, existing):
    path = folder / DATABASE
    if existing == "empty file":
        path.touch()
    elif existing == "empty database":
        sqlite3.connect(path).execute("CREATE TABLE unrelated (x)").connection.close()
    before = snapshot(folder).keys()
    env = environment(KARUSAKU_DATABASE=str(path))
    done = run_py(env) if entry == "run.py" else flask(*COMMAND, env=env)
    refused_in_one_line(done, "flask --app karusaku init-db")
    assert snapshot(folder).keys() == before  # an existing file may have been switched to WAL


def test_init_db_creates_a_new_database_that_then_serves(folder):
    path = folder / DATABASE
    env = environment(KARUSAKU_DATABASE=str(path))
    done = flask("init-db", env=env)
    assert done.returncode == 0, done.stderr
    assert "schema version" in done.stdout
    assert flask(*COMMAND, env=env).returncode == 0


COMMAND_ARGS = {
    "create-clinic": ["--code", "c", "--name", "n", "--owner", "o", "--password", PASSWORD],
    "create-user": ["--clinic", "c", "--username", "u", "--password", PASSWORD,
                    "--role", "owner"],
    "create-platform-admin": ["--username", "ops", "--password", PASSWORD],
    "seed-demo": [],
    "backup": ["--dest", "{folder}/backups"],
    "export-clinic": ["--clinic", "c", "--out", "{folder}/c.sqlite.gz"],
    "import-clinic": ["--file", "{folder}/c.sqlite.gz"],
    "verify-audit": [],
    "copy-into-postgres": ["--file", "{folder}/c.sqlite.gz"],
}


@pytest.mark.parametrize("command", [c.name for c in cli.COMMANDS if c.name != "init-db"])
def test_every_command_on_a_database_without_init_db_says_to_run_it(tmp_path, command):
    (tmp_path / "c.sqlite.gz").write_bytes(b"")
    before = snapshot(tmp_path)
    app = create_app({"DATABASE": str(tmp_path / DATABASE), "SECRET_KEY": "x", "TESTING": True})
    try:
        args = [arg.format(folder=tmp_path) for arg in COMMAND_ARGS[command]]
        result = app.test_cli_runner().invoke(args=[command, *args])
    finally:
        database.close()
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert result.exit_code != 0 and len(lines) == 1, result.output
    assert "flask --app karusaku init-db" in lines[0]
    assert snapshot(tmp_path) == before


BAD_SETTINGS = [
    ("KARUSAKU_PORT", "http"), ("KARUSAKU_PORT", "--5"), ("KARUSAKU_PORT", "²"),
    ("KARUSAKU_PORT", "-8000"), ("KARUSAKU_PORT", "0"), ("KARUSAKU_PORT", "65536"),
    ("KARUSAKU_PORT", "8000.5"), ("KARUSAKU_PORT", "9" * 5000),
    ("KARUSAKU_THREADS", "eight"), ("KARUSAKU_THREADS", "0"), ("KARUSAKU_THREADS", "-4"),
    ("KARUSAKU_THREADS", "--5"), ("KARUSAKU_THREADS", "²"),
    ("KARUSAKU_TRUSTED_PROXIES", "yes"), ("KARUSAKU_TRUSTED_PROXIES", "-1"),
    ("KARUSAKU_TRUSTED_PROXIES", "²"), ("KARUSAKU_TRUSTED_PROXIES", "--5"),
]


@pytest.mark.parametrize("name, value", BAD_SETTINGS,
                         ids=[f"{n}={v[:8]}" for n, v in BAD_SETTINGS])
def test_a_setting_that_is_not_a_usable_number_is_named_in_one_line(migrated, folder, name, value):
    path = copy_of(migrated, folder)
    before = snapshot(folder)
    refused_in_one_line(run_py(environment(KARUSAKU_DATABASE=str(path), **{name: value})), name)
    assert snapshot(folder) == before


@pytest.mark.parametrize("name", ["KARUSAKU_PORT", "KARUSAKU_THREADS", "KARUSAKU_TRUSTED_PROXIES"])
def test_flask_commands_name_a_bad_setting_too(migrated, folder, name):
    path = copy_of(migrated, folder)
    done = flask(*COMMAND, env=environment(KARUSAKU_DATABASE=str(path), **{name: "--5"}))
    refused_in_one_line(done, name)


def test_a_busy_port_is_named_in_one_line(migrated, folder):
    path = copy_of(migrated, folder)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = run_py(environment(KARUSAKU_DATABASE=str(path), KARUSAKU_PORT=str(port)))
    refused_in_one_line(done, f"127.0.0.1:{port}", "in use")


def test_a_host_that_cannot_be_listened_on_is_named_in_one_line(migrated, folder):
    path = copy_of(migrated, folder)
    done = run_py(environment(KARUSAKU_DATABASE=str(path), KARUSAKU_HOST="no-such-host.invalid"))
    refused_in_one_line(done, "no-such-host.invalid")
