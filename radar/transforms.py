"""radar.transforms: Z-R laws and the model's pixel transform.

The pixel transform is the one of the MS-RNN paper (REFERENCE.md §5)::

    R [mm/h] -> Z = a * R**b -> dBZ = 10 log10 Z -> P = clip((dBZ + 10) / 70, 0, 1)

with a = 256, b = 1.42 and R = 0 -> P = 0. P = 1 is 60 dBZ (about 338 mm/h). NaN (no data)
stays NaN in both directions; callers decide how to fill it before a model sees it.

The same Z-R law converts reflectivity products (RX, WX, EX, ...) to rain rate, so that a
reflectivity composite and a rain composite end in the same ``rainfall_rate`` variable.
"""

from __future__ import annotations

import numpy as np

#: Z = ZR_A * R ** ZR_B, the law of the MS-RNN paper (and close to DWD's RADOLAN default).
ZR_A = 256.0
ZR_B = 1.42
DBZ_MIN = -10.0
DBZ_RANGE = 70.0
#: Name written into model metadata for this transform.
PIXEL_TRANSFORM = "dbz_pixel_256_1.42"


def dbz_to_rain(dbz: np.ndarray, a: float = ZR_A, b: float = ZR_B) -> np.ndarray:
    """Convert reflectivity in dBZ to rain rate in mm/h through Z = a R^b."""
    dbz = np.asarray(dbz, dtype=np.float32)
    z = np.power(np.float32(10.0), dbz / np.float32(10.0))
    return np.power(z / np.float32(a), np.float32(1.0 / b)).astype(np.float32)


def rain_to_dbz(rain: np.ndarray, a: float = ZR_A, b: float = ZR_B) -> np.ndarray:
    """Convert rain rate in mm/h to dBZ; R = 0 gives -inf."""
    rain = np.asarray(rain, dtype=np.float32)
    with np.errstate(divide="ignore"):
        return (10.0 * np.log10(a * np.power(rain, b))).astype(np.float32)


def rain_to_pixel(rain: np.ndarray) -> np.ndarray:
    """Map rain rate (mm/h) to the model's pixel space [0, 1]; NaN stays NaN."""
    rain = np.asarray(rain, dtype=np.float32)
    dbz = rain_to_dbz(np.maximum(rain, 0.0))
    pixel = np.clip((dbz - DBZ_MIN) / DBZ_RANGE, 0.0, 1.0)
    pixel = np.where(rain > 0, pixel, 0.0)
    return np.where(np.isnan(rain), np.nan, pixel).astype(np.float32)


def pixel_to_rain(pixel: np.ndarray) -> np.ndarray:
    """Inverse of :func:`rain_to_pixel`: pixel 0 (and below) is no rain; NaN stays NaN."""
    pixel = np.asarray(pixel, dtype=np.float32)
    dbz = np.clip(pixel, 0.0, 1.0) * DBZ_RANGE + DBZ_MIN
    rain = dbz_to_rain(dbz)
    rain = np.where(pixel > 0, rain, 0.0)
    return np.where(np.isnan(pixel), np.nan, rain).astype(np.float32)


#: Reflectivity below this is treated as no rain (0.05 mm/h under Z = 256 R^1.42).
NO_RAIN_DBZ = 5.0


def reflectivity_to_rain(dbz: np.ndarray) -> np.ndarray:
    """Z-R rain rate of a radar product's dBZ field: below :data:`NO_RAIN_DBZ` no rain, NaN
    stays NaN (float32)."""
    with np.errstate(invalid="ignore"):
        rain = np.where(dbz < NO_RAIN_DBZ, 0.0, dbz_to_rain(dbz)).astype(np.float32)
    rain[np.isnan(dbz)] = np.nan
    return rain
