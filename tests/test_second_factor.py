"""The second factor (design: Second factor): enrolment, the log-in's second step, no replay,
recovery codes, the lockout, the clinic's rule, resets by owners and the operator."""
import json
import re
import time
from urllib.parse import parse_qs, unquote, urlsplit

import pyotp
import pytest

from karusaku.clock import now
from karusaku.db.tenancy import clinic_context
from karusaku.models import AuditLog, Clinic, LoginSession, PlatformAdmin, PlatformAuditLog, User

from .conftest import PASSWORD, Session, admin_login, csrf_token, every_clinic, login

SECRET = re.compile(r'<code class="secret">([A-Z2-7]+)</code>')
RECOVERY = re.compile(r"<li><code>([a-z0-9]{5}-[a-z0-9]{5})</code></li>")
CODE_FAILED = "確認できませんでした。認証アプリの6桁のコード、または回復コードを確かめてください。"


def text(response):
    return response.get_data(as_text=True)


def code_at(secret, steps_ahead=0):
    return pyotp.TOTP(secret).at(time.time() + 30 * steps_ahead)


def user_row(app, rows, role):
    with app.app_context(), clinic_context(rows.clinic.id):
        return User.get_by_id(rows.users[role].id)


def audit_actions(app, rows):
    with app.app_context(), clinic_context(rows.clinic.id):
        return [row.action for row in AuditLog.select().order_by(AuditLog.id)]


def sessions_of(app, user_id):
    with app.app_context():
        return LoginSession.select().where(LoginSession.user == user_id).count()


def enrol(session):
    """Enrol the logged-in session's account through the pages: (secret, recovery codes)."""
    page = session.get("/account/2fa")
    secret = SECRET.search(text(page)).group(1)
    response = session.post("/account/2fa", data={"code": code_at(secret)})
    assert response.status_code == 200, text(response)
    codes = RECOVERY.findall(text(response))
    assert len(codes) == 10
    return secret, codes


def password_step(client, rows, role, **extra):
    response = login(client, rows.code, rows.users[role].username, **extra)
    assert response.status_code == 303
    return response


def code_step(client, code, path="/login/2fa"):
    return client.post(path, data={"code": code, "csrf_token": csrf_token(client, path)})


@pytest.fixture
def enrolled(app, world, as_user):
    """Clinic A's therapist with an authenticator: (secret, recovery codes)."""
    return enrol(as_user("a", "therapist"))


# --- enrolment --------------------------------------------------------------------------------

def test_enrolment_page_shows_the_qr_code_as_inline_svg_and_the_otpauth_uri(app, world, as_user):
    response = as_user("a", "therapist").get("/account/2fa")
    page = text(response)
    assert response.status_code == 200
    svg = re.search(r"<svg\b.*?</svg>", page, re.S).group(0)
    assert 'class="qr-code"' in svg and "<path" in svg
    assert not re.search(r"<script|\son\w+=|style=|javascript:|<foreignObject|href=", svg, re.I)
    uri = re.search(r'<code class="uri">(otpauth://totp/[^<]+)</code>', page).group(1)
    parts = urlsplit(uri.replace("&amp;", "&"))
    query = parse_qs(parts.query)
    secret = SECRET.search(page).group(1)
    assert query["secret"] == [secret] and len(secret) >= 32
    assert query["issuer"] == ["Karusaku A整骨院"]
    assert unquote(parts.path) == "/Karusaku A整骨院:clinic-a-therapist"
    assert "<script>" not in page and " onclick=" not in page
    csp = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp


def test_reloading_the_enrolment_page_keeps_its_secret(app, world, as_user):
    session = as_user("a", "therapist")
    first = SECRET.search(text(session.get("/account/2fa"))).group(1)
    assert SECRET.search(text(session.get("/account/2fa"))).group(1) == first


def test_a_wrong_confirmation_code_is_422_and_enrols_nothing(app, world, as_user):
    session = as_user("a", "therapist")
    session.get("/account/2fa")
    response = session.post("/account/2fa", data={"code": "000000"})
    assert response.status_code == 422
    assert "コードが違います" in text(response)
    assert not user_row(app, world["a"], "therapist").has_second_factor


def test_enrolment_shows_ten_recovery_codes_once_and_stores_only_hashes(app, world, as_user):
    secret, codes = enrol(as_user("a", "therapist"))
    assert len(set(codes)) == 10
    user = user_row(app, world["a"], "therapist")
    assert user.totp_secret == secret and user.totp_pending_secret is None
    stored = user.recovery_codes.split()
    assert len(stored) == 10
    assert not any(code.replace("-", "") in user.recovery_codes for code in codes)
    assert all(re.fullmatch(r"[0-9a-f]{64}", value) for value in stored)
    assert "second_factor_enrolled" in audit_actions(app, world["a"])
    assert not RECOVERY.findall(text(as_user("a", "therapist").get("/account/2fa")))


# --- the second step of the log-in ------------------------------------------------------------

def test_password_of_an_enrolled_user_leads_to_the_second_step_without_a_session(
        app, world, enrolled):
    client = app.test_client()
    before = sessions_of(app, world["a"].users["therapist"].id)  # the enrolling tab's
    response = password_step(client, world["a"], "therapist")
    assert response.headers["Location"] == "/login/2fa"
    assert sessions_of(app, world["a"].users["therapist"].id) == before
    for path in ("/", "/patients", "/schedule", "/account/2fa", "/account/password"):
        assert client.get(path).status_code == 302, path
    page = client.get("/login/2fa")
    assert page.status_code == 200 and 'name="code"' in text(page)
    assert "login" not in audit_actions(app, world["a"])[-1:]


def test_the_right_code_logs_in_with_303_to_home(app, world, enrolled):
    secret, _ = enrolled
    client = app.test_client()
    password_step(client, world["a"], "therapist")
    response = code_step(client, code_at(secret, 1))
    assert response.status_code == 303 and response.headers["Location"] == "/"
    assert client.get("/").status_code == 200
    assert sessions_of(app, world["a"].users["therapist"].id) == 2  # and the enrolling tab's
    actions = audit_actions(app, world["a"])
    assert actions[-3:] == ["login_password_ok", "second_factor_passed", "login"]
    assert user_row(app, world["a"], "therapist").last_login is not None


def test_the_second_step_keeps_a_safe_next(app, world, enrolled):
    client = app.test_client()
    password_step(client, world["a"], "therapist", next="/patients")
    assert code_step(client, code_at(enrolled[0], 1)).headers["Location"] == "/patients"


def test_a_used_code_cannot_be_replayed(app, world, enrolled):
    secret, _ = enrolled
    code = code_at(secret, 1)
    first = app.test_client()
    password_step(first, world["a"], "therapist")
    assert code_step(first, code).status_code == 303
    second = app.test_client()
    password_step(second, world["a"], "therapist")
    response = code_step(second, code)
    assert response.status_code == 401
    assert CODE_FAILED in text(response)
    assert second.get("/").status_code == 302
    with app.app_context(), clinic_context(world["a"].clinic.id):
        row = AuditLog.select().where(AuditLog.action == "second_factor_failed").get()
    assert json.loads(row.detail)["reason"] == "replayed"


def test_a_code_older_than_the_last_used_one_is_refused(app, world, enrolled):
    secret, _ = enrolled  # the enrolment used the current step
    client = app.test_client()
    password_step(client, world["a"], "therapist")
    assert code_step(client, code_at(secret, -1)).status_code == 401


def test_a_recovery_code_logs_in_once(app, world, enrolled):
    _, codes = enrolled
    client = app.test_client()
    password_step(client, world["a"], "therapist")
    assert code_step(client, codes[3].upper().replace("-", " ")).status_code == 303
    assert user_row(app, world["a"], "therapist").recovery_codes_left == 9
    again = app.test_client()
    password_step(again, world["a"], "therapist")
    assert code_step(again, codes[3]).status_code == 401
    assert code_step(again, codes[4]).status_code == 303


@pytest.mark.parametrize("code", ["", "123", "abcdef", "０１２３４５", "1" * 500, "\x00"])
def test_garbage_codes_get_the_generic_answer(app, world, enrolled, code):
    client = app.test_client()
    password_step(client, world["a"], "therapist")
    response = code_step(client, code)
    assert response.status_code == 401 and CODE_FAILED in text(response)


def test_five_wrong_codes_lock_the_account_even_across_right_passwords(app, world, enrolled):
    secret, _ = enrolled
    client = app.test_client()
    for _ in range(5):
        password_step(client, world["a"], "therapist")  # a right password resets nothing
        assert code_step(client, "000000" if code_at(secret, 1) != "000000" else "111111"
                         ).status_code == 401
    user = user_row(app, world["a"], "therapist")
    assert user.is_locked
    assert 14 * 60 < (user.locked_until - now()).total_seconds() <= 15 * 60
    assert login(client, "clinic-a", "clinic-a-therapist").status_code == 401
    assert "lockout" in audit_actions(app, world["a"])


def test_a_locked_account_refuses_even_the_right_code_with_the_same_answer(
        app, world, enrolled):
    client = app.test_client()
    password_step(client, world["a"], "therapist")
    with app.app_context(), clinic_context(world["a"].clinic.id):
        User.update(locked_until=now().replace(year=now().year + 1)).where(
            User.id == world["a"].users["therapist"].id).execute()
    response = code_step(client, code_at(enrolled[0], 1))
    assert response.status_code == 401 and CODE_FAILED in text(response)
    assert client.get("/").status_code == 302


def test_the_half_login_expires(app, world, enrolled):
    client = app.test_client()
    password_step(client, world["a"], "therapist")
    with client.session_transaction() as cookie:
        cookie["pending_login"] = {**cookie["pending_login"], "until": int(time.time()) - 1}
    assert client.get("/login/2fa").headers["Location"] == "/login"
    response = code_step(client, code_at(enrolled[0], 1))
    assert response.status_code == 303 and response.headers["Location"] == "/login"
    assert client.get("/").status_code == 302


def test_the_half_login_ends_when_the_user_is_disabled(app, world, enrolled, as_user):
    client = app.test_client()
    password_step(client, world["a"], "therapist")
    owner = as_user("a", "owner")
    owner.post(f"/users/{world['a'].users['therapist'].id}/active", data={"active": "0"})
    assert code_step(client, code_at(enrolled[0], 1)).headers["Location"] == "/login"


def test_a_staff_half_login_does_not_open_the_admins_second_step(app, world, enrolled):
    client = app.test_client()
    password_step(client, world["a"], "therapist")
    assert client.get("/admin/login/2fa").headers["Location"] == "/admin/login"
    response = code_step(client, code_at(enrolled[0], 1), "/admin/login/2fa")
    assert response.headers["Location"] == "/admin/login"


def test_no_second_step_without_a_password_step(app, world):
    client = app.test_client()
    assert client.get("/login/2fa").status_code == 302
    assert code_step(client, "123456").headers["Location"] == "/login"


def test_users_without_a_second_factor_log_in_with_the_password_alone(app, world):
    response = login(app.test_client(), "clinic-a", "clinic-a-receptionist")
    assert response.status_code == 303 and response.headers["Location"] == "/"


# --- the clinic's rule ------------------------------------------------------------------------

def set_rule(as_user, rule):
    response = as_user("a", "owner").post("/settings/second-factor",
                                          data={"second_factor_required": rule})
    assert response.status_code == 303


def test_the_owner_requires_it_for_all_staff_and_an_unenrolled_user_enrols_at_login(
        app, world, as_user):
    set_rule(as_user, "staff")
    client = app.test_client()
    response = password_step(client, world["a"], "receptionist")
    assert response.headers["Location"] == "/login/2fa"
    assert client.get("/").status_code == 302  # no page before the enrolment
    page = text(client.get("/login/2fa"))
    assert "二段階認証の設定" in page and "<svg" in page
    secret = SECRET.search(page).group(1)
    assert code_step(client, "000000" if code_at(secret) != "000000" else "1").status_code == 422
    done = code_step(client, code_at(secret))
    assert done.status_code == 200 and len(RECOVERY.findall(text(done))) == 10
    assert client.get("/").status_code == 200
    assert user_row(app, world["a"], "receptionist").totp_secret == secret
    with app.app_context(), clinic_context(world["a"].clinic.id):
        row = AuditLog.select().where(AuditLog.action == "settings_changed").get()
    assert json.loads(row.detail)["changed"] == {"second_factor_required": ["none", "staff"]}


def test_required_for_owners_leaves_other_staff_with_the_password(app, world, as_user):
    set_rule(as_user, "owners")
    assert login(app.test_client(), "clinic-a", "clinic-a-therapist").headers["Location"] == "/"
    assert login(app.test_client(), "clinic-a", "clinic-a-owner").headers[
        "Location"] == "/login/2fa"
    assert login(app.test_client(), "clinic-b", "clinic-b-owner").headers["Location"] == "/"


def test_an_unknown_rule_is_422_and_changes_nothing(app, world, as_user):
    response = as_user("a", "owner").post("/settings/second-factor",
                                          data={"second_factor_required": "everyone"})
    assert response.status_code == 422 and "二段階認証の設定を選んでください" in text(response)
    with app.app_context():
        assert Clinic.get_by_id(world["a"].clinic.id).second_factor_required == "none"


def test_a_required_factor_cannot_be_disabled(app, world, as_user, enrolled):
    set_rule(as_user, "staff")
    client = app.test_client()
    password_step(client, world["a"], "therapist")
    code_step(client, code_at(enrolled[0], 1))
    response = Session(client).post("/account/2fa/disable", data={"code": enrolled[1][0]})
    assert response.status_code == 422
    assert user_row(app, world["a"], "therapist").has_second_factor


def test_disabling_needs_a_current_code(app, world, as_user):
    session = as_user("a", "therapist")
    secret, codes = enrol(session)
    assert session.post("/account/2fa/disable", data={"code": "000000"}).status_code == 422
    response = session.post("/account/2fa/disable", data={"code": codes[0]})
    assert response.status_code == 303
    user = user_row(app, world["a"], "therapist")
    assert not user.has_second_factor and user.recovery_codes == ""
    assert "second_factor_disabled" in audit_actions(app, world["a"])
    assert login(app.test_client(), "clinic-a", "clinic-a-therapist").headers["Location"] == "/"


def test_enrolling_again_replaces_the_secret_and_the_recovery_codes(app, world, as_user):
    session = as_user("a", "therapist")
    old_secret, old_codes = enrol(session)
    page = text(session.get("/account/2fa"))
    new_secret = SECRET.search(page).group(1)
    assert new_secret != old_secret and "設定し直す" in page
    response = session.post("/account/2fa", data={"code": code_at(new_secret, 1)})
    assert response.status_code == 200
    client = app.test_client()
    password_step(client, world["a"], "therapist")
    assert code_step(client, old_codes[0]).status_code == 401


# --- resets -----------------------------------------------------------------------------------

def test_an_owner_resets_a_staff_members_factor_and_ends_their_sessions(
        app, world, as_user, enrolled):
    therapist = world["a"].users["therapist"]
    client = app.test_client()
    password_step(client, world["a"], "therapist")
    code_step(client, code_at(enrolled[0], 1))
    assert sessions_of(app, therapist.id) == 2  # this one and the enrolling tab
    response = as_user("a", "owner").post(f"/users/{therapist.id}/second-factor/reset")
    assert response.status_code == 303
    assert not user_row(app, world["a"], "therapist").has_second_factor
    assert sessions_of(app, therapist.id) == 0 and client.get("/").status_code == 302
    with app.app_context(), clinic_context(world["a"].clinic.id):
        row = AuditLog.select().where(AuditLog.action == "second_factor_reset").get()
    assert row.object_id == therapist.id and row.username == "clinic-a-owner"


def test_reset_of_another_clinics_user_is_404_and_changes_nothing(app, world, as_user, enrolled):
    therapist = world["a"].users["therapist"]
    response = as_user("b", "owner").post(f"/users/{therapist.id}/second-factor/reset")
    assert response.status_code == 404
    assert user_row(app, world["a"], "therapist").has_second_factor


@pytest.mark.parametrize("role", ["therapist", "receptionist"])
def test_only_owners_reset_a_staff_members_factor(app, world, as_user, role):
    other = "receptionist" if role == "therapist" else "therapist"
    enrol(as_user("a", other))
    target = world["a"].users[other]
    response = as_user("a", role).post(f"/users/{target.id}/second-factor/reset")
    assert response.status_code == 403
    assert user_row(app, world["a"], other).has_second_factor


def test_an_owner_cannot_reset_their_own_factor_from_the_staff_page(app, world, as_user):
    owner = world["a"].users["owner"]
    response = as_user("a", "owner").post(f"/users/{owner.id}/second-factor/reset")
    assert response.status_code == 422


def admin_session(app):
    client = app.test_client()
    assert admin_login(client).status_code == 303
    return client


def admin_post(client, path, data):
    return client.post(path, data={**data, "csrf_token": csrf_token(client, "/admin")})


def test_the_operator_resets_an_owners_factor(app, world, as_user):
    secret, _ = enrol(as_user("a", "owner"))
    client = admin_session(app)
    owner = world["a"].users["owner"]
    response = admin_post(client, f"/admin/clinics/{world['a'].clinic.id}/second-factor/reset",
                          {"username": "clinic-a-owner"})
    assert response.status_code == 303
    assert not user_row(app, world["a"], "owner").has_second_factor
    assert sessions_of(app, owner.id) == 0
    with app.app_context(), every_clinic():
        platform = PlatformAuditLog.select().where(
            PlatformAuditLog.action == "owner_second_factor_reset").get()
        clinic_row = AuditLog.select().where(AuditLog.action == "second_factor_reset").get()
    assert platform.object_id == world["a"].clinic.id and platform.username == "operator"
    assert clinic_row.clinic_id == world["a"].clinic.id and clinic_row.object_id == owner.id


def test_the_operator_resets_owners_only(app, world, as_user):
    enrol(as_user("a", "therapist"))
    client = admin_session(app)
    response = admin_post(client, f"/admin/clinics/{world['a'].clinic.id}/second-factor/reset",
                          {"username": "clinic-a-therapist"})
    assert response.status_code == 403
    assert user_row(app, world["a"], "therapist").has_second_factor


def test_the_operators_reset_names_an_owner_of_that_clinic_only(app, world, as_user):
    enrol(as_user("a", "owner"))
    client = admin_session(app)
    response = admin_post(client, f"/admin/clinics/{world['b'].clinic.id}/second-factor/reset",
                          {"username": "clinic-a-owner"})
    assert response.status_code == 422 and "というユーザーはいません" in text(response)
    assert user_row(app, world["a"], "owner").has_second_factor
    assert admin_post(client, "/admin/clinics/999999/second-factor/reset",
                      {"username": "clinic-a-owner"}).status_code == 404


def test_the_operators_clinic_page_shows_counts_not_owners(app, world, as_user):
    enrol(as_user("a", "owner"))
    client = admin_session(app)
    page = text(client.get(f"/admin/clinics/{world['a'].clinic.id}"))
    assert "設定済みの院長アカウント: 1 / 1" in page and "clinic-a-owner" not in page


# --- the platform admin -----------------------------------------------------------------------

def test_the_operators_password_alone_opens_nothing(app, world):
    client = app.test_client()
    token = csrf_token(client, "/admin/login")
    response = client.post("/admin/login", data={"username": "operator", "password": PASSWORD,
                                                 "csrf_token": token})
    assert response.status_code == 303 and response.headers["Location"] == "/admin/login/2fa"
    assert client.get("/admin").status_code == 302
    with app.app_context():
        assert LoginSession.select().where(LoginSession.admin.is_null(False)).count() == 0


def test_a_new_operator_enrols_at_the_first_login(app, world):
    from karusaku.accounts import create_platform_admin

    with app.app_context():
        create_platform_admin("second-operator", PASSWORD)
    client = app.test_client()
    token = csrf_token(client, "/admin/login")
    client.post("/admin/login", data={"username": "second-operator", "password": PASSWORD,
                                      "csrf_token": token})
    page = text(client.get("/admin/login/2fa"))
    secret = SECRET.search(page).group(1)
    assert "issuer=Karusaku" in page
    response = code_step(client, code_at(secret), "/admin/login/2fa")
    assert response.status_code == 200 and len(RECOVERY.findall(text(response))) == 10
    assert client.get("/admin").status_code == 200
    with app.app_context():
        assert PlatformAdmin.by_username("second-operator").totp_secret == secret
        actions = [row.action for row in PlatformAuditLog.select()]
    assert "admin_second_factor_enrolled" in actions and "admin_login" in actions


def test_an_operator_cannot_disable_their_factor(app, world):
    client = app.test_client()
    admin_login(client)
    response = client.post("/account/2fa/disable", data={
        "code": "123456", "csrf_token": csrf_token(client, "/admin")})
    assert response.status_code == 422
    with app.app_context():
        assert PlatformAdmin.by_username("operator").has_second_factor
