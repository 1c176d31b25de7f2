"""Reading a submitted form: each field cleaned and parsed, a Japanese message per bad field.

    form = FormReader(request.form)
    name = form.text("name", "氏名", required=True, max_length=100)
    born = form.birth_date("date_of_birth", "生年月日")
    form.check()  # raises Invalid({"name": "氏名を入力してください", ...})

The route renders the form again with `form.values()` (what the user typed) and the errors.
"""
from datetime import date, datetime

from .japanese import parse_birth_date

# Characters no clinic text needs; NUL in particular breaks tools that read the database.
_FORBIDDEN = {chr(c) for c in range(32) if chr(c) not in "\t\n\r"} | {"\x7f"}


def page_number(args):
    """The page a list was asked for (?page=), from 1; anything that is not a number is 1."""
    value = args.get("page", "").strip()
    return max(int(value), 1) if value.isascii() and value.isdigit() and len(value) <= 9 else 1


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

    def integer(self, name, label, required=False, minimum=None, maximum=None):
        value = self.raw(name).strip()
        if not value:
            if required:
                self.error(name, f"{label}を入力してください")
            return None
        if not value.isascii() or not value.lstrip("-").isdigit() or len(value) > 12:
            self.error(name, f"{label}は数字で入力してください")
            return None
        number = int(value)
        if minimum is not None and number < minimum:
            self.error(name, f"{label}は{minimum}以上にしてください")
        elif maximum is not None and number > maximum:
            self.error(name, f"{label}は{maximum}以下にしてください")
        return number

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
        value = self.raw(name).strip()
        if not value:
            if required:
                self.error(name, f"{label}を入力してください")
            return None
        try:
            return date.fromisoformat(value) if len(value) == 10 else _bad()
        except ValueError:
            self.error(name, f"{label}は 2026-04-01 の形で入力してください")
            return None

    def datetime(self, name, label, required=False):
        """A date and time as YYYY-MM-DDTHH:MM (what <input type=datetime-local> sends)."""
        value = self.raw(name).strip().replace(" ", "T")
        if not value:
            if required:
                self.error(name, f"{label}を入力してください")
            return None
        try:
            if len(value) != 16:
                _bad()
            return datetime.strptime(value, "%Y-%m-%dT%H:%M")
        except ValueError:
            self.error(name, f"{label}は 2026-04-01T10:30 の形で入力してください")
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


def _bad():
    raise ValueError("bad format")
