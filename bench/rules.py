"""Benchmark: recognition throughput of the shipped rule set (CEL) against plain Python.

Builds N outcomes of the eight types (fixed seed), evaluates every one with
``creditbank.rule_engine.evaluate`` against ``rules/beijing-pilot``, and, as a baseline measured in
the same run, computes the same credits with a hand-written dict lookup and Decimal arithmetic (no
CEL, no explanation, no Recognition object). Before timing anything it checks that the baseline gives
every outcome the credits the engine gives it, and stops (exit 1) on any difference: a baseline that
computes something else is no baseline. What it leaves out: the status (recognised, review or
rejected: the validity and review rules), the level, category, explanation and expiry date.
Prints a table and writes ``bench/results/rules.json`` (with the machine and its load).

    .venv/bin/python bench/rules.py --n 20000
"""

import argparse
import datetime as dt
import random
import time
from collections import Counter
from collections.abc import Callable
from decimal import Decimal

from common import ROOT, write_results

from creditbank.rule_engine import OutcomeFacts, evaluate, load_rule_set
from creditbank.rule_engine.amounts import to_decimal, to_half_steps

RULES = ROOT / "rules" / "beijing-pilot"
AS_OF = dt.date(2024, 6, 1)


def make_outcomes(n: int, seed: int = 25) -> list[OutcomeFacts]:
    """``n`` outcomes of mixed types, some of them old, unverified or otherwise not recognised."""
    rnd = random.Random(seed)
    out: list[OutcomeFacts] = []
    for i in range(n):
        kind = i % 8
        achieved = AS_OF - dt.timedelta(days=rnd.randint(0, 2500))
        common = {"outcome_id": f"O{i}", "achieved_on": achieved}
        if kind == 0:
            facts = {"outcome_type": "training_course", "title": "培训", "hours": rnd.randint(4, 120)}
        elif kind == 1:
            facts = {
                "outcome_type": "community_course",
                "title": "社区课程",
                "hours": rnd.randint(4, 60),
                "issuer_kind": rnd.choice(["community_college", "elderly_university"]),
            }
        elif kind == 2:
            facts = {
                "outcome_type": "one_plus_x_certificate",
                "title": "1+X",
                "level": rnd.choice(["初级", "中级", "高级"]),
            }
        elif kind == 3:
            facts = {
                "outcome_type": "skill_level_certificate",
                "title": "技能",
                "level": rnd.choice(["五级", "四级", "三级", "二级", "一级"]),
            }
        elif kind == 4:
            facts = {
                "outcome_type": "mooc",
                "title": "MOOC",
                "hours": rnd.randint(8, 64),
                "score": rnd.randint(40, 100),
                "identity_verified": rnd.random() < 0.8,
            }
        elif kind == 5:
            facts = {
                "outcome_type": "competition_award",
                "title": "大赛",
                "level": rnd.choice(["national", "provincial"]),
                "attributes": {"competition_id": f"C{rnd.randint(1, 50)}"},
            }
        elif kind == 6:
            facts = {
                "outcome_type": "degree_course",
                "title": "课程",
                "issuer_kind": "university",
                "grade": rnd.choice(["优秀", "良好", "合格", "不合格"]),
                "attributes": {"credits": rnd.choice([1, 2, 2.5, 3, 4])},
            }
        else:
            facts = {
                "outcome_type": "work_experience",
                "title": "工作",
                "issuer_kind": "employer",
                "attributes": {"years": rnd.randint(0, 8)},
            }
        out.append(OutcomeFacts.model_validate({**common, **facts}))
    return out


_ONE_X = {"初级": 4, "中级": 6, "高级": 8}
_SKILL = {"五级": 2, "四级": 3, "三级": 4, "二级": 6, "一级": 8}
_HOURLY_CAP = {"training_course": Decimal(4), "community_course": Decimal(2), "mooc": Decimal(4)}


def baseline(outcome: OutcomeFacts) -> Decimal:
    """The same credit arithmetic in plain Python: dict lookups and Decimal, no CEL."""
    kind = outcome.outcome_type
    if kind in _HOURLY_CAP:
        if outcome.hours is None or outcome.hours < 8:
            return Decimal(0)
        if kind == "mooc" and not (
            outcome.identity_verified and outcome.score is not None and outcome.score >= 60
        ):
            return Decimal(0)
        return to_half_steps(min(outcome.hours / 16, _HOURLY_CAP[kind]))
    if kind == "one_plus_x_certificate":
        return Decimal(_ONE_X.get(outcome.level or "", 0))
    if kind == "skill_level_certificate":
        return Decimal(_SKILL.get(outcome.level or "", 0))
    if kind == "competition_award":
        return Decimal({"national": 4, "provincial": 2}.get(outcome.level or "", 0))
    if kind == "degree_course":
        if outcome.grade == "不合格":
            return Decimal(0)
        return to_half_steps(min(to_decimal(outcome.attributes["credits"]), Decimal(10)))
    years = to_decimal(outcome.attributes.get("years", 0))
    return to_half_steps(min(years * 2, Decimal(6))) if years >= 1 else Decimal(0)


def timed(fn: Callable[[OutcomeFacts], object], outcomes: list[OutcomeFacts], rounds: int) -> float:
    """Best of ``rounds`` wall times (seconds) to apply ``fn`` to every outcome."""
    best = float("inf")
    for _ in range(rounds):
        start = time.perf_counter()
        for outcome in outcomes:
            fn(outcome)
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20000, help="number of outcomes")
    parser.add_argument("--rounds", type=int, default=3, help="repeat and keep the best")
    args = parser.parse_args()

    start = time.perf_counter()
    rule_set = load_rule_set(RULES)
    load_s = time.perf_counter() - start
    outcomes = make_outcomes(args.n)

    results = [evaluate(rule_set, o, AS_OF) for o in outcomes]
    statuses = Counter(r.status for r in results)
    differ = [
        (o, r.credits, baseline(o))
        for o, r in zip(outcomes, results, strict=True)
        if r.credits != baseline(o)
    ]
    if differ:
        for outcome, engine, base in differ[:10]:
            print(
                f"baseline differs: {outcome.model_dump(exclude_none=True)}: engine {engine}, baseline {base}"
            )
        raise SystemExit(f"{len(differ)} of {len(outcomes)} outcomes get other credits from the baseline")
    cel_s = timed(lambda o: evaluate(rule_set, o, AS_OF), outcomes, args.rounds)
    base_s = timed(baseline, outcomes, args.rounds)

    rows = [
        ("rule engine (CEL, full Recognition)", cel_s),
        ("baseline (dict + Decimal, credits only)", base_s),
    ]
    print(
        f"rule set {rule_set.id} {rule_set.version}: {len(rule_set.rule_ids())} rules, "
        f"loaded and compiled in {load_s * 1000:.1f} ms; {args.n} outcomes; statuses {dict(statuses)}"
    )
    print(f"{'method':<42} {'outcomes/s':>12} {'µs/outcome':>11}")
    for name, seconds in rows:
        print(f"{name:<42} {args.n / seconds:>12,.0f} {seconds / args.n * 1e6:>11.1f}")
    ratio = cel_s / base_s
    print(f"ratio engine/baseline: {ratio:.1f}x slower")

    path = write_results(
        "rules",
        {
            "benchmark": "rules",
            "rule_set": {"id": rule_set.id, "version": rule_set.version, "hash": rule_set.hash},
            "n": args.n,
            "rounds": args.rounds,
            "load_ms": round(load_s * 1000, 2),
            "engine": {
                "outcomes_per_s": round(args.n / cel_s),
                "us_per_outcome": round(cel_s / args.n * 1e6, 2),
            },
            "baseline": {
                "outcomes_per_s": round(args.n / base_s),
                "us_per_outcome": round(base_s / args.n * 1e6, 2),
            },
            "ratio_engine_over_baseline": round(ratio, 2),
            "statuses": dict(statuses),
            "baseline_checked": {"outcomes": len(outcomes), "credits_differ": 0},
        },
    )
    print(f"wrote {path.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
