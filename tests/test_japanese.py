from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest
import time_machine
from hypothesis import given, settings
from hypothesis import strategies as st

from karusaku.japanese import (
    WEEKDAYS_JA,
    age_on,
    format_wareki,
    holiday_name,
    normalize_kana,
    normalize_phone,
    parse_birth_date,
)

TODAY = date(2026, 6, 1)


def parse(text):
    return parse_birth_date(text, today=TODAY)


# --- normalize_kana -------------------------------------------------------

@pytest.mark.parametrize('text', ['やまだ', 'ヤマダ', 'ﾔﾏﾀﾞ', ' や ま だ ', 'ヤ\u3000マダ'])
def test_kana_variants_share_one_key(text):
    assert normalize_kana(text) == 'ヤマダ'


def test_kana_full_name_with_ideographic_space_matches_hiragana():
    assert normalize_kana('ヤマダ\u3000タロウ') == normalize_kana('やまだたろう') == 'ヤマダタロウ'


def test_kana_half_width_handakuten_and_long_vowel():
    assert normalize_kana('ﾊﾟｰﾏ') == normalize_kana('ぱーま') == 'パーマ'
    assert 'ー' in normalize_kana('ｺｰﾋｰ')


def test_kana_spacing_dakuten_composes():
    assert normalize_kana('タ゛') == 'ダ'


def test_kana_folds_ascii_width_and_case():
    assert normalize_kana('Ｙａｍａｄａ　１２') == normalize_kana('yamada12') == 'yamada12'
    assert normalize_kana('ABC') == 'abc'


def test_kana_keeps_kanji_and_empty():
    assert normalize_kana('山田 太郎') == '山田太郎'
    assert normalize_kana('') == ''


# --- normalize_phone ------------------------------------------------------

@pytest.mark.parametrize('text', ['090-1234-5678', '０９０ １２３４ ５６７８', '(090)1234‐5678',
                                  '０９０－１２３４－５６７８'])
def test_phone_digits_only(text):
    assert normalize_phone(text) == '09012345678'


def test_phone_without_digits_is_empty():
    assert normalize_phone('なし') == ''


# --- parse_birth_date -----------------------------------------------------

@pytest.mark.parametrize('text', [
    '1980-04-01', '1980/04/01', '1980.4.1', '１９８０－０４－０１', ' 1980-4-1 ',
    'S55.4.1', 's55/4/1', 'S55-4-1', 'Ｓ５５．４．１',
    '昭和55年4月1日', '昭和５５年４月１日', '昭和 55年 4月 1日',
])
def test_parse_1980_04_01(text):
    assert parse(text) == date(1980, 4, 1)


@pytest.mark.parametrize('text, expected', [
    ('R2/1/5', date(2020, 1, 5)),
    ('令和2年1月5日', date(2020, 1, 5)),
    ('平成元年1月8日', date(1989, 1, 8)),
    ('H1.1.8', date(1989, 1, 8)),
    ('h元.1.8', date(1989, 1, 8)),
    ('平成1年1月8日', date(1989, 1, 8)),
    ('昭和64年1月7日', date(1989, 1, 7)),
    ('S1.12.25', date(1926, 12, 25)),
    ('大正15年12月24日', date(1926, 12, 24)),
    ('T1.7.30', date(1912, 7, 30)),
    ('明治45年7月29日', date(1912, 7, 29)),
    ('M1.1.25', date(1868, 1, 25)),
    ('平成31年4月30日', date(2019, 4, 30)),
    ('令和1年5月1日', date(2019, 5, 1)),
    ('令和元年5月1日', date(2019, 5, 1)),
    ('H12.2.29', date(2000, 2, 29)),
])
def test_parse_wareki(text, expected):
    assert parse(text) == expected


@pytest.mark.parametrize('text, message', [
    ('昭和64年1月8日', '昭和64年は1月7日までです'),
    ('S64.12.31', '昭和64年は1月7日までです'),
    ('平成1年1月7日', '平成元年は1月8日からです'),
    ('令和1年4月30日', '令和元年は5月1日からです'),
    ('平成31年5月1日', '平成31年は4月30日までです'),
    ('大正15年12月25日', '大正15年は12月24日までです'),
    ('明治1年1月24日', '明治元年は1月25日からです'),
    ('昭和70年1月1日', '昭和は64年までです'),
    ('S0.1.1', '元年'),
    ('S99999999.1.1', '生年月日は'),
    ('2000-02-30', '存在しない日付です'),
    ('2001-02-29', '存在しない日付です'),
    ('S55.2.30', '存在しない日付です'),
    ('1980-13-01', '存在しない日付です'),
    ('1867-12-31', '明治'),
    ('0001-01-01', '明治'),
    ('2026-06-02', '生年月日が未来の日付です'),
    ('R8.12.31', '生年月日が未来の日付です'),
    ('', '生年月日は'),
    ('   ', '生年月日は'),
    ('abc', '生年月日は'),
    ('X55.4.1', '生年月日は'),
    ('19800401', '生年月日は'),
    ('昭和55年4月', '生年月日は'),
])
def test_parse_rejects_with_japanese_message(text, message):
    with pytest.raises(ValueError, match=message):
        parse(text)


def test_parse_today_boundary_and_default_today():
    assert parse('2026-06-01') == TODAY
    with pytest.raises(ValueError, match='未来'):
        parse_birth_date('9999-12-31')


def test_the_default_today_is_the_clinics_date_not_the_servers():
    # 16:00 UTC on 3 December is 01:00 on the 4th in Tokyo; the server's own zone is UTC.
    with time_machine.travel(datetime(2026, 12, 3, 16, 0, tzinfo=ZoneInfo('UTC')), tick=False):
        assert parse_birth_date('2026-12-04') == date(2026, 12, 4)
        with pytest.raises(ValueError, match='未来'):
            parse_birth_date('2026-12-05')


@settings(max_examples=500)
@given(st.text())
def test_parse_never_raises_anything_but_value_error(text):
    try:
        result = parse(text)
    except ValueError as exc:
        assert str(exc)
    else:
        assert date(1868, 1, 25) <= result <= TODAY


@given(st.from_regex(r'[MTSHRmtshr明治大正昭和平成令和元0-9０-９年月日./\-]{0,16}', fullmatch=True))
def test_parse_never_raises_on_date_like_text(text):
    try:
        parse(text)
    except ValueError:
        pass


@given(st.dates(min_value=date(1868, 1, 25), max_value=TODAY))
def test_format_wareki_round_trips_through_parse(d):
    assert parse(format_wareki(d)) == d
    assert parse(d.isoformat()) == d


# --- format_wareki --------------------------------------------------------

@pytest.mark.parametrize('d, expected', [
    (date(1980, 4, 1), '昭和55年4月1日'),
    (date(2019, 5, 1), '令和元年5月1日'),
    (date(2019, 4, 30), '平成31年4月30日'),
    (date(1989, 1, 7), '昭和64年1月7日'),
    (date(1989, 1, 8), '平成元年1月8日'),
    (date(1926, 12, 25), '昭和元年12月25日'),
    (date(1912, 7, 29), '明治45年7月29日'),
    (date(2026, 1, 1), '令和8年1月1日'),
])
def test_format_wareki(d, expected):
    assert format_wareki(d) == expected


def test_format_wareki_before_meiji_raises():
    with pytest.raises(ValueError):
        format_wareki(date(1868, 1, 24))


# --- age_on ---------------------------------------------------------------

def test_age_on_birthday_boundaries():
    birth = date(1980, 4, 1)
    assert age_on(birth, date(2026, 3, 31)) == 45
    assert age_on(birth, date(2026, 4, 1)) == 46
    assert age_on(birth, birth) == 0


def test_age_on_feb_29_birth():
    birth = date(2000, 2, 29)
    assert age_on(birth, date(2001, 2, 28)) == 0
    assert age_on(birth, date(2001, 3, 1)) == 1
    assert age_on(birth, date(2004, 2, 28)) == 3
    assert age_on(birth, date(2004, 2, 29)) == 4


def test_age_on_before_birth_raises():
    with pytest.raises(ValueError):
        age_on(date(2000, 1, 2), date(2000, 1, 1))


# --- holidays and weekdays ------------------------------------------------

def test_holiday_names():
    assert holiday_name(date(2026, 1, 1)) == '元日'
    assert holiday_name(date(2026, 11, 23)) == '勤労感謝の日'
    assert holiday_name(date(2026, 1, 6)) is None  # plain Tuesday


def test_weekdays_ja_matches_date_weekday():
    assert len(WEEKDAYS_JA) == 7
    assert WEEKDAYS_JA[date(2026, 1, 5).weekday()] == '月'
    assert WEEKDAYS_JA[date(2026, 1, 4).weekday()] == '日'


# --- idempotence properties -----------------------------------------------

@settings(max_examples=500)
@given(st.text())
def test_normalize_kana_is_idempotent(text):
    key = normalize_kana(text)
    assert normalize_kana(key) == key
    assert not any(ch.isspace() for ch in key)


@given(st.text())
def test_normalize_phone_is_idempotent_digits(text):
    digits = normalize_phone(text)
    assert normalize_phone(digits) == digits
    assert digits == '' or digits.isascii() and digits.isdigit()
