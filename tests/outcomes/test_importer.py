"""``creditbank import``: files posted chunk by chunk through the batch path, with a per-row report."""

import csv
import json
import os
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import typer
from fastapi.testclient import TestClient
from sqlalchemy import Connection, text
from typer.testing import CliRunner

from creditbank.cli import app as cli
from creditbank.config import get_settings
from creditbank.context import AppContext
from creditbank.errors import CreditBankError
from creditbank.institutions.service import InstitutionNotFound
from creditbank.outcomes import importer
from tests.conftest import Tokens
from tests.outcomes.factories import PILOT, Desk, days_ago, raised_training_maximum
from tests.support.factories import credit_code, identity_number

HEADER = [
    "reference",
    "learner_id",
    "identity_number",
    "learner_name",
    "outcome_type",
    "title",
    "achieved_on",
    "hours",
    "level",
    "identity_verified",
    "attr.credits",
    "attr.competition_id",
]


def write_csv(path: Path, rows: list[dict[str, Any]], header: list[str] = HEADER) -> Path:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=header)
        writer.writeheader()
        writer.writerows(rows)
    return path


def training_row(reference: str, learner_id: str, hours: int = 48) -> dict[str, Any]:
    return {
        "reference": reference,
        "learner_id": learner_id,
        "outcome_type": "training_course",
        "title": "电工作业培训",
        "achieved_on": days_ago(20),
        "hours": hours,
    }


def outcome_count(db: Connection, institution_id: str) -> int:
    count: int = db.execute(
        text("SELECT count(*) FROM outcomes WHERE institution_id = :i"), {"i": institution_id}
    ).scalar_one()
    return count


def journal_count(db: Connection) -> int:
    count: int = db.execute(text("SELECT count(*) FROM ledger_transactions")).scalar_one()
    return count


class TestImportFile:
    def test_csv_rows_reports_and_rerun(
        self, client: TestClient, auth: Tokens, ctx: AppContext, db: Connection, tmp_path: Path
    ) -> None:
        desk = Desk(client, auth)
        number = identity_number("19950101")
        rows = [
            training_row("CSV-1", desk.learner_id),
            {  # registered on the way by identity number and name
                **training_row("CSV-2", ""),
                "identity_number": number,
                "learner_name": "孙小美",
            },
            {**training_row("CSV-3", desk.learner_id), "hours": "-4"},  # invalid
            {
                "reference": "CSV-4",
                "learner_id": desk.learner_id,
                "outcome_type": "degree_course",
                "title": "高等数学",
                "achieved_on": days_ago(100),
                "attr.credits": "4",
            },
            {
                "reference": "CSV-5",
                "learner_id": desk.learner_id,
                "outcome_type": "mooc",
                "title": "JavaScript 程序设计",
                "achieved_on": days_ago(10),
                "hours": "32",
                "identity_verified": "true",
            },
        ]
        source = write_csv(tmp_path / "outcomes.csv", rows)

        summary = importer.import_file(ctx, source, desk.institution_id, chunk=2)
        assert (summary.rows, summary.created, summary.errors, summary.duplicate) == (5, 4, 1, 0)
        assert summary.report == tmp_path / "outcomes.report.csv"
        report = importer.report_rows(summary.report)
        assert [r["status"] for r in report] == ["created", "created", "error", "created", "created"]
        assert report[2]["error_type"].endswith("/row-invalid") and "hours" in report[2]["error_detail"]
        assert report[0]["recognition"] == "recognised" and Decimal(report[0]["credits"]) == 3
        assert report[4]["recognition"] == "rejected"  # a MOOC needs a score
        attributes = db.execute(
            text("SELECT attributes FROM outcomes WHERE id = :i"), {"i": report[3]["outcome_id"]}
        ).scalar_one()
        assert (attributes if isinstance(attributes, dict) else json.loads(attributes)) == {"credits": 4}
        created = outcome_count(db, desk.institution_id)
        entries = journal_count(db)

        again = importer.import_file(ctx, source, desk.institution_id, report_path=tmp_path / "again.jsonl")
        assert (again.created, again.duplicate, again.errors) == (0, 4, 1)
        assert [r["status"] for r in importer.report_rows(tmp_path / "again.jsonl")][:2] == [
            "duplicate",
            "duplicate",
        ]
        assert outcome_count(db, desk.institution_id) == created
        assert journal_count(db) == entries

    def test_report_cells_from_the_file_are_never_formulas(
        self, client: TestClient, auth: Tokens, ctx: AppContext, db: Connection, tmp_path: Path
    ) -> None:
        desk = Desk(client, auth)
        hostile = ["=cmd|' /C calc'!A0", "+SUM(1,2)", "-1+2", "@A1", "\t=1+1", "\r=2+2"]
        rows = [training_row(reference, desk.learner_id) for reference in hostile]
        rows.append({**training_row("=bad-hours", desk.learner_id), "hours": "=1+1"})
        summary = importer.import_file(ctx, write_csv(tmp_path / "hostile.csv", rows), desk.institution_id)
        assert (summary.created, summary.errors) == (6, 1)
        assert summary.report is not None
        with summary.report.open(encoding="utf-8", newline="") as handle:
            cells = [cell for row in csv.reader(handle) for cell in row]
        risky = [cell for cell in cells if cell.startswith(("=", "+", "-", "@", "\t", "\r"))]
        assert not risky, risky
        for row in importer.report_rows(summary.report):
            assert row["reference"].startswith("'"), row
            if row["outcome_id"]:  # the data itself is kept as posted; only the report's cell is quoted
                stored = db.execute(
                    text("SELECT reference FROM outcomes WHERE id = :i"), {"i": row["outcome_id"]}
                ).scalar_one()
                assert row["reference"] == "'" + stored

    def test_jsonl_resumes_after_an_interruption(
        self, client: TestClient, auth: Tokens, ctx: AppContext, db: Connection, tmp_path: Path
    ) -> None:
        desk = Desk(client, auth)
        rows = [training_row(f"J-{i}", desk.learner_id, hours=16 * (1 + i % 3)) for i in range(25)]
        full = tmp_path / "all.jsonl"
        full.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
        part = tmp_path / "part.jsonl"  # what got through before the interruption
        part.write_text("\n".join(json.dumps(r) for r in rows[:10]) + "\n", encoding="utf-8")
        assert importer.import_file(ctx, part, desk.institution_id, chunk=4).created == 10
        entries = journal_count(db)

        resumed = importer.import_file(ctx, full, desk.institution_id, chunk=4)
        assert (resumed.duplicate, resumed.created, resumed.errors) == (10, 15, 0)
        assert outcome_count(db, desk.institution_id) == 25
        assert journal_count(db) == entries + 15
        report = importer.report_rows(tmp_path / "all.report.jsonl")
        assert [r["row"] for r in report] == list(range(1, 26))

    def test_an_unstorable_row_fails_alone(
        self, client: TestClient, auth: Tokens, ctx: AppContext, db: Connection, tmp_path: Path
    ) -> None:
        desk = Desk(client, auth)
        rows = [training_row(f"N-{i}", desk.learner_id) for i in range(5)]
        rows[2]["title"] = "电工\u0000培训"  # PostgreSQL refuses NUL in text: the whole chunk fails once
        source = tmp_path / "nul.jsonl"
        source.write_text("\n".join(json.dumps(r) for r in rows), encoding="utf-8")
        summary = importer.import_file(ctx, source, desk.institution_id, chunk=5)
        assert (summary.created, summary.errors) == (4, 1)
        report = importer.report_rows(tmp_path / "nul.report.jsonl")
        assert report[2]["status"] == "error" and report[2]["error"]["type"].endswith("/unstorable-value")
        assert outcome_count(db, desk.institution_id) == 4

    def test_bad_files_and_institutions_post_nothing(
        self, client: TestClient, auth: Tokens, ctx: AppContext, db: Connection, tmp_path: Path
    ) -> None:
        desk = Desk(client, auth)
        rows = [training_row("X-1", desk.learner_id)]
        with pytest.raises(importer.ImportFileInvalid, match="unknown column"):
            importer.import_file(
                ctx,
                write_csv(tmp_path / "typo.csv", [{**rows[0], "huors": 4}], [*HEADER, "huors"]),
                desk.institution_id,
            )
        ok = write_csv(tmp_path / "ok.csv", rows)
        with pytest.raises(InstitutionNotFound):
            importer.import_file(ctx, ok, "ins_nosuchinstitution")
        with pytest.raises(importer.ImportFileInvalid, match="overwrite"):
            importer.import_file(ctx, ok, desk.institution_id, report_path=ok)
        assert ok.read_text(encoding="utf-8").startswith("reference,")
        with pytest.raises(importer.ImportFileInvalid, match=r"\.csv, \.jsonl or \.xlsx"):
            importer.import_file(ctx, tmp_path / "outcomes.txt", desk.institution_id)
        broken = tmp_path / "broken.json"
        broken.write_text('[{"reference": "X-2"', encoding="utf-8")
        with pytest.raises(CreditBankError):
            importer.import_file(ctx, broken, desk.institution_id)
        assert outcome_count(db, desk.institution_id) == 0


@pytest.fixture
def shell(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[CliRunner]:
    """The CLI on a temporary embedded (SQLite) database, as a shell would run it."""
    for name in list(os.environ):
        if name.startswith("CREDITBANK_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("CREDITBANK_VAR_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("CREDITBANK_MODE", "demo")
    monkeypatch.setenv("CREDITBANK_LOG_LEVEL", "WARNING")
    get_settings.cache_clear()
    yield CliRunner()
    get_settings.cache_clear()


def _run(runner: CliRunner, app: typer.Typer, *args: str) -> Any:
    get_settings.cache_clear()
    return runner.invoke(app, list(args))


class TestImportCommand:
    def test_import_on_sqlite_with_report_and_exit_status(self, shell: CliRunner, tmp_path: Path) -> None:
        assert _run(shell, cli, "db", "upgrade").exit_code == 0
        created = _run(
            shell,
            cli,
            "institutions",
            "create",
            "--name-zh",
            "北京市导入测试学校",
            "--name-en",
            "Import Test School",
            "--credit-code",
            credit_code(),
            "--kind",
            "training_body",
            "--district",
            "东城区",
        )
        assert created.exit_code == 0, created.output
        institution_id = json.loads(created.stdout)["id"]
        people = [identity_number("19900101"), identity_number("19920202")]
        rows = [
            {**training_row(f"S-{i}", ""), "identity_number": people[i % 2], "learner_name": f"学员{i % 2}"}
            for i in range(6)
        ]
        rows[1]["hours"] = "120"
        source = write_csv(tmp_path / "good.csv", rows)

        result = _run(shell, cli, "import", str(source), "--institution", institution_id, "--chunk", "4")
        assert result.exit_code == 0, result.output
        assert "6 rows: 6 created" in result.stdout
        assert [r["status"] for r in importer.report_rows(tmp_path / "good.report.csv")] == ["created"] * 6
        rerun = _run(shell, cli, "import", str(source), "--institution", institution_id, "--no-progress")
        assert rerun.exit_code == 0 and "6 duplicate" in rerun.stdout

        bad = write_csv(tmp_path / "bad.csv", [{**rows[0], "reference": "S-9", "hours": "many"}])
        failed = _run(
            shell,
            cli,
            "import",
            str(bad),
            "--institution",
            institution_id,
            "--report",
            str(tmp_path / "r.jsonl"),
        )
        assert failed.exit_code == 1 and "1 failed" in failed.stdout
        assert importer.report_rows(tmp_path / "r.jsonl")[0]["error"]["type"].endswith("/row-invalid")
        missing = _run(shell, cli, "import", str(source), "--institution", "ins_nobody")
        assert missing.exit_code == 1 and "institution-not-found" in missing.stderr

        # the rule-change preview reads the same database
        proposed = raised_training_maximum(tmp_path / "proposed")
        diffed = _run(shell, cli, "rules", "diff-db", str(PILOT), str(proposed), "--fail-on-change")
        assert diffed.exit_code == 1, diffed.output
        lines = diffed.stdout.strip().splitlines()
        assert len(lines) == 2 and "S-1" in lines[0] and "-> recognised 7.5" in lines[0]
        assert lines[-1].startswith("1 of 6 outcome(s) in the database would change")
