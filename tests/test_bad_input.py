"""Property-based bad input: arbitrary strings, dates and numbers posted to every form of the
front desk get no 500, and a refused request leaves no row behind; every GET route, given
hostile values (tests/hostile.py) in every query parameter it reads, answers no 500."""
import threading
from datetime import date, timedelta
from urllib.parse import urlencode

import pytest
from flask import Request
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from werkzeug.datastructures import ImmutableMultiDict

from karusaku.clock import today

from . import hostile
from .conftest import run_sql
from .routes import TENANT_TABLES, is_staff_route, routes, url

SETTINGS = settings(max_examples=60, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])

texts = st.one_of(
    st.text(max_size=40),
    st.text(alphabet=st.characters(codec="utf-8"), max_size=300),
    st.sampled_from(["", " ", "\x00", "<script>alert(1)</script>", "' OR 1=1 --", "🙂" * 50,
                     "ﾔﾏﾀﾞ", "S55.4.1", "昭和64年1月8日", "R2/1/5", "2026-02-30", "9" * 40,
                     "-1", "0", "1e9", "NaN", "x" * 5000, "\u202e", "%00", "../../etc/passwd"]),
)
numbers = st.one_of(st.integers(min_value=-10**12, max_value=10**12).map(str), hostile.numbers,
                    texts)
dates = st.one_of(st.dates(min_value=date(1800, 1, 1), max_value=date(2200, 1, 1))
                  .map(date.isoformat), hostile.dates, texts)
datetimes = st.one_of(
    st.datetimes().map(lambda d: d.strftime("%Y-%m-%dT%H:%M")),
    st.builds(lambda d, h, m: f"{(today() + timedelta(days=d)).isoformat()}T{h:02d}:{m:02d}",
              st.integers(-3, 30), st.integers(0, 23), st.integers(0, 59)),
    hostile.datetimes, texts)

PATIENT = {"name": texts, "name_kana": texts, "date_of_birth": dates, "gender": texts,
           "phone": texts, "email": texts, "address": texts}
THERAPIST = {"name": texts, "license_number": texts, "specialty": texts, "phone": texts,
             "email": texts, "status": st.sampled_from(["active", "inactive", "", "x"]),
             "user_id": numbers}
BOOKING = {"patient_id": numbers, "therapist_id": numbers, "appointment_date": datetimes,
           "duration_minutes": numbers, "notes": texts, "repeat": texts, "times": numbers,
           "name": texts, "name_kana": texts, "phone": texts, "confirm": texts}
MOVE = {"therapist_id": numbers, "appointment_date": datetimes, "duration_minutes": numbers,
        "notes": texts}
SETTINGS_FORM = {"name": texts, "address": texts, "phone": texts, "email": texts,
                 "opens_at": texts, "closes_at": texts, "closed_weekdays": texts,
                 "slot_minutes": numbers}

FORMS = [  # (path with {ids}, fields)
    ("/patients", PATIENT),
    ("/patients/{patient_id}", PATIENT),
    ("/therapists", THERAPIST),
    ("/therapists/{therapist_id}", THERAPIST),
    ("/therapists/{therapist_id}/status", {"status": texts}),
    ("/appointments", BOOKING),
    ("/appointments/{appointment_id}", MOVE),
    ("/appointments/{appointment_id}/status", {"status": texts}),
    ("/settings", SETTINGS_FORM),
]
SEARCHES = ["/patients?q={}", "/patients/pick?q={}", "/schedule?date={}",
            "/schedule?therapist_id={}", "/schedule/week?date={}", "/appointments/new?start={}",
            "/appointments/new?q={}", "/schedule?move={}"]


def row_counts():
    return {table: run_sql(f"SELECT COUNT(*) FROM {table}").fetchone()[0]
            for table in TENANT_TABLES + ["clinics"]}


def subsets(fields):
    """Some of the fields, each with an arbitrary value (missing fields are bad input too)."""
    return st.fixed_dictionaries({}, optional=fields)


@pytest.mark.parametrize("path,fields", FORMS, ids=[path for path, _ in FORMS])
def test_arbitrary_form_input_never_answers_500_nor_leaves_a_partial_row(app, world, as_user,
                                                                          path, fields):
    session = as_user("a", "owner")
    url = path.format(**world["a"].ids())

    @SETTINGS
    @given(subsets(fields))
    def post(data):
        with app.app_context():
            before = row_counts()
        response = session.post(url, data=data)
        assert response.status_code < 500, (data, response.status_code)
        if response.status_code >= 400:
            with app.app_context():
                assert row_counts() == before, data
        if response.status_code == 422:
            body = response.get_data(as_text=True)
            assert "<script>alert(1)</script>" not in body

    post()


@pytest.mark.parametrize("pattern", SEARCHES)
def test_arbitrary_query_strings_never_answer_500(app, world, as_user, pattern):
    session = as_user("a", "receptionist")

    @SETTINGS
    @given(texts)
    def search(value):
        from urllib.parse import quote

        response = session.get(pattern.format(quote(value, safe="")))
        assert response.status_code < 500, (value, response.status_code)

    search()


# --- every GET route, every query parameter it reads ---------------------------------------

KILLERS = ["--5", "--1", "+-1", "−5", "－５", "²", "½", "①", "٣", "５", "9" * 19, "9" * 5000,
           "-9223372036854775809", "1e3", "", " ", "\x00", "9999-12-31", "0001-01-01",
           "0000-00-00", "2026-13-01", "2024-02-29", "9999-12", "0001-01", "2026-00",
           "9999-12-31T23:59", "2026-04-01T24:00", "x" * 100_000]
_read = threading.local()


class RecordingArgs(ImmutableMultiDict):
    """Query-string parameters that note each name the app asks for ("*": all of them)."""

    def _note(self, key):
        getattr(_read, "names", set()).add(key)

    def __getitem__(self, key):
        self._note(key)
        return super().__getitem__(key)

    def __contains__(self, key):
        self._note(key)
        return super().__contains__(key)

    def get(self, key, default=None, type=None):
        self._note(key)
        return super().get(key, default, type)

    def getlist(self, key, type=None):
        self._note(key)
        return super().getlist(key, type)

    def to_dict(self, flat=True):
        self._note("*")
        return super().to_dict(flat)

    def __iter__(self):
        self._note("*")
        return super().__iter__()


class RecordingRequest(Request):
    parameter_storage_class = RecordingArgs


def names_read(session, path):
    """The query parameters a GET of path asks for (None for a route that reads them all)."""
    _read.names = set()
    session.get(path)
    return _read.names


@pytest.fixture
def get_routes(app, world, as_user):
    """(session, path, parameter names) for every GET page of the clinic's staff, the owner's
    and the log-in pages, with the parameters each reads; a route that takes the whole query
    string gets every name any route reads and every field of the booking form."""
    app.request_class = RecordingRequest
    ids = world["a"].ids()
    owner, anonymous = as_user("a", "owner"), app.test_client()
    found = []
    for rule, method in routes(app):
        if method != "GET" or rule.rule.startswith("/admin"):
            continue
        session = owner if is_staff_route(rule) else anonymous
        path = url(app, rule, ids)
        found.append((session, path, names_read(session, path)))
    every = set().union(*(names for _, _, names in found), BOOKING, MOVE, {"start"}) - {"*"}
    return [(session, path, sorted(every if "*" in names else names))
            for session, path, names in found]


def test_the_walk_sees_the_parameters_routes_read(get_routes):
    read = {path: names for _, path, names in get_routes}
    assert {"date", "therapist_id", "move"} <= set(read["/schedule"])
    assert {"from", "to"} <= set(read["/reports"])
    assert {"user_id", "patient", "from", "to", "page"} <= set(read["/audit"])
    assert "patient_id" in read["/appointments/new"]


def test_every_get_route_answers_hostile_query_values_without_500(get_routes):
    """Each parameter alone (so that an early 422 on one cannot hide a crash on another)
    with each value that once gave a 500, or could."""
    failures = []
    for session, path, names in get_routes:
        for name in names:
            for value in KILLERS:
                response = session.get(path + "?" + urlencode({name: value}))
                if response.status_code >= 500:
                    failures.append((path, name, value[:40], response.status_code))
    assert not failures, failures


@settings(max_examples=12, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture,
                                 HealthCheck.too_slow])
@given(data=st.data())
def test_every_get_route_answers_any_mix_of_hostile_query_values_without_500(get_routes, data):
    for session, path, names in get_routes:
        query = data.draw(st.fixed_dictionaries({}, optional={n: hostile.hostile for n in names}))
        response = session.get(path + "?" + urlencode(query))
        assert response.status_code < 500, (path, query)


NAMED_IN_THE_ISSUE = [  # (URL, status, message on the page): each answered 500 before
    ("/schedule?therapist_id=--5", 422, "施術者は数字で入力してください"),
    ("/audit?user_id=--1", 422, "ユーザーは数字で入力してください"),
    ("/schedule?move=%C2%B2", 200, ""),  # not an appointment number: no move under way
    ("/appointments/new?patient_id=%C2%B2", 200, ""),  # not a patient: none picked
    ("/schedule?date=9999-12-31", 422, "日付は1900年から2999年までの日付にしてください"),
    ("/schedule?date=0001-01-01", 422, "日付は1900年から2999年までの日付にしてください"),
    ("/schedule/week?date=9999-12-31", 422, "日付は1900年から2999年までの日付にしてください"),
    ("/schedule/week?date=0001-01-03", 422, "日付は1900年から2999年までの日付にしてください"),
    ("/reports?from=9999-12", 422, "開始月は1900年から2999年までの月にしてください"),
    ("/patients/{patient_id}/records/new?appointment_id=%C2%B2", 200, ""),
    ("/patients/{patient_id}/records/new?copy_from=%C2%B2", 200, ""),
    ("/schedule?date=2999-12-31", 200, ""),  # the window's last day, and its next-day link
    ("/schedule/week?date=1900-01-01", 200, ""),
    ("/reports?to=2999-12", 200, ""),
]


@pytest.mark.parametrize("path,status,message", NAMED_IN_THE_ISSUE,
                         ids=[path for path, _, _ in NAMED_IN_THE_ISSUE])
def test_the_urls_named_in_the_issue_answer_a_page_or_422_with_a_japanese_message(
        world, as_user, path, status, message):
    response = as_user("a", "owner").get(path.format(**world["a"].ids()))
    assert response.status_code == status
    assert message in response.get_data(as_text=True)


PATH_IDS = ["0", "00000000000000000000001", str(2**63 - 1), str(2**63), "9" * 40, "１", "٣", "𝟏"]


def test_hostile_ids_in_the_path_answer_404_not_500(app, world, as_user):
    owner, ids = as_user("a", "owner"), world["a"].ids()
    failures = []
    for rule, method in routes(app):
        if not rule.arguments or rule.rule.startswith("/admin") or not is_staff_route(rule):
            continue
        for arg in rule.arguments:
            for value in PATH_IDS:
                path = url(app, rule, ids).replace(f"/{ids[arg]}", f"/{value}", 1)
                response = owner.get(path) if method == "GET" else owner.post(path, data={})
                if response.status_code >= 500:
                    failures.append((method, path, response.status_code))
    assert not failures, failures
