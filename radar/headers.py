"""radar.headers: what a file holds (format, product, times, grid) without decoding its data.

Used where a full decode would be wasted work: the gateway's validation of uploads (answered
at once with a 4xx) and the index of a training archive. The full decode happens later in
:mod:`radar.interface`; both paths check the frames with the same
:func:`radar.sequence.check_frames`.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

from radar.exceptions import FormatError, SizeLimitError
from radar.hdf5 import DAMAGED, attr_text
from radar.interface import detect_format
from radar.sources import MAX_ARCHIVE_MEMBERS, Blob


@dataclass(frozen=True)
class FrameInfo:
    """Metadata of one file or archive member."""

    name: str
    format: str
    product: str
    times: tuple[pd.Timestamp, ...]
    shape: tuple[int, int]
    #: what must agree between frames of one sequence: the shape from headers; the decoded
    #: frames of :func:`radar.sequence.combine` add origin and spacing
    grid: tuple = ()


def _odim(blob: Blob) -> FrameInfo:
    import h5py

    try:
        with h5py.File(io.BytesIO(blob.data), "r") as h5:
            what = h5["what"].attrs
            where = h5["where"].attrs
            data_what = h5["dataset1/data1/what"].attrs
            ds_what = h5["dataset1/what"].attrs if "dataset1/what" in h5 else {}
            when = pd.Timestamp(f"{attr_text(what['date'])}T{attr_text(what['time'])}")
            shape = (int(where["ysize"]), int(where["xsize"]))
            quantity = attr_text(data_what.get("quantity", b"?"))
            product = quantity
            if ds_what:
                product = attr_text(ds_what.get("prodname", quantity)).split("_")[0]
    except DAMAGED as exc:  # an infinite size, too (OverflowError: found by fuzzing)
        raise FormatError(f"{blob.name}: unreadable ODIM_H5 metadata ({exc})") from None
    lead = re.search(r"_(\d{3})-hd5$", blob.name)
    if lead:  # RADVOR members: the file time is the analysis, the name gives the lead
        when = when + pd.Timedelta(minutes=int(lead.group(1)))
    return FrameInfo(blob.name, "odim", product, (when,), shape)


def _netcdf(blob: Blob) -> FrameInfo:
    import xarray as xr

    engine = "scipy" if blob.data[:3] == b"CDF" else "h5netcdf"
    try:
        with xr.open_dataset(io.BytesIO(blob.data), engine=engine, decode_times=False) as ds:
            name = "time" if "time" in ds.coords else "t"
            # before the times are decoded: a million of them took seconds (fuzzing)
            if ds[name].size > MAX_ARCHIVE_MEMBERS:
                raise SizeLimitError(f"{blob.name}: more than {MAX_ARCHIVE_MEMBERS} frames")
            decoded = xr.decode_cf(ds[[name]])[name].values
            times = tuple(pd.Timestamp(t) for t in np.atleast_1d(decoded))
            shape = (int(ds.sizes["y"]), int(ds.sizes["x"]))
            product = str(ds.attrs.get("source_product", "netcdf"))
    except SizeLimitError:
        raise
    except Exception as exc:  # xarray raises many types for damaged files
        raise FormatError(f"{blob.name}: unreadable NetCDF ({type(exc).__name__}: {exc})") from None
    return FrameInfo(blob.name, "netcdf", product, times, shape)


def describe(blob: Blob) -> FrameInfo:
    """Format, product, valid times and grid shape of one decompressed file."""
    fmt = detect_format(blob.data, blob.name)
    if fmt == "radolan":
        from radar.radolan import parse_header

        header = parse_header(blob.data, blob.name)
        lead = int(header.get("predictiontime", 0) or 0)
        when = pd.Timestamp(header["datetime"]) + pd.Timedelta(minutes=lead)
        return FrameInfo(
            blob.name,
            fmt,
            header["producttype"],
            (when,),
            (int(header["nrow"]), int(header["ncol"])),
        )
    if fmt == "odim":
        return _odim(blob)
    if fmt == "netcdf":
        return _netcdf(blob)
    # small formats: a full read is as cheap as a header read
    from radar.interface import read_blob

    ds = read_blob(blob, fmt)
    return FrameInfo(
        blob.name,
        fmt,
        ds.attrs.get("source_product", fmt),
        tuple(pd.Timestamp(t) for t in ds["time"].values),
        (int(ds.sizes["y"]), int(ds.sizes["x"])),
    )
