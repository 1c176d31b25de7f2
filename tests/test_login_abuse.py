"""Logins that resist abuse (issue 10, section 2; design.md "Trust"): device cookies, a failure
budget per client address, a bounded audit of failures, an absolute session lifetime."""
import json
import os
import re
import subprocess
import sys
import textwrap
from datetime import timedelta

import argon2
import pyotp
import pytest

from karusaku.clock import TOKYO, now
from karusaku.db.tenancy import clinic_context
from karusaku.models import AuditLog, PlatformAdmin, PlatformAuditLog, User

from .conftest import ADMIN_TOTP_SECRET, PASSWORD, every_clinic, fresh_code, travel

DEVICE_COOKIE = "karusaku_device"
WRONG = "wrong password!!"
BUDGET = 20  # failed log-ins per address and 15 minutes (settings.LOGIN_BUDGET_FAILURES)
AUDIT_BOUND = 10  # failures audited one by one per address and hour (AUDIT_FAILURES_PER_HOUR)


class Browser:
    """A test client from one address, which keeps its cookies (its device cookie too)."""

    def __init__(self, app, address="198.51.100.7", base_url="http://localhost"):
        self.client = app.test_client()
        self.address = address
        self.base_url = base_url
        self.token = None

    def _environ(self):
        return {"REMOTE_ADDR": self.address}

    def get(self, path, **kwargs):
        return self.client.get(path, environ_base=self._environ(), base_url=self.base_url,
                               **kwargs)

    def post(self, path, data):
        if self.token is None:
            page = self.get("/admin/login" if path.startswith("/admin") else "/login",
                            follow_redirects=True).get_data(as_text=True)
            self.token = re.search(r'name="csrf-token" content="([^"]+)"', page).group(1)
        response = self.client.post(path, data={**data, "csrf_token": self.token},
                                    environ_base=self._environ(), base_url=self.base_url)
        if response.status_code == 303:  # logged in or out: a new session, a new token
            self.token = None
        return response

    def login(self, rows, role, password=PASSWORD):
        return self.post("/login", {"clinic_code": rows.code,
                                    "username": rows.users[role].username, "password": password})

    def login_as(self, clinic_code, username, password=WRONG):
        return self.post("/login", {"clinic_code": clinic_code, "username": username,
                                    "password": password})

    def admin_login(self, username="operator", password=PASSWORD, app=None):
        """The password and, when it was right, the operator's code (a platform admin always
        has a second step): the last answer."""
        response = self.post("/admin/login", {"username": username, "password": password})
        if response.headers.get("Location") != "/admin/login/2fa":
            return response
        app = app or self.client.application
        with app.app_context():
            admin = PlatformAdmin.by_username(username)
        return self.post("/admin/login/2fa",
                         {"code": fresh_code(app, PlatformAdmin, admin.id, ADMIN_TOTP_SECRET)})

    def logout(self):
        return self.post("/logout", {})

    def logged_in(self):
        return self.get("/").status_code == 200


@pytest.fixture
def hashes(monkeypatch):
    """How many Argon2 verifications have run (a list, so the count can be read any time)."""
    calls = []
    original = argon2.PasswordHasher.verify

    def counting(self, *args, **kwargs):
        calls.append(1)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(argon2.PasswordHasher, "verify", counting)
    return calls


def fail_from_many_addresses(app, rows, role, times):
    for n in range(times):
        response = Browser(app, f"203.0.113.{n + 1}").login(rows, role, WRONG)
        assert response.status_code == 401


def refused_anywhere_else(app, rows, role):
    """True when a new browser with the right password is refused (the lockout holds)."""
    return Browser(app, "192.0.2.200").login(rows, role).status_code == 401


def audit_rows_from(app, address):
    with app.app_context(), every_clinic():
        clinic = AuditLog.select().where(AuditLog.ip == address).count()
        platform = PlatformAuditLog.select().where(PlatformAuditLog.ip == address).count()
    return clinic + platform


def platform_rows(app, action):
    with app.app_context():
        rows = PlatformAuditLog.select().where(PlatformAuditLog.action == action)
        return [(row.ip, json.loads(row.detail)) for row in rows.order_by(PlatformAuditLog.id)]


# --- device cookies ---------------------------------------------------------------------------

def test_fifty_failures_from_other_clients_leave_yesterdays_tablet_logging_in(app, world):
    rows = world["a"]
    tablet = Browser(app, "192.0.2.10")
    with travel(now() - timedelta(days=1)):
        assert tablet.login(rows, "receptionist").status_code == 303
        assert tablet.logout().status_code == 303
    fail_from_many_addresses(app, rows, "receptionist", 50)
    assert refused_anywhere_else(app, rows, "receptionist")
    assert tablet.login(rows, "receptionist").status_code == 303
    assert tablet.logged_in()


def test_the_tablet_still_logs_in_when_the_strangers_share_its_address(app, world):
    rows = world["a"]
    tablet = Browser(app, "192.0.2.10")
    assert tablet.login(rows, "receptionist").status_code == 303
    tablet.logout()
    for _ in range(30):  # past the address's budget too
        Browser(app, "192.0.2.10").login(rows, "receptionist", WRONG)
    assert tablet.login(rows, "receptionist").status_code == 303


def test_the_device_cookie_is_signed_and_names_clinic_user_and_a_nonce(app, world):
    rows = world["a"]
    tablet = Browser(app)
    tablet.login(rows, "receptionist")
    value = tablet.client.get_cookie(DEVICE_COOKIE).value
    with app.app_context():
        from itsdangerous import URLSafeSerializer
        entries = URLSafeSerializer(app.secret_key, salt="karusaku device cookie").loads(value)
    [(key, nonce, issued)] = entries
    assert key == f"{rows.clinic.id}/{rows.users['receptionist'].id}"
    assert len(nonce) >= 16 and issued > 0


def test_the_device_cookie_is_httponly_lax_and_long_lived(app, world):
    response = Browser(app).login(world["a"], "receptionist")
    header = next(h for h in response.headers.getlist("Set-Cookie")
                  if h.startswith(DEVICE_COOKIE + "="))
    flags = [flag.strip().lower() for flag in header.split(";")]
    assert "httponly" in flags and "samesite=lax" in flags and "secure" not in flags
    max_age = next(int(flag.split("=")[1]) for flag in flags if flag.startswith("max-age="))
    assert max_age >= 180 * 86400


def test_the_device_cookie_is_secure_over_https(app, world):
    response = Browser(app, base_url="https://localhost").login(world["a"], "receptionist")
    header = next(h for h in response.headers.getlist("Set-Cookie")
                  if h.startswith(DEVICE_COOKIE + "="))
    assert "secure" in [flag.strip().lower() for flag in header.split(";")]


def test_a_forged_device_cookie_is_not_trusted(app, world):
    rows = world["a"]
    tablet = Browser(app)
    tablet.login(rows, "receptionist")
    tablet.logout()
    forged = tablet.client.get_cookie(DEVICE_COOKIE).value[:-2] + "xx"
    stranger = Browser(app, "192.0.2.99")
    stranger.client.set_cookie(DEVICE_COOKIE, forged)
    fail_from_many_addresses(app, rows, "receptionist", 5)
    assert stranger.login(rows, "receptionist").status_code == 401


def test_a_device_cookie_for_one_user_does_not_trust_the_browser_for_another(app, world):
    rows = world["a"]
    tablet = Browser(app)
    tablet.login(rows, "receptionist")
    tablet.logout()
    fail_from_many_addresses(app, rows, "therapist", 5)
    assert tablet.login(rows, "therapist").status_code == 401


def test_one_tablet_carries_the_cookies_of_several_users(app, world):
    rows = world["a"]
    tablet = Browser(app)
    for role in ("receptionist", "therapist", "owner"):
        assert tablet.login(rows, role).status_code == 303
        tablet.logout()
    for role in ("receptionist", "therapist", "owner"):
        fail_from_many_addresses(app, rows, role, 5)
        assert refused_anywhere_else(app, rows, role)
    for role in ("receptionist", "therapist", "owner"):
        assert tablet.login(rows, role).status_code == 303, role
        tablet.logout()


def test_a_tablets_own_failures_lock_out_its_cookie_not_the_account(app, world):
    rows = world["a"]
    tablet, other_tablet = Browser(app, "192.0.2.10"), Browser(app, "192.0.2.11")
    for browser in (tablet, other_tablet):
        browser.login(rows, "receptionist")
        browser.logout()
    for _ in range(5):
        assert tablet.login(rows, "receptionist", WRONG).status_code == 401
    # Its cookie is locked out: it is now a browser like any other (OWASP), and the account's
    # own count is untouched, so everyone else still logs in.
    assert Browser(app, "192.0.2.50").login(rows, "receptionist").status_code == 303
    fail_from_many_addresses(app, rows, "receptionist", 5)
    assert tablet.login(rows, "receptionist").status_code == 401
    assert other_tablet.login(rows, "receptionist").status_code == 303


def test_a_locked_out_device_cookie_opens_again_after_fifteen_minutes(app, world):
    rows = world["a"]
    tablet = Browser(app, "192.0.2.10")
    start = now()
    with travel(start) as clock:
        tablet.login(rows, "receptionist")
        tablet.logout()
        for _ in range(5):
            tablet.login(rows, "receptionist", WRONG)
        fail_from_many_addresses(app, rows, "receptionist", 5)
        assert tablet.login(rows, "receptionist").status_code == 401
        clock.move_to((start + timedelta(minutes=14)).replace(tzinfo=TOKYO))
        assert tablet.login(rows, "receptionist").status_code == 401
        clock.move_to((start + timedelta(minutes=16)).replace(tzinfo=TOKYO))
        assert tablet.login(rows, "receptionist").status_code == 303


def test_device_cookie_failures_and_logins_are_told_apart_in_the_audit_log(app, world):
    rows = world["a"]
    tablet = Browser(app)
    tablet.login(rows, "receptionist")
    tablet.logout()
    tablet.login(rows, "receptionist", WRONG)
    with app.app_context(), clinic_context(rows.clinic.id):
        last = AuditLog.select().order_by(AuditLog.id.desc()).get()
    assert last.action == "login_failed"
    assert last.details == {"reason": "wrong_password", "device_cookie": True}


def test_the_platform_admins_browser_gets_a_device_cookie_too(app, world):
    console = Browser(app, "192.0.2.30")
    assert console.admin_login().status_code == 303
    console.post("/admin/logout", {})
    for n in range(5):
        assert Browser(app, f"203.0.113.{n + 1}").admin_login(password=WRONG).status_code == 401
    assert Browser(app, "192.0.2.31").admin_login().status_code == 401
    assert console.admin_login().status_code == 303


# --- the failure budget of an address ---------------------------------------------------------

def test_past_the_budget_an_address_gets_429_with_retry_after_and_no_hash(app, world, hashes):
    rows = world["a"]
    flood = Browser(app, "203.0.113.66")
    for _ in range(BUDGET):
        assert flood.login(rows, "receptionist", WRONG).status_code == 401
    verified = len(hashes)
    for attempt in (lambda: flood.login(rows, "receptionist"),  # even the right password
                    lambda: flood.login_as(rows.code, "nobody"),
                    lambda: flood.login_as("no-such-clinic", "nobody"),
                    lambda: flood.admin_login()):
        response = attempt()
        assert response.status_code == 429
        assert 0 < int(response.headers["Retry-After"]) <= 15 * 60
        assert "しばらく" in response.get_data(as_text=True) or "後に" in response.get_data(as_text=True)
    assert len(hashes) == verified  # no Argon2 work for a throttled address


def test_the_budget_counts_unknown_users_and_clinics_too(app, world, hashes):
    flood = Browser(app, "203.0.113.67")
    for n in range(BUDGET):
        flood.login_as("no-such-clinic" if n % 2 else "clinic-a", f"guess{n}")
    verified = len(hashes)
    assert flood.login(world["a"], "owner").status_code == 429
    assert len(hashes) == verified


def test_a_disabled_account_is_throttled_too(app, world, hashes):
    rows = world["a"]
    with app.app_context(), clinic_context(rows.clinic.id):
        User.update(is_active=False).where(User.id == rows.users["therapist"].id).execute()
    flood = Browser(app, "203.0.113.73")
    for _ in range(BUDGET):
        assert flood.login(rows, "therapist").status_code == 401
    verified = len(hashes)
    assert flood.login(rows, "therapist").status_code == 429
    assert len(hashes) == verified


def test_the_budget_is_per_address(app, world):
    rows = world["a"]
    flood = Browser(app, "203.0.113.68")
    for _ in range(BUDGET):
        flood.login_as(rows.code, "nobody")
    assert flood.login(rows, "owner").status_code == 429
    assert Browser(app, "203.0.113.69").login(rows, "owner").status_code == 303


def test_the_budget_opens_again_with_the_next_window(app, world):
    rows = world["a"]
    start = now()
    with travel(start) as clock:
        flood = Browser(app, "203.0.113.70")
        for _ in range(BUDGET):
            flood.login_as(rows.code, "nobody")
        retry_after = int(flood.login(rows, "owner").headers["Retry-After"])
        clock.move_to((start + timedelta(seconds=retry_after)).replace(tzinfo=TOKYO))
        assert flood.login(rows, "owner").status_code == 303


def test_throttled_requests_add_no_audit_rows(app, world):
    flood = Browser(app, "203.0.113.71")
    for n in range(200):
        flood.login_as("clinic-a", f"guess{n}")
    assert audit_rows_from(app, "203.0.113.71") <= BUDGET


def test_the_budget_holds_across_app_processes(app, world, database_location):
    """Another process, sharing only the database, spends the address's budget."""
    script = textwrap.dedent(f"""
        from karusaku import create_app
        app = create_app({{"TESTING": True, "WTF_CSRF_ENABLED": False,
                          "DATABASE": {database_location!r}, "SECRET_KEY": "test secret key",
                          "ARGON2": {{"time_cost": 1, "memory_cost": 8, "parallelism": 1}}}})
        client = app.test_client()
        for n in range({BUDGET}):
            response = client.post("/login", data={{"clinic_code": "clinic-a",
                                   "username": f"guess{{n}}", "password": "wrong"}},
                                   environ_base={{"REMOTE_ADDR": "203.0.113.72"}})
            assert response.status_code == 401, response.status_code
    """)
    env = {**os.environ, "PYTHONPATH": os.getcwd()}
    subprocess.run([sys.executable, "-c", script], check=True, env=env, timeout=120)
    assert Browser(app, "203.0.113.72").login(world["a"], "owner").status_code == 429


# --- a bounded audit log ----------------------------------------------------------------------

def test_a_thousand_failures_from_one_address_leave_at_most_the_bound_in_the_audit_log(app, world):
    app.config["LOGIN_BUDGET_FAILURES"] = 10_000  # the audit bound alone is under test here
    bound = AUDIT_BOUND
    rows = world["a"]
    start = now().replace(minute=0, second=0) + timedelta(hours=1)
    with travel(start) as clock:
        flood = Browser(app, "203.0.113.80")
        for n in range(1000):
            kind = n % 3
            if kind == 0:
                response = flood.login(rows, "receptionist", WRONG)  # locks, then "locked"
            elif kind == 1:
                response = flood.login_as(rows.code, f"nobody{n}")
            else:
                response = flood.login_as(f"no-clinic-{n}", "nobody")
            assert response.status_code == 401
        assert audit_rows_from(app, "203.0.113.80") <= bound
        assert platform_rows(app, "login_failures_suppressed") == []
        # The hour closes; the next failure from anywhere writes the hour's one summary row.
        clock.move_to((start + timedelta(hours=1, minutes=1)).replace(tzinfo=TOKYO))
        Browser(app, "192.0.2.1").login_as(rows.code, "nobody")
    [(address, detail)] = platform_rows(app, "login_failures_suppressed")
    assert address == "203.0.113.80"
    assert detail["failures"] >= 1000 and detail["not_logged"] == detail["failures"] - bound
    assert audit_rows_from(app, "203.0.113.80") <= bound + 1


def test_unknown_users_cannot_grow_a_clinics_chain_without_bound(app, world):
    app.config["LOGIN_BUDGET_FAILURES"] = 10_000
    rows = world["b"]
    with app.app_context(), clinic_context(rows.clinic.id):
        before = AuditLog.select().count()
    flood = Browser(app, "203.0.113.81")
    for n in range(100):
        flood.login_as(rows.code, f"nobody{n}")
    with app.app_context(), clinic_context(rows.clinic.id):
        assert AuditLog.select().count() - before <= AUDIT_BOUND


def test_the_first_failures_of_an_hour_are_still_logged_one_by_one(app, world):
    rows = world["a"]
    Browser(app, "203.0.113.82").login(rows, "therapist", WRONG)
    with app.app_context(), clinic_context(rows.clinic.id):
        last = AuditLog.select().order_by(AuditLog.id.desc()).get()
    assert (last.action, last.ip, last.username) == (
        "login_failed", "203.0.113.82", rows.users["therapist"].username)


# --- the session's absolute lifetime ----------------------------------------------------------

def test_twelve_hours_end_a_session_that_kept_being_active(app, world):
    rows = world["a"]
    start = now()
    with travel(start) as clock:
        tablet = Browser(app)
        assert tablet.login(rows, "receptionist").status_code == 303
        moment = start
        while moment < start + timedelta(hours=11, minutes=50):
            moment += timedelta(minutes=20)
            clock.move_to(moment.replace(tzinfo=TOKYO))
            if moment < start + timedelta(hours=12):
                assert tablet.logged_in(), moment - start
        clock.move_to((start + timedelta(hours=12, minutes=1)).replace(tzinfo=TOKYO))
        assert not tablet.logged_in()


def test_the_session_lifetime_is_a_setting(app, world):
    app.config["SESSION_MAX_HOURS"] = 1
    rows = world["a"]
    start = now()
    with travel(start) as clock:
        tablet = Browser(app)
        tablet.login(rows, "receptionist")
        for minutes in (20, 40, 59):
            clock.move_to((start + timedelta(minutes=minutes)).replace(tzinfo=TOKYO))
            assert tablet.logged_in()
        clock.move_to((start + timedelta(minutes=61)).replace(tzinfo=TOKYO))
        assert not tablet.logged_in()


# --- in a real browser ------------------------------------------------------------------------

def test_a_real_tablet_keeps_logging_in_while_strangers_lock_the_account(
        app, world, live_server, tablet):
    def log_in(password=PASSWORD):
        tablet.goto(f"{live_server}/login")
        tablet.fill("#f-clinic_code", "clinic-a")
        tablet.fill("#f-username", "clinic-a-receptionist")
        tablet.fill("#f-password", password)
        tablet.click("button[type=submit]")

    log_in()
    tablet.wait_for_url(f"{live_server}/")
    assert DEVICE_COOKIE not in tablet.evaluate("document.cookie")  # HttpOnly
    tablet.context.clear_cookies(name="karusaku_session")  # the session ends; the device stays
    fail_from_many_addresses(app, world["a"], "receptionist", 10)
    assert refused_anywhere_else(app, world["a"], "receptionist")
    log_in()
    tablet.wait_for_url(f"{live_server}/")
    assert "受付" in tablet.inner_text(".who")


# --- the second step shares the password step's defences -------------------------------------

def _with_authenticator(app, rows, role, secret):
    with app.app_context(), clinic_context(rows.clinic.id):
        User.update(totp_secret=secret).where(User.id == rows.users[role].id).execute()


def _code(app, rows, role, secret):
    return fresh_code(app, User, rows.users[role].id, secret)


def test_codes_at_the_second_step_spend_the_address_budget_then_429(app, world, hashes):
    rows, secret = world["a"], pyotp.random_base32()
    _with_authenticator(app, rows, "therapist", secret)
    guesser = Browser(app, "203.0.113.90")
    assert guesser.login(rows, "therapist").status_code == 303  # the password was known
    for _ in range(BUDGET):
        assert guesser.post("/login/2fa", {"code": "000000"}).status_code == 401
    answer = guesser.post("/login/2fa", {"code": _code(app, rows, "therapist", secret)})
    assert answer.status_code == 429  # even the right code, once the address is past its budget
    assert 0 < int(answer.headers["Retry-After"]) <= 15 * 60
    assert not guesser.logged_in()


def test_strangers_wrong_codes_do_not_lock_the_tablet_that_holds_the_device_cookie(app, world):
    rows, secret = world["a"], pyotp.random_base32()
    _with_authenticator(app, rows, "therapist", secret)
    tablet = Browser(app, "192.0.2.40")
    tablet.login(rows, "therapist")
    assert tablet.post("/login/2fa", {"code": _code(app, rows, "therapist", secret)}).status_code == 303
    tablet.logout()
    for n in range(6):  # someone with the password, from elsewhere, guessing codes
        stranger = Browser(app, f"203.0.113.{100 + n}")
        assert stranger.login(rows, "therapist").status_code in (303, 401)
        stranger.post("/login/2fa", {"code": "000000"})
    assert user_locked(app, rows, "therapist")
    assert tablet.login(rows, "therapist").status_code == 303
    answer = tablet.post("/login/2fa", {"code": _code(app, rows, "therapist", secret)})
    assert answer.status_code == 303 and tablet.logged_in()


def user_locked(app, rows, role):
    with app.app_context(), clinic_context(rows.clinic.id):
        return User.get_by_id(rows.users[role].id).is_locked
