"""Publishing alerts (complaints.alerts) and hourly briefs (complaints.reports), each exactly once recorded.

The row that records a publication and the send are in one transaction: a send the bus does not acknowledge
rolls the row back and the next tick tries again; a second reports worker waits on the row and then finds it
taken, so it publishes nothing twice (delivery to subscribers is still at least once: dedupe on the id).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncEngine

from ingest.bus import BusProducer
from ingest.db.tables import report_alerts, report_publications
from ingest.reports.brief import BriefOptions, build_brief
from ingest.reports.hours import Hour
from ingest.schemas.events import event_headers
from ingest.schemas.reports import AlertRaised
from ingest.topics import ALERTS, REPORTS, topic_name
from workers.rollups.metrics import ALERTS as ALERTS_RAISED
from workers.rollups.metrics import BRIEFS


async def publish_alerts(
    engine: AsyncEngine, producer: BusProducer, alerts: list[AlertRaised], prefix: str
) -> list[AlertRaised]:
    """Record and publish the alerts not raised before; return those."""
    if not alerts:
        return []
    topic = topic_name(ALERTS, prefix)
    async with engine.begin() as conn:
        stmt = (
            pg_insert(report_alerts)
            .values([a.model_dump(exclude={"schema_version", "event_type"}) for a in alerts])
            .on_conflict_do_nothing(index_elements=["alert_id"])
            .returning(report_alerts.c.alert_id)
        )
        new_ids = {row.alert_id for row in await conn.execute(stmt)}
        new = [a for a in alerts if a.alert_id in new_ids]
        for alert in new:
            headers = event_headers(alert.event_type, alert.schema_version, None, alert.raised_at)
            await producer.send(topic, alert.to_bytes(), key=alert.alert_id.encode(), headers=headers)
    for alert in new:
        ALERTS_RAISED.labels(alert.kind).inc()
    return new


async def publish_brief(
    engine: AsyncEngine,
    producer: BusProducer,
    hour: Hour,
    options: BriefOptions,
    *,
    prefix: str,
    now: datetime,
) -> bool:
    """Publish the brief of a closed `hour` unless it was; True when this call published it."""
    async with engine.begin() as conn:
        claimed = await conn.execute(
            pg_insert(report_publications)
            .values(hour=hour.start, published_at=now)
            .on_conflict_do_nothing(index_elements=["hour"])
            .returning(report_publications.c.hour)
        )
        if claimed.first() is None:
            return False
        brief = await build_brief(engine, hour, options, now)
        headers = event_headers(brief.event_type, brief.schema_version, None, now)
        await producer.send(
            topic_name(REPORTS, prefix), brief.to_bytes(), key=hour.label.encode(), headers=headers
        )
    BRIEFS.inc()
    return True
