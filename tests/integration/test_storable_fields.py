"""Every field of every channel's submission, filled with generated values, sent through the gateway and on
into the real Postgres: what the gateway accepts the database stores, and what it refuses it answers with a
422 naming the field. Nothing accepted reaches the dead-letter topic.

The fields are found by walking the submission models, so a field added later is covered without a change
here.
"""

from __future__ import annotations

import asyncio
import json
import types
import typing
import uuid
from collections.abc import Iterator
from contextlib import AbstractAsyncContextManager
from datetime import datetime, timedelta, timezone
from typing import Any

import httpx
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from app.main import create_app
from ingest.bus import BusMessage
from ingest.bus.factory import in_process_broker
from ingest.bus.memory import InProcessProducer
from ingest.schemas.submission import PhoneSubmission, WebSubmission, WechatSubmission
from ingest.settings import Settings
from ingest.topics import DLQ
from tests.api_support import API_KEYS, KEY_OF, accepted_records, bearer
from tests.integration.helpers import fetchval
from workers.batch import BatchProcessor
from workers.db import open_pool
from workers.dead_letters import DeadLetters
from workers.judgement.judge import Judge

pytestmark = pytest.mark.postgres

BASES: dict[str, dict[str, Any]] = {
    "web": {"channel": "web", "content": "朝阳区望京西园三区门口的烧烤摊噪音很大"},
    "wechat": {"channel": "wechat", "content": "海淀区学院路路口的红绿灯坏了两天了"},
    "phone": {
        "channel": "phone",
        "call": {"call_id": "c-1", "transcript": [{"speaker": "citizen", "text": "路灯坏了"}]},
    },
}
# Characters Postgres or a UTF-8 encoder refuse, and their look-alikes, mixed into generated text.
HOSTILE = ("\x00", "\ud800", "\udfff", "\\u0000", "\x01", "\x7f", "\u2028", "\ufeff", "\U0010ffff", "'", "@")
texts = st.one_of(
    st.sampled_from(HOSTILE),
    st.lists(
        st.one_of(st.sampled_from(HOSTILE), st.text(st.characters(exclude_categories=()), max_size=8)),
        max_size=6,
    ).map("".join),
)
zones = st.integers(-14 * 60, 14 * 60).map(lambda m: timezone(timedelta(minutes=m)))
stamps = st.one_of(
    st.datetimes(timezones=st.none() | zones).map(lambda d: d.isoformat()),
    st.sampled_from(["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00", "2024-02-30T00:00:00Z"]),
)
# A valid value per field name (free text otherwise): generated characters spliced into it still pass the
# field's own pattern often enough to reach the database.
VALID = {
    "email": "wang@example.com",
    "phone": "13800138000",
    "caller": "13800138000",
    "wechat_openid": "oAbC123xyz",
    "attachments": "https://portal.example.gov.cn/uploads/a.jpg",
    "pic_url": "https://mmbiz.qpic.cn/a.jpg",
    "external_id": "msg-0001",
    "call_id": "call-0001",
    "agent_id": "agent-017",
    "media_ids": "MEDIA_ID_1",
    "[key]": "reply_by",
}


def spliced(name: str) -> st.SearchStrategy[str]:
    """The field's valid value with generated text put in at some place."""
    valid = VALID.get(name, "路灯坏了")
    return st.tuples(st.integers(0, len(valid)), texts).map(lambda p: valid[: p[0]] + p[1] + valid[p[0] :])


numbers = st.one_of(st.floats(allow_nan=False), st.integers(-(2**70), 2**70), st.floats())


def _leaf(annotation: Any) -> Any:
    """The innermost type of an annotation: Annotated, Optional and unions of one model stripped."""
    while True:
        origin = typing.get_origin(annotation)
        if origin is typing.Annotated:
            annotation = typing.get_args(annotation)[0]
        elif origin in (typing.Union, types.UnionType):
            args = [a for a in typing.get_args(annotation) if a is not type(None)]
            if len(args) != 1:
                return annotation
            annotation = args[0]
        else:
            return annotation


def field_paths(model: type[BaseModel], prefix: tuple[str | int, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """(path, kind) of every leaf field under `model`: kind is text, number, timestamp, url or literal; a
    list's path ends in 0, a dict's in `[key]` (its keys) or `[value]`."""
    for name, info in model.model_fields.items():
        if name == "channel":
            continue
        yield from _paths_of(info.annotation, (*prefix, name))


def _paths_of(annotation: Any, path: tuple[str | int, ...]) -> Iterator[tuple[Any, ...]]:
    leaf = _leaf(annotation)
    origin = typing.get_origin(leaf)
    if isinstance(leaf, type) and issubclass(leaf, BaseModel):
        yield from field_paths(leaf, path)
    elif origin is list:
        yield from _paths_of(typing.get_args(leaf)[0], (*path, 0))
    elif origin is dict:
        _, value = typing.get_args(leaf)
        yield (*path, "[key]"), "text"
        yield from _paths_of(value, (*path, "[value]"))
    elif leaf is float or leaf is int:
        yield path, "number"
    elif leaf is datetime:
        yield path, "timestamp"
    elif origin is typing.Literal:
        yield path, "literal"
    else:
        yield path, "text"  # str and the URL types: sent as any string


def _set(body: dict[str, Any], path: tuple[str | int, ...], value: Any) -> None:
    node: Any = body
    for step, following in zip(path, (*path[1:], None), strict=True):
        if following is None:
            if step == "[key]":
                node[value if isinstance(value, str) else str(value)] = "x"
            elif step == "[value]":
                node["k"] = value
            elif isinstance(node, list):
                node.append(value)
            else:
                node[step] = value
            return
        if following in ("[key]", "[value]"):
            node = node.setdefault(step, {})
        elif isinstance(following, int):
            node = node.setdefault(step, [])
        elif isinstance(step, int):
            if not node:
                node.append({"speaker": "citizen", "text": "路灯坏了"})
            node = node[0]
        else:
            node = node.setdefault(step, {})


CHANNEL_MODELS: dict[str, type[BaseModel]] = {
    "web": WebSubmission,
    "wechat": WechatSubmission,
    "phone": PhoneSubmission,
}
CASES = [
    (channel, path, kind) for channel, model in CHANNEL_MODELS.items() for path, kind in field_paths(model)
]
VALUES = {"text": texts, "number": numbers, "timestamp": stamps, "url": texts, "literal": texts}


class Pipeline:
    """The gateway on the in-process bus and the worker's batch on the real Postgres, on one event loop."""

    def __init__(self, database_url: str) -> None:
        self.settings = Settings(kafka_bootstrap_servers="", database_url=database_url, api_keys=API_KEYS)
        self.loop = asyncio.new_event_loop()
        self.broker = in_process_broker(self.settings)
        self.app = create_app(self.settings, broker=self.broker)
        self._lifespan: AbstractAsyncContextManager[Any] = self.app.router.lifespan_context(self.app)
        self.loop.run_until_complete(self._lifespan.__aenter__())
        transport = httpx.ASGITransport(app=self.app)
        self.client = httpx.AsyncClient(transport=transport, base_url="http://gateway", timeout=30)
        self.pool = self.loop.run_until_complete(open_pool(self.settings))
        producer = InProcessProducer(self.broker)
        # A cap no test reaches: every dead letter is a failure here, and the test says which.
        self.processor = BatchProcessor(
            self.pool, producer, Judge.load(), DeadLetters(producer, "", 10**6, 60)
        )
        self.seen: set[bytes] = set()
        self.dead_seen = 0

    def send(self, body: dict[str, Any]) -> httpx.Response:
        content = _json(body)
        headers = {**bearer(KEY_OF[body["channel"]]), "content-type": "application/json"}
        return self.loop.run_until_complete(
            self.client.post("/v1/complaints", content=content, headers=headers)
        )

    def store_new(self) -> list[str]:
        """Run the records the gateway accepted since the last call through the worker; their ticket ids."""
        records = [m for m in accepted_records(self.broker) if m.value not in self.seen]
        self.seen.update(m.value for m in records)
        batch = [BusMessage("complaints.intake", 0, i, m.key, m.value) for i, m in enumerate(records)]
        if batch:
            self.loop.run_until_complete(self.processor.process(batch))
        return [orjson.loads(m.value)["ticket_id"] for m in records]

    def new_dead_letters(self) -> list[BusMessage]:
        """The records dead-lettered since the last call."""
        dead = self.broker.records(DLQ.name)[self.dead_seen :]
        self.dead_seen += len(dead)
        return dead

    def close(self) -> None:
        self.loop.run_until_complete(self.client.aclose())
        self.loop.run_until_complete(self.pool.close())
        self.loop.run_until_complete(self._lifespan.__aexit__(None, None, None))
        self.loop.close()


def _json(body: dict[str, Any]) -> bytes:
    """JSON as Python's json module writes it: lone surrogates as `\\ud800` escapes (orjson refuses them)."""
    return json.dumps(body, ensure_ascii=True, allow_nan=True).encode()


@pytest.fixture(scope="module")
def pipeline(database_url: str) -> Iterator[Pipeline]:
    running = Pipeline(database_url)
    yield running
    running.close()


def test_the_walk_finds_the_nested_fields() -> None:
    paths = {(channel, ".".join(map(str, path))) for channel, path, _ in CASES}
    for expected in (
        ("web", "citizen.email"),
        ("web", "form_fields.[key]"),
        ("web", "attachments.0"),
        ("wechat", "location.latitude"),
        ("phone", "call.transcript.0.text"),
        ("phone", "call.started_at"),
    ):
        assert expected in paths


@pytest.mark.parametrize(
    "case", CASES, ids=[f"{channel}:{'.'.join(map(str, path))}" for channel, path, _ in CASES]
)
@settings(
    max_examples=25,
    deadline=None,
    database=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_generated_fields_are_stored_or_refused_by_name(
    pipeline: Pipeline, case: tuple[str, tuple[Any, ...], str], data: st.DataObject
) -> None:
    channel, path, kind = case
    name = next(str(step) for step in reversed(path) if not isinstance(step, int))
    values = st.one_of(VALUES[kind], spliced(name)) if kind == "text" else VALUES[kind]
    value = data.draw(values, label=".".join(map(str, path)))
    body = orjson.loads(orjson.dumps(BASES[channel]))
    body["external_id"] = f"prop-{uuid.uuid4().hex}"
    _set(body, path, value)
    answer = pipeline.send(body)
    stored = pipeline.store_new()
    assert pipeline.new_dead_letters() == [], f"{body!r} was accepted and then refused by the database"
    if answer.status_code == 202:
        assert stored == [answer.json()["ticket_id"]]
        count = pipeline.loop.run_until_complete(
            fetchval(pipeline.settings, "SELECT count(*) FROM tickets WHERE ticket_id = $1", stored[0])
        )
        assert count == 1
    else:
        assert answer.status_code in (400, 422), answer.text
        assert stored == []
        problem = answer.json()
        assert problem["errors"], problem
        assert answer.headers["content-type"].startswith("application/problem+json")


def test_a_nul_in_a_nested_field_is_refused_naming_it(pipeline: Pipeline) -> None:
    body = {
        **BASES["web"],
        "external_id": f"nul-{uuid.uuid4().hex}",
        "citizen": {"email": "a\x00b@example.com"},
    }
    answer = pipeline.send(body)
    assert answer.status_code == 422
    assert [e["field"] for e in answer.json()["errors"]] == ["citizen.email"]
    assert pipeline.store_new() == []
