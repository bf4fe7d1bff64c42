"""The demo world that ``make run`` loads: institutions, learners, their outcomes, and tokens.

Four institutions post outcomes of every kind for four learners (王芳 has more than ten): training
and community courses, elderly education, 1+X and skill level certificates, MOOCs, a skills
competition, degree courses and work experience, all recognised by the shipped pilot rules. Some
wait in review (an outcome older than five years, work experience), one went through both review
stages, two were corrected and one was revoked.

The world is data: ``creditbank/demo_data/*.yaml`` names the institutions, the people, every outcome
with what happens to it (reviews, corrections, the revocation) and the exchange (a programme and its
course equivalences); this module reads the files and posts through the services. Identity numbers
and credit codes are stored there without their check character, which :mod:`creditbank.identifiers`
adds.

Loading is idempotent: institutions are found by credit code and learners by identity number;
outcomes carry fixed references and dates, so posting them again reports duplicates; reviews,
corrections and the revocation look at the outcome's state first and are applied once. Each run
mints fresh tokens.
"""

import datetime as dt
from collections import defaultdict
from importlib import resources
from typing import Any

import yaml
from sqlmodel import Session, col, select

from creditbank.auth.models import ReviewerAccount, Role
from creditbank.auth.service import create_token
from creditbank.catalog import enrolment_results
from creditbank.context import AppContext
from creditbank.identifiers import with_credit_code_check, with_identity_check
from creditbank.institutions import service as institutions
from creditbank.institutions.models import Institution, InstitutionKind
from creditbank.learners import service as learners
from creditbank.ledger.models import JournalTransaction
from creditbank.outcomes import corrections, review, service
from creditbank.outcomes.models import Outcome, Recognition, RecognitionStatus
from creditbank.outcomes.schemas import OutcomeCreate


def _read(name: str) -> Any:
    """One YAML file of the demo world (package data in ``creditbank/demo_data/``)."""
    return yaml.safe_load(resources.files("creditbank").joinpath("demo_data", name).read_text("utf-8"))


def _institution(spec: dict[str, Any]) -> dict[str, Any]:
    return {
        **spec,
        "credit_code": with_credit_code_check(spec["credit_code"]),
        "kind": InstitutionKind(spec["kind"]),
    }


def _learner(spec: dict[str, str]) -> dict[str, str]:
    return {**spec, "identity_number": with_identity_check(spec["identity_number"])}


_PEOPLE = _read("people.yaml")
_OUTCOMES = _read("outcomes.yaml")
_EXCHANGE = _read("exchange.yaml")

DEMO_INSTITUTIONS: list[dict[str, Any]] = [_institution(spec) for spec in _read("institutions.yaml")]
DEMO_LEARNERS: list[dict[str, str]] = [_learner(spec) for spec in _PEOPLE["learners"]]
REVIEWERS = [
    review.Reviewer(id=account["id"], role="reviewer", district=account["district"])
    for account in _PEOPLE["reviewers"]
]
DISTRICT_REVIEWER, CITY_REVIEWER = REVIEWERS[0], REVIEWERS[-1]
REVIEWER_ACCOUNTS = tuple(
    (account["id"], account["name"], account["unit"], account["district"]) for account in _PEOPLE["reviewers"]
)
# Every outcome has a fixed reference and fixed facts: posting the list again changes nothing.
DEMO_OUTCOMES: list[dict[str, Any]] = _OUTCOMES["outcomes"]
# (institution, reference) reviewed through both stages (the others in review keep waiting)
DEMO_REVIEWED = [(row["by"], row["reference"]) for row in _OUTCOMES["reviewed"]]
# (institution, reference, the corrected facts)
DEMO_CORRECTIONS: list[tuple[str, str, dict[str, Any]]] = [
    (row["by"], row["reference"], row["facts"]) for row in _OUTCOMES["corrections"]
]
# (institution, reference, reason)
DEMO_REVOCATIONS = [(row["by"], row["reference"], row["reason"]) for row in _OUTCOMES["revocations"]]


def _identity_number(key: str) -> str:
    """The identity number of the demo learner with this key."""
    return next(person["identity_number"] for person in DEMO_LEARNERS if person["key"] == key)


def _credit_code(key: str) -> str:
    """The credit code of the demo institution with this key."""
    return str(next(spec["credit_code"] for spec in DEMO_INSTITUTIONS if spec["key"] == key))


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

    for account_id, name, unit, district in REVIEWER_ACCOUNTS:  # sub-centres and the city centre
        if session.get(ReviewerAccount, account_id) is None:
            session.add(ReviewerAccount(id=account_id, name=name, unit=unit, district=district))
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
    # 2. reviews through both stages: the sub-centre of the posting institution's district, then the city
    for key, reference in DEMO_REVIEWED:
        sub_centre = next(r for r in REVIEWERS if r.district == by_key[key].district)
        for reviewer, stage, reason in (
            (sub_centre, "district", "区级分中心核验证明材料原件，情况属实"),
            (CITY_REVIEWER, "city", "市级管理中心复核通过，按规则认定"),
        ):
            state = _state(session, by_key[key].id, reference)
            if state and state[1].status == RecognitionStatus.review.value and state[1].stage == stage:
                enrolment_results.decide(
                    session,
                    ctx,
                    state[0].id,
                    decision="approve",
                    reason=reason,
                    reviewer=reviewer,
                    stage=stage,
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

DEMO_PROGRAMME: dict[str, Any] = _EXCHANGE["programme"]
DEMO_REVOKED_REASON: str = _EXCHANGE["revoked_certificate_reason"]
# the open university's degree-course equivalences for 计算机应用技术 (BJOU-510201)
DEMO_EQUIVALENCES: list[dict[str, Any]] = _EXCHANGE["equivalences"]


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
    from creditbank.rule_engine.conversion import expired
    from creditbank.transparency import store

    store.publish_checkpoint(session, ctx.secrets.master_key, store.DEFAULT_LOG)
    university = session.exec(
        select(Institution).where(Institution.credit_code == _credit_code("open-university"))
    ).one()
    training = session.exec(
        select(Institution).where(Institution.credit_code == _credit_code("skills-training"))
    ).one()
    learner_id = learners.find_by_identity_number(
        session,
        ctx.identity_key,
        next(p["identity_number"] for p in DEMO_LEARNERS if p["key"] == "wang-fang"),
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


# --- shared courses and the graduation audit (学业进度) -------------------------------------------

_COURSES: dict[str, Any] = _read("courses.yaml")


def load_courses(session: Session, ctx: AppContext) -> None:
    """Give the open university's programme its curriculum, admit 王芳, share the Haidian vocational
    school's courses and enrol 王芳 in two of them (one result converted, one under way).

    Idempotent: the curriculum is replaced with the same one; courses, equivalences and enrolments
    are made once. Run after :func:`load_exchange` (the programme exists).
    """
    from creditbank.auth.service import Principal
    from creditbank.catalog import courses, progress
    from creditbank.catalog import service as catalog
    from creditbank.catalog.models import Programme
    from creditbank.catalog.schemas import (
        CurriculumIn,
        EnrolmentResult,
        EquivalenceCreate,
        SharedCourseCreate,
    )
    from creditbank.ids import LearnerId

    university = session.exec(
        select(Institution).where(Institution.credit_code == _credit_code("open-university"))
    ).one()
    host = session.exec(
        select(Institution).where(Institution.credit_code == _credit_code(_COURSES["host"]))
    ).one()
    programme = session.exec(
        select(Programme).where(
            col(Programme.institution_id) == university.id, col(Programme.code) == DEMO_PROGRAMME["code"]
        )
    ).one()
    home = Principal(Role.institution, university.id, None)
    hosting = Principal(Role.institution, host.id, None)
    progress.set_curriculum(session, home, programme.id, CurriculumIn.model_validate(_COURSES["curriculum"]))
    learner_id = learners.find_by_identity_number(
        session,
        ctx.identity_key,
        next(p["identity_number"] for p in DEMO_LEARNERS if p["key"] == "wang-fang"),
    ).id
    learners.link(session, LearnerId(learner_id), university.id)  # the open university's own student
    courses.admit(session, home, programme.id, learner_id)
    shared = {c.code: c for c in catalog.list_shared_courses(session, host.id)}
    for spec in _COURSES["shared_courses"]:
        if spec["code"] not in shared:
            body = SharedCourseCreate.model_validate(
                {**spec, "enrolment_deadline": (dt.date.today() + dt.timedelta(days=60)).isoformat()}
            )
            shared[spec["code"]] = catalog.publish_course(session, host.id, body)
    published = {row.destination_code: row for row in catalog.list_equivalences(session, university.id)}
    for spec in _COURSES["equivalences"]:
        if spec["destination_code"] not in published:
            published[spec["destination_code"]] = catalog.create_equivalence(
                session, university.id, EquivalenceCreate.model_validate(spec)
            )
    learner = Principal(Role.learner, learner_id, None)
    taken = {e.course_id for e in courses.list_enrolments(session, learner)}
    for spec in _COURSES["enrolments"]:
        course = shared[spec["course"]]
        if course.id in taken:
            continue
        enrolment = courses.request_enrolment(
            session, learner, course_id=course.id, programme_id=programme.id
        )
        courses.approve(session, home, enrolment.id, published[spec["course"]].id)
        courses.accept(session, hosting, enrolment.id)
        if "score" in spec:
            achieved = dt.date.today() - dt.timedelta(days=int(spec["days_ago"]))
            result = EnrolmentResult(achieved_on=achieved, score=spec["score"])
            courses.post_result(session, ctx, hosting, enrolment.id, result)
