"""Registering learners, looking them up, and deciding who may read a learner's data."""

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from creditbank.auth.models import Role
from creditbank.auth.service import Principal
from creditbank.crypto.symmetric import hmac_sha256
from creditbank.db import pg_connection, translated_errors, utcnow
from creditbank.errors import Forbidden, NotFound
from creditbank.identifiers import normalise_identity_number
from creditbank.ids import LearnerId, random_id
from creditbank.learners import vault
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
    learner = _by_hash(session, lookup_hash(identity_key, normalise_identity_number(identity_number)))
    if learner is None:
        raise LearnerNotFound("no learner with that identity number")
    return learner


def get(session: Session, learner_id: str) -> Learner:
    """Raises: LearnerNotFound."""
    learner = session.get(Learner, learner_id)
    if learner is None:
        raise LearnerNotFound(f"no learner {learner_id}")
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
        with translated_errors(_PG_LINK_MANY), driver.cursor() as cursor:
            cursor.execute(_PG_LINK_MANY, (institution_id, now, sorted(learner_ids)))
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
)


def authorise_read(session: Session, principal: Principal, learner_id: str, what: str) -> Learner:
    """Check that ``principal`` may read this learner's data; log every read by someone else.

    Learners read only themselves; institutions only learners they registered or posted for;
    admins and auditors anyone. Unknown learners and forbidden ones look the same to an institution
    or learner (403), so ids cannot be probed.

    Raises:
        Forbidden: the principal may not read this learner.
        LearnerNotFound: (admin and auditor only) no such learner.
    """
    if principal.role is Role.learner:
        if principal.subject != learner_id:
            raise Forbidden("a learner may read only their own record")
        return get(session, learner_id)
    if principal.role is Role.institution:
        if principal.subject is None or session.get(LearnerLink, (learner_id, principal.subject)) is None:
            raise Forbidden("an institution may read only learners it registered or posted for")
    elif principal.role not in (Role.admin, Role.auditor):
        raise Forbidden(f"role {principal.role.value} may not read learner records")
    learner = get(session, learner_id)
    session.add(
        ArchiveAccess(
            learner_id=learner_id,
            reader_role=principal.role.value,
            reader_subject=principal.subject,
            what=what,
        )
    )
    session.flush()
    return learner


def mask_identity_number(number: str) -> str:
    return number[:6] + "*" * 8 + number[14:]
