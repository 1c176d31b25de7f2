"""Reports: the numbers of a known history, per clinic only; the page, its tables and charts."""
import os
import re
from datetime import date, datetime
from html.parser import HTMLParser

import pytest

from karusaku.clock import today
from karusaku.db.connection import database
from karusaku.db.tenancy import clinic_context
from karusaku.forms.reports import read_period
from karusaku.models import Appointment, MedicalRecord, Patient, Therapist

# `karusaku.reports` as an attribute is the blueprint module (karusaku/__init__.py), so by name:
from karusaku.reports import (
    Period,
    add_months,
    appointments_per_month,
    build,
    default_period,
    new_patients_per_month,
    percent,
    records_per_month,
)
from karusaku.web.svg_charts import bar_chart, hbar_chart, line_chart

Q1 = Period(date(2025, 1, 1), date(2025, 3, 1))
Q1_URL = "/reports?from=2025-01&to=2025-03"
ODD_NAME = '<b>&"'

# (when, patient, therapist, status) in clinic A. P1 first came before the period; P2, P3 and
# P4 come for the first time in January, February and March; P6 only after the period.
HISTORY = [
    ("2024-11-05 10:00", "P1", "T1", "completed"),
    ("2024-12-20 10:00", "P1", "T1", "no_show"),
    ("2025-01-10 10:00", "P2", "T1", "completed"),  # new
    ("2025-01-12 10:00", "P1", "T1", "completed"),
    ("2025-01-15 10:00", "P3", "T2", "no_show"),
    ("2025-01-20 10:00", "P5", "T1", "cancelled"),
    ("2025-01-31 23:30", "P1", "T2", "completed"),
    ("2025-02-03 10:00", "P2", "T2", "completed"),
    ("2025-02-05 10:00", "P3", "T1", "completed"),  # new
    ("2025-02-10 10:00", "P1", "T1", "no_show"),
    ("2025-02-11 10:00", "P4", "T1", "arrived"),
    ("2025-02-20 10:00", "P1", "T1", "completed"),
    ("2025-03-01 00:00", "P4", "T1", "completed"),  # new
    ("2025-03-15 10:00", "P4", "T2", "completed"),
    ("2025-03-20 10:00", "P5", "T1", "booked"),
    ("2025-04-01 09:00", "P2", "T1", "completed"),
    ("2025-04-02 09:00", "P6", "T1", "completed"),
]
# (visit date, patient, therapist, soft-deleted)
RECORDS = [
    ("2024-12-31", "P1", "T1", False),
    ("2025-01-10", "P2", "T1", False),
    ("2025-01-12", "P1", "T1", False),
    ("2025-02-03", "P2", "T2", False),
    ("2025-02-05", "P3", "T1", True),
    ("2025-03-31", "P4", "T1", False),
    ("2025-04-01", "P2", "T1", False),
]
# month: (completed, records, new, returning, arrived, no_show, rate)
EXPECTED = {
    "2025/01": (3, 2, 1, 2, 0, 1, "25.0%"),
    "2025/02": (3, 1, 1, 2, 1, 1, "20.0%"),
    "2025/03": (2, 1, 1, 1, 0, 0, "0.0%"),
}


def _when(text):
    return datetime.strptime(text, "%Y-%m-%d %H:%M")


def build_history(rows):
    """Clinic A's known history: four therapists (two inactive), six patients."""
    therapists = {"T1": rows.therapist,
                  "T2": Therapist.create(name=ODD_NAME, status="inactive"),
                  "T3": Therapist.create(name="休職中", status="inactive"),
                  "T4": Therapist.create(name="新人", status="active")}
    patients = {f"P{n}": Patient.create(chart_number=100 + n, name=f"患者{n}",
                                        name_kana=f"カンジャ{n}") for n in range(1, 7)}
    for when, patient, therapist, status in HISTORY:
        Appointment.create(patient=patients[patient], therapist=therapists[therapist],
                           appointment_date=_when(when), duration_minutes=30, status=status)
    owner = rows.users["owner"]
    for visit, patient, therapist, deleted in RECORDS:
        record = MedicalRecord.write(patients[patient], owner, therapist=therapists[therapist],
                                     visit_date=date.fromisoformat(visit), symptoms="腰痛")
        if deleted:
            record.soft_delete(owner, "二重登録")
    return therapists


def build_busy_clinic(rows):
    """Clinic B: many visits, no-shows and records in the same months, none of which count
    for A (its patient's first visit is inside A's period, too)."""
    for month in (1, 2, 3):
        for day in range(1, 21):
            Appointment.create(patient=rows.patient, therapist=rows.therapist,
                               appointment_date=datetime(2025, month, day, 11), duration_minutes=30,
                               status="completed" if day <= 15 else "no_show")
            MedicalRecord.write(rows.patient, rows.users["owner"], therapist=rows.therapist,
                                visit_date=date(2025, month, day))


@pytest.fixture
def history(app, world):
    with app.app_context():
        with clinic_context(world["a"].clinic.id):
            therapists = build_history(world["a"])
        with clinic_context(world["b"].clinic.id):
            build_busy_clinic(world["b"])
    return therapists


class _Tables(HTMLParser):
    """Each <table id=…> of a page as rows of cell texts (thead, tbody and tfoot alike)."""

    def __init__(self):
        super().__init__()
        self.tables, self.table, self.row, self.cell = {}, None, None, None

    def handle_starttag(self, tag, attrs):
        if tag == "table":
            self.table = self.tables.setdefault(dict(attrs).get("id"), [])
        elif tag == "tr" and self.table is not None:
            self.row = []
            self.table.append(self.row)
        elif tag in ("td", "th") and self.row is not None:
            self.cell = []

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self.cell is not None:
            self.row.append(" ".join("".join(self.cell).split()))
            self.cell = None
        elif tag == "table":
            self.table = self.row = None

    def handle_data(self, data):
        if self.cell is not None:
            self.cell.append(data)


def tables(response):
    parser = _Tables()
    parser.feed(response.get_data(as_text=True))
    return parser.tables


def chart(body, heading_id):
    """The <svg> of the report section labelled by heading_id."""
    section = body.split(f'aria-labelledby="{heading_id}"', 1)[1].split("</section>", 1)[0]
    return re.search(r"<svg.*?</svg>", section, re.S).group(0)


def in_clinic(app, world, key, function, *args):
    with app.app_context(), clinic_context(world[key].clinic.id):
        return function(*args)


# The numbers


def test_the_report_counts_a_known_history_exactly(app, world, history):
    report = in_clinic(app, world, "a", build, Q1)
    got = {m.label: (m.completed, m.records, m.new, m.returning, m.arrived, m.no_show,
                     percent(m.no_show_rate)) for m in report.months}
    assert got == EXPECTED
    total = report.total
    assert (total.completed, total.records, total.new, total.returning, total.arrived,
            total.no_show) == (8, 4, 3, 5, 1, 2)
    assert percent(total.no_show_rate) == "18.2%"  # 2 ÷ (1 + 8 + 2)
    assert [(t.name, t.status, t.visits) for t in report.therapists] == [
        ("A整骨院の施術者", "active", 5), (ODD_NAME, "inactive", 3), ("新人", "active", 0)]


def test_each_query_counts_by_month(app, world, history):
    with app.app_context(), clinic_context(world["a"].clinic.id):
        assert records_per_month(Q1) == {"2025-01": 2, "2025-02": 1, "2025-03": 1}
        assert new_patients_per_month(Q1) == {"2025-01": 1, "2025-02": 1, "2025-03": 1}
        assert appointments_per_month(Q1) == {
            "2025-01": {"completed": 3, "no_show": 1},
            "2025-02": {"completed": 3, "no_show": 1, "arrived": 1},
            "2025-03": {"completed": 2},
        }
        # A period that starts later: P2's and P3's visits are returning, P6 is new.
        april = Period(date(2025, 2, 1), date(2025, 4, 1))
        assert new_patients_per_month(april) == {"2025-02": 1, "2025-03": 1,
                                                         "2025-04": 1}


def test_another_clinics_rows_never_count(app, world, history):
    report = in_clinic(app, world, "b", build, Q1)
    assert [(m.completed, m.records, m.new, m.no_show) for m in report.months] == [
        (15, 20, 1, 5), (15, 20, 0, 5), (15, 20, 0, 5)]
    assert [(t.name, t.visits) for t in report.therapists] == [("B鍼灸院の施術者", 45)]
    a = in_clinic(app, world, "a", build, Q1)
    assert a.total.completed == 8 and a.total.records == 4
    assert "B鍼灸院の施術者" not in [t.name for t in a.therapists]


def test_the_report_costs_the_same_few_queries_for_any_length(app, world, history, monkeypatch):
    statements = []
    execute = database.obj.execute_sql

    def counting(sql, params=None, *args, **kwargs):
        statements.append(sql)
        return execute(sql, params, *args, **kwargs)

    monkeypatch.setattr(database.obj, "execute_sql", counting)
    for period in (Q1, Period(date(2021, 1, 1), date(2025, 12, 1))):
        statements.clear()
        in_clinic(app, world, "a", build, period)
        assert len(statements) == 4, statements
        assert all("GROUP BY" in sql for sql in statements)


def test_periods_are_read_from_month_inputs():
    on = date(2026, 11, 26)
    assert read_period({}, on) == Period(date(2025, 12, 1), date(2026, 11, 1))
    assert read_period({"from": "", "to": ""}, on) == default_period(on)
    assert read_period({"from": "2025-01", "to": "2025-03"}) == Q1
    assert read_period({"from": "2025-04"}) == Period(date(2025, 4, 1), date(2026, 3, 1))
    assert read_period({"to": "2025-03"}) == Period(date(2024, 4, 1), date(2025, 3, 1))
    assert len(read_period({"from": "2021-01", "to": "2025-12"}).keys) == 60
    assert Period(date(2024, 11, 1), date(2025, 2, 1)).keys == [
        "2024-11", "2024-12", "2025-01", "2025-02"]


# The page


def test_the_owner_sees_the_numbers_in_the_pages_tables(history, as_user):
    response = as_user("a", "owner").get(Q1_URL)
    assert response.status_code == 200
    found = tables(response)
    assert found["table-visits"] == [["月", "来院数", "施術録"],
                                     *[[m, str(e[0]), str(e[1])] for m, e in EXPECTED.items()],
                                     ["合計", "8", "4"]]
    assert found["table-new"] == [["月", "新規", "再来", "合計"],
                                  *[[m, str(e[2]), str(e[3]), str(e[0])]
                                    for m, e in EXPECTED.items()],
                                  ["合計", "3", "5", "8"]]
    assert found["table-no-show"] == [["月", "来院", "完了", "無断キャンセル", "率"],
                                      *[[m, str(e[4]), str(e[0]), str(e[5]), e[6]]
                                        for m, e in EXPECTED.items()],
                                      ["期間全体", "1", "8", "2", "18.2%"]]
    assert found["table-therapists"] == [["施術者", "来院数"], ["A整骨院の施術者", "5"],
                                         [f"{ODD_NAME} （無効）", "3"], ["新人", "0"],
                                         ["合計", "8"]]
    body = response.get_data(as_text=True)
    assert "無断キャンセル ÷（来院 ＋ 完了 ＋ 無断キャンセル）" in body
    assert "<strong>18.2%</strong>" in body
    assert "休職中" not in body  # inactive and no visit in the period
    assert "B鍼灸院" not in body
    assert 'value="2025-01"' in body and 'value="2025-03"' in body


def test_clinic_b_sees_only_its_own_numbers(history, as_user):
    found = tables(as_user("b", "owner").get(Q1_URL))
    assert found["table-visits"][-1] == ["合計", "45", "60"]
    assert found["table-therapists"][1:] == [["B鍼灸院の施術者", "45"], ["合計", "45"]]


@pytest.mark.parametrize("role", ["receptionist", "therapist"])
def test_only_owners_open_reports(world, as_user, role):
    assert as_user("a", role).get(Q1_URL).status_code == 403
    assert as_user("a", role).get("/reports").status_code == 403


def test_the_default_period_is_the_last_12_months(world, as_user):
    response = as_user("a", "owner").get("/reports")
    assert response.status_code == 200
    months = [row[0] for row in tables(response)["table-visits"][1:-1]]
    this_month = today().replace(day=1)
    assert len(months) == 12
    assert months[-1] == f"{this_month:%Y/%m}"
    assert months[0] == f"{add_months(this_month, -11):%Y/%m}"


@pytest.mark.parametrize("query, field, message", [
    ("from=2025-13&to=2025-12", "from", "開始月は 2026-04 の形で入力してください"),
    ("from=abc", "from", "開始月は 2026-04 の形で入力してください"),
    ("from=2025-1&to=2025-03", "from", "開始月は 2026-04 の形で入力してください"),
    ("from=2025-01&to=２０２５-０３", "to", "終了月は 2026-04 の形で入力してください"),
    ("from=2025-01-01&to=2025-03", "from", "開始月は 2026-04 の形で入力してください"),
    ("to=0000-01", "to", "終了月は 2026-04 の形で入力してください"),
    ("from=2025-04&to=2025-03", "to", "終了月は開始月と同じ月か、それより後にしてください"),
    ("from=2020-01&to=2025-01", "to", "期間は60か月（5年）以内にしてください"),
])
def test_bad_periods_answer_422_with_the_message_next_to_the_field(world, as_user, query, field,
                                                                    message):
    response = as_user("a", "owner").get(f"/reports?{query}")
    body = response.get_data(as_text=True)
    assert response.status_code == 422
    assert f'<p class="error" id="e-{field}">{message}</p>' in body
    assert 'id="table-visits"' not in body
    assert 'aria-invalid="true"' in body


def test_an_empty_period_renders_zeros(world, as_user):
    response = as_user("a", "owner").get("/reports?from=2010-01&to=2010-06")
    assert response.status_code == 200
    found = tables(response)
    assert found["table-visits"][1] == ["2010/01", "0", "0"]
    assert found["table-visits"][-1] == ["合計", "0", "0"]
    assert found["table-no-show"][-1] == ["期間全体", "0", "0", "0", "—"]
    assert found["table-therapists"][1:] == [["A整骨院の施術者", "0"], ["合計", "0"]]
    assert "この期間に来院・完了・無断キャンセルの予約はありません" in response.get_data(as_text=True)


def test_sixty_months_render(history, as_user):
    response = as_user("a", "owner").get("/reports?from=2021-01&to=2025-12")
    assert response.status_code == 200
    body = response.get_data(as_text=True)
    assert len(tables(response)["table-visits"]) == 62
    assert chart(body, "h-visits").count('class="bar bar-1"') == 60


def test_an_htmx_request_gets_the_report_alone(history, as_user):
    response = as_user("a", "owner").get(Q1_URL, headers={"HX-Request": "true"})
    body = response.get_data(as_text=True)
    assert response.status_code == 200
    assert body.lstrip().startswith('<div id="report"') and "<html" not in body
    bad = as_user("a", "owner").get("/reports?from=x", headers={"HX-Request": "true"})
    assert bad.status_code == 422 and bad.get_data(as_text=True).lstrip().startswith('<div id="report"')


# The charts


def test_the_charts_are_labelled_escaped_images_with_a_bar_per_month(history, as_user):
    body = as_user("a", "owner").get(Q1_URL).get_data(as_text=True)
    svgs = re.findall(r"<svg.*?</svg>", body, re.S)
    assert len(svgs) == 4
    for svg in svgs:
        assert 'role="img"' in svg and 'aria-label="' in svg and "<title>" in svg
        assert "<script" not in svg.lower() and "style=" not in svg
        assert not re.search(r"\son\w+\s*=", svg)
    assert ODD_NAME not in body
    assert "&lt;b&gt;&amp;&#34;" in chart(body, "h-therapists")
    visits = chart(body, "h-visits")
    assert 'aria-label="月別の来院数（2025/01〜2025/03）"' in visits
    assert visits.count('class="bar bar-1"') == 3
    for label in ("2025/01", "2025/02", "2025/03", "来院数（件）", "月"):
        assert f">{label}</text>" in visits
    stacked = chart(body, "h-new")
    assert stacked.count('class="bar bar-new"') == 3 == stacked.count('class="bar bar-returning"')
    no_show = chart(body, "h-no-show")
    assert no_show.count("<circle") == 3 and ">25.0%</text>" in no_show


def test_chart_text_is_escaped_and_values_stand_on_the_bars():
    svg = str(bar_chart('"><script>alert(1)</script>', ["2026/04", "<i>"], [("件", [3, 0], "bar-1")],
                        y_label="y&", x_label="x<"))
    assert "<script" not in svg and "<i>" not in svg
    assert "&#34;&gt;&lt;script&gt;" in svg and ">y&amp;</text>" in svg and ">x&lt;</text>" in svg
    assert svg.count("<rect") == 2 and ">3</text>" in svg and ">0</text>" in svg
    line = str(line_chart("率", ["a", "b", "c", "d"], [10.0, None, 5.0, 2.5], "率", "月", unit="%"))
    assert line.count("<circle") == 3 and "<polyline" in line  # the gap splits the line
    assert ">2.5%</text>" in line
    bars = str(hbar_chart("施術者", ["とても長い名前の施術者さん"], [7], "件"))
    assert ">とても長い名前の…</text>" in bars and "<title>とても長い名前の施術者さん: 7</title>" in bars


def test_the_owner_sees_the_charts_on_a_tablet(live_server, world, tablet, screenshot_dir, app):
    from .test_browser import log_in

    with app.app_context():
        with clinic_context(world["a"].clinic.id):
            build_history(world["a"])
        with clinic_context(world["b"].clinic.id):
            build_busy_clinic(world["b"])
    page = tablet
    errors = []
    page.on("console", lambda message: message.type == "error" and errors.append(message.text))
    log_in(page, live_server, "clinic-a", "clinic-a-owner")
    page.wait_for_url(f"{live_server}/")
    page.click("text=レポート")
    page.fill("#f-from", "2024-11")
    page.fill("#f-to", "2025-04")
    page.click("button:has-text('表示')")
    page.wait_for_url(f"{live_server}/reports?from=2024-11&to=2025-04")
    page.wait_for_selector("#table-visits >> text=2024/11")
    assert page.locator("svg.chart").count() == 4
    box = page.locator("#h-visits ~ .report-body svg").bounding_box()
    assert box["width"] > 600 and box["height"] > 250
    assert page.evaluate("document.documentElement.scrollWidth") <= 768
    page.screenshot(path=os.path.join(screenshot_dir, "reports-768x1024.png"), full_page=True)
    assert not errors, errors
