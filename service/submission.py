"""service.submission: submit a nowcast request (idempotently) and describe jobs to clients."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from workers.seam import JobStore, ModelInfo, Runner, now_iso
from workers.seam import job_id as content_id


def is_stale(job: dict, stale_after: float, now: datetime | None = None) -> bool:
    """A queued or running job older than ``stale_after`` seconds (the task time limit) has
    lost its message or its worker: no live run can still be on it."""
    if job["status"] not in ("queued", "running"):
        return False
    since = job.get("started") or job["created"]
    age = ((now or datetime.now(UTC)) - datetime.fromisoformat(since)).total_seconds()
    return age > stale_after


def submit(
    store: JobStore,
    runner: Runner,
    files: list[tuple[str, bytes]],
    model: ModelInfo,
    steps: int,
    summarize: Callable[[], dict],
    stale_after: float,
) -> tuple[dict, bool]:
    """Create (or find) the job for this request; returns (job, cached).

    The id is the content hash of frames, model (name and version) and parameters, so the
    same request while the job runs, or after it succeeded and before its result expired,
    returns the existing job and computes nothing. A failed job, one whose result expired, or
    a stale one (:func:`is_stale`) is started again under the same id. Creation and
    replacement are single atomic steps in the store; only the request that won one enqueues,
    so identical concurrent requests make one job and one message.

    ``summarize`` checks the frames and returns their summary (product, grid, count; it
    raises on bad input): called only when a job is to be made. A found job was made from
    these very bytes, model and parameters, so they passed the same checks then; checking
    again would be most of a cache hit's time for compressed frames (decompressing four
    RADOLAN RY frames costs tens of ms).
    """
    jid = content_id(
        (data for _, data in files), model.name, model.meta.get("version", ""), {"steps": steps}
    )
    existing = store.get(jid)
    if existing and (
        (existing["status"] in ("queued", "running") and not is_stale(existing, stale_after))
        or (existing["status"] == "succeeded" and store.has_result(jid))
    ):
        store.incr("cache_hits")
        return existing, True
    summary = summarize()
    job = {
        "id": jid,
        "status": "queued",
        "progress": 0.0,
        "model": model.name,
        "steps": steps,
        "frames": summary["frames"],
        "input_grid": summary["grid"],
        "product": summary["product"],
        "created": now_iso(),
        "started": None,
        "finished": None,
        "error": None,
        "compute_seconds": None,
        "result_bytes": None,
    }
    won = store.replace(job, files, existing) if existing else store.create(job, files)
    if not won:  # another request created or replaced it a moment ago
        store.incr("cache_hits")
        return store.get(jid) or job, True
    try:
        runner.submit(jid)
    except Exception:
        # not queued: end the record so that the client's retry replaces it (if Redis is too
        # far gone for this write as well, the job turns stale and is replaced then)
        try:
            store.update(jid, status="failed", error="could not be queued; send it again")
        finally:
            raise
    store.incr("submitted")
    return job, False


def public(job: dict, cached: bool = False) -> dict:
    """A job record as ``JobPublic``: with its URL, links and whether it was cached."""
    url = f"/jobs/{job['id']}"
    links = {"self": url, "result": f"{url}/result" if job["status"] == "succeeded" else None}
    return {**job, "status_url": url, "cached": cached, "links": links}
