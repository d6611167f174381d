"""The Kafka topics, declared once as data, and the command that creates them.

Run `python -m ingest.topics ensure --bootstrap-servers HOST:PORT` to create any that are missing.
"""

from __future__ import annotations

import argparse
import asyncio
from dataclasses import dataclass


@dataclass(frozen=True)
class TopicSpec:
    """One topic: its base name, partition count, what its key is and who reads it."""

    name: str
    partitions: int
    key: str
    purpose: str
    retention_ms: int = 7 * 24 * 3600 * 1000


INTAKE = TopicSpec(
    "complaints.intake", 12, "hashed citizen key", "accepted submissions, read by intake workers"
)
INTAKE_URGENT = TopicSpec(
    "complaints.intake.urgent",
    3,
    "hashed citizen key",
    "accepted submissions the gateway's screen found likely urgent: the urgent lane, read first",
)
EVENTS = TopicSpec("complaints.events", 6, "ticket id", "processed tickets for downstream subscribers")
URGENT = TopicSpec(
    "complaints.urgent",
    3,
    "ticket id",
    "critical and high tickets, and every urgent-lane ticket (confirmed or lowered): the dispatch desk",
)
DLQ = TopicSpec(
    "complaints.dlq",
    3,
    "original key",
    "records that can never be processed, with the reason in headers",
    retention_ms=30 * 24 * 3600 * 1000,
)

ALERTS = TopicSpec(
    "complaints.alerts",
    1,
    "alert id",
    "spikes the reports worker's detector found (counts over their seasonal baseline, growing incidents)",
    retention_ms=30 * 24 * 3600 * 1000,
)
REPORTS = TopicSpec(
    "complaints.reports",
    1,
    "local hour",
    "the hourly brief (小时报), published by the reports worker after each hour closes",
    retention_ms=30 * 24 * 3600 * 1000,
)

ALL_TOPICS: tuple[TopicSpec, ...] = (INTAKE, INTAKE_URGENT, EVENTS, URGENT, DLQ, ALERTS, REPORTS)


def lane_group(group: str, lane: str) -> str:
    """The consumer group of an intake lane: the normal lane's is the configured group; the urgent lane has
    its own, so its records never queue behind the backlog."""
    return group if lane == "normal" else f"{group}.{lane}"


def topic_name(spec: TopicSpec, prefix: str = "") -> str:
    """The full topic name of `spec` under the deployment's prefix."""
    return f"{prefix}{spec.name}"


async def ensure_topics(bootstrap_servers: str, prefix: str = "") -> list[str]:
    """Create every declared topic that does not exist yet; return the names created."""
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers, request_timeout_ms=15000)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [spec for spec in ALL_TOPICS if topic_name(spec, prefix) not in existing]
        if missing:
            await admin.create_topics(
                [
                    NewTopic(
                        name=topic_name(spec, prefix),
                        num_partitions=spec.partitions,
                        replication_factor=1,
                        topic_configs={"retention.ms": str(spec.retention_ms)},
                    )
                    for spec in missing
                ]
            )
        return [topic_name(spec, prefix) for spec in missing]
    finally:
        await admin.close()


def topics_table() -> str:
    """The topics table of README.md, generated from the declarations above."""
    lines = ["| topic | partitions | key | what it carries |", "|---|---|---|---|"]
    lines += [f"| `{t.name}` | {t.partitions} | {t.key} | {t.purpose} |" for t in ALL_TOPICS]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    """Command line: `ensure` creates missing topics; `list` / `markdown` print the declared ones."""
    parser = argparse.ArgumentParser(prog="python -m ingest.topics")
    parser.add_argument("command", choices=["ensure", "list", "markdown"])
    parser.add_argument("--bootstrap-servers", default="")
    parser.add_argument("--prefix", default="")
    args = parser.parse_args(argv)
    if args.command == "markdown":
        print(topics_table())
        return
    if args.command == "list":
        for spec in ALL_TOPICS:
            print(f"{topic_name(spec, args.prefix)}\t{spec.partitions}\t{spec.key}\t{spec.purpose}")
        return
    if not args.bootstrap_servers:
        from ingest.settings import get_settings

        args.bootstrap_servers = get_settings().kafka_bootstrap_servers
    if not args.bootstrap_servers:
        parser.error("--bootstrap-servers (or KAFKA_BOOTSTRAP_SERVERS) is required")
    created = asyncio.run(ensure_topics(args.bootstrap_servers, args.prefix))
    print(f"topics created: {', '.join(created) if created else 'none (all existed)'}")


if __name__ == "__main__":
    main()
