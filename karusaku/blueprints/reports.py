"""Reports for owners: visits, new versus returning patients, no-shows, as SVG charts."""
from flask import Blueprint, request

from ..forms.reports import read_period
from ..reports import build, percent
from ..web import htmx
from ..web.access import require_staff, roles
from ..web.refusals import answers_refusals
from ..web.svg_charts import bar_chart, hbar_chart, line_chart

bp = Blueprint("reports", __name__, url_prefix="/reports")
bp.before_request(require_staff)


def _period_again(status, errors):
    values = {key: request.args.get(key, "") for key in ("from", "to")}
    return htmx.render("reports/index.html", block="report", status=status, report=None,
                       values=values, errors=errors)


@bp.get("")
@roles("owner")
@answers_refusals(_period_again)
def index():
    """The report of ?from=YYYY-MM&to=YYYY-MM (the last 12 months by default)."""
    period = read_period(request.args)
    report = build(period)
    values = {"from": f"{period.first:%Y-%m}", "to": f"{period.last:%Y-%m}"}
    return htmx.render("reports/index.html", block="report", report=report, values=values,
                       errors={}, charts=charts(report), percent=percent)


def charts(report):
    """The report's four charts, by name."""
    months, span = report.months, report.period.label
    labels = [m.label for m in months]
    rates = [None if m.no_show_rate is None else m.no_show_rate * 100 for m in months]
    return {
        "visits": bar_chart(
            f"月別の来院数（{span}）", labels, [("来院数", [m.completed for m in months], "bar-1")],
            y_label="来院数（件）", x_label="月", desc="状態が「完了」の予約の数"),
        "therapists": hbar_chart(
            f"施術者別の来院数（{span}）", [t.name for t in report.therapists],
            [t.visits for t in report.therapists], x_label="来院数（件）",
            empty="施術者が登録されていません"),
        "new_returning": bar_chart(
            f"新規・再来の来院数（{span}）", labels,
            [("新規", [m.new for m in months], "bar-new"),
             ("再来", [m.returning for m in months], "bar-returning")],
            y_label="来院数（件）", x_label="月"),
        "no_show": line_chart(
            f"月別の無断キャンセル率（{span}）", labels, rates, y_label="無断キャンセル率",
            x_label="月", unit="%", cls="line-no-show",
            desc="無断キャンセル ÷（来院 + 完了 + 無断キャンセル）",
            empty="この期間に来院・完了・無断キャンセルの予約はありません"),
    }
