"""The FastAPI application: resources opened in the lifespan, nothing at import time."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager

from fastapi import FastAPI

from app import gateway, problems
from app.deps import Resources
from app.fastlane import FastLane
from app.observability import MetricsMiddleware, telemetry
from app.producer import GatewayProducer
from app.routes import complaints, dashboard, downstream, health, reports, schemas, status
from app.urgent_lane import UrgentLane
from ingest.bus.factory import make_producer
from ingest.bus.memory import InProcessBroker
from ingest.db.engine import make_engine
from ingest.settings import Settings, get_settings

log = logging.getLogger("jiesu.gateway")

# Something to run beside the gateway for the life of the app, e.g. the embedded worker.
Companion = Callable[[], AbstractAsyncContextManager[object]]


def create_app(
    settings: Settings | None = None,
    *,
    broker: InProcessBroker | None = None,
    companions: Sequence[Companion] = (),
    fast_lane: bool = True,
) -> FastAPI:
    """The gateway app; with `broker` it produces to that in-process broker instead of Kafka.

    `fast_lane=False` leaves every request to FastAPI, for the tests that compare the two.
    """
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with AsyncExitStack() as stack:
            # Built before the first submission needs it (the screen compiles the catalogue's cues).
            lane = UrgentLane(
                settings.urgent_lane_rate, settings.urgent_lane_burst, enabled=settings.urgent_lane_enabled
            )
            # Starts even while Kafka is down: 503 and unready until it comes (app/producer.py).
            producer = GatewayProducer(
                lambda: make_producer(settings, broker, client_id="jiesu-gateway"),
                settings.produce_timeout_s,
                settings.max_in_flight,
            )
            await producer.start()
            stack.push_async_callback(producer.stop)
            engine = make_engine(settings)
            stack.push_async_callback(engine.dispose)
            app.state.resources = Resources(
                settings=settings, producer=producer, engine=engine, urgent_lane=lane
            )
            for companion in companions:
                await stack.enter_async_context(companion())
            bus = (
                "in-process bus (embedded)"
                if settings.embedded_bus
                else f"Kafka {settings.kafka_bootstrap_servers}"
            )
            log.info("gateway ready on %s", bus)
            yield
            log.info("gateway stopping: draining in-flight requests")

    app = FastAPI(
        title="jiesu intake gateway",
        version="1",
        summary="接诉: complaint intake for a 12345 government-service hotline",
        lifespan=lifespan,
        telemetry=telemetry(settings.fastapi_telemetry),
    )
    problems.install(app)
    gateway.install(app, settings)
    app.include_router(complaints.router)
    app.include_router(health.router)
    # For downstream systems: the read API, the lifecycle API and the event contract.
    app.include_router(downstream.router)
    app.include_router(reports.router)
    app.include_router(dashboard.router)
    app.include_router(status.router)
    app.include_router(schemas.router)
    # Inside the metrics, outside the body limit: it refuses nothing itself, and it checks at start-up that
    # the route and the middleware inside it have nothing it would skip (app/fastlane.py, lane_spec).
    if fast_lane:
        app.add_middleware(FastLane, api=app)
    # Added last, so outermost: it sees every response, the limits' 413s and 429s included.
    app.add_middleware(MetricsMiddleware)
    return app
