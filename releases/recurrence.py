"""The one wrapper around dateutil's RFC 5545 recurrence rules.

A rule here yields *local dates*; the window engine puts the local start time on each date and
resolves it in the policy's zone. So the rule may not carry its own time of day (BYHOUR, BYMINUTE,
BYSECOND) nor a sub-daily frequency, and its end is the policy's ``effective_until`` rather than
COUNT or UNTIL.

Cost does not grow with the time since the rule began: dateutil iterates from DTSTART, so each
year is computed from a DTSTART moved forward by a whole number of periods (INTERVAL × FREQ) to
just before that year. That move is exact only when nothing is left for dateutil to fill in from
DTSTART, so the defaults RFC 5545 takes from DTSTART (the weekday of a weekly rule, the day of a
monthly one, the month and day of a yearly one) are written into the rule first.
"""

from __future__ import annotations

import datetime as dt
from functools import lru_cache

from dateutil.relativedelta import relativedelta
from dateutil.rrule import rrulestr

FREQUENCIES = ("DAILY", "WEEKLY", "MONTHLY", "YEARLY")
WEEKDAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
ALLOWED_PARTS = {
    "FREQ",
    "INTERVAL",
    "WKST",
    "BYDAY",
    "BYMONTHDAY",
    "BYYEARDAY",
    "BYWEEKNO",
    "BYMONTH",
    "BYSETPOS",
}
REFUSED_PARTS = {
    "COUNT": "COUNT is not supported; end the policy with its 'effective until' date instead",
    "UNTIL": "UNTIL is not supported; end the policy with its 'effective until' date instead",
    "BYHOUR": "BYHOUR is not supported; the start time is set separately",
    "BYMINUTE": "BYMINUTE is not supported; the start time is set separately",
    "BYSECOND": "BYSECOND is not supported; the start time is set separately",
}
# Integer parts and the values RFC 5545 (section 3.3.10) allows for them; 0 is never allowed.
INT_RANGES = {
    "INTERVAL": (1, 1000),
    "BYMONTHDAY": (-31, 31),
    "BYYEARDAY": (-366, 366),
    "BYWEEKNO": (-53, 53),
    "BYMONTH": (1, 12),
    "BYSETPOS": (-366, 366),
}


class InvalidRule(ValueError):
    """An RRULE that cannot be used; the message names the bad part."""


def parse_rule(text: str) -> dict[str, str]:
    """Split an RRULE into its parts, upper-cased, refusing what the engine cannot honour."""
    text = (text or "").strip()
    if text.upper().startswith("RRULE:"):
        text = text[len("RRULE:") :]
    if not text:
        raise InvalidRule("the rule is empty; for example FREQ=WEEKLY;BYDAY=WE,TH,FR")
    parts: dict[str, str] = {}
    for chunk in text.split(";"):
        name, sep, value = chunk.partition("=")
        name, value = name.strip().upper(), value.strip().upper()
        if not sep or not name or not value:
            raise InvalidRule(f"'{chunk}' is not a NAME=VALUE part")
        if name in REFUSED_PARTS:
            raise InvalidRule(REFUSED_PARTS[name])
        if name not in ALLOWED_PARTS:
            raise InvalidRule(f"unknown part '{name}'")
        if name in parts:
            raise InvalidRule(f"'{name}' appears twice")
        parts[name] = value
    freq = parts.get("FREQ")
    if freq is None:
        raise InvalidRule("FREQ is required (DAILY, WEEKLY, MONTHLY or YEARLY)")
    if freq not in FREQUENCIES:
        raise InvalidRule(f"FREQ={freq} is not supported; use DAILY, WEEKLY, MONTHLY or YEARLY")
    for name, (low, high) in INT_RANGES.items():
        for item in parts.get(name, "").split(",") if name in parts else ():
            try:
                number = int(item)
            except ValueError:
                raise InvalidRule(f"{name}={parts[name]}: '{item}' is not a whole number") from None
            if number == 0 or not low <= number <= high:
                raise InvalidRule(f"{name}={parts[name]}: {number} is outside {low}..{high}")
    if "WKST" in parts and parts["WKST"] not in WEEKDAYS:
        raise InvalidRule(f"WKST={parts['WKST']}: not a weekday (MO..SU)")
    if "BYWEEKNO" in parts and freq != "YEARLY":
        raise InvalidRule("BYWEEKNO is only allowed with FREQ=YEARLY")
    if "BYYEARDAY" in parts and freq in ("DAILY", "WEEKLY", "MONTHLY"):
        raise InvalidRule("BYYEARDAY is only allowed with FREQ=YEARLY")
    return parts


def _pinned(parts: dict[str, str], anchor: dt.date) -> str:
    """The rule with the defaults RFC 5545 takes from DTSTART written out (see module doc)."""
    parts = dict(parts)
    if not any(p in parts for p in ("BYWEEKNO", "BYYEARDAY", "BYMONTHDAY", "BYDAY")):
        freq = parts["FREQ"]
        if freq == "WEEKLY":
            parts["BYDAY"] = WEEKDAYS[anchor.weekday()]
        elif freq == "MONTHLY":
            parts["BYMONTHDAY"] = str(anchor.day)
        elif freq == "YEARLY":
            parts.setdefault("BYMONTH", str(anchor.month))
            parts["BYMONTHDAY"] = str(anchor.day)
    return ";".join(f"{k}={v}" for k, v in parts.items())


class Rule:
    """A parsed rule anchored at a first local date; yields local dates, one year at a time."""

    __slots__ = ("_freq", "_interval", "_text", "_wkst", "anchor", "text")

    def __init__(self, text: str, anchor: dt.date):
        parts = parse_rule(text)
        self.text = ";".join(f"{k}={v}" for k, v in parts.items())
        self.anchor = anchor
        self._freq = parts["FREQ"]
        self._interval = int(parts.get("INTERVAL", "1"))
        self._wkst = WEEKDAYS.index(parts.get("WKST", "MO"))
        self._text = _pinned(parts, anchor)
        try:  # let dateutil check every value once, so a later year cannot fail
            rrulestr(self._text, dtstart=dt.datetime.combine(anchor, dt.time()))
        except (ValueError, TypeError) as exc:
            raise InvalidRule(str(exc)) from None

    def __repr__(self) -> str:
        return f"Rule({self.text!r}, anchor={self.anchor})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Rule) and (self.text, self.anchor) == (other.text, other.anchor)

    def __hash__(self) -> int:
        return hash((self.text, self.anchor))

    def _start_for(self, year: int) -> dt.date:
        """The latest period start, in phase with the anchor, on or before 1 January of year."""
        target = dt.date(year, 1, 1)
        anchor, n = self.anchor, self._interval
        if target <= anchor:
            return anchor
        if self._freq == "DAILY":
            return anchor + dt.timedelta(days=(target - anchor).days // n * n)
        if self._freq == "WEEKLY":
            week = anchor - dt.timedelta(days=(anchor.weekday() - self._wkst) % 7)
            weeks = (target - week).days // 7 // n * n
            return max(anchor, week + dt.timedelta(weeks=weeks))
        if self._freq == "MONTHLY":
            months = ((year - anchor.year) * 12 + 1 - anchor.month) // n * n
            return max(anchor, anchor.replace(day=1) + relativedelta(months=months))
        years = (year - anchor.year) // n * n
        return max(anchor, dt.date(anchor.year + years, 1, 1))

    def dates_in_year(self, year: int) -> tuple[dt.date, ...]:
        """Every date the rule yields in a calendar year, never before the anchor; cached."""
        return _dates_in_year(self, year)


@lru_cache(maxsize=8192)
def _dates_in_year(rule: Rule, year: int) -> tuple[dt.date, ...]:
    if year < rule.anchor.year or year > dt.MAXYEAR - 1:
        return ()
    start = dt.datetime.combine(rule._start_for(year), dt.time())
    recurrence = rrulestr(rule._text, dtstart=start, cache=False)
    first, last = dt.datetime(year, 1, 1), dt.datetime(year, 12, 31)
    return tuple(d.date() for d in recurrence.between(first, last, inc=True))
