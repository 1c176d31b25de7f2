"""Reading a submitted form: each field cleaned and parsed, a Japanese message per bad field.

    form = FormReader(request.form)
    name = form.text("name", "氏名", required=True, max_length=100)
    born = form.birth_date("date_of_birth", "生年月日")
    form.check()  # raises Invalid({"name": "氏名を入力してください", ...})

The route renders the form again with `form.values()` (what the user typed) and the errors.

Numbers and dates are read by the parse_* functions below, which never raise: they give None
for anything they cannot read. The rule: ASCII digits only. Dates, months and date-times are
what the browser's pickers send and the HTTP contract names (2026-04-01, 2026-04,
2026-04-01T10:30), nothing else. A number may be typed into a text field, so full-width digits
and minus (what a Japanese IME gives, "１２３", "－５") are read as ASCII; nothing else is
folded: "²", "½", "①", "٣" and other Unicode digits, "−" (U+2212), "+5", "--5" and "1e3" are
not numbers. An integer has at most 18 digits (it fits a 64-bit column), and a form field's
number lies within PostgreSQL's INTEGER unless the field says otherwise. A date lies between
FIRST_DAY and LAST_DAY, so that a week, a month or a report's five years around it are still
dates.
"""
import re
from datetime import date, datetime

from ..japanese import parse_birth_date

# Characters no clinic text needs; NUL in particular breaks tools that read the database.
_FORBIDDEN = {chr(c) for c in range(32) if chr(c) not in "\t\n\r"} | {"\x7f"}

FIRST_DAY, LAST_DAY = date(1900, 1, 1), date(2999, 12, 31)
INTEGER_MAX = 2**31 - 1  # PostgreSQL's INTEGER: the largest number a form field may give
_FULL_WIDTH_DIGITS = str.maketrans("０１２３４５６７８９－", "0123456789-")
_INTEGER = re.compile(r"-?[0-9]{1,18}")
_DATE = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})")
_DATETIME = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})[T ]([0-9]{2}):([0-9]{2})")
_MONTH = re.compile(r"([0-9]{4})-([0-9]{2})")


def _stripped(text):
    return text.strip() if isinstance(text, str) else ""


def parse_integer(text):
    """An integer written with ASCII (or full-width) digits and at most one leading '-', else None."""
    text = _stripped(text).translate(_FULL_WIDTH_DIGITS)
    return int(text) if _INTEGER.fullmatch(text) else None


def _calendar(pattern, make, text, window=True):
    """The date (or date-time) the pattern's digit groups make, or None; inside the window only."""
    match = pattern.fullmatch(_stripped(text))
    try:
        value = make(*map(int, match.groups())) if match else None
    except ValueError:  # 2026-02-30, month 13, hour 24
        return None
    day = value.date() if isinstance(value, datetime) else value
    return value if value is None or not window or FIRST_DAY <= day <= LAST_DAY else None


def _first_of_month(year, month):
    return date(year, month, 1)


def parse_date(text):
    """A date written YYYY-MM-DD between FIRST_DAY and LAST_DAY, else None."""
    return _calendar(_DATE, date, text)


def parse_datetime(text):
    """A date and time written YYYY-MM-DDTHH:MM (or with a space) inside the window, else None."""
    return _calendar(_DATETIME, datetime, text)


def parse_month(text):
    """The first day of a month written YYYY-MM inside the window, else None."""
    return _calendar(_MONTH, _first_of_month, text)


_CALENDAR = {  # kind: (pattern, maker, example, unit)
    "date": (_DATE, date, "2026-04-01", "日付"),
    "datetime": (_DATETIME, datetime, "2026-04-01T10:30", "日時"),
    "month": (_MONTH, _first_of_month, "2026-04", "月"),
}


def page_number(args):
    """The page a list was asked for (?page=), from 1; anything that is not a number is 1."""
    page = parse_integer(args.get("page", ""))
    return min(max(page, 1), 10**9) if page is not None else 1


class Invalid(ValueError):
    """The form has bad fields: errors maps field name to a Japanese message."""

    def __init__(self, errors):
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = errors


class FormReader:
    def __init__(self, data):
        self.data = data
        self.errors = {}

    def raw(self, name):
        value = self.data.get(name, "")
        return value if isinstance(value, str) else ""

    def values(self):
        """What the user typed, to put back into the form."""
        return {key: self.raw(key) for key in self.data}

    def error(self, name, message):
        self.errors.setdefault(name, message)

    def check(self):
        if self.errors:
            raise Invalid(self.errors)

    def text(self, name, label, required=False, max_length=200, multiline=False):
        value = self.raw(name).strip()
        if not multiline:
            value = " ".join(value.split())
        if any(c in _FORBIDDEN for c in value):
            self.error(name, f"{label}に使えない文字が含まれています")
        elif required and not value:
            self.error(name, f"{label}を入力してください")
        elif len(value) > max_length:
            self.error(name, f"{label}は{max_length}文字以内で入力してください")
        return value

    def _given(self, name, label, required):
        """The field's text, or None (and an error if it is required) when it is empty."""
        value = self.raw(name).strip()
        if not value and required:
            self.error(name, f"{label}を入力してください")
        return value or None

    def integer(self, name, label, required=False, minimum=-INTEGER_MAX, maximum=INTEGER_MAX):
        if (value := self._given(name, label, required)) is None:
            return None
        number = parse_integer(value)
        if number is None:
            self.error(name, f"{label}は数字で入力してください")
            return None
        if number < minimum:
            self.error(name, f"{label}は{minimum}以上にしてください")
        elif number > maximum:
            self.error(name, f"{label}は{maximum}以下にしてください")
        else:
            return number
        return None  # out of range: no number to compute with

    def choice(self, name, label, choices, required=True):
        value = self.raw(name).strip()
        if not value and not required:
            return ""
        if value not in choices:
            self.error(name, f"{label}を選んでください")
            return None
        return value

    def date(self, name, label, required=False):
        """A date as YYYY-MM-DD (what <input type=date> sends)."""
        return self._calendar(name, label, required, "date")

    def datetime(self, name, label, required=False):
        """A date and time as YYYY-MM-DDTHH:MM (what <input type=datetime-local> sends)."""
        return self._calendar(name, label, required, "datetime")

    def month(self, name, label, required=False):
        """The first day of a month given as YYYY-MM (what <input type=month> sends)."""
        return self._calendar(name, label, required, "month")

    def _calendar(self, name, label, required, kind):
        if (value := self._given(name, label, required)) is None:
            return None
        pattern, make, example, unit = _CALENDAR[kind]
        if (found := _calendar(pattern, make, value)) is not None:
            return found
        if _calendar(pattern, make, value, window=False) is None:
            self.error(name, f"{label}は {example} の形で入力してください")
        else:
            self.error(name, f"{label}は{FIRST_DAY.year}年から{LAST_DAY.year}年までの{unit}にしてください")
        return None

    def birth_date(self, name, label="生年月日"):
        """ISO or 和暦 (S55.4.1, 昭和55年4月1日, R2/1/5); empty is allowed."""
        value = self.raw(name).strip()
        if not value:
            return None
        try:
            return parse_birth_date(value)
        except ValueError as error:
            self.error(name, str(error))
            return None
