"""The body chart (人体図): regions of a front and back outline marked 痛み / こり / しびれ.

A visit record keeps its marks as a list `[{"region": "back-lower-back", "kind": "pain"}, ...]`
in REGIONS order, stored as JSON in `medical_records.body_chart`. The form sends one select per
region (`mark-<region id>`), so it works without JavaScript; `static/body-chart.js` lets the
therapist tap the drawing instead, and keeps the selects as the single source of truth.
"""
import json
import os
import re
from functools import lru_cache

from markupsafe import Markup, escape

KINDS = {"pain": "痛み", "stiffness": "こり", "numbness": "しびれ"}

# Right and left are the patient's: on the front view the patient's right is on the viewer's left.
REGIONS = {
    "front-head": "頭・顔",
    "front-neck": "首（前）",
    "front-shoulder-right": "右肩（前）",
    "front-shoulder-left": "左肩（前）",
    "front-chest": "胸",
    "front-upper-arm-right": "右上腕",
    "front-upper-arm-left": "左上腕",
    "front-elbow-right": "右肘",
    "front-elbow-left": "左肘",
    "front-forearm-right": "右前腕",
    "front-forearm-left": "左前腕",
    "front-hand-right": "右手首・手",
    "front-hand-left": "左手首・手",
    "front-abdomen": "腹部",
    "front-hip-right": "右股関節",
    "front-hip-left": "左股関節",
    "front-thigh-right": "右太もも（前）",
    "front-thigh-left": "左太もも（前）",
    "front-knee-right": "右膝",
    "front-knee-left": "左膝",
    "front-shin-right": "右すね",
    "front-shin-left": "左すね",
    "front-foot-right": "右足首・足",
    "front-foot-left": "左足首・足",
    "back-head": "後頭部",
    "back-neck": "首（後）",
    "back-shoulder-right": "右肩",
    "back-shoulder-left": "左肩",
    "back-upper-back": "背中上部",
    "back-shoulder-blade-right": "右肩甲骨",
    "back-shoulder-blade-left": "左肩甲骨",
    "back-mid-back": "背中中部",
    "back-lower-back": "腰",
    "back-buttock-right": "右臀部",
    "back-buttock-left": "左臀部",
    "back-thigh-right": "右太もも（後）",
    "back-thigh-left": "左太もも（後）",
    "back-knee-right": "右膝裏",
    "back-knee-left": "左膝裏",
    "back-calf-right": "右ふくらはぎ",
    "back-calf-left": "左ふくらはぎ",
    "back-heel-right": "右かかと・足裏",
    "back-heel-left": "左かかと・足裏",
}

ERROR = "人体図の入力を確かめてください"
FIELD_PREFIX = "mark-"
SVG_PATH = os.path.join(os.path.dirname(__file__), "static", "body-chart.svg")
SIZES = ("large", "small")

_ROOT = re.compile(r"<svg\b[^>]*>")
_REGION = re.compile(r'<(?:path|ellipse|polygon|circle|rect|g)\b[^>]*\bclass="region"[^>]*>')
_DATA_REGION = re.compile(r'\bdata-region="([a-z-]+)"')
_ID = re.compile(r'\s+id="region-[a-z-]+"')


def read_marks(form):
    """The marks of a submitted form (a FormReader): one `mark-<region>` field per region.

    Empty fields are no mark; an unknown kind or region is dropped with an error on the
    "body_chart" field. Returns the marks in REGIONS order.
    """
    found, bad = {}, False
    try:
        names = [name for name in form.data if isinstance(name, str)]
    except TypeError:
        names = []
    for name in names:
        if not name.startswith(FIELD_PREFIX):
            continue
        region, kind = name[len(FIELD_PREFIX):], form.raw(name).strip()
        if region not in REGIONS or (kind and kind not in KINDS):
            bad = True
        elif kind:
            found[region] = kind
    if bad:
        form.error("body_chart", ERROR)
    return [{"region": region, "kind": found[region]} for region in REGIONS if region in found]


def clean(marks):
    """Valid marks only, one per region, in REGIONS order (never raises)."""
    found = {}
    try:
        entries = list(marks) if isinstance(marks, (list, tuple)) else []
    except TypeError:
        entries = []
    for entry in entries:
        if not isinstance(entry, dict):
            continue
        region, kind = entry.get("region"), entry.get("kind")
        if isinstance(region, str) and isinstance(kind, str) and region in REGIONS \
                and kind in KINDS:
            found.setdefault(region, kind)
    return [{"region": region, "kind": found[region]} for region in REGIONS if region in found]


def dumps(marks):
    """The marks as compact JSON for the `medical_records.body_chart` column."""
    return json.dumps(clean(marks), ensure_ascii=False, separators=(",", ":"))


def loads(text):
    """The marks stored by dumps(); anything unreadable is dropped, never raises."""
    if isinstance(text, (bytes, bytearray)):
        text = bytes(text).decode("utf-8", "replace")
    if not isinstance(text, str) or not text.strip():
        return []
    try:
        return clean(json.loads(text))
    except (ValueError, TypeError, RecursionError):
        return []


def summary(marks):
    """Japanese text for lists, print and screen readers: "痛み: 腰、右肩／こり: 首（後）"."""
    marks = clean(marks)
    parts = []
    for kind, label in KINDS.items():
        names = [REGIONS[m["region"]] for m in marks if m["kind"] == kind]
        if names:
            parts.append(f"{label}: {'、'.join(names)}")
    return "／".join(parts)


@lru_cache(maxsize=1)
def _drawing():
    """The SVG split around its region tags: [text, (region, tag), text, ...] (read once)."""
    with open(SVG_PATH, encoding="utf-8") as file:
        svg = file.read()
    svg = svg[svg.index("<svg"):]
    root = _ROOT.match(svg).group(0)
    pieces, position = [], len(root)
    for match in _REGION.finditer(svg, position):
        pieces.append(svg[position:match.start()])
        pieces.append((_DATA_REGION.search(match.group(0)).group(1), match.group(0)))
        position = match.end()
    pieces.append(svg[position:])
    return root, pieces


@lru_cache(maxsize=2)
def _tags(interactive):
    """The drawing's pieces with each region's tag made ready for every kind of mark:
    [text, {None: tag, "pain": tag, ...}, text, ...] (worked out once per mode)."""
    root, pieces = _drawing()
    ready = []
    for piece in pieces:
        if isinstance(piece, str):
            ready.append(piece)
            continue
        region, tag = piece
        variants = {}
        for kind in (None, *KINDS):
            marked = tag.replace('class="region"', f'class="region mark-{kind}"', 1) if kind else tag
            if interactive:
                name = REGIONS[region] + (f"（{KINDS[kind]}）" if kind else "")
                marked = marked.replace('class="region', f'role="button" tabindex="0" '
                                                         f'aria-label="{name}" class="region', 1)
            else:
                marked = _ID.sub("", marked, count=1)
            variants[kind] = marked
        ready.append((region, variants))
    return root, ready


def render(marks, interactive=False, size="large"):
    """The drawing inline, marked regions with class `mark-<kind>`.

    Interactive: each region is a focusable button named by its label (the form's drawing).
    Otherwise an image labelled with the summary; region ids are left out so that several
    drawings (visit to visit) can share a page.
    """
    marks = tuple((m["region"], m["kind"]) for m in clean(marks))
    return _render(marks, bool(interactive), size if size in SIZES else "large")


@lru_cache(maxsize=1024)  # a chart shows 17 drawings, and the same marks come back visit to visit
def _render(marks, interactive, size):
    kinds = dict(marks)
    root, pieces = _tags(interactive)
    classes = f"body-chart-svg body-chart-{size}" + (" is-interactive" if interactive else "")
    if interactive:
        label = "人体図（部位をタップして印をつける）"
        extra = f' role="group" aria-label="{label}"'
    else:
        label = f"人体図: {summary([{'region': r, 'kind': k} for r, k in marks]) or '記録なし'}"
        extra = f' role="img" aria-label="{escape(label)}" focusable="false"'
    out = [root.replace('class="body-chart-svg"', f'class="{classes}"{extra}', 1)]
    for piece in pieces:
        out.append(piece if isinstance(piece, str) else piece[1][kinds.get(piece[0])])
    return Markup("".join(out))


def init_app(app):
    """Make the drawing, the summary and the names usable in templates."""
    app.jinja_env.globals.update(body_chart_svg=render, body_chart_summary=summary,
                                 BODY_CHART_KINDS=KINDS, BODY_CHART_REGIONS=REGIONS)
