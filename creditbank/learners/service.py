"""Registering learners, looking them up, and deciding who may read a learner's data."""

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from creditbank.auth.models import Role
from creditbank.auth.service import Principal
from creditbank.crypto.symmetric import hmac_sha256
from creditbank.db import pg_connection, prepared, translated_errors, utcnow
from creditbank.errors import Forbidden, NotFound
from creditbank.i18n import msg
from creditbank.identifiers import InvalidIdentityNumber, normalise_identity_number
from creditbank.ids import LearnerId, random_id
from creditbank.learners import access, vault
from creditbank.learners.models import ArchiveAccess, Learner, LearnerLink


class LearnerNotFound(NotFound):
    slug = "learner-not-found"
    title = "No such learner"


def lookup_hash(identity_key: bytes, identity_number: str) -> str:
    return hmac_sha256(identity_key, identity_number.encode()).hex()


def register(
    session: Session,
    *,
    identity_key: bytes,
    master_key: bytes,
    name: str,
    identity_number: str,
    contact: str | None = None,
    institution_id: str | None = None,
) -> tuple[Learner, bool]:
    """Register a person, or return the learner they already are. Returns (learner, created).

    Safe under concurrent calls for the same person: the HMAC column is UNIQUE, and a losing
    insert falls back to reading the winner's row.

    Raises:
        InvalidIdentityNumber: the identity number fails GB 11643.
    """
    number = normalise_identity_number(identity_number)
    digest = lookup_hash(identity_key, number)
    learner = _by_hash(session, digest)
    created = False
    if learner is None:
        candidate = Learner(id=random_id("lrn"), lookup_hmac=digest, registered_by=institution_id)
        try:
            with session.begin_nested():
                session.add(candidate)
                session.flush()
                vault.store(
                    session,
                    master_key,
                    candidate.id,
                    vault.PersonalData(name=name.strip(), identity_number=number, contact=contact),
                )
            learner, created = candidate, True
        except IntegrityError:
            learner = _by_hash(session, digest)
            if learner is None:  # pragma: no cover - the unique violation means a row exists
                raise
    if institution_id:
        link(session, LearnerId(learner.id), institution_id)
    return learner, created


def _by_hash(session: Session, digest: str) -> Learner | None:
    return session.exec(select(Learner).where(Learner.lookup_hmac == digest)).first()


def find_by_identity_number(session: Session, identity_key: bytes, identity_number: str) -> Learner:
    """Raises: InvalidIdentityNumber, LearnerNotFound."""
    learner = find_by_identity_number_or_none(session, identity_key, identity_number)
    if learner is None:
        raise LearnerNotFound(msg("detail.learners.no_learner_identity_number"))
    return learner


def find_by_identity_number_or_none(
    session: Session, identity_key: bytes, identity_number: str
) -> Learner | None:
    """Raises: InvalidIdentityNumber."""
    return _by_hash(session, lookup_hash(identity_key, normalise_identity_number(identity_number)))


def get(session: Session, learner_id: str) -> Learner:
    """Raises: LearnerNotFound."""
    learner = session.get(Learner, learner_id)
    if learner is None:
        raise LearnerNotFound(msg("detail.learners.no_learner", learner_id=learner_id))
    return learner


def link(session: Session, learner_id: LearnerId, institution_id: str) -> None:
    """Record that an institution registered or posted for a learner (idempotent)."""
    if session.get(LearnerLink, (learner_id, institution_id)) is None:
        try:
            with session.begin_nested():
                session.add(LearnerLink(learner_id=learner_id, institution_id=institution_id))
        except IntegrityError:
            pass


def link_many(session: Session, learner_ids: set[str], institution_id: str) -> None:
    """Record links for many learners at once (idempotent, one statement)."""
    if not learner_ids:
        return
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    now = utcnow()
    driver = pg_connection(session)
    if driver is not None:
        with translated_errors(_PG_LINK_MANY), prepared(driver), driver.cursor() as cursor:
            cursor.execute(_PG_LINK_MANY, (institution_id, now, sorted(learner_ids)), prepare=True)
        return
    rows = [
        {"learner_id": lid, "institution_id": institution_id, "created_at": now}
        for lid in sorted(learner_ids)
    ]
    stmt = sqlite_insert(LearnerLink).values(rows)
    session.execute(stmt.on_conflict_do_nothing(index_elements=["learner_id", "institution_id"]))


_PG_LINK_MANY = (
    "INSERT INTO learner_links (learner_id, institution_id, created_at) "
    "SELECT id, %s, %s FROM unnest(%s::text[]) AS l(id) ON CONFLICT DO NOTHING"
)  # prepared (creditbank.db.prepared): its plan has no choice to make


def authorise_read(session: Session, principal: Principal, learner_id: str, what: str) -> Learner:
    """Check that ``principal`` may read this learner's data; log every read by someone else.

    Learners read only themselves; an institution only under the learner's live grant or as the
    destination of a pending transfer (:mod:`creditbank.learners.access`; registering or posting
    for a learner is not enough); admins and auditors anyone. Unknown learners and forbidden ones
    look the same to an institution or learner (403), so ids cannot be probed. The log row names the
    grant or transfer the read relied on.

    Raises:
        Forbidden: the principal may not read this learner.
        GrantRequired: an institution without a live grant or pending transfer.
        LearnerNotFound: (admin and auditor only) no such learner.
    """
    if principal.role is Role.learner:
        if principal.subject != learner_id:
            raise Forbidden(msg("detail.learners.learner_may_read_only"))
        return get(session, learner_id)
    basis = ""
    if principal.role is Role.institution:
        basis = access.institution_basis(session, learner_id, principal.subject or "")
    elif principal.role not in (Role.admin, Role.auditor):
        raise Forbidden(msg("detail.learners.role_may_read_learner", value=principal.role.value))
    learner = get(session, learner_id)
    session.add(
        ArchiveAccess(
            learner_id=learner_id,
            reader_role=principal.role.value,
            reader_subject=principal.subject,
            what=f"{what} ({basis})" if basis else what,
        )
    )
    session.flush()
    return learner


def names_an_institution_may_read(
    session: Session, master_key: bytes, principal: Principal, learner_ids: Iterable[str], what: str
) -> dict[str, str]:
    """The names of those of ``learner_ids`` whose data the institution may read now (a live grant
    or a pending transfer, as :func:`authorise_read` decides); each name returned is logged as a
    read naming its basis, the others are neither read nor logged. Anyone but an institution: none.
    """
    if principal.role is not Role.institution or not principal.subject:
        return {}
    names: dict[str, str] = {}
    for learner_id in sorted(set(learner_ids)):
        try:
            basis = access.institution_basis(session, learner_id, principal.subject)
        except access.GrantRequired:
            continue
        data = vault.load(session, master_key, learner_id)
        if data is None:  # erased
            continue
        names[learner_id] = data.name
        session.add(
            ArchiveAccess(
                learner_id=learner_id,
                reader_role=principal.role.value,
                reader_subject=principal.subject,
                what=f"{what} ({basis})"[:60],
            )
        )
    session.flush()
    return names


def mask_identity_number(number: str) -> str:
    return number[:6] + "*" * 8 + number[14:]


@dataclass(frozen=True)
class DuplicateGroup:
    """Learners whose stored identity numbers normalise to one number: one person, several records."""

    identity_number_masked: str
    learner_ids: list[str]
    lookup_stale: list[str]  # of those, the ones whose lookup HMAC is not that of the normal form


@dataclass(frozen=True)
class DuplicateReport:
    checked: int
    groups: list[DuplicateGroup]
    invalid: list[str]  # learners whose stored number no longer passes (e.g. Arabic-Indic digits)


def find_duplicates(session: Session, identity_key: bytes, master_key: bytes) -> DuplicateReport:
    """Read every learner's stored identity number, normalise it as registration does today, and
    group the learners that turn out to be one person (registered before NFKC normalisation, e.g.
    once with full-width digits). Erased learners have nothing left to compare and are skipped."""
    by_number: dict[str, list[Learner]] = defaultdict(list)
    invalid: list[str] = []
    checked = 0
    learners = session.exec(select(Learner).where(col(Learner.erased_at).is_(None)).order_by(col(Learner.id)))
    for learner in learners:
        data = vault.load(session, master_key, learner.id)
        if data is None:
            continue
        checked += 1
        try:
            number = normalise_identity_number(data.identity_number)
        except InvalidIdentityNumber:
            invalid.append(learner.id)
            continue
        by_number[number].append(learner)
    groups = [
        DuplicateGroup(
            identity_number_masked=mask_identity_number(number),
            learner_ids=[m.id for m in members],
            lookup_stale=[m.id for m in members if m.lookup_hmac != lookup_hash(identity_key, number)],
        )
        for number, members in sorted(by_number.items())
        if len(members) > 1
    ]
    return DuplicateReport(checked=checked, groups=groups, invalid=invalid)
