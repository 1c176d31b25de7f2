"""The treatment room in a real browser at 1024×768 (a tablet on its side)."""
import os
import re
from datetime import datetime, time

from karusaku.clock import today
from karusaku.db.tenancy import clinic_context
from karusaku.models import Appointment, MedicalRecord

from .test_browser import log_in


def therapist_logs_in(page, base):
    log_in(page, base, "clinic-a", "clinic-a-therapist")
    page.wait_for_url(f"{base}/")


def test_write_a_record_from_an_appointment(app, live_server, world, landscape, screenshot_dir):
    page, rows = landscape, world["a"]
    with app.app_context(), clinic_context(rows.clinic.id):
        appointment = Appointment.create(
            patient=rows.patient, therapist=rows.therapist, duration_minutes=30,
            appointment_date=datetime.combine(today(), time(15, 0)))
    therapist_logs_in(page, live_server)
    page.goto(f"{live_server}/appointments/{appointment.id}")
    page.click("button:has-text('来院')")
    page.click("text=施術録を書く")
    page.wait_for_selector("#record-form form")
    assert page.input_value("#f-therapist_id") == str(rows.therapist.id)
    assert page.input_value("input[name=appointment_id]") == str(appointment.id)

    page.fill("#f-symptoms", "首から肩にかけての張り")
    page.click(".template-buttons button:has-text('肩')")  # the clinic's 定型文 for 施術内容
    assert "A整骨院の定型文" in page.input_value("#f-treatment")
    page.check("input[name=body_chart_kind][value=stiffness]")
    page.click('#body-chart [data-region="back-neck"]')
    page.click('#body-chart [data-region="back-shoulder-right"]')
    assert page.input_value('select[name="mark-back-neck"]') == "stiffness"
    assert page.input_value('select[name="mark-back-shoulder-right"]') == "stiffness"
    page.screenshot(path=os.path.join(screenshot_dir, "record-form-1024x768.png"))

    page.click("#record-form button.primary")
    page.wait_for_url(re.compile(r".*/records/\d+$"))
    page.wait_for_selector("#record >> text=施術録を保存しました")
    assert "首から肩にかけての張り" in page.inner_text("#record")

    page.click("#record a:has-text('カルテ')")
    page.wait_for_selector("section[aria-label=施術録] article")
    newest = page.locator("section[aria-label=施術録] article").first
    assert "首から肩にかけての張り" in newest.inner_text()
    assert "こり" in newest.inner_text()
    page.screenshot(path=os.path.join(screenshot_dir, "chart-1024x768.png"), full_page=True)
    with app.app_context(), clinic_context(rows.clinic.id):
        record = MedicalRecord.for_appointment(appointment.id)
        assert {m["region"] for m in record.marks} == {"back-neck", "back-shoulder-right"}


def test_a_draft_survives_closing_the_page(app, live_server, world, chromium):
    rows = world["a"]
    context = chromium.new_context(viewport={"width": 1024, "height": 768}, locale="ja-JP")
    page = context.new_page()
    therapist_logs_in(page, live_server)
    page.goto(f"{live_server}/patients/{rows.patient.id}/records/new")
    page.fill("#f-symptoms", "書きかけの症状メモ")
    page.wait_for_selector("#draft-status >> text=下書きを保存しました")
    cookies = context.cookies()
    context.close()  # the tablet's browser crashes, or the page is dropped

    again = chromium.new_context(viewport={"width": 1024, "height": 768}, locale="ja-JP")
    again.add_cookies(cookies)
    page = again.new_page()
    page.goto(f"{live_server}/patients/{rows.patient.id}/records/new")
    assert page.input_value("#f-symptoms") == "書きかけの症状メモ"
    assert "下書きを復元しました" in page.inner_text(".draft-notice")
    again.close()


def test_a_failed_save_keeps_what_was_typed(live_server, world, landscape):
    page, rows = landscape, world["a"]
    therapist_logs_in(page, live_server)
    page.goto(f"{live_server}/patients/{rows.patient.id}/records/new")
    page.fill("#f-visit_date", "")
    page.fill("#f-symptoms", "消えてはいけない文章")
    page.click("#record-form button.primary")
    page.wait_for_selector("#record-form .error >> text=施術日を入力してください")
    assert page.input_value("#f-symptoms") == "消えてはいけない文章"

    page.context.set_offline(True)  # the Wi-Fi drops
    page.fill("#f-visit_date", "2026-04-01")
    page.click("#record-form button.primary")
    page.wait_for_selector("[data-save-error]:visible")
    assert page.input_value("#f-symptoms") == "消えてはいけない文章"
    page.context.set_offline(False)
