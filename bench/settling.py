"""The soak's single postings as a client sends them, and the judgement of their rate.

A client of the service re-sends a posting answered 503 (the database down or restarting) after the
answer's ``Retry-After``, and one that got no answer (the worker killed under it, a timeout) after a
second, with the same ``Idempotency-Key`` (:func:`tests.support.loadgen.retry_delay`), until it is
settled or it gives up. :class:`Settlements` keeps, per scheduled posting, its attempts and how it
ended, and the re-sends that are due (a heap: a re-send waits for its time without holding a thread);
a posting is re-sent until :data:`RETRY_FOR_S` seconds past its scheduled time, then given up.

:func:`judge_rate` is the soak's rate criterion: single postings acknowledged a second over the whole
run (answers that arrived inside it) at least :data:`MIN_RATE_FRACTION` of the rate asked, and the
median latency from the scheduled time (a posting never settled counts as endless) under
:data:`MAX_MEDIAN_LATENCY_S`, so that a backlog that grows without end fails even when it drains.
"""

import heapq
import math
import statistics
import threading
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

RETRY_FOR_S = 60.0  # a posting is re-sent until this long after its scheduled time
MIN_RATE_FRACTION = 0.95  # of the rate asked, acknowledged a second over the whole run
MAX_MEDIAN_LATENCY_S = 1.0  # the median latency from the scheduled time


@dataclass(slots=True)
class Posting:
    """One scheduled posting: when it was due, its attempts, and how it ended (None: not yet)."""

    at: float  # scheduled time (the clock of the caller)
    attempts: int = 0
    ended: str | None = None  # "acknowledged", "refused <status>", "given up", "not sent", "bench error ..."
    latency_s: float | None = None  # from the scheduled time to the acknowledging answer


@dataclass
class Settlements:
    """Every scheduled posting's fate, and the re-sends waiting for their time. Thread-safe."""

    retry_for_s: float = RETRY_FOR_S
    postings: dict[int, Posting] = field(default_factory=dict)
    _open: int = 0
    _due: list[tuple[float, int]] = field(default_factory=list)  # (when, posting) heap
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def scheduled(self, i: int, at: float) -> None:
        with self._lock:
            self.postings[i] = Posting(at)
            self._open += 1

    def at(self, i: int) -> float:
        """Posting ``i``'s scheduled time."""
        with self._lock:
            return self.postings[i].at

    def _end(self, posting: Posting, how: str) -> None:
        if posting.ended is None:
            posting.ended = how
            self._open -= 1

    def attempted(self, i: int) -> int:
        """Count an attempt of posting ``i``; returns how many it has had."""
        with self._lock:
            posting = self.postings[i]
            posting.attempts += 1
            return posting.attempts

    def acknowledged(self, i: int, now: float) -> None:
        with self._lock:
            posting = self.postings[i]
            self._end(posting, "acknowledged")
            posting.latency_s = now - posting.at

    def refused(self, i: int, status: int) -> None:
        with self._lock:
            self._end(self.postings[i], f"refused {status}")

    def failed(self, i: int, what: str) -> None:
        """Posting ``i`` ended by the bench's own error (``what``), not by an answer."""
        with self._lock:
            self._end(self.postings[i], f"bench error {what}")

    def retry(self, i: int, now: float, delay_s: float) -> bool:
        """Re-send posting ``i`` in ``delay_s`` seconds, unless that is past its bound (then it is
        given up: False)."""
        with self._lock:
            posting = self.postings[i]
            if now + delay_s > posting.at + self.retry_for_s:
                self._end(posting, "given up")
                return False
            heapq.heappush(self._due, (now + delay_s, i))
            return True

    def too_late(self, i: int, now: float) -> bool:
        """Whether posting ``i``, about to be sent, is past its bound (then it is marked not sent)."""
        with self._lock:
            posting = self.postings[i]
            if now <= posting.at + self.retry_for_s:
                return False
            self._end(posting, "not sent" if posting.attempts == 0 else "given up")
            return True

    def due(self, now: float) -> list[int]:
        """The postings whose re-send time has come, taken off the heap."""
        out = []
        with self._lock:
            while self._due and self._due[0][0] <= now:
                out.append(heapq.heappop(self._due)[1])
        return out

    def next_due(self) -> float:
        with self._lock:
            return self._due[0][0] if self._due else math.inf

    def waiting(self) -> int:
        """Re-sends not yet due."""
        with self._lock:
            return len(self._due)

    def open(self) -> int:
        """Postings scheduled and not yet ended."""
        with self._lock:
            return self._open

    def summary(self) -> dict[str, Any]:
        """How the scheduled postings ended, how many needed a re-send, and the attempts in all."""
        with self._lock:
            postings = list(self.postings.values())
        ends = Counter(p.ended or "open" for p in postings)
        return {
            "scheduled": len(postings),
            "ended": dict(sorted(ends.items())),
            "settled": ends["acknowledged"],
            "needed_a_retry": sum(1 for p in postings if p.attempts > 1),
            "acknowledged_after_a_retry": sum(
                1 for p in postings if p.attempts > 1 and p.ended == "acknowledged"
            ),
            "attempts": sum(p.attempts for p in postings),
            "most_attempts": max((p.attempts for p in postings), default=0),
        }

    def latencies(self) -> list[float]:
        """Per scheduled posting, seconds from its scheduled time to its acknowledgement; a posting
        not acknowledged counts as endless."""
        with self._lock:
            return [math.inf if p.latency_s is None else p.latency_s for p in self.postings.values()]


@dataclass(frozen=True)
class RateCheck:
    """The rate criterion's figures and verdict."""

    asked_per_s: float
    achieved_per_s: float
    median_latency_s: float
    min_fraction: float = MIN_RATE_FRACTION
    max_median_s: float = MAX_MEDIAN_LATENCY_S

    @property
    def rate_passes(self) -> bool:
        return self.achieved_per_s >= self.min_fraction * self.asked_per_s

    @property
    def latency_passes(self) -> bool:
        return self.median_latency_s < self.max_median_s

    @property
    def passes(self) -> bool:
        return self.rate_passes and self.latency_passes

    def summary(self) -> dict[str, Any]:
        median = self.median_latency_s
        return {
            "asked_per_s": self.asked_per_s,
            "achieved_per_s": self.achieved_per_s,
            "fraction": self.achieved_per_s / self.asked_per_s if self.asked_per_s else None,
            "min_fraction": self.min_fraction,
            "median_latency_s": None if math.isinf(median) else median,
            "max_median_latency_s": self.max_median_s,
            "rate_passes": self.rate_passes,
            "latency_passes": self.latency_passes,
            "passes": self.passes,
        }


def judge_rate(
    answered_at_s: Sequence[float],
    latencies_s: Sequence[float],
    *,
    duration_s: float,
    asked_per_s: float,
    min_fraction: float = MIN_RATE_FRACTION,
    max_median_s: float = MAX_MEDIAN_LATENCY_S,
) -> RateCheck:
    """The rate criterion over a run of ``duration_s`` seconds. ``answered_at_s``: when each
    acknowledgement arrived, in seconds from the run's start (those after its end do not count);
    ``latencies_s``: per scheduled posting, seconds from its scheduled time to its acknowledgement
    (``math.inf`` for one never acknowledged)."""
    achieved = sum(1 for at in answered_at_s if 0.0 <= at <= duration_s) / duration_s
    median = statistics.median(latencies_s) if latencies_s else math.inf
    return RateCheck(asked_per_s, achieved, median, min_fraction, max_median_s)
