"""service.prometheus: Prometheus metrics of the gateway plus the job counters kept in the store.

The counters in the store (computations, cache hits, failures) are shared by every worker and
gateway process, so they are read from there at scrape time instead of being kept per process.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "nowcast_requests",
            "POST /nowcast answered, by outcome",
            ["outcome"],
            registry=self.registry,
        )
        self.jobs = Gauge(
            "nowcast_jobs_total",
            "Job counters shared through the store",
            ["counter"],
            registry=self.registry,
        )

        self.feed_age = Gauge(
            "nowcast_feed_age_seconds",
            "Age of the feed's newest frame and nowcast (from their UTC nominal time)",
            ["what"],
            registry=self.registry,
        )
        self.feed_stale = Gauge(
            "nowcast_feed_stale",
            "1 when the feed's newest nowcast is stale",
            registry=self.registry,
        )
        self.feed_counts = Gauge(
            "nowcast_feed_total",
            "Feed counters shared through the store (listings, downloads, refused, poll_errors)",
            ["counter"],
            registry=self.registry,
        )

    def render(self, store, feed: dict | None = None) -> bytes:
        for name, value in store.stats().items():
            self.jobs.labels(name).set(value)
        if feed:
            for what in ("frame", "nowcast"):
                age = feed[f"newest_{what}_age_seconds"]
                self.feed_age.labels(what).set(float("nan") if age is None else age)
            self.feed_stale.set(1 if feed["stale"] else 0)
            for name, value in feed["counters"].items():
                self.feed_counts.labels(name).set(value)
        return generate_latest(self.registry)
