"""The number and date parsers never raise, read only ASCII digits (and, in numbers,
full-width ones; no other Unicode digit), and give only dates from which every derived date
still exists."""
import unicodedata
from datetime import date, datetime, timedelta

from hypothesis import example, given, settings
from hypothesis import strategies as st
from werkzeug.datastructures import MultiDict

from karusaku.forms import (
    FIRST_DAY,
    LAST_DAY,
    FormReader,
    Invalid,
    page_number,
    parse_date,
    parse_datetime,
    parse_integer,
    parse_month,
)
from karusaku.forms.reports import read_period
from karusaku.japanese import format_wareki, parse_birth_date
from karusaku.reports import MAX_MONTHS, Period, add_months

from . import hostile

PROPERTY = settings(max_examples=400, deadline=None)
FOLD = {ord(f): a for f, a in zip(hostile.FULL_WIDTH_DIGITS, hostile.ASCII_DIGITS)}
LIMIT = 10**18


def is_number_text(text):
    """The rule, written out: ASCII or full-width digits, at most 18, one optional leading
    ASCII or full-width '-', white space around."""
    body = text.strip().translate(FOLD).replace("－", "-")
    body = body[1:] if body.startswith("-") else body
    return 0 < len(body) <= 18 and all(c in hostile.ASCII_DIGITS for c in body)


@PROPERTY
@given(st.one_of(hostile.numbers, st.text(), hostile.huge_bodies))
@example("--5")
@example("²")
@example("+-1")
@example("−5")
@example("9" * 19)
@example("")
def test_parse_integer_never_raises_and_reads_only_the_rule(text):
    number = parse_integer(text)
    if not is_number_text(text):
        assert number is None, text
    else:
        assert number == int(text.strip().translate(FOLD).replace("－", "-"))
        assert -LIMIT < number < LIMIT


@PROPERTY
@given(st.integers(-LIMIT + 1, LIMIT - 1), st.sampled_from(["", " ", "\u3000", "\t"]),
       st.booleans())
def test_every_integer_in_range_reads_back(number, space, full_width):
    text = str(number)
    if full_width:
        text = text.translate({ord(a): f for a, f in zip("0123456789-", "０１２３４５６７８９－")})
    assert parse_integer(space + text + space) == number


@PROPERTY
@given(hostile.signed_numbers(digits=hostile.unicode_digit))
def test_no_other_unicode_digit_is_a_digit(text):
    assert parse_integer(text) is None
    assert any(unicodedata.category(c) in ("Nd", "No", "Nl") for c in text)


@PROPERTY
@given(st.one_of(hostile.numbers, st.text()))
def test_the_page_number_is_a_page(text):
    page = page_number({"page": text})
    assert isinstance(page, int) and 1 <= page <= 10**9


def derived(day):
    """What the pages compute from a date they were given: the day grid's neighbours, the
    week's first day and its neighbours, 和暦 and a report's months around it."""
    first = day - timedelta(days=day.weekday())
    month = day.replace(day=1)
    Period(add_months(month, 1 - MAX_MONTHS), month).keys
    Period(month, add_months(month, MAX_MONTHS - 1)).end
    return [day - timedelta(days=1), day + timedelta(days=1), first + timedelta(days=6),
            first - timedelta(days=7), first + timedelta(days=7), format_wareki(day),
            datetime.combine(add_months(month, MAX_MONTHS), datetime.min.time())]


@PROPERTY
@given(st.one_of(hostile.dates, st.text(), hostile.huge_bodies))
@example("9999-12-31")
@example("0001-01-01")
@example("2024-02-29")
@example("2026-13-01")
def test_parse_date_never_raises_and_stays_in_the_window(text):
    day = parse_date(text)
    if day is None:
        return
    assert FIRST_DAY <= day <= LAST_DAY
    assert day.isoformat() == text.strip()
    derived(day)


@PROPERTY
@given(st.dates(min_value=date(1, 1, 1), max_value=date(9999, 12, 31)))
def test_every_date_of_the_window_reads_back_and_no_other(day):
    inside = FIRST_DAY <= day <= LAST_DAY
    assert parse_date(day.isoformat()) == (day if inside else None)
    assert parse_month(f"{day:%Y-%m}") == (day.replace(day=1) if inside else None)
    moment = datetime.combine(day, datetime.min.time()).replace(hour=23, minute=59)
    assert parse_datetime(f"{moment:%Y-%m-%dT%H:%M}") == (moment if inside else None)


@PROPERTY
@given(st.one_of(hostile.months, hostile.dates, st.text()))
@example("9999-12")
@example("0001-01")
@example("2026-00")
@example("1899-12")
def test_parse_month_never_raises_and_stays_in_the_window(text):
    month = parse_month(text)
    if month is not None:
        assert month.day == 1 and FIRST_DAY <= month <= LAST_DAY
        derived(month)


@PROPERTY
@given(st.one_of(hostile.datetimes, hostile.dates, st.text()))
@example("9999-12-31T23:59")
@example("2026-04-01T24:00")
@example("2026-04-01T²0:30")
def test_parse_datetime_never_raises_and_stays_in_the_window(text):
    moment = parse_datetime(text)
    if moment is not None:
        assert FIRST_DAY <= moment.date() <= LAST_DAY
        derived(moment.date())
        moment + timedelta(minutes=480), moment + timedelta(weeks=11)  # a long visit, a series


FIELDS = {"n": hostile.numbers, "d": hostile.dates, "t": hostile.datetimes, "m": hostile.months,
          "b": st.one_of(hostile.dates, hostile.numbers)}


@PROPERTY
@given(st.fixed_dictionaries({}, optional=FIELDS))
def test_a_form_reader_answers_every_value_with_a_value_or_a_japanese_message(data):
    form = FormReader(MultiDict(data))
    results = [form.integer("n", "数", minimum=1, maximum=480), form.date("d", "日付"),
               form.datetime("t", "日時"), form.month("m", "月"), form.birth_date("b")]
    for name, value in zip("ndtmb", results):
        if data.get(name, "").strip():  # a value, or a message saying why not
            assert value is not None or name in form.errors, name
        else:
            assert value is None and name not in form.errors, name
    for message in form.errors.values():
        assert any("\u3040" <= c <= "\u30ff" for c in message), message  # kana: Japanese
    try:
        form.check()
    except Invalid:
        assert form.errors


@PROPERTY
@given(st.one_of(hostile.dates, hostile.numbers, st.text()))
def test_birth_dates_raise_only_a_message(text):
    try:
        parse_birth_date(text)
    except ValueError as error:
        assert str(error)


@PROPERTY
@given(st.one_of(hostile.months, st.text()), st.one_of(hostile.months, st.text()))
def test_a_report_period_is_a_period_or_invalid(first, last):
    try:
        period = read_period(MultiDict({"from": first, "to": last}), on=date(2026, 4, 1))
    except Invalid as error:
        assert set(error.errors) <= {"from", "to"}
        return
    assert len(period.keys) <= MAX_MONTHS and period.end > period.last


def test_full_width_digits_are_a_number_as_a_japanese_ime_types_them_but_no_date():
    assert parse_integer("１２３") == 123 and parse_integer("－５") == -5
    assert parse_date("２０２６－０４－０１") is None and parse_date("２０２６-04-01") is None
    assert parse_datetime("２０２６－０４－０１Ｔ１０：３０") is None
    assert parse_month("２０２６－０４") is None


def test_the_messages_say_what_is_wrong():
    form = FormReader(MultiDict({"a": "²", "b": "9999-12-31", "c": "2026-02-30",
                                 "d": "0001-01-01T00:00", "e": "9999-12", "f": "1"}))
    form.integer("a", "施術者")
    form.date("b", "日付"), form.date("c", "施術日")
    form.datetime("d", "日時"), form.month("e", "開始月")
    form.integer("f", "回数", minimum=2, maximum=12)
    assert form.errors == {
        "a": "施術者は数字で入力してください",
        "b": "日付は1900年から2999年までの日付にしてください",
        "c": "施術日は 2026-04-01 の形で入力してください",
        "d": "日時は1900年から2999年までの日時にしてください",
        "e": "開始月は1900年から2999年までの月にしてください",
        "f": "回数は2以上にしてください",
    }
