"""service.auth: API keys (hashed at rest, in Redis), and per-key rate limits and quotas.

A key is ``nk_`` + 32 random bytes (URL-safe), shown once when created and sent as
``Authorization: Bearer <key>``. Redis keeps only its SHA-256 (a fast hash is enough: the key
is random, not a password, so there is nothing to guess from a dictionary) with the key's
name, creation time and limits, in one hash ``{prefix}apikeys``. ``nowcast keys`` creates,
lists and revokes them.

Keys are required when the gateway listens beyond localhost (``NOWCAST_API_KEYS=auto``, the
default, resolved by ``nowcast serve`` from ``--host``), or always (``required``), or never
(``off``). Limits are the ``limits`` library's, on the same Redis: a moving window of requests
per key on every protected route, and a fixed-window quota of ``POST /nowcast`` per key;
over either the answer is 429 with ``Retry-After``.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import math
import secrets
import time
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from service.errors import ApiError
from service.guards import KEY_RECORD
from workers.seam import Settings, now_iso


def key_digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # a host name: it may resolve to anything
        return False


def resolve_api_keys(setting: str, host: str) -> str:
    """``auto`` becomes ``required`` for a listener beyond localhost, ``off`` on loopback."""
    if setting != "auto":
        return setting
    return "off" if is_loopback(host) else "required"


@dataclass
class KeyStore:
    """API keys in Redis: ``{prefix}apikeys`` maps SHA-256 of a key to its record (JSON)."""

    redis: object  # redis.Redis
    prefix: str

    @property
    def _hash(self) -> str:
        return f"{self.prefix}apikeys"

    def create(self, name: str, rate: str | None = None, quota: str | None = None) -> str:
        """A new key named ``name``; returns the key itself (it is not stored)."""
        if any(r["name"] == name for r in self.list()):
            raise ValueError(f"a key named {name!r} exists; revoke it first")
        for limit in (rate, quota):
            if limit:
                _parse(limit)  # refuse a bad limit now, not at the first request
        key = "nk_" + secrets.token_urlsafe(32)
        digest = key_digest(key)
        record = {"id": digest[:12], "name": name, "created": now_iso(), "rate": rate,
                  "quota": quota}  # fmt: skip
        self.redis.hset(self._hash, digest, json.dumps(record))
        return key

    def list(self) -> list[dict]:
        return sorted(
            (json.loads(v) for v in self.redis.hgetall(self._hash).values()),
            key=lambda r: r["created"],
        )

    def revoke(self, name_or_id: str) -> bool:
        for digest, raw in self.redis.hgetall(self._hash).items():
            record = json.loads(raw)
            if name_or_id in (record["name"], record["id"]):
                return bool(self.redis.hdel(self._hash, digest))
        return False

    def lookup(self, key: str) -> dict | None:
        raw = self.redis.hget(self._hash, key_digest(key))
        return json.loads(raw) if raw else None


def _parse(limit: str):
    from limits import parse

    try:
        return parse(limit)
    except ValueError as exc:
        raise ValueError(f"not a rate limit: {limit!r} (write e.g. 120/minute)") from exc


class Guard:
    """The keys and limiters of one gateway process (built with the app state)."""

    def __init__(self, settings: Settings, redis_client, api_keys: str):
        # ``auto`` left unresolved (the app built by a test or a script, not `nowcast serve`)
        # means a local listener
        self.mode = resolve_api_keys(api_keys, "127.0.0.1")
        self.settings = settings
        if self.mode == "off":
            return
        if redis_client is None:
            raise RuntimeError(
                "API keys are required (the gateway listens beyond localhost) and live in "
                "Redis: set REDIS_URL, or listen on 127.0.0.1, or set NOWCAST_API_KEYS=off"
            )
        from limits.storage import RedisStorage
        from limits.strategies import FixedWindowRateLimiter, MovingWindowRateLimiter

        self.keys = KeyStore(redis_client, settings.key_prefix)
        storage = RedisStorage(
            "redis://", connection_pool=redis_client.connection_pool,
            key_prefix=f"{settings.key_prefix}limits",
        )  # fmt: skip
        self.rate = MovingWindowRateLimiter(storage)
        self.quota = FixedWindowRateLimiter(storage)

    def authorize(self, request: Request) -> dict | None:
        """The caller's key record (None when keys are off); 401 or 429 otherwise."""
        if self.mode == "off":
            return None
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        record = self.keys.lookup(token.strip()) if scheme.lower() == "bearer" else None
        if record is None:
            raise ApiError(
                401,
                "unauthorized",
                "send a valid API key as 'Authorization: Bearer <key>' (nowcast keys create)",
                headers={"WWW-Authenticate": "Bearer"},
            )
        self._limit(self.rate, record.get("rate") or self.settings.rate_limit, record,
                    "rate_limited", "requests")  # fmt: skip
        return record

    def charge_job(self, record: dict | None) -> None:
        """Count one ``POST /nowcast`` against the key's quota."""
        if record is not None:
            self._limit(self.quota, record.get("quota") or self.settings.quota, record,
                        "quota_exceeded", "nowcast requests")  # fmt: skip

    def _limit(self, limiter, limit: str, record: dict, code: str, what: str) -> None:
        item = _parse(limit)
        if limiter.hit(item, code, record["id"]):
            return
        reset = limiter.get_window_stats(item, code, record["id"]).reset_time
        wait = max(1, math.ceil(reset - time.time()))
        raise ApiError(
            429,
            code,
            f"key {record['name']!r}: more than {limit} {what}; retry in {wait} s",
            headers={"Retry-After": str(wait)},
        )


def authorize(request: Request) -> dict | None:
    """The caller's key record: checked already by :class:`service.guards.KeyGuard` for
    requests with a body (counted once), here for the others."""
    state = request.scope.get("state", {})
    if KEY_RECORD in state:
        return state[KEY_RECORD]
    return request.app.state.guard.authorize(request)


KeyDep = Annotated[dict | None, Depends(authorize)]


def charge_job(request: Request, record: KeyDep) -> dict | None:
    request.app.state.guard.charge_job(record)
    return record
