"""What text Nightshift accepts: validators shared by every app's models and forms.

Single-line fields (titles, names, headlines, versions) end up in e-mail subjects, feed titles
and URLs: a CR or LF there breaks a mail header (Django refuses it, so nobody would be told),
and any other control character is noise at best. Multi-line fields keep tabs and line breaks.
NUL is refused everywhere: PostgreSQL cannot store it in text.
"""

from __future__ import annotations

import re

from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator

# C0 controls and DEL, and the C1 controls; multi-line text may keep \t \n \r.
_ANY_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_CONTROL_BUT_LINES = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


def single_line(value: str) -> None:
    """No line break or other control character."""
    if isinstance(value, str) and (found := _ANY_CONTROL.search(value)):
        raise ValidationError(
            f"Use one line of text, without control characters (found U+{ord(found[0]):04X}).",
            code="control_character",
        )


def multi_line(value: str) -> None:
    """Line breaks and tabs are fine; other control characters are not."""
    if isinstance(value, str) and (found := _CONTROL_BUT_LINES.search(value)):
        raise ValidationError(
            f"Remove the control character U+{ord(found[0]):04X}.", code="control_character"
        )


# A release version: SemVer-like, safe in a URL path segment and a mail subject.
VERSION_PATTERN = r"^[0-9A-Za-z][0-9A-Za-z.+_-]{0,63}$"
version = RegexValidator(
    VERSION_PATTERN,
    "Use letters, digits and . + _ - only, starting with a letter or digit (e.g. 2.14.0 or "
    "2.14.0-rc.1+build.5).",
    code="invalid_version",
)


def one_line(text: str) -> str:
    """Whatever a stored value holds, as one line (for mail subjects: never a header break)."""
    return " ".join(_ANY_CONTROL.sub(" ", text or "").split())
