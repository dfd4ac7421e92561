"""`/metrics` in the Prometheus text format; the only importer of prometheus_client.

Every value is read from the store when scraped (nothing is counted in memory, so every
`serve` process answers the same, and a restart loses nothing). Names start `publisher_`.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Iterator

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from .config import Settings
from .health import heartbeat
from .store import Database
from .store import articles as article_store
from .store import deliveries as delivery_store
from .store import observe
from .store import subscribers as subscriber_store

CONTENT_TYPE = CONTENT_TYPE_LATEST
RATE_WINDOW = 60.0  # seconds over which messages per second are averaged
DELIVERY_STATES = ("queued", "sending", "sent", "failed")


class _Snapshot:
    """A collector over one reading of the store."""

    def __init__(self, engine: Database, settings: Settings, now: datetime) -> None:
        with engine.connect() as conn:
            self.articles = article_store.count_articles(conn)
            self.feeds = observe.feed_count(conn)
            self.deliveries = {s: 0 for s in DELIVERY_STATES}
            self.deliveries.update(delivery_store.count_by_state(conn))
            self.sent_recently = observe.sent_since(conn, now - timedelta(seconds=RATE_WINDOW))
            self.events = observe.mail_event_totals(conn)
            self.subscribers: dict[str, int] = {}
            for (status, _cadence), n in subscriber_store.count_by(conn).items():
                self.subscribers[status] = self.subscribers.get(status, 0) + n
            self.stage_success = observe.last_stage_success(conn)
            oldest = observe.oldest_unfinished(conn)
            self.heartbeat = heartbeat(conn, settings, now)
        self.lag = 0.0 if oldest is None else max(0.0, (now - oldest).total_seconds())

    def collect(self) -> Iterator[Metric]:
        yield _gauge("articles", "Articles published (not withdrawn).", self.articles)
        yield _gauge("feeds", "Feeds written (site, categories, authors; each as Atom, RSS and "
                     "JSON Feed).", self.feeds)
        by_state = GaugeMetricFamily("publisher_deliveries", "Digest deliveries by state.",
                                     labels=["state"])
        for state, n in sorted(self.deliveries.items()):
            by_state.add_metric([state], n)
        yield by_state
        yield CounterMetricFamily("publisher_messages_sent", "Digest messages sent (accepted by "
                                  "the server or written to the outbox).",
                                  value=self.deliveries.get("sent", 0))
        yield _gauge("messages_sent_per_second", f"Messages sent per second over the last "
                     f"{RATE_WINDOW:g} s.", self.sent_recently / RATE_WINDOW)
        bounces = CounterMetricFamily("publisher_bounces", "Bounces recorded, by kind.",
                                      labels=["kind"])
        bounces.add_metric(["hard"], self.events.get("hard_bounce", 0))
        bounces.add_metric(["soft"], self.events.get("soft_bounce", 0))
        yield bounces
        yield CounterMetricFamily("publisher_complaints", "Spam complaints recorded.",
                                  value=self.events.get("complaint", 0))
        subscribers = GaugeMetricFamily("publisher_subscribers", "Subscribers by status.",
                                        labels=["status"])
        for status, n in sorted(self.subscribers.items()):
            subscribers.add_metric([status], n)
        yield subscribers
        success = GaugeMetricFamily(
            "publisher_last_success_timestamp_seconds",
            "End of the newest pass in which the stage succeeded (Unix time).", labels=["stage"])
        for stage, moment in sorted(self.stage_success.items()):
            success.add_metric([stage], moment.timestamp())
        yield success
        yield _gauge("digest_lag_seconds", "Age of the oldest digest delivery still waiting to "
                     "be sent (0: none waiting).", self.lag)
        beat = self.heartbeat
        if beat.last_pass is not None:
            yield _gauge("last_pass_timestamp_seconds", "End of the newest pass of the daemon "
                         "or tick (Unix time): the heartbeat.", beat.last_pass.timestamp())
        yield _gauge("daemon_healthy", "1 unless the newest pass is older than 3 scan "
                     "intervals.", 1.0 if beat.healthy else 0.0)


def _gauge(name: str, documentation: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(f"publisher_{name}", documentation, value=value)


def metrics_text(engine: Database, settings: Settings, now: datetime) -> bytes:
    """The metrics page, read from the store now."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Snapshot(engine, settings, now))  # type: ignore[arg-type]
    return generate_latest(registry)
