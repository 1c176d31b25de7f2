"""The report's period form: ?from=YYYY-MM&to=YYYY-MM."""
from ..reports import DEFAULT_MONTHS, MAX_MONTHS, Period, add_months, default_period
from .reader import FormReader


def read_period(args, on=None):
    """The period of ?from=YYYY-MM&to=YYYY-MM. Without `to` it runs 12 months from `from`,
    without `from` 12 months up to `to`, without both the last 12 months. Raises Invalid
    (Japanese messages) for a bad month, a reversed period or one longer than 60 months."""
    form = FormReader(args)
    first = form.month("from", "開始月")
    last = form.month("to", "終了月")
    form.check()
    if first is None and last is None:
        return default_period(on)
    first = first or add_months(last, 1 - DEFAULT_MONTHS)
    last = last or add_months(first, DEFAULT_MONTHS - 1)
    if last < first:
        form.error("to", "終了月は開始月と同じ月か、それより後にしてください")
    elif len(Period(first, last).keys) > MAX_MONTHS:
        form.error("to", f"期間は{MAX_MONTHS}か月（5年）以内にしてください")
    form.check()
    return Period(first, last)
