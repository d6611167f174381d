"""`python -m judgement_lab.divisions_build [--source china_location.zip]`: regenerate the divisions.

The names and hierarchy come from jionlp's `dictionary/china_location.zip` (Apache-2.0, maintained; measured
against cpca and addressparser in docs/judgement.md, "Places"): a tab-indented tree province → city → county →
township (街道/乡镇/地区) → community or village. The workers do not import jionlp (271 MB installed with its
segmenter, 4 ms per message); this script reads its data file, found through the installed package (`pip
install jionlp`, any Python) or given with --source, and writes three CSV files beside this module:

- divisions.csv: every province, prefecture-level city and county-level division (level, adcode, name, short
  name, parent adcode), all of China but Taiwan (whose entries carry no codes);
- beijing_streets.csv: Beijing's 街道 / 乡镇 / 地区 with their district;
- beijing_communities.csv: Beijing's 社区 and 村 with their street and district.

beijing_areas.csv (well-known areas that are not a street's name, 国贸 → 朝阳区) is kept by hand.
"""

from __future__ import annotations

import argparse
import csv
import importlib.util
import io
import zipfile
from pathlib import Path

from workers.judgement.divisions import HERE

DIVISIONS = HERE / "divisions.csv"
BEIJING_STREETS = HERE / "beijing_streets.csv"
BEIJING_COMMUNITIES = HERE / "beijing_communities.csv"
BEIJING = "北京市"


def jionlp_source() -> Path:
    """The data file inside an installed jionlp."""
    spec = importlib.util.find_spec("jionlp")
    if spec is None or spec.origin is None:
        raise SystemExit("jionlp is not installed here: pip install jionlp, or pass --source")
    return Path(spec.origin).parent / "dictionary" / "china_location.zip"


def read_tree(source: Path) -> list[tuple[int, list[str]]]:
    """(depth, tab-separated fields) per non-empty line of china_location.txt."""
    with zipfile.ZipFile(source) as zf:
        text = io.TextIOWrapper(zf.open("china_location.txt"), encoding="utf-8").read()
    out: list[tuple[int, list[str]]] = []
    for line in text.splitlines():
        if line.strip():
            out.append((len(line) - len(line.lstrip("\t")), line.strip().split("\t")))
    return out


def build(source: Path) -> tuple[list[list[str]], list[list[str]], list[list[str]]]:
    """Rows of the three tables (without headers)."""
    divisions: list[list[str]] = []
    streets: list[list[str]] = []
    communities: list[list[str]] = []
    parents: list[list[str]] = [[], [], [], [], []]
    for depth, fields in read_tree(source):
        if depth <= 2:
            if len(fields) != 3:  # Taiwan's counties have no code: left out
                parents[depth] = []
                continue
            name, code, short = fields
            parent = parents[depth - 1][1] if depth and parents[depth - 1] else ""
            divisions.append([("province", "city", "district")[depth], code, name, short, parent])
        parents[depth] = fields
        province = parents[0][0] if parents[0] else ""
        if province != BEIJING or depth < 3 or not parents[2]:
            continue
        district = parents[2][0]
        if depth == 3:
            streets.append([district, fields[0]])
        elif depth == 4 and parents[3]:
            communities.append([district, parents[3][0], fields[0]])
    return divisions, sorted(streets), sorted(communities)


def _write(path: Path, header: list[str], rows: list[list[str]]) -> None:
    with path.open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(header)
        w.writerows(rows)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument(
        "--source", type=Path, help="jionlp's china_location.zip (default: the installed package's)"
    )
    args = ap.parse_args(argv)
    divisions, streets, communities = build(args.source or jionlp_source())
    _write(DIVISIONS, ["level", "adcode", "name", "short", "parent"], divisions)
    _write(BEIJING_STREETS, ["district", "street"], streets)
    _write(BEIJING_COMMUNITIES, ["district", "street", "community"], communities)
    print(
        f"{len(divisions)} divisions, {len(streets)} Beijing streets, {len(communities)} Beijing communities"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
