"""The reader registry: every name and its upper-case form resolve; unknown names explain."""

from __future__ import annotations

import pytest

from radar.bom import read_bom_rf3
from radar.fmi import read_fmi_pgm
from radar.interface import detect_format, get_reader, reader_names
from radar.knmi import read_knmi_hdf5
from radar.mch import read_mch_gif
from radar.netcdf import read_netcdf, write_netcdf
from radar.odim import read_odim
from radar.radolan import read_radolan
from radar.radolan_ascii import read_radolan_ascii
from radar.synthetic import synthetic_sequence
from tests.helpers import radolan_bytes

EXPECTED = {
    "radolan": read_radolan,
    "odim": read_odim,
    "netcdf": read_netcdf,
    "radolan-ascii": read_radolan_ascii,
    "knmi-hdf5": read_knmi_hdf5,
    "mch-gif": read_mch_gif,
    "fmi-pgm": read_fmi_pgm,
    "bom-rf3": read_bom_rf3,
}


@pytest.mark.parametrize("name", reader_names())
def test_every_name_and_its_upper_case(name: str) -> None:
    reader = get_reader(name)
    assert reader in EXPECTED.values()
    assert get_reader(name.upper()) is reader


def test_canonical_names() -> None:
    for name, reader in EXPECTED.items():
        assert get_reader(name) is reader


def test_unknown_name_lists_known_ones() -> None:
    with pytest.raises(ValueError, match="unknown radar format 'grib'; known: .*odim.*radolan"):
        get_reader("grib")
    with pytest.raises(TypeError):
        get_reader(3)  # type: ignore[arg-type]


def test_detect_format_from_content() -> None:
    import numpy as np

    assert detect_format(radolan_bytes("RY", np.zeros((4, 4), np.uint16))) == "radolan"
    assert detect_format(write_netcdf(synthetic_sequence(frames=1, height=8, width=8))) == "netcdf"


def test_training_archives_are_detected_by_the_registry(data_dir) -> None:
    """Each foreign archive of ../shared is told apart from ODIM/NetCDF by its content."""
    from radar.sources import load

    radar = data_dir / "pysteps-data" / "radar"
    samples = {
        "knmi-hdf5": next((radar / "KNMI").rglob("*.h5")),
        "mch-gif": next((radar / "mch").rglob("*.gif")),
        "fmi-pgm": next((radar / "fmi").rglob("*.pgm*")),
        "bom-rf3": next((radar / "bom").rglob("*.nc")),
    }
    for expected, path in samples.items():
        blob = load(path)[0]
        assert detect_format(blob.data, blob.name) == expected, path
