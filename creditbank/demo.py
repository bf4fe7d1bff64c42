"""The demo world that ``make run`` loads: institutions, learners, their outcomes, and tokens.

Four institutions post outcomes of every kind for four learners (王芳 has more than ten): training
and community courses, elderly education, 1+X and skill level certificates, MOOCs, a skills
competition, degree courses and work experience, all recognised by the shipped pilot rules. Some
wait in review (an outcome older than five years, work experience), one went through both review
stages, two were corrected and one was revoked.

Loading is idempotent: institutions are found by credit code and learners by identity number;
outcomes carry fixed references and dates, so posting them again reports duplicates; reviews,
corrections and the revocation look at the outcome's state first and are applied once. Each run
mints fresh tokens.
"""

import datetime as dt
from collections import defaultdict
from decimal import Decimal
from typing import Any

from sqlmodel import Session, col, select

from creditbank.auth.models import ReviewerAccount, Role
from creditbank.auth.service import create_token
from creditbank.context import AppContext
from creditbank.identifiers import with_credit_code_check, with_identity_check
from creditbank.institutions import service as institutions
from creditbank.institutions.models import Institution, InstitutionKind
from creditbank.learners import service as learners
from creditbank.ledger.models import JournalTransaction
from creditbank.outcomes import corrections, review, service
from creditbank.outcomes.models import Outcome, Recognition, RecognitionStatus
from creditbank.outcomes.schemas import OutcomeCreate

DEMO_INSTITUTIONS: list[dict[str, Any]] = [
    {
        "key": "haidian-vocational",
        "name_zh": "北京市海淀区职业学校",
        "name_en": "Beijing Haidian Vocational School",
        "credit_code": with_credit_code_check("12110108400000001"),
        "kind": InstitutionKind.vocational_school,
        "district": "海淀区",
    },
    {
        "key": "open-university",
        "name_zh": "北京开放大学",
        "name_en": "Beijing Open University",
        "credit_code": with_credit_code_check("12110000400000002"),
        "kind": InstitutionKind.open_university,
        "district": "西城区",
    },
    {
        "key": "chaoyang-community",
        "name_zh": "北京市朝阳区社区学院",
        "name_en": "Beijing Chaoyang Community College",
        "credit_code": with_credit_code_check("12110105400000003"),
        "kind": InstitutionKind.community_college,
        "district": "朝阳区",
    },
    {
        "key": "skills-training",
        "name_zh": "北京市职业技能培训中心",
        "name_en": "Beijing Vocational Skills Training Centre",
        "credit_code": with_credit_code_check("91110106400000004"),
        "kind": InstitutionKind.training_body,
        "district": "丰台区",
    },
]

DEMO_LEARNERS: list[dict[str, str]] = [
    {
        "key": "wang-fang",
        "name": "王芳",
        "identity_number": with_identity_check("11010819900307002"),
        "by": "haidian-vocational",
    },
    {
        "key": "li-wei",
        "name": "李伟",
        "identity_number": with_identity_check("11010519850615003"),
        "by": "open-university",
    },
    {
        "key": "zhang-min",
        "name": "张敏",
        "identity_number": with_identity_check("11010519620912004"),
        "by": "chaoyang-community",
    },
    {
        "key": "chen-jing",
        "name": "陈静",
        "identity_number": with_identity_check("11010619930521005"),
        "by": "skills-training",
    },
]

DISTRICT_REVIEWER = review.Reviewer(id="demo-district-reviewer", role="reviewer")
CITY_REVIEWER = review.Reviewer(id="demo-city-reviewer", role="reviewer")
REVIEWER_ACCOUNTS = (
    (DISTRICT_REVIEWER.id, "赵审核", "海淀区分中心"),
    (CITY_REVIEWER.id, "孙复核", "市中心"),
)


def _outcome(
    by: str, learner: str, reference: str, kind: str, title: str, achieved_on: str, **facts: Any
) -> dict[str, Any]:
    return {
        "by": by,
        "learner": learner,
        "reference": reference,
        "outcome_type": kind,
        "title": title,
        "achieved_on": dt.date.fromisoformat(achieved_on),
        **facts,
    }


# Every outcome has a fixed reference and fixed facts: posting the list again changes nothing.
DEMO_OUTCOMES: list[dict[str, Any]] = [
    # 王芳: a web developer's lifelong learning, more than ten outcomes of every kind
    _outcome(
        "skills-training",
        "wang-fang",
        "WF-TRAIN-WEB",
        "training_course",
        "Web前端开发实训",
        "2025-04-18",
        hours=Decimal(64),
        field="web_front_end",
        grade="优秀",
    ),
    _outcome(
        "haidian-vocational",
        "wang-fang",
        "WF-1X-WEB",
        "one_plus_x_certificate",
        "Web前端开发职业技能等级证书",
        "2025-06-30",
        level="中级",
        field="web_front_end",
    ),
    _outcome(
        "skills-training",
        "wang-fang",
        "WF-SKILL-ELEC",
        "skill_level_certificate",
        "电工职业技能等级证书",
        "2024-11-20",
        level="四级",
        field="electrician",
    ),
    _outcome(
        "open-university",
        "wang-fang",
        "WF-MOOC-JS",
        "mooc",
        "JavaScript 程序设计",
        "2025-09-12",
        hours=Decimal(32),
        score=Decimal(88),
        identity_verified=True,
        field="web_front_end",
    ),
    _outcome(
        "haidian-vocational",
        "wang-fang",
        "WF-COMP-NAT",
        "competition_award",
        "全国职业院校技能大赛 Web技术赛项 二等奖",
        "2025-05-26",
        level="national",
        field="web_front_end",
        attributes={"competition_id": "2025-GZ-WEB"},
    ),
    _outcome(
        "open-university",
        "wang-fang",
        "WF-DEG-CS101",
        "degree_course",
        "计算机应用基础",
        "2024-07-05",
        grade="良好",
        course_code="CS101",
        field="computing",
        attributes={"credits": 3},
    ),
    _outcome(
        "chaoyang-community",
        "wang-fang",
        "WF-COMM-CALLI",
        "community_course",
        "社区书法入门",
        "2025-12-20",
        hours=Decimal(24),
    ),
    _outcome(
        "open-university",
        "wang-fang",
        "WF-MOOC-OFFICE",
        "mooc",
        "办公软件高级应用",
        "2026-03-08",
        hours=Decimal(24),
        score=Decimal(75),
        identity_verified=True,
        field="office_it",
    ),
    _outcome(
        "skills-training",
        "wang-fang",
        "WF-TRAIN-OLD",
        "training_course",
        "计算机操作员培训",
        "2017-06-01",
        hours=Decimal(48),
        field="office_it",
    ),  # older than 5 years: review
    _outcome(
        "haidian-vocational",
        "wang-fang",
        "WF-WORK-DEV",
        "work_experience",
        "前端开发工程师工作经历",
        "2026-06-30",
        field="web_front_end",
        attributes={"years": 3},
    ),  # always reviewed: through both stages below
    _outcome(
        "skills-training",
        "wang-fang",
        "WF-TRAIN-PY",
        "training_course",
        "Python 数据分析",
        "2026-05-15",
        hours=Decimal(40),
        field="data_analysis",
    ),  # corrected below
    # 李伟: degree courses and certificates at the open university
    _outcome(
        "open-university",
        "li-wei",
        "LW-DEG-CS201",
        "degree_course",
        "数据结构",
        "2025-01-10",
        grade="优秀",
        score=Decimal(92),
        course_code="CS201",
        field="computing",
        attributes={"credits": 4},
    ),
    _outcome(
        "open-university",
        "li-wei",
        "LW-1X-CLOUD",
        "one_plus_x_certificate",
        "云计算平台运维与开发职业技能等级证书",
        "2025-07-01",
        level="初级",
        field="cloud",
    ),
    _outcome(
        "skills-training",
        "li-wei",
        "LW-SKILL-NET",
        "skill_level_certificate",
        "网络与信息安全管理员",
        "2026-01-15",
        level="四级",
        field="network_security",
    ),  # corrected
    _outcome(
        "open-university",
        "li-wei",
        "LW-MOOC-AI",
        "mooc",
        "人工智能导论",
        "2026-02-20",
        hours=Decimal(32),
        score=Decimal(81),
        identity_verified=False,
    ),  # rejected
    _outcome(
        "skills-training",
        "li-wei",
        "LW-COMP-PROV",
        "competition_award",
        "北京市职业技能大赛 网络安全赛项 三等奖",
        "2025-10-18",
        level="provincial",
        attributes={"competition_id": "2025-BJ-NETSEC"},
    ),
    _outcome(
        "open-university",
        "li-wei",
        "LW-WORK-OPS",
        "work_experience",
        "运维工程师工作经历",
        "2026-08-31",
        attributes={"years": 2},
    ),  # waits in review
    # 张敏: elderly and community education
    _outcome(
        "chaoyang-community",
        "zhang-min",
        "ZM-ELDER-PHONE",
        "community_course",
        "智能手机应用",
        "2025-11-02",
        hours=Decimal(24),
        attributes={"audience": "elderly"},
    ),
    _outcome(
        "chaoyang-community",
        "zhang-min",
        "ZM-ELDER-TAICHI",
        "community_course",
        "太极拳",
        "2026-04-12",
        hours=Decimal(32),
        attributes={"audience": "elderly"},
    ),
    _outcome(
        "chaoyang-community",
        "zhang-min",
        "ZM-COMM-CHOIR",
        "community_course",
        "社区合唱",
        "2026-09-26",
        hours=Decimal(16),
    ),
    _outcome(
        "chaoyang-community",
        "zhang-min",
        "ZM-TRAIN-OLD",
        "training_course",
        "家政服务培训",
        "2018-09-15",
        hours=Decimal(32),
    ),  # older than 5 years: waits in review
    # 陈静: elderly care
    _outcome(
        "skills-training",
        "chen-jing",
        "CJ-TRAIN-CARE",
        "training_course",
        "养老护理员培训",
        "2026-03-28",
        hours=Decimal(48),
        field="elderly_care",
    ),  # revoked below
    _outcome(
        "skills-training",
        "chen-jing",
        "CJ-SKILL-CARE",
        "skill_level_certificate",
        "养老护理员职业技能等级证书",
        "2026-05-30",
        level="五级",
        field="elderly_care",
    ),
    _outcome(
        "haidian-vocational",
        "chen-jing",
        "CJ-1X-CARE",
        "one_plus_x_certificate",
        "老年照护职业技能等级证书",
        "2026-07-15",
        level="高级",
        field="elderly_care",
    ),
]

# (institution, reference) reviewed through both stages (the others in review keep waiting)
DEMO_REVIEWED = [("skills-training", "WF-TRAIN-OLD"), ("haidian-vocational", "WF-WORK-DEV")]
# (institution, reference, the corrected facts)
DEMO_CORRECTIONS: list[tuple[str, str, dict[str, Any]]] = [
    ("skills-training", "WF-TRAIN-PY", {"hours": Decimal(48)}),
    ("skills-training", "LW-SKILL-NET", {"level": "三级"}),
]
# (institution, reference, reason)
DEMO_REVOCATIONS = [("skills-training", "CJ-TRAIN-CARE", "培训机构撤回：考核记录缺失，待补考后重新提交")]


def load_demo(session: Session, ctx: AppContext) -> dict[str, Any]:
    """Create the demo world if missing; return fresh tokens for every actor."""
    by_key: dict[str, Institution] = {}
    for spec in DEMO_INSTITUTIONS:
        existing = session.exec(
            select(Institution).where(Institution.credit_code == spec["credit_code"])
        ).first()
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

    for account_id, name, unit in REVIEWER_ACCOUNTS:  # two people, so four eyes can be shown
        if session.get(ReviewerAccount, account_id) is None:
            session.add(ReviewerAccount(id=account_id, name=name, unit=unit))
    session.flush()
    _load_outcomes(session, ctx, by_key, learner_ids)

    def token(role: Role, subject: str | None, label: str) -> str:
        return create_token(session, ctx.token_key, role, subject, label)[1]

    return {
        "admin": token(Role.admin, None, "demo admin"),
        "reviewer": token(Role.reviewer, DISTRICT_REVIEWER.id, "demo district reviewer"),
        "city_reviewer": token(Role.reviewer, CITY_REVIEWER.id, "demo city reviewer"),
        "auditor": token(Role.auditor, None, "demo auditor"),
        "institutions": {
            key: {
                "id": inst.id,
                "name": inst.name_zh,
                "token": token(Role.institution, inst.id, f"demo {key}"),
            }
            for key, inst in by_key.items()
        },
        "learners": {
            key: {"id": lid, "token": token(Role.learner, lid, f"demo {key}")}
            for key, lid in learner_ids.items()
        },
    }


def _body(spec: dict[str, Any], learner_id: str) -> OutcomeCreate:
    facts = {k: v for k, v in spec.items() if k not in ("by", "learner")}
    return OutcomeCreate.model_validate({**facts, "learner_id": learner_id})


def _state(session: Session, institution_id: str, reference: str) -> tuple[Outcome, Recognition] | None:
    found = session.exec(
        select(Outcome, Recognition)
        .join(Recognition, col(Recognition.outcome_id) == col(Outcome.id))
        .where(col(Outcome.institution_id) == institution_id, col(Outcome.reference) == reference)
    ).first()
    return (found[0], found[1]) if found else None


def _load_outcomes(
    session: Session, ctx: AppContext, by_key: dict[str, Institution], learner_ids: dict[str, str]
) -> None:
    """Post the demo outcomes, then review, correct and revoke some of them, each once."""
    # 1. post, institution by institution (duplicates on a second run)
    per_institution: dict[str, list[tuple[int, OutcomeCreate]]] = defaultdict(list)
    for row, spec in enumerate(DEMO_OUTCOMES, start=1):
        per_institution[spec["by"]].append((row, _body(spec, learner_ids[spec["learner"]])))
    for key, rows in per_institution.items():
        for result in service.post_rows(session, ctx, by_key[key], rows):
            if result.error is not None:
                raise result.error
    # 2. reviews through both stages, by two different reviewers
    for key, reference in DEMO_REVIEWED:
        for reviewer, stage, reason in (
            (DISTRICT_REVIEWER, "district", "区分中心核验证明材料原件，情况属实"),
            (CITY_REVIEWER, "city", "市中心复核通过，按规则认定"),
        ):
            state = _state(session, by_key[key].id, reference)
            if state and state[1].status == RecognitionStatus.review.value and state[1].stage == stage:
                review.decide(
                    session, state[0].id, decision="approve", reason=reason, reviewer=reviewer, stage=stage
                )
    # 3. corrections: the original is superseded once
    specs = {(spec["by"], spec["reference"]): spec for spec in DEMO_OUTCOMES}
    for key, reference, fixed in DEMO_CORRECTIONS:
        state = _state(session, by_key[key].id, reference)
        if state and state[1].status not in corrections.FINAL:
            spec = {**specs[(key, reference)], **fixed}
            body = _body(spec, learner_ids[spec["learner"]])
            corrections.correct(session, ctx, by_key[key], state[0].id, body)
    # 4. the revocation
    for key, reference, reason in DEMO_REVOCATIONS:
        state = _state(session, by_key[key].id, reference)
        if state and state[1].status not in corrections.FINAL:
            corrections.revoke(session, state[0].id, by_key[key].id, reason)


# --- the exchange part of the demo: a programme, a transfer that converts, certificates ----------

DEMO_PROGRAMME = {
    "code": "BJOU-510201",
    "title_zh": "计算机应用技术（开放教育专科）",
    "title_en": "Computer Applications (open education, associate degree)",
    "graduation_credits": Decimal(76),
}
DEMO_REVOKED_REASON = "示例：发证机构核查发现考核记录有误，撤销该证书"
_DEGREE_GRADES: dict[str, Any] = {
    "scale": ["优秀", "良好", "合格"],
    "grades": [
        {"source": "优秀", "destination": "优秀"},
        {"source": "良好", "destination": "良好"},
        {"source": "合格", "destination": "合格"},
    ],
    "score_bands": [
        {"min_score": 90, "destination": "优秀"},
        {"min_score": 75, "destination": "良好"},
        {"min_score": 60, "destination": "合格"},
    ],
    "default": "合格",
}
# the open university's degree-course equivalences for 计算机应用技术 (BJOU-510201)
DEMO_EQUIVALENCES: list[dict[str, Any]] = [
    {
        "requires": {"lot": {"outcome_type": "degree_course", "course_code": "CS201"}},
        "destination_kind": "course",
        "destination_code": "CS201",
        "destination_title_zh": "数据结构",
        "destination_title_en": "Data Structures",
        "credits": Decimal(4),
        "grade_mapping": _DEGREE_GRADES,
    },
    {
        "requires": {"lot": {"outcome_type": "degree_course", "course_code": "CS101"}},
        "destination_kind": "course",
        "destination_code": "CS101",
        "destination_title_zh": "计算机应用基础",
        "destination_title_en": "Computer Application Basics",
        "credits": Decimal(3),
        "grade_mapping": _DEGREE_GRADES,
    },
]


def load_exchange(session: Session, ctx: AppContext) -> tuple[dict[str, Any], dict[str, Any]]:
    """Give 王芳 a transfer to the open university that converted, and one revoked certificate.

    The open university publishes its programme 计算机应用技术 (BJOU-510201) with degree-course
    equivalences for 数据结构 (CS201) and 计算机应用基础 (CS101).

    Idempotent: the programme, the equivalences, the transfer and the revoked certificate are made
    once. Returns
    (a valid certificate, the revoked certificate) as signed JSON documents.
    """
    from creditbank.auth.service import Principal
    from creditbank.catalog import exchange
    from creditbank.catalog import service as catalog
    from creditbank.catalog.models import Programme, TransferRequest
    from creditbank.catalog.schemas import EquivalenceCreate, ProgrammeCreate
    from creditbank.credentials import issuance
    from creditbank.credentials import service as certificates
    from creditbank.credentials.models import Certificate
    from creditbank.ledger.models import Lot, LotLock
    from creditbank.rule_engine.engine import expired
    from creditbank.transparency import store

    store.publish_checkpoint(session, ctx.secrets.master_key, store.DEFAULT_LOG)
    university = session.exec(
        select(Institution).where(Institution.credit_code == DEMO_INSTITUTIONS[1]["credit_code"])
    ).one()
    training = session.exec(
        select(Institution).where(Institution.credit_code == DEMO_INSTITUTIONS[3]["credit_code"])
    ).one()
    learner_id = learners.find_by_identity_number(
        session, ctx.identity_key, DEMO_LEARNERS[0]["identity_number"]
    ).id
    programme = session.exec(
        select(Programme).where(
            col(Programme.institution_id) == university.id, col(Programme.code) == DEMO_PROGRAMME["code"]
        )
    ).first() or catalog.create_programme(
        session, university.id, ProgrammeCreate.model_validate(DEMO_PROGRAMME)
    )
    published = {row.destination_code for row in catalog.list_equivalences(session, university.id)}
    for spec in DEMO_EQUIVALENCES:
        if spec["destination_code"] not in published:
            catalog.create_equivalence(session, university.id, EquivalenceCreate.model_validate(spec))
    transfer = session.exec(
        select(TransferRequest).where(
            col(TransferRequest.learner_id) == learner_id, col(TransferRequest.programme_id) == programme.id
        )
    ).first()
    reversed_ids = set(
        session.exec(
            select(JournalTransaction.reverses_id).where(col(JournalTransaction.reverses_id).is_not(None))
        ).all()
    )
    locked = set(session.exec(select(LotLock.lot_id)).all())
    today = dt.date.today()
    live = [
        lot
        for lot in session.exec(
            select(Lot).where(col(Lot.learner_id) == learner_id).order_by(col(Lot.created_at))
        ).all()
        if lot.recognition_tx_id not in reversed_ids and not expired(lot.expires_on, today)
    ]
    # one lot of the training centre stays out of the transfer, for the revoked certificate
    spare = next(lot for lot in reversed(live) if lot.issuer_id == training.id and lot.id not in locked)
    if transfer is None:
        candidates = [lot.id for lot in live if lot.id not in locked and lot.id != spare.id]
        transfer, _ = exchange.request_transfer(
            session,
            ctx,
            Principal(Role.learner, learner_id, None),
            learner_id=learner_id,
            lot_ids=candidates,
            destination_institution_id=university.id,
            programme_id=programme.id,
        )
        exchange.accept_transfer(session, ctx, Principal(Role.institution, university.id, None), transfer.id)
    valid = session.exec(
        select(Certificate)
        .where(col(Certificate.id).in_(transfer.certificate_ids))
        .order_by(col(Certificate.created_at))
    ).first()
    revoked = session.exec(
        select(Certificate).where(
            col(Certificate.learner_id) == learner_id, col(Certificate.revoked_at).is_not(None)
        )
    ).first()
    if revoked is None:
        issued = issuance.issue_lot_certificate(session, ctx, lot_id=spare.id)
        revoked = certificates.revoke(
            session,
            ctx,
            Principal(Role.institution, training.id, None),
            issued.certificate.id,
            DEMO_REVOKED_REASON,
        )
    assert valid is not None
    return valid.document, revoked.document
