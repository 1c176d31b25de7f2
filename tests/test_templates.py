"""The shared template pieces: the form macros' error markup, one CSRF field, and the week
grid drawn by the day grid's renderer."""
import re

from karusaku.clock import today
from karusaku.db.tenancy import clinic_context
from karusaku.models import Clinic
from karusaku.web.security import csrf_field

MACROS = """{% from "_forms.html" import csrf, field, select, textarea %}
{{ field('birth', '生年月日', 'x', errors, hint='例：S55.4.1') }}
{{ select('kind', '種類', [('a', 'A'), (2, 'B')], '2', errors, blank='選んでください') }}
{% call select('plan', 'プラン', errors=errors, required=true) %}<option>P</option>{% endcall %}
{{ textarea('notes', 'メモ', '<b>', errors, rows=3) }}
{{ csrf() }}"""


def render(app, errors):
    with app.test_request_context("/"):
        return app.jinja_env.from_string(MACROS).render(errors=errors), csrf_field()


def test_without_errors_the_fields_are_plain(app):
    html, _ = render(app, {})
    assert "has-error" not in html and "aria-invalid" not in html and 'class="error"' not in html
    assert 'aria-describedby="h-birth"' in html
    assert '<p class="hint" id="h-birth">例：S55.4.1</p>' in html
    assert '<option value="">選んでください</option>' in html
    assert '<option value="2" selected>B</option>' in html
    assert '<option value="a">A</option>' in html
    assert '<span class="required">必須</span>' in html and '<option>P</option>' in html
    assert re.search(r'<label for="f-notes">メモ</label>\s*'
                     r'<textarea id="f-notes" name="notes" rows="3">&lt;b&gt;</textarea>', html)


def test_each_field_with_an_error_is_marked_and_described_by_it(app):
    errors = {name: f"{name}の誤り" for name in ("birth", "kind", "plan", "notes")}
    html, _ = render(app, errors)
    assert html.count('class="field has-error"') == 4
    assert 'aria-describedby="h-birth e-birth" aria-invalid="true"' in html
    for name in ("kind", "plan", "notes"):
        assert f'id="f-{name}" name="{name}"' in html
        assert re.search(rf'id="f-{name}" name="{name}"[^>]* aria-invalid="true" '
                         rf'aria-describedby="e-{name}">', html), name
    for name in errors:
        assert f'<p class="error" id="e-{name}">{name}の誤り</p>' in html


def test_the_csrf_macro_is_the_one_csrf_field(app):
    html, field = render(app, {})
    assert html.endswith(str(field))
    assert re.fullmatch(r'<input type="hidden" name="csrf_token" value="[\w.-]+">', str(field))


def test_the_week_is_drawn_by_the_grid_renderer(app, world, as_user):
    """Free slots are plain cells (no booking from the week), a closed day's marked closed;
    the appointment is the day grid's block with its status button and CSRF field."""
    with app.app_context():
        Clinic.update(closed_weekdays="6").where(Clinic.id == world["a"].clinic.id).execute()
    with app.app_context(), clinic_context(world["a"].clinic.id):
        therapist_id = world["a"].therapist.id
    week = f"/schedule/week?therapist_id={therapist_id}&date={today().isoformat()}"
    page = as_user("a", "receptionist").get(week).get_data(as_text=True)
    body = page[page.index("<tbody>"):page.index("</tbody>")]
    assert '<td class="free closed"></td>' in body and '<td class="free"></td>' in body
    assert 'class="slot"' not in body
    assert re.search(r'<td class="busy" rowspan="2"><div class="block status-booked">', body)
    assert re.search(r'<input type="hidden" name="csrf_token" value="[\w.-]+">'
                     r'<input type="hidden" name="status" value="arrived">', body)
    assert re.search(r'<tr><th class="time" scope="row">\d\d:\d\d</th>', body)
