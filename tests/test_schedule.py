"""The day schedule, booking, moving and the status flow."""
import re
from datetime import date, datetime, time, timedelta

import pytest

from karusaku.clock import today
from karusaku.db.connection import database
from karusaku.db.tenancy import clinic_context
from karusaku.forms import FormReader
from karusaku.forms.appointments import check_slot
from karusaku.models import Appointment, AuditLog, Clinic, Patient, Therapist
from karusaku.models.appointments import therapist_problem, time_problem

from .conftest import every_clinic


def at(hour, minute=0, day=None):
    return datetime.combine(day or today(), time(hour, minute))


def stamp(moment):
    return moment.strftime("%Y-%m-%dT%H:%M")


def count(app, model, clinic=None):
    with app.app_context(), every_clinic():
        query = model.select()
        if clinic is not None:
            query = query.where(model.clinic == clinic.clinic.id)
        return query.count()


def booking(rows, start, minutes=30, **extra):
    return {"patient_id": rows.patient.id, "therapist_id": rows.therapist.id,
            "appointment_date": stamp(start), "duration_minutes": str(minutes), **extra}


def errors(response):
    return re.findall(r'class="error"[^>]*>([^<]+)<', response.get_data(as_text=True))


@pytest.fixture
def desk(as_user):
    return as_user("a", "receptionist")


# --- the grid -----------------------------------------------------------------------------

def test_the_day_grid_shows_each_therapist_and_appointment(desk, world):
    page = desk.get(f"/schedule?date={today().isoformat()}").get_data(as_text=True)
    assert "A整骨院の施術者" in page and "山田 太郎" in page
    assert 'rowspan="2"' in page  # 10:00-10:30 spans two 15-minute slots
    assert "別院 花子" not in page
    assert page.count('class="slot"') > 10  # free slots to tap


def test_an_htmx_request_gets_only_the_grid(desk):
    response = desk.get("/schedule", headers={"HX-Request": "true"})
    body = response.get_data(as_text=True)
    assert response.status_code == 200 and "<html" not in body
    assert body.lstrip().startswith('<section id="schedule"')
    assert "HX-Request" in response.headers["Vary"]


def test_a_boosted_or_history_restore_request_gets_the_whole_page(desk):
    for header in ("HX-Boosted", "HX-History-Restore-Request"):
        body = desk.get("/schedule", headers={"HX-Request": "true", header: "true"}).get_data(as_text=True)
        assert "<html" in body


def test_therapists_see_the_grid_without_booking_slots_and_their_column_first(app, world, as_user):
    with app.app_context(), clinic_context(world["a"].clinic.id):
        Therapist.create(name="先頭の施術者")  # created later, so listed first only if it were own
    page = as_user("a", "therapist").get("/schedule").get_data(as_text=True)
    assert 'class="slot"' not in page
    headers = re.findall(r'<th scope="col">([^<]+)</th>', page)
    assert headers[0] == "A整骨院の施術者"


def test_holidays_and_closed_days_are_marked(app, world, desk):
    assert "元日" in desk.get("/schedule?date=2027-01-01").get_data(as_text=True)
    with app.app_context():
        Clinic.update(closed_weekdays="6").where(Clinic.id == world["a"].clinic.id).execute()
    sunday = date(2027, 1, 3)
    page = desk.get(f"/schedule?date={sunday.isoformat()}").get_data(as_text=True)
    assert "休診日" in page and 'class="slot"' not in page


def test_nonsense_dates_are_422_and_another_clinics_therapist_404(desk, world):
    for value in ("2026-13-01", "tomorrow", "２０２６-01-01", "2026-1-1x"):
        assert desk.get(f"/schedule?date={value}").status_code == 422
    assert desk.get(f"/schedule?therapist_id={world['b'].therapist.id}").status_code == 404
    assert desk.get("/schedule?therapist_id=abc").status_code == 422


def test_the_week_view_shows_one_therapists_week(desk, world):
    page = desk.get(f"/schedule/week?therapist_id={world['a'].therapist.id}").get_data(as_text=True)
    assert "の週" in page and "山田 太郎" in page
    assert len(re.findall(r'<th scope="col"><a href="/schedule\?date=', page)) == 7


# --- booking ------------------------------------------------------------------------------

def test_booking_a_free_slot(app, world, desk):
    before = count(app, Appointment)
    response = desk.post("/appointments", data=booking(world["a"], at(14)))
    assert response.status_code == 303
    assert response.headers["Location"] == f"/schedule?date={today().isoformat()}"
    assert count(app, Appointment) == before + 1
    with app.app_context(), clinic_context(world["a"].clinic.id):
        made = Appointment.get(Appointment.appointment_date == at(14))
        assert made.created_by_id == world["a"].users["receptionist"].id
        assert [e.action for e in made.history()] == ["appointment_booked"]


def test_booking_by_htmx_answers_201_with_the_grid_and_pushes_the_url(desk, world):
    response = desk.post("/appointments", data=booking(world["a"], at(14)),
                         headers={"HX-Request": "true", "HX-Target": "booking-panel"})
    assert response.status_code == 201
    assert response.headers["HX-Retarget"] == "#schedule"
    assert response.headers["HX-Push-Url"] == f"/schedule?date={today().isoformat()}"
    assert "予約を1件登録しました" in response.get_data(as_text=True)


@pytest.mark.parametrize("start,minutes", [((10, 0), 30), ((9, 45), 30), ((10, 15), 5),
                                           ((9, 0), 120)])
def test_an_overlap_is_409_and_saves_nothing(app, world, desk, start, minutes):
    before = count(app, Appointment)
    response = desk.post("/appointments", data=booking(world["a"], at(*start), minutes))
    assert response.status_code == 409
    assert "別の予約があります" in response.get_data(as_text=True)
    assert count(app, Appointment) == before


def test_back_to_back_bookings_do_not_overlap(app, world, desk):
    assert desk.post("/appointments", data=booking(world["a"], at(9, 30))).status_code == 303
    assert desk.post("/appointments", data=booking(world["a"], at(10, 30))).status_code == 303


def test_a_cancelled_appointment_frees_its_slot(world, desk):
    desk.post(f"/appointments/{world['a'].appointment.id}/status", data={"status": "cancelled"})
    assert desk.post("/appointments", data=booking(world["a"], at(10))).status_code == 303


def test_another_therapist_may_take_the_same_time(app, world, desk):
    with app.app_context(), clinic_context(world["a"].clinic.id):
        other = Therapist.create(name="二人目")
    data = {**booking(world["a"], at(10)), "therapist_id": other.id}
    assert desk.post("/appointments", data=data).status_code == 303


@pytest.mark.parametrize("change,message", [
    ({"duration_minutes": "0"}, "所要時間は1以上"),
    ({"duration_minutes": "-30"}, "所要時間は1以上"),
    ({"duration_minutes": "abc"}, "所要時間は数字"),
    ({"duration_minutes": "481"}, "所要時間は480以下"),
    ({"appointment_date": "2026-02-30T10:00"}, "日時は"),
    ({"appointment_date": ""}, "日時を入力"),
    ({"therapist_id": ""}, "施術者を入力"),
    ({"patient_id": ""}, "患者を選ぶか"),
    ({"patient_id": "999999"}, "患者を選び直して"),
    ({"notes": "x" * 1001}, "メモは1000文字以内"),
    ({"repeat": "daily"}, "繰り返しを選んで"),
    ({"repeat": "weekly", "times": "13"}, "回数は12以下"),
])
def test_bad_booking_input_is_422_with_the_input_back(app, world, desk, change, message):
    before = count(app, Appointment)
    response = desk.post("/appointments", data={**booking(world["a"], at(15)), **change})
    assert response.status_code == 422
    assert any(message in e for e in errors(response)), errors(response)
    assert count(app, Appointment) == before


def test_outside_the_clinics_hours_is_422(world, desk):
    for start, minutes in (((8, 45), 30), ((19, 45), 30), ((20, 0), 15), ((23, 50), 30)):
        response = desk.post("/appointments", data=booking(world["a"], at(*start), minutes))
        assert response.status_code == 422, start
        assert any("診療時間" in e for e in errors(response))


def test_an_inactive_therapist_takes_no_bookings(app, world, desk):
    with app.app_context(), clinic_context(world["a"].clinic.id):
        Therapist.update(status="inactive").where(Therapist.id == world["a"].therapist.id).execute()
    response = desk.post("/appointments", data=booking(world["a"], at(15)))
    assert response.status_code == 422 and any("無効" in e for e in errors(response))


def test_another_clinics_patient_or_therapist_cannot_be_booked(app, world, desk):
    before = count(app, Appointment)
    for change in ({"patient_id": world["b"].patient.id}, {"therapist_id": world["b"].therapist.id}):
        assert desk.post("/appointments", data={**booking(world["a"], at(15)), **change}).status_code == 422
    assert count(app, Appointment) == before


def test_quick_registration_books_a_new_patient(app, world, desk):
    data = {**booking(world["a"], at(16)), "patient_id": "", "name": "新患 一郎",
            "name_kana": "しんかん いちろう", "phone": "090-1111-2222"}
    assert desk.post("/appointments", data=data).status_code == 303
    with app.app_context(), clinic_context(world["a"].clinic.id):
        patient = Patient.get(Patient.name == "新患 一郎")
        assert patient.chart_number == 2 and patient.kana_key == "シンカンイチロウ"
        assert Appointment.get(Appointment.patient == patient).appointment_date == at(16)


def test_quick_registration_into_a_taken_slot_leaves_no_patient_behind(app, world, desk):
    before = count(app, Patient)
    data = {**booking(world["a"], at(10)), "patient_id": "", "name": "新患 二郎",
            "name_kana": "シンカン ジロウ", "phone": ""}
    assert desk.post("/appointments", data=data).status_code == 409
    assert count(app, Patient) == before


def test_quick_registration_past_the_patient_limit_is_403_and_books_nothing(app, world, desk):
    with app.app_context():
        Clinic.update(max_patients=1).where(Clinic.id == world["a"].clinic.id).execute()
    before = count(app, Appointment)
    data = {**booking(world["a"], at(16)), "patient_id": "", "name": "上限 三郎",
            "name_kana": "ジョウゲン サブロウ"}
    response = desk.post("/appointments", data=data)
    assert response.status_code == 403 and "上限" in response.get_data(as_text=True)
    assert count(app, Appointment) == before


def test_a_weekly_series_is_previewed_then_books_only_the_free_slots(app, world, desk):
    with app.app_context(), clinic_context(world["a"].clinic.id):
        Appointment.create(patient=world["a"].patient, therapist=world["a"].therapist,
                           appointment_date=at(11) + timedelta(days=14), duration_minutes=30)
    before = count(app, Appointment)
    data = booking(world["a"], at(11), repeat="weekly", times="4")
    preview = desk.post("/appointments", data=data)
    body = preview.get_data(as_text=True)
    assert preview.status_code == 200 and count(app, Appointment) == before
    assert body.count('class="conflict"') == 1 and body.count('class="free"') == 3
    assert desk.post("/appointments", data={**data, "confirm": "1"}).status_code == 303
    assert count(app, Appointment) == before + 3


def test_a_series_every_two_weeks(app, world, desk):
    data = booking(world["a"], at(12), repeat="biweekly", times="3", confirm="1")
    assert desk.post("/appointments", data=data).status_code == 303
    with app.app_context(), clinic_context(world["a"].clinic.id):
        starts = [a.appointment_date for a in Appointment.select().where(
            Appointment.appointment_date.hour == 12).order_by(Appointment.appointment_date)]
    assert starts == [at(12) + timedelta(days=14 * n) for n in range(3)]


# --- moving -------------------------------------------------------------------------------

def test_moving_an_appointment_and_its_history(app, world, desk):
    appointment = world["a"].appointment
    response = desk.post(f"/appointments/{appointment.id}", data={"appointment_date": stamp(at(17))})
    assert response.status_code == 303
    with app.app_context(), clinic_context(world["a"].clinic.id):
        moved = Appointment.get_by_id(appointment.id)
        assert moved.appointment_date == at(17) and moved.duration_minutes == 30
        assert moved.notes == appointment.notes  # fields left out stay as they were
    page = desk.get(f"/appointments/{appointment.id}").get_data(as_text=True)
    assert "予約を変更" in page and "17:00" in page


def test_moving_onto_another_appointment_is_409(app, world, desk):
    desk.post("/appointments", data=booking(world["a"], at(15)))
    response = desk.post(f"/appointments/{world['a'].appointment.id}",
                         data={"appointment_date": stamp(at(15, 15))})
    assert response.status_code == 409
    with app.app_context(), clinic_context(world["a"].clinic.id):
        assert Appointment.get_by_id(world["a"].appointment.id).appointment_date == at(10)


def test_moving_within_its_own_time_is_fine(world, desk):
    response = desk.post(f"/appointments/{world['a'].appointment.id}",
                         data={"appointment_date": stamp(at(10, 15)), "duration_minutes": "45"})
    assert response.status_code == 303


def test_bad_move_input_is_422(world, desk):
    for data in ({"appointment_date": "nonsense"}, {"duration_minutes": "0"},
                 {"therapist_id": world["b"].therapist.id}, {"appointment_date": stamp(at(6))}):
        assert desk.post(f"/appointments/{world['a'].appointment.id}", data=data).status_code == 422


def test_the_move_mode_offers_every_free_slot(desk, world):
    appointment = world["a"].appointment
    page = desk.get(f"/schedule?move={appointment.id}").get_data(as_text=True)
    assert "移動先の空き枠をタップしてください" in page and "ここへ" in page


# --- the status flow ----------------------------------------------------------------------

def status(session, appointment, value, **headers):
    return session.post(f"/appointments/{appointment.id}/status", data={"status": value},
                        headers=headers)


def current_status(app, rows):
    with app.app_context(), clinic_context(rows.clinic.id):
        return Appointment.get_by_id(rows.appointment.id).status


def test_check_in_then_complete_and_the_patient_is_no_longer_new(app, world, as_user):
    rows, therapist = world["a"], as_user("a", "therapist")
    assert status(therapist, rows.appointment, "arrived").status_code == 303
    assert status(therapist, rows.appointment, "completed").status_code == 303
    assert current_status(app, rows) == "completed"
    with app.app_context(), clinic_context(rows.clinic.id):
        assert not Patient.get_by_id(rows.patient.id).is_new_patient


@pytest.mark.parametrize("path,allowed", [
    (["cancelled"], True), (["no_show"], True), (["arrived", "cancelled"], True),
    (["completed"], False), (["arrived", "no_show"], False), (["arrived", "booked"], False),
    (["cancelled", "booked"], False), (["bogus"], False)])
def test_the_status_flow_for_staff(app, world, desk, path, allowed):
    codes = [status(desk, world["a"].appointment, value).status_code for value in path]
    assert (codes[-1] == 303) == allowed
    if not allowed:
        assert codes[-1] == 422


def test_an_owner_can_undo_a_mistaken_change_and_it_is_logged(app, world, as_user):
    rows, owner = world["a"], as_user("a", "owner")
    status(owner, rows.appointment, "arrived")
    status(owner, rows.appointment, "completed")
    assert status(owner, rows.appointment, "arrived").status_code == 303
    assert current_status(app, rows) == "arrived"
    with app.app_context(), clinic_context(rows.clinic.id):
        assert Patient.get_by_id(rows.patient.id).is_new_patient  # no completed visit any more
        log = [a.action for a in AuditLog.for_object("appointment", rows.appointment.id)]
    assert log.count("appointment_status") == 3


def test_reviving_a_cancelled_appointment_into_a_taken_slot_is_409(app, world, as_user):
    rows, owner = world["a"], as_user("a", "owner")
    status(owner, rows.appointment, "cancelled")
    owner.post("/appointments", data=booking(rows, at(10)))
    assert status(owner, rows.appointment, "booked").status_code == 409
    assert current_status(app, rows) == "cancelled"


def test_a_status_tap_on_the_grid_returns_the_grid(world, desk):
    response = status(desk, world["a"].appointment, "arrived", **{"HX-Request": "true",
                                                                  "HX-Target": "schedule"})
    body = response.get_data(as_text=True)
    assert response.status_code == 200 and body.lstrip().startswith('<section id="schedule"')
    assert "来院" in body


# --- roles --------------------------------------------------------------------------------

def test_therapists_cannot_book_or_move(app, world, as_user):
    therapist = as_user("a", "therapist")
    assert therapist.get("/appointments/new").status_code == 403
    assert therapist.post("/appointments", data=booking(world["a"], at(15))).status_code == 403
    assert therapist.post(f"/appointments/{world['a'].appointment.id}",
                          data={"appointment_date": stamp(at(15))}).status_code == 403
    assert therapist.get(f"/appointments/{world['a'].appointment.id}").status_code == 200


def test_the_booking_form_opens_with_the_tapped_slot(desk, world):
    start = stamp(at(13))
    body = desk.get(f"/appointments/new?therapist_id={world['a'].therapist.id}&start={start}",
                    headers={"HX-Request": "true"}).get_data(as_text=True)
    assert "<html" not in body and f'value="{start}"' in body
    assert f'<option value="{world["a"].therapist.id}" selected>' in body


def test_the_booking_form_searches_patients_without_javascript(desk, world):
    body = desk.get("/appointments/new?q=ﾔﾏﾀﾞ").get_data(as_text=True)
    assert f'name="patient_id" value="{world["a"].patient.id}"' in body


def test_a_transaction_is_not_left_open(app, world, desk):
    desk.post("/appointments", data=booking(world["a"], at(10)))  # a 409
    with app.app_context():
        assert not database.in_transaction()


def test_the_slot_rules_return_their_problem_and_write_into_no_form():
    clinic = Clinic(opens_at="09:00", closes_at="20:00", closed_weekdays="6")
    monday, sunday = datetime(2026, 4, 6, 10, 0), datetime(2026, 4, 12, 10, 0)
    assert time_problem(clinic, monday, 30) is None
    assert time_problem(clinic, monday.replace(hour=19, minute=45), 15) is None
    assert time_problem(clinic, sunday, 30) == "休診日には予約できません"
    outside = "診療時間（09:00〜20:00）の中で予約してください"
    assert time_problem(clinic, monday.replace(hour=8, minute=45), 30) == outside
    assert time_problem(clinic, monday.replace(hour=19, minute=45), 30) == outside
    assert time_problem(clinic, monday.replace(hour=23), 120) == outside  # past midnight
    assert therapist_problem(None) is None
    assert therapist_problem(Therapist(name="田中", status="active")) is None
    assert therapist_problem(Therapist(name="田中", status="inactive")) == (
        "田中さんは現在無効のため予約できません")


def test_the_booking_form_puts_each_slot_problem_on_its_field():
    clinic = Clinic(opens_at="09:00", closes_at="20:00", closed_weekdays="6")
    form = FormReader({})
    check_slot(form, clinic, Therapist(name="田中", status="inactive"),
               datetime(2026, 4, 12, 10, 0), 30)
    assert form.errors == {"therapist_id": "田中さんは現在無効のため予約できません",
                           "appointment_date": "休診日には予約できません"}
    form = FormReader({})
    check_slot(form, clinic, None, None, 30)  # no start: only the therapist is checked
    assert form.errors == {}
