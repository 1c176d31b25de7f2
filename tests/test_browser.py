"""What a person does with the pages, in a real Chromium against a real waitress server."""
import os

from .conftest import PASSWORD


def log_in(page, base, clinic_code, username, password=PASSWORD):
    page.goto(f"{base}/login")
    page.fill("#f-clinic_code", clinic_code)
    page.fill("#f-username", username)
    page.fill("#f-password", password)
    page.click("button[type=submit]")


def test_receptionist_logs_in_on_a_tablet_and_sees_todays_schedule(live_server, world, tablet,
                                                                   screenshot_dir):
    page = tablet
    errors = []
    page.on("console", lambda message: message.type == "error" and errors.append(message.text))
    log_in(page, live_server, "clinic-a", "clinic-a-receptionist")
    page.wait_for_url(f"{live_server}/")
    assert "A整骨院" in page.inner_text(".clinic-name")
    assert "受付" in page.inner_text(".who")
    schedule = page.locator("ul.appointments")
    assert "山田 太郎" in schedule.inner_text()
    assert "別院 花子" not in page.content()
    page.screenshot(path=os.path.join(screenshot_dir, "home-768x1024.png"), full_page=True)
    assert page.evaluate("typeof htmx") == "object"  # the vendored htmx loaded under the CSP
    assert page.evaluate("htmx.config.historyCacheSize") == 0
    assert not errors, errors  # no CSP violation or script error


def test_touch_targets_are_at_least_44px(live_server, world, tablet):
    page = tablet
    log_in(page, live_server, "clinic-a", "clinic-a-owner")
    page.wait_for_url(f"{live_server}/")
    small = page.evaluate("""() => [...document.querySelectorAll('a, button, input, select')]
        .filter(e => e.offsetParent !== null && e.type !== 'hidden')
        .map(e => [e.outerHTML.slice(0, 60), e.getBoundingClientRect().height])
        .filter(([_, h]) => h < 44)""")
    assert small == []


def test_a_wrong_password_shows_the_generic_message(live_server, world, tablet):
    log_in(tablet, live_server, "clinic-a", "clinic-a-receptionist", "wrong password!!")
    assert "ログインできませんでした" in tablet.inner_text("main")
    assert tablet.input_value("#f-username") == "clinic-a-receptionist"
