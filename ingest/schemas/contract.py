"""The downstream contract: which event travels on which topic, its JSON Schema, and the AsyncAPI document.

`python -m ingest.schemas.contract write` regenerates docs/schemas/<event>.v<N>.json and docs/asyncapi.yaml
from the models; it refuses to overwrite a committed schema with an incompatible one at the same version.
`python -m ingest.schemas.contract check` exits non-zero when the committed files are not what the code says.

Compatibility (both ways, so old and new subscribers and replays of old events all keep working): within one
version a field may be added only with a default; no field may be removed, renamed or retyped, and no field
may become required or optional. Annotations (title, description, examples, default) may change freely.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from ingest.schemas.events import TicketProcessed, TicketStatusChanged, TicketUrgent
from ingest.schemas.records import IntakeRecord
from ingest.schemas.reports import AlertRaised, HourlyBrief
from ingest.topics import (
    ALERTS,
    ALL_TOPICS,
    DLQ,
    EVENTS,
    INTAKE,
    INTAKE_URGENT,
    REPORTS,
    URGENT,
    TopicSpec,
)

DOCS_DIR = Path(__file__).resolve().parent.parent.parent / "docs"
SCHEMAS_DIR = DOCS_DIR / "schemas"
ASYNCAPI_PATH = DOCS_DIR / "asyncapi.yaml"

JsonObj = dict[str, Any]


@dataclass(frozen=True)
class EventContract:
    """One kind of record on the bus: its name (`event_type`), model, and the topics that carry it."""

    name: str
    model: type[BaseModel]
    topics: tuple[TopicSpec, ...]
    summary: str

    @property
    def version(self) -> int:
        """The model's `schema_version` (its default, which every instance carries)."""
        default = self.model.model_fields["schema_version"].default
        assert isinstance(default, int), f"{self.model.__name__}.schema_version needs an int default"
        return default

    @property
    def file_name(self) -> str:
        """The committed schema's file name, e.g. `ticket.processed.v1.json`."""
        return f"{self.name}.v{self.version}.json"


CONTRACTS: tuple[EventContract, ...] = (
    EventContract(
        "intake.record",
        IntakeRecord,
        (INTAKE, INTAKE_URGENT, DLQ),
        "An accepted submission (on the dead-letter topic: the original bytes, usually this record)",
    ),
    EventContract(
        "ticket.processed",
        TicketProcessed,
        (EVENTS, URGENT),
        "A ticket stored, judged and linked to its incident",
    ),
    EventContract(
        "ticket.urgent",
        TicketUrgent,
        (URGENT,),
        "An urgent-lane ticket stored and judged, announced before its links (its ticket.processed follows)",
    ),
    EventContract(
        "ticket.status_changed", TicketStatusChanged, (EVENTS,), "A downstream system moved a ticket on"
    ),
    EventContract("alert.raised", AlertRaised, (ALERTS,), "The detector found a spike"),
    EventContract("report.hourly_brief", HourlyBrief, (REPORTS,), "The brief of an hour that closed"),
)


def contract(name: str) -> EventContract:
    """The contract named `name` (`ticket.processed`, or with its version: `ticket.processed.v1`)."""
    for item in CONTRACTS:
        if name in (item.name, f"{item.name}.v{item.version}"):
            return item
    raise KeyError(name)


def json_schema(item: EventContract) -> JsonObj:
    """The JSON Schema of `item`, generated from its model."""
    body = item.model.model_json_schema()
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": item.file_name,
        "x-event-type": item.name,
        "x-schema-version": item.version,
        "x-topics": [t.name for t in item.topics],
        **body,
    }


def dumps(schema: JsonObj) -> str:
    """The canonical text of a schema file."""
    return json.dumps(schema, indent=2, ensure_ascii=False, sort_keys=True) + "\n"


# --- compatibility -------------------------------------------------------------------------------------

_ANNOTATIONS = frozenset({"title", "description", "examples", "default", "$comment", "deprecated"})


def _resolve(schema: JsonObj, root: JsonObj) -> JsonObj:
    while "$ref" in schema:
        name = str(schema["$ref"]).rsplit("/", 1)[-1]
        schema = root.get("$defs", {})[name]
    return schema


def _is_object(schema: JsonObj) -> bool:
    return schema.get("type") == "object" and "properties" in schema


def _diff_object(
    old: JsonObj, new: JsonObj, roots: tuple[JsonObj, JsonObj], path: str, out: list[str]
) -> None:
    old_props, new_props = old["properties"], new["properties"]
    old_req, new_req = set(old.get("required", ())), set(new.get("required", ()))
    for name in sorted(old_props):
        if name not in new_props:
            out.append(f"{path}{name}: removed (or renamed)")
        else:
            _diff(old_props[name], new_props[name], roots, f"{path}{name}", out)
    for name in sorted(new_req - old_req):
        was = "optional" if name in old_props else "absent"
        out.append(f"{path}{name}: new required field (was {was})")
    for name in sorted((old_req - new_req) & set(new_props)):
        out.append(f"{path}{name}: no longer required")
    if old.get("additionalProperties", True) != new.get("additionalProperties", True):
        out.append(f"{path}(additionalProperties) changed")


def _diff(old: JsonObj, new: JsonObj, roots: tuple[JsonObj, JsonObj], path: str, out: list[str]) -> None:
    old, new = _resolve(old, roots[0]), _resolve(new, roots[1])
    if _is_object(old) and _is_object(new):
        _diff_object(old, new, roots, f"{path}." if path else "", out)
        return
    for key in sorted((set(old) | set(new)) - _ANNOTATIONS):
        a, b = old.get(key), new.get(key)
        if isinstance(a, list) and isinstance(b, list) and key in ("anyOf", "oneOf", "allOf", "prefixItems"):
            if len(a) != len(b):
                out.append(f"{path}: type changed ({key} {len(a)} → {len(b)} alternatives)")
            else:
                for i, (x, y) in enumerate(zip(a, b, strict=True)):
                    _diff(x, y, roots, f"{path}[{key} {i}]", out)
        elif isinstance(a, dict) and isinstance(b, dict):
            _diff(a, b, roots, f"{path}[{key}]", out)
        elif a != b:
            out.append(f"{path}: {key} changed ({a!r} → {b!r})")


def incompatibilities(old: JsonObj, new: JsonObj) -> list[str]:
    """What in `new` breaks subscribers or stored events of `old` (empty when compatible)."""
    out: list[str] = []
    _diff(old, new, (old, new), "", out)
    return out


def problems(item: EventContract, schemas_dir: Path = SCHEMAS_DIR) -> list[str]:
    """Why the committed schemas of `item` do not match the code (empty when they do)."""
    regen = "run `python -m ingest.schemas.contract write`"
    out = [
        f"{item.name}: docs/schemas/{item.name}.v{v}.json is missing (older versions stay committed)"
        for v in range(1, item.version)
        if not (schemas_dir / f"{item.name}.v{v}.json").exists()
    ]
    path = schemas_dir / item.file_name
    if not path.exists():
        return [*out, f"{item.name}: no committed schema for version {item.version}; {regen}"]
    committed = json.loads(path.read_text())
    generated = json_schema(item)
    breaks = incompatibilities(committed, generated)
    if breaks:
        out.append(
            f"{item.name} changed incompatibly at version {item.version}: {'; '.join(breaks)}. "
            f"Bump its schema_version to {item.version + 1} and {regen} (it keeps the old file)"
        )
    elif path.read_text() != dumps(generated):
        out.append(f"{item.name}: docs/schemas/{item.file_name} is out of date (compatible change); {regen}")
    return out


# --- AsyncAPI -----------------------------------------------------------------------------------------

_EVENT_HEADERS: JsonObj = {
    "type": "object",
    "properties": {
        "schema_version": {"type": "string", "description": "The payload's schema_version, e.g. `1`"},
        "event_type": {"type": "string", "description": "The payload's event_type"},
        "content_type": {"type": "string", "const": "application/json"},
        "produced_at": {"type": "string", "format": "date-time"},
        "trace_id": {"type": "string", "description": "Trace id of the submission, when it had one"},
    },
    "required": ["schema_version", "event_type", "content_type", "produced_at"],
}
_INTAKE_HEADERS: JsonObj = {
    "type": "object",
    "properties": {
        "schema_version": {"type": "string"},
        "trace_id": {"type": "string"},
        "ticket_id": {"type": "string"},
        "needs_review": {"type": "string", "const": "1", "description": "Present when flagged for review"},
    },
    "required": ["schema_version", "trace_id", "ticket_id"],
}
_DLQ_HEADERS: JsonObj = {
    "type": "object",
    "description": "The original record's headers, plus where it came from and why it was refused",
    "properties": {
        "dlq_source_topic": {"type": "string"},
        "dlq_source_partition": {"type": "string"},
        "dlq_source_offset": {"type": "string"},
        "dlq_stage": {"type": "string", "enum": ["decode", "database"]},
        "dlq_error": {"type": "string"},
    },
    "required": ["dlq_source_topic", "dlq_source_partition", "dlq_source_offset", "dlq_stage", "dlq_error"],
}


def _camel(name: str) -> str:
    parts = name.replace(".", "_").split("_")
    return parts[0] + "".join(p.title() for p in parts[1:])


def _message_id(item: EventContract, topic: TopicSpec) -> str:
    suffix = "Dead" if topic is DLQ else ""
    return f"{_camel(item.name)}V{item.version}{suffix}"


def asyncapi_document() -> JsonObj:
    """The AsyncAPI 3.0 document of every declared topic and the events each carries."""
    channels: JsonObj = {}
    operations: JsonObj = {}
    messages: JsonObj = {}
    for topic in ALL_TOPICS:
        carried = [item for item in CONTRACTS if topic in item.topics]
        channel_id = _camel(topic.name)
        channels[channel_id] = {
            "address": topic.name,
            "description": f"{topic.purpose}. Key: {topic.key}. Prefixed by JIESU_TOPIC_PREFIX.",
            "messages": {
                _message_id(i, topic): {"$ref": f"#/components/messages/{_message_id(i, topic)}"}
                for i in carried
            },
            "bindings": {
                "kafka": {
                    "partitions": topic.partitions,
                    "topicConfiguration": {"retention.ms": topic.retention_ms},
                }
            },
        }
        operations[f"receive{channel_id[0].upper()}{channel_id[1:]}"] = {
            "action": "receive",
            "channel": {"$ref": f"#/channels/{channel_id}"},
            "messages": [
                {"$ref": f"#/channels/{channel_id}/messages/{_message_id(i, topic)}"} for i in carried
            ],
        }
        for item in carried:
            intake = topic in (INTAKE, INTAKE_URGENT)
            headers = _DLQ_HEADERS if topic is DLQ else _INTAKE_HEADERS if intake else _EVENT_HEADERS
            messages[_message_id(item, topic)] = {
                "name": item.name,
                "title": f"{item.name} v{item.version}" + (" (dead letter)" if topic is DLQ else ""),
                "summary": item.summary,
                "contentType": "application/json",
                "headers": headers,
                "payload": {"$ref": f"schemas/{item.file_name}"},
                "bindings": {"kafka": {"key": {"type": "string", "description": topic.key}}},
            }
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "jiesu events",
            "version": "1.0.0",
            "description": (
                "Topics of the jiesu complaint-intake pipeline. Every record carries a schema_version "
                "header and field; subscribers deduplicate by ticket id (ticket.processed), event_id "
                "(ticket.status_changed), alert_id (alert.raised) or hour (report.hourly_brief, the last "
                "one wins): delivery is at least once. Generated by "
                "`python -m ingest.schemas.contract write`; do not edit by hand."
            ),
        },
        "defaultContentType": "application/json",
        "servers": {
            "local": {
                "host": "127.0.0.1:19092",
                "protocol": "kafka",
                "description": "The broker scripts/services.sh starts",
            }
        },
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages},
    }


def _yaml_key(key: str) -> str:
    return key if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.]*", key) else json.dumps(key)


def _yaml_leaf(value: Any) -> str:
    # JSON scalars are valid YAML flow scalars; quoting every string avoids YAML's implicit typing.
    if isinstance(value, dict | list):
        return "{}" if isinstance(value, dict) else "[]"
    return json.dumps(value, ensure_ascii=False)


def _yaml_lines(value: Any, indent: int) -> list[str]:
    pad = " " * indent
    lines: list[str] = []
    items = value.items() if isinstance(value, dict) else ((None, v) for v in value)
    for key, item in items:
        head = f"{pad}{_yaml_key(key)}:" if key is not None else f"{pad}-"
        if not (isinstance(item, dict | list) and item):
            lines.append(f"{head} {_yaml_leaf(item)}")
        elif key is None:
            nested = _yaml_lines(item, indent + 2)
            lines.append(f"{head} {nested[0].lstrip()}")
            lines.extend(nested[1:])
        else:
            lines.append(head)
            lines.extend(_yaml_lines(item, indent + 2))
    return lines


def to_yaml(document: JsonObj) -> str:
    """Block-style YAML of a JSON-like document (what docs/asyncapi.yaml holds)."""
    lines = _yaml_lines(document, 0)
    return (
        "# Generated by `python -m ingest.schemas.contract write`; do not edit.\n" + "\n".join(lines) + "\n"
    )


# --- command line --------------------------------------------------------------------------------------


def write(schemas_dir: Path = SCHEMAS_DIR, asyncapi_path: Path = ASYNCAPI_PATH) -> list[str]:
    """Write every schema and the AsyncAPI document; return the refusals (incompatible, same version)."""
    refused: list[str] = []
    schemas_dir.mkdir(parents=True, exist_ok=True)
    for item in CONTRACTS:
        path = schemas_dir / item.file_name
        generated = json_schema(item)
        if path.exists():
            breaks = incompatibilities(json.loads(path.read_text()), generated)
            if breaks:
                refused.append(
                    f"{item.file_name}: not overwritten, incompatible ({'; '.join(breaks)}); "
                    f"bump {item.model.__name__}.schema_version to {item.version + 1}"
                )
                continue
        path.write_text(dumps(generated))
    asyncapi_path.write_text(to_yaml(asyncapi_document()))
    return refused


def check(schemas_dir: Path = SCHEMAS_DIR, asyncapi_path: Path = ASYNCAPI_PATH) -> list[str]:
    """Every way the committed contract differs from the code."""
    out = [p for item in CONTRACTS for p in problems(item, schemas_dir)]
    if not asyncapi_path.exists() or asyncapi_path.read_text() != to_yaml(asyncapi_document()):
        out.append("docs/asyncapi.yaml is out of date; run `python -m ingest.schemas.contract write`")
    return out


def main(argv: list[str] | None = None) -> None:
    """`write` regenerates docs/schemas and docs/asyncapi.yaml; `check` fails when they are stale."""
    parser = argparse.ArgumentParser(prog="python -m ingest.schemas.contract")
    parser.add_argument("command", choices=["write", "check"])
    args = parser.parse_args(argv)
    found = write() if args.command == "write" else check()
    for line in found:
        print(line, file=sys.stderr)
    if found:
        sys.exit(1)
    print("docs/schemas and docs/asyncapi.yaml match the code")


if __name__ == "__main__":
    main()
