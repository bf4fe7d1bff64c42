"""What PostgreSQL wrote for a stretch of work: WAL (bytes, records, full-page images, by resource
manager and record type), rows written per table (inserts, updates, HOT updates), index entries
written, index scans, and the trigger functions' calls and time.

    before = snapshot(superuser_url)
    ...work...
    end = current_lsn(superuser_url)
    ...the work's connections closed (each backend flushes its statistics when it ends)...
    found = written_since(superuser_url, before, end, per=postings)

WAL comes from ``pg_stat_wal`` and, by record type, from ``pg_walinspect`` over the LSN range (both
PostgreSQL 15); rows from ``pg_stat_user_tables``; index entries are computed: every insert and every
update that is not HOT adds one entry to each of the table's indexes (a partial index only when its
predicate holds: counted as if it always did, so an upper bound). Functions need
``track_functions=all``. The statistics are the cumulative ones, so ``pg_stat_force_next_flush()``
is called before each read and the counts are read from a fresh snapshot.
"""

import time
from typing import Any

import psycopg

SETTINGS = ("track_functions=all",)


def snapshot(url: str) -> dict[str, Any]:
    """The counters now (needs a superuser for ``pg_walinspect`` later)."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS pg_walinspect")
        lsn = conn.execute("SELECT pg_current_wal_insert_lsn()::text").fetchone()
        wal = conn.execute("SELECT wal_records, wal_fpi, wal_bytes::bigint FROM pg_stat_wal").fetchone()
        tables = conn.execute(
            "SELECT relname, n_tup_ins, n_tup_upd, n_tup_hot_upd, n_tup_del FROM pg_stat_user_tables"
        ).fetchall()
        indexes = conn.execute(
            "SELECT relname, indexrelname, idx_scan, idx_tup_read FROM pg_stat_user_indexes"
        ).fetchall()
        functions = conn.execute(
            "SELECT funcname, calls, total_time, self_time FROM pg_stat_user_functions"
        ).fetchall()
    assert lsn is not None and wal is not None
    return {
        "lsn": lsn[0],
        "wal": wal,
        "tables": {r[0]: r[1:] for r in tables},
        "indexes": {(r[0], r[1]): r[2:] for r in indexes},
        "functions": {r[0]: r[1:] for r in functions},
    }


def current_lsn(url: str) -> str:
    """Where WAL is being inserted now."""
    with psycopg.connect(url, autocommit=True) as conn:
        found = conn.execute("SELECT pg_current_wal_insert_lsn()::text").fetchone()
    assert found is not None
    return str(found[0])


def written_since(url: str, before: dict[str, Any], end_lsn: str, *, per: int) -> dict[str, Any]:
    """What was written since ``before`` (WAL by record type up to ``end_lsn``), per unit of work
    (``per`` of them)."""
    time.sleep(1.0)  # a backend that just ended flushes its counters on its way out
    after = snapshot(url)
    with psycopg.connect(url, autocommit=True) as conn:
        by_record = conn.execute(
            'SELECT "resource_manager/record_type", count, record_size, fpi_size '
            "FROM pg_get_wal_stats(%s::pg_lsn, %s::pg_lsn, true) WHERE count > 0 "
            "ORDER BY record_size + fpi_size DESC",
            (before["lsn"], end_lsn),
        ).fetchall()
        lsn_bytes = conn.execute(
            "SELECT pg_wal_lsn_diff(%s::pg_lsn, %s::pg_lsn)::bigint", (end_lsn, before["lsn"])
        ).fetchone()
        index_count: dict[str, int] = dict(
            conn.execute(
                "SELECT c.relname, count(i.indexrelid) FROM pg_class c "
                "JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = 'public' "
                "LEFT JOIN pg_index i ON i.indrelid = c.oid WHERE c.relkind = 'r' GROUP BY c.relname"
            ).fetchall()
        )
    assert lsn_bytes is not None
    records, fpi, wal_bytes = (b - a for a, b in zip(before["wal"], after["wal"], strict=True))
    tables = []
    for name, now in after["tables"].items():
        was = before["tables"].get(name, (0, 0, 0, 0))
        ins, upd, hot, dele = (b - a for a, b in zip(was, now, strict=True))
        if ins or upd or dele:
            tables.append(
                {
                    "table": name,
                    "inserts": ins / per,
                    "updates": upd / per,
                    "hot_updates": hot / per,
                    "deletes": dele / per,
                    "indexes": index_count.get(name, 0),
                    "index_entries": (ins + upd - hot) * index_count.get(name, 0) / per,
                }
            )
    tables.sort(key=lambda t: -t["index_entries"])
    scans = []
    for key, now in after["indexes"].items():
        scan, read = (b - a for a, b in zip(before["indexes"].get(key, (0, 0)), now, strict=True))
        scans.append({"table": key[0], "index": key[1], "scans": scan / per, "tuples_read": read / per})
    functions = []
    for name, now in after["functions"].items():
        was = before["functions"].get(name, (0, 0.0, 0.0))
        calls, total, own = (b - a for a, b in zip(was, now, strict=True))
        if calls:
            functions.append(
                {"function": name, "calls": calls / per, "total_ms": total / per, "self_ms": own / per}
            )
    functions.sort(key=lambda f: -f["total_ms"])
    return {
        "per": per,
        "wal_bytes": wal_bytes / per,
        "wal_lsn_bytes": lsn_bytes[0] / per,
        "wal_records": records / per,
        "wal_fpi": fpi / per,
        "wal_by_record": [
            {
                "record": name,
                "count": count / per,
                "record_bytes": size / per,
                "fpi_bytes": fpi_size / per,
            }
            for name, count, size, fpi_size in by_record
        ],
        "tables": tables,
        "index_entries": sum(t["index_entries"] for t in tables),
        "index_scans": sorted(scans, key=lambda s: (s["scans"], s["table"], s["index"])),
        "functions": functions,
    }


def print_written(found: dict[str, Any], unit: str = "posting") -> None:
    """The WAL, tables and triggers of ``found``, per ``unit``."""
    print(
        f"WAL per {unit}: {found['wal_bytes']:,.0f} bytes ({found['wal_lsn_bytes']:,.0f} by LSN), "
        f"{found['wal_records']:.1f} records, {found['wal_fpi']:.2f} full-page images; "
        f"{found['index_entries']:.1f} index entries"
    )
    print(f"{'count':>7} {'bytes':>8} {'fpi B':>8}  WAL record type (per {unit})")
    for r in found["wal_by_record"][:20]:
        figures = f"{r['count']:7.2f} {r['record_bytes']:8.0f} {r['fpi_bytes']:8.0f}"
        print(f"{figures}  {r['record']}")
    print(f"{'ins':>6} {'upd':>6} {'hot':>6} {'del':>6} {'idx':>4} {'entries':>8}  table (per {unit})")
    for t in found["tables"]:
        print(
            f"{t['inserts']:6.2f} {t['updates']:6.2f} {t['hot_updates']:6.2f} {t['deletes']:6.2f} "
            f"{t['indexes']:4d} {t['index_entries']:8.2f}  {t['table']}"
        )
    print(f"{'calls':>7} {'total':>7} {'self':>7}  function (ms per {unit})")
    for f in found["functions"]:
        print(f"{f['calls']:7.2f} {f['total_ms']:7.3f} {f['self_ms']:7.3f}  {f['function']}")
