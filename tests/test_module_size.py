"""No god modules: a module of ``creditbank/`` over 500 lines is either one cohesive algorithm or
format, named below with the reason, or a split still owed, named below with what it owes.

A new long module fails here: split it by concern (see ``docs/architecture.md``, where new code goes),
or, if it really is one algorithm, add it to ``COHESIVE`` with the reason.
"""

from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "creditbank"
LIMIT = 500

COHESIVE = {
    "db.py": "the storage base: engine, sessions, column types, bulk insert; barely over",
    "rule_engine/schemas.py": "the rule-file format, one pydantic model per construct of the YAML",
    "rule_engine/loader.py": "loading and checking one rule set, collecting every finding",
    "rule_engine/conversion.py": "one algorithm: a conversion plan under caps (solutions search)",
    "standards/tlog/merkle.py": "one algorithm: RFC 9162 hashing, stored-node proofs and their verifiers",
    "audit/database.py": "one procedure: recompute every served table from the journal and compare",
    "audit/database_sql.py": "that procedure on PostgreSQL: its statements, as named parts",
}
# splits still owed, each with what it owes (remove the entry when the module is split)
OWED: dict[str, str] = {}


def long_modules(package: Path, limit: int = LIMIT) -> dict[str, int]:
    """Modules of ``package`` with more than ``limit`` lines, by path relative to it."""
    lengths = {
        path.relative_to(package).as_posix(): len(path.read_text(encoding="utf-8").splitlines())
        for path in package.rglob("*.py")
    }
    return {name: lines for name, lines in sorted(lengths.items()) if lines > limit}


def test_the_counter_finds_a_long_module(tmp_path: Path) -> None:
    (tmp_path / "short.py").write_text("x = 1\n" * 10)
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "long.py").write_text("x = 1\n" * 12)
    assert long_modules(tmp_path, limit=11) == {"sub/long.py": 12}


def test_no_module_over_500_lines_unless_named() -> None:
    unexplained = {
        name: lines for name, lines in long_modules(PACKAGE).items() if name not in COHESIVE | OWED
    }
    assert unexplained == {}


def test_the_lists_name_real_modules_once() -> None:
    assert not COHESIVE.keys() & OWED.keys()
    assert all((PACKAGE / name).is_file() for name in COHESIVE | OWED)
