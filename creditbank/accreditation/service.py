"""The catalogue of recognised outcomes (学习成果名录) kept by the city centre, and each
institution's accreditation scope.

How this works:

* The catalogue lists what the bank recognises (1+X certificates by name and level, skill
  certificates by occupation, licensing qualifications, competitions with their award tiers, MOOC
  platforms, exams), each entry citing the recognition rule that credits it. It is versioned like
  the rule set: every change (an entry added or retired) writes the next
  ``recognised_outcome_versions`` row with the SHA-256 of the canonical JSON of the entries then in
  force, so a version names one exact catalogue; :func:`diff` says what changed between two.
* An entry's names, levels and rule may be edited (:func:`edit_entry`): a new version too, whose
  ``recognised_outcome_edits`` row keeps what they were, so :func:`entries_at` reads any earlier
  version back as it was and :func:`diff` lists the entries changed. Its code and outcome type
  never change (scopes and postings name them): retire the entry and add another instead.
* An institution posts only within its accreditation scope: the outcome types (and, where the scope
  names them, the catalogue entries) it is accredited for. An institution whose scope was never set
  has the default scope of its kind (:data:`DEFAULT_SCOPE`); an admin sets it with
  :func:`set_scope`. Posting outside it is a 403 ``outside-accreditation-scope`` naming the scope
  (:func:`check_posting`, called by the one posting path, ``outcomes.service.post_rows``).
* An outcome names its catalogue entry with ``attributes.catalogue_code``; an unknown or retired
  code, or one of another outcome type, is a 422 ``catalogue-entry-unknown``.
"""

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import func
from sqlmodel import Session, col, delete, select

from creditbank import canonical
from creditbank.accreditation.models import (
    EDITABLE,
    AccreditationScope,
    CatalogueEdit,
    CatalogueEntry,
    CatalogueVersion,
    entry_json,
)
from creditbank.db import pg_connection, translated_errors
from creditbank.errors import Conflict, Forbidden, NotFound, ValidationFailed
from creditbank.i18n import msg
from creditbank.institutions.models import Institution
from creditbank.rule_engine.models import OUTCOME_TYPES

_EVERY = frozenset(OUTCOME_TYPES)
#: the scope of an institution whose scope an admin has not set, by kind (the types it may post)
DEFAULT_SCOPE: dict[str, frozenset[str]] = {
    "university": _EVERY,
    "open_university": _EVERY,
    "vocational_school": _EVERY - {"self_study_exam"},
    "community_college": frozenset(
        {
            "training_course",
            "community_course",
            "mooc",
            "degree_course",
            "diploma",
            "work_experience",
            "volunteer_service",
            "competition_award",
        }
    ),
    # a training body issues no diploma, degree course, 1+X certificate or licensing qualification
    "training_body": frozenset(
        {
            "training_course",
            "skill_level_certificate",
            "competition_award",
            "mooc",
            "community_course",
            "work_experience",
            "volunteer_service",
            "national_exam",
        }
    ),
}


class OutsideAccreditationScope(Forbidden):
    slug = "outside-accreditation-scope"
    title = "The institution is not accredited to post this outcome"


class CatalogueEntryUnknown(ValidationFailed):
    slug = "catalogue-entry-unknown"
    title = "No such entry in force in the catalogue of recognised outcomes"


class CatalogueEntryExists(Conflict):
    slug = "catalogue-entry-exists"
    title = "The catalogue already has an entry with this code"


class CatalogueEntryNotFound(NotFound):
    slug = "catalogue-entry-not-found"
    title = "No such catalogue entry"


class CatalogueEntryRetired(Conflict):
    slug = "catalogue-entry-retired"
    title = "The catalogue entry was retired and can no longer be edited"


class NothingToEdit(ValidationFailed):
    slug = "catalogue-nothing-to-edit"
    title = "The edit states the entry as it already is"


@dataclass(frozen=True)
class Scope:
    """What an institution may post: outcome types, and per type the entries (empty: any entry)."""

    institution_id: str
    default: bool  # the kind's default scope, never set by an admin
    types: dict[str, frozenset[str]]

    def describe(self) -> str:
        parts = [
            t + (f" ({', '.join(sorted(codes))})" if codes else "") for t, codes in sorted(self.types.items())
        ]
        return ", ".join(parts) or "-"


def in_force(session: Session) -> list[CatalogueEntry]:
    """The entries in force, by outcome type and code."""
    return list(
        session.exec(
            select(CatalogueEntry)
            .where(col(CatalogueEntry.retired_in).is_(None))
            .order_by(col(CatalogueEntry.outcome_type), col(CatalogueEntry.code))
        ).all()
    )


def current_version(session: Session) -> CatalogueVersion | None:
    return session.exec(select(CatalogueVersion).order_by(col(CatalogueVersion.version).desc())).first()


def versions(session: Session) -> list[CatalogueVersion]:
    return list(session.exec(select(CatalogueVersion).order_by(col(CatalogueVersion.version))).all())


def digest_of(entries: Iterable[CatalogueEntry]) -> str:
    """SHA-256 hex of the canonical JSON (RFC 8785) of ``entries``, ordered by code."""
    body = [entry_json(e) for e in sorted(entries, key=lambda e: e.code)]
    return hashlib.sha256(canonical.dumps(body)).hexdigest()


def _next_version(session: Session, change: str, by: str | None) -> CatalogueVersion:
    latest = session.exec(select(func.max(CatalogueVersion.version))).one()
    row = CatalogueVersion(version=(latest or 0) + 1, digest="", change=change[:300], by=by)
    session.add(row)
    session.flush()
    return row


def _seal(session: Session, version: CatalogueVersion) -> CatalogueVersion:
    session.flush()
    version.digest = digest_of(in_force(session))
    session.add(version)
    session.flush()
    return version


def add_entry(
    session: Session,
    *,
    code: str,
    outcome_type: str,
    name_zh: str,
    name_en: str,
    levels: Sequence[str],
    rule_id: str,
    by: str | None = None,
) -> CatalogueEntry:
    """Add an entry to the catalogue (a new catalogue version).

    Raises:
        CatalogueEntryExists: the code is taken (also by a retired entry: codes are never reused).
    """
    code = code.strip().upper()
    if session.get(CatalogueEntry, code) is not None:
        raise CatalogueEntryExists(msg("detail.accreditation.entry_exists", code=code), code=code)
    version = _next_version(session, f"added {code}", by)
    entry = CatalogueEntry(
        code=code,
        outcome_type=outcome_type,
        name_zh=name_zh.strip(),
        name_en=name_en.strip(),
        levels=[level.strip() for level in levels if level.strip()],
        rule_id=rule_id.strip(),
        added_in=version.version,
    )
    session.add(entry)
    _seal(session, version)
    return entry


def retire_entry(session: Session, code: str, *, by: str | None = None) -> CatalogueEntry:
    """Retire an entry (a new catalogue version); retiring a retired entry changes nothing.

    Raises:
        CatalogueEntryNotFound: no entry has this code.
    """
    entry = session.get(CatalogueEntry, code.strip().upper())
    if entry is None:
        raise CatalogueEntryNotFound(msg("detail.accreditation.entry_not_found", code=code), code=code)
    if entry.retired_in is None:
        version = _next_version(session, f"retired {entry.code}", by)
        entry.retired_in = version.version
        session.add(entry)
        _seal(session, version)
    return entry


def edit_entry(
    session: Session,
    code: str,
    *,
    name_zh: str,
    name_en: str,
    levels: Sequence[str],
    rule_id: str,
    by: str | None = None,
) -> CatalogueEntry:
    """Change an entry's names, levels or rule (a new catalogue version that keeps what they were).

    Raises:
        CatalogueEntryNotFound: no entry has this code.
        CatalogueEntryRetired: the entry is retired.
        NothingToEdit: the new values are the entry's own.
    """
    entry = session.get(CatalogueEntry, code.strip().upper())
    if entry is None:
        raise CatalogueEntryNotFound(msg("detail.accreditation.entry_not_found", code=code), code=code)
    if entry.retired_in is not None:
        raise CatalogueEntryRetired(
            msg("detail.accreditation.entry_retired", code=entry.code), code=entry.code
        )
    wanted = {
        "name_zh": name_zh.strip(),
        "name_en": name_en.strip(),
        "levels": [level.strip() for level in levels if level.strip()],
        "rule_id": rule_id.strip(),
    }
    before = {name: entry_json(entry)[name] for name in EDITABLE}
    if wanted == before:
        raise NothingToEdit(msg("detail.accreditation.nothing_to_edit", code=entry.code), code=entry.code)
    changed = ", ".join(name for name in EDITABLE if wanted[name] != before[name])
    version = _next_version(session, f"changed {entry.code} ({changed})", by)
    session.add(CatalogueEdit(version=version.version, code=entry.code, before=before))
    for name, value in wanted.items():
        setattr(entry, name, value)
    session.add(entry)
    _seal(session, version)
    return entry


def search(
    session: Session, *, text: str = "", outcome_type: str | None = None, retired: bool = False
) -> list[CatalogueEntry]:
    """Entries whose code or names contain ``text`` (any case), of ``outcome_type`` if given; in
    force only, or with the retired ones when ``retired``; by outcome type and code."""
    query = select(CatalogueEntry)
    if not retired:
        query = query.where(col(CatalogueEntry.retired_in).is_(None))
    if outcome_type:
        query = query.where(col(CatalogueEntry.outcome_type) == outcome_type)
    needle = text.strip()
    if needle:
        pattern = "%" + needle.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        query = query.where(
            col(CatalogueEntry.code).ilike(pattern, escape="\\")
            | col(CatalogueEntry.name_zh).ilike(pattern, escape="\\")
            | col(CatalogueEntry.name_en).ilike(pattern, escape="\\")
        )
    return list(
        session.exec(query.order_by(col(CatalogueEntry.outcome_type), col(CatalogueEntry.code))).all()
    )


@dataclass(frozen=True)
class CatalogueDiff:
    first: int
    second: int
    added: list[dict[str, object]]
    retired: list[dict[str, object]]
    changed: list[dict[str, object]]  # {"code", "before", "after"}: entries in force at both, edited

    @property
    def count(self) -> int:
        return len(self.added) + len(self.retired) + len(self.changed)


def entries_at(session: Session, version: int) -> list[dict[str, object]]:
    """The entries in force at catalogue ``version``, as :func:`entry_json` shows them then (the
    edits made after ``version`` undone, latest first), by code."""
    rows = session.exec(select(CatalogueEntry).where(col(CatalogueEntry.added_in) <= version)).all()
    found = {e.code: entry_json(e) for e in rows if e.retired_in is None or e.retired_in > version}
    later = session.exec(
        select(CatalogueEdit)
        .where(col(CatalogueEdit.version) > version)
        .order_by(col(CatalogueEdit.version).desc())
    ).all()
    for edit in later:
        if edit.code in found:
            found[edit.code] = {**found[edit.code], **{k: edit.before[k] for k in EDITABLE}}
    return [found[code] for code in sorted(found)]


def diff(session: Session, first: int, second: int) -> CatalogueDiff:
    """What changed in the catalogue from version ``first`` to ``second``."""
    before = {str(e["code"]): e for e in entries_at(session, first)}
    after = {str(e["code"]): e for e in entries_at(session, second)}
    both = sorted(set(before) & set(after))
    return CatalogueDiff(
        first=first,
        second=second,
        added=[after[c] for c in sorted(set(after) - set(before))],
        retired=[before[c] for c in sorted(set(before) - set(after))],
        changed=[{"code": c, "before": before[c], "after": after[c]} for c in both if before[c] != after[c]],
    )


PG_SCOPE_LINES = "SELECT outcome_type, catalogue_code FROM accreditation_scopes WHERE institution_id = %s"
"""The lines of an institution's scope (its id the parameter), for :func:`scope_from_lines`."""


def scope_of(session: Session, institution: Institution) -> Scope:
    """The institution's accreditation scope: the lines an admin set, else its kind's default.

    On PostgreSQL one prepared statement (every posting asks), without the ORM's rows."""
    driver = pg_connection(session)
    lines: Sequence[tuple[str, str | None]]
    if driver is not None:
        with translated_errors(PG_SCOPE_LINES), driver.cursor() as cursor:
            lines = cursor.execute(PG_SCOPE_LINES, (institution.id,)).fetchall()
    else:
        lines = session.exec(
            select(AccreditationScope.outcome_type, AccreditationScope.catalogue_code).where(
                col(AccreditationScope.institution_id) == institution.id
            )
        ).all()
    return scope_from_lines(institution, lines)


def scope_from_lines(institution: Institution, lines: Sequence[tuple[str, str | None]]) -> Scope:
    """The scope of :func:`scope_of` from its lines as read (:data:`PG_SCOPE_LINES`)."""
    if not lines:
        default = DEFAULT_SCOPE.get(institution.kind, frozenset())
        return Scope(institution.id, True, {t: frozenset() for t in default})
    types: dict[str, set[str]] = {}
    for outcome_type, catalogue_code in lines:
        codes = types.setdefault(outcome_type, set())
        if catalogue_code is not None:
            codes.add(catalogue_code)
    return Scope(institution.id, False, {t: frozenset(c) for t, c in types.items()})


def set_scope(
    session: Session, institution: Institution, outcome_types: Sequence[str], catalogue_codes: Sequence[str]
) -> Scope:
    """Replace the institution's scope: ``outcome_types`` it may post in full, and the single
    ``catalogue_codes`` it may post (each adds its entry's type, limited to the listed entries).

    Raises:
        CatalogueEntryUnknown: a code is not an entry in force.
    """
    entries = []
    for code in catalogue_codes:
        entry = session.get(CatalogueEntry, code.strip().upper())
        if entry is None or entry.retired_in is not None:
            raise CatalogueEntryUnknown(msg("detail.accreditation.entry_unknown", code=code), code=code)
        entries.append(entry)
    session.execute(
        delete(AccreditationScope).where(col(AccreditationScope.institution_id) == institution.id)
    )
    limited = {e.outcome_type for e in entries}
    for outcome_type in sorted(set(outcome_types) - limited):
        session.add(AccreditationScope(institution_id=institution.id, outcome_type=outcome_type))
    for entry in entries:
        session.add(
            AccreditationScope(
                institution_id=institution.id, outcome_type=entry.outcome_type, catalogue_code=entry.code
            )
        )
    session.flush()
    return scope_of(session, institution)


def check_posting(scope: Scope, session: Session, outcome_type: str, catalogue_code: str | None) -> None:
    """Whether an institution with ``scope`` may post this outcome.

    Raises:
        CatalogueEntryUnknown: ``catalogue_code`` is not an entry in force of this outcome type.
        OutsideAccreditationScope: the type, or the entry, is outside the scope (the problem names it).
    """
    if catalogue_code is not None:
        entry = session.get(CatalogueEntry, catalogue_code.strip().upper())
        if entry is None or entry.retired_in is not None or entry.outcome_type != outcome_type:
            raise CatalogueEntryUnknown(
                msg("detail.accreditation.entry_unknown", code=catalogue_code), code=catalogue_code
            )
    allowed = scope.types.get(outcome_type)
    if allowed is None or (allowed and (catalogue_code or "").strip().upper() not in allowed):
        what = f"{outcome_type} {catalogue_code}" if catalogue_code and allowed else outcome_type
        raise OutsideAccreditationScope(
            msg("detail.accreditation.outside_scope", what=what, scope=scope.describe()),
            outcome_type=outcome_type,
            scope=scope.describe(),
        )
