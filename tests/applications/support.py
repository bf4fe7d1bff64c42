"""Evidence files made for real (a PDF with a page, JPEG and PNG images) and an application filed
through the API, for the application tests."""

import datetime as dt
import io
import itertools
from typing import Any

from fastapi.testclient import TestClient
from httpx import Response
from PIL import Image
from pypdf import PdfWriter

from creditbank.auth.models import Role
from creditbank.auth.service import create_reviewer, create_token
from creditbank.context import AppContext

_titles = itertools.count(1)


def pdf_bytes() -> bytes:
    writer = PdfWriter()
    writer.add_blank_page(width=595, height=842)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def image_bytes(kind: str = "PNG", size: tuple[int, int] = (64, 48)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (200, 30, 30)).save(out, kind)
    return out.getvalue()


def claim(title: str | None = None, **extra: str) -> dict[str, str]:
    """A training course of 48 hours (3 credits by the pilot's rules) the learner brings."""
    return {
        "outcome_type": "training_course",
        "title": title or f"低压电工作业培训（自报）{next(_titles)}",
        "achieved_on": (dt.date.today() - dt.timedelta(days=90)).isoformat(),
        "hours": "48",
        "district": "朝阳区",
        "issuer_kind": "training_body",
        "issuer_name": "北京市朝阳区职业技能培训学校",
        "statement": "结业证书与学时证明",
        **extra,
    }


def two_files() -> list[tuple[str, tuple[str, bytes, str]]]:
    return [
        ("files", ("结业证书.pdf", pdf_bytes(), "application/pdf")),
        ("files", ("学时证明.png", image_bytes(), "image/png")),
    ]


def apply(
    client: TestClient,
    headers: dict[str, str],
    files: list[tuple[str, tuple[str, bytes, str]]] | None = None,
    **fields: str,
) -> Response:
    response: Response = client.post(
        "/api/v1/applications",
        data=claim(**fields),
        files=files if files is not None else two_files(),
        headers=headers,
    )
    return response


def reviewer(ctx: AppContext, district: str | None, name: str = "审核员") -> dict[str, str]:
    """A token of a new reviewer person (of a district sub-centre, or the city centre: None)."""
    with ctx.sessions() as s, s.begin():
        account = create_reviewer(s, name, district=district)
        _, token = create_token(s, ctx.token_key, Role.reviewer, account.id)
    return {"Authorization": f"Bearer {token}"}


def decide(
    client: TestClient,
    headers: dict[str, str],
    outcome_id: str,
    decision: str,
    reason: str,
    key: str,
    **extra: Any,
) -> Response:
    response: Response = client.post(
        f"/api/v1/reviews/{outcome_id}/decision",
        json={"decision": decision, "reason": reason, **extra},
        headers={**headers, "Idempotency-Key": key},
    )
    return response
