"""Resources opened in the lifespan and handed to routes through `Annotated[..., Depends()]` aliases."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncEngine

from app.urgent_lane import UrgentLane
from ingest.bus import BusProducer
from ingest.settings import Settings


@dataclass
class Resources:
    """What a request may use: settings, the bus producer, the database engine, the urgent lane's budget."""

    settings: Settings
    producer: BusProducer
    engine: AsyncEngine
    urgent_lane: UrgentLane


async def _resources(request: Request) -> Resources:
    # async: FastAPI runs a plain `def` dependency in its thread pool, a thread hand-off on every request,
    # which costs more than the lookup itself (docs/performance.md, "Gateway").
    resources: Resources = request.app.state.resources
    return resources


ResourcesDep = Annotated[Resources, Depends(_resources)]
