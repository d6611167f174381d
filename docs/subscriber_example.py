"""A downstream subscriber of jiesu's topics: validates every event against its JSON Schema.

    pip install aiokafka jsonschema
    python docs/subscriber_example.py                                  # complaints.events, one line per event
    python docs/subscriber_example.py --topic complaints.events --topic complaints.urgent --json
    python docs/subscriber_example.py --max-events 10 --idle-seconds 30 --group my-dashboard
    python docs/subscriber_example.py --schemas-url http://127.0.0.1:8000/v1/schemas   # from a gateway

Kafka's address: --bootstrap-servers, else $KAFKA_BOOTSTRAP_SERVERS, else the running stack's
.data/services.env (written by `make services`). Topic names get $JIESU_TOPIC_PREFIX (--topic-prefix) in
front.
`--json` prints one JSON object per event ({"topic", "partition", "offset", "event"}) for jq and friends;
otherwise one summary line per event. Skipped events and the closing count go to stderr.

What every subscriber of jiesu should do:
- route on the `event_type` and `schema_version` headers, validate against that version's schema (from
  docs/schemas/ or `GET /v1/schemas`), and skip — not crash on — an event type or version it does not know;
- ignore fields it does not know (a compatible change adds fields without bumping the version);
- deduplicate: delivery is at least once, so the same event may come twice (`event_id` of a status change,
  the ticket id of `ticket.processed`); an urgent ticket's `ticket.processed` is on both complaints.events and
  complaints.urgent, one copy per topic;
- commit its offsets only after handling the records, as the workers do.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sys
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import jsonschema
from aiokafka import AIOKafkaConsumer

SCHEMAS_DIR = Path(__file__).resolve().parent / "schemas"
# `make services` writes the running stack's addresses here (KAFKA_BOOTSTRAP_SERVERS=…, DATABASE_URL=…).
SERVICES_ENV = Path(".data") / "services.env"
REPO_SERVICES_ENV = Path(__file__).resolve().parent.parent / SERVICES_ENV
POLL_MS = 500
Event = dict[str, Any]
# Called with the topic, partition and offset a new event came from, and the event.
Handler = Callable[[str, int, int, Event], None]


def bootstrap_servers(given: str | None = None) -> str:
    """Kafka's address: `given`, else $KAFKA_BOOTSTRAP_SERVERS, else a .data/services.env (cwd, repo)."""
    found = (
        given or os.environ.get("KAFKA_BOOTSTRAP_SERVERS") or os.environ.get("JIESU_KAFKA_BOOTSTRAP_SERVERS")
    )
    for env_file in (SERVICES_ENV, REPO_SERVICES_ENV):
        if found:
            break
        if env_file.is_file():
            for line in env_file.read_text().splitlines():
                name, _, value = line.partition("=")
                if name.strip() == "KAFKA_BOOTSTRAP_SERVERS" and value.strip():
                    found = value.strip()
    if not found:
        sys.exit(
            "no Kafka address: pass --bootstrap-servers, set KAFKA_BOOTSTRAP_SERVERS, or start the local "
            "stack (make services writes .data/services.env)"
        )
    return found


def load_schemas(schemas_url: str | None = None) -> dict[tuple[str, str], Event]:
    """{(event_type, schema_version): JSON Schema}, from a gateway's /v1/schemas or docs/schemas/."""
    if schemas_url:
        with urllib.request.urlopen(schemas_url) as listing:
            entries = json.load(listing)
        base = schemas_url.split("/v1/schemas")[0]
        schemas = []
        for entry in entries:
            with urllib.request.urlopen(base + entry["url"]) as one:
                schemas.append(json.load(one))
    else:
        schemas = [json.loads(path.read_text()) for path in sorted(SCHEMAS_DIR.glob("*.json"))]
    return {(s["x-event-type"], str(s["x-schema-version"])): s for s in schemas}


def identity(event: Event) -> str:
    """What makes two deliveries the same event."""
    return str(event.get("event_id") or f"{event['ticket_id']}:{event['event_type']}")


async def subscribe(
    bootstrap_servers: str,
    group: str,
    handle: Handler,
    *,
    topics: Sequence[str] = ("complaints.events",),
    schemas: dict[tuple[str, str], Event] | None = None,
    stop_after: int | None = None,
    idle_timeout_s: float | None = None,
) -> int:
    """Consume `topics`, validate and hand each new event to `handle`; return how many were handled.

    Stops after `stop_after` events, or once no record has come for `idle_timeout_s`; else runs until
    cancelled (Ctrl-C)."""
    schemas = schemas or load_schemas()
    consumer = AIOKafkaConsumer(
        *topics,
        bootstrap_servers=bootstrap_servers,
        group_id=group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    await consumer.start()
    seen: set[tuple[str, str]] = set()  # a real subscriber keeps this in its own store, bounded by time
    handled, idle = 0, 0.0
    try:
        while stop_after is None or handled < stop_after:
            # Never more records than events still wanted: every record fetched is committed below.
            remaining = None if stop_after is None else stop_after - handled
            batch = await consumer.getmany(timeout_ms=POLL_MS, max_records=remaining)
            records = [record for records in batch.values() for record in records]
            idle = 0.0 if records else idle + POLL_MS / 1000
            if idle_timeout_s is not None and idle >= idle_timeout_s:
                break
            for record in records:
                headers = {key: value.decode() for key, value in record.headers}
                schema = schemas.get((headers.get("event_type", ""), headers.get("schema_version", "")))
                if schema is None:
                    print(
                        f"skipping {headers.get('event_type')} v{headers.get('schema_version')} on "
                        f"{record.topic}: unknown",
                        file=sys.stderr,
                    )
                    continue
                event = json.loads(record.value)
                jsonschema.validate(event, schema)  # raises on a contract breach: stop and look
                key = (record.topic, identity(event))
                if key not in seen:
                    seen.add(key)
                    handle(record.topic, record.partition, record.offset, event)
                    handled += 1
            if records:
                await consumer.commit()
    finally:
        await consumer.stop()
    return handled


def summary(topic: str, event: Event) -> str:
    """One line for a person: where, what, which ticket, and what it says."""
    head = f"{topic} {event['event_type']} v{event['schema_version']} {event['ticket_id']}"
    if event["event_type"] == "ticket.status_changed":
        return f"{head} {event.get('from_status')} -> {event.get('to_status')} (seq {event.get('seq')})"
    urgency = event.get("urgency")
    if event.get("urgency_situation"):
        urgency = f"{urgency}:{event['urgency_situation']}"
    review = " needs_review" if event.get("needs_review") else ""
    where = event.get("district") or "-"
    return f"{head} {urgency} {event.get('category') or '-'} {where} -> {event.get('department')}{review}"


def main(argv: Sequence[str] | None = None) -> int:
    """Print the chosen topics' events until interrupted, N events or an idle time; return the count."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--bootstrap-servers", help="default: $KAFKA_BOOTSTRAP_SERVERS, else .data/services.env"
    )
    parser.add_argument("--group", default="example-subscriber", help="consumer group (default: %(default)s)")
    parser.add_argument(
        "--topic",
        action="append",
        dest="topics",
        metavar="TOPIC",
        help="repeat, or comma-separate, for several (default: complaints.events)",
    )
    parser.add_argument(
        "--topic-prefix",
        default=os.environ.get("JIESU_TOPIC_PREFIX", ""),
        help="put in front of each topic name that lacks it (default: $JIESU_TOPIC_PREFIX)",
    )
    parser.add_argument(
        "--json", action="store_true", help="one JSON object per event instead of a summary line"
    )
    parser.add_argument("--max-events", type=int, default=None, metavar="N", help="stop after N events")
    parser.add_argument(
        "--idle-seconds",
        type=float,
        default=None,
        metavar="S",
        help="stop once nothing has come for S seconds",
    )
    parser.add_argument("--schemas-url", default=None, help="e.g. http://127.0.0.1:8000/v1/schemas")
    args = parser.parse_args(argv)
    if args.max_events is not None and args.max_events < 1:
        parser.error("--max-events: want 1 or more")
    if args.idle_seconds is not None and args.idle_seconds <= 0:
        parser.error("--idle-seconds: want more than 0")
    names = [name.strip() for given in args.topics or ["complaints.events"] for name in given.split(",")]
    prefix = args.topic_prefix
    topics = [name if name.startswith(prefix) else prefix + name for name in names if name]

    def show(topic: str, partition: int, offset: int, event: Event) -> None:
        if args.json:
            line = json.dumps(
                {"topic": topic, "partition": partition, "offset": offset, "event": event}, ensure_ascii=False
            )
        else:
            line = summary(topic, event)
        print(line, flush=True)

    handled = asyncio.run(
        subscribe(
            bootstrap_servers(args.bootstrap_servers),
            args.group,
            show,
            topics=topics,
            schemas=load_schemas(args.schemas_url),
            stop_after=args.max_events,
            idle_timeout_s=args.idle_seconds,
        )
    )
    print(f"{handled} event(s) from {', '.join(topics)}", file=sys.stderr)
    return handled


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C: the consumer has left its group, nothing to say
        main()
