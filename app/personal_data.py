"""What a reader sees of the personal numbers in complaint texts, and the audit record of every read.

Readers named in `JIESU_PERSONAL_DATA_READERS` see the texts as written, when their key proved who they are
(on an open read API the name is only a claimed `X-Jiesu-Actor` header, so everyone reads masked there).
Everyone else, and Open311's public reads, see phone, ID-card and bank-card numbers masked by the one rule
(ingest/masking.py), in the tickets' texts and in the notes of their status history. Every read of tickets'
texts is logged on `jiesu.audit`: the actor, the route, how many tickets (or status changes), and whether
the numbers were masked (docs/runbook.md, data map).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Iterable, MutableMapping
from typing import Any, TypeVar

from ingest.masking import mask_fields
from ingest.settings import Settings

audit = logging.getLogger("jiesu.audit")

Row = TypeVar("Row", bound=MutableMapping[str, Any])


@functools.cache
def _readers(spec: str) -> frozenset[str]:
    return frozenset(filter(None, (name.strip() for name in spec.split(","))))


def sees_personal_data(settings: Settings, reader: str, verified: bool) -> bool:
    """Whether `reader` reads the numbers unmasked: named in the scope, and proved by its key."""
    return verified and reader in _readers(settings.personal_data_readers)


def shown(
    settings: Settings,
    rows: Iterable[Row],
    *,
    reader: str,
    verified: bool,
    route: str,
    beside: Iterable[MutableMapping[str, Any]] = (),
) -> list[Row]:
    """`rows` (tickets, or one ticket's status changes) as `reader` may see them: text fields masked unless
    it has the scope, and so are the records `beside` them in the answer (an incident's summary); the read
    audited, counting `rows`."""
    out = list(rows)
    unmasked = sees_personal_data(settings, reader, verified)
    if not unmasked:
        for row in out:
            mask_fields(row)
        for record in beside:
            mask_fields(record)
    audit.info(
        "tickets read",
        extra={"actor": reader, "route": route, "tickets": len(out), "masked": not unmasked},
    )
    return out
