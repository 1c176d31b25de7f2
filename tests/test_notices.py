"""No patient data in any cookie: Flask keeps flashed messages in the session cookie, which is
signed but readable by anyone holding it. After every action that flashes a message the
cookie is decoded and searched for the patient's details; the page still names the patient."""
import json
import re
from datetime import datetime, time, timedelta

import pytest

from karusaku.clock import today
from karusaku.db.tenancy import clinic_context
from karusaku.models import Appointment, Patient

SECRET = {"name": "秘密 花子", "name_kana": "ヒミツ ハナコ", "phone": "03-9876-5432",
          "email": "himitsu@example.jp", "address": "東京都秘密区9-9-9", "gender": "女性",
          "date_of_birth": "1977-07-07"}
CHART_NUMBER = 73519735  # distinctive, and inside PostgreSQL's INTEGER


def cookie_text(app, session):
    """Everything the browser's cookies hold, the session cookie decoded."""
    texts = [cookie.value for cookie in session.client._cookies.values()]
    signed = session.client.get_cookie(app.config["SESSION_COOKIE_NAME"])
    data = app.session_interface.get_signing_serializer(app).loads(signed.value)
    assert "_user_id" in data  # the logged-in session, decoded
    return "\n".join(texts + [json.dumps(data, ensure_ascii=False, default=str)])


def assert_no_patient_data(app, session, *patients):
    stored = cookie_text(app, session)
    assert "カルテ" not in stored
    for patient in patients:
        for value in (patient.name, patient.name_kana, patient.phone, patient.email,
                      patient.address, patient.name.split()[0],
                      str(patient.chart_number) if patient.chart_number > 99999 else ""):
            if value:
                assert value not in stored, value


def flashes(response):
    return re.findall(r'<p class="flash[^"]*"[^>]*>([^<]*)</p>', response.get_data(as_text=True))


@pytest.fixture
def secret(app, world):
    """A patient of clinic A with details that must never reach a cookie, and a twin that
    registering the same person again will point out."""
    with app.app_context(), clinic_context(world["a"].clinic.id):
        birth = datetime.strptime(SECRET["date_of_birth"], "%Y-%m-%d").date()
        return Patient.create(chart_number=CHART_NUMBER, **{**SECRET, "date_of_birth": birth})


def test_registering_a_patient_keeps_names_out_of_the_cookie(app, world, as_user, secret):
    desk = as_user("a", "receptionist")
    response = desk.post("/patients", data={**SECRET, "name": "秘密 花子二"})
    assert response.status_code == 303
    with app.app_context(), clinic_context(world["a"].clinic.id):
        created = Patient.get(Patient.name == "秘密 花子二")
    assert_no_patient_data(app, desk, secret, created)
    shown = flashes(desk.get(response.headers["Location"]))
    assert shown[0] == f"患者「秘密 花子二」を登録しました（カルテ番号 {created.chart_number}）。"
    assert f"カルテ番号 {CHART_NUMBER} 秘密 花子" in shown[1]  # the possible duplicate
    assert flashes(desk.get(response.headers["Location"])) == []  # shown once


def test_editing_a_patient_keeps_names_out_of_the_cookie(app, world, as_user, secret):
    desk = as_user("a", "receptionist")
    response = desk.post(f"/patients/{secret.id}", data={**SECRET, "address": "東京都秘密区1"})
    assert response.status_code == 303
    assert_no_patient_data(app, desk, secret)
    assert flashes(desk.get(response.headers["Location"])) == ["患者「秘密 花子」の情報を更新しました。"]


def test_booking_keeps_names_out_of_the_cookie(app, world, as_user, secret):
    desk = as_user("a", "receptionist")
    a = world["a"]
    start = datetime.combine(today() + timedelta(days=1), time(15, 0))
    with app.app_context(), clinic_context(a.clinic.id):  # the third week is taken
        Appointment.create(patient=secret.id, therapist=a.therapist, duration_minutes=30,
                           appointment_date=start + timedelta(days=14))
    response = desk.post("/appointments", data={
        "patient_id": secret.id, "therapist_id": a.therapist.id, "duration_minutes": "30",
        "appointment_date": f"{start:%Y-%m-%dT%H:%M}", "repeat": "weekly", "times": "3",
        "confirm": "1"})
    assert response.status_code == 303, response.get_data(as_text=True)
    assert_no_patient_data(app, desk, secret)
    skipped = start + timedelta(days=14)
    assert flashes(desk.get(response.headers["Location"])) == [
        f"秘密 花子さんの予約を2件登録しました。予約できなかった日時: {skipped:%m/%d %H:%M}"]


def test_booking_from_the_grid_keeps_names_out_of_the_cookie(app, world, as_user, secret):
    desk = as_user("a", "receptionist")
    a = world["a"]
    response = desk.post("/appointments", headers={"HX-Request": "true"}, data={
        "patient_id": secret.id, "therapist_id": a.therapist.id, "duration_minutes": "30",
        "appointment_date": f"{today() + timedelta(days=1)}T16:00"})
    assert response.status_code == 201
    assert_no_patient_data(app, desk, secret)
    assert "秘密 花子さんの予約を1件登録しました。" in flashes(response)


FIXED_TEXT_ACTIONS = [  # (role, path with {ids}, data, htmx target): flashes of every other kind
    ("receptionist", "/appointments/{appointment_id}",
     {"appointment_date": "{tomorrow}T11:00"}, None),
    ("receptionist", "/appointments/{appointment_id}/status", {"status": "nonsense"}, "schedule"),
    ("owner", "/patients/{patient_id}/records/draft/discard", {}, None),
    ("owner", "/records/{record_id}/delete", {"reason": "誤記"}, None),
    ("owner", "/records/{record_id}/delete", {"reason": ""}, None),
    ("owner", "/patients/{patient_id}/records", "record", None),
    ("owner", "/settings", "settings", None),
]


@pytest.mark.parametrize("role,path,data,target", FIXED_TEXT_ACTIONS,
                         ids=[f"{p} {d if isinstance(d, str) else sorted(d)}"
                              for _, p, d, _ in FIXED_TEXT_ACTIONS])
def test_other_flashes_carry_no_patient_data_either(app, world, as_user, role, path, data,
                                                    target):
    a = world["a"]
    with app.app_context(), clinic_context(a.clinic.id):
        Patient.update(name=SECRET["name"], name_kana=SECRET["name_kana"],
                       phone=SECRET["phone"]).where(Patient.id == a.patient.id).execute()
        patient = Patient.get_by_id(a.patient.id)
    session = as_user("a", role)
    ids = a.ids()
    if data == "record":
        data = {"therapist_id": str(a.therapist.id), "visit_date": today().isoformat(),
                "symptoms": "秘密 花子の腰"}
    elif data == "settings":
        page = session.get("/settings").get_data(as_text=True)
        data = dict(re.findall(r'name="(name|opens_at|closes_at|slot_minutes)"[^>]*value="([^"]*)"',
                               page))
        data.setdefault("slot_minutes", "15")
    else:
        tomorrow = (today() + timedelta(days=1)).isoformat()
        data = {key: value.format(tomorrow=tomorrow) for key, value in data.items()}
    headers = {"HX-Request": "true", "HX-Target": target} if target else {}
    response = session.post(path.format(**ids), data=data, headers=headers)
    assert response.status_code < 500
    assert_no_patient_data(app, session, patient)


def test_a_notice_names_only_a_row_of_the_readers_own_clinic(app, world, as_user):
    """A notice carries a row id; put into words through the tenant scope, another clinic's
    id names nobody (even in a cookie signed with the app's key)."""
    desk = as_user("a", "receptionist")
    serializer = app.session_interface.get_signing_serializer(app)
    cookie = desk.client.get_cookie(app.config["SESSION_COOKIE_NAME"])
    data = serializer.loads(cookie.value)
    data["_flashes"] = [("message", {"notice": "patient_updated", "id": world["b"].patient.id}),
                        ("message", {"notice": "nonsense", "id": "x"})]
    desk.client.set_cookie(cookie.key, serializer.dumps(data), domain=cookie.domain)
    page = desk.get("/patients")
    assert page.status_code == 200
    assert flashes(page) == [] and world["b"].patient.name not in page.get_data(as_text=True)
