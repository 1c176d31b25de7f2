"""Log-in, lockout, server-side sessions, `next=`, CSRF, security headers, cookies, password
rules and the platform admin's separate door (design.md: "Trust" and "The HTTP contract")."""
import json
import re
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest

from karusaku.clock import now
from karusaku.db.tenancy import clinic_context
from karusaku.models import AuditLog, Clinic, LoginSession, PlatformAdmin, PlatformAuditLog, User

from .conftest import PASSWORD, admin_login, csrf_token, every_clinic, login

COOKIE = "karusaku_session"
NEW_PASSWORD = "a brand new passphrase"
UNICODE_PASSWORD = "パスワードは十二文字です"
CSRF_MESSAGE = "セキュリティトークンが無効です"


# --- helpers ----------------------------------------------------------------------------------

def text(response):
    return response.get_data(as_text=True)


def error_paragraph(response):
    """The generic failure message shown above the login form."""
    match = re.search(r'<p class="error" role="alert">(.*?)</p>', text(response), re.S)
    assert match, text(response)
    return match.group(1).strip()


def field_value(response, name):
    """The value attribute the form echoes back for input `name`."""
    match = re.search(rf'<input id="f-{name}" name="{name}" type="[^"]*" value="([^"]*)"',
                      text(response))
    assert match, f"no input {name!r} in the page"
    return match.group(1)


def normalized(response, *typed):
    """The body with CSRF tokens and the values the user typed blanked out."""
    body = re.sub(r'(name="csrf_token" value=|name="csrf-token" content=)"[^"]*"', r'\1"TOKEN"',
                  text(response))
    for value in sorted(typed, key=len, reverse=True):
        body = body.replace(value, "TYPED")
    return body


def htmx_config(response):
    match = re.search(r"<meta name=\"htmx-config\" content='([^']*)'>", text(response))
    assert match, "no htmx-config meta tag"
    return json.loads(match.group(1))


def login_target(location):
    """(path, next) of a redirect to a log-in page; `next` may be percent-encoded or not."""
    parts = urlsplit(location)
    return parts.path, parse_qs(parts.query).get("next", [None])[0]


def session_cookie(client):
    cookie = client.get_cookie(COOKIE)
    return cookie.value if cookie else None


def client_with_cookie(app, value):
    """A fresh client (another device) that presents a copied session cookie."""
    other = app.test_client()
    other.set_cookie(COOKIE, value)
    return other


def set_cookie_header(response):
    """The Set-Cookie header for the session cookie."""
    for header in response.headers.getlist("Set-Cookie"):
        if header.startswith(COOKIE + "="):
            return header
    raise AssertionError(f"no {COOKIE} cookie set: {response.headers.getlist('Set-Cookie')}")


def csp_directives(response):
    policy = response.headers["Content-Security-Policy"]
    return {part.split()[0]: part.split()[1:] for part in policy.split(";") if part.strip()}


def staff(app, rows, role):
    """A fresh copy of one of the world's users from the database."""
    with app.app_context(), clinic_context(rows.clinic.id):
        return User.get_by_id(rows.users[role].id)


def update_user(app, rows, role, **fields):
    with app.app_context(), clinic_context(rows.clinic.id):
        User.update(**fields).where(User.id == rows.users[role].id).execute()


def audit(app, rows, username=None):
    """(action, detail) of the clinic's audit rows, oldest first, optionally for one username."""
    with app.app_context(), clinic_context(rows.clinic.id):
        query = AuditLog.select().order_by(AuditLog.id)
        if username is not None:
            query = query.where(AuditLog.username == username)
        return [(row.action, json.loads(row.detail) if row.detail else {}) for row in query]


def sessions_of(app, rows, role):
    with app.app_context():
        return LoginSession.select().where(LoginSession.user == rows.users[role].id).count()


def age_sessions(app, rows, role, minutes):
    """Pretend the user's sessions were last used `minutes` ago."""
    with app.app_context():
        LoginSession.update(last_seen_at=now() - timedelta(minutes=minutes)).where(
            LoginSession.user == rows.users[role].id).execute()


def login_as(client, rows, role, password=PASSWORD, **extra):
    return login(client, rows.code, rows.users[role].username, password, **extra)


def fail(client, rows, role, times):
    for _ in range(times):
        assert login_as(client, rows, role, "wrong password!!").status_code == 401


def admin(app):
    with app.app_context():
        return PlatformAdmin.by_username("operator")


def logged_in(client):
    """True when the client's session opens the home page."""
    response = client.get("/")
    assert response.status_code in (200, 302), response.status_code
    return response.status_code == 200


# --- successful log-in ------------------------------------------------------------------------

def test_login_redirects_home_with_303(app, world):
    response = login_as(app.test_client(), world["a"], "owner")
    assert response.status_code == 303
    assert response.headers["Location"] == "/"


def test_login_then_home_page_shows_the_users_clinic(app, world):
    client = app.test_client()
    login_as(client, world["a"], "receptionist")
    page = client.get("/")
    assert page.status_code == 200
    assert "A整骨院" in text(page)
    assert "B鍼灸院" not in text(page)


def test_login_sets_last_login(app, world):
    assert staff(app, world["a"], "owner").last_login is None
    before = now()
    login_as(app.test_client(), world["a"], "owner")
    last_login = staff(app, world["a"], "owner").last_login
    assert last_login is not None
    assert before - timedelta(seconds=1) <= last_login <= now() + timedelta(seconds=1)


def test_login_is_audited_with_user_and_address(app, world):
    login_as(app.test_client(), world["a"], "therapist")
    with app.app_context(), clinic_context(world["a"].clinic.id):
        row = AuditLog.select().where(AuditLog.action == "login").get()
    assert row.user_id == world["a"].users["therapist"].id
    assert row.username == "clinic-a-therapist"
    assert row.ip == "127.0.0.1"


def test_login_audit_row_stays_in_the_users_clinic(app, world):
    login_as(app.test_client(), world["a"], "owner")
    assert ("login", {}) in audit(app, world["a"])
    assert "login" not in [action for action, _ in audit(app, world["b"])]


def test_login_creates_one_server_side_session(app, world):
    assert sessions_of(app, world["a"], "owner") == 0
    login_as(app.test_client(), world["a"], "owner")
    assert sessions_of(app, world["a"], "owner") == 1


def test_clinic_code_is_case_insensitive_and_trimmed(app, world):
    response = login(app.test_client(), "  CLINIC-A ", "clinic-a-owner")
    assert response.status_code == 303


def test_login_page_redirects_home_when_already_logged_in(as_user):
    response = as_user("a", "owner").get("/login")
    assert response.status_code == 302
    assert response.headers["Location"] == "/"


# --- failed log-ins: one answer for every reason ------------------------------------------------

def _wrong_password(app, world):
    return "clinic-a", "clinic-a-owner", "wrong password!!"


def _unknown_user(app, world):
    return "clinic-a", "nobody-here", PASSWORD


def _wrong_clinic(app, world):
    return "no-such-clinic", "clinic-a-owner", PASSWORD


def _other_clinics_user(app, world):
    return "clinic-a", "clinic-b-owner", PASSWORD


def _suspended_clinic(app, world):
    with app.app_context():
        Clinic.update(status="suspended").where(Clinic.id == world["a"].clinic.id).execute()
    return "clinic-a", "clinic-a-owner", PASSWORD


def _disabled_user(app, world):
    update_user(app, world["a"], "owner", is_active=False)
    return "clinic-a", "clinic-a-owner", PASSWORD


def _locked_user(app, world):
    update_user(app, world["a"], "owner", locked_until=now() + timedelta(minutes=10))
    return "clinic-a", "clinic-a-owner", PASSWORD


FAILURES = [_wrong_password, _unknown_user, _wrong_clinic, _other_clinics_user, _suspended_clinic,
            _disabled_user, _locked_user]


@pytest.mark.parametrize("case", FAILURES, ids=lambda case: case.__name__.strip("_"))
def test_failed_login_is_401_with_generic_message_and_echoed_fields(app, world, case):
    clinic_code, username, password = case(app, world)
    client = app.test_client()
    response = login(client, clinic_code, username, password)
    assert response.status_code == 401
    assert "ログインできませんでした" in error_paragraph(response)
    assert field_value(response, "clinic_code") == clinic_code
    assert field_value(response, "username") == username
    assert field_value(response, "password") == ""
    assert password not in text(response)
    assert not logged_in(client)


@pytest.mark.parametrize("case", FAILURES[1:], ids=lambda case: case.__name__.strip("_"))
def test_failed_login_page_is_identical_to_a_wrong_password(app, world, case):
    reference = login(app.test_client(), "clinic-a", "clinic-a-owner", "wrong password!!")
    clinic_code, username, password = case(app, world)
    response = login(app.test_client(), clinic_code, username, password)
    assert error_paragraph(response) == error_paragraph(reference)
    assert normalized(response, clinic_code, username) == normalized(
        reference, "clinic-a", "clinic-a-owner")


def test_all_failure_reasons_share_one_error_paragraph(app, world):
    paragraphs = set()
    for case in FAILURES:
        clinic_code, username, password = case(app, world)
        paragraphs.add(error_paragraph(login(app.test_client(), clinic_code, username, password)))
    assert len(paragraphs) == 1


def test_failed_login_echo_is_html_escaped(app, world):
    response = login(app.test_client(), "clinic-a", '"><script>alert(1)</script>', PASSWORD)
    assert response.status_code == 401
    assert "<script>alert(1)</script>" not in text(response)
    assert "&lt;script&gt;" in text(response)


def test_failed_login_reasons_are_told_apart_in_the_audit_log(app, world):
    login(app.test_client(), "clinic-a", "nobody-here", PASSWORD)
    login(app.test_client(), "clinic-a", "clinic-a-owner", "wrong password!!")
    _disabled_user(app, world)
    login(app.test_client(), "clinic-a", "clinic-a-owner", PASSWORD)
    reasons = [detail["reason"] for action, detail in audit(app, world["a"])
               if action == "login_failed"]
    assert reasons == ["unknown_user", "wrong_password", "disabled"]


def test_unknown_clinic_is_audited_on_the_platform_log(app, world):
    login(app.test_client(), "no-such-clinic", "someone", PASSWORD)
    with app.app_context():
        row = PlatformAuditLog.select().where(PlatformAuditLog.action == "login_failed").get()
    assert json.loads(row.detail) == {"reason": "unknown_clinic", "clinic_code": "no-such-clinic"}


def test_wrong_password_does_not_set_last_login(app, world):
    login_as(app.test_client(), world["a"], "owner", "wrong password!!")
    assert staff(app, world["a"], "owner").last_login is None


# --- lockout --------------------------------------------------------------------------------

def test_five_wrong_passwords_refuse_the_right_one_with_the_same_answer(app, world):
    client = app.test_client()
    fail(client, world["a"], "owner", 4)
    reference = login_as(client, world["a"], "owner", "wrong password!!")  # the fifth
    response = login_as(client, world["a"], "owner")
    assert response.status_code == 401
    assert error_paragraph(response) == error_paragraph(reference)
    assert normalized(response) == normalized(reference)
    assert not logged_in(client)


def test_lockout_sets_locked_until_fifteen_minutes_ahead(app, world):
    fail(app.test_client(), world["a"], "owner", 5)
    user = staff(app, world["a"], "owner")
    assert user.locked_until is not None
    ahead = user.locked_until - now()
    assert timedelta(minutes=14) < ahead <= timedelta(minutes=15)


def test_four_wrong_passwords_do_not_lock(app, world):
    client = app.test_client()
    fail(client, world["a"], "owner", 4)
    assert staff(app, world["a"], "owner").failed_logins == 4
    assert staff(app, world["a"], "owner").locked_until is None
    assert login_as(client, world["a"], "owner").status_code == 303


def test_lockout_is_audited(app, world):
    fail(app.test_client(), world["a"], "owner", 5)
    login_as(app.test_client(), world["a"], "owner")
    actions = [action for action, _ in audit(app, world["a"], "clinic-a-owner")]
    assert actions.count("login_failed") == 6
    assert actions.count("lockout") == 1
    assert actions.index("lockout") == 5  # right after the fifth failure
    assert audit(app, world["a"], "clinic-a-owner")[-1] == ("login_failed", {"reason": "locked"})


def test_locked_account_opens_after_fifteen_minutes(app, world):
    fail(app.test_client(), world["a"], "owner", 5)
    update_user(app, world["a"], "owner", locked_until=now() - timedelta(seconds=1))
    client = app.test_client()
    assert login_as(client, world["a"], "owner").status_code == 303
    assert logged_in(client)
    user = staff(app, world["a"], "owner")
    assert user.failed_logins == 0
    assert user.locked_until is None


def test_after_a_lockout_expires_the_count_starts_again(app, world):
    client = app.test_client()
    fail(client, world["a"], "owner", 5)
    update_user(app, world["a"], "owner", locked_until=now() - timedelta(seconds=1))
    fail(client, world["a"], "owner", 4)
    assert login_as(client, world["a"], "owner").status_code == 303


def test_a_success_resets_the_failure_count(app, world):
    client = app.test_client()
    fail(client, world["a"], "owner", 4)
    assert login_as(client, world["a"], "owner").status_code == 303
    assert staff(app, world["a"], "owner").failed_logins == 0
    fail(app.test_client(), world["a"], "owner", 4)
    user = staff(app, world["a"], "owner")
    assert user.failed_logins == 4
    assert user.locked_until is None
    assert login_as(app.test_client(), world["a"], "owner").status_code == 303


def test_lockout_is_per_account(app, world):
    fail(app.test_client(), world["a"], "owner", 5)
    assert login_as(app.test_client(), world["a"], "receptionist").status_code == 303
    assert login_as(app.test_client(), world["b"], "owner").status_code == 303


def test_lockout_does_not_cross_clinics_for_the_same_username(app, world):
    from karusaku.accounts import create_user

    with app.app_context():
        for rows in (world["a"], world["b"]):
            with clinic_context(rows.clinic.id):
                create_user("yamada", PASSWORD, "therapist")
    for _ in range(5):
        login(app.test_client(), "clinic-a", "yamada", "wrong password!!")
    assert login(app.test_client(), "clinic-a", "yamada").status_code == 401
    assert login(app.test_client(), "clinic-b", "yamada").status_code == 303


def test_attempts_while_locked_do_not_extend_the_lock(app, world):
    fail(app.test_client(), world["a"], "owner", 5)
    locked_until = staff(app, world["a"], "owner").locked_until
    fail(app.test_client(), world["a"], "owner", 3)
    assert staff(app, world["a"], "owner").locked_until == locked_until


# --- sessions -------------------------------------------------------------------------------

def test_session_idle_for_31_minutes_ends(app, world, as_user):
    session = as_user("a", "owner")
    age_sessions(app, world["a"], "owner", 31)
    response = session.get("/")
    assert response.status_code == 302
    assert login_target(response.headers["Location"]) == ("/login", "/")
    assert sessions_of(app, world["a"], "owner") == 0


def test_session_idle_for_29_minutes_still_works(app, world, as_user):
    session = as_user("a", "owner")
    age_sessions(app, world["a"], "owner", 29)
    assert session.get("/").status_code == 200
    with app.app_context():
        row = LoginSession.get(LoginSession.user == world["a"].users["owner"].id)
    assert now() - row.last_seen_at < timedelta(minutes=1)  # the visit renewed it


def test_activity_keeps_a_session_alive_past_30_minutes_in_total(app, world, as_user):
    session = as_user("a", "owner")
    age_sessions(app, world["a"], "owner", 20)
    assert session.get("/").status_code == 200
    age_sessions(app, world["a"], "owner", 20)
    assert session.get("/").status_code == 200


def test_logout_redirects_to_login(app, world, as_user):
    session = as_user("a", "owner")
    response = session.post("/logout")
    assert response.status_code == 303
    assert response.headers["Location"] == "/login"
    assert session.get("/").status_code == 302
    assert sessions_of(app, world["a"], "owner") == 0


def test_copied_cookie_stops_working_after_logout(app, world, as_user):
    session = as_user("a", "owner")
    copied = session_cookie(session.client)
    assert client_with_cookie(app, copied).get("/").status_code == 200  # the copy works at first
    session.post("/logout")
    response = client_with_cookie(app, copied).get("/")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login")


def test_two_devices_at_once_and_logging_out_one_keeps_the_other(app, world, as_user):
    tablet = as_user("a", "therapist")
    desk = as_user("a", "therapist")
    assert sessions_of(app, world["a"], "therapist") == 2
    assert logged_in(tablet.client) and logged_in(desk.client)
    tablet.post("/logout")
    assert not logged_in(tablet.client)
    assert logged_in(desk.client)
    assert sessions_of(app, world["a"], "therapist") == 1


def test_password_change_ends_the_other_devices_sessions(app, world, as_user):
    this = as_user("a", "receptionist")
    other = as_user("a", "receptionist")
    this.post("/account/password", {"current_password": PASSWORD, "new_password": NEW_PASSWORD})
    assert not logged_in(other.client)
    assert ("password_changed", {}) in audit(app, world["a"], "clinic-a-receptionist")


def test_password_change_keeps_this_device_logged_in(app, world, as_user):
    this = as_user("a", "receptionist")
    as_user("a", "receptionist")  # another device
    response = this.post("/account/password", {"current_password": PASSWORD,
                                               "new_password": NEW_PASSWORD})
    assert response.status_code == 303
    assert response.headers["Location"] == "/"
    assert logged_in(this.client)
    assert sessions_of(app, world["a"], "receptionist") == 1


def test_password_change_makes_the_new_password_the_only_one(app, world, as_user):
    as_user("a", "receptionist").post("/account/password", {"current_password": PASSWORD,
                                                            "new_password": NEW_PASSWORD})
    assert login_as(app.test_client(), world["a"], "receptionist").status_code == 401
    assert login_as(app.test_client(), world["a"], "receptionist", NEW_PASSWORD).status_code == 303


def test_password_change_with_wrong_current_password_is_422_and_ends_nothing(app, world, as_user):
    this = as_user("a", "receptionist")
    other = as_user("a", "receptionist")
    response = this.post("/account/password", {"current_password": "not my password",
                                               "new_password": NEW_PASSWORD})
    assert response.status_code == 422
    assert "現在のパスワードが違います" in text(response)
    assert logged_in(this.client) and logged_in(other.client)
    assert login_as(app.test_client(), world["a"], "receptionist").status_code == 303


def test_wrong_current_passwords_count_towards_the_lockout(app, world, as_user):
    session = as_user("a", "receptionist")
    for _ in range(5):
        response = session.post("/account/password", {"current_password": "guess guess guess",
                                                      "new_password": NEW_PASSWORD})
        assert response.status_code == 422
    assert login_as(app.test_client(), world["a"], "receptionist").status_code == 401
    actions = [action for action, _ in audit(app, world["a"], "clinic-a-receptionist")]
    assert actions.count("password_change_failed") == 5 and "lockout" in actions


def test_logging_in_on_top_of_a_session_ends_the_one_before(app, world, as_user):
    session = as_user("a", "receptionist")
    old_cookie = session.client.get_cookie("karusaku_session").value
    assert login_as(session.client, world["a"], "owner").status_code == 303
    replay = app.test_client()
    replay.set_cookie("karusaku_session", old_cookie)
    assert not logged_in(replay)
    assert sessions_of(app, world["a"], "receptionist") == 0


def test_password_change_to_a_short_password_is_422(app, world, as_user):
    session = as_user("a", "receptionist")
    response = session.post("/account/password", {"current_password": PASSWORD,
                                                  "new_password": "short pass!"})
    assert response.status_code == 422
    assert "12文字以上" in text(response)
    assert login_as(app.test_client(), world["a"], "receptionist").status_code == 303


def test_disabling_a_user_ends_their_sessions(app, world, as_user):
    therapist = as_user("a", "therapist")
    owner = as_user("a", "owner")
    response = owner.post(f"/users/{world['a'].users['therapist'].id}/active", {"active": "0"})
    assert response.status_code == 303
    assert sessions_of(app, world["a"], "therapist") == 0
    assert not logged_in(therapist.client)
    assert login_as(app.test_client(), world["a"], "therapist").status_code == 401
    assert logged_in(owner.client)


def test_a_disabled_user_is_refused_even_with_a_live_session_row(app, world, as_user):
    therapist = as_user("a", "therapist")
    update_user(app, world["a"], "therapist", is_active=False)  # behind the app's back
    assert not logged_in(therapist.client)


def test_owner_password_reset_ends_the_users_sessions(app, world, as_user):
    receptionist = as_user("a", "receptionist")
    owner = as_user("a", "owner")
    response = owner.post(f"/users/{world['a'].users['receptionist'].id}/password",
                          {"new_password": NEW_PASSWORD})
    assert response.status_code == 303
    assert not logged_in(receptionist.client)
    assert logged_in(owner.client)


def test_suspending_a_clinic_ends_access_for_its_logged_in_users(app, world, as_user):
    session_a = as_user("a", "owner")
    session_b = as_user("b", "owner")
    _suspended_clinic(app, world)
    assert not logged_in(session_a.client)
    assert logged_in(session_b.client)


def test_login_makes_a_new_cookie_value(app, world):
    client = app.test_client()
    client.get("/login")
    before = session_cookie(client)
    assert before  # the anonymous session already carries the CSRF token
    login_as(client, world["a"], "owner")
    after = session_cookie(client)
    assert after and after != before


def test_the_pre_login_cookie_does_not_become_logged_in(app, world):
    """Session fixation: a cookie planted before log-in opens nothing afterwards."""
    client = app.test_client()
    client.get("/login")
    planted = session_cookie(client)
    login_as(client, world["a"], "owner")
    assert logged_in(client)
    assert not logged_in(client_with_cookie(app, planted))


def test_a_forged_cookie_opens_nothing(app, world):
    assert not logged_in(client_with_cookie(app, "not-a-signed-cookie"))


def test_anonymous_page_request_redirects_to_login_with_next(app, world):
    response = app.test_client().get("/users")
    assert response.status_code == 302
    assert login_target(response.headers["Location"]) == ("/login", "/users")


# --- next= ----------------------------------------------------------------------------------

def test_next_inside_the_app_is_followed(app, world):
    response = login_as(app.test_client(), world["a"], "owner", next="/users")
    assert response.status_code == 303
    assert response.headers["Location"] == "/users"


def test_next_from_the_query_string_is_followed(app, world):
    client = app.test_client()
    token = csrf_token(client)
    response = client.post("/login?next=%2Fusers", data={
        "clinic_code": "clinic-a", "username": "clinic-a-owner", "password": PASSWORD,
        "csrf_token": token})
    assert response.headers["Location"] == "/users"


def test_next_survives_the_round_trip_through_the_login_page(app, world):
    client = app.test_client()
    login_page = client.get(client.get("/users").headers["Location"])
    assert '<input type="hidden" name="next" value="/users">' in text(login_page)
    response = login_as(client, world["a"], "owner", next="/users")
    assert response.headers["Location"] == "/users"
    assert client.get("/users").status_code == 200


def test_next_is_kept_after_a_failed_login(app, world):
    client = app.test_client()
    response = login_as(client, world["a"], "owner", "wrong password!!", next="/users")
    assert '<input type="hidden" name="next" value="/users">' in text(response)


@pytest.mark.parametrize("target", [
    "https://elsewhere.example/",
    "//elsewhere.example",
    "/\\elsewhere.example",
    "\\\\elsewhere.example",
    "/\t/elsewhere.example",
    "javascript:alert(1)",
    "http:/elsewhere.example",
    "",
])
def test_next_outside_the_app_goes_home(app, world, target):
    response = login_as(app.test_client(), world["a"], "owner", next=target)
    assert response.status_code == 303
    assert response.headers["Location"] == "/"


def test_next_is_html_escaped_on_the_login_page(app, world):
    response = app.test_client().get('/login?next="><script>alert(1)</script>')
    assert "<script>alert(1)</script>" not in text(response)


# --- CSRF -----------------------------------------------------------------------------------

def test_login_without_csrf_token_is_400_in_japanese(app, world):
    client = app.test_client()
    client.get("/login")
    response = client.post("/login", data={"clinic_code": "clinic-a",
                                           "username": "clinic-a-owner", "password": PASSWORD})
    assert response.status_code == 400
    assert CSRF_MESSAGE in text(response)
    assert not logged_in(client)


def test_login_with_a_bad_csrf_token_is_400(app, world):
    client = app.test_client()
    client.get("/login")
    response = client.post("/login", data={"clinic_code": "clinic-a", "csrf_token": "forged",
                                           "username": "clinic-a-owner", "password": PASSWORD})
    assert response.status_code == 400
    assert CSRF_MESSAGE in text(response)


def test_login_with_another_sessions_csrf_token_is_400(app, world):
    token = csrf_token(app.test_client())
    client = app.test_client()
    client.get("/login")
    response = client.post("/login", data={"clinic_code": "clinic-a", "csrf_token": token,
                                           "username": "clinic-a-owner", "password": PASSWORD})
    assert response.status_code == 400


def test_admin_login_without_csrf_token_is_400(app, world):
    client = app.test_client()
    client.get("/admin/login")
    response = client.post("/admin/login", data={"username": "operator", "password": PASSWORD})
    assert response.status_code == 400
    assert CSRF_MESSAGE in text(response)
    assert client.get("/admin").status_code == 302


def test_password_change_without_csrf_token_is_400_and_changes_nothing(app, world, as_user):
    session = as_user("a", "therapist")
    response = session.client.post("/account/password", data={
        "current_password": PASSWORD, "new_password": NEW_PASSWORD})
    assert response.status_code == 400
    assert login_as(app.test_client(), world["a"], "therapist").status_code == 303


def test_logout_without_csrf_token_is_400_and_keeps_the_session(app, world, as_user):
    session = as_user("a", "owner")
    response = session.client.post("/logout")
    assert response.status_code == 400
    assert CSRF_MESSAGE in text(response)
    assert logged_in(session.client)


def test_create_user_without_csrf_token_is_400_and_creates_nothing(app, world, as_user):
    session = as_user("a", "owner")
    response = session.client.post("/users", data={"username": "sneaky", "role": "owner",
                                                    "password": NEW_PASSWORD})
    assert response.status_code == 400
    assert CSRF_MESSAGE in text(response)
    with app.app_context(), clinic_context(world["a"].clinic.id):
        assert User.by_username("sneaky") is None


def test_csrf_header_works_for_login(app, world):
    client = app.test_client()
    token = csrf_token(client)
    response = client.post("/login", headers={"X-CSRFToken": token}, data={
        "clinic_code": "clinic-a", "username": "clinic-a-owner", "password": PASSWORD})
    assert response.status_code == 303


def test_csrf_header_from_the_meta_tag_works_for_htmx_posts(app, world, as_user):
    session = as_user("a", "owner")
    token = csrf_token(session.client, "/users")
    response = session.client.post("/users", headers={"X-CSRFToken": token, "HX-Request": "true"},
                                   data={"username": "new-desk", "role": "receptionist",
                                         "password": NEW_PASSWORD})
    assert response.status_code == 200
    assert response.headers["HX-Redirect"] == "/users"
    with app.app_context(), clinic_context(world["a"].clinic.id):
        assert User.by_username("new-desk") is not None


@pytest.mark.parametrize("path", ["/login", "/admin/login", "/no-such-page"])
def test_csrf_meta_tag_on_anonymous_pages(app, world, path):
    assert csrf_token(app.test_client(), path)


@pytest.mark.parametrize("path", ["/", "/users", "/account/password", "/no-such-page"])
def test_csrf_meta_tag_on_staff_pages(as_user, path):
    assert csrf_token(as_user("a", "owner").client, path)


def test_csrf_meta_tag_on_admin_pages(app, world):
    client = app.test_client()
    admin_login(client)
    assert csrf_token(client, "/admin")


# --- htmx without a session -------------------------------------------------------------------

@pytest.mark.parametrize("path", ["/", "/users"])
def test_htmx_request_without_session_gets_hx_redirect_not_3xx(app, world, path):
    response = app.test_client().get(path, headers={"HX-Request": "true"})
    assert not 300 <= response.status_code < 400
    assert "Location" not in response.headers
    assert response.headers["HX-Redirect"].startswith("/login")


def test_htmx_redirect_carries_next(app, world):
    response = app.test_client().get("/users", headers={"HX-Request": "true"})
    assert login_target(response.headers["HX-Redirect"]) == ("/login", "/users")


def test_htmx_request_after_idle_expiry_gets_hx_redirect(app, world, as_user):
    session = as_user("a", "owner")
    age_sessions(app, world["a"], "owner", 31)
    response = session.get("/", headers={"HX-Request": "true"})
    assert not 300 <= response.status_code < 400
    assert response.headers["HX-Redirect"].startswith("/login")


def test_anonymous_htmx_request_to_admin_gets_hx_redirect_to_admin_login(app, world):
    response = app.test_client().get("/admin", headers={"HX-Request": "true"})
    assert not 300 <= response.status_code < 400
    assert response.headers["HX-Redirect"] == "/admin/login"


# --- security headers -------------------------------------------------------------------------

def _pages(app, as_user):
    anonymous = app.test_client()
    owner = as_user("a", "owner")
    return {
        "login": anonymous.get("/login"),
        "failed login": login(app.test_client(), "clinic-a", "nobody", "x"),
        "home": owner.get("/"),
        "users": owner.get("/users"),
        "password": owner.get("/account/password"),
        "not found": owner.get("/no-such-page"),
        "redirect": anonymous.get("/"),
    }


def test_csp_forbids_framing_and_inline_code_on_every_page(app, as_user):
    for name, response in _pages(app, as_user).items():
        policy = response.headers["Content-Security-Policy"]
        directives = csp_directives(response)
        assert directives["frame-ancestors"] == ["'none'"], name
        assert "'unsafe-inline'" not in policy, name
        assert "'unsafe-eval'" not in policy, name
        assert directives.get("script-src", directives.get("default-src")) == ["'self'"], name


def test_nosniff_and_referrer_policy_on_every_page(app, as_user):
    for name, response in _pages(app, as_user).items():
        assert response.headers["X-Content-Type-Options"] == "nosniff", name
        assert response.headers["Referrer-Policy"] in (
            "no-referrer", "same-origin", "strict-origin", "strict-origin-when-cross-origin"), name


def test_pages_are_not_cached(app, as_user):
    for name, response in _pages(app, as_user).items():
        assert "no-store" in response.headers["Cache-Control"], name


def test_home_page_is_no_store(as_user):
    response = as_user("a", "owner").get("/")
    assert response.status_code == 200
    assert "no-store" in response.headers["Cache-Control"]


def test_pages_have_no_inline_script_or_style_attributes(app, as_user):
    """The CSP would block them, so a page that had one would be broken."""
    for name, response in _pages(app, as_user).items():
        body = text(response)
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", body), name
        assert not re.search(r"\s(style|on[a-z]+|hx-on[:-][\w:-]*)=", body), name


def test_session_cookie_is_httponly_and_lax_but_not_secure_over_http(app, world):
    header = set_cookie_header(app.test_client().get("/login"))
    flags = [flag.strip().lower() for flag in header.split(";")]
    assert "httponly" in flags
    assert "samesite=lax" in flags
    assert "secure" not in flags


def test_session_cookie_is_secure_over_https(app, world):
    client = app.test_client()
    page = client.get("/login", base_url="https://localhost")
    flags = [flag.strip().lower() for flag in set_cookie_header(page).split(";")]
    assert {"secure", "httponly", "samesite=lax"} <= set(flags)
    assert page.headers["Strict-Transport-Security"].startswith("max-age=")


def test_login_over_https_sets_a_secure_session_cookie(app, world):
    client = app.test_client()
    page = client.get("/login", base_url="https://localhost")
    token = re.search(r'name="csrf-token" content="([^"]+)"', text(page)).group(1)
    response = client.post("/login", base_url="https://localhost", data={
        "clinic_code": "clinic-a", "username": "clinic-a-owner", "password": PASSWORD,
        "csrf_token": token})
    assert response.status_code == 303
    assert "secure" in [flag.strip().lower() for flag in set_cookie_header(response).split(";")]


def test_forwarded_proto_from_an_untrusted_client_is_ignored(app, world):
    page = app.test_client().get("/login", headers={"X-Forwarded-Proto": "https"})
    flags = [flag.strip().lower() for flag in set_cookie_header(page).split(";")]
    assert "secure" not in flags
    assert "Strict-Transport-Security" not in page.headers


# --- htmx configuration -----------------------------------------------------------------------

def test_htmx_config_disables_the_history_cache_on_every_page(app, as_user):
    pages = _pages(app, as_user)
    pages.pop("redirect")
    for name, response in pages.items():
        config = htmx_config(response)
        assert config["historyCacheSize"] == 0, name
        assert config.get("allowEval") is False, name


def test_htmx_config_on_admin_pages(app, world):
    client = app.test_client()
    assert htmx_config(client.get("/admin/login"))["historyCacheSize"] == 0
    admin_login(client)
    assert htmx_config(client.get("/admin"))["historyCacheSize"] == 0


def test_htmx_config_swaps_422_409_and_403(app, world):
    rules = htmx_config(app.test_client().get("/login"))["responseHandling"]

    def rule_for(status):
        return next(rule for rule in rules if re.fullmatch(rule["code"], str(status)))

    for status in (422, 409, 403):
        assert rule_for(status)["swap"] is True, status
    assert rule_for(500)["swap"] is False
    assert rule_for(401)["swap"] is False


# --- passwords ------------------------------------------------------------------------------

def test_passwords_are_stored_as_argon2id_hashes(app, world):
    with app.app_context(), every_clinic():
        hashes = [user.password for user in User.select()]
        hashes.append(PlatformAdmin.by_username("operator").password)
    assert len(hashes) == 7
    for stored in hashes:
        assert stored.startswith("$argon2id$")
        assert PASSWORD not in stored
    assert len(set(hashes)) == len(hashes)  # salted: the same password, different hashes


def test_an_eleven_character_password_is_refused(app, world, as_user):
    response = as_user("a", "owner").post("/users", {"username": "short-pw", "role": "therapist",
                                                     "password": "a" * 11})
    assert response.status_code == 422
    assert "パスワードは12文字以上にしてください" in text(response)
    assert field_value(response, "username") == "short-pw"
    assert "a" * 11 not in text(response)
    with app.app_context(), clinic_context(world["a"].clinic.id):
        assert User.by_username("short-pw") is None


def test_twelve_unicode_characters_are_accepted_and_log_in(app, world, as_user):
    assert len(UNICODE_PASSWORD) == 12
    response = as_user("a", "owner").post("/users", {"username": "kana-pw", "role": "therapist",
                                                     "password": UNICODE_PASSWORD})
    assert response.status_code == 303
    with app.app_context(), clinic_context(world["a"].clinic.id):
        user = User.by_username("kana-pw")
        assert user is not None
        assert user.password.startswith("$argon2id$")
        assert user.password != UNICODE_PASSWORD
    assert login(app.test_client(), "clinic-a", "kana-pw", UNICODE_PASSWORD).status_code == 303


def test_user_creation_is_owner_only(app, world, as_user):
    response = as_user("a", "receptionist").post("/users", {
        "username": "self-made", "role": "owner", "password": NEW_PASSWORD})
    assert response.status_code == 403
    with app.app_context(), clinic_context(world["a"].clinic.id):
        assert User.by_username("self-made") is None


def test_the_new_password_is_hashed_after_a_change(app, world, as_user):
    as_user("a", "therapist").post("/account/password", {"current_password": PASSWORD,
                                                         "new_password": NEW_PASSWORD})
    stored = staff(app, world["a"], "therapist").password
    assert stored.startswith("$argon2id$")
    assert NEW_PASSWORD not in stored


# --- platform admin -------------------------------------------------------------------------

def test_admin_login_goes_to_admin(app, world):
    client = app.test_client()
    response = admin_login(client)
    assert response.status_code == 303
    assert response.headers["Location"] == "/admin"
    page = client.get("/admin")
    assert page.status_code == 200
    assert "clinic-a" in text(page) or "A整骨院" in text(page)
    assert admin(app).last_login is not None


def test_admin_login_is_audited_on_the_platform_log(app, world):
    admin_login(app.test_client())
    with app.app_context():
        actions = [row.action for row in PlatformAuditLog.select()]
    assert "admin_login" in actions


def test_admin_wrong_password_is_401_with_generic_message(app, world):
    wrong = admin_login(app.test_client(), "wrong password!!")
    unknown = admin_login(app.test_client(), PASSWORD, username="nobody")
    assert wrong.status_code == unknown.status_code == 401
    assert error_paragraph(wrong) == error_paragraph(unknown)
    assert field_value(wrong, "username") == "operator"
    assert "wrong password!!" not in text(wrong)


def test_clinic_credentials_do_not_open_admin(app, world):
    response = admin_login(app.test_client(), PASSWORD, username="clinic-a-owner")
    assert response.status_code == 401


def test_admin_credentials_do_not_open_a_clinic(app, world):
    assert login(app.test_client(), "clinic-a", "operator").status_code == 401


@pytest.mark.parametrize("method, path", [("get", "/admin"), ("get", "/admin/login"),
                                          ("post", "/admin/login"), ("post", "/admin/logout")])
def test_clinic_user_gets_404_on_admin_urls(as_user, method, path):
    session = as_user("a", "owner")
    data = {"username": "operator", "password": PASSWORD} if path == "/admin/login" else {}
    response = getattr(session, method)(path, **({"data": data} if method == "post" else {}))
    assert response.status_code == 404
    assert logged_in(session.client)  # and the clinic session is untouched


def test_anonymous_admin_page_redirects_to_admin_login(app, world):
    response = app.test_client().get("/admin")
    assert response.status_code == 302
    assert response.headers["Location"] == "/admin/login"


@pytest.mark.parametrize("path", ["/", "/users"])
def test_admin_gets_403_on_clinic_pages(app, world, path):
    client = app.test_client()
    admin_login(client)
    assert client.get(path).status_code == 403


def test_admin_login_page_redirects_when_already_logged_in(app, world):
    client = app.test_client()
    admin_login(client)
    response = client.get("/admin/login")
    assert response.status_code == 302
    assert response.headers["Location"] == "/admin"


def test_admin_logout_ends_the_session(app, world):
    client = app.test_client()
    admin_login(client)
    copied = session_cookie(client)
    response = client.post("/admin/logout", data={"csrf_token": csrf_token(client, "/admin")})
    assert response.status_code == 303
    assert response.headers["Location"] == "/admin/login"
    assert client.get("/admin").status_code == 302
    assert client_with_cookie(app, copied).get("/admin").status_code == 302


def test_admin_session_idles_out(app, world):
    client = app.test_client()
    admin_login(client)
    with app.app_context():
        LoginSession.update(last_seen_at=now() - timedelta(minutes=31)).where(
            LoginSession.admin == admin(app).id).execute()
    assert client.get("/admin").status_code == 302


def test_five_wrong_admin_passwords_lock_the_admin(app, world):
    client = app.test_client()
    for _ in range(5):
        assert admin_login(client, "wrong password!!").status_code == 401
    response = admin_login(client)
    assert response.status_code == 401
    assert client.get("/admin").status_code == 302
    locked_until = admin(app).locked_until
    assert locked_until is not None
    assert timedelta(minutes=14) < locked_until - now() <= timedelta(minutes=15)
    with app.app_context():
        actions = [row.action for row in PlatformAuditLog.select().order_by(PlatformAuditLog.id)]
    assert actions.count("admin_login_failed") == 6
    assert "admin_lockout" in actions


def test_locked_admin_opens_after_fifteen_minutes(app, world):
    client = app.test_client()
    for _ in range(5):
        admin_login(client, "wrong password!!")
    with app.app_context():
        PlatformAdmin.update(locked_until=now() - timedelta(seconds=1)).execute()
    assert admin_login(client).status_code == 303
    assert client.get("/admin").status_code == 200
