"""Open311 responses in the format the path asks for (`.json` or `.xml`), errors as GeoReport v2 says."""

from __future__ import annotations

from typing import Any, Literal
from xml.sax.saxutils import escape

from starlette.responses import Response

from app.problems import refusal_headers, refusal_status, render
from app.refusals import InvalidSubmission, SubmissionRefused

Format = Literal["json", "xml"]
JSON_TYPE = "application/json"
XML_TYPE = "text/xml"
# Singular element names of the lists that appear in Open311 XML.
_ITEM = {
    "endpoints": "endpoint",
    "formats": "format",
    "attributes": "attribute",
    "values": "value",
    "keywords": "keyword",
}


def _xml_value(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    # XML 1.0 cannot carry most control characters even escaped; they never come from validated input.
    text = str(value)
    return escape("".join(ch for ch in text if ch >= " " or ch in "\t\n\r"))


def _element(name: str, value: Any) -> str:
    if isinstance(value, dict):
        inner = "".join(_element(k, v) for k, v in value.items())
    elif isinstance(value, list | tuple):
        item = _ITEM.get(name, "item")
        inner = "".join(_element(item, v) for v in value)
    else:
        inner = _xml_value(value)
    return f"<{name}>{inner}</{name}>"


def to_xml(root: str, item: str | None, data: Any) -> bytes:
    """`data` as an Open311 XML document: a list becomes `<root><item>…</item>…</root>`."""
    if isinstance(data, list):
        body = f"<{root}>" + "".join(_element(item or "item", entry) for entry in data) + f"</{root}>"
    else:
        body = _element(root, data)
    return ('<?xml version="1.0" encoding="UTF-8"?>\n' + body).encode("utf-8", "replace")


def respond(
    fmt: str,
    data: Any,
    root: str,
    item: str | None = None,
    *,
    status: int = 200,
    headers: dict[str, str] | None = None,
) -> Response:
    """`data` as JSON, or as XML under `root` (each list entry as `item`)."""
    if fmt == "xml":
        return Response(to_xml(root, item, data), status_code=status, media_type=XML_TYPE, headers=headers)
    return render(data, status, headers, JSON_TYPE)


def error(fmt: str, status: int, description: str, headers: dict[str, str] | None = None) -> Response:
    """An Open311 error: `[{"code": …, "description": …}]`, or `<errors><error>…</error></errors>`."""
    return respond(
        fmt, [{"code": status, "description": description}], "errors", "error", status=status, headers=headers
    )


def refusal(fmt: str, refused: SubmissionRefused) -> Response:
    """A refusal of the submission service as a GeoReport error: the JSON API's status and headers, but 400
    for invalid input (GeoReport's status for it)."""
    if isinstance(refused, InvalidSubmission):
        # Named by the form's fields, each with what is wrong with it.
        described = "; ".join(f"{e['field']}: {e['message']}" for e in refused.errors)
        return error(fmt, 400, f"invalid field(s): {described}", refusal_headers(refused))
    return error(fmt, refusal_status(refused), refused.detail, refusal_headers(refused))
