"""Compare Chinese address libraries (cpca, jionlp, addressparser) with workers.judgement.address on the
real-style messages of tests/unit/places_real.jsonl: province, city, district and street accuracy, and time
per message. Libraries that are not installed are skipped; the project's own module always runs.

    python -m venv /tmp/places && /tmp/places/bin/pip install cpca jionlp addressparser six ahocorasick-rs
    PYTHONPATH=. /tmp/places/bin/python scripts/compare_place_libraries.py

(addressparser 0.2.4 imports `six` without declaring it.) The libraries are measured on the text as one
string: district field, address field, title and content. Rows in the contest's codes are left out of the
libraries' figures (they cannot know them) and reported for the project's module alone.
"""

from __future__ import annotations

import argparse
import importlib
import json
import math
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO / "tests" / "unit" / "places_real.jsonl"
MUNICIPALITIES = ("北京市", "上海市", "天津市", "重庆市")
Parsed = dict[str, str | None]


def _clean(value: Any) -> str | None:
    if value is None or (isinstance(value, float) and math.isnan(value)) or value in ("", "市辖区"):
        return None
    return str(value)


def _frame_parser(module: Any) -> Callable[[str], Parsed]:
    """cpca and addressparser: transform([text]) → a DataFrame with 省, 市, 区."""

    def parse(text: str) -> Parsed:
        row = module.transform([text]).iloc[0]
        province, city = _clean(row["省"]), _clean(row["市"])
        if city is None and province in MUNICIPALITIES:
            city = province
        return {"province": province, "city": city, "district": _clean(row["区"]), "street": None}

    return parse


def _jionlp_parser(module: Any) -> Callable[[str], Parsed]:
    def parse(text: str) -> Parsed:
        r = module.parse_location(text, town_village=True)
        return {
            "province": _clean(r.get("province")),
            "city": _clean(r.get("city")),
            "district": _clean(r.get("county")),
            "street": _clean(r.get("town")),
        }

    return parse


def _ours() -> Callable[[dict[str, Any]], Parsed]:
    sys.path.insert(0, str(REPO))
    from workers.judgement.address import locate

    def parse(row: dict[str, Any]) -> Parsed:
        p = locate(row["title"], row["content"], row.get("district_field"), row.get("address_field"))
        return {
            "province": p.province,
            "city": p.city,
            "district": p.district,
            "street": p.street,
            "site": p.site,
            "building": p.building,
        }

    return parse


def _text(row: dict[str, Any]) -> str:
    parts = (row.get("district_field"), row.get("address_field"), row["title"], row["content"])
    return " ".join(p for p in parts if p)


def score(rows: list[dict[str, Any]], results: list[Parsed]) -> dict[str, Any]:
    """Accuracy per field; district split by whether the message names it; wrong districts given where the
    message names none."""
    out: dict[str, Any] = {"n": len(rows)}
    for field in ("province", "city"):
        out[field] = _acc([r["gold"][field] == p[field] for r, p in zip(rows, results, strict=True)])
    for label, named in (("district_named", True), ("district_implied", False)):
        pairs = [
            (r, p)
            for r, p in zip(rows, results, strict=True)
            if r["gold"]["district"] and r["gold"]["named"] is named
        ]
        out[label] = _acc([r["gold"]["district"] == p["district"] for r, p in pairs])
    none = [p for r, p in zip(rows, results, strict=True) if not r["gold"]["district"]]
    out["district_given_where_none"] = f"{sum(p['district'] is not None for p in none)}/{len(none)}"
    streets = [(r, p) for r, p in zip(rows, results, strict=True) if r["gold"]["street"]]
    out["street"] = _acc([r["gold"]["street"] == p["street"] for r, p in streets])
    for field in ("site", "building"):
        if all(field in p for p in results):
            out[field] = _acc([r["gold"][field] == p[field] for r, p in zip(rows, results, strict=True)])
    return out


def _acc(flags: list[bool]) -> str:
    return f"{sum(flags)}/{len(flags)} = {sum(flags) / len(flags):.3f}" if flags else "-"


def _timed(
    parse: Callable[[Any], Parsed], inputs: list[Any], repeat: int
) -> tuple[list[Parsed], float, float]:
    t = time.perf_counter()
    results = [parse(inputs[0])]
    first = time.perf_counter() - t
    best = math.inf
    for _ in range(repeat):
        t = time.perf_counter()
        results = [parse(x) for x in inputs]
        best = min(best, time.perf_counter() - t)
    return results, first, best / len(inputs) * 1e6


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--repeat", type=int, default=5, help="passes over the messages; the fastest counts")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    rows = [json.loads(line) for line in args.data.read_text(encoding="utf-8").splitlines() if line.strip()]
    real = [r for r in rows if not r["id"].startswith("c")]
    coded = [r for r in rows if r["id"].startswith("c")]
    report: dict[str, Any] = {}
    for name, make in (("cpca", _frame_parser), ("addressparser", _frame_parser), ("jionlp", _jionlp_parser)):
        t = time.perf_counter()
        try:
            module = importlib.import_module(name)
        except ImportError as e:
            report[name] = {"skipped": f"not installed ({e})"}
            continue
        import_s = time.perf_counter() - t
        results, first, us = _timed(make(module), [_text(r) for r in real], args.repeat)
        report[name] = score(real, results) | {
            "import_s": round(import_s, 2),
            "first_call_s": round(first, 3),
        }
        report[name]["us_per_message"] = round(us, 1)
    t = time.perf_counter()
    ours = _ours()
    results, first, us = _timed(ours, real, args.repeat)
    report["jiesu"] = score(real, results) | {"import_s": round(time.perf_counter() - t - first, 2)}
    report["jiesu"] |= {"first_call_s": round(first, 3), "us_per_message": round(us, 1)}
    coded_results = [ours(r) for r in coded]
    report["jiesu"]["contest_codes"] = _acc(
        [
            (r["gold"]["city"], r["gold"]["district"]) == (p["city"], p["district"])
            for r, p in zip(coded, coded_results, strict=True)
        ]
    )
    if args.json:
        print(json.dumps(report, ensure_ascii=False, indent=1))
        return 0
    keys = sorted(
        {k for v in report.values() for k in v},
        key=lambda k: list(report["jiesu"]).index(k) if k in report["jiesu"] else 99,
    )
    print("| | " + " | ".join(report) + " |")
    print("|---" * (len(report) + 1) + "|")
    for k in keys:
        print(f"| {k} | " + " | ".join(str(v.get(k, "")) for v in report.values()) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
