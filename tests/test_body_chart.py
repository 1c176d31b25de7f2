"""The body chart (人体図): the drawing, reading the form, storing, the summary, the macros,
and tapping it in a real browser."""
import json
import os
import re
import xml.etree.ElementTree as ET

import pytest
from flask import render_template_string, request
from hypothesis import given, settings
from hypothesis import strategies as st
from werkzeug.datastructures import MultiDict

from karusaku import body_chart
from karusaku.body_chart import KINDS, REGIONS, dumps, loads, read_marks, render, summary
from karusaku.forms import FormReader
from karusaku.web.security import csrf

SVG = body_chart.SVG_PATH
NS = "{http://www.w3.org/2000/svg}"
ERROR = {"body_chart": "人体図の入力を確かめてください"}

# Valid marks as read_marks() gives them: one per region, in REGIONS order.
valid_marks = st.dictionaries(st.sampled_from(list(REGIONS)), st.sampled_from(list(KINDS))).map(
    lambda kinds: [{"region": r, "kind": kinds[r]} for r in REGIONS if r in kinds])


def form_of(fields):
    return FormReader(MultiDict(fields))


def region_tag(html, region):
    """The opening tag of a region's element in rendered SVG."""
    match = re.search(r'<[a-z]+\b[^>]*\bdata-region="%s"[^>]*>' % re.escape(region), html)
    return match.group(0) if match else None


def selected(html, region):
    """The selected option's value of a region's select in rendered HTML ('' for なし)."""
    select = re.search(r'<select[^>]*name="mark-%s"[^>]*>(.*?)</select>' % re.escape(region),
                       html, re.S)
    assert select, region
    values = re.findall(r'<option value="([a-z]*)" selected>', select.group(1))
    assert len(values) <= 1
    return values[0] if values else ""


# --- the names -------------------------------------------------------------------------------

def test_kinds_and_regions():
    assert list(KINDS.items()) == [("pain", "痛み"), ("stiffness", "こり"), ("numbness", "しびれ")]
    assert 30 <= len(REGIONS) <= 45
    assert all(re.fullmatch(r"(front|back)-[a-z]+(-[a-z]+)*", region) for region in REGIONS)
    assert len(set(REGIONS.values())) == len(REGIONS)  # every label says which region
    for region, label in REGIONS.items():
        if region.endswith("-right"):
            assert label.startswith("右") and REGIONS[region[:-6] + "-left"] == "左" + label[1:]
    for region in ("front-neck", "back-lower-back", "back-shoulder-right", "front-knee-left",
                   "back-calf-right", "front-hip-right", "back-shoulder-blade-left"):
        assert region in REGIONS


# --- the drawing -----------------------------------------------------------------------------

def test_every_region_is_one_element_of_the_svg():
    root = ET.parse(SVG).getroot()
    assert root.tag == NS + "svg" and root.get("viewBox")
    elements = [e for e in root.iter() if e.get("data-region") is not None]
    assert sorted(e.get("data-region") for e in elements) == sorted(REGIONS)
    for element in elements:
        region = element.get("data-region")
        assert element.get("id") == f"region-{region}"
        assert "region" in element.get("class").split()
    ids = [e.get("id") for e in root.iter() if e.get("id")]
    assert len(ids) == len(set(ids))
    labels = [e.text for e in root.iter(NS + "text")]
    assert "前" in labels and "後" in labels


def test_regions_are_large_enough_to_tap():
    """Each region's bounding box is at least 16×20 units (about 16×20 px at 400 px wide)."""
    root = ET.parse(SVG).getroot()
    for element in root.iter():
        if element.get("data-region"):
            numbers = [float(n) for n in re.findall(r"-?\d+(?:\.\d+)?", element.get("d"))]
            xs, ys = numbers[0::2], numbers[1::2]
            assert max(xs) - min(xs) >= 16 and max(ys) - min(ys) >= 20, element.get("id")


def test_front_right_is_on_the_viewers_left_and_back_right_on_the_viewers_right():
    root = ET.parse(SVG).getroot()

    def centre_x(region):
        element = root.find(f".//*[@data-region='{region}']")
        xs = [float(n) for n in re.findall(r"-?\d+(?:\.\d+)?", element.get("d"))][0::2]
        return (min(xs) + max(xs)) / 2

    assert centre_x("front-hand-right") < centre_x("front-chest") < centre_x("front-hand-left")
    assert centre_x("back-shoulder-left") < centre_x("back-upper-back") < centre_x("back-shoulder-right")
    assert centre_x("front-chest") < 200 < centre_x("back-upper-back")


def test_the_svg_has_no_script_handlers_or_inline_styles():
    text = open(SVG, encoding="utf-8").read()
    assert "<script" not in text.lower()
    assert not re.search(r"\son[a-z]+\s*=", text, re.I)
    assert "style=" not in text.lower() and "<style" not in text.lower()
    assert "javascript:" not in text.lower() and "href" not in text.lower()


# --- reading the form ------------------------------------------------------------------------

def test_read_marks_in_regions_order():
    form = form_of([("mark-back-lower-back", "pain"), ("mark-front-neck", "stiffness"),
                    ("mark-front-knee-left", ""), ("symptoms", "腰痛"), ("body_chart_kind", "pain"),
                    ("mark-back-calf-right", " numbness ")])
    assert read_marks(form) == [{"region": "front-neck", "kind": "stiffness"},
                                {"region": "back-lower-back", "kind": "pain"},
                                {"region": "back-calf-right", "kind": "numbness"}]
    assert form.errors == {}


def test_read_marks_of_an_empty_form():
    form = form_of([(f"mark-{region}", "") for region in REGIONS])
    assert read_marks(form) == [] and form.errors == {}
    form = form_of([])
    assert read_marks(form) == [] and form.errors == {}


@pytest.mark.parametrize("fields", [
    [("mark-back-lower-back", "ache")],
    [("mark-back-lower-back", "痛み")],
    [("mark-back-lower-back", "PAIN")],
    [("mark-back-lower-back", "pain\x00")],
    [("mark-back-lower-back", "x" * 1_000_000)],
    [("mark-back-tail", "pain")],
    [("mark-", "pain")],
    [("mark-back-tail", "")],
    [("mark-BACK-LOWER-BACK", "pain")],
    [("mark-back-lower-back\x00", "pain")],
])
def test_read_marks_drops_bad_fields_with_an_error(fields):
    form = form_of(fields + [("mark-front-chest", "numbness")])
    assert read_marks(form) == [{"region": "front-chest", "kind": "numbness"}]
    assert form.errors == ERROR


def test_read_marks_keeps_an_earlier_error_on_the_field():
    form = form_of([("mark-front-chest", "bad")])
    form.error("body_chart", "先のエラー")
    assert read_marks(form) == []
    assert form.errors == {"body_chart": "先のエラー"}


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.one_of(st.text(max_size=30), st.sampled_from(
    [f"mark-{r}" for r in REGIONS] + ["mark-x", "mark-"])), st.text(max_size=50)), max_size=20))
def test_read_marks_never_raises(fields):
    form = form_of(fields)
    marks = read_marks(form)
    assert [m["region"] for m in marks] == [r for r in REGIONS if r in {m["region"] for m in marks}]
    assert all(m["kind"] in KINDS for m in marks)
    assert set(form.errors) <= {"body_chart"}


def test_read_marks_of_a_plain_dict_with_odd_keys():
    form = FormReader({"mark-front-chest": "pain", 3: "pain", "mark-back-neck": ["pain"]})
    assert read_marks(form) == [{"region": "front-chest", "kind": "pain"}]
    # a non-text value reads as '' (FormReader.raw): no mark, no error
    assert form.errors == {}


# --- storing ---------------------------------------------------------------------------------

def test_dumps_is_compact_json_and_loads_reads_it_back():
    marks = [{"region": "back-neck", "kind": "stiffness"}, {"region": "back-lower-back", "kind": "pain"}]
    text = dumps(marks)
    assert " " not in text and json.loads(text) == marks
    assert loads(text) == marks
    assert dumps([]) == "[]" and loads("[]") == []


@pytest.mark.parametrize("text", [
    None, "", "  ", "null", "{}", "42", '"pain"', "[1, 2]", "[null]", "not json", "[{", "\x00",
    b"\xff\xfe", '[{"region": "back-tail", "kind": "pain"}]',
    '[{"region": "back-neck", "kind": "itch"}]', '[{"region": ["back-neck"], "kind": "pain"}]',
    '[{"region": "back-neck"}]', "[" * 100_000 + "]" * 100_000, "1" * 5000, 42, ["back-neck"],
])
def test_loads_drops_what_it_cannot_read(text):
    assert loads(text) == []


def test_loads_keeps_the_good_entries_in_regions_order_once_each():
    text = json.dumps([{"region": "back-lower-back", "kind": "pain", "extra": 1},
                       {"region": "back-tail", "kind": "pain"}, "junk",
                       {"region": "front-neck", "kind": "numbness"},
                       {"region": "back-lower-back", "kind": "stiffness"}])
    assert loads(text) == [{"region": "front-neck", "kind": "numbness"},
                           {"region": "back-lower-back", "kind": "pain"}]


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.text(), st.text(alphabet='[]{}",:0123456789 regionkdpa-').map(str)))
def test_loads_never_raises(text):
    marks = loads(text)
    assert isinstance(marks, list)
    assert all(m["region"] in REGIONS and m["kind"] in KINDS for m in marks)


@given(valid_marks)
def test_dumps_loads_round_trip(marks):
    assert loads(dumps(marks)) == marks


@given(valid_marks)
def test_what_the_form_sends_reads_back_as_the_marks(marks):
    fields = [(f"mark-{m['region']}", m["kind"]) for m in marks]
    assert read_marks(form_of(fields)) == marks


# --- the summary -----------------------------------------------------------------------------

def test_summary():
    marks = [{"region": "back-neck", "kind": "stiffness"},
             {"region": "back-shoulder-right", "kind": "pain"},
             {"region": "back-lower-back", "kind": "pain"}]
    assert summary(marks) == "痛み: 右肩、腰／こり: 首（後）"
    assert summary([{"region": "front-knee-left", "kind": "numbness"}]) == "しびれ: 左膝"
    assert summary([]) == "" and summary(None) == "" and summary("junk") == ""


# --- rendering -------------------------------------------------------------------------------

def test_render_marks_only_the_marked_regions():
    marks = [{"region": "back-lower-back", "kind": "pain"}, {"region": "front-neck", "kind": "stiffness"},
             {"region": "front-knee-left", "kind": "numbness"}]
    html = str(render(marks))
    assert html.startswith("<svg") and html.rstrip().endswith("</svg>")
    for region in REGIONS:
        tag = region_tag(html, region)
        assert tag, region
        kinds = re.findall(r"mark-([a-z]+)", tag)
        expected = {m["region"]: m["kind"] for m in marks}.get(region)
        assert kinds == ([expected] if expected else []), region
    ET.fromstring(html)  # still well-formed


def test_a_view_is_a_labelled_image_without_buttons_or_ids():
    html = str(render([{"region": "back-lower-back", "kind": "pain"}]))
    root = re.match(r"<svg[^>]*>", html).group(0)
    assert 'role="img"' in root and 'aria-label="人体図: 痛み: 腰"' in root
    assert "body-chart-large" in root
    assert 'role="button"' not in html and "tabindex" not in html
    assert 'id="region-' not in html  # several drawings may share a page
    assert 'aria-label="人体図: 記録なし"' in str(render([]))
    assert "body-chart-small" in str(render([], size="small"))
    assert "body-chart-large" in str(render([], size="huge"))


def test_an_interactive_drawing_has_a_button_per_region():
    html = str(render([{"region": "back-lower-back", "kind": "pain"}], interactive=True))
    assert 'role="img"' not in re.match(r"<svg[^>]*>", html).group(0)
    assert "is-interactive" in re.match(r"<svg[^>]*>", html).group(0)
    for region, label in REGIONS.items():
        tag = region_tag(html, region)
        assert 'role="button"' in tag and 'tabindex="0"' in tag
        assert f'id="region-{region}"' in tag
        name = "腰（痛み）" if region == "back-lower-back" else label
        assert f'aria-label="{name}"' in tag
    assert html.count('role="button"') == len(REGIONS)


def test_render_tolerates_any_marks():
    for marks in (None, "junk", [None, 1, {"region": "x", "kind": "pain"}], [{"region": "front-neck"}]):
        html = str(render(marks, interactive=True))
        assert "mark-" not in html.replace("data-region", "")


# --- the macros in the app -------------------------------------------------------------------

INPUT = '{% from "records/_body_chart.html" import body_chart_input %}{{ body_chart_input(marks) }}'
VIEW = ('{% from "records/_body_chart.html" import body_chart_view %}'
        '{{ body_chart_view(marks, size=size) }}')


def test_input_macro_renders_the_picker_drawing_and_preselected_selects(app):
    marks = [{"region": "front-neck", "kind": "stiffness"}, {"region": "back-lower-back", "kind": "pain"}]
    with app.test_request_context():
        html = app.jinja_env.from_string(INPUT).render(marks=marks)
    assert '<fieldset class="body-chart" id="body-chart"' in html and "<legend>人体図</legend>" in html
    radios = re.findall(r'<input type="radio" name="body_chart_kind" value="([a-z]+)"( checked)?>', html)
    assert radios == [("pain", " checked"), ("stiffness", ""), ("numbness", "")]
    assert 'role="group"' in html and html.count('role="button"') == len(REGIONS)
    assert '<details class="body-chart-list">' in html and "<summary>一覧で選ぶ</summary>" in html
    assert html.count("<select ") == len(REGIONS)
    for region, label in REGIONS.items():
        assert f'<label for="bc-{region}">{label}</label>' in html
        expected = {"front-neck": "stiffness", "back-lower-back": "pain"}.get(region, "")
        assert selected(html, region) == expected
    assert "痛み: 腰" in html and "こり: 首（前）" in html
    assert 'class="region mark-stiffness"' in region_tag(html, "front-neck")


def test_input_macro_with_no_marks_and_with_an_error(app):
    source = ('{% from "records/_body_chart.html" import body_chart_input %}'
              '{{ body_chart_input(none, error="人体図の入力を確かめてください") }}')
    with app.test_request_context():
        html = app.jinja_env.from_string(source).render()
    assert all(selected(html, region) == "" for region in REGIONS)
    assert "mark-pain" not in html.replace("swatch-pain", "")
    assert 'class="body-chart has-error"' in html and "人体図の入力を確かめてください" in html


def test_view_macro(app):
    with app.test_request_context():
        html = app.jinja_env.from_string(VIEW).render(
            marks=[{"region": "back-neck", "kind": "stiffness"}], size="small")
        empty = app.jinja_env.from_string(VIEW).render(marks=[], size="large")
    assert "body-chart-small" in html and "<figcaption" in html and "こり: 首（後）" in html
    assert "<select" not in html and 'role="button"' not in html
    assert "記録なし" in empty and "body-chart-large" in empty


def test_the_svg_is_read_once(monkeypatch):
    body_chart._drawing()
    monkeypatch.setattr(body_chart, "SVG_PATH", "/nonexistent.svg")
    assert str(render([])).startswith("<svg")


# --- in a real browser -----------------------------------------------------------------------

PAGE = """<!doctype html>
<html lang="ja"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="htmx-config" content='{"includeIndicatorStyles": false, "allowEval": false}'>
<link rel="icon" href="{{ url_for('static', filename='favicon.svg') }}" type="image/svg+xml">
<link rel="stylesheet" href="{{ url_for('static', filename='app.css') }}">
<script src="{{ url_for('static', filename='htmx-2.0.11.min.js') }}" defer></script>
<script src="{{ url_for('static', filename='body-chart.js') }}" defer></script>
</head><body><main>
{% from "records/_body_chart.html" import body_chart_input, body_chart_view %}
<form method="post" action="{{ url_for('test_body_chart_save') }}"
      hx-post="{{ url_for('test_body_chart_save') }}" hx-trigger="input delay:300ms"
      hx-target="#saved" hx-swap="innerHTML">
  {{ body_chart_input(marks) }}
</form>
<output id="saved"></output>
<div class="last-visit">{{ body_chart_view(marks, size="small") }}</div>
</main></body></html>"""


def add_test_page(app, marks):
    """A page with the component, for the browser (no login: a test-only route)."""

    def page():
        return render_template_string(PAGE, marks=marks)

    def save():
        form = FormReader(request.form)
        return json.dumps({"marks": read_marks(form), "errors": form.errors}, ensure_ascii=False)

    app.add_url_rule("/_test/body-chart", "test_body_chart", page)
    app.add_url_rule("/_test/body-chart", "test_body_chart_save", csrf.exempt(save), methods=["POST"])


def test_tapping_the_body_chart_on_a_tablet(app, live_server, tablet, screenshot_dir):
    add_test_page(app, [{"region": "back-lower-back", "kind": "pain"}])
    page = tablet
    errors = []
    page.on("console", lambda message: message.type == "error" and errors.append(message.text))
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(f"{live_server}/_test/body-chart")

    def region(name):
        return page.locator(f'#body-chart svg [data-region="{name}"]')

    box = region("front-chest").bounding_box()
    drawing = page.locator("#body-chart svg").bounding_box()
    assert 360 <= drawing["width"] <= 420 and box["width"] > 40

    page.locator(".body-chart-kind", has_text="こり").click()
    region("back-shoulder-right").click()
    region("back-neck").click()
    page.locator(".body-chart-kind", has_text="しびれ").click()
    region("front-hand-left").click()
    page.locator(".body-chart-kind", has_text="こり").click()
    region("back-neck").click()  # こり again on a こり region: cleared

    values = page.evaluate("""() => Object.fromEntries([...document.querySelectorAll(
        '#body-chart select[data-region]')].filter(s => s.value).map(s => [s.dataset.region, s.value]))""")
    assert values == {"back-shoulder-right": "stiffness", "front-hand-left": "numbness",
                      "back-lower-back": "pain"}
    classes = page.evaluate("""() => Object.fromEntries([...document.querySelectorAll(
        '#body-chart svg .region')].map(r => [r.dataset.region,
        [...r.classList].filter(c => c.startsWith('mark-')).join(' ')]).filter(([_, c]) => c))""")
    assert classes == {region: f"mark-{kind}" for region, kind in values.items()}
    assert region("back-neck").get_attribute("aria-label") == "首（後）"
    assert region("front-hand-left").get_attribute("aria-label") == "左手首・手（しびれ）"
    assert page.inner_text("#body-chart .body-chart-summary") == \
        "痛み: 腰／こり: 右肩／しびれ: 左手首・手"

    # The selects are the data: the htmx autosave (input … delay) posted them.
    page.locator("#saved", has_text="front-hand-left").wait_for()
    saved = json.loads(page.inner_text("#saved"))
    assert saved["errors"] == {}
    assert {m["region"]: m["kind"] for m in saved["marks"]} == values

    # The list drives the drawing too; the keyboard works on a focused region.
    page.click(".body-chart-list summary")
    page.select_option("#bc-front-knee-right", "pain")
    assert "mark-pain" in region("front-knee-right").get_attribute("class")
    page.select_option("#bc-front-knee-right", "")
    assert "mark-" not in region("front-knee-right").get_attribute("class")
    region("front-chest").focus()
    page.keyboard.press("Enter")
    assert page.input_value("#bc-front-chest") == "stiffness"
    page.keyboard.press(" ")
    assert page.input_value("#bc-front-chest") == ""
    page.locator(".body-chart-list").screenshot(
        path=os.path.join(screenshot_dir, "body-chart-list-768x1024.png"))
    page.click(".body-chart-list summary")

    # The read-only thumbnail on the same page is not touched by the script.
    assert page.locator(".last-visit svg .mark-pain").count() == 1
    assert page.locator(".last-visit svg [role=button]").count() == 0
    page.screenshot(path=os.path.join(screenshot_dir, "body-chart-768x1024.png"), full_page=True)
    assert not errors, errors


def test_a_chart_swapped_in_by_htmx_is_tappable(app, live_server, tablet):
    add_test_page(app, [])

    def fragment():
        return render_template_string(
            '{% from "records/_body_chart.html" import body_chart_input %}'
            '<form>{{ body_chart_input([{"region": "front-chest", "kind": "numbness"}]) }}</form>')

    app.add_url_rule("/_test/body-chart/fragment", "test_body_chart_fragment", fragment)
    page = tablet
    page.goto(f"{live_server}/_test/body-chart")
    page.evaluate("""() => htmx.ajax('GET', '/_test/body-chart/fragment',
                                     {target: 'main', swap: 'innerHTML'})""")
    page.wait_for_selector('#body-chart svg [data-region="front-chest"].mark-numbness')
    page.locator('#body-chart svg [data-region="front-abdomen"]').click()
    assert page.input_value("#bc-front-abdomen") == "pain"
    assert "mark-pain" in page.locator('#body-chart svg [data-region="front-abdomen"]').get_attribute("class")
    assert page.input_value("#bc-front-chest") == "numbness"
