"""Simultaneous writers, on whichever database the suite runs on: two receptionists booking
the same slot (one succeeds), creations racing for a plan's last place (one gets it), draft
saves of one form racing (one draft, no error)."""
import http.cookiejar
import re
import threading
import urllib.error
import urllib.parse
import urllib.request
from datetime import datetime, time, timedelta

import pytest

from karusaku.clock import today
from karusaku.db.connection import database
from karusaku.db.tenancy import clinic_context
from karusaku.models import Appointment, Clinic, MedicalRecord, Patient, RecordDraft, Therapist
from karusaku.models.plan_limits import limits
from karusaku.plans import clinic_usage

from .conftest import PASSWORD, every_clinic

pytestmark = pytest.mark.durable  # writers race as in production, each commit synced

BOOKERS = 20


class NoRedirect(urllib.request.HTTPRedirectHandler):
    """Report a 303 as it is instead of following it."""

    def redirect_request(self, *args, **kwargs):
        return None


def logged_in_opener(base, clinic_code, username):
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar), NoRedirect)
    page = opener.open(f"{base}/login").read().decode()
    token = re.search(r'name="csrf-token" content="([^"]+)"', page).group(1)
    assert post(opener, f"{base}/login", {"clinic_code": clinic_code, "username": username,
                                          "password": PASSWORD, "csrf_token": token}) == 303
    page = opener.open(f"{base}/schedule").read().decode()
    return opener, re.search(r'name="csrf-token" content="([^"]+)"', page).group(1)


def post(opener, url, data):
    try:
        with opener.open(url, data=urllib.parse.urlencode(data).encode(), timeout=30) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def test_twenty_simultaneous_bookings_of_one_slot_give_one_booking(app, world, live_server):
    rows = world["a"]
    start = datetime.combine(today() + timedelta(days=1), time(15, 0))
    clients = [logged_in_opener(live_server, rows.code, rows.users[role].username)
               for role in ["receptionist", "owner"] * (BOOKERS // 2)]
    barrier = threading.Barrier(BOOKERS)
    results = [None] * BOOKERS

    def book(i):
        opener, token = clients[i]
        barrier.wait(timeout=30)
        results[i] = post(opener, f"{live_server}/appointments", {
            "csrf_token": token, "patient_id": rows.patient.id, "therapist_id": rows.therapist.id,
            "appointment_date": start.strftime("%Y-%m-%dT%H:%M"), "duration_minutes": 30})

    threads = [threading.Thread(target=book, args=(i,)) for i in range(BOOKERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(results) == [303] + [409] * (BOOKERS - 1)
    with app.app_context(), clinic_context(rows.clinic.id):
        assert Appointment.select().where(Appointment.appointment_date == start).count() == 1


RACERS = 8
ROUNDS = 3  # a race that a fix did not close shows in at least one of them


def race(count, action, app=None, clinic_id=None):
    """Run action(i) in count threads released together by a barrier; their results in order
    (an exception raised is the result). With app and clinic_id, each thread runs as that
    clinic on its own connection."""
    barrier = threading.Barrier(count)
    results = [None] * count

    def run(i):
        try:
            if app is None:
                barrier.wait(timeout=30)
                results[i] = action(i)
                return
            with app.app_context(), clinic_context(clinic_id):
                database.connect(reuse_if_open=True)
                barrier.wait(timeout=30)
                results[i] = action(i)
        except Exception as error:  # noqa: BLE001 - the result, checked by the test
            results[i] = error
        finally:
            if app is not None:
                database.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results


def outcome(results):
    """The results as names: 'ok' for a value, else the exception's class name."""
    return sorted("ok" if not isinstance(r, Exception) else type(r).__name__ for r in results)


def one_place_left(kind, limit, rows):
    """Bring the current clinic (of `rows`) to one place short of its limit of `kind`."""
    if kind == "patients":
        Clinic.update(max_patients=clinic_usage()["patients"] + 1).where(
            Clinic.id == Clinic.current().id).execute()
    elif kind == "therapists":
        Therapist.update(status="inactive").execute()
        for i in range(limit - 1):
            Therapist.add(name=f"在籍 {i}")
    else:  # this month's records become last month's; then limit - 1 new ones
        last_month = datetime.combine(today().replace(day=1) - timedelta(days=1), time(9, 0))
        MedicalRecord.update(created_at=last_month).execute()
        MedicalRecord.insert_many([{"patient": rows.patient.id, "therapist": rows.therapist.id,
                                    "visit_date": today()}] * (limit - 1)).execute()


CREATIONS = {
    "patients": lambda rows, i: Patient.register(name=f"同時 {i}", name_kana="ドウジ"),
    "therapists": lambda rows, i: Therapist.add(name=f"同時 {i}"),
    "records_this_month": lambda rows, i: MedicalRecord.write(
        rows.patient, rows.users["therapist"], therapist=rows.therapist, visit_date=today(),
        symptoms=f"同時 {i}"),
}


@pytest.mark.parametrize("kind", CREATIONS)
def test_simultaneous_creations_take_the_last_place_of_the_plan_once(app, world, kind):
    rows = world["a"]
    with app.app_context(), every_clinic():
        Clinic.update(subscription_plan="starter").where(Clinic.id == rows.clinic.id).execute()
    for _ in range(ROUNDS):
        with app.app_context(), clinic_context(rows.clinic.id):
            one_place_left(kind, limits(Clinic.current())[kind], rows)
            used = clinic_usage()[kind]
        results = race(RACERS, lambda i: CREATIONS[kind](rows, i), app, rows.clinic.id)
        assert outcome(results) == ["PlanLimitReached"] * (RACERS - 1) + ["ok"], results
        with app.app_context(), clinic_context(rows.clinic.id):
            assert clinic_usage()[kind] == used + 1


def test_simultaneous_draft_saves_of_one_form_leave_one_draft(app, world):
    rows = world["a"]
    user = rows.users["therapist"]
    for round_ in range(ROUNDS):
        with app.app_context(), clinic_context(rows.clinic.id):
            RecordDraft.discard(user, rows.patient.id)
        results = race(RACERS, lambda i, round_=round_: RecordDraft.keep(
            user, rows.patient.id, None, {"symptoms": f"{round_}-{i}"}), app, rows.clinic.id)
        assert outcome(results) == ["ok"] * RACERS, results
        with app.app_context(), clinic_context(rows.clinic.id):
            drafts = list(RecordDraft.select().where(RecordDraft.user == user.id,
                                                     RecordDraft.patient == rows.patient.id))
        assert len(drafts) == 1
        assert drafts[0].values["symptoms"] in {f"{round_}-{i}" for i in range(RACERS)}
        with app.app_context(), clinic_context(rows.clinic.id):
            RecordDraft.keep(user, rows.patient.id, None, {"symptoms": f"{round_}-last"})
            drafts = [d.values for d in RecordDraft.select().where(
                RecordDraft.user == user.id, RecordDraft.patient == rows.patient.id)]
        assert drafts == [{"symptoms": f"{round_}-last"}]
