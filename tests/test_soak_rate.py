"""The soak's rate criterion (``bench/settling.py``) on synthetic series: single postings acknowledged a
second over the run at least 95 % of the rate asked, and the median latency from the scheduled time
under a second; it fails on the figures of the runs that fell short. And the re-sends: a posting
answered 503 or not answered is sent again until it settles or its bound passes."""

import math
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent.parent / "bench"
if str(BENCH) not in sys.path:
    sys.path.insert(0, str(BENCH))

from phases import phases, read_rates  # noqa: E402
from settling import RETRY_FOR_S, Settlements, judge_rate  # noqa: E402


def steady(rate: float, start: float, end: float, latency: float) -> tuple[list[float], list[float]]:
    """Acknowledgements at ``rate`` a second scheduled from ``start`` to ``end``, each ``latency``
    seconds after its scheduled time: (answer times, latencies)."""
    n = round((end - start) * rate)
    at = [start + i / rate for i in range(n)]
    return [a + latency for a in at], [latency] * n


def test_a_run_that_keeps_up_passes() -> None:
    answered, latencies = steady(100, 0, 1800, 0.05)
    check = judge_rate(answered, latencies, duration_s=1800, asked_per_s=100)
    assert check.passes and check.rate_passes and check.latency_passes
    assert abs(check.achieved_per_s - 100) < 0.01 and check.median_latency_s == 0.05


def test_the_last_full_soak_fails() -> None:
    # 2026-12-06 05:45: 23.5 single postings a second acknowledged of the 100 asked, the open loop's
    # backlog growing all the way (each answer later than the one before), the rest never answered
    n = round(23.5 * 1800)
    answered = [i / 23.5 for i in range(n)]
    latencies = [a - i / 100 for i, a in enumerate(answered)] + [math.inf] * (180_000 - n)
    check = judge_rate(answered, latencies, duration_s=1800, asked_per_s=100)
    assert abs(check.achieved_per_s - 23.5) < 0.01
    assert not check.rate_passes and not check.latency_passes and not check.passes
    assert check.summary()["median_latency_s"] is None  # endless: more than half never answered


def test_the_morning_trial_fails_on_its_rate() -> None:
    # 07:01-07:08: 90.0/s before the kill (144 s), 84.6/s after (216 s), the 2,996 answered 503
    # dropped; each acknowledged one fast
    before, lat_before = steady(90.0, 0, 144, 0.2)
    after, lat_after = steady(84.6, 144, 360, 0.2)
    latencies = lat_before + lat_after + [math.inf] * 2996
    check = judge_rate(before + after, latencies, duration_s=360, asked_per_s=100)
    assert 86 < check.achieved_per_s < 87
    assert check.latency_passes and not check.rate_passes and not check.passes


def test_a_backlog_that_drains_fails_on_its_latency() -> None:
    # every posting acknowledged within the run, but the first half waited up to 60 s and more than
    # half waited over a second: the rate holds, the median does not
    scheduled = [i / 100 for i in range(18_000)]
    latencies = [1.5 + 58.5 * i / 9000 if i < 9000 else 1.2 for i in range(18_000)]
    answered = [s + lat for s, lat in zip(scheduled, latencies, strict=True)]
    check = judge_rate(answered, latencies, duration_s=180, asked_per_s=100)
    assert check.rate_passes  # 17,999 of 18,000 answered inside the run
    assert check.median_latency_s > 1.0 and not check.latency_passes and not check.passes


def test_answers_after_the_end_do_not_count_and_95_percent_is_enough() -> None:
    answered, _ = steady(95, 0, 100, 0.0)  # 9,500 answers inside the 100 s
    latencies = [0.1] * len(answered)
    assert judge_rate(answered, latencies, duration_s=100, asked_per_s=100).passes
    late = [a + 100 for a in answered[:10]]  # ten answers after the run's end
    check = judge_rate(answered[10:] + late, latencies, duration_s=100, asked_per_s=100)
    assert check.achieved_per_s < 95 and not check.passes


def test_a_posting_is_re_sent_until_acknowledged_or_its_bound_passes() -> None:
    book = Settlements(retry_for_s=60)
    for i in range(4):
        book.scheduled(i, at=10.0)
    assert book.open() == 4
    # 0: answered 503, re-sent after its Retry-After of 5 s, then acknowledged
    book.attempted(0)
    assert book.retry(0, now=10.1, delay_s=5)
    assert book.due(14.0) == [] and book.next_due() == 15.1
    assert book.due(15.2) == [0]
    book.attempted(0)
    book.acknowledged(0, now=15.3)
    # 1: no answer each time, re-sent every second until 60 s past its time, then given up
    now = 10.0
    while True:
        book.attempted(1)
        now += 1.0  # each attempt times out after a second
        if not book.retry(1, now=now, delay_s=1.0):
            break
        assert book.due(now + 1.0) == [1]
        now += 1.0
    # 2: refused (a 422 would be the same again): not re-sent
    book.attempted(2)
    book.refused(2, 422)
    # 3: waited in the queue past its bound: never sent
    assert book.too_late(3, now=10.0 + RETRY_FOR_S + 1)
    assert book.open() == 0 and book.waiting() == 0
    summary = book.summary()
    assert summary["ended"] == {"acknowledged": 1, "given up": 1, "not sent": 1, "refused 422": 1}
    assert summary["needed_a_retry"] == 2 and summary["acknowledged_after_a_retry"] == 1
    assert book.postings[1].attempts == 31  # sent at 10, 12, ... 70 s (its bound); not at 72 s
    assert abs(book.latencies()[0] - 5.3) < 1e-9
    assert book.latencies()[1:] == [math.inf] * 3


def test_reads_per_phase_against_the_rate_asked() -> None:
    answered = [i / 40 for i in range(40 * 100)] + [100 + i / 20 for i in range(20 * 100)]
    rates = read_rates(answered, phases(200, 100), 40)
    assert rates["before the kill"]["per_s"] == 40 and rates["before the kill"]["fraction"] == 1.0
    assert rates["after the kill"]["per_s"] == 20 and rates["after the kill"]["fraction"] == 0.5
    assert rates["whole run"]["answered"] == 6000


def test_a_posting_the_bench_failed_on_is_ended_not_left_open() -> None:
    book = Settlements()
    book.scheduled(0, at=0.0)
    book.attempted(0)
    book.failed(0, "KeyError")
    assert book.open() == 0
    assert book.summary()["ended"] == {"bench error KeyError": 1}
