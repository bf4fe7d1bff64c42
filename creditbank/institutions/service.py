"""Registering and reading institutions."""

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from creditbank.db import construct, pg_connection, translated_errors
from creditbank.errors import Conflict, NotFound
from creditbank.i18n import msg
from creditbank.identifiers import InvalidCreditCode, uscc_problem
from creditbank.ids import InstitutionId, random_id
from creditbank.institutions import districts
from creditbank.institutions.models import Institution, InstitutionKind


class InstitutionNotFound(NotFound):
    slug = "institution-not-found"
    title = "No such institution"


class CreditCodeTaken(Conflict):
    slug = "credit-code-registered"
    title = "An institution with this unified social credit code is already registered"


def register(
    session: Session,
    *,
    name_zh: str,
    name_en: str,
    credit_code: str,
    kind: InstitutionKind,
    district: str,
    exception_reason: str | None = None,
    admin_subject: str | None = None,
) -> Institution:
    """Register an institution.

    A code that fails the GB 32100 check is accepted only with ``exception_reason``, which is
    recorded with the admin who gave it.

    Raises:
        InvalidCreditCode: the code fails its check and no exception was given, or is malformed
            beyond what an exception may cover (wrong length).
        CreditCodeTaken: the code is already registered.
        UnknownDistrict: ``district`` names none of the city's districts.
    """
    place = districts.district(district).name_zh
    code = credit_code.strip().upper()
    problem = uscc_problem(code)
    if problem and (exception_reason is None or len(code) != 18):
        raise InvalidCreditCode(
            problem if len(code) != 18 else msg("detail.institutions.credit_code_exception", problem=problem)
        )
    institution = Institution(
        id=random_id("ins"),
        name_zh=name_zh.strip(),
        name_en=name_en.strip(),
        credit_code=code,
        credit_code_exception=exception_reason if problem else None,
        credit_code_exception_by=admin_subject if problem else None,
        kind=kind.value,
        district=place,
    )
    try:
        with session.begin_nested():
            session.add(institution)
    except IntegrityError as exc:
        raise CreditCodeTaken(msg("detail.institutions.already_registered", code=code)) from exc
    return institution


def get(session: Session, institution_id: str) -> Institution:
    """Raises: InstitutionNotFound."""
    row = session.get(Institution, institution_id)
    if row is None:
        raise InstitutionNotFound(msg("detail.institutions.no_institution", institution_id=institution_id))
    return row


_COLUMNS = (
    "id",
    "name_zh",
    "name_en",
    "credit_code",
    "credit_code_exception",
    "credit_code_exception_by",
    "kind",
    "district",
    "created_at",
)
_PG_INSTITUTION = f"SELECT {', '.join(_COLUMNS)} FROM institutions WHERE id = %s"  # noqa: S608 - fixed names


def lookup(session: Session, institution_id: str) -> Institution:
    """The institution as a detached row to read, not to change (the posting path: one statement,
    no ORM identity map). Use :func:`get` to modify it.

    Raises: InstitutionNotFound.
    """
    driver = pg_connection(session)
    if driver is None:
        return get(session, institution_id)
    with translated_errors(_PG_INSTITUTION), driver.cursor() as cursor:
        found = cursor.execute(_PG_INSTITUTION, (institution_id,)).fetchone()
    if found is None:
        raise InstitutionNotFound(msg("detail.institutions.no_institution", institution_id=institution_id))
    return construct(Institution, **dict(zip(_COLUMNS, found, strict=True)))


def lookup_for_token(session: Session, institution_id: str, token_id: str) -> Institution | None:
    """:func:`lookup`, and in the same statement whether the API token ``token_id`` is still live
    (not revoked): None when it is not. The single posting reads its institution this way in its
    group's transaction, so a token revoked after the request's guard admitted it is refused.

    Raises: InstitutionNotFound (the token is live, the institution is not there).
    """
    driver = pg_connection(session)
    if driver is None:
        live = session.execute(text(_LIVE_TOKEN), {"token_id": token_id}).first()
        return None if live is None else get(session, institution_id)
    with translated_errors(PG_INSTITUTION_FOR_TOKEN), driver.cursor() as cursor:
        found = cursor.execute(PG_INSTITUTION_FOR_TOKEN, (institution_id, token_id)).fetchone()
    return institution_for_token(found, institution_id)


def institution_for_token(found: Sequence[Any] | None, institution_id: str) -> Institution | None:
    """:func:`lookup_for_token`'s answer from the row :data:`PG_INSTITUTION_FOR_TOKEN` gave (with the
    institution's and the token's ids as its parameters), or None when it gave none.

    Raises: InstitutionNotFound.
    """
    if found is None:
        return None
    if found[0] is None:
        raise InstitutionNotFound(msg("detail.institutions.no_institution", institution_id=institution_id))
    return construct(Institution, **dict(zip(_COLUMNS, found, strict=True)))


# api_tokens by name: the auth package imports this one, not the other way round
_LIVE_TOKEN = "SELECT id FROM api_tokens WHERE id = :token_id AND revoked_at IS NULL"  # noqa: S105
PG_INSTITUTION_FOR_TOKEN = (
    f"SELECT {', '.join('i.' + c for c in _COLUMNS)} FROM api_tokens t"  # noqa: S608 - fixed names
    " LEFT JOIN institutions i ON i.id = %s WHERE t.id = %s AND t.revoked_at IS NULL"
)


def list_all(session: Session) -> list[Institution]:
    return list(session.exec(select(Institution).order_by(col(Institution.created_at))).all())


def list_by_name(session: Session) -> list[Institution]:
    """Every registered institution, by Chinese name (the register is public)."""
    return list(session.exec(select(Institution).order_by(col(Institution.name_zh))).all())


def by_ids(session: Session, ids: Iterable[str | None]) -> list[Institution]:
    """The registered institutions among ``ids`` (the register is public; unknown ids are left out)."""
    wanted = sorted({i for i in ids if i})
    if not wanted:
        return []
    return list(session.exec(select(Institution).where(col(Institution.id).in_(wanted))).all())


def institution_did(base_url: str, institution_id: InstitutionId | str) -> str:
    """``did:web:<host>:institutions:<id>``, the port percent-encoded."""
    from urllib.parse import urlsplit

    parts = urlsplit(base_url)
    host = parts.hostname or "localhost"
    if parts.port:
        host = f"{host}%3A{parts.port}"
    path = [p for p in parts.path.split("/") if p]
    return ":".join(["did:web", host, *path, "institutions", str(institution_id)])
