"""Two receptionists booking the same slot at the same moment: exactly one succeeds."""
import http.cookiejar
import re
import threading
import urllib.error
import urllib.parse
import urllib.request
from datetime import datetime, time, timedelta

from karusaku.clock import today
from karusaku.models import Appointment
from karusaku.tenancy import clinic_context

from .conftest import PASSWORD

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
