"""Text that fits the medium: the 280-character short form, SMS segments, mobile numbers.

An SMS is 160 GSM-7 characters, or 153 each when it is split; one character outside GSM-7 (a
curly quote, an em dash, an emoji) turns the whole text into UCS-2, 70 characters, or 67 each.
So texts are written in GSM-7 where the characters allow it, and cut to fit two segments.
"""

from __future__ import annotations

import phonenumbers
from django.conf import settings

# At most this long, link included (a post on X; SMS within two segments when it is GSM-7).
SHORT_LIMIT = 280
SMS_SEGMENTS = 2

# The GSM 03.38 default alphabet, and its extension table (each of those costs two).
_GSM_BASIC = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
_GSM_EXTENDED = set("^{}\\[~]|€\f")
# What people type, or our own text uses, that has a GSM-7 spelling.
_PLAIN = str.maketrans(
    {
        "—": "-",
        "–": "-",
        "‘": "'",
        "’": "'",
        "“": '"',
        "”": '"',
        "…": "...",
        "\u00a0": " ",
        "→": "->",
        "·": "-",
    }
)


def plain(text: str) -> str:
    """``text`` with typographic characters spelled in GSM-7 (others are left as they are)."""
    return text.translate(_PLAIN)


def is_gsm7(text: str) -> bool:
    return all(c in _GSM_BASIC or c in _GSM_EXTENDED for c in text)


def _units(text: str) -> tuple[int, int, int]:
    """What ``text`` costs, and the most one segment takes, alone or each of several."""
    if is_gsm7(text):
        return sum(2 if c in _GSM_EXTENDED else 1 for c in text), 160, 153
    return sum(2 if ord(c) > 0xFFFF else 1 for c in text), 70, 67  # UTF-16 code units


def segments(text: str) -> int:
    """How many SMS segments ``text`` takes."""
    units, single, each = _units(text)
    return 1 if units <= single else -(-units // each)


def _cut(text: str, room: int) -> str:
    """``text`` in at most ``room`` characters, cut at a word with "..." if it must be."""
    text = " ".join(text.split())
    if len(text) <= room:
        return text
    if room <= 3:
        return ""
    cut = text[: room - 3]
    if " " in cut[room // 2 :]:
        cut = cut.rsplit(" ", 1)[0]
    return cut.rstrip(" ,;:-.") + "..."


def fit(text: str, link: str, limit: int = SHORT_LIMIT) -> str:
    """ "``text`` ``link``" in at most ``limit`` characters: the text is cut, never the link."""
    text = plain(text)
    return f"{_cut(text, limit - len(link) - 1)} {link}".strip()


def fit_segments(text: str, tail: str, most: int = SMS_SEGMENTS) -> str:
    """``text`` and ``tail`` (kept whole: links) in at most ``most`` SMS segments where it can."""
    text, tail = plain(text), plain(tail)
    whole = f"{text} {tail}".strip()
    if segments(whole) <= most:
        return whole
    room = (153 if is_gsm7(whole) else 67) * most - len(tail) - 1
    fitted = f"{_cut(text, max(room, 0))} {tail}".strip()
    # Some characters cost two (GSM-7's €, [ and ], an emoji): cut again by what is over.
    while room > 0 and segments(fitted) > most:
        units, _, each = _units(fitted)
        room -= max(1, units - each * most)
        fitted = f"{_cut(text, max(room, 0))} {tail}".strip()
    return fitted


# --- Mobile numbers ------------------------------------------------------------------------------

# Numbers an SMS can reach and that cost nobody extra: no premium-rate, shared-cost or
# toll-free numbers (texting those is how SMS-pumping fraud makes money).
_TEXTABLE = {phonenumbers.PhoneNumberType.MOBILE, phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE}


class BadNumber(ValueError):
    """Not a mobile number Nightshift will text."""


def e164(raw: str) -> str:
    """``raw`` as E.164 (+14155550100), or BadNumber saying why not.

    A number without its country code is read in SMS_DEFAULT_REGION; SMS_REGIONS, when set,
    lists the only countries texted.
    """
    raw = (raw or "").strip()
    if not raw:
        raise BadNumber("Enter a mobile number.")
    if len(raw) > 40:
        raise BadNumber("That is too long for a phone number.")
    try:
        number = phonenumbers.parse(raw, settings.SMS_DEFAULT_REGION or None)
    except phonenumbers.NumberParseException:
        raise BadNumber(
            "Enter a mobile number with its country code, e.g. +1 415 555 0100."
        ) from None
    if not phonenumbers.is_valid_number(number):
        raise BadNumber("That is not a valid phone number; check the country code and digits.")
    if phonenumbers.number_type(number) not in _TEXTABLE:
        raise BadNumber("Give a mobile number: this one cannot receive SMS from us.")
    region = phonenumbers.region_code_for_number(number)
    if settings.SMS_REGIONS and region not in settings.SMS_REGIONS:
        raise BadNumber(
            f"We send SMS to numbers in {', '.join(settings.SMS_REGIONS)} only; "
            "subscribe by e-mail instead."
        )
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def as_e164(raw: str) -> str:
    """``raw`` as E.164 if it reads as a phone number at all, else "": for finding a number
    subscribed already (a reply STOP), so neither its kind nor SMS_REGIONS is asked about."""
    try:
        number = phonenumbers.parse((raw or "")[:40], settings.SMS_DEFAULT_REGION or None)
    except phonenumbers.NumberParseException:
        return ""
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def readable(number: str) -> str:
    """+14155550100 as people read it: +1 415-555-0100."""
    try:
        parsed = phonenumbers.parse(number, None)
    except phonenumbers.NumberParseException:
        return number
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.INTERNATIONAL)
