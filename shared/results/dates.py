"""Date normalisation for OCR output: many printed formats in, ``YYYY-MM-DD`` out.

No regular expressions: a handful of ``str`` operations per date keeps this on the cold path cheaply.
Accepted (surrounding whitespace ignored):

* ``YYYY-MM-DD``, ``YYYY/MM/DD``, ``YYYY.MM.DD``, ``YYYY MM DD`` and ``YYYYMMDD`` (year first);
* ``DD-MM-YYYY``, ``DD/MM/YYYY``, ``DD.MM.YYYY`` (day first when the year is last: the vendor's documents
  are HK/Macao/mainland/ICAO, none of which prints US month-first dates);
* ``YYYY年M月D日`` (CJK, with or without leading zeros);
* ``DD MMM YYYY`` with an English month abbreviation or full name, any case, separated by spaces, ``-``, ``/`` or
  ``.`` (``05 JAN 1990``, ``5-Jan-1990``); bilingual passport months such as ``05 1月/JAN 1990`` use the Latin part.

Anything else, including impossible dates (``2023-02-30``) and two-digit years, is *not* parsed:
:func:`parse_date` returns ``None`` and the caller keeps the raw text and flags the field.
"""

from __future__ import annotations

_MONTHS = {
    "JAN": 1, "FEB": 2, "MAR": 3, "APR": 4, "MAY": 5, "JUN": 6,
    "JUL": 7, "AUG": 8, "SEP": 9, "SEPT": 9, "OCT": 10, "NOV": 11, "DEC": 12,
    "JANUARY": 1, "FEBRUARY": 2, "MARCH": 3, "APRIL": 4, "JUNE": 6, "JULY": 7, "AUGUST": 8,
    "SEPTEMBER": 9, "OCTOBER": 10, "NOVEMBER": 11, "DECEMBER": 12,
}  # fmt: skip
_DAYS_IN_MONTH = (0, 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)
_NUMERIC_SEPARATORS = ("-", "/", ".", " ")
_ASCII_DIGITS = frozenset("0123456789")


def _is_digits(text: str) -> bool:
    # str.isdigit() also accepts superscripts and other scripts' digits, which int() may reject
    return bool(text) and text.isascii() and text.isdigit()


def _format(year: int, month: int, day: int, *, check_only: bool = False) -> str | None:
    """``YYYY-MM-DD`` of a possible date, else ``None``; with ``check_only`` ``""`` stands for a possible date."""
    if not (1 <= month <= 12 and 1 <= day <= _DAYS_IN_MONTH[month] and 1000 <= year <= 9999):
        return None
    if month == 2 and day == 29 and not (year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)):
        return None
    return "" if check_only else f"{year:04d}-{month:02d}-{day:02d}"


def _ymd(year: str, month: str, day: str) -> str | None:
    if len(year) != 4 or not (0 < len(month) <= 2 and 0 < len(day) <= 2):
        return None
    if not (_is_digits(year) and _is_digits(month) and _is_digits(day)):
        return None
    return _format(int(year), int(month), int(day))


def _month_name(token: str) -> int | None:
    for part in token.split("/"):  # "1月/JAN"
        month = _MONTHS.get(part.strip().upper().rstrip("."))
        if month is not None:
            return month
    return None


def _split_words(text: str) -> list[str]:
    for sep in ("-", "."):
        text = text.replace(sep, " ")
    return text.split()


def parse_date(text: str) -> str | None:
    """``text`` as ``YYYY-MM-DD``, or ``None`` when it is not a (possible) date in an accepted format."""
    s = text.strip()
    n = len(s)
    if n == 10:  # YYYY-MM-DD, YYYY/MM/DD, YYYY.MM.DD (what the vendor mostly prints)
        sep = s[4]
        if sep in "-/." and s[7] == sep:
            year, month, day = s[:4], s[5:7], s[8:]
            if s.isascii() and (year + month + day).isdigit():
                if sep == "-":  # already in the output format: validate, do not reformat
                    return s if _format(int(year), int(month), int(day), check_only=True) is not None else None
                return _format(int(year), int(month), int(day))
    elif n == 8 and s.isascii() and s.isdigit():  # YYYYMMDD
        return _format(int(s[:4]), int(s[4:6]), int(s[6:]))
    if n < 8 or n > 40:
        return None
    if "年" in s:  # YYYY年M月D日
        year, _, rest = s.partition("年")
        month, _, rest = rest.partition("月")
        day, _, tail = rest.partition("日")
        if tail.strip():
            return None
        return _ymd(year.strip(), month.strip(), day.strip())
    if s[0] in _ASCII_DIGITS and s[-1] in _ASCII_DIGITS:
        for sep in _NUMERIC_SEPARATORS:
            if sep in s:
                parts = s.split(sep)
                if len(parts) != 3:
                    break
                first, middle, last = (p.strip() for p in parts)
                if _is_digits(middle):
                    if len(first) == 4:
                        return _ymd(first, middle, last)
                    if len(last) == 4:
                        return _ymd(last, middle, first)
                    return None
                break
        # DD MMM YYYY (also "05-JAN-1990", "05 1月/JAN 1990")
        words = _split_words(s)
        if len(words) == 3 and _is_digits(words[0]) and len(words[0]) <= 2:
            month_number = _month_name(words[1])
            if month_number is not None and len(words[2]) == 4 and _is_digits(words[2]):
                return _format(int(words[2]), month_number, int(words[0]))
    return None


# Separators between the two dates of a validity period ("2015.01.01-2035.01.01", "2015.01.01至2035.01.01").
_PERIOD_SEPARATORS = ("至", "~", "～", "—", "–", " to ", "-")


def split_period(text: str) -> tuple[str, str] | None:
    """Split a validity period ``<start><sep><end>`` into its two raw halves, or ``None``.

    ``-`` is ambiguous with ``YYYY-MM-DD`` dates, so every ``-`` is tried and the first split whose left half is a
    date is taken (the right half may be a non-date such as ``长期``, "long-term").
    """
    s = text.strip()
    for sep in _PERIOD_SEPARATORS:
        if sep not in s:
            continue
        start = 0
        while True:
            i = s.find(sep, start)
            if i < 0:
                break
            left, right = s[:i].strip(), s[i + len(sep) :].strip()
            if left and right and parse_date(left) is not None:
                return left, right
            start = i + len(sep)
    return None
