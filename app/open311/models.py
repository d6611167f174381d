"""Open311 GeoReport v2 bodies, as documented in the OpenAPI document (JSON; XML carries the same fields)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

SPEC_URL = "http://wiki.open311.org/GeoReport_v2"
# The spec's bound on a request's description.
MAX_DESCRIPTION = 4000


class Endpoint(BaseModel):
    """One API endpoint of the discovery document."""

    specification: str = SPEC_URL
    url: str
    changeset: str
    type: str = "production"
    formats: list[str] = ["text/xml", "application/json"]


class Discovery(BaseModel):
    """The discovery document."""

    changeset: str
    contact: str
    key_service: str
    endpoints: list[Endpoint]


class ServiceInfo(BaseModel):
    """A service: one first-level category of the 12345 taxonomy."""

    service_code: str = Field(examples=["environmental-protection"])
    service_name: str = Field(examples=["环境保护"])
    description: str
    metadata: bool = False
    type: str = Field(default="batch", description="`batch`: POST requests answers a token")
    keywords: str = Field(description="Second-level categories, comma-separated")
    group: str


class ServiceDefinition(BaseModel):
    """A service definition (no service has extra attributes)."""

    service_code: str
    attributes: list[dict[str, Any]] = []


class TokenReply(BaseModel):
    """The answer to POST requests, and to tokens/{token} (with service_request_id once stored)."""

    token: str | None = None
    service_request_id: str | None = None
    service_notice: str | None = None
    account_id: str | None = None


class ServiceRequest(BaseModel):
    """A stored service request (a ticket)."""

    service_request_id: str
    status: str = Field(description="open or closed")
    status_notes: str | None = None
    service_name: str | None = None
    service_code: str | None = None
    description: str | None = None
    agency_responsible: str | None = None
    service_notice: str | None = None
    requested_datetime: str | None = None
    updated_datetime: str | None = None
    expected_datetime: str | None = None
    address: str | None = None
    address_id: str | None = None
    zipcode: str | None = None
    lat: float | None = None
    long: float | None = None
    media_url: str | None = None


class Open311Error(BaseModel):
    """One GeoReport error."""

    code: int
    description: str


_FORM_FIELDS: dict[str, dict[str, Any]] = {
    "api_key": {
        "type": "string",
        "maxLength": 256,
        "description": "A web adapter's API key (or in the query)",
    },
    "jurisdiction_id": {
        "type": "string",
        "maxLength": 64,
        "description": "This gateway's jurisdiction (JIESU_OPEN311_JURISDICTION); another is 404",
    },
    "service_code": {"type": "string", "maxLength": 64, "description": "From GET services"},
    "lat": {"type": "number", "minimum": -90, "maximum": 90},
    "long": {"type": "number", "minimum": -180, "maximum": 180},
    "address_string": {"type": "string", "maxLength": 256},
    "address_id": {"type": "string", "maxLength": 64},
    "email": {"type": "string", "maxLength": 254},
    "device_id": {"type": "string", "maxLength": 64},
    "account_id": {"type": "string", "maxLength": 64},
    "first_name": {"type": "string", "maxLength": 32},
    "last_name": {"type": "string", "maxLength": 32},
    "phone": {"type": "string", "maxLength": 32},
    "description": {
        "type": "string",
        "maxLength": MAX_DESCRIPTION,
        "description": "What is wrong (optional: without it the service's name is the complaint's text)",
    },
    "media_url": {"type": "string", "maxLength": 2048, "description": "A photo, by http(s) URL"},
}
FORM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": _FORM_FIELDS,
    "required": ["service_code"],
}
FORM_FIELD_NAMES = frozenset(_FORM_FIELDS)
