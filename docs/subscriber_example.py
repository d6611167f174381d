"""A downstream subscriber of `complaints.events`: validates every event against its JSON Schema.

    pip install aiokafka jsonschema
    python docs/subscriber_example.py --bootstrap-servers 127.0.0.1:19092 --group my-dashboard
    python docs/subscriber_example.py --schemas-url http://127.0.0.1:8000/v1/schemas ...   # from a gateway

What every subscriber of jiesu should do, in sixty lines:
- route on the `event_type` and `schema_version` headers, validate against that version's schema (from
  docs/schemas/ or `GET /v1/schemas`), and skip — not crash on — an event type or version it does not know;
- ignore fields it does not know (a compatible change adds fields without bumping the version);
- deduplicate: delivery is at least once, so the same event may come twice (`event_id` of a status change,
  the ticket id of `ticket.processed`);
- commit its offsets only after handling the records, as the workers do.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsonschema
from aiokafka import AIOKafkaConsumer

SCHEMAS_DIR = Path(__file__).resolve().parent / "schemas"
Event = dict[str, Any]


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
    handle: Callable[[Event], None],
    *,
    topic: str = "complaints.events",
    schemas: dict[tuple[str, str], Event] | None = None,
    stop_after: int | None = None,
    idle_timeout_s: float | None = None,
) -> int:
    """Consume `topic`, validate and hand each new event to `handle`; return how many were handled."""
    schemas = schemas or load_schemas()
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap_servers,
        group_id=group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    await consumer.start()
    seen: set[str] = set()  # a real subscriber keeps this in its own store, bounded by time
    handled, idle = 0, 0.0
    try:
        while stop_after is None or handled < stop_after:
            batch = await consumer.getmany(timeout_ms=500)
            records = [record for records in batch.values() for record in records]
            idle = 0.0 if records else idle + 0.5
            if idle_timeout_s is not None and idle >= idle_timeout_s:
                break
            for record in records:
                headers = {key: value.decode() for key, value in record.headers}
                schema = schemas.get((headers.get("event_type", ""), headers.get("schema_version", "")))
                if schema is None:
                    print(f"skipping {headers.get('event_type')} v{headers.get('schema_version')}: unknown")
                    continue
                event = json.loads(record.value)
                jsonschema.validate(event, schema)  # raises on a contract breach: stop and look
                if identity(event) not in seen:
                    seen.add(identity(event))
                    handle(event)
                    handled += 1
            if records:
                await consumer.commit()
    finally:
        await consumer.stop()
    return handled


def main() -> None:
    """Print each event's type, ticket and status until interrupted."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--bootstrap-servers", default="127.0.0.1:19092")
    parser.add_argument("--group", default="example-subscriber")
    parser.add_argument("--topic", default="complaints.events", help="with JIESU_TOPIC_PREFIX if one is set")
    parser.add_argument("--schemas-url", default=None, help="e.g. http://127.0.0.1:8000/v1/schemas")
    args = parser.parse_args()

    def show(event: Event) -> None:
        status = event.get("to_status") or event.get("urgency")
        print(f"{event['event_type']} v{event['schema_version']} {event['ticket_id']} {status}")

    asyncio.run(
        subscribe(
            args.bootstrap_servers,
            args.group,
            show,
            topic=args.topic,
            schemas=load_schemas(args.schemas_url),
        )
    )


if __name__ == "__main__":
    main()
