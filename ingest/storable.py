"""What Postgres refuses to store, found in a submission before the gateway accepts it.

Postgres refuses U+0000 in `text` and in `jsonb` (as the escape `\\u0000`), and no UTF-8 encoder takes a lone
surrogate. A record holding either is accepted with a 202 and then refused by the database: it goes to the
dead-letter topic, and enough of them stop the worker. Lone surrogates never get this far (the JSON parser and
pydantic refuse them in every string field), free text has control characters removed (ingest/normalise.py),
and identifiers are held to their patterns; this is the net under all of them, for every field and every
field added later.

The check runs on the record's JSON, which the gateway builds anyway: JSON writers escape U+0000 as `\\u0000`,
so one byte search answers for the common case (none there) without walking the fields. Only when the bytes
hold the escape (a citizen may also have typed the six characters themselves) are the fields walked, to name
them or find there is none.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from pydantic import BaseModel

# What a JSON writer (orjson, pydantic) makes of U+0000; a typed `\u0000` is `\\u0000` and also matches.
_NUL_ESCAPE = b"\\u0000"
NUL_MESSAGE = "must not hold the character U+0000 (NUL): the database cannot store it"
NUL_TYPE = "string_nul"


def may_hold_nul(json_bytes: bytes) -> bool:
    """False when the JSON certainly holds no U+0000 in any string; True when the fields must be looked at."""
    # A backslash first: one memchr, where the six-byte search costs a microsecond on a record of Chinese
    # text; most records hold no escape at all.
    return b"\\" in json_bytes and _NUL_ESCAPE in json_bytes


def _nul_paths(value: Any, path: tuple[str, ...]) -> Iterator[tuple[str, ...]]:
    if isinstance(value, str):
        if "\x00" in value:
            yield path
    elif isinstance(value, dict):
        for key, item in value.items():
            step = (*path, str(key))
            if isinstance(key, str) and "\x00" in key:
                yield step
            yield from _nul_paths(item, step)
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            yield from _nul_paths(item, (*path, str(index)))


def unstorable_fields(
    json_bytes: bytes, model: BaseModel, prefix: Sequence[str | int] = ()
) -> list[dict[str, str]]:
    """The fields of `model` (serialised as `json_bytes`) that Postgres would refuse, as `{field, message,
    type}` with dotted paths under `prefix`; empty when every field can be stored."""
    if not may_hold_nul(json_bytes):
        return []
    head = tuple(str(part) for part in prefix)
    return [
        {"field": ".".join(path), "message": NUL_MESSAGE, "type": NUL_TYPE}
        for path in _nul_paths(model.model_dump(mode="python"), head)
    ]
