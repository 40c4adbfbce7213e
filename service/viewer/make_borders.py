"""Build ``static/borders.json`` (country borders of Europe) from Natural Earth via world-atlas.

The viewer draws borders without any network at run time, so the geometry ships with the
service. It comes from the npm package ``world-atlas`` (Natural Earth 1:50m countries as
TopoJSON, ISC licence; Natural Earth itself is public domain), prepared once with::

    npm pack world-atlas@2.0.2 && tar xzf world-atlas-2.0.2.tgz
    python -m service.viewer.make_borders package/countries-50m.json

Each TopoJSON arc is a border or coast drawn once; the arcs touching the box around the DWD
and MeteoSwiss grids are kept as lon/lat polylines rounded to 0.01 degrees (about 1 km).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

#: west, south, east, north: the DWD European grid and the MeteoSwiss grid fit inside.
BOX = (-12.0, 40.0, 32.0, 62.0)
OUT = Path(__file__).parent / "static" / "borders.json"


def decode_arcs(topo: dict) -> list[np.ndarray]:
    """TopoJSON arcs (quantised, delta-encoded) as arrays of lon/lat."""
    scale = np.asarray(topo["transform"]["scale"], dtype=float)
    shift = np.asarray(topo["transform"]["translate"], dtype=float)
    return [np.cumsum(np.asarray(arc, dtype=float), axis=0) * scale + shift for arc in topo["arcs"]]


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
    main(sys.argv[1])
