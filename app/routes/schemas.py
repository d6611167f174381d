"""`GET /v1/schemas` and `GET /v1/schemas/{name}`: the JSON Schema of every event on every topic.

Generated from the event models, the same documents as docs/schemas/ (a test keeps the two equal).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from app.problems import problem
from ingest.schemas.contract import CONTRACTS, contract, json_schema

router = APIRouter(prefix="/v1/schemas", tags=["contract"])


class SchemaEntry(BaseModel):
    """One event's contract."""

    name: str = Field(description="The event's name, as its `event_type` (e.g. `ticket.processed`)")
    version: int = Field(description="The schema's version, as the event's `schema_version`")
    topics: list[str] = Field(description="The topics that carry it (without JIESU_TOPIC_PREFIX)")
    summary: str = Field(description="What the event says, in a sentence")
    url: str = Field(description="Where its JSON Schema is served")


@router.get("", response_model=list[SchemaEntry], summary="Every event's name, version, topics and schema")
async def list_schemas() -> list[SchemaEntry]:
    """The events published on the bus, each with the URL of its JSON Schema."""
    return [
        SchemaEntry(
            name=item.name,
            version=item.version,
            topics=[t.name for t in item.topics],
            summary=item.summary,
            url=f"/v1/schemas/{item.name}.v{item.version}",
        )
        for item in CONTRACTS
    ]


@router.get(
    "/{name}",
    responses={200: {"content": {"application/schema+json": {}}}, 404: {"description": "No such event"}},
    summary="One event's JSON Schema (`ticket.processed` or `ticket.processed.v1`)",
)
async def read_schema(name: str) -> Any:
    """The JSON Schema (2020-12) of the event's current version."""
    try:
        item = contract(name)
    except KeyError:
        known = ", ".join(i.name for i in CONTRACTS)
        return problem(404, "Not found", f"no event schema {name!r}; known: {known}")
    return JSONResponse(json_schema(item), media_type="application/schema+json")
