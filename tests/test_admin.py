"""The platform admin (運営): the list of clinics with usage and database share, creating a
clinic with its owner, plan and max_patients, suspending and reactivating; counts only, never
a patient or a record (design.md: "Who uses it", "Plans"; issue 5, item 1)."""
import json
import re
from datetime import datetime, time, timedelta

import pytest

from karusaku.clock import today
from karusaku.db.tenancy import clinic_context
from karusaku.models import (
    Appointment,
    Clinic,
    LoginSession,
    MedicalRecord,
    Patient,
    PlatformAuditLog,
    User,
)
from karusaku.plans import clinics_overview, database_size_bytes

from .conftest import PASSWORD, ROLES, admin_login, csrf_token, every_clinic, login, run_sql
from .routes import TENANT_TABLES, routes, url

CROWD = 30
OWNER_PASSWORD = "秘密の初期パスワード-2468"
NEW_CLINIC = {"code": "clinic-new", "name": "新宿まごころ整体院", "subscription_plan": "starter",
              "owner_username": "shinjuku-owner", "owner_password": OWNER_PASSWORD,
              "address": "東京都新宿区西新宿2-8-1", "phone": "03-1234-5678",
              "email": "info@magokoro.example.jp", "max_patients": ""}


# --- helpers ----------------------------------------------------------------------------------

def text(response):
    return response.get_data(as_text=True)


class Admin:
    """A test client logged in at /admin/login as the platform admin; POSTs carry the token."""

    def __init__(self, client):
        self.client = client
        response = admin_login(client)
        assert response.status_code == 303 and response.headers["Location"] == "/admin"
        self.token = csrf_token(client, "/admin")

    def get(self, path, **kwargs):
        return self.client.get(path, **kwargs)

    def post(self, path, data=None, **kwargs):
        return self.client.post(path, data={"csrf_token": self.token, **(data or {})}, **kwargs)


@pytest.fixture
def admin(app, world):
    return Admin(app.test_client())


def clinic_row(app, clinic_id):
    with app.app_context():
        return Clinic.get_by_id(clinic_id)


def clinics_table(app):
    """Every column of every clinic: proof that a refused request changed nothing."""
    with app.app_context():
        return list(Clinic.select().order_by(Clinic.id).tuples())


def platform_audit(app, action=None):
    with app.app_context():
        query = PlatformAuditLog.select().order_by(PlatformAuditLog.id)
        if action:
            query = query.where(PlatformAuditLog.action == action)
        return list(query)


def everything(app):
    """Clinics, users and sessions across all clinics, and the platform audit log."""
    with app.app_context(), every_clinic():
        return (clinics_table(app), list(User.select().order_by(User.id).tuples()),
                LoginSession.select().count(), len(platform_audit(app)))


def staff_can_log_in(app, code, username, password=PASSWORD):
    return login(app.test_client(), code, username, password).status_code == 303


def field_error(response, name):
    """The message shown next to a form field."""
    match = re.search(rf'<p class="error" id="e-{name}">(.*?)</p>', text(response), re.S)
    return match.group(1).strip() if match else None


def clinic_cells(page, code):
    """The number cells of the list's row of one clinic, as text without tags."""
    row = re.search(rf"<tr>\s*<td><a[^>]*><code>{re.escape(code)}</code>.*?</tr>", page, re.S)
    assert row, f"no row for {code}"
    cells = re.findall(r'<td class="num"[^>]*>(.*?)</td>', row.group(0), re.S)
    return [" ".join(re.sub(r"<[^>]+>", " ", cell).split()) for cell in cells]


def rows_per_clinic(app):
    """{clinic_id: rows in every tenant table}, counted straight from the database."""
    counts = {}
    with app.app_context():
        for table in TENANT_TABLES:
            cursor = run_sql(
                f"SELECT clinic_id, COUNT(*) FROM {table} GROUP BY clinic_id")
            for clinic_id, count in cursor.fetchall():
                counts[clinic_id] = counts.get(clinic_id, 0) + count
    return counts


# --- clinics full of patients -----------------------------------------------------------------

@pytest.fixture
def crowded(app, world):
    """30 more patients in each of A and B, with appointments and records, all of them with
    text that no admin page may show. Returns those texts."""
    secrets = []
    with app.app_context():
        for key, tag in (("a", "甲"), ("b", "乙")):
            rows = world[key]
            secrets += [rows.patient.name, rows.patient.name_kana, rows.patient.phone,
                        rows.appointment.notes, rows.record.symptoms, rows.template.body,
                        rows.therapist.name, *(user.username for user in rows.users.values())]
            with clinic_context(rows.clinic.id):
                for i in range(CROWD):
                    patient = Patient.register(
                        name=f"秘匿{tag}患者{i:02d}", name_kana=f"ヒトク{tag}カンジャ{i:02d}",
                        phone=f"080-77{i:02d}-{ord(tag) % 10000:04d}",
                        address=f"北海道札幌市秘匿区{tag}{i}丁目", email=f"p{i}{key}@secret.example.jp")
                    start = datetime.combine(today(), time(9, 0)) + timedelta(minutes=30 * i)
                    appointment = Appointment.create(
                        patient=patient, therapist=rows.therapist, appointment_date=start,
                        duration_minutes=30, notes=f"秘匿{tag}の予約メモ{i:02d}")
                    MedicalRecord.write(
                        patient, rows.users["therapist"], therapist=rows.therapist,
                        appointment=appointment, visit_date=today(),
                        symptoms=f"秘匿{tag}の症状{i:02d}", diagnosis=f"秘匿{tag}の所見{i:02d}",
                        treatment=f"秘匿{tag}の施術{i:02d}", prescription=f"秘匿{tag}の指導{i:02d}",
                        notes=f"秘匿{tag}の備考{i:02d}")
                    secrets += [patient.name, patient.name_kana, patient.phone, patient.address,
                                patient.email, appointment.notes, f"秘匿{tag}の症状{i:02d}",
                                f"秘匿{tag}の所見{i:02d}", f"秘匿{tag}の施術{i:02d}",
                                f"秘匿{tag}の指導{i:02d}", f"秘匿{tag}の備考{i:02d}"]
    return secrets


def admin_pages(app, world):
    """Every GET route under /admin, with each clinic's id (and a missing one)."""
    clinic_ids = [world["a"].clinic.id, world["b"].clinic.id, 999999]
    paths = set()
    for rule, method in routes(app, prefix="/admin"):
        if method == "GET":
            for clinic_id in clinic_ids:
                paths.add(url(app, rule, {"clinic_id": clinic_id}))
    return sorted(paths)


def test_no_admin_page_shows_a_patient_a_record_or_a_staff_member(app, world, crowded, admin):
    assert "秘匿甲患者29" in crowded and len(crowded) > 2 * CROWD * 10
    paths = admin_pages(app, world)
    assert {"/admin", "/admin/clinics/new", f"/admin/clinics/{world['a'].clinic.id}"} <= set(paths)
    bodies = {}
    for path in paths:
        for headers in ({}, {"HX-Request": "true"}):
            response = admin.get(path, headers=headers)
            assert response.status_code in (200, 302, 404), path
            bodies[(path, bool(headers))] = text(response)
    # the answers to bad input come back with forms too
    a_id = world["a"].clinic.id
    bodies["plan 422"] = text(admin.post(f"/admin/clinics/{a_id}/plan", data={"max_patients": "x"}))
    bodies["status 422"] = text(admin.post(f"/admin/clinics/{a_id}/status", data={"status": "x"}))
    bodies["create 422"] = text(admin.post("/admin/clinics",
                                           data={**NEW_CLINIC, "code": "clinic-a"}))
    assert "A整骨院" in bodies[("/admin", False)] and "B鍼灸院" in bodies[("/admin", False)]
    for where, body in bodies.items():
        for secret in crowded:
            assert secret not in body, f"{secret!r} shown on {where}"
        assert OWNER_PASSWORD not in body


def test_the_clinic_page_does_not_list_users(app, world, admin):
    page = text(admin.get(f"/admin/clinics/{world['a'].clinic.id}"))
    assert "A整骨院" in page and "clinic-a" in page
    assert "clinic-a-owner" not in page and "clinic-a-therapist" not in page


# --- the list -----------------------------------------------------------------------------

def test_the_list_shows_plan_status_and_counts_against_limits(app, world, crowded, admin):
    page = text(admin.get("/admin"))
    assert "プロ" in page and "¥15,000" in page and "稼働中" in page
    assert world["a"].clinic.created_at.strftime("%Y-%m-%d") in page
    patients, therapists, records, staff, share = clinic_cells(page, "clinic-a")
    assert patients == f"{1 + CROWD} / 500"
    assert therapists == "1 / 10"
    assert records == f"{1 + CROWD} / 2,000"
    assert staff == "3"
    rows = rows_per_clinic(app)
    expected = 100 * rows[world["a"].clinic.id] / sum(rows.values())
    assert share == f"{expected:.1f}%"


def test_the_list_counts_match_the_database_and_shares_sum_to_100(app, world, crowded, admin):
    with app.app_context():
        empty = Clinic.create(code="empty-one", name="空の院",
                                               subscription_plan="enterprise")
        entries, totals = clinics_overview(Clinic.listing())
        size = database_size_bytes()
    rows = rows_per_clinic(app)
    by_id = {entry["clinic"].id: entry for entry in entries}
    for clinic_id, count in rows.items():
        assert by_id[clinic_id]["used"]["rows"] == count
    assert by_id[empty.id]["used"]["rows"] == 0
    assert abs(sum(entry["share"] for entry in entries) - 100) < 1e-9
    assert totals["patients"] == 2 * (1 + CROWD) and totals["staff"] == 6

    page = text(admin.get("/admin"))
    shares = [float(clinic_cells(page, code)[-1].rstrip("%"))
              for code in ("clinic-a", "clinic-b", "empty-one")]
    assert abs(sum(shares) - 100) <= 0.15
    assert clinic_cells(page, "empty-one")[:3] == ["0 / 無制限"] * 3
    assert f"{size / 1024 / 1024:.1f} MB" in page and size > 0
    totals_row = re.search(r'<tr class="totals">.*?</tr>', page, re.S).group(0)
    assert f">{2 * (1 + CROWD)}<" in totals_row and "100.0%" in totals_row


def test_max_patients_overrides_the_plans_limit_on_the_list(app, world, admin):
    admin.post(f"/admin/clinics/{world['b'].clinic.id}/plan",
               data={"subscription_plan": "enterprise", "max_patients": "40"})
    assert clinic_cells(text(admin.get("/admin")), "clinic-b")[:3] == ["1 / 40", "1 / 無制限",
                                                                       "1 / 無制限"]


# --- creating a clinic --------------------------------------------------------------------

def test_creating_a_clinic_makes_the_clinic_and_its_owner(app, world, admin):
    response = admin.post("/admin/clinics", data={**NEW_CLINIC, "max_patients": "80"})
    assert response.status_code == 303 and response.headers["Location"] == "/admin"
    page = text(admin.get("/admin"))
    assert "新宿まごころ整体院" in page and "を登録しました" in page
    assert "shinjuku-owner" not in page
    with app.app_context():
        clinic = Clinic.by_code("clinic-new")
        assert (clinic.name, clinic.subscription_plan, clinic.max_patients, clinic.status) == (
            "新宿まごころ整体院", "starter", 80, "active")
        assert (clinic.address, clinic.phone, clinic.email) == (
            NEW_CLINIC["address"], NEW_CLINIC["phone"], NEW_CLINIC["email"])
        with clinic_context(clinic.id):
            owner = User.by_username("shinjuku-owner")
            assert owner.role == "owner" and owner.password != OWNER_PASSWORD
    rows = [row for row in platform_audit(app, "clinic_created") if row.object_id == clinic.id]
    assert len(rows) == 1 and rows[0].username == "operator"
    assert OWNER_PASSWORD not in rows[0].detail
    assert staff_can_log_in(app, "clinic-new", "shinjuku-owner", OWNER_PASSWORD)


def test_the_new_clinic_form_has_every_field(admin):
    page = text(admin.get("/admin/clinics/new"))
    for name in NEW_CLINIC:
        assert f'name="{name}"' in page
    assert 'name="csrf_token"' in page


def test_a_duplicate_code_is_422_and_creates_nothing(app, world, admin):
    before = everything(app)
    response = admin.post("/admin/clinics", data={**NEW_CLINIC, "code": "clinic-a"})
    assert response.status_code == 422
    assert "既に使われています" in field_error(response, "code")
    body = text(response)
    assert 'value="新宿まごころ整体院"' in body and 'value="shinjuku-owner"' in body
    assert OWNER_PASSWORD not in body
    assert everything(app) == before


@pytest.mark.parametrize("field, value, message", [
    ("code", "", "医院コードを入力してください"),
    ("code", "A!", "英小文字・数字・ハイフン"),
    ("code", "-lead", "英小文字・数字・ハイフン"),
    ("code", "x" * 40, "32文字以内"),
    ("name", "  ", "医院名を入力してください"),
    ("subscription_plan", "gold", "プランを選んでください"),
    ("owner_username", "", "院長のユーザー名を入力してください"),
    ("owner_username", "院長 さん", "半角英数字"),
    ("owner_password", "short", "12文字以上"),
    ("owner_password", "", "12文字以上"),
    ("email", "no-at-sign", "メールアドレスを確かめてください"),
    ("max_patients", "-1", "0以上"),
    ("max_patients", "100001", "100000以下"),
    ("max_patients", "十", "数字で入力してください"),
    ("phone", "0" * 31, "30文字以内"),
])
def test_each_bad_field_is_422_with_its_message_and_creates_nothing(app, world, admin,
                                                                      field, value, message):
    before = everything(app)
    response = admin.post("/admin/clinics", data={**NEW_CLINIC, field: value})
    assert response.status_code == 422
    assert message in (field_error(response, field) or "")
    body = text(response)
    assert OWNER_PASSWORD not in body
    if field != "name":
        assert 'value="新宿まごころ整体院"' in body
    assert everything(app) == before


def test_several_bad_fields_get_a_message_each(app, world, admin):
    response = admin.post("/admin/clinics", data={**NEW_CLINIC, "code": "", "name": "",
                                                  "owner_password": "short"})
    assert response.status_code == 422
    assert field_error(response, "code") and field_error(response, "name")
    assert field_error(response, "owner_password")


# --- plan and max_patients ----------------------------------------------------------------

def settings_usage(session):
    page = text(session.get("/settings"))
    row = re.search(r'<th scope="row">患者数</th>\s*<td class="num">(.*?)</td>\s*'
                    r'<td class="num">(.*?)</td>', page, re.S)
    return page, row.group(1), row.group(2)


def new_patient(session, name="上限 試験"):
    return session.post("/patients", data={"name": name, "name_kana": "ジョウゲン シケン"})


def test_changing_plan_and_max_patients_shows_in_the_clinics_settings_and_limits(
        app, world, admin, as_user):
    owner, a_id = as_user("a", "owner"), world["a"].clinic.id
    page, used, limit = settings_usage(owner)
    assert "プロ" in page and (used, limit) == ("1", "500")

    response = admin.post(f"/admin/clinics/{a_id}/plan",
                          data={"subscription_plan": "starter", "max_patients": "1"})
    assert response.status_code == 303
    assert response.headers["Location"] == f"/admin/clinics/{a_id}"
    assert "プランと上限を変更しました" in text(admin.get(f"/admin/clinics/{a_id}"))
    page, used, limit = settings_usage(owner)
    assert "スターター" in page and "¥5,500" in page and (used, limit) == ("1", "1")
    refused = new_patient(owner)
    assert refused.status_code == 403 and "上限は1です" in text(refused)
    assert patient_count(app, a_id) == 1

    admin.post(f"/admin/clinics/{a_id}/plan", data={"subscription_plan": "starter",
                                                    "max_patients": ""})
    assert settings_usage(owner)[1:] == ("1", "100")
    assert new_patient(owner).status_code == 303
    assert clinic_row(app, world["b"].clinic.id).subscription_plan == "pro"

    rows = platform_audit(app, "clinic_plan_changed")
    assert {(row.username, row.ip) for row in rows} == {("operator", "127.0.0.1")}
    changes = [json.loads(row.detail)["changed"] for row in rows]
    assert changes == [{"subscription_plan": ["pro", "starter"], "max_patients": [None, 1]},
                       {"max_patients": [1, None]}]


def patient_count(app, clinic_id):
    with app.app_context(), clinic_context(clinic_id):
        return Patient.select().count()


def test_max_patients_zero_refuses_every_new_patient(app, world, admin, as_user):
    admin.post(f"/admin/clinics/{world['a'].clinic.id}/plan",
               data={"subscription_plan": "enterprise", "max_patients": "0"})
    assert new_patient(as_user("a", "receptionist")).status_code == 403


def test_a_plan_form_without_changes_logs_nothing(app, world, admin):
    response = admin.post(f"/admin/clinics/{world['a'].clinic.id}/plan",
                          data={"subscription_plan": "pro", "max_patients": ""})
    assert response.status_code == 303
    assert platform_audit(app, "clinic_plan_changed") == []


@pytest.mark.parametrize("data, field", [
    ({"subscription_plan": "gold", "max_patients": ""}, "subscription_plan"),
    ({"max_patients": ""}, "subscription_plan"),
    ({"subscription_plan": "pro", "max_patients": "-5"}, "max_patients"),
    ({"subscription_plan": "pro", "max_patients": "100001"}, "max_patients"),
    ({"subscription_plan": "pro", "max_patients": "1.5"}, "max_patients"),
    ({"subscription_plan": "pro", "max_patients": "9" * 40}, "max_patients"),
])
def test_bad_plan_input_is_422_and_changes_nothing(app, world, admin, data, field):
    before = everything(app)
    response = admin.post(f"/admin/clinics/{world['a'].clinic.id}/plan", data=data)
    assert response.status_code == 422
    assert field_error(response, field)
    if data.get("max_patients"):
        assert f'value="{data["max_patients"]}"' in text(response)
    assert everything(app) == before


@pytest.mark.parametrize("clinic_id", [999999, 10**30])
def test_an_unknown_clinic_is_404(app, world, admin, clinic_id):
    before = everything(app)
    assert admin.get(f"/admin/clinics/{clinic_id}").status_code == 404
    assert admin.post(f"/admin/clinics/{clinic_id}/plan",
                      data={"subscription_plan": "pro", "max_patients": ""}).status_code == 404
    assert admin.post(f"/admin/clinics/{clinic_id}/status",
                      data={"status": "suspended"}).status_code == 404
    assert everything(app) == before


# --- suspending and reactivating ------------------------------------------------------------

def test_suspending_logs_the_clinics_users_out_and_keeps_them_out(app, world, admin, as_user):
    a_id = world["a"].clinic.id
    owner, receptionist = as_user("a", "owner"), as_user("a", "receptionist")
    other = as_user("b", "owner")
    assert owner.get("/").status_code == 200

    response = admin.post(f"/admin/clinics/{a_id}/status", data={"status": "suspended"})
    assert response.status_code == 303
    page = text(admin.get(f"/admin/clinics/{a_id}"))
    assert "利用を停止しました" in page and "停止中" in page
    assert clinic_row(app, a_id).status == "suspended"
    for session in (owner, receptionist):
        response = session.get("/")
        assert response.status_code == 302 and response.headers["Location"].startswith("/login")
    with app.app_context():
        assert LoginSession.select().where(LoginSession.clinic_id == a_id).count() == 0
    assert other.get("/").status_code == 200
    assert not staff_can_log_in(app, "clinic-a", "clinic-a-owner")
    assert "停止中" in text(admin.get("/admin"))

    response = admin.post(f"/admin/clinics/{a_id}/status", data={"status": "active"})
    assert response.status_code == 303
    assert "利用を再開しました" in text(admin.get(f"/admin/clinics/{a_id}"))
    assert staff_can_log_in(app, "clinic-a", "clinic-a-owner")

    rows = [row for row in platform_audit(app) if row.object_type == "clinic"
            and row.object_id == a_id and row.action != "clinic_created"]
    assert [row.action for row in rows] == ["clinic_suspended", "clinic_reactivated"]
    assert json.loads(rows[0].detail)["status"] == ["active", "suspended"]
    assert json.loads(rows[0].detail)["sessions_ended"] == 2
    assert json.loads(rows[1].detail)["status"] == ["suspended", "active"]
    assert all(row.object_id == a_id and row.username == "operator" for row in rows)


def test_the_clinic_page_shows_its_history(app, world, admin):
    a_id = world["a"].clinic.id
    admin.post(f"/admin/clinics/{a_id}/plan", data={"subscription_plan": "enterprise",
                                                    "max_patients": "300"})
    admin.post(f"/admin/clinics/{a_id}/status", data={"status": "suspended"})
    page = text(admin.get(f"/admin/clinics/{a_id}"))
    assert "プラン プロ → エンタープライズ" in page and "患者数の上限 プランどおり → 300人" in page
    assert "利用を停止" in page
    assert "利用を停止" not in text(admin.get(f"/admin/clinics/{world['b'].clinic.id}")).split("変更履歴")[1]


def test_suspending_twice_changes_nothing_more(app, world, admin):
    a_id = world["a"].clinic.id
    admin.post(f"/admin/clinics/{a_id}/status", data={"status": "suspended"})
    response = admin.post(f"/admin/clinics/{a_id}/status", data={"status": "suspended"})
    assert response.status_code == 303
    assert len(platform_audit(app, "clinic_suspended")) == 1


@pytest.mark.parametrize("status", ["", "deleted", "ACTIVE"])
def test_a_bad_status_is_422_and_changes_nothing(app, world, admin, status):
    before = everything(app)
    response = admin.post(f"/admin/clinics/{world['a'].clinic.id}/status", data={"status": status})
    assert response.status_code == 422 and "状態を選んでください" in text(response)
    assert everything(app) == before


def test_htmx_posts_get_hx_redirect(app, world, admin):
    a_id = world["a"].clinic.id
    response = admin.post(f"/admin/clinics/{a_id}/plan", headers={"HX-Request": "true"},
                          data={"subscription_plan": "starter", "max_patients": ""})
    assert response.status_code == 200
    assert response.headers["HX-Redirect"] == f"/admin/clinics/{a_id}"


# --- who may ------------------------------------------------------------------------------

def admin_posts(world):
    a_id, b_id = world["a"].clinic.id, world["b"].clinic.id
    return [
        ("/admin/clinics", NEW_CLINIC),
        (f"/admin/clinics/{a_id}/plan", {"subscription_plan": "enterprise", "max_patients": ""}),
        (f"/admin/clinics/{b_id}/plan", {"subscription_plan": "starter", "max_patients": "1"}),
        (f"/admin/clinics/{a_id}/status", {"status": "suspended"}),
        (f"/admin/clinics/{b_id}/status", {"status": "suspended"}),
    ]


@pytest.mark.parametrize("role", ROLES)
def test_clinic_users_get_404_on_the_admin_pages_and_posts_and_change_nothing(
        app, world, as_user, role):
    session = as_user("a", role)
    before = everything(app)
    for path in ("/admin", "/admin/clinics/new", f"/admin/clinics/{world['a'].clinic.id}",
                 f"/admin/clinics/{world['b'].clinic.id}"):
        assert session.get(path).status_code == 404, path
    for path, data in admin_posts(world):
        assert session.post(path, data=data).status_code == 404, path
    assert everything(app) == before
    assert session.get("/").status_code == 200


def test_anonymous_users_are_sent_to_the_admin_login(app, world):
    client = app.test_client()
    token = csrf_token(client, "/admin/login")
    before = everything(app)
    for path in ("/admin", "/admin/clinics/new", f"/admin/clinics/{world['a'].clinic.id}"):
        response = client.get(path)
        assert response.status_code == 302 and response.headers["Location"] == "/admin/login"
    for path, data in admin_posts(world):
        response = client.post(path, data={**data, "csrf_token": token})
        assert response.status_code == 302, path
    assert everything(app) == before


def test_admin_posts_without_the_csrf_token_are_400_and_change_nothing(app, world, admin):
    before = everything(app)
    for path, data in admin_posts(world):
        response = admin.client.post(path, data=data)
        assert response.status_code == 400, path
        assert "セキュリティトークンが無効です" in text(response)
    response = admin.client.post(admin_posts(world)[1][0],
                                 data={**admin_posts(world)[1][1], "csrf_token": "forged"})
    assert response.status_code == 400
    assert everything(app) == before


def test_admin_pages_carry_the_csrf_meta_tag_and_no_inline_script_or_style(app, world, admin):
    for path in ("/admin", "/admin/clinics/new", f"/admin/clinics/{world['a'].clinic.id}"):
        response = admin.get(path)
        body = text(response)
        assert response.status_code == 200 and '<meta name="csrf-token"' in body
        assert "style=" not in body and "<script>" not in body and " on" + "click=" not in body
        assert "script-src 'self'" in response.headers["Content-Security-Policy"]
