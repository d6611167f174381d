"""The Open311 service list: the first-level categories of the 12345 taxonomy, with stable ASCII codes.

The list is committed as `services.json` beside this module (category names only; the taxonomy's names may be
committed, its messages may not), so the gateway needs nothing outside the repository at run time.
`python -m app.open311.catalogue <taxonomy.csv>` regenerates it from `../shared/data/taxonomy.csv`;
a test checks that the committed file still matches the taxonomy.
"""

from __future__ import annotations

import csv
import json
import sys
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

SERVICES_FILE = Path(__file__).with_name("services.json")
GROUP = "12345"

# Codes are part of the public contract: never renumber, only add.
CODES = {
    "城乡建设": "urban-rural-construction",
    "环境保护": "environmental-protection",
    "交通运输": "transport",
    "商贸旅游": "commerce-tourism",
    "劳动和社会保障": "labour-social-security",
    "教育文体": "education-culture-sports",
    "卫生计生": "health-family-planning",
    "民政": "civil-affairs",
    "国土资源": "land-resources",
    "农村农业": "agriculture-rural",
    "经济管理": "economic-management",
    "科技与信息产业": "science-technology-it",
    "政法": "public-security-justice",
    "党务政务": "party-government-affairs",
    "纪检监察": "discipline-inspection",
}


@dataclass(frozen=True)
class Service:
    """One Open311 service: a first-level category."""

    code: str
    name: str
    description: str
    keywords: tuple[str, ...]


def build(taxonomy_csv: Path) -> list[dict[str, object]]:
    """The service list of a taxonomy file (一级分类, 二级分类, 三级分类), in taxonomy order."""
    second: dict[str, list[str]] = {}
    with taxonomy_csv.open(encoding="utf-8-sig", newline="") as handle:
        for row in csv.DictReader(handle):
            first, sub = row["一级分类"].strip(), row["二级分类"].strip()
            names = second.setdefault(first, [])
            if sub and sub not in names:
                names.append(sub)
    missing = [name for name in second if name not in CODES]
    if missing:
        raise ValueError(f"categories without a service code: {', '.join(missing)}; add them to CODES")
    return [
        {
            "service_code": CODES[name],
            "service_name": name,
            "description": f"{name}：{'、'.join(subs)}",
            "keywords": subs,
        }
        for name, subs in second.items()
    ]


@lru_cache(maxsize=1)
def services() -> tuple[Service, ...]:
    """The committed service list."""
    raw = json.loads(SERVICES_FILE.read_text(encoding="utf-8"))
    return tuple(
        Service(s["service_code"], s["service_name"], s["description"], tuple(s["keywords"])) for s in raw
    )


def by_code(code: str) -> Service | None:
    """The service with this code."""
    return next((s for s in services() if s.code == code), None)


def by_name(name: str | None) -> Service | None:
    """The service of a category name."""
    return next((s for s in services() if s.name == name), None) if name else None


if __name__ == "__main__":
    source = Path(sys.argv[1]) if len(sys.argv) > 1 else Path("../shared/data/taxonomy.csv")
    SERVICES_FILE.write_text(json.dumps(build(source), ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {SERVICES_FILE}")
