"""The second factor as a person meets it on a tablet: enrol with the QR page, log out, log in
with the authenticator's code (computed here by pyotp from the secret the page shows) or with a
recovery code. Real Chromium, real waitress server, the app's own CSP."""
import os
import time

import pyotp

from .test_browser import log_in

SMALL_TARGETS = """() => [...document.querySelectorAll('a, button, input, select, summary')]
    .filter(e => e.offsetParent !== null && e.type !== 'hidden')
    .map(e => [e.outerHTML.slice(0, 60), e.getBoundingClientRect().height])
    .filter(([_, h]) => h < 44)"""


def watch_errors(page):
    errors = []
    page.on("console", lambda message: message.type == "error" and errors.append(message.text))
    return errors


def enrol(page, base, screenshot_dir):
    """Enrol the logged-in user at /account/2fa: (secret, recovery codes)."""
    page.goto(f"{base}/account/2fa")
    qr = page.locator("svg.qr-code").bounding_box()
    assert qr["width"] >= 150 and qr["height"] >= 150  # drawn, large enough to scan
    assert page.evaluate(SMALL_TARGETS) == []
    page.screenshot(path=os.path.join(screenshot_dir, "2fa-enrol-768x1024.png"), full_page=True)
    secret = page.locator("code.secret").text_content().strip()
    assert f"secret={secret}" in page.locator("code.uri").text_content()
    page.fill("#f-code", pyotp.TOTP(secret).now())
    page.click("text=確認して設定する")
    page.wait_for_selector("ol.recovery-codes")
    codes = [code.strip() for code in page.locator("ol.recovery-codes code").all_text_contents()]
    assert len(codes) == 10
    page.screenshot(path=os.path.join(screenshot_dir, "2fa-recovery-codes.png"), full_page=True)
    page.click("text=保管しました。続ける")
    page.wait_for_url(f"{base}/")
    return secret, codes


def log_out(page, base):
    page.click("header button:has-text('ログアウト')")
    page.wait_for_url(f"{base}/login")


def second_step(page, base, code):
    page.wait_for_url(f"{base}/login/2fa")
    assert page.evaluate(SMALL_TARGETS) == []
    page.fill("#f-code", code)
    page.click("button[type=submit]:has-text('ログイン')")


def test_enrol_log_out_and_log_in_with_a_code_from_the_secret(live_server, world, tablet,
                                                             screenshot_dir):
    page = tablet
    errors = watch_errors(page)
    log_in(page, live_server, "clinic-a", "clinic-a-therapist")
    page.wait_for_url(f"{live_server}/")
    secret, _ = enrol(page, live_server, screenshot_dir)
    log_out(page, live_server)
    log_in(page, live_server, "clinic-a", "clinic-a-therapist")
    # The enrolment used this 30-second step's code; the next step's is accepted (window 1).
    second_step(page, live_server, pyotp.TOTP(secret).at(time.time() + 30))
    page.wait_for_url(f"{live_server}/")
    assert "施術者" in page.inner_text(".who")
    assert not errors, errors  # no CSP violation or script error on any of these pages


def test_a_replayed_code_is_refused_in_the_browser(live_server, world, tablet, screenshot_dir):
    page = tablet
    log_in(page, live_server, "clinic-a", "clinic-a-receptionist")
    page.wait_for_url(f"{live_server}/")
    secret, _ = enrol(page, live_server, screenshot_dir)
    code = pyotp.TOTP(secret).at(time.time() + 30)
    log_out(page, live_server)
    log_in(page, live_server, "clinic-a", "clinic-a-receptionist")
    second_step(page, live_server, code)
    page.wait_for_url(f"{live_server}/")
    log_out(page, live_server)
    log_in(page, live_server, "clinic-a", "clinic-a-receptionist")
    second_step(page, live_server, code)
    assert "確認できませんでした" in page.inner_text("main")
    assert page.url == f"{live_server}/login/2fa"
    page.goto(f"{live_server}/")
    assert page.url.startswith(f"{live_server}/login")


def test_log_in_with_a_recovery_code(live_server, world, tablet, screenshot_dir):
    page = tablet
    log_in(page, live_server, "clinic-a", "clinic-a-owner")
    page.wait_for_url(f"{live_server}/")
    _, codes = enrol(page, live_server, screenshot_dir)
    log_out(page, live_server)
    log_in(page, live_server, "clinic-a", "clinic-a-owner")
    page.wait_for_url(f"{live_server}/login/2fa")
    page.screenshot(path=os.path.join(screenshot_dir, "2fa-login-step.png"), full_page=True)
    second_step(page, live_server, codes[0])
    page.wait_for_url(f"{live_server}/")
    page.goto(f"{live_server}/account/2fa")
    assert "残りの回復コード: 9個" in page.inner_text("main")
