"""Japanese text and date helpers: kana search keys, phone numbers, 和暦 and holidays.

All functions are pure (no I/O, no global state) apart from the clinic's date (`clock.today()`,
Tokyo) as the default `today` for `parse_birth_date`.
"""
from __future__ import annotations

import re
import unicodedata
from datetime import date, timedelta

import jaconv
import jpholiday

from . import clock

WEEKDAYS_JA = '月火水木金土日'  # index matches date.weekday() (Monday = 0)

# (kanji name, Latin initial, first day of the era); ordered oldest first.
ERAS = (
    ('明治', 'M', date(1868, 1, 25)),  # simplified start date
    ('大正', 'T', date(1912, 7, 30)),
    ('昭和', 'S', date(1926, 12, 25)),
    ('平成', 'H', date(1989, 1, 8)),
    ('令和', 'R', date(2019, 5, 1)),
)
_ERA_BY_KEY = {key: i for i, (name, initial, _) in enumerate(ERAS) for key in (name, initial)}

FORMAT_ERROR = '生年月日は 1980-04-01 か S55.4.1 / 昭和55年4月1日 の形で入力してください'

_SEIREKI_RE = re.compile(r'([0-9]{4})[-/.年]([0-9]{1,2})[-/.月]([0-9]{1,2})日?')
_WAREKI_RE = re.compile(
    r'(明治|大正|昭和|平成|令和|[MTSHR])(元|[0-9]{1,4})[-/.年]([0-9]{1,2})[-/.月]([0-9]{1,2})日?'
)


def _remove_spaces(text: str) -> str:
    return ''.join(text.split())


def _kana_pass(text: str) -> str:
    text = unicodedata.normalize('NFKC', text).lower()
    # Normalise again after removing spaces: 'タ ゙' only composes to 'ダ' once adjacent.
    text = unicodedata.normalize('NFKC', _remove_spaces(text))
    return jaconv.hira2kata(text)


def normalize_kana(text: str) -> str:
    """Return a katakana, lower-case, space-free search key for names and kana readings."""
    for _ in range(4):  # a pass can expose new compositions; stop at the fixed point
        folded = _kana_pass(text)
        if folded == text:
            break
        text = folded
    return text


def normalize_phone(text: str) -> str:
    """Return only the ASCII digits of a phone number (full-width digits are folded first)."""
    return re.sub(r'[^0-9]', '', unicodedata.normalize('NFKC', text))


def _era_index(d: date) -> int:
    for i in reversed(range(len(ERAS))):
        if d >= ERAS[i][2]:
            return i
    raise ValueError('明治より前の日付は和暦にできません')


def _year_label(n: int) -> str:
    return '元' if n == 1 else str(n)


def _parse_wareki(era_key: str, year_text: str, month: int, day: int) -> date:
    i = _ERA_BY_KEY[era_key]
    name, _, start = ERAS[i]
    n = 1 if year_text == '元' else int(year_text)
    if n < 1:
        raise ValueError(f'{name}の年は元年（1年）以上で入力してください')
    end = ERAS[i + 1][2] if i + 1 < len(ERAS) else None
    last_year = end.year - start.year + 1 if end else None
    if last_year is not None and n > last_year:
        raise ValueError(f'{name}は{last_year}年までです')
    try:
        d = date(start.year + n - 1, month, day)
    except ValueError:
        raise ValueError('存在しない日付です') from None
    if d < start:
        raise ValueError(f'{name}元年は{start.month}月{start.day}日からです')
    if end is not None and d >= end:
        last = end - timedelta(days=1)
        raise ValueError(f'{name}{_year_label(n)}年は{last.month}月{last.day}日までです')
    return d


def parse_birth_date(text: str, *, today: date | None = None) -> date:
    """Parse a birth date in ISO ('1980-04-01') or 和暦 ('S55.4.1', '昭和55年4月1日') form."""
    today = today or clock.today()
    s = _remove_spaces(unicodedata.normalize('NFKC', text or '')).upper()
    if m := _WAREKI_RE.fullmatch(s):
        d = _parse_wareki(m[1], m[2], int(m[3]), int(m[4]))
    elif m := _SEIREKI_RE.fullmatch(s):
        try:
            d = date(int(m[1]), int(m[2]), int(m[3]))
        except ValueError:
            raise ValueError('存在しない日付です') from None
        if d < ERAS[0][2]:
            raise ValueError('1868年1月25日（明治元年）より前の日付は入力できません')
    else:
        raise ValueError(FORMAT_ERROR)
    if d > today:
        raise ValueError('生年月日が未来の日付です')
    return d


def format_wareki(d: date) -> str:
    """Format a date as 和暦, e.g. '昭和55年4月1日' or '令和元年5月1日'."""
    name, _, start = ERAS[_era_index(d)]
    return f'{name}{_year_label(d.year - start.year + 1)}年{d.month}月{d.day}日'


def age_on(birth: date, today: date) -> int:
    """Return full years of age on `today` (a Feb 29 birthday counts from Mar 1 in common years)."""
    if today < birth:
        raise ValueError('基準日が生年月日より前です')
    return today.year - birth.year - ((today.month, today.day) < (birth.month, birth.day))


def holiday_name(d: date) -> str | None:
    """Return the Japanese public holiday name for `d`, or None on ordinary days."""
    return jpholiday.is_holiday_name(d) or None
