"""Masking the personal numbers citizens write inside their complaints: the one rule, for reads and events.

A complaint's text often holds the citizen's own phone number ("请回电 13800138000"), sometimes an ID-card
or a bank-card number. Readers without the personal-data scope (`JIESU_PERSONAL_DATA_READERS`), Open311's
public reads and, unless `JIESU_EVENTS_PERSONAL_DATA` is set, the events see them masked: the digits between
the first and the last few are replaced by `*`, so a reader can still tell a phone number from a card and
match one the citizen reads out, but cannot call or use it. The notes downstream systems write with status
changes are masked alike (an operator copies the callback number into them). Stored tickets and status
history keep the text as written.

What is masked (ASCII digits: the text is NFKC-normalised on intake, so full-width digits are ASCII here):
- an 18-character ID-card number (six digits of region, a birth date, three digits, a digit or X): first 4
  and last 4 kept;
- a bank-card number: 16 to 19 digits, whole or grouped in fours by spaces or dashes; no Luhn check, because
  a card mistyped by a digit is still the citizen's card: first 4 and last 4 kept;
- a mainland mobile number (1[3-9] and nine digits, an optional +86, grouped or not) and a landline with its
  area code (0 + 2-3 digits + 7-8 digits): first 3 and last 4 kept.
Longer runs of digits are left alone (none of these), as are numbers inside longer identifiers.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, MutableMapping
from typing import Any, overload

_ID_CARD = r"[1-9][0-9]{5}(?:18|19|20)[0-9]{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12][0-9]|3[01])[0-9]{3}[0-9Xx]"
_BANK_CARD = r"[1-9][0-9]{3}(?:[ -]?[0-9]{4}){2}[ -]?[0-9]{4}(?:[ -]?[0-9]{1,3})?"
_MOBILE = r"(?:\+?86[ -]?)?1[3-9][0-9](?:[ -]?[0-9]{4}){2}"
_LANDLINE = r"0[1-9][0-9]{1,2}[ -]?[0-9]{7,8}"
# One pass, longest kinds first; digits or ASCII letters on either side mean a longer identifier.
_PERSONAL = re.compile(
    rf"(?<![0-9A-Za-z])(?:(?P<id>{_ID_CARD})|(?P<card>{_BANK_CARD})|(?P<phone>{_MOBILE}|{_LANDLINE}))"
    r"(?![0-9A-Za-z])"
)
_KEEP = {"id": (4, 4), "card": (4, 4), "phone": (3, 4)}
# Quick reject: no run of seven digits, nothing to mask (most texts).
_SEVEN_DIGITS = re.compile(r"[0-9][0-9 -]{6,}")

# The free-text fields that reach reads and events: the citizen's words in tickets and their events, and
# what a downstream system writes with a status change (its note, a department and, on an open read API, the
# actor it claims), which readers and subscribers see beside them.
TEXT_FIELDS = ("title", "content", "address", "urgency_reason", "note", "department", "actor")


def _masked(match: re.Match[str]) -> str:
    found = match.group()
    kind = match.lastgroup or "phone"
    head, tail = _KEEP[kind]
    if kind == "phone" and found.startswith(("+86", "86")) and len(found) > 11:
        # The country code is not the number: keep the number's own first three digits.
        prefix_len = len(found) - len(found.lstrip("+86 -")) if found[0] == "+" else 2
        return found[:prefix_len] + _star_digits(found[prefix_len:], head, tail)
    return _star_digits(found, head, tail)


def _star_digits(text: str, head: int, tail: int) -> str:
    """`text` with every digit but the first `head` and the last `tail` replaced by `*` (separators kept)."""
    total = sum(c.isdigit() or c in "Xx" for c in text)
    out, seen = [], 0
    for char in text:
        if char.isdigit() or char in "Xx":
            seen += 1
            out.append(char if seen <= head or seen > total - tail else "*")
        else:
            out.append(char)
    return "".join(out)


@overload
def mask_personal(text: str) -> str: ...
@overload
def mask_personal(text: None) -> None: ...
def mask_personal(text: str | None) -> str | None:
    """`text` with phone, ID-card and bank-card numbers masked; None stays None."""
    if not text or _SEVEN_DIGITS.search(text) is None:
        return text
    return _PERSONAL.sub(_masked, text)


def mask_fields(
    record: MutableMapping[str, Any], fields: Iterable[str] = TEXT_FIELDS
) -> MutableMapping[str, Any]:
    """Mask the free-text `fields` of `record` in place (those present); returns it."""
    for name in fields:
        value = record.get(name)
        if isinstance(value, str):
            record[name] = mask_personal(value)
    return record
