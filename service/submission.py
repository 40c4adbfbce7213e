"""service.submission: submit a nowcast request (idempotently) and describe jobs to clients."""

from __future__ import annotations

from workers.seam import JobStore, ModelInfo, Runner, now_iso
from workers.seam import job_id as content_id


def submit(
    store: JobStore,
    runner: Runner,
    files: list[tuple[str, bytes]],
    model: ModelInfo,
    steps: int,
    summary: dict,
) -> tuple[dict, bool]:
    """Create (or find) the job for this request; returns (job, cached).

    The id is the content hash of frames, model (name and version) and parameters, so the
    same request while the job runs, or after it succeeded and before its result expired,
    returns the existing job and computes nothing. A failed job, or one whose result expired,
    is started again under the same id.
    """
    jid = content_id(
        (data for _, data in files), model.name, model.meta.get("version", ""), {"steps": steps}
    )
    existing = store.get(jid)
    if existing and (
        existing["status"] in ("queued", "running")
        or (existing["status"] == "succeeded" and store.has_result(jid))
    ):
        store.incr("cache_hits")
        return existing, True
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
    if existing:
        store.replace(job, files)
    elif not store.create(job, files):  # another request created it a moment ago
        store.incr("cache_hits")
        return store.get(jid), True
    store.incr("submitted")
    runner.submit(jid)
    return job, False


def public(job: dict, cached: bool = False) -> dict:
    """A job record as ``JobPublic``: with its URL, links and whether it was cached."""
    url = f"/jobs/{job['id']}"
    links = {"self": url, "result": f"{url}/result" if job["status"] == "succeeded" else None}
    return {**job, "status_url": url, "cached": cached, "links": links}
