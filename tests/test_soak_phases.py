"""The soak's phases (``bench/phases.py``): postings a second per phase and per worker, and the CPU
each process used per phase, on synthetic samples and on this process."""

import subprocess
import sys
import time
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parent.parent / "bench"
if str(BENCH) not in sys.path:
    sys.path.insert(0, str(BENCH))

from phases import (  # noqa: E402
    LOADGEN,
    MACHINE,
    POSTGRES,
    CpuSampler,
    Phase,
    phases,
    posting_rates,
    postings_over_time,
)


def test_a_run_with_a_kill_has_three_phases_and_one_without_has_one() -> None:
    assert phases(480, 192) == [
        Phase("before the kill", 0, 192),
        Phase("after the kill", 192, 480),
        Phase("whole run", 0, 480),
    ]
    assert phases(480, None) == [Phase("whole run", 0, 480)]
    assert phases(480, 500) == [Phase("whole run", 0, 480)]


def test_postings_are_counted_per_phase_and_per_worker() -> None:
    # before the kill two workers share 100 postings in 10 s; after it one worker answers 30 in 10 s
    acks = [(i / 10, 11 if i % 2 else 22) for i in range(100)]
    acks += [(10 + i / 3, 11) for i in range(30)]
    rates = posting_rates(acks, phases(20, 10))
    assert rates["before the kill"]["per_s"] == 10.0
    assert rates["before the kill"]["per_worker_per_s"] == {"11": 5.0, "22": 5.0}
    assert rates["after the kill"]["per_s"] == 3.0
    assert rates["after the kill"]["per_worker_per_s"] == {"11": 3.0}
    assert rates["whole run"]["per_s"] == 6.5


def test_postings_over_time_show_when_the_replacement_takes_its_share() -> None:
    acks = [(1.0, 11), (2.0, 22), (29.9, 11), (30.0, 11), (61.0, 33), (62.0, 11)]
    assert postings_over_time(acks, 30.0) == [
        {"start_s": 0.0, "total": 3, "per_worker": {"11": 2, "22": 1}},
        {"start_s": 30.0, "total": 1, "per_worker": {"11": 1}},
        {"start_s": 60.0, "total": 2, "per_worker": {"11": 1, "33": 1}},
    ]


def _sampler(samples: list[tuple[float, dict[str, float]]]) -> CpuSampler:
    sampler = CpuSampler(0, lambda: 0)
    sampler.samples = samples
    return sampler


def test_cpu_per_phase_counts_increments_new_processes_and_a_restarted_postgres() -> None:
    sampler = _sampler(
        [
            (-1, {"worker 1": 100.0, "worker 2": 50.0, POSTGRES: 30.0, MACHINE: 1000.0, LOADGEN: 5.0}),
            (5, {"worker 1": 105.0, "worker 2": 55.0, POSTGRES: 32.0, MACHINE: 1020.0, LOADGEN: 6.0}),
            (10, {"worker 1": 110.0, "worker 2": 60.0, POSTGRES: 34.0, MACHINE: 1040.0, LOADGEN: 7.0}),
            # worker 2 killed; worker 3 started (3 s of its own, from 0); PostgreSQL restarted (4 s)
            (20, {"worker 1": 120.0, "worker 3": 3.0, POSTGRES: 4.0, MACHINE: 1060.0, LOADGEN: 8.0}),
        ]
    )
    before, after = Phase("before", 0, 10), Phase("after", 10, 20)
    assert sampler.used(before) == {
        "worker 1": 10.0,
        "worker 2": 10.0,
        POSTGRES: 4.0,
        MACHINE: 40.0,
        LOADGEN: 2.0,
    }
    assert sampler.used(after) == {
        "worker 1": 10.0,
        "worker 3": 3.0,
        POSTGRES: 4.0,
        MACHINE: 20.0,
        LOADGEN: 1.0,
    }
    cores = sampler.cores(before)
    assert cores["worker 1"] == 1.0
    assert cores["others"] == pytest.approx(4.0 - 1.0 - 1.0 - 0.4 - 0.2)


def test_this_process_busy_for_a_while_shows_as_the_load_generator() -> None:
    idle = subprocess.Popen(["sleep", "30"])  # stands for the server and for PostgreSQL
    try:
        sampler = CpuSampler(idle.pid, lambda: idle.pid)
        sampler.sample(0.0)
        started = time.process_time()
        while time.process_time() - started < 0.3:
            pass
        sampler.sample(1.0)
    finally:
        idle.kill()
        idle.wait()
    used = sampler.used(Phase("busy", 0, 1))
    assert used[LOADGEN] >= 0.25
    assert used[MACHINE] >= 0.25
    assert used[f"supervisor {idle.pid}"] < 0.1
    assert used[POSTGRES] < 0.1
