"""Hostile values for numbers, dates and months, as hypothesis strategies: every Unicode digit
(not only ASCII), superscripts, fractions and circled numbers, full-width forms, doubled and
mixed signs, white space, huge numbers, the ends of the calendar and huge bodies. The property
tests of the earlier issues missed the 500s these found because they never produced them."""
from datetime import date, datetime

from hypothesis import strategies as st

ASCII_DIGITS = "0123456789"
FULL_WIDTH_DIGITS = "０１２３４５６７８９"
# int() reads every Nd digit; str.isdigit() also says yes to superscripts and circled digits,
# on which int() then raises: the two disagree, which is how '²' gave a 500.
ODD_DIGITS = "²³¹⁰⁴⁹₀₂½¼⅓①⑩⓪⅕Ⅻⅻ٣۵߃३৪੫૬୭௮౯೦൧෨๓໔༥၆႗៨᠙᥆᧐᪁᭒᮳᱄꘠꣐꤁꧐꩑꯰𝟎𝟘𝟢𝟬𝟶"
SIGNS = ["", "-", "--", "+", "+-", "-+", "++", "−", "－", "﹣", "‐", "‑", "–", "—", "- ", " -"]
SPACES = ["", " ", "\t", "\n", "\r\n", "\u3000", "\u00a0", "\u200b", "\ufeff", "\x00", "\x0b"]

unicode_digit = st.one_of(
    st.sampled_from(ODD_DIGITS),
    st.characters(categories=["Nd", "No", "Nl"],
                  exclude_characters=ASCII_DIGITS + FULL_WIDTH_DIGITS),
)
any_digit = st.one_of(st.sampled_from(ASCII_DIGITS + FULL_WIDTH_DIGITS), unicode_digit)


@st.composite
def signed_numbers(draw, digits=any_digit):
    """A sign (maybe doubled or a look-alike), digits, white space around."""
    body = draw(st.text(alphabet=digits, min_size=1, max_size=40))
    return draw(st.sampled_from(SPACES)) + draw(st.sampled_from(SIGNS)) + body + draw(
        st.sampled_from(SPACES))


huge_numbers = st.one_of(
    st.integers(min_value=10**17, max_value=10**60).map(str),
    st.integers(min_value=-10**60, max_value=-10**17).map(str),
    st.sampled_from([str(2**63 - 1), str(2**63), str(-2**63), str(-2**63 - 1), str(2**64),
                     "9" * 18, "9" * 19, "9" * 4300, "9" * 5000, "1" * 100_000]),
)
number_words = st.sampled_from(["1e3", "1_000", "0x10", "0b1", "1.5", "١٢", "NaN", "inf", "-inf",
                                "1,000", "½", "²", "--5", "--1", "+-1", "−5", "-", "+", "",
                                "0", "-0", "00000000000000000001", " 5 ", "５", "－５", "５²"])
numbers = st.one_of(signed_numbers(), huge_numbers, number_words,
                    st.integers(-10**20, 10**20).map(str))

CALENDAR_ENDS = ["0001-01-01", "9999-12-31", "0000-00-00", "0000-01-01", "10000-01-01",
                 "1899-12-31", "1900-01-01", "2999-12-31", "3000-01-01", "2024-02-29",
                 "2023-02-29", "2100-02-29", "2000-02-29", "2026-00-10", "2026-13-01",
                 "2026-12-32", "2026-04-00", "2026-4-1", "20260401", "2026/04/01", "+2026-04-01",
                 "-2026-04-01", "２０２６－０４－０１", "２０２６-０４-０１", "2026-04-01T10:00",
                 "2026-W14-3", "2026-092", "²⁰²⁶-⁰⁴-⁰¹", "٢٠٢٦-٠٤-٠١", "2026-04-01\x00",
                 " 2026-04-01 ", "9999-12-31" * 1000]


def _digits(n, width):
    return str(n).zfill(width)


@st.composite
def odd_dates(draw):
    """YYYY-MM-DD shapes with any digit in any place and years, months, days out of range."""
    parts = [draw(st.integers(0, 10**5)), draw(st.integers(0, 99)), draw(st.integers(0, 99))]
    text = f"{_digits(parts[0], 4)}-{_digits(parts[1], 2)}-{_digits(parts[2], 2)}"
    if draw(st.booleans()):  # one character replaced by some Unicode digit
        at = draw(st.integers(0, len(text) - 1))
        text = text[:at] + draw(any_digit) + text[at + 1:]
    return text


dates = st.one_of(
    st.dates(min_value=date(1, 1, 1), max_value=date(9999, 12, 31)).map(date.isoformat),
    st.sampled_from(CALENDAR_ENDS), odd_dates(),
)
months = st.one_of(
    st.dates(min_value=date(1, 1, 1), max_value=date(9999, 12, 31)).map(lambda d: f"{d:%Y-%m}"),
    st.sampled_from(["9999-12", "0001-01", "0000-00", "0000-13", "1899-12", "1900-01", "2999-12",
                     "3000-01", "2026-00", "2026-13", "2026-4", "２０２６－０４", "２⁰２６-04"]),
    odd_dates().map(lambda text: text[:7]),
)
datetimes = st.one_of(
    st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31, 23, 59))
    .map(lambda d: d.strftime("%Y-%m-%dT%H:%M")),
    dates.map(lambda d: d + "T10:30"),
    st.sampled_from(["9999-12-31T23:59", "0001-01-01T00:00", "2026-04-01T24:00",
                     "2026-04-01T23:60", "2026-04-01T10:30:00", "2026-04-01 10:30",
                     "２０２６－０４－０１Ｔ１０：３０", "2026-04-01T²0:30"]),
)
huge_bodies = st.sampled_from(["x" * 1_000_000, "9" * 1_000_000, "\u3000" * 100_000,
                               "-" * 100_000, "あ" * 300_000])
hostile = st.one_of(numbers, dates, months, datetimes, st.text(max_size=60))
