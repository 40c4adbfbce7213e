"""The shipped border files: German state borders lie inside Germany, are internal only, and
the chaining of shared edges in ``make_borders`` keeps exactly the edges two states share."""

from __future__ import annotations

import json

import numpy as np

from service.viewer.make_borders import shared_edges, simplify
from service.views import STATE_BORDERS

#: west, south, east, north around Germany.
GERMANY = (5.8, 47.2, 15.1, 55.1)


def test_state_borders_file_is_small_and_inside_germany() -> None:
    assert STATE_BORDERS.stat().st_size < 50_000
    lines = [np.asarray(line) for line in json.loads(STATE_BORDERS.read_text())["lines"]]
    assert len(lines) >= 20 and sum(len(line) for line in lines) > 400
    points = np.concatenate(lines)
    west, south, east, north = GERMANY
    assert (points[:, 0] > west).all() and (points[:, 0] < east).all()
    assert (points[:, 1] > south).all() and (points[:, 1] < north).all()
    assert np.allclose(points, np.round(points, 2))
    # internal borders only: nothing on the North Sea coast west of Cuxhaven
    assert not ((points[:, 1] > 53.5) & (points[:, 0] < 8.5)).any()
    # Berlin is a closed loop inside Brandenburg (around 13.1-13.8 E, 52.3-52.7 N)
    berlin = [line for line in lines if (line[:, 0] > 13.0).all() and (line[:, 0] < 13.8).all()
              and (line[:, 1] > 52.3).all() and (line[:, 1] < 52.7).all()]  # fmt: skip
    assert any(np.array_equal(line[0], line[-1]) for line in berlin)


def test_shared_edges_keeps_only_common_edges() -> None:
    square = lambda x0: [[[x0, 0], [x0 + 1, 0], [x0 + 1, 1], [x0, 1], [x0, 0]]]  # noqa: E731
    lines = shared_edges(
        {"a": {"type": "Polygon", "coordinates": square(0)},
         "b": {"type": "MultiPolygon", "coordinates": [square(1)]}}
    )  # fmt: skip
    assert len(lines) == 1
    assert sorted(map(tuple, lines[0].tolist())) == [(1.0, 0.0), (1.0, 1.0)]


def test_simplify_drops_points_within_tolerance() -> None:
    line = np.array([[0, 0], [1, 0.001], [2, 0], [3, 1], [4, 1.002], [5, 1]], dtype=float)
    assert simplify(line, 0.01).tolist() == [[0, 0], [2, 0], [3, 1], [5, 1]]
