"""workers.store: job records, their input frames and results, in Redis or in memory.

Both the gateway (create, read) and the workers (inputs, progress, result) use this; it needs
only redis-py, so neither side imports more than it must. Keys (with the configured prefix)::

    job:{id}      hash of the job record (JSON values), TTL = job TTL
    input:{id}    hash  "k:name" -> raw bytes of the k-th uploaded file, deleted after the run
    result:{id}   the result NetCDF bytes, TTL = result TTL
    stats         hash of counters (submitted, computations, cache_hits, failures)

Job ids are content hashes (:func:`workers.seam.job_id`), so the same request maps to the same
job. The gateway reaches this module through :mod:`workers.seam`.
"""

from __future__ import annotations

import json
import threading
import time
from typing import Protocol


class JobStore(Protocol):
    """What the gateway and the job function use; :class:`RedisJobStore` and
    :class:`MemoryJobStore` implement it."""

    def create(self, job: dict, inputs: list[tuple[str, bytes]]) -> bool: ...
    def replace(self, job: dict, inputs: list[tuple[str, bytes]]) -> None: ...
    def get(self, job_id: str) -> dict | None: ...
    def update(self, job_id: str, **fields) -> None: ...
    def inputs(self, job_id: str) -> list[tuple[str, bytes]]: ...
    def drop_inputs(self, job_id: str) -> None: ...
    def set_result(self, job_id: str, data: bytes) -> None: ...
    def result(self, job_id: str) -> bytes | None: ...
    def has_result(self, job_id: str) -> bool: ...
    def incr(self, counter: str, amount: int = 1) -> None: ...
    def stats(self) -> dict[str, int]: ...
    def ping(self) -> bool: ...


class RedisJobStore:
    """The job store of a deployment: every gateway and worker process shares it."""

    def __init__(
        self, url: str, prefix: str = "nowcast:", job_ttl: int = 86400, result_ttl: int = 21600
    ):
        import redis

        self.redis = redis.Redis.from_url(
            url, socket_timeout=10, socket_connect_timeout=5, health_check_interval=30
        )
        self.prefix = prefix
        self.job_ttl = job_ttl
        self.result_ttl = result_ttl

    def _key(self, kind: str, job_id: str = "") -> str:
        return f"{self.prefix}{kind}:{job_id}" if job_id else f"{self.prefix}{kind}"

    def create(self, job: dict, inputs: list[tuple[str, bytes]]) -> bool:
        """Store a new job and its inputs; False (and nothing written) if the id exists."""
        key = self._key("job", job["id"])
        if not self.redis.hsetnx(key, "id", json.dumps(job["id"])):
            return False
        pipe = self.redis.pipeline(transaction=True)
        pipe.hset(key, mapping={k: json.dumps(v) for k, v in job.items()})
        pipe.expire(key, self.job_ttl)
        in_key = self._key("input", job["id"])
        pipe.delete(in_key)
        if inputs:
            pipe.hset(
                in_key, mapping={f"{k}:{name}": data for k, (name, data) in enumerate(inputs)}
            )
            pipe.expire(in_key, self.job_ttl)
        pipe.execute()
        return True

    def replace(self, job: dict, inputs: list[tuple[str, bytes]]) -> None:
        """Start a job again under its id (after a failure or an expired result)."""
        self.redis.delete(self._key("job", job["id"]), self._key("result", job["id"]))
        self.create(job, inputs)

    def get(self, job_id: str) -> dict | None:
        raw = self.redis.hgetall(self._key("job", job_id))
        return {k.decode(): json.loads(v) for k, v in raw.items()} if raw else None

    def update(self, job_id: str, **fields) -> None:
        key = self._key("job", job_id)
        if self.redis.exists(key):
            self.redis.hset(key, mapping={k: json.dumps(v) for k, v in fields.items()})

    def inputs(self, job_id: str) -> list[tuple[str, bytes]]:
        raw = self.redis.hgetall(self._key("input", job_id))
        items = sorted(
            ((int(k.split(b":", 1)[0]), k.split(b":", 1)[1].decode(), v) for k, v in raw.items())
        )
        return [(name, data) for _, name, data in items]

    def drop_inputs(self, job_id: str) -> None:
        self.redis.delete(self._key("input", job_id))

    def set_result(self, job_id: str, data: bytes) -> None:
        self.redis.set(self._key("result", job_id), data, ex=self.result_ttl)

    def result(self, job_id: str) -> bytes | None:
        return self.redis.get(self._key("result", job_id))

    def has_result(self, job_id: str) -> bool:
        return bool(self.redis.exists(self._key("result", job_id)))

    def incr(self, counter: str, amount: int = 1) -> None:
        self.redis.hincrby(self._key("stats"), counter, amount)

    def stats(self) -> dict[str, int]:
        return {k.decode(): int(v) for k, v in self.redis.hgetall(self._key("stats")).items()}

    def ping(self) -> bool:
        try:
            return bool(self.redis.ping())
        except Exception:  # any connection problem means "not ready"
            return False


class MemoryJobStore:
    """The embedded default: one process, jobs and results in memory, expired by TTL."""

    def __init__(self, job_ttl: int = 86400, result_ttl: int = 21600):
        self.job_ttl = job_ttl
        self.result_ttl = result_ttl
        self._jobs: dict[str, tuple[float, dict]] = {}
        self._inputs: dict[str, list[tuple[str, bytes]]] = {}
        self._results: dict[str, tuple[float, bytes]] = {}
        self._stats: dict[str, int] = {}
        self._lock = threading.Lock()

    def _expire(self) -> None:
        now = time.monotonic()
        for store in (self._jobs, self._results):
            for key in [k for k, (until, _) in store.items() if until < now]:
                del store[key]
                self._inputs.pop(key, None)

    def create(self, job: dict, inputs: list[tuple[str, bytes]]) -> bool:
        with self._lock:
            self._expire()
            if job["id"] in self._jobs:
                return False
            self._jobs[job["id"]] = (time.monotonic() + self.job_ttl, dict(job))
            self._inputs[job["id"]] = list(inputs)
            return True

    def replace(self, job: dict, inputs: list[tuple[str, bytes]]) -> None:
        with self._lock:
            self._jobs.pop(job["id"], None)
            self._results.pop(job["id"], None)
        self.create(job, inputs)

    def get(self, job_id: str) -> dict | None:
        with self._lock:
            self._expire()
            entry = self._jobs.get(job_id)
            return dict(entry[1]) if entry else None

    def update(self, job_id: str, **fields) -> None:
        with self._lock:
            if job_id in self._jobs:
                self._jobs[job_id][1].update(fields)

    def inputs(self, job_id: str) -> list[tuple[str, bytes]]:
        with self._lock:
            return list(self._inputs.get(job_id, []))

    def drop_inputs(self, job_id: str) -> None:
        with self._lock:
            self._inputs.pop(job_id, None)

    def set_result(self, job_id: str, data: bytes) -> None:
        with self._lock:
            self._results[job_id] = (time.monotonic() + self.result_ttl, data)

    def result(self, job_id: str) -> bytes | None:
        with self._lock:
            self._expire()
            entry = self._results.get(job_id)
            return entry[1] if entry else None

    def has_result(self, job_id: str) -> bool:
        return self.result(job_id) is not None

    def incr(self, counter: str, amount: int = 1) -> None:
        with self._lock:
            self._stats[counter] = self._stats.get(counter, 0) + amount

    def stats(self) -> dict[str, int]:
        with self._lock:
            return dict(self._stats)

    def ping(self) -> bool:
        return True
