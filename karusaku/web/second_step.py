"""The second step of a log-in (/login/2fa, /admin/login/2fa) and the enrolment pages.

After the password, sessions.hold_pending() keeps a short-lived half-login in this browser's
signed cookie; no login session exists until the code is right. An account that must have a
second factor but has none enrols here instead (QR code, then the recovery codes, then in).
"""
from flask import flash, redirect, request, url_for

from .. import accounts, second_factor
from ..db.tenancy import clinic_context
from ..second_factor import SecondFactorError
from . import devices, htmx, sessions

CODE_FAILED = ("確認できませんでした。認証アプリの6桁のコード、または回復コードを確かめてください。"
               "続けて5回間違えると、そのアカウントは15分間ログインできなくなります。")
EXPIRED = "ログインの手続きが時間切れになりました。もう一度ログインしてください。"


def enrolment(account):
    """What the enrolment form shows: the pending secret, its otpauth:// URI and QR code."""
    secret = second_factor.pending_secret(account)
    uri = second_factor.provisioning_uri(account, secret)
    return {"secret": secret, "uri": uri, "qr": second_factor.qr_svg(uri)}


def page(account, action, status=200, error=None):
    """The code form, or the enrolment form for an account without a second factor yet."""
    if account.has_second_factor:
        return htmx.render("auth/second_step.html", status=status, action=action, error=error)
    with clinic_context(account.clinic_id):
        shown = enrolment(account)
    return htmx.render("auth/enrol.html", status=status, action=action, error=error, **shown)


def start_over(login_endpoint):
    flash(EXPIRED)
    return redirect(url_for(login_endpoint), code=303)


def submit(account, action, home):
    """Check the posted code (or confirm the enrolment), then start the session. A browser
    that is not trusted for the account (no device cookie) meets its address's failure budget
    first (429 before any code is checked), as at the password step."""
    code, ip = request.form.get("code", ""), sessions.client_ip()
    next_url = sessions.pending_next()
    with clinic_context(account.clinic_id):
        nonce = accounts.trusted_nonce(account, devices.presented())
        locked = accounts.check_before_secret(account, nonce, ip) == "locked"
        if not account.has_second_factor:
            try:
                codes = second_factor.confirm_enrolment(account, code, ip)
            except SecondFactorError as error:
                return page(account, action, 422, str(error))
            second_factor.logged_in(account, ip, nonce)
            sessions.start(account)
            return htmx.render("auth/recovery_codes.html", codes=codes,
                               next=sessions.safe_next(next_url, home))
        if second_factor.check_code(account, code, ip, nonce, locked) is None:
            return page(account, action, 401, CODE_FAILED)
        second_factor.logged_in(account, ip, nonce)
    sessions.start(account)
    return redirect(sessions.safe_next(next_url, home), code=303)
