"""Benchmark: the statistics (数据看板) at 10,000,000 outcomes on PostgreSQL.

How the data is built: in the server, by ``INSERT … SELECT … FROM generate_series`` in chunks
(default 1,000,000 rows a statement), with the statistics' triggers on, so the summary is kept the
way the service keeps it (each chunk's statement trigger groups its rows into
``dashboard_deltas``; one fold then adds them into ``dashboard_figures``). Nothing is sent from
Python row by row: the rows are computed by PostgreSQL from their number (institution, learner,
outcome type, month, recognition status, category and level cycle through fixed lists; postings
are spread evenly over ``--months`` months). Institutions sit in the 16 districts; 3 % of outcomes
wait for review (both stages), 1 % are rejected, 1 % revoked, 2 % have a reviewer's decision (the
turnaround). Conversions and transfers are not generated (they need the ledger; each adds at most
one row per institution and month to the summary).

Then, in the same run:
* the baseline: ``SELECT count(*) FROM outcomes`` (several runs);
* each dashboard query (``creditbank.dashboards.service.dashboard``: fold, read the summary, build
  the tables): the city centre, one district, one institution; p50/p99 of ``--runs`` runs;
* ``GET /api/v1/statistics`` through the app (real HTTP handling in-process, JSON out) for the city;
* the fold of 1,000 new postings (what a read pays after a burst);
* once, the same city figures counted straight from the base tables (what the summary saves).

Run: ``.venv/bin/python bench/dashboards.py`` (10M; ``--outcomes`` to change, ``--quick`` for
100,000). The server runs with fsync off (the build is not what is measured; reads do not care).
"""

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from common import ROOT, Table, percentiles, stopwatch, write_results

if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from creditbank.auth.models import Role
from creditbank.auth.service import create_token
from creditbank.config import Settings
from creditbank.context import build_context
from creditbank.dashboards import service
from creditbank.db import create_engine, transaction
from creditbank.institutions.districts import DISTRICTS
from creditbank.main import create_app
from creditbank.migrate import upgrade
from creditbank.rule_engine.models import OUTCOME_TYPES
from tests.support.postgres import start_postgres

CATEGORIES = ("vocational", "general", "community", "competition", "online")
START = "2022-01-01 00:00:00+08"


def build(engine: Engine, ctx: Any, args: argparse.Namespace, table: Table, results: dict[str, Any]) -> None:
    n, inst, learners, months = args.outcomes, args.institutions, args.learners, args.months
    types = "ARRAY[" + ", ".join(f"'{t}'" for t in OUTCOME_TYPES) + "]"
    districts = "ARRAY[" + ", ".join(f"'{d.name_zh}'" for d in DISTRICTS) + "]"
    categories = "ARRAY[" + ", ".join(f"'{c}'" for c in CATEGORIES) + "]"
    span = f"(interval '1 month' * {months})"
    with engine.begin() as conn:
        conn.execute(
            text(
                f"""INSERT INTO institutions (id, name_zh, name_en, credit_code, kind, district, created_at)
                SELECT 'ins_' || i, '机构' || i, 'Institution ' || i, '9111' || lpad(i::text, 14, '0'),
                       'training_body', ({districts})[1 + i % 16], now()
                FROM generate_series(0, {inst - 1}) i"""
            )
        )
    with stopwatch() as t, engine.begin() as conn:
        conn.execute(
            text(
                f"""INSERT INTO learners (id, registered_by, created_at)
                    SELECT 'lrn_' || i, 'ins_' || (i % {inst}),
                           timestamptz '{START}' + {span} * i / {learners}
                    FROM generate_series(0, {learners - 1}) i"""
            )
        )
    table.add(f"build: {learners:,} learners", t[0], "s")
    results["build_learners_s"] = t[0]
    # the secondary indexes are built once at the end (faster than row by row); primary keys stay,
    # the triggers' joins use them
    with engine.begin() as conn:
        indexes = conn.execute(
            text(
                "SELECT indexname, indexdef FROM pg_indexes WHERE tablename IN "
                "('outcomes', 'recognitions', 'outcome_events') AND indexname NOT LIKE 'pk_%'"
            )
        ).all()
        for name, _ in indexes:
            conn.execute(text(f'ALTER TABLE outcomes DROP CONSTRAINT IF EXISTS "{name}"'))
            conn.execute(text(f'DROP INDEX IF EXISTS "{name}"'))
    total = 0.0
    for lo in range(0, n, args.chunk):
        hi = min(n, lo + args.chunk) - 1
        with stopwatch() as t, engine.begin() as conn:
            conn.execute(
                text(
                    f"""INSERT INTO outcomes (id, learner_id, institution_id, reference, outcome_type,
                            title, achieved_on, identity_verified, attributes, request_hash, created_at)
                        SELECT 'out_' || i, 'lrn_' || (i % {learners}), 'ins_' || (i % {inst}), 'R' || i,
                               ({types})[1 + i % {len(OUTCOME_TYPES)}], 'T', date '2021-06-01', false,
                               '{{}}', 'h', timestamptz '{START}' + {span} * i / {n}
                        FROM generate_series({lo}, {hi}) i"""
                )
            )
            # status by i % 100: 0-2 review (district, district, city), 3 rejected, 4 revoked;
            # level and category follow the outcome type (as a rule set gives them)
            conn.execute(
                text(
                    f"""INSERT INTO recognitions (outcome_id, status, stage, credits, level, category,
                            rule_set_id, rule_set_version, rule_set_hash, explanation_zh, explanation_en,
                            updated_at)
                        SELECT 'out_' || i,
                               CASE WHEN i % 100 < 3 THEN 'review' WHEN i % 100 = 3 THEN 'rejected'
                                    WHEN i % 100 = 4 THEN 'revoked' ELSE 'recognised' END,
                               CASE i % 100 WHEN 0 THEN 'district' WHEN 1 THEN 'district'
                                    WHEN 2 THEN 'city' END,
                               0.5 * (1 + i % 8), 1 + (i % {len(OUTCOME_TYPES)}) % 7,
                               ({categories})[1 + (i % {len(OUTCOME_TYPES)}) % 5],
                               'bench', '1', 'h', '', '', now()
                        FROM generate_series({lo}, {hi}) i"""
                )
            )
            conn.execute(
                text(
                    f"""INSERT INTO outcome_events (outcome_id, kind, actor_role, actor, detail_zh,
                            detail_en, at)
                        SELECT 'out_' || i, 'recognised', 'reviewer', 'rev_bench', '', '',
                               timestamptz '{START}' + {span} * i / {n} + interval '1 hour' * (1 + i % 500)
                        FROM generate_series({lo}, {hi}) i WHERE i % 50 = 7"""
                )
            )
        total += t[0]
        print(f"  {hi + 1:,} outcomes built ({t[0]:.1f} s for this chunk)", flush=True)
        results.setdefault("chunks_s", []).append(t[0])
    table.add(f"build: {n:,} outcomes, recognitions, events (triggers on)", total, "s", f"{n / total:,.0f}/s")
    results["build_outcomes_s"] = total
    with stopwatch() as t, engine.begin() as conn:
        for _, definition in indexes:
            conn.execute(text(definition))
    table.add(f"build: {len(indexes)} secondary indexes", t[0], "s")
    results["build_indexes_s"] = t[0]
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn, stopwatch() as t:
        conn.execute(text("VACUUM (ANALYZE) outcomes, recognitions, outcome_events, learners"))
    table.add("build: VACUUM ANALYZE", t[0], "s")
    with engine.begin() as conn:
        deltas = conn.execute(text("SELECT count(*) FROM dashboard_deltas")).scalar_one()
    with stopwatch() as t:
        for session in transaction(ctx.sessions):
            service.refresh(session)
    table.add(f"first fold of {deltas:,} deltas", t[0], "s")
    results["first_fold"] = {"deltas": deltas, "seconds": t[0]}
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM (ANALYZE) dashboard_figures, dashboard_deltas"))
        figures = conn.execute(text("SELECT count(*) FROM dashboard_figures")).scalar_one()
    results["figure_rows"] = figures
    table.add("summary rows (both grains)", figures, "rows")


def timed(runs: int, work: Any) -> dict[str, float]:
    seconds = []
    for _ in range(runs):
        start = time.perf_counter()
        work()
        seconds.append(time.perf_counter() - start)
    return percentiles(seconds)


def measure(
    engine: Engine, ctx: Any, args: argparse.Namespace, table: Table, results: dict[str, Any]
) -> None:
    runs = args.runs

    def count_outcomes() -> None:
        with engine.connect() as conn:
            conn.execute(text("SELECT count(*) FROM outcomes")).scalar_one()

    base = timed(max(3, runs // 4), count_outcomes)
    results["baseline_count_outcomes"] = base
    table.add(
        "baseline: SELECT count(*) FROM outcomes, p50", base["p50_ms"], "ms", f"p99 {base['p99_ms']:,.0f} ms"
    )

    scopes = {
        "city centre (every district)": service.Scope(city=True),
        "one district (海淀区)": service.Scope(district="海淀区"),
        "one institution": service.Scope(district="朝阳区", institution_id="ins_2"),
    }
    results["dashboards"] = {}
    for label, scope in scopes.items():

        def read(scope: service.Scope = scope) -> None:
            for session in transaction(ctx.sessions):
                service.dashboard(session, scope)

        figures = timed(runs, read)
        results["dashboards"][label] = figures
        table.add(
            f"dashboard, {label}: p50",
            figures["p50_ms"],
            "ms",
            f"p99 {figures['p99_ms']:,.0f} ms; {figures['p50_ms'] / base['p50_ms']:.2f}x the count",
        )

    with TestClient(create_app(ctx=ctx)) as client:
        for session in transaction(ctx.sessions):
            _, token = create_token(session, ctx.token_key, Role.admin, None, "bench")
        headers = {"Authorization": f"Bearer {token}"}

        def api() -> None:
            r = client.get("/api/v1/statistics", headers=headers)
            assert r.status_code == 200, r.text

        http = timed(runs, api)
    results["api_city"] = http
    table.add(
        "GET /api/v1/statistics (city, in-process HTTP): p50",
        http["p50_ms"],
        "ms",
        f"p99 {http['p99_ms']:,.0f} ms",
    )

    n = args.outcomes
    with engine.begin() as conn:
        conn.execute(
            text(
                f"""INSERT INTO outcomes (id, learner_id, institution_id, reference, outcome_type, title,
                    achieved_on, identity_verified, attributes, request_hash, created_at)
                SELECT 'out_' || i, 'lrn_' || (i % {args.learners}), 'ins_' || (i % {args.institutions}),
                       'R' || i, 'training_course', 'T', date '2021-06-01', false, '{{}}', 'h', now()
                FROM generate_series({n}, {n + 999}) i"""
            )
        )
    with stopwatch() as t:
        for session in transaction(ctx.sessions):
            service.refresh(session)
    results["fold_1000_postings_ms"] = t[0] * 1000
    table.add("fold after 1,000 new postings", t[0] * 1000, "ms")

    if not args.skip_direct:
        with stopwatch() as t:
            for session in transaction(ctx.sessions):
                service.direct_rows(session, service.Scope(city=True))
        results["direct_city_s"] = t[0]
        table.add("city figures counted from the base tables (once)", t[0], "s", "what the summary saves")


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--outcomes", type=int, default=10_000_000)
    parser.add_argument("--institutions", type=int, default=400)
    parser.add_argument("--learners", type=int, default=2_000_000)
    parser.add_argument("--months", type=int, default=48)
    parser.add_argument("--chunk", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--skip-direct", action="store_true", help="skip the one count from the base tables")
    parser.add_argument("--quick", action="store_true", help="100,000 outcomes, 50,000 learners")
    args = parser.parse_args()
    if args.quick:
        args.outcomes, args.learners, args.chunk = 100_000, 50_000, 50_000
    table = Table(f"dashboards benchmark: {args.outcomes:,} outcomes, {args.institutions} institutions")
    results: dict[str, Any] = {"arguments": vars(args), "load_average_at_start": list(os.getloadavg())}
    pg = start_postgres(fsync=False)
    engine = None
    try:
        url = pg.create_database("bench_dashboards")
        engine = create_engine(url, pool_size=4)
        upgrade(engine)
        settings = Settings(
            var_dir=Path(tempfile.mkdtemp(prefix="creditbank-bench-")),
            database_url=url,
            base_url="http://bench.example",
            background_publisher=False,
            log_level="WARNING",
        )
        ctx = build_context(settings, engine=engine)
        build(engine, ctx, args, table, results)
        measure(engine, ctx, args, table, results)
    finally:
        if engine is not None:
            engine.dispose()
        pg.stop()
        # what was measured is printed and written even when a later step failed
        report(args, table, results)


def report(args: argparse.Namespace, table: Table, results: dict[str, Any]) -> None:
    results["load_average_at_end"] = list(os.getloadavg())
    table.add(
        "load average at start / end (1 min)",
        f"{results['load_average_at_start'][0]:.2f} / {results['load_average_at_end'][0]:.2f}",
    )
    table.print()
    name = "dashboards-quick" if args.quick else f"dashboards-{args.outcomes}"
    print(f"written {write_results(name, results)}")


if __name__ == "__main__":
    main()
