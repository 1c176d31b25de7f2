"""The command-line tasks: what they create, and one clear line when they fail."""
import pytest

from karusaku.db.tenancy import clinic_context
from karusaku.models import Appointment, Clinic, PlatformAdmin, User
from karusaku.ops import demo

from .conftest import PASSWORD, every_clinic, login, run_sql, trigger_off


@pytest.fixture
def run(app):
    runner = app.test_cli_runner()

    def invoke(*args):
        return runner.invoke(args=list(args))

    return invoke


def _fails_with_one_line(result, words):
    assert result.exit_code != 0
    assert result.exception is None or isinstance(result.exception, SystemExit)
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and words in lines[0], result.output
    assert "Traceback" not in result.output


def test_create_clinic_makes_the_clinic_and_its_owner(app, run):
    result = run("create-clinic", "--code", "hikari", "--name", "ひかり鍼灸院", "--plan", "pro",
                 "--owner", "hikari-owner", "--password", PASSWORD)
    assert result.exit_code == 0, result.output
    with app.app_context():
        clinic = Clinic.by_code("hikari")
        assert clinic.name == "ひかり鍼灸院" and clinic.subscription_plan == "pro"
        with clinic_context(clinic.id):
            assert User.by_username("hikari-owner").role == "owner"


def test_create_clinic_refuses_a_duplicate_code(app, run, world):
    result = run("create-clinic", "--code", "clinic-a", "--name", "x", "--owner", "o",
                 "--password", PASSWORD)
    _fails_with_one_line(result, "既に使われています")


def test_create_clinic_refuses_an_unknown_plan_and_creates_nothing(app, run):
    result = run("create-clinic", "--code", "newone", "--name", "x", "--plan", "gold",
                 "--owner", "o", "--password", PASSWORD)
    _fails_with_one_line(result, "gold")
    with app.app_context():
        assert Clinic.by_code("newone") is None


def test_create_clinic_with_a_short_password_creates_no_clinic(app, run):
    result = run("create-clinic", "--code", "newone", "--name", "x", "--owner", "o",
                 "--password", "short")
    _fails_with_one_line(result, "12文字以上")
    with app.app_context():
        assert Clinic.by_code("newone") is None


def test_create_user_and_its_errors(app, run, world):
    assert run("create-user", "--clinic", "clinic-a", "--username", "newbie", "--password",
               PASSWORD, "--role", "therapist").exit_code == 0
    _fails_with_one_line(run("create-user", "--clinic", "clinic-a", "--username", "newbie",
                             "--password", PASSWORD, "--role", "therapist"), "既に使われています")
    _fails_with_one_line(run("create-user", "--clinic", "clinic-a", "--username", "other",
                             "--password", PASSWORD, "--role", "janitor"), "janitor")
    _fails_with_one_line(run("create-user", "--clinic", "nowhere", "--username", "other",
                             "--password", PASSWORD, "--role", "owner"), "nowhere")
    with app.app_context(), clinic_context(world["a"].clinic.id):
        assert User.by_username("newbie").role == "therapist"
        assert User.by_username("other") is None


def test_the_same_username_may_exist_in_two_clinics(app, run, world):
    for code in ("clinic-a", "clinic-b"):
        assert run("create-user", "--clinic", code, "--username", "yamada", "--password",
                   PASSWORD, "--role", "receptionist").exit_code == 0


def test_create_platform_admin(app, run):
    assert run("create-platform-admin", "--username", "ops", "--password", PASSWORD).exit_code == 0
    _fails_with_one_line(run("create-platform-admin", "--username", "ops", "--password",
                             PASSWORD), "既に使われています")
    with app.app_context():
        assert PlatformAdmin.by_username("ops").password.startswith("$argon2id$")


def test_seed_demo_fills_an_empty_database_once(app, run):
    first = run("seed-demo")
    assert first.exit_code == 0 and demo.PASSWORD in first.output and "uketsuke" in first.output
    second = run("seed-demo")
    assert second.exit_code == 0 and "uketsuke" in second.output
    with app.app_context(), every_clinic():
        assert Clinic.select().count() == 1
        clinic = Clinic.by_code(demo.CLINIC_CODE)
        assert clinic.name == "さくら整体院"
        assert {u.role for u in User.select()} == {"owner", "receptionist", "therapist"}
        assert Appointment.select().count() == len(demo.TODAY_SLOTS)


def test_seed_demo_leaves_a_database_with_clinics_alone(app, run, world):
    result = run("seed-demo")
    assert result.exit_code == 0 and "no demo clinic" in result.output
    with app.app_context():
        assert Clinic.by_code(demo.CLINIC_CODE) is None


def test_demo_logins_work(app, run):
    run("seed-demo")

    for username, _, _ in demo.STAFF:
        client = app.test_client()
        response = login(client, demo.CLINIC_CODE, username, demo.PASSWORD)
        assert response.status_code == 303, username
        home = client.get("/").get_data(as_text=True)
        assert "さくら整体院" in home and "の予約" in home
        assert ("山田 太郎" in home) == (username != "suzuki")  # suzuki sees only her own day


def test_verify_audit_names_an_altered_row(app, run, world):
    assert "audit log intact" in run("verify-audit").output
    with app.app_context():
        row_id = run_sql("SELECT MIN(id) FROM audit_log").fetchone()[0]
        with trigger_off("audit_log", "audit_log_no_update"):
            run_sql("UPDATE audit_log SET detail = 'forged' WHERE id = ?", (row_id,))
    result = run("verify-audit")
    assert result.exit_code == 1
    assert f"row {row_id} " in result.output and "altered" in result.output
