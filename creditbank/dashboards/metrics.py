"""The bank's business figures for Prometheus, read from the statistics' summary at each scrape.

They are totals held by the database, not counters in a process's memory: every worker and every
instance reports the same values, so in a multi-worker deployment scrape any one (or aggregate with
``max``, never ``sum``). A scrape folds the pending deltas first (:func:`service.refresh`), so it costs
a few milliseconds whatever the size of the bank. When the database cannot answer, the families are
left out and ``creditbank_business_up`` is 0.
"""

import logging
from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import sessionmaker
from sqlmodel import Session

from creditbank.dashboards import service
from creditbank.db import transaction

log = logging.getLogger(__name__)


def _families() -> dict[str, GaugeMetricFamily | CounterMetricFamily]:
    return {
        "up": GaugeMetricFamily("creditbank_business_up", "1 when the business figures below could be read"),
        "accounts": CounterMetricFamily("creditbank_accounts_opened", "Learner accounts opened"),
        "posted": CounterMetricFamily("creditbank_outcomes_posted", "Outcomes posted"),
        "recognised": GaugeMetricFamily(
            "creditbank_outcomes_recognised",
            "Outcomes recognised now (revoked and superseded ones not counted)",
        ),
        "credits": GaugeMetricFamily(
            "creditbank_recognised_credits", "Credits of the outcomes recognised now"
        ),
        "conversions": CounterMetricFamily("creditbank_conversions", "Conversions made"),
        "transfers": CounterMetricFamily("creditbank_transfers", "Transfer requests made"),
        "decided": CounterMetricFamily("creditbank_reviews_decided", "Reviews a reviewer ended"),
        "backlog": GaugeMetricFamily(
            "creditbank_review_backlog", "Outcomes waiting for review, by stage", labels=["stage"]
        ),
    }


class BusinessCollector(Collector):
    """A Prometheus collector of :func:`service.business_totals`."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self.sessions = sessions

    def describe(self) -> Iterator[Metric]:
        # without this, registering the collector would query the database
        return iter(_families().values())

    def collect(self) -> Iterator[Metric]:
        families = _families()
        try:
            for session in transaction(self.sessions):
                totals = service.business_totals(session)
        except DBAPIError as exc:
            log.warning("business figures not read", extra={"fields": {"error": type(exc).__name__}})
            families["up"].add_metric([], 0)
            yield families["up"]
            return
        families["up"].add_metric([], 1)
        families["accounts"].add_metric([], totals.accounts)
        families["posted"].add_metric([], totals.posted)
        families["recognised"].add_metric([], totals.recognised)
        families["credits"].add_metric([], float(totals.recognised_credits))
        families["conversions"].add_metric([], totals.conversions)
        families["transfers"].add_metric([], totals.transfers)
        families["decided"].add_metric([], totals.decided)
        families["backlog"].add_metric(["district"], totals.backlog_district)
        families["backlog"].add_metric(["city"], totals.backlog_city)
        yield from families.values()
