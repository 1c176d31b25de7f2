"""Property-based bad input: arbitrary strings, dates and numbers posted to every form of the
front desk get no 500, and a refused request leaves no row behind."""
from datetime import date, timedelta

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from .conftest import run_sql
from .routes import TENANT_TABLES

SETTINGS = settings(max_examples=60, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])

texts = st.one_of(
    st.text(max_size=40),
    st.text(alphabet=st.characters(codec="utf-8"), max_size=300),
    st.sampled_from(["", " ", "\x00", "<script>alert(1)</script>", "' OR 1=1 --", "🙂" * 50,
                     "ﾔﾏﾀﾞ", "S55.4.1", "昭和64年1月8日", "R2/1/5", "2026-02-30", "9" * 40,
                     "-1", "0", "1e9", "NaN", "x" * 5000, "\u202e", "%00", "../../etc/passwd"]),
)
numbers = st.one_of(st.integers(min_value=-10**12, max_value=10**12).map(str), texts)
dates = st.one_of(st.dates(min_value=date(1800, 1, 1), max_value=date(2200, 1, 1))
                  .map(date.isoformat), texts)
datetimes = st.one_of(
    st.datetimes().map(lambda d: d.strftime("%Y-%m-%dT%H:%M")),
    st.builds(lambda d, h, m: f"{(date.today() + timedelta(days=d)).isoformat()}T{h:02d}:{m:02d}",
              st.integers(-3, 30), st.integers(0, 23), st.integers(0, 59)),
    texts)

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
