"""The demo world that ``make run`` loads: institutions, learners and their tokens.

Loading is idempotent: institutions are found by credit code and learners by identity number, so
running it again adds nothing twice; each run mints fresh tokens.
"""

from typing import Any

from sqlmodel import Session, select

from creditbank.auth.models import Role
from creditbank.auth.service import create_token
from creditbank.context import AppContext
from creditbank.institutions import service as institutions
from creditbank.institutions.models import Institution, InstitutionKind
from creditbank.learners import service as learners

_USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)


def with_uscc_check(body17: str) -> str:
    total = sum(_USCC_ALPHABET.index(c) * w for c, w in zip(body17, _USCC_WEIGHTS, strict=True))
    return body17 + _USCC_ALPHABET[(31 - total % 31) % 31]


def with_id_check(body17: str) -> str:
    total = sum(int(d) * w for d, w in zip(body17, _ID_WEIGHTS, strict=True))
    return body17 + "10X98765432"[total % 11]


DEMO_INSTITUTIONS: list[dict[str, Any]] = [
    {
        "key": "haidian-vocational",
        "name_zh": "北京市海淀区职业学校",
        "name_en": "Beijing Haidian Vocational School",
        "credit_code": with_uscc_check("12110108400000001"),
        "kind": InstitutionKind.vocational_school,
        "district": "海淀区",
    },
    {
        "key": "open-university",
        "name_zh": "北京开放大学",
        "name_en": "Beijing Open University",
        "credit_code": with_uscc_check("12110000400000002"),
        "kind": InstitutionKind.open_university,
        "district": "西城区",
    },
    {
        "key": "chaoyang-community",
        "name_zh": "北京市朝阳区社区学院",
        "name_en": "Beijing Chaoyang Community College",
        "credit_code": with_uscc_check("12110105400000003"),
        "kind": InstitutionKind.community_college,
        "district": "朝阳区",
    },
    {
        "key": "skills-training",
        "name_zh": "北京市职业技能培训中心",
        "name_en": "Beijing Vocational Skills Training Centre",
        "credit_code": with_uscc_check("91110106400000004"),
        "kind": InstitutionKind.training_body,
        "district": "丰台区",
    },
]

DEMO_LEARNERS: list[dict[str, str]] = [
    {"key": "wang-fang", "name": "王芳", "identity_number": with_id_check("11010819900307002"), "by": "haidian-vocational"},
    {"key": "li-wei", "name": "李伟", "identity_number": with_id_check("11010519850615003"), "by": "open-university"},
    {"key": "zhang-min", "name": "张敏", "identity_number": with_id_check("11010519620912004"), "by": "chaoyang-community"},
]


def load_demo(session: Session, ctx: AppContext) -> dict[str, Any]:
    """Create the demo world if missing; return fresh tokens for every actor."""
    by_key: dict[str, Institution] = {}
    for spec in DEMO_INSTITUTIONS:
        existing = session.exec(select(Institution).where(Institution.credit_code == spec["credit_code"])).first()
        by_key[spec["key"]] = existing or institutions.register(
            session,
            name_zh=spec["name_zh"],
            name_en=spec["name_en"],
            credit_code=spec["credit_code"],
            kind=spec["kind"],
            district=spec["district"],
        )
    learner_ids: dict[str, str] = {}
    for person in DEMO_LEARNERS:
        learner, _ = learners.register(
            session,
            identity_key=ctx.identity_key,
            master_key=ctx.secrets.master_key,
            name=person["name"],
            identity_number=person["identity_number"],
            institution_id=by_key[person["by"]].id,
        )
        learner_ids[person["key"]] = learner.id

    def token(role: Role, subject: str | None, label: str) -> str:
        return create_token(session, ctx.token_key, role, subject, label)[1]

    return {
        "admin": token(Role.admin, None, "demo admin"),
        "reviewer": token(Role.reviewer, None, "demo reviewer"),
        "auditor": token(Role.auditor, None, "demo auditor"),
        "institutions": {
            key: {"id": inst.id, "name": inst.name_zh, "token": token(Role.institution, inst.id, f"demo {key}")}
            for key, inst in by_key.items()
        },
        "learners": {
            key: {"id": lid, "token": token(Role.learner, lid, f"demo {key}")} for key, lid in learner_ids.items()
        },
    }
