"""Applications for recognition: submitting, returning, resubmitting, and reading the evidence.

How this works (the tables: :class:`creditbank.outcomes.models.Application` and ``ApplicationFile``):

* :func:`submit` (a verified learner, their own account or token):

  1. the learner must not be erased; the application goes to the learner's own district
     (:func:`home_district`), never one the caller picks (naming another is a 403);
  2. a second application for the same outcome (same type, title as normalised, date) is a 409,
     checked first and held by the UNIQUE (learner, outcome key) under concurrency;
  3. the evidence was checked by content before (:mod:`.evidence`);
  4. the bank posts the outcome as its own institution (:func:`bank`; reference = the application's
     id), its evidence manifest hash on the outcome; the rule set in force evaluates it with the
     issuer kind the learner named, and its proposal (credits, rule, explanation) goes to review at
     the district stage whatever the rules decided (a learner's own claim is always reviewed); an
     outcome no rule recognises is refused (422);
  5. the files are sealed under the learner's vault data key, with their hashes.

  Everything is written in the request's one transaction: any refusal leaves no row and no file.
* Review is :mod:`creditbank.outcomes.review`'s (two stages, four eyes by person), with the learner's
  district; a return for more material leaves the outcome waiting with the learner.
* :func:`resubmit`: the learner adds files and a note to a returned application; it starts again
  at the district stage (history kept in ``outcome_events``).
* :func:`open_evidence`: the learner who applied, or a reviewer whose scope covers the application
  at its current stage (:func:`creditbank.outcomes.review.check_scope`), reads a file; everyone else
  is refused, another learner as if the application did not exist.
"""

import datetime as dt
import hashlib
import json
import unicodedata
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from creditbank.applications.evidence import Evidence, manifest_hash
from creditbank.auth.models import LearnerAccount, Role
from creditbank.auth.service import Principal
from creditbank.context import AppContext
from creditbank.crypto.symmetric import hmac_sha256
from creditbank.db import utcnow
from creditbank.errors import Conflict, Forbidden, NotFound, ValidationFailed
from creditbank.i18n import msg
from creditbank.identifiers import with_credit_code_check
from creditbank.ids import random_id
from creditbank.institutions import districts
from creditbank.institutions.models import Institution, InstitutionKind
from creditbank.learners import service as learners
from creditbank.learners import vault
from creditbank.outcomes import records, review
from creditbank.outcomes.models import (
    BANK_ID,
    Application,
    ApplicationFile,
    Outcome,
    Recognition,
    RecognitionStatus,
)
from creditbank.outcomes.rulesets import rule_book
from creditbank.outcomes.service import LearnerErased, content_key
from creditbank.rule_engine import evaluate

BANK_CODE = with_credit_code_check("12110102MB0000001")
ISSUER_KINDS = (
    "training_body",
    "vocational_school",
    "university",
    "open_university",
    "community_college",
    "employer",
    "elderly_university",
    "other",
)


class ApplicationNotFound(NotFound):
    slug = "application-not-found"
    title = "No such application"


class DuplicateApplication(Conflict):
    slug = "duplicate-application"
    title = "You have already applied for the recognition of this outcome"


class NotRecognisable(ValidationFailed):
    slug = "outcome-not-recognisable"
    title = "No rule of the rule set in force recognises an outcome like this"


class NotReturned(Conflict):
    slug = "application-not-returned"
    title = "The application is not waiting for more material"


class DistrictNotYours(Forbidden):
    slug = "application-district-not-yours"
    title = "An application goes to the sub-centre of your own district"


class DistrictUnknown(ValidationFailed):
    slug = "learner-district-unknown"
    title = "Your account names no district: its sub-centre could not review the application"


class EvidenceNotFound(NotFound):
    slug = "evidence-not-found"
    title = "No such evidence file"


@dataclass(frozen=True)
class Claim:
    """What the learner says they achieved (the form's or the API's fields, validated)."""

    outcome_type: str
    title: str
    achieved_on: dt.date
    district: str | None  # as the caller named it (must be the learner's own); None: not named
    issuer_kind: str
    issuer_name: str = ""
    hours: Decimal | None = None
    level: str | None = None
    score: Decimal | None = None
    grade: str | None = None
    field: str | None = None
    course_code: str | None = None
    identity_verified: bool = False  # a MOOC's platform verified the learner at the assessment (their word)
    attributes: dict[str, Any] | None = None
    statement: str = ""


@dataclass
class Filed:
    application: Application
    outcome: Outcome
    recognition: Recognition
    files: list[ApplicationFile]


def outcome_key(outcome_type: str, title: str, achieved_on: dt.date) -> str:
    """Hex SHA-256 of what makes two applications one outcome: type, title (NFKC, case and spaces
    folded) and date."""
    folded = "".join(unicodedata.normalize("NFKC", title).casefold().split())
    return hashlib.sha256(f"{outcome_type}\n{folded}\n{achieved_on.isoformat()}".encode()).hexdigest()


def bank(session: Session) -> Institution:
    """The bank's own institution (created on first use)."""
    found = session.get(Institution, BANK_ID)
    if found is not None:
        return found
    institution = Institution(
        id=BANK_ID,
        name_zh="北京市学分银行（学习者申请认定）",
        name_en="Beijing Credit Bank (learners' own applications)",
        credit_code=BANK_CODE,
        kind=InstitutionKind.open_university.value,
        district=districts.district("西城区").name_zh,
    )
    session.add(institution)
    session.flush()
    return institution


def _seal(
    session: Session, ctx: AppContext, application: Application, item: Evidence, round_: int
) -> ApplicationFile:
    file_id = random_id("evd")
    row = ApplicationFile(
        id=file_id,
        application_id=application.id,
        learner_id=application.learner_id,
        round=round_,
        filename=item.filename,
        media_type=item.media_type,
        size=len(item.data),
        sha256=item.sha256,
        sealed=vault.seal_file(session, ctx.secrets.master_key, application.learner_id, item.data, file_id),
    )
    session.add(row)
    return row


def _live_learner(session: Session, learner_id: str) -> None:
    learner = learners.get(session, learner_id)
    if learner.erased_at is not None:
        raise LearnerErased(msg("detail.applications.learner_erased", learner_id=learner_id))


def home_district(session: Session, learner_id: str) -> str:
    """The learner's own district, whose sub-centre reviews their applications first: the district
    their verified account was opened in; for a learner without one (registered by an institution,
    signing in with a token) or whose account names none, the registering institution's district.

    Raises:
        DistrictUnknown: neither names a district (an account opened before districts were asked).
    """
    account = session.exec(
        select(LearnerAccount).where(
            col(LearnerAccount.learner_id) == learner_id, col(LearnerAccount.erased_at).is_(None)
        )
    ).first()
    if account is not None and account.district:
        return account.district
    learner = learners.get(session, learner_id)
    institution = session.get(Institution, learner.registered_by) if learner.registered_by else None
    if institution is not None and institution.id != BANK_ID:
        return institution.district
    raise DistrictUnknown(msg("detail.applications.district_unknown"))


def submit(
    session: Session,
    ctx: AppContext,
    learner_id: str,
    claim: Claim,
    files: list[Evidence],
    *,
    today: dt.date | None = None,
) -> Filed:
    """File an application (see the module docstring).

    Raises:
        LearnerErased: the learner's personal data was erased.
        DistrictUnknown: the learner's own district is not known.
        UnknownDistrict, DistrictNotYours: the caller named a district, not the learner's own.
        DuplicateApplication: the learner applied for this outcome before.
        NotRecognisable: no rule recognises such an outcome.
    """
    today = today or dt.date.today()
    # 1. who and where: the learner's own district, never one the caller picks
    _live_learner(session, learner_id)
    district = home_district(session, learner_id)
    if claim.district is not None and districts.district(claim.district).name_zh != district:
        raise DistrictNotYours(
            msg("detail.applications.district_not_yours", district=claim.district, home=district),
            district=district,
        )
    # 2. once per outcome
    key = outcome_key(claim.outcome_type, claim.title, claim.achieved_on)
    taken = session.exec(
        select(Application.id).where(
            col(Application.learner_id) == learner_id, col(Application.outcome_key) == key
        )
    ).first()
    if taken is not None:
        raise DuplicateApplication(
            msg("detail.applications.duplicate", application_id=taken), application=taken
        )
    # 4. the outcome, posted by the bank, with the rules' proposal in review
    now = utcnow()
    application_id = random_id("apl")
    attributes = {**(claim.attributes or {}), "issuer_kind": claim.issuer_kind}
    if claim.issuer_name:
        attributes["issuer_name"] = claim.issuer_name
    facts = {
        "type": claim.outcome_type,
        "title": claim.title,
        "achieved_on": claim.achieved_on.isoformat(),
        "learner": learner_id,
        "attributes": {k: str(v) for k, v in attributes.items()},
    }
    digest = hmac_sha256(content_key(ctx), json.dumps(facts, sort_keys=True, ensure_ascii=False).encode())
    outcome = Outcome(
        id=random_id("out"),
        learner_id=learner_id,
        institution_id=bank(session).id,
        reference=application_id,
        outcome_type=claim.outcome_type,
        title=claim.title,
        achieved_on=claim.achieved_on,
        hours=claim.hours,
        level=claim.level,
        score=claim.score,
        grade=claim.grade,
        field=claim.field,
        course_code=claim.course_code,
        identity_verified=claim.identity_verified,
        evidence_hash=manifest_hash(files),
        attributes=attributes,
        request_hash=digest.hex(),
        created_at=now,
    )
    rule_set = rule_book(ctx.settings.rules_dir).in_force(today)
    decision = evaluate(rule_set, records.outcome_facts(outcome, claim.issuer_kind), today)
    if decision.rule_id is None:
        raise NotRecognisable(
            msg("detail.applications.not_recognisable", explanation=decision.explanation.zh)
        )
    fields = records.recognition_fields(decision, rule_set, now)
    reason_zh, reason_en = msg("applications.review_reason").pair()
    fields.update(
        status=RecognitionStatus.review.value,
        stage="district",
        review_reason_zh=reason_zh,
        review_reason_en=reason_en,
    )
    rec = Recognition(outcome_id=outcome.id, **fields)
    application = Application(
        id=application_id,
        outcome_id=outcome.id,
        learner_id=learner_id,
        district=district,
        outcome_key=key,
        issuer_name=claim.issuer_name,
        issuer_kind=claim.issuer_kind,
        statement=claim.statement,
        created_at=now,
    )
    session.add(outcome)
    session.flush()
    session.add(rec)
    session.add(application)
    try:
        session.flush()
    except IntegrityError as exc:  # the same outcome applied for at the same moment
        raise DuplicateApplication(msg("detail.applications.duplicate", application_id="")) from exc
    # 5. the evidence, sealed
    stored = [_seal(session, ctx, application, item, 1) for item in files]
    session.flush()
    zh, en = msg("applications.applied_event", district=district, count=len(files)).pair()
    records.add_event(
        session, outcome.id, "review", actor_role=Role.learner.value, actor=learner_id, zh=zh, en=en
    )
    return Filed(application, outcome, rec, stored)


def _of_learner(session: Session, learner_id: str, application_id: str) -> Application:
    application = session.get(Application, application_id)
    if application is None or application.learner_id != learner_id:
        raise ApplicationNotFound(msg("detail.applications.not_found", application_id=application_id))
    return application


def resubmit(
    session: Session, ctx: AppContext, learner_id: str, application_id: str, note: str, files: list[Evidence]
) -> Filed:
    """Add material to a returned application; it starts again at the district stage.

    Raises:
        ApplicationNotFound: no such application of this learner.
        LearnerErased: the learner was erased.
        NotReturned: the application is not waiting for material.
    """
    _live_learner(session, learner_id)
    application = _of_learner(session, learner_id, application_id)
    outcome, rec = records.lock_outcome(session, application.outcome_id)
    if rec.status != RecognitionStatus.review.value or rec.stage != review.RETURNED:
        raise NotReturned(msg("detail.applications.not_returned", application_id=application_id))
    application.rounds += 1
    stored = [_seal(session, ctx, application, item, application.rounds) for item in files]
    if note.strip():
        application.statement = (application.statement + "\n\n" + note.strip()).strip()
    session.add(application)
    rec.stage = "district"
    rec.district_reviewer = None
    records.save_recognition(session, rec)
    zh, en = msg(
        "applications.resubmitted_event", round=application.rounds, count=len(files), note=note.strip()
    ).pair()
    records.add_event(
        session, outcome.id, "resubmitted", actor_role=Role.learner.value, actor=learner_id, zh=zh, en=en
    )
    return Filed(application, outcome, rec, stored)


def of_learner(session: Session, learner_id: str) -> list[tuple[Application, Outcome, Recognition]]:
    """The learner's applications, newest first."""
    stmt = (
        select(Application, Outcome, Recognition)
        .join(Outcome, col(Outcome.id) == col(Application.outcome_id))
        .join(Recognition, col(Recognition.outcome_id) == col(Application.outcome_id))
        .where(col(Application.learner_id) == learner_id)
        .order_by(col(Application.created_at).desc(), col(Application.id))
    )
    return [(a, o, r) for a, o, r in session.exec(stmt).all()]


def files_of(session: Session, application_id: str) -> list[ApplicationFile]:
    stmt = (
        select(ApplicationFile)
        .where(col(ApplicationFile.application_id) == application_id)
        .order_by(col(ApplicationFile.round), col(ApplicationFile.created_at), col(ApplicationFile.id))
    )
    return list(session.exec(stmt).all())


def by_outcome(session: Session, outcome_ids: list[str]) -> dict[str, Application]:
    if not outcome_ids:
        return {}
    stmt = select(Application).where(col(Application.outcome_id).in_(outcome_ids))
    return {a.outcome_id: a for a in session.exec(stmt).all()}


def authorise(
    session: Session, who: Principal, application_id: str
) -> tuple[Application, Outcome, Recognition]:
    """The application, for its learner or a reviewer whose scope covers it at its current stage.

    Raises:
        ApplicationNotFound: no such application, or another learner's (the same answer).
        ReviewOutsideDistrict, CityStageOnly: a district reviewer and an application outside their
            district or past their stage.
        ReviewerAccountRequired: a reviewer token that names no reviewer account.
    """
    application = session.get(Application, application_id)
    if application is None or (who.role is Role.learner and application.learner_id != who.subject):
        raise ApplicationNotFound(msg("detail.applications.not_found", application_id=application_id))
    outcome, rec = records.get_outcome(session, application.outcome_id)
    if who.role is Role.reviewer:
        reviewer = review.reviewer_of(session, who)
        stage = rec.stage if rec.status == RecognitionStatus.review.value else None
        review.check_scope(reviewer.district, outcome.id, application.district, stage)
    elif who.role is not Role.learner:  # pragma: no cover - the routes admit learners and reviewers only
        raise ApplicationNotFound(msg("detail.applications.not_found", application_id=application_id))
    return application, outcome, rec


def open_evidence(
    session: Session, ctx: AppContext, who: Principal, application_id: str, file_id: str
) -> tuple[ApplicationFile, bytes]:
    """One evidence file, opened, for the people :func:`authorise` admits.

    Raises:
        what :func:`authorise` raises; EvidenceNotFound: no such file of the application;
        VaultShredded: the learner was erased (the file can no longer be opened).
    """
    application, _, _ = authorise(session, who, application_id)
    row = session.get(ApplicationFile, file_id)
    if row is None or row.application_id != application.id:
        raise EvidenceNotFound(msg("detail.applications.evidence_not_found", file_id=file_id))
    data = vault.open_file(session, ctx.secrets.master_key, application.learner_id, row.sealed, row.id)
    return row, data


def shred_files(session: Session, learner_id: str) -> int:
    """Delete the learner's evidence files (erasure; their key is shredded with the vault row)."""
    rows = session.exec(select(ApplicationFile).where(col(ApplicationFile.learner_id) == learner_id)).all()
    for row in rows:
        session.delete(row)
    session.flush()
    return len(rows)
