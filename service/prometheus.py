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

    def render(self, store) -> bytes:
        for name, value in store.stats().items():
            self.jobs.labels(name).set(value)
        return generate_latest(self.registry)
