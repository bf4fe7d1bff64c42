"""Who besides the learner may read the archive: the learner's grants, share links, and the rate
limit on looking people up by identity number.

How this works:

* An institution reads a learner's whole archive (profile, archive, certificates) only while the
  learner's grant to it is live (not expired, not revoked) or while a transfer of the learner's
  credits to it is waiting for its decision. Registering a person or posting outcomes for them
  gives no read access (the institution reads only the outcomes it posted, through
  ``GET /api/v1/outcomes/{id}``). Every read is logged in ``archive_access_log`` and shown to the
  learner (:func:`creditbank.learners.service.authorise_read`).
* The learner creates, lists and revokes grants (API and archive page). A grant names one
  institution and lasts 1 to 365 days.
* A share link is a signed id of a ``share_links`` row: the row decides whether the link still
  works (expiry, revocation by the learner, erasure of the learner).
* Every lookup of a learner by identity number (registering a known person, ``/learners/lookup``)
  is written to ``identity_lookups``, and a token may make at most
  ``CREDITBANK_IDENTITY_LOOKUPS_PER_MINUTE`` of them in any 60 seconds: the next one is a 429 with
  ``Retry-After``. The token's row is locked while counting, so concurrent lookups cannot overrun.
* Transfers belong to the catalog, which sits above this package (it reads learners); the one
  question asked here, "is a transfer to this institution waiting?", reads ``transfer_requests``
  through :data:`TRANSFERS`, a projection of the three columns it needs, so that ``learners`` does
  not import ``catalog`` (``tests/learners/test_access.py`` checks the projection against the table).
"""

import datetime as dt
import logging
import math

from sqlalchemy import column, func, table, update
from sqlmodel import Session, col, select

from creditbank.auth.models import ApiToken
from creditbank.auth.service import Principal
from creditbank.db import utcnow
from creditbank.errors import Forbidden, NotFound, TooManyRequests, ValidationFailed
from creditbank.i18n import msg
from creditbank.ids import random_id
from creditbank.institutions.models import Institution
from creditbank.learners.models import ArchiveAccess, ArchiveGrant, IdentityLookup, Learner, ShareLink
from creditbank.learners.schemas import GrantPublic

MAX_GRANT_DAYS = 365
LOOKUP_WINDOW_SECONDS = 60
PENDING_TRANSFER = "issued"

# the columns of ``catalog.models.TransferRequest`` that decide a read (see the module docstring)
TRANSFERS = table(
    "transfer_requests",
    column("id"),
    column("learner_id"),
    column("destination_institution_id"),
    column("status"),
)

log = logging.getLogger("creditbank.learners")


class GrantRequired(Forbidden):
    slug = "grant-required"
    title = "Reading this learner's archive needs the learner's grant"


class GrantNotFound(NotFound):
    slug = "grant-not-found"
    title = "No such grant"


class GrantInvalid(ValidationFailed):
    slug = "grant-invalid"
    title = "The grant cannot be made as asked"


class ShareLinkNotFound(NotFound):
    slug = "share-link-not-found"
    title = "No such share link"


class TooManyLookups(TooManyRequests):
    slug = "too-many-lookups"
    title = "Too many identity-number lookups with this token; wait and try again"


# -- grants ------------------------------------------------------------------------------------------


def live_grant(session: Session, learner_id: str, institution_id: str) -> ArchiveGrant | None:
    """The learner's live grant to the institution (the latest-expiring one), if any."""
    return session.exec(
        select(ArchiveGrant)
        .where(
            col(ArchiveGrant.learner_id) == learner_id,
            col(ArchiveGrant.institution_id) == institution_id,
            col(ArchiveGrant.revoked_at).is_(None),
            col(ArchiveGrant.expires_at) > utcnow(),
        )
        .order_by(col(ArchiveGrant.expires_at).desc())
    ).first()


def pending_transfer(session: Session, learner_id: str, institution_id: str) -> str | None:
    """The id of a transfer of the learner's credits to the institution that waits for its decision."""
    transfer: str | None = session.exec(
        select(TRANSFERS.c.id).where(
            TRANSFERS.c.learner_id == learner_id,
            TRANSFERS.c.destination_institution_id == institution_id,
            TRANSFERS.c.status == PENDING_TRANSFER,
        )
    ).first()
    return transfer


def institution_basis(session: Session, learner_id: str, institution_id: str) -> str:
    """Why the institution may read the archive now: ``grant grt_…`` or ``transfer trf_…``.

    Raises:
        GrantRequired: no live grant and no pending transfer.
    """
    grant = live_grant(session, learner_id, institution_id)
    if grant is not None:
        return f"grant {grant.id}"
    transfer = pending_transfer(session, learner_id, institution_id)
    if transfer is not None:
        return f"transfer {transfer}"
    raise GrantRequired(msg("detail.learners.access.institution_reads_learner_s"))


def create_grant(
    session: Session, learner_id: str, institution_id: str, *, days: int, purpose: str = ""
) -> ArchiveGrant:
    """The learner grants an institution read access to the whole archive for ``days`` days.

    Raises:
        GrantInvalid: unknown institution, or days outside 1..365.
    """
    if not 1 <= days <= MAX_GRANT_DAYS:
        raise GrantInvalid(
            msg("detail.learners.access.grant_lasts_days", MAX_GRANT_DAYS=MAX_GRANT_DAYS, days=days)
        )
    if session.get(Institution, institution_id) is None:
        raise GrantInvalid(msg("detail.learners.access.no_institution", institution_id=institution_id))
    grant = ArchiveGrant(
        id=random_id("grt"),
        learner_id=learner_id,
        institution_id=institution_id,
        purpose=purpose.strip(),
        expires_at=utcnow() + dt.timedelta(days=days),
    )
    session.add(grant)
    session.flush()
    return grant


def list_grants(session: Session, learner_id: str) -> list[ArchiveGrant]:
    """Every grant the learner made, newest first (live, expired and revoked)."""
    return list(
        session.exec(
            select(ArchiveGrant)
            .where(col(ArchiveGrant.learner_id) == learner_id)
            .order_by(col(ArchiveGrant.created_at).desc(), col(ArchiveGrant.id))
        ).all()
    )


def revoke_grant(session: Session, learner_id: str, grant_id: str) -> ArchiveGrant:
    """Revoke one of the learner's grants (idempotent).

    Raises:
        GrantNotFound: the learner has no grant with that id.
    """
    grant = session.get(ArchiveGrant, grant_id)
    if grant is None or grant.learner_id != learner_id:
        raise GrantNotFound(msg("detail.learners.access.no_grant_learner", grant_id=grant_id))
    if grant.revoked_at is None:
        grant.revoked_at = utcnow()
        session.add(grant)
        session.flush()
    return grant


def grant_is_live(grant: ArchiveGrant, now: dt.datetime | None = None) -> bool:
    return grant.revoked_at is None and grant.expires_at > (now or utcnow())


def grant_public(grant: ArchiveGrant) -> GrantPublic:
    return GrantPublic(
        id=grant.id,
        learner_id=grant.learner_id,
        institution_id=grant.institution_id,
        purpose=grant.purpose,
        created_at=grant.created_at,
        expires_at=grant.expires_at,
        revoked_at=grant.revoked_at,
        live=grant_is_live(grant),
    )


# -- share links -------------------------------------------------------------------------------------


def create_share_link(session: Session, learner_id: str, *, days: int) -> ShareLink:
    link = ShareLink(
        id=random_id("shl"),
        learner_id=learner_id,
        expires_at=utcnow().replace(microsecond=0) + dt.timedelta(days=days),
    )
    session.add(link)
    session.flush()
    return link


def live_share_link(session: Session, link_id: str) -> ShareLink | None:
    """The link if it still works: not expired, not revoked, its learner not erased."""
    link = session.get(ShareLink, link_id)
    if link is None or link.revoked_at is not None or link.expires_at <= utcnow():
        return None
    learner = session.get(Learner, link.learner_id)
    if learner is None or learner.erased_at is not None:
        return None
    return link


def list_share_links(session: Session, learner_id: str) -> list[ShareLink]:
    return list(
        session.exec(
            select(ShareLink)
            .where(col(ShareLink.learner_id) == learner_id)
            .order_by(col(ShareLink.created_at).desc(), col(ShareLink.id))
        ).all()
    )


def revoke_share_link(session: Session, learner_id: str, link_id: str) -> ShareLink:
    """Raises: ShareLinkNotFound (not the learner's link)."""
    link = session.get(ShareLink, link_id)
    if link is None or link.learner_id != learner_id:
        raise ShareLinkNotFound(msg("detail.learners.access.no_share_link_learner", link_id=link_id))
    if link.revoked_at is None:
        link.revoked_at = utcnow()
        session.add(link)
        session.flush()
    return link


def revoke_everything(session: Session, learner_id: str) -> None:
    """On erasure: every grant and share link of the learner stops at once."""
    now = utcnow()
    for model in (ArchiveGrant, ShareLink):
        session.execute(
            update(model)
            .where(col(model.learner_id) == learner_id, col(model.revoked_at).is_(None))
            .values(revoked_at=now)
        )


# -- identity-number lookups -------------------------------------------------------------------------


def admit_lookup(session: Session, who: Principal, limit: int) -> None:
    """Count the token's lookups in the last minute; refuse one more than ``limit``.

    Raises:
        TooManyLookups: the token made ``limit`` lookups in the last 60 seconds.
    """
    if who.token_id is None:
        return
    # the token's row serialises concurrent lookups with the same token
    session.exec(select(ApiToken.id).where(col(ApiToken.id) == who.token_id).with_for_update()).first()
    now = utcnow()
    since = now - dt.timedelta(seconds=LOOKUP_WINDOW_SECONDS)
    count, oldest = session.exec(
        select(func.count(), func.min(IdentityLookup.at)).where(
            col(IdentityLookup.token_id) == who.token_id, col(IdentityLookup.at) > since
        )
    ).one()
    if count >= limit:
        wait = LOOKUP_WINDOW_SECONDS if oldest is None else (oldest - since).total_seconds()
        retry_after = max(1, math.ceil(wait))
        log.warning(
            "identity-number lookup refused: rate limit",
            extra={"fields": {"token": who.token_id, "role": who.role.value, "subject": who.subject}},
        )
        raise TooManyLookups(
            msg(
                "detail.learners.access.token_made_identity_number",
                count=count,
                LOOKUP_WINDOW_SECONDS=LOOKUP_WINDOW_SECONDS,
                limit=limit,
                retry_after=retry_after,
            ),
            retry_after=retry_after,
        )


POSTING_MISS = "posting-miss"
"""What a posting's "no learner with that identity number" answer is logged as."""


def posting_scope(institution_id: str) -> str:
    """The window key of an institution's posting misses (kept in ``token_id``: one budget for all of
    the institution's tokens and sessions, and the window's index serves it)."""
    return f"posting:{institution_id}"


def answer_unknown_numbers(session: Session, institution_id: str, wanted: int, limit: int) -> int:
    """How many of ``wanted`` "no learner with that identity number" answers a posting institution
    may still be given in this minute (at most ``limit`` a minute, like a lookup: the answer tells
    whether a person has an account). Each answer given is logged; the caller refuses the rest with
    :class:`TooManyLookups`."""
    if wanted <= 0:
        return 0
    # the institution's row serialises concurrent postings' misses (NO KEY UPDATE: outcomes being
    # inserted for the institution hold KEY SHARE on it, which this does not wait for)
    session.exec(
        select(Institution.id).where(col(Institution.id) == institution_id).with_for_update(key_share=True)
    ).first()
    since = utcnow() - dt.timedelta(seconds=LOOKUP_WINDOW_SECONDS)
    scope = posting_scope(institution_id)
    used = session.exec(
        select(func.count()).where(col(IdentityLookup.token_id) == scope, col(IdentityLookup.at) > since)
    ).one()
    allowed = max(0, min(wanted, limit - used))
    for _ in range(allowed):
        session.add(
            IdentityLookup(
                token_id=scope,
                reader_role="institution",
                reader_subject=institution_id,
                learner_id=None,
                what=POSTING_MISS,
            )
        )
    session.flush()
    if allowed < wanted:
        log.warning(
            "identity-number answers to postings refused: rate limit",
            extra={"fields": {"institution": institution_id, "refused": wanted - allowed}},
        )
    return allowed


def refused_posting_miss(limit: int) -> TooManyLookups:
    return TooManyLookups(
        msg("detail.learners.access.posting_misses", limit=limit, seconds=LOOKUP_WINDOW_SECONDS),
        retry_after=LOOKUP_WINDOW_SECONDS,
    )


def log_lookup(session: Session, who: Principal, learner_id: str | None, what: str) -> None:
    session.add(
        IdentityLookup(
            token_id=who.token_id or "",
            reader_role=who.role.value,
            reader_subject=who.subject,
            learner_id=learner_id,
            what=what,
        )
    )
    session.flush()


def access_log(session: Session, learner_id: str, limit: int = 200) -> list[ArchiveAccess]:
    """Who else read the learner's archive and certificates, newest first (for the learner)."""
    stmt = (
        select(ArchiveAccess)
        .where(col(ArchiveAccess.learner_id) == learner_id)
        .order_by(col(ArchiveAccess.at).desc(), col(ArchiveAccess.id).desc())
        .limit(limit)
    )
    return list(session.exec(stmt).all())


def log_share_view(session: Session, link: ShareLink) -> None:
    """Record a view of the archive through a share link (a read by someone other than the learner).

    Raises:
        Forbidden: the link is not live (expired, revoked, or its learner erased).
    """
    if live_share_link(session, link.id) is None:
        raise Forbidden(msg("detail.learners.access.share_link_not_live"))
    session.add(
        ArchiveAccess(
            learner_id=link.learner_id, reader_role="share_link", reader_subject=link.id, what="archive"
        )
    )
    session.flush()
