"""Patients: live search, pagination, registration, the patient page, editing, limits, roles."""
import re
from contextlib import contextmanager
from datetime import date, datetime, time, timedelta

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from karusaku.clock import now as clinic_now
from karusaku.clock import today
from karusaku.db.tenancy import clinic_context
from karusaku.forms.patients import read_patient_form
from karusaku.models import Appointment, Clinic, Patient
from karusaku.models.patients import GENDERS


def text(response):
    return response.get_data(as_text=True)


@contextmanager
def _in_clinic(app, world, clinic="a"):
    """The app context, as one clinic."""
    with app.app_context(), clinic_context(world[clinic].clinic.id):
        yield


def _add(app, world, clinic="a", **fields):
    with _in_clinic(app, world, clinic):
        return Patient.register(**fields)


def _count(app, world, clinic="a"):
    with _in_clinic(app, world, clinic):
        return Patient.select().count()


def _get(app, world, patient_id, clinic="a"):
    with _in_clinic(app, world, clinic):
        return Patient.get_by_id(patient_id)


def _new_patient(**fields):
    return {"name": "佐藤 花子", "name_kana": "サトウ ハナコ", "date_of_birth": "1990-05-06",
            "gender": "女性", "phone": "03-1234-5678", "email": "hanako@example.jp",
            "address": "東京都千代田区1-1", **fields}


def _chart_numbers(body):
    return [int(n) for n in re.findall(r'<td class="num">(\d+)</td>', body)]


# --- search ------------------------------------------------------------------------------

def test_kana_search_finds_yamada_in_hiragana_katakana_and_half_width(as_user):
    session = as_user("a", "receptionist")
    for q in ("やまだ", "ヤマダ", "ﾔﾏﾀﾞ", "ﾔﾏ だ", " やま ﾀﾞ ", "ヤマダ　タロウ", "やまだたろう"):
        body = text(session.get("/patients", query_string={"q": q}))
        assert "山田 太郎" in body, q


def test_search_by_phone_with_and_without_hyphens_and_by_chart_number(app, world, as_user):
    _add(app, world, name="電話 次郎", name_kana="デンワ ジロウ", phone="045-987-6543")
    session = as_user("a", "receptionist")
    for q in ("045-987-6543", "0459876543", "９８７６５４３", "987-6543", "045ー987ー6543"):
        body = text(session.get("/patients", query_string={"q": q}))
        assert "電話 次郎" in body and "山田 太郎" not in body, q
    body = text(session.get("/patients", query_string={"q": "2"}))
    assert "電話 次郎" in body  # chart number 2


def test_search_by_part_of_the_name(app, world, as_user):
    _add(app, world, name="鈴木 一郎", name_kana="スズキ イチロウ")
    body = text(as_user("a", "therapist").get("/patients", query_string={"q": "太郎"}))
    assert "山田 太郎" in body and "鈴木 一郎" not in body


def test_search_never_shows_another_clinics_patients(as_user):
    session = as_user("a", "owner")
    for q in ("", "別院", "ヤマダ", "090", "1"):
        body = text(session.get("/patients", query_string={"q": q}))
        assert "別院 花子" not in body, q
    assert "別院 花子" in text(as_user("b", "owner").get("/patients"))


def test_search_with_odd_input_never_fails(as_user):
    session = as_user("a", "receptionist")
    for q in ("%", "_", "'\"", "\x00", "😀", "<script>", "x" * 5000, "9" * 40, "--", "ー"):
        response = session.get("/patients", query_string={"q": q})
        assert response.status_code == 200, q
        assert "<script>" not in text(response).split("</header>")[1]
    for page in ("-1", "abc", "99999999999999999999", "0", "２"):
        assert session.get("/patients", query_string={"page": page}).status_code == 200


def test_live_search_answers_only_the_results_fragment_for_htmx(as_user):
    session = as_user("a", "receptionist")
    fragment = session.get("/patients?q=やまだ", headers={"HX-Request": "true"})
    assert fragment.status_code == 200
    assert "<html" not in text(fragment) and "山田 太郎" in text(fragment)
    assert 'id="patient-results"' not in text(fragment)  # the inside of the target, swapped in
    page = session.get("/patients?q=やまだ")
    assert "<html" in text(page) and 'id="patient-results"' in text(page)
    boosted = session.get("/patients?q=やまだ", headers={"HX-Request": "true", "HX-Boosted": "true"})
    assert "<html" in text(boosted)


def test_the_search_box_is_a_live_search_that_works_as_a_plain_form(as_user):
    body = text(as_user("a", "receptionist").get("/patients?q=ヤマダ"))
    box = re.search(r'<input id="patient-q"[^>]*>', body, re.S).group(0)
    assert 'type="search"' in box and 'name="q"' in box and 'value="ヤマダ"' in box
    assert 'hx-get="/patients"' in box and 'hx-push-url="true"' in box
    assert 'hx-trigger="input changed delay:250ms, search"' in box
    assert 'hx-target="#patient-results"' in box
    assert re.search(r'<form[^>]*method="get" action="/patients"', body)


# --- pagination --------------------------------------------------------------------------

def test_120_patients_make_three_pages_of_50_50_and_20(app, world, as_user):
    with _in_clinic(app, world):
        for n in range(119):
            Patient.register(name=f"患者{n:03d}", name_kana=f"カンジャ {n:03d}")
    session = as_user("a", "receptionist")
    pages = [text(session.get("/patients", query_string={"page": p})) for p in (1, 2, 3)]
    numbers = [_chart_numbers(body) for body in pages]
    assert [len(n) for n in numbers] == [50, 50, 20]
    assert len(set(sum(numbers, []))) == 120
    assert "120件" in pages[0]


def test_page_links_keep_the_search(app, world, as_user):
    with _in_clinic(app, world):
        for n in range(60):
            Patient.register(name=f"検索{n:02d}", name_kana=f"ケンサク {n:02d}")
    session = as_user("a", "receptionist")
    first = text(session.get("/patients", query_string={"q": "けんさく"}))
    assert "/patients?q=%E3%81%91%E3%82%93%E3%81%95%E3%81%8F&amp;page=2" in first
    second = text(session.get("/patients", query_string={"q": "けんさく", "page": "2"}))
    assert len(_chart_numbers(second)) == 10
    assert "/patients?q=%E3%81%91%E3%82%93%E3%81%95%E3%81%8F&amp;page=1" in second


def test_a_page_past_the_last_shows_the_last_with_the_total(app, world, as_user):
    with _in_clinic(app, world):
        for n in range(60):
            Patient.register(name=f"検索{n:02d}", name_kana=f"ケンサク {n:02d}")
    session = as_user("a", "receptionist")
    for query in ({"q": "けんさく", "page": "9"}, {"q": "けんさく", "page": "2"}):
        body = text(session.get("/patients", query_string=query))
        assert len(_chart_numbers(body)) == 10 and "60件" in body
    nothing = text(session.get("/patients", query_string={"q": "該当なし", "page": "3"}))
    assert _chart_numbers(nothing) == [] and "該当する患者がいません" in nothing


# --- registration ------------------------------------------------------------------------

def test_a_new_patient_is_registered_and_shown(app, world, as_user):
    response = as_user("a", "receptionist").post("/patients", data=_new_patient())
    assert response.status_code == 303
    patient_id = int(re.fullmatch(r"/patients/(\d+)", response.headers["Location"]).group(1))
    patient = _get(app, world, patient_id)
    assert (patient.name, patient.name_kana, patient.gender) == ("佐藤 花子", "サトウ ハナコ", "女性")
    assert patient.date_of_birth == date(1990, 5, 6) and patient.phone_digits == "0312345678"
    assert patient.email == "hanako@example.jp" and patient.address == "東京都千代田区1-1"


def test_a_new_patient_starts_as_new(app, world, as_user):
    response = as_user("a", "receptionist").post("/patients", data=_new_patient())
    patient = _get(app, world, int(response.headers["Location"].rsplit("/", 1)[1]))
    assert patient.is_new_patient is True
    page = text(as_user("a", "receptionist").get(f"/patients/{patient.id}"))
    assert "初診" in page


def test_htmx_registration_answers_hx_redirect(app, world, as_user):
    response = as_user("a", "owner").post("/patients", data=_new_patient(),
                                          headers={"HX-Request": "true"})
    assert response.status_code == 200
    assert re.fullmatch(r"/patients/\d+", response.headers["HX-Redirect"])


def test_chart_numbers_are_per_clinic_and_increase(app, world, as_user):
    a, b = as_user("a", "receptionist"), as_user("b", "receptionist")
    numbers = {"a": [], "b": []}
    for clinic, session in (("a", a), ("b", b), ("a", a), ("a", a), ("b", b)):
        response = session.post("/patients", data=_new_patient(phone=""))
        patient = _get(app, world, int(response.headers["Location"].rsplit("/", 1)[1]), clinic)
        numbers[clinic].append(patient.chart_number)
    assert numbers == {"a": [2, 3, 4], "b": [2, 3]}  # each clinic's fixture patient is 1


def test_wareki_birth_dates_are_stored_as_iso_dates(app, world, as_user):
    session = as_user("a", "receptionist")
    cases = {"S55.4.1": date(1980, 4, 1), "昭和55年4月1日": date(1980, 4, 1),
             "R2/1/5": date(2020, 1, 5), "H元.1.8": date(1989, 1, 8),
             "1975-12-31": date(1975, 12, 31), "ｓ５５．４．１": date(1980, 4, 1)}
    for typed, expected in cases.items():
        response = session.post("/patients", data=_new_patient(date_of_birth=typed, phone=""))
        assert response.status_code == 303, typed
        patient = _get(app, world, int(response.headers["Location"].rsplit("/", 1)[1]))
        assert patient.date_of_birth == expected, typed


def test_the_patient_page_shows_the_birth_date_in_wareki_with_the_age(app, world, as_user):
    born = date(1980, 4, 1)
    page = text(as_user("a", "therapist").get(f"/patients/{world['a'].patient.id}"))
    age = today().year - born.year - ((today().month, today().day) < (born.month, born.day))
    assert f"1980-04-01（昭和55年4月1日）{age}歳" in page
    listing = text(as_user("a", "therapist").get("/patients"))
    assert f"1980-04-01（{age}歳）" in listing


def test_possible_duplicates_are_pointed_out_on_creation(app, world, as_user):
    session = as_user("a", "receptionist")
    same_kana_and_birth = session.post("/patients", data=_new_patient(
        name="山田 太朗", name_kana="やまだ たろう", date_of_birth="S55.4.1", phone=""),
        follow_redirects=True)
    assert "同じ方かもしれない" in text(same_kana_and_birth)
    assert "カルテ番号 1 山田 太郎" in text(same_kana_and_birth)
    same_phone = session.post("/patients", data=_new_patient(
        name="別人", name_kana="ベツジン", date_of_birth="", phone="09000000000"),
        follow_redirects=True)
    assert "カルテ番号 1 山田 太郎" in text(same_phone)
    unique = session.post("/patients", data=_new_patient(
        name="一意", name_kana="イチイ", phone="011-111-1111"), follow_redirects=True)
    assert "同じ方かもしれない" not in text(unique)


def test_bad_input_answers_422_with_the_input_and_messages_and_writes_nothing(app, world, as_user):
    session = as_user("a", "receptionist")
    future = (today() + timedelta(days=1)).isoformat()
    cases = [
        ({"name": ""}, "name", "氏名を入力してください"),
        ({"name_kana": "  "}, "name_kana", "フリガナを入力してください"),
        ({"name": "長" * 101}, "name", "氏名は100文字以内"),
        ({"date_of_birth": "S99.99.99"}, "date_of_birth", "昭和は64年まで"),
        ({"date_of_birth": "1980-02-30"}, "date_of_birth", "存在しない日付"),
        ({"date_of_birth": "そのうち"}, "date_of_birth", "生年月日は"),
        ({"date_of_birth": future}, "date_of_birth", "未来の日付"),
        ({"email": "no-at-sign"}, "email", "メールアドレスを確かめてください"),
        ({"name": "山田\x00太郎"}, "name", "使えない文字"),
        ({"gender": "宇宙人"}, "gender", "性別を選んでください"),
        ({"phone": "12"}, "phone", "電話番号を確かめてください"),
        ({"name": "<script>alert(1)</script>", "address": "x" * 301}, "address", "300文字以内"),
    ]
    before = _count(app, world)
    for change, field, message in cases:
        data = _new_patient(**change)
        response = session.post("/patients", data=data)
        body = text(response)
        assert response.status_code == 422, change
        assert message in body, change
        assert f'id="e-{field}"' in body, change
        assert 'value="佐藤 花子"' in body or field == "name" or "name" in change, change
        assert 'value="hanako@example.jp"' in body or "email" in change, change
    assert _count(app, world) == before
    body = text(session.post("/patients", data=_new_patient(name="<script>alert(1)</script>",
                                                            name_kana="")))
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in body and "<script>alert" not in body


def test_odd_strings_never_cause_a_server_error(app, world, as_user):
    session = as_user("a", "owner")
    odd = ["😀" * 50, "\x00", "\u202e", "<b>", "' OR 1=1 --", "x" * 100_000, "\ufffd",
           "ﾃｽﾄ\u3000", "\t\n\r"]
    for value in odd:
        for field in ("name", "name_kana", "date_of_birth", "gender", "phone", "email", "address"):
            response = session.post("/patients", data=_new_patient(**{field: value}))
            assert response.status_code in (303, 422), (field, value[:20])
    assert session.post("/patients", data={}).status_code == 422


_ANY_TEXT = st.text(st.characters(exclude_categories=("Cs",)), max_size=150)
_PRINTABLE = st.text(st.characters(exclude_categories=("Cs", "Cc")), min_size=1, max_size=100)
_TEXT = st.one_of(_PRINTABLE, _ANY_TEXT)
_BIRTH_DATES = st.one_of(st.just(""), _ANY_TEXT, st.dates().map(str), st.from_regex(
    r"\A(明治|大正|昭和|平成|令和|[MTSHRmtshr])(元|[0-9]{1,3})[./年][0-9]{1,2}[./月][0-9]{1,2}日?\Z"))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(form=st.fixed_dictionaries({
    "name": _TEXT, "name_kana": _TEXT, "address": _TEXT, "date_of_birth": _BIRTH_DATES,
    "gender": st.one_of(st.sampled_from(sorted(GENDERS)), _ANY_TEXT),
    "phone": st.one_of(st.from_regex(r"\A0[0-9]{1,4}-?[0-9]{2,4}-?[0-9]{4}\Z"), _ANY_TEXT),
    "email": st.one_of(st.just(""), st.emails(), _ANY_TEXT)}))
def test_arbitrary_form_input_is_saved_or_refused_whole_never_a_500(app, world, as_user, form):
    session, patient_id = as_user("a", "receptionist"), world["a"].patient.id
    before = _count(app, world)
    created = session.post("/patients", data=form)
    assert created.status_code in (303, 422), form
    event(f"create {created.status_code}")
    assert _count(app, world) == before + (created.status_code == 303)
    stored = _get(app, world, patient_id)
    updated = session.post(f"/patients/{patient_id}", data=form)
    assert updated.status_code in (303, 422), form
    if updated.status_code == 422:
        assert _get(app, world, patient_id).updated_at == stored.updated_at


def test_an_htmx_form_error_answers_only_the_form(as_user):
    response = as_user("a", "receptionist").post("/patients", data=_new_patient(name=""),
                                                 headers={"HX-Request": "true"})
    body = text(response)
    assert response.status_code == 422 and "<html" not in body
    assert body.lstrip().startswith('<form id="patient-form"') and 'value="サトウ ハナコ"' in body


# --- plan limit --------------------------------------------------------------------------

def test_the_plan_limit_refuses_a_new_patient_with_403_and_creates_nothing(app, world, as_user):
    clinic_id = world["a"].clinic.id
    count = _count(app, world)
    with app.app_context():
        Clinic.update(max_patients=count).where(Clinic.id == clinic_id).execute()
    session = as_user("a", "receptionist")
    response = session.post("/patients", data=_new_patient())
    body = text(response)
    assert response.status_code == 403
    assert f"患者数の上限は{count}です" in body and 'value="佐藤 花子"' in body
    assert _count(app, world) == count
    with app.app_context():
        Clinic.update(max_patients=count + 1).where(Clinic.id == clinic_id).execute()
    assert session.post("/patients", data=_new_patient()).status_code == 303
    assert _count(app, world) == count + 1


# --- the patient page --------------------------------------------------------------------

def test_the_patient_page_shows_details_upcoming_appointments_and_visits(app, world, as_user):
    a = world["a"]
    now = clinic_now().replace(second=0)
    with _in_clinic(app, world):
        tomorrow = datetime.combine(today() + timedelta(days=1), time(14, 30))
        Appointment.create(patient=a.patient, therapist=a.therapist, duration_minutes=45,
                           appointment_date=tomorrow)
        Appointment.create(patient=a.patient, therapist=a.therapist, duration_minutes=30,
                           appointment_date=tomorrow + timedelta(days=1), status="cancelled")
        for days in (30, 20, 10):
            Appointment.create(patient=a.patient, therapist=a.therapist, duration_minutes=30,
                               appointment_date=now - timedelta(days=days), status="completed")
        Appointment.create(patient=a.patient, therapist=a.therapist, duration_minutes=30,
                           appointment_date=now - timedelta(days=5), status="booked")
        patient = Patient.get_by_id(a.patient.id)
        upcoming = Appointment.upcoming_for(patient.id)
        assert all(x.status != "cancelled" for x in upcoming)
        assert all(x.appointment_date.date() >= today() for x in upcoming)
        assert tomorrow in [x.appointment_date for x in upcoming]
        assert Appointment.visit_count(patient.id) == 3
    response = as_user("a", "therapist").get(f"/patients/{a.patient.id}")
    body = text(response)
    assert response.status_code == 200
    assert 'hx-history="false"' in body and "no-store" in response.headers["Cache-Control"]
    assert "090-0000-0000" in body and "ヤマダ タロウ" in body
    assert "14:30–15:15" in body and "A整骨院の施術者" in body and "予約" in body
    assert "来院回数</dt><dd>3回" in body
    assert f"/patients/{a.patient.id}/edit" not in body  # therapists do not edit


def test_the_patient_page_links_to_edit_for_the_front_desk(world, as_user):
    body = text(as_user("a", "receptionist").get(f"/patients/{world['a'].patient.id}"))
    assert f'href="/patients/{world["a"].patient.id}/edit"' in body


# --- editing -----------------------------------------------------------------------------

def test_editing_keeps_the_chart_number_and_updates_updated_at(app, world, as_user):
    patient_id = world["a"].patient.id
    with _in_clinic(app, world):
        Patient.update(updated_at=datetime(2020, 1, 1)).where(Patient.id == patient_id).execute()
    session = as_user("a", "receptionist")
    form = text(session.get(f"/patients/{patient_id}/edit"))
    assert 'value="山田 太郎"' in form and 'value="1980-04-01"' in form
    response = session.post(f"/patients/{patient_id}", data=_new_patient(
        name="山田 太郎", name_kana="ヤマダ タロウ", date_of_birth="S55.4.2", phone="090-1111-2222",
        chart_number="99"))
    assert response.status_code == 303 and response.headers["Location"] == f"/patients/{patient_id}"
    patient = _get(app, world, patient_id)
    assert patient.chart_number == 1 and patient.date_of_birth == date(1980, 4, 2)
    assert patient.phone_digits == "09011112222" and patient.updated_at > datetime(2020, 1, 1)


def test_bad_edit_answers_422_and_changes_nothing(app, world, as_user):
    patient_id = world["a"].patient.id
    response = as_user("a", "owner").post(f"/patients/{patient_id}", data=_new_patient(
        name="", email="bad"))
    body = text(response)
    assert response.status_code == 422
    assert "氏名を入力してください" in body and 'value="bad"' in body
    assert _get(app, world, patient_id).name == "山田 太郎"


# --- picker ------------------------------------------------------------------------------

def test_the_picker_lists_matches_as_radio_buttons(app, world, as_user):
    for n in range(25):
        _add(app, world, name=f"選択{n}", name_kana=f"センタク {n}")
    session = as_user("a", "therapist")
    body = text(session.get("/patients/pick?q=せんたく", headers={"HX-Request": "true"}))
    assert body.lstrip().startswith('<div id="patient-pick-results"') and "<html" not in body
    assert len(re.findall(r'<label class="pick"><input type="radio" name="patient_id" '
                          r'value="\d+" required>', body)) == 20
    yamada = text(session.get("/patients/pick?q=ﾔﾏﾀﾞ", headers={"HX-Request": "true"}))
    assert (f'value="{world["a"].patient.id}" required> <span>1 山田 太郎（ヤマダ タロウ） '
            f'1980-04-01</span>') in yamada
    none = text(session.get("/patients/pick?q=該当なし", headers={"HX-Request": "true"}))
    assert "該当する患者がいません" in none and 'type="radio"' not in none
    empty = text(session.get("/patients/pick?q=", headers={"HX-Request": "true"}))
    assert 'type="radio"' not in empty and "該当する患者がいません" not in empty
    assert "<html" in text(session.get("/patients/pick?q=やまだ"))
    other = text(as_user("b", "receptionist").get("/patients/pick?q=ヤマダ"))
    assert "山田 太郎" not in other


# --- roles and clinics -------------------------------------------------------------------

def test_therapists_read_patients_but_do_not_register_or_edit(app, world, as_user):
    session, patient_id = as_user("a", "therapist"), world["a"].patient.id
    assert session.get("/patients").status_code == 200
    assert session.get(f"/patients/{patient_id}").status_code == 200
    assert session.get("/patients/pick?q=やまだ").status_code == 200
    assert session.get("/patients/new").status_code == 403
    assert session.get(f"/patients/{patient_id}/edit").status_code == 403
    before = _count(app, world)
    assert session.post("/patients", data=_new_patient()).status_code == 403
    assert session.post(f"/patients/{patient_id}", data=_new_patient()).status_code == 403
    assert _count(app, world) == before and _get(app, world, patient_id).name == "山田 太郎"
    assert "新しい患者を登録" not in text(session.get("/patients"))


def test_the_front_desk_and_owner_may_register(as_user):
    for role in ("owner", "receptionist"):
        assert as_user("a", role).get("/patients/new").status_code == 200


def test_another_clinics_patient_is_not_there(app, world, as_user):
    patient_id = world["a"].patient.id
    before = _get(app, world, patient_id)
    for role in ("owner", "receptionist", "therapist"):
        session = as_user("b", role)
        assert session.get(f"/patients/{patient_id}").status_code == 404
        assert session.get(f"/patients/{patient_id}/edit").status_code == 404
        assert session.post(f"/patients/{patient_id}", data=_new_patient()).status_code == 404
    after = _get(app, world, patient_id)
    assert (after.name, after.phone, after.updated_at) == (before.name, before.phone,
                                                           before.updated_at)


def test_a_clinic_id_sent_in_the_form_is_ignored(app, world, as_user):
    response = as_user("a", "receptionist").post(
        "/patients", data=_new_patient(clinic_id=str(world["b"].clinic.id), clinic="2"))
    patient = _get(app, world, int(response.headers["Location"].rsplit("/", 1)[1]))
    assert patient.clinic_id == world["a"].clinic.id


# --- the model ---------------------------------------------------------------------------

def test_the_quick_form_reads_only_name_kana_and_phone(app, world):
    fields = read_patient_form({"name": "速 登録", "name_kana": "ハヤ", "phone": "0120-00-0000",
                                "date_of_birth": "bad"}, quick=True)
    assert fields == {"name": "速 登録", "name_kana": "ハヤ", "phone": "0120-00-0000"}


def test_registration_and_edits_are_audited(app, world, as_user):
    from karusaku.models import AuditLog

    response = as_user("a", "receptionist").post("/patients", data=_new_patient())
    patient_id = int(response.headers["Location"].rsplit("/", 1)[1])
    as_user("a", "receptionist").post(f"/patients/{patient_id}", data=_new_patient(phone=""))
    with _in_clinic(app, world):
        actions = [row.action for row in AuditLog.for_object("patient", patient_id)]
        assert set(actions) == {"patient_created", "patient_updated"}
