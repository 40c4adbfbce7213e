"""workers.engine: run an ONNX nowcast model on a canonical radar sequence, without torch.

The model file follows DESIGN.md §4: input ``frames`` [batch, t_in, 1, H, W] and output
``forecast`` [batch, t_out, 1, H, W] in pixel space, with ``metadata_props`` saying everything
else. :class:`Engine` does the work around the network so that any DWD grid can be sent:

1. take the latest ``t_in`` frames (NaN -> 0 for the network, coverage kept aside);
2. block-mean to the model's resolution (``resolution_m``), transform to pixel space;
3. pad to the model's stride, run onnxruntime (CUDA provider when present, else CPU),
   roll out autoregressively when more steps are asked than the model emits;
4. crop, back to mm/h, interpolate to the input grid, mask outside the radar coverage.

One :class:`Engine` holds one onnxruntime session; create it once per process (after any fork).
What it knows of the file is the same :class:`workers.catalog.ModelInfo` the gateway lists; its
errors are :class:`EngineError` (a :class:`models.errors.ModelError`).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable

import numpy as np
import pandas as pd
import xarray as xr

from models.errors import ModelError
from radar.canonical import check_sequence, make_sequence
from radar.grids import coarsen, dataset_crs, pad_to_multiple, pixel_size, refine_array
from radar.motion import MOTION_GRIDS
from radar.transforms import PIXEL_TRANSFORM, pixel_to_rain, rain_to_pixel
from workers.catalog import ModelInfo

#: Environment variable for the device: ``auto`` (CUDA when available), ``cuda`` or ``cpu``.
DEVICE_ENV = "NOWCAST_DEVICE"


class EngineError(ModelError):
    """A model file cannot serve (unloadable, unknown inputs) or cannot serve these frames."""


#: CUDA provider options: cuDNN picks convolution algorithms by heuristic instead of timing
#: every one (exhaustive search repeats for each new grid size, which the service sees many
#: of), and the memory arena grows by what is asked, up to a bound, instead of doubling.
CUDA_OPTIONS = {
    "cudnn_conv_algo_search": "HEURISTIC",
    "arena_extend_strategy": "kSameAsRequested",
    "gpu_mem_limit": str(int(os.environ.get("NOWCAST_GPU_MEM_LIMIT_MB", "6144")) * 2**20),
}


def choose_providers(device: str | None = None) -> list:
    """onnxruntime providers for ``device`` (``auto`` prefers CUDA when it is available).
    Asking for CUDA first loads the CUDA and cuDNN libraries of the pip wheels
    (``onnxruntime.preload_dlls``), which the provider does not find by itself."""
    import onnxruntime as ort

    device = (device or os.environ.get(DEVICE_ENV, "auto")).lower()
    available = ort.get_available_providers()
    if device == "cpu":
        return ["CPUExecutionProvider"]
    if device == "cuda" and "CUDAExecutionProvider" not in available:
        raise RuntimeError(
            "NOWCAST_DEVICE=cuda but onnxruntime has no CUDA provider (install onnxruntime-gpu)"
        )
    if device in ("cuda", "auto") and "CUDAExecutionProvider" in available:
        if hasattr(ort, "preload_dlls"):
            ort.preload_dlls()
        return [("CUDAExecutionProvider", CUDA_OPTIONS), "CPUExecutionProvider"]
    return ["CPUExecutionProvider"]


def check_providers(session, device: str | None = None) -> list[str]:
    """The providers ``session`` really uses; with ``cuda`` asked, refuse a session that fell
    back to the CPU (onnxruntime does so silently when a CUDA or cuDNN library is missing)."""
    used = list(session.get_providers())
    device = (device or os.environ.get(DEVICE_ENV, "auto")).lower()
    if device == "cuda" and "CUDAExecutionProvider" not in used:
        raise EngineError(
            f"NOWCAST_DEVICE=cuda but the session runs on {', '.join(used)}: the CUDA provider "
            "did not load (CUDA 12 / cuDNN 9 libraries missing or no GPU visible?)"
        )
    return used


#: What may follow the network: ``cdf-match`` gives every lead the value distribution of the
#: last observed frame (pysteps' empirical CDF matching, as S-PROG does), which undoes the
#: shrinking and fading of rain areas that an MSE-type loss teaches under uncertainty.
#: ``frame-cdf-match`` names the same matching done inside the graph, in the last input's frame
#: of reference before each lead is moved to the map (S-PROG's order, ``models.advection``):
#: the engine leaves such a graph's output as it is, and it cannot be switched on or off here.
POSTPROCESSING = ("none", "cdf-match", "frame-cdf-match")
IN_GRAPH = ("frame-cdf-match",)


def match_distribution(forecast: np.ndarray, observed: np.ndarray) -> np.ndarray:
    """Each frame of ``forecast`` (steps, y, x) with the empirical distribution of
    ``observed`` (y, x), ranks kept: the k-th smallest forecast pixel takes the k-th smallest
    observed value, and pixels at the frame's minimum (no rain) stay dry, as in pysteps'
    ``nonparam_match_empirical_cdf``. Written as one sort per frame because pysteps' version
    took 4.7 s for a 24-step DE1200 nowcast at 2 km, this one about 0.6 s; a test checks that
    both agree. Dry observed frames leave the forecast as it is."""
    if not (observed > 0).any():
        return forecast
    target = np.sort(observed.ravel()).astype(forecast.dtype)
    flat = forecast.reshape(forecast.shape[0], -1)
    out = np.empty_like(flat)
    for k, frame in enumerate(flat):
        order = np.argsort(frame)
        out[k, order] = target
        out[k, frame <= frame[order[0]]] = target[0]
    return out.reshape(forecast.shape)


def _lap(timings: dict[str, float] | None, phase: str, start: float) -> float:
    """Add the seconds since ``start`` to ``timings[phase]`` (if recording); return now."""
    now = time.perf_counter()
    if timings is not None:
        timings[phase] = timings.get(phase, 0.0) + now - start
    return now


class Engine:
    """One model, one onnxruntime session, and the grid handling around it."""

    def __init__(
        self,
        path: str | os.PathLike,
        device: str | None = None,
        threads: int | None = None,
        postprocess: str | None = None,
    ):
        import onnxruntime as ort

        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
        try:
            self.session = ort.InferenceSession(
                str(path), sess_options=options, providers=choose_providers(device)
            )
        except Exception as exc:
            raise EngineError(f"{path}: not a loadable ONNX model ({exc})") from None
        self.providers = check_providers(self.session, device)  # what it really runs on
        self.info = ModelInfo.from_metadata(
            dict(self.session.get_modelmeta().custom_metadata_map), str(path)
        )
        self.inputs = [i.name for i in self.session.get_inputs()]
        unknown = set(self.inputs) - {"frames", "motion"}
        if unknown:
            raise EngineError(f"{path}: the graph asks for unknown inputs {sorted(unknown)}")
        if self.info.transform != PIXEL_TRANSFORM:
            raise EngineError(f"{path}: unknown transform {self.info.transform!r}")
        # the model's own choice (metadata) unless the caller overrides it (evaluation)
        own = self.info.meta.get("postprocess", "none")
        self.postprocess = postprocess or own
        if self.postprocess not in POSTPROCESSING:
            raise EngineError(
                f"unknown postprocessing {self.postprocess!r}; known: {', '.join(POSTPROCESSING)}"
            )
        if self.postprocess != own and (own in IN_GRAPH or self.postprocess in IN_GRAPH):
            raise EngineError(
                f"{path}: the graph does {own!r}, so it cannot run with {self.postprocess!r} "
                f"({', '.join(IN_GRAPH)} is part of the graph, chosen by nowcast export)"
            )
        self.motion_grid = self.info.meta.get("motion_grid", "model")
        if self.motion_grid not in MOTION_GRIDS:
            known = ", ".join(MOTION_GRIDS)
            raise EngineError(f"{path}: unknown motion_grid {self.motion_grid!r}; known: {known}")

    @property
    def needs_motion(self) -> bool:
        """True for advection-aware models (a second graph input ``motion``, DESIGN.md §4)."""
        return "motion" in self.inputs

    def motion(self, pixels: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
        """Motion [1, 2, H, W] for the graph, estimated from [t, h, w] pixels as the model's
        metadata says and padded (edge values) to ``shape``."""
        return self._motion(pixel_to_rain(pixels), shape)

    def input_motion(self, rain: np.ndarray, factor: int, shape: tuple[int, int]) -> np.ndarray:
        """Motion [1, 2, H, W] for the graph from [t, h, w] mm/h on the input grid, ``factor``
        times finer than the model's (``motion_grid`` = ``input``): tracked there, with the
        interpolation nodes as far apart in metres as on the model grid, then block-meaned."""
        return self._motion(np.nan_to_num(rain, nan=0.0), shape, factor)

    def _motion(self, rain: np.ndarray, shape: tuple[int, int], factor: int = 1) -> np.ndarray:
        from radar.motion import coarsen_motion, estimate_motion

        meta = self.info.meta
        frames = int(meta.get("motion_frames", 3))
        field = estimate_motion(
            rain[-frames:],
            meta.get("motion_method", "lk"),
            frames,
            int(meta.get("motion_coarsen", 1)),
            int(meta.get("motion_interp_step", 1)) * factor,
        )
        field = coarsen_motion(field, factor)
        rows, cols = field.shape[-2:]
        field = np.pad(field, ((0, 0), (0, shape[0] - rows), (0, shape[1] - cols)), mode="edge")
        return field[None].astype(np.float32)

    def run_pixels(self, frames: np.ndarray, motion: np.ndarray | None = None) -> np.ndarray:
        """Run the network once: [B, t_in, 1, H, W] pixels (and motion [B, 2, H, W] for an
        advection-aware model) -> [B, t_out, 1, H, W] pixels."""
        feed = {"frames": np.ascontiguousarray(frames, dtype=np.float32)}
        if self.needs_motion:
            if motion is None:
                raise EngineError(f"model {self.info.name} needs a motion field")
            feed["motion"] = np.ascontiguousarray(motion, dtype=np.float32)
        out = self.session.run(["forecast"], feed)[0]
        return np.clip(out, 0.0, 1.0)

    def forecast_pixels(
        self,
        frames: np.ndarray,
        steps: int,
        progress: Callable[[float], None] | None = None,
        valid: tuple[int, int] | None = None,
        motion: np.ndarray | None = None,
    ) -> np.ndarray:
        """[t_in, H, W] pixels (H, W multiples of the stride) -> [steps, H, W], rolling out
        autoregressively when ``steps`` exceeds the model's ``t_out``. ``valid`` (rows, cols)
        is the unpadded part motion is estimated on (default: all); ``motion`` [1, 2, H, W],
        when given, is the first run's (the rollout's runs estimate theirs from the forecast)."""
        t_in = self.info.t_in
        rows, cols = valid or frames.shape[-2:]
        history = list(frames[-t_in:])
        produced: list[np.ndarray] = []
        while len(produced) < steps:
            window = np.stack(history[-t_in:])[None, :, None]
            if self.needs_motion and (produced or motion is None):
                recent = np.stack(history[-t_in:])[:, :rows, :cols]
                motion = self.motion(recent, frames.shape[-2:])
            out = self.run_pixels(window, motion)[0, :, 0]
            produced.extend(out)
            history.extend(out)
            if progress:
                progress(min(1.0, len(produced) / steps))
        return np.stack(produced[:steps])

    def warm_up(self) -> float:
        """One small nowcast (64 x 64 synthetic frames, one step), so that the session's first
        run (arena, kernels; cuDNN's algorithm search on a GPU) is not a user's job; seconds."""
        from radar.synthetic import synthetic_sequence

        start = time.perf_counter()
        ds = synthetic_sequence(frames=self.info.t_in, height=64, width=64,
                                pixel_m=self.info.resolution_m,
                                cadence_minutes=int(self.info.cadence_minutes))  # fmt: skip
        self.predict(ds, steps=1)
        return time.perf_counter() - start

    def predict(
        self,
        ds: xr.Dataset,
        steps: int | None = None,
        progress: Callable[[float], None] | None = None,
        timings: dict[str, float] | None = None,
    ) -> xr.Dataset:
        """Nowcast ``steps`` frames (default: the model's ``t_out``) on the grid of ``ds``.

        ``timings``, when given, receives the seconds spent in ``prepare`` (checks, regrid to
        the model grid), ``inference`` (motion and onnxruntime) and ``regrid`` (back to mm/h
        on the input grid).
        """
        clock = time.perf_counter()
        check_sequence(ds)
        info = self.info
        steps = steps or info.t_out
        if steps < 1:
            raise EngineError("steps must be at least 1")
        info.check_times(ds["time"].values[-info.t_in :])  # the frames the network gets
        recent = ds.isel(time=slice(-info.t_in, None))
        coverage = np.isfinite(recent["rainfall_rate"].values[-1])
        factor = max(1, int(round(info.resolution_m / pixel_size(ds))))
        coarse = coarsen(recent[["rainfall_rate"]].fillna(0.0), factor)
        pixels = rain_to_pixel(np.nan_to_num(coarse["rainfall_rate"].values, nan=0.0))
        padded, (rows, cols) = pad_to_multiple(pixels, info.stride)
        clock = _lap(timings, "prepare", clock)
        motion = None
        if self.needs_motion and self.motion_grid == "input":
            motion = self.input_motion(recent["rainfall_rate"].values, factor, padded.shape[-2:])
        out = self.forecast_pixels(padded, steps, progress, (rows, cols), motion)[:, :rows, :cols]
        if self.postprocess == "cdf-match":
            out = match_distribution(out, pixels[-1])
        clock = _lap(timings, "inference", clock)
        rain = pixel_to_rain(out)
        rain[rain < 0.01] = 0.0  # the network's near-zero haze is no rain
        if factor > 1:
            x, y = coarse["x"].values, coarse["y"].values
            fine = refine_array(rain, x, y, ds["x"].values, ds["y"].values)
        else:
            fine = rain
        np.copyto(fine, np.float32(np.nan), where=~coverage)  # in place: fine is ours
        ref = pd.Timestamp(recent["time"].values[-1])
        times = [ref + pd.Timedelta(minutes=info.cadence_minutes * (k + 1)) for k in range(steps)]
        attrs = {
            key: ds.attrs[key]
            for key in ("source_product", "institution", "attribution")
            if key in ds.attrs
        }
        attrs.update(
            title="precipitation nowcast",
            source=f"ms-nowcast model {info.name} (onnxruntime, {self.providers[0]})",
            model_name=info.name,
            model_version=info.meta.get("version", ""),
            model_resolution_m=info.resolution_m,
            source_format="nowcast",
            accutime_minutes=info.cadence_minutes,
        )
        result = make_sequence(
            fine,
            times,
            ds["x"].values,
            ds["y"].values,
            dataset_crs(ds),
            attrs,
            forecast_reference_time=ref,
        )
        _lap(timings, "regrid", clock)
        return result
