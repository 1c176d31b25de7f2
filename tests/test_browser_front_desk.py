"""The receptionist's day in a real browser at 768×1024: book by tapping a slot, move the
booking, check the patient in, find a patient by kana."""
import os
import re

from karusaku.clock import today

from .test_browser import log_in


def open_schedule(page, base):
    log_in(page, base, "clinic-a", "clinic-a-receptionist")
    page.wait_for_url(f"{base}/")
    page.click("nav.main-nav >> text=予約表")
    page.wait_for_selector("table.grid")
    page.wait_for_load_state()


def slot(page, therapist_name, hhmm):
    """The free-slot link of a therapist's column at a time."""
    return page.locator(f'a.slot[aria-label="{therapist_name} {hhmm} に予約"]')


def pick_patient(page, typed):
    """Search the booking form's picker and choose the first match, once its answer is in."""
    with page.expect_response(lambda response: "/patients/pick" in response.url):
        page.fill("#f-q", typed)
    choice = page.locator("#patient-pick-results input[name=patient_id]").first
    choice.check()
    assert choice.is_checked()


def test_book_a_slot_by_tapping_it_then_move_it_and_check_in(live_server, world, tablet,
                                                             screenshot_dir):
    page, therapist = tablet, world["a"].therapist.name
    open_schedule(page, live_server)
    page.screenshot(path=os.path.join(screenshot_dir, "schedule-day-768x1024.png"), full_page=False)

    slot(page, therapist, "14:00").click()
    page.wait_for_selector("#booking-form")
    pick_patient(page, "やまだ")
    page.screenshot(path=os.path.join(screenshot_dir, "booking-form-768x1024.png"))
    page.click("#booking-form button.primary")
    page.wait_for_selector(".flash >> text=予約を1件登録しました")
    assert page.url.endswith(f"/schedule?date={today().isoformat()}")
    block = page.locator(".block", has_text="14:00–14:30")
    assert "山田 太郎" in block.inner_text()

    block.locator("a.block-link").click()
    page.click("text=予約表で移動先を選ぶ")
    page.locator(f'button[aria-label="{therapist} 16:00 へ移動"]').click()
    page.wait_for_selector(".flash >> text=予約を変更しました")
    assert "16:00〜16:30" in page.inner_text("dl.details")
    assert "予約を変更" in page.inner_text("ol.history")

    page.click("text=の予約表")
    moved = page.locator(".block", has_text="16:00–16:30")
    moved.locator("button", has_text="来院").click()
    page.wait_for_selector(".block.status-arrived >> text=16:00–16:30")
    assert "来院" in page.locator(".block", has_text="16:00–16:30").inner_text()


def test_a_conflicting_booking_says_why_in_the_form(live_server, world, tablet):
    page, therapist = tablet, world["a"].therapist.name
    open_schedule(page, live_server)
    slot(page, therapist, "09:45").click()
    page.wait_for_selector("#booking-form")
    pick_patient(page, "ヤマダ")
    page.click("#booking-form button.primary")  # 09:45-10:15 runs into the 10:00 booking
    page.wait_for_selector("#booking-form .error >> text=別の予約があります")
    assert page.input_value("#f-appointment_date").endswith("T09:45")


def test_search_a_patient_by_kana(live_server, world, tablet):
    page = tablet
    open_schedule(page, live_server)
    page.click("nav.main-nav >> text=患者")
    page.wait_for_load_state()  # htmx is ready once the page has loaded
    page.fill("input[name=q]", "ﾔﾏﾀﾞ")
    page.wait_for_url(re.compile(r".*/patients\?q=.*"))
    page.wait_for_selector("#patient-results >> text=山田 太郎")
    assert "別院 花子" not in page.content()
