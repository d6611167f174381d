"""Department routing from a table kept as data (routing.csv beside this module): category × district."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

# Inside the package, so an installed worker (the Docker image) finds it too.
DEFAULT_ROUTING_PATH = Path(__file__).resolve().parent / "routing.csv"
ANY = "*"  # a row for any known district; "{district}" in its department is replaced by the district
UNKNOWN = ""  # the row used when the district is unknown


@dataclass(frozen=True)
class RoutingTable:
    """Lookup order: (category, district) exact, (category, *), then (category, unknown), then the same three
    for category *, so that an unknown category or district still reaches a department."""

    rows: dict[tuple[str, str], str]

    @classmethod
    def load(cls, path: Path | None = None) -> RoutingTable:
        """Read the CSV (columns category, district, department)."""
        with (path or DEFAULT_ROUTING_PATH).open(encoding="utf-8", newline="") as fh:
            rows = {
                (r["category"].strip(), r["district"].strip()): r["department"].strip()
                for r in csv.DictReader(fh)
            }
        if (ANY, UNKNOWN) not in rows:
            raise ValueError("routing table needs a fallback row: category '*', empty district")
        return cls(rows)

    def department(self, category: str | None, district: str | None) -> str:
        """The department for a category and (possibly unknown) district."""
        d = (district or "").strip()
        for cat in (category or ANY, ANY):
            if d and (cat, d) in self.rows:
                return self.rows[(cat, d)]
            if d and (cat, ANY) in self.rows:
                return self.rows[(cat, ANY)].replace("{district}", d)
            if (cat, UNKNOWN) in self.rows:
                return self.rows[(cat, UNKNOWN)]
        return self.rows[(ANY, UNKNOWN)]
