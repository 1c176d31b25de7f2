"""The failure budget of a client address at the doors that check a secret.

An address gets LOGIN_BUDGET_FAILURES failed log-ins per LOGIN_BUDGET_MINUTES window (fixed
windows). Past them, `check` refuses with `Throttled` (429 with Retry-After) before any
password hash or second-factor code is computed. The counts live in the database
(login_throttle), so several app processes share them.

A door that checks an account's secret uses accounts.py, which calls these for browsers without
the account's device cookie: `trusted_nonce(account, devices.presented())`, then
`check_before_secret(account, nonce, ip)` (calls `check`; says "locked"), then after a wrong
secret `record_failure(account, nonce, ip, reason)` (calls `count_failure`, the lockout, and the
bounded audit `append_failure`). A door without an account calls `check` and `count_failure`
itself. The address is `sessions.client_ip()` (trusted proxies applied).
"""
from datetime import timedelta

from flask import current_app

from .clock import now
from .db.connection import database
from .models.throttle import AddressCounter, window_start

COUNTER = "failures"


class Throttled(Exception):
    """The address is past its failure budget; retry_after is in seconds."""

    def __init__(self, retry_after):
        super().__init__(f"too many failed log-ins; retry after {retry_after} s")
        self.retry_after = retry_after


def _window():
    minutes = current_app.config["LOGIN_BUDGET_MINUTES"]
    start = window_start(now(), minutes)
    return start, start + timedelta(minutes=minutes)


def check(address):
    """Raise Throttled when the address has spent its budget in the current window."""
    start, end = _window()
    if AddressCounter.hits_in(COUNTER, address, start) >= current_app.config["LOGIN_BUDGET_FAILURES"]:
        raise Throttled(max(1, int((end - now()).total_seconds())))


def count_failure(address):
    """One failure against the address's budget (older windows' counts are dropped)."""
    start, _ = _window()
    with database.atomic():
        AddressCounter.forget_before(COUNTER, start)
        return AddressCounter.hit(COUNTER, address, start)
