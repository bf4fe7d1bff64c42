"""One batch pipeline: the same CSV file through the batch API, ``creditbank import`` and the console
upload gives the same per-row report and the same ledger results.

Two files, as registrars send them: GB18030 with Chinese headers and Chinese type names, and UTF-8
with a BOM and English headers. Each path posts for its own institution (references are unique per
institution), for one learner; the rows mix a recognised course, a certificate named by its common
level name (高级技师) and an Excel serial date, a MOOC the rules refuse, a level that exists for no
type and a date no calendar has.
"""

import csv
import io
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from openpyxl import Workbook, load_workbook
from sqlalchemy import Connection, text

from creditbank.auth.models import Role
from creditbank.context import AppContext
from creditbank.outcomes import importer, pipeline
from tests.conftest import Tokens
from tests.support.factories import create_institution, identity_number
from tests.support.signin import mint, sign_in

NUMBER = identity_number("19900307")
ENGLISH = [
    "reference",
    "identity_number",
    "learner_name",
    "outcome_type",
    "title",
    "achieved_on",
    "hours",
    "level",
    "score",
    "identity_verified",
]
CHINESE = [
    "机构编号",
    "身份证号",
    "姓名",
    "成果类型",
    "名称",
    "取得日期",
    "学时",
    "等级",
    "分数",
    "考核时已核验身份",
]
ROWS = [
    ["P-1", NUMBER, "张三", "training_course", "电工作业培训", "2026/10/01", "48", "", "", ""],
    ["P-2", NUMBER, "张三", "skill_level_certificate", "电工", "2026年10月1日", "", "高级技师", "", ""],
    ["P-3", NUMBER, "张三", "mooc", "Python 程序设计", "46296", "32", "", "50", "是"],
    ["P-4", NUMBER, "张三", "skill_level_certificate", "焊工", "2026-10-01", "", "六级", "", ""],
    ["P-5", NUMBER, "张三", "training_course", "钳工培训", "2026/13/01", "16", "", "", ""],
    ['=HYPERLINK("x")', NUMBER, "张三", "community_course", "书法", "2026.10.01", "16", "", "", "否"],
]
CHINESE_TYPES = {
    "training_course": "非学历培训课程",
    "skill_level_certificate": "职业技能等级证书",
    "mooc": "在线开放课程（慕课）",
    "community_course": "社区与老年教育课程",
}
EXPECTED = [  # (row, status, recognition, credits, error type)
    (1, "created", "recognised", "3", ""),
    (2, "created", "recognised", "8", ""),
    (3, "created", "rejected", "0", ""),
    (4, "error", "", "", "row-invalid"),
    (5, "error", "", "", "row-invalid"),
    (6, "created", "recognised", "1", ""),
]


def csv_file(header: list[str], *, chinese: bool) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    for row in ROWS:
        writer.writerow(
            [CHINESE_TYPES.get(cell, cell) if chinese and i == 3 else cell for i, cell in enumerate(row)]
        )
    return out.getvalue().encode("gb18030") if chinese else b"\xef\xbb\xbf" + out.getvalue().encode()


FILES = {
    "gb18030-chinese": lambda: csv_file(CHINESE, chinese=True),
    "utf8-bom-english": lambda: csv_file(ENGLISH, chinese=False),
}


def plain(report: dict[str, Any]) -> tuple[Any, ...]:
    """A report row as the columns every path writes, in one text form (no ids: they differ)."""
    error = report.get("error")
    kind = str(error.get("type", "")) if isinstance(error, dict) else str(report.get("error_type") or "")
    credits = report.get("credits")
    return (
        int(report["row"]),
        str(report["reference"] or "").removeprefix("'"),
        report["status"],
        report.get("recognition") or "",
        "" if credits in (None, "") else str(Decimal(str(credits)).normalize()),
        report.get("reason_zh") or "",
        report.get("reason_en") or "",
        kind.rsplit("/", 1)[-1],
    )


def ledger(db: Connection, institution_id: str) -> list[tuple[Any, ...]]:
    rows = db.execute(
        text(
            "SELECT o.reference, o.achieved_on, o.level, r.status, r.credits, r.lot_id IS NOT NULL "
            "FROM outcomes o JOIN recognitions r ON r.outcome_id = o.id "
            "WHERE o.institution_id = :i ORDER BY o.reference"
        ),
        {"i": institution_id},
    )
    return [tuple(row) for row in rows]


def through_api(client: TestClient, auth: Tokens, institution_id: str, data: bytes) -> list[dict[str, Any]]:
    response = client.post(
        "/api/v1/outcomes/batch",
        content=data,
        headers={**auth(Role.institution, institution_id), "Content-Type": "text/csv"},
    )
    assert response.status_code == 200, response.text
    rows: list[dict[str, Any]] = response.json()["rows"]
    return rows


def through_cli(ctx: AppContext, institution_id: str, data: bytes, tmp_path: Path) -> list[dict[str, Any]]:
    source = tmp_path / "outcomes.csv"
    source.write_bytes(data)
    summary = importer.import_file(ctx, source, institution_id)
    return importer.report_rows(summary.report)


def through_console(
    client: TestClient, ctx: AppContext, institution_id: str, data: bytes
) -> list[dict[str, Any]]:
    csrf = sign_in(client, mint(ctx, Role.institution, institution_id))
    answer = client.post(
        "/console/upload",
        data={"csrf": csrf, "report": "csv"},
        files={"upload": ("成果.csv", data, "text/csv")},
    )
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/csv")
    assert "filename*=UTF-8''%E6%88%90%E6%9E%9C.report.csv" in answer.headers["content-disposition"]
    return list(csv.DictReader(io.StringIO(answer.content.decode("utf-8-sig"))))


@pytest.mark.parametrize("name", sorted(FILES))
def test_the_same_file_gives_the_same_report_and_ledger_on_every_path(
    name: str, client: TestClient, auth: Tokens, ctx: AppContext, db: Connection, tmp_path: Path
) -> None:
    data = FILES[name]()
    admin = auth(Role.admin)
    api, cli, console = (create_institution(client, admin) for _ in range(3))
    reports = {
        "api": [plain(r) for r in through_api(client, auth, api, data)],
        "cli": [plain(r) for r in through_cli(ctx, cli, data, tmp_path)],
        "console": [plain(r) for r in through_console(client, ctx, console, data)],
    }
    assert reports["api"] == reports["cli"] == reports["console"], reports
    assert [(r[0], r[2], r[3], r[4], r[7]) for r in reports["api"]] == EXPECTED
    reasons = {r[0]: r[5] for r in reports["api"]}
    assert "成绩 50" in reasons[3] and "60 分" in reasons[3]  # the condition that failed, in Chinese
    assert "等级" in reasons[4] and "五级/初级工" in reasons[4] and "一级/高级技师" in reasons[4]
    assert reasons[5].startswith("取得日期") and "2026年10月1日" in reasons[5]
    assert all(r[6] for r in reports["api"] if r[2] == "error" or r[3] == "rejected")  # and English
    books = [ledger(db, institution) for institution in (api, cli, console)]
    assert books[0] == books[1] == books[2]
    assert [(ref, str(day), level, status) for ref, day, level, status, _, _ in books[0]] == [
        ('=HYPERLINK("x")', "2026-10-01", None, "recognised"),
        ("P-1", "2026-10-01", None, "recognised"),
        ("P-2", "2026-10-01", "一级", "recognised"),
        ("P-3", "2026-10-01", None, "rejected"),
    ]


def test_the_console_report_downloads_as_xlsx_with_escaped_cells(
    client: TestClient, auth: Tokens, ctx: AppContext
) -> None:
    institution = create_institution(client, auth(Role.admin))
    csrf = sign_in(client, mint(ctx, Role.institution, institution))
    answer = client.post(
        "/console/upload",
        data={"csrf": csrf, "report": "xlsx"},
        files={"upload": ("outcomes.csv", FILES["utf8-bom-english"](), "text/csv")},
    )
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == pipeline.XLSX_MEDIA_TYPE
    sheet = load_workbook(io.BytesIO(answer.content), read_only=True).worksheets[0]
    rows = [list(r) for r in sheet.iter_rows(values_only=True)]
    assert tuple(rows[0]) == pipeline.REPORT_COLUMNS
    cells = [c for row in rows for c in row if isinstance(c, str)]
    assert not [c for c in cells if c.startswith(("=", "+", "-", "@", "\t", "\r"))]
    assert rows[6][1] == '\'=HYPERLINK("x")'
    assert rows[4][2] == "error" and "六级" in str(rows[4][6])  # reason_zh


def test_an_xlsx_upload_reads_date_cells_through_every_path(
    client: TestClient, auth: Tokens, ctx: AppContext, db: Connection, tmp_path: Path
) -> None:
    import datetime as dt

    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(CHINESE[:7])
    sheet.append(["X-1", NUMBER, "张三", "非学历培训课程", "电工", dt.datetime(2026, 10, 1), 48])
    sheet.append(["X-2", NUMBER, "张三", "非学历培训课程", "焊工", 46296, 32])
    out = io.BytesIO()
    book.save(out)
    admin = auth(Role.admin)
    api, cli = create_institution(client, admin), create_institution(client, admin)
    response = client.post(
        "/api/v1/outcomes/batch",
        content=out.getvalue(),
        headers={**auth(Role.institution, api), "Content-Type": pipeline.XLSX_MEDIA_TYPE},
    )
    assert response.status_code == 200, response.text
    assert [r["status"] for r in response.json()["rows"]] == ["created", "created"]
    source = tmp_path / "outcomes.xlsx"
    source.write_bytes(out.getvalue())
    assert importer.import_file(ctx, source, cli).created == 2
    assert ledger(db, api) == ledger(db, cli)
    assert [(ref, day) for ref, day, *_ in ledger(db, api)] == [
        ("X-1", dt.date(2026, 10, 1)),
        ("X-2", dt.date(2026, 10, 1)),
    ]


def test_the_cli_writes_the_same_report_as_xlsx(
    ctx: AppContext, client: TestClient, auth: Tokens, tmp_path: Path
) -> None:
    institution = create_institution(client, auth(Role.admin))
    source = tmp_path / "outcomes.csv"
    source.write_bytes(FILES["gb18030-chinese"]())
    summary = importer.import_file(ctx, source, institution, report_path=tmp_path / "report.xlsx")
    assert (summary.created, summary.errors) == (4, 2)
    rows = importer.report_rows(tmp_path / "report.xlsx")
    assert [(r[0], r[2], r[3], r[4], r[7]) for r in map(plain, rows)] == EXPECTED
    assert "六级" in rows[3]["reason_zh"] and "accepted" in rows[3]["reason_en"]
    assert rows[5]["reference"] == '\'=HYPERLINK("x")'  # escaped like the CSV
