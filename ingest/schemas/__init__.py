"""Pydantic models of what crosses a boundary: submissions in, records on the bus, events out."""
