"""Open311 GeoReport v2 bodies, as documented in the OpenAPI document (JSON; XML carries the same fields)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

SPEC_URL = "http://wiki.open311.org/GeoReport_v2"
# The spec's bound on a request's description.
MAX_DESCRIPTION = 4000


class Endpoint(BaseModel):
    """One API endpoint of the discovery document."""

    specification: str = Field(default=SPEC_URL, description="The specification the endpoint implements")
    url: str = Field(description="The endpoint's base URL")
    changeset: str = Field(description="When the endpoint last changed (W3C date-time)")
    type: str = Field(default="production", description="`production`, as GeoReport names it")
    formats: list[str] = Field(
        default=["text/xml", "application/json"], description="The response formats it serves"
    )


class Discovery(BaseModel):
    """The discovery document."""

    changeset: str = Field(description="When the document last changed (W3C date-time)")
    contact: str = Field(description="Who runs the service")
    key_service: str = Field(description="How to get an API key")
    endpoints: list[Endpoint] = Field(description="The endpoints this jurisdiction serves")


class ServiceInfo(BaseModel):
    """A service: one first-level category of the 12345 taxonomy."""

    service_code: str = Field(
        examples=["environmental-protection"], description="The code to submit a request to it with"
    )
    service_name: str = Field(examples=["环境保护"], description="The category's name in the taxonomy")
    description: str = Field(description="What the service covers")
    metadata: bool = Field(default=False, description="Always false: no service asks for extra attributes")
    type: str = Field(default="batch", description="`batch`: POST requests answers a token")
    keywords: str = Field(description="Second-level categories, comma-separated")
    group: str = Field(description="The group the services share")


class ServiceDefinition(BaseModel):
    """A service definition (no service has extra attributes)."""

    service_code: str = Field(description="The service's code, from GET services")
    attributes: list[dict[str, Any]] = Field(default=[], description="Always empty: no extra attributes")


class TokenReply(BaseModel):
    """The answer to POST requests, and to tokens/{token} (with service_request_id once stored)."""

    token: str | None = Field(default=None, description="The token to look the request up by: its ticket id")
    service_request_id: str | None = Field(
        default=None, description="The request's id (the ticket id), once the workers stored it"
    )
    service_notice: str | None = Field(default=None, description="What happens next, for the citizen")
    account_id: str | None = Field(default=None, description="Not kept: always null")


class ServiceRequest(BaseModel):
    """A stored service request (a ticket)."""

    service_request_id: str = Field(description="The request's id: its ticket id")
    status: str = Field(description="open or closed")
    status_notes: str | None = Field(default=None, description="Not kept: always null")
    service_name: str | None = Field(default=None, description="The name of the service it was submitted to")
    service_code: str | None = Field(default=None, description="The service it was submitted to")
    description: str | None = Field(default=None, description="The complaint's text")
    agency_responsible: str | None = Field(default=None, description="The department it is with")
    service_notice: str | None = Field(default=None, description="Not kept: always null")
    requested_datetime: str | None = Field(default=None, description="When the gateway accepted it (W3C)")
    updated_datetime: str | None = Field(default=None, description="When a worker stored it (W3C)")
    expected_datetime: str | None = Field(default=None, description="Not kept: always null")
    address: str | None = Field(default=None, description="The district and the address, as known")
    address_id: str | None = Field(default=None, description="Not kept: always null")
    zipcode: str | None = Field(default=None, description="Not kept: always null")
    lat: float | None = Field(default=None, description="Latitude as submitted, if any")
    long: float | None = Field(default=None, description="Longitude as submitted, if any")
    media_url: str | None = Field(default=None, description="The photo submitted with it, if any")


class Open311Error(BaseModel):
    """One GeoReport error."""

    code: int = Field(description="The HTTP status code")
    description: str = Field(description="What went wrong")


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
