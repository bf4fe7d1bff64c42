"""The learner's inbox (站内信) and its e-mail notices.

How this works:

* The messages are not a table of their own: they are the learner's own events, read where they
  are recorded. Each step of an outcome's history (posted and recognised, sent to review, a review
  decision, a rejection, a revocation or correction: ``outcome_events``, the texts the archive
  already shows the learner), each transfer the learner asked for and its decision, each read grant
  the learner gave that ends within a week, and each lot of credits whose validity ends within
  ``expiry_notice_days``. A message about an appeal (filed, upheld, changed) links to the
  learner's appeals page, the others to the outcome in the archive. So a message cannot say more
  than the learner's own archive says, and no write path of the bank has to remember to notify.
* ``inbox_state`` keeps, per learner, how far the inbox was read (``read_until``: the page's "mark
  all read") and how far it was announced by e-mail (``mailed_until``).
* :func:`mail_notices` (``creditbank inbox mail``, run by cron) sends each learner with an e-mail
  address and unannounced messages one notice that names only how many messages of which kinds
  wait, never their contents: an e-mail leaves the bank, so it carries nothing personal beyond the
  recipient's own address.
"""

import datetime as dt
import logging
from dataclasses import dataclass
from decimal import Decimal

from sqlmodel import Session, col, select

from creditbank import mailer
from creditbank.archive.models import InboxState
from creditbank.archive.service import build_archive
from creditbank.auth import accounts
from creditbank.catalog.models import TransferRequest
from creditbank.config import Settings
from creditbank.db import utcnow
from creditbank.i18n import Translator
from creditbank.institutions.models import Institution
from creditbank.learners import vault
from creditbank.learners.models import ArchiveGrant, Learner
from creditbank.ledger.models import Lot
from creditbank.outcomes.models import Appeal, Outcome, OutcomeEvent

log = logging.getLogger(__name__)

KINDS = ("recognition", "review", "correction", "transfer", "grant", "expiry")
_EVENT_KIND = {
    "posted": "recognition",
    "recognised": "recognition",
    "review": "review",
    "decision": "review",
    "rejected": "review",
    "revoked": "correction",
    "corrected": "correction",
    "correction_refused": "correction",
    "returned": "review",
    "resubmitted": "review",
    "appealed": "review",
    "appeal_upheld": "review",
    "appeal_changed": "correction",
}
APPEAL_EVENTS = frozenset({"appealed", "appeal_upheld", "appeal_changed"})
GRANT_NOTICE = dt.timedelta(days=7)


@dataclass(frozen=True)
class InboxItem:
    key: str
    kind: str
    at: dt.datetime
    text_zh: str
    text_en: str
    link: str
    unread: bool


def _state(session: Session, learner_id: str) -> InboxState:
    return session.get(InboxState, learner_id) or InboxState(learner_id=learner_id)


def _credits(value: Decimal) -> str:
    return f"{value.normalize():f}"


def items(
    session: Session, master_key: bytes, learner: Learner, *, expiry_days: int, now: dt.datetime | None = None
) -> list[InboxItem]:
    """The learner's messages, newest first. Authorisation is the caller's (the learner only)."""
    now = now or utcnow()
    state = _state(session, learner.id)
    zh, en = Translator("zh"), Translator("en")
    found: list[tuple[str, str, dt.datetime, str, str, str]] = []
    archive = build_archive(session, master_key, learner, with_credentials=False)
    titles = {o.id: o.title for o in archive.outcomes}
    appealed = dict(
        session.exec(select(Appeal.outcome_id, Appeal.id).where(col(Appeal.learner_id) == learner.id)).all()
    )
    # 1. every step of the learner's outcomes, in the words the archive uses
    for outcome in archive.outcomes:
        for number, event in enumerate(outcome.events):
            kind = _EVENT_KIND.get(event.kind, "recognition")
            found.append(
                (
                    f"event:{outcome.id}:{number}",
                    kind,
                    event.at,
                    f"《{outcome.title}》：{event.detail_zh}",
                    f"“{outcome.title}”: {event.detail_en}",
                    f"/appeals#{appealed[outcome.id]}"
                    if event.kind in APPEAL_EVENTS and outcome.id in appealed
                    else f"/archive#outcome-{outcome.id}",
                )
            )
    # 2. credits whose validity ends soon (still convertible until then)
    horizon = now.date() + dt.timedelta(days=expiry_days)
    for lot in archive.lots:
        if lot.state == "available" and lot.expires_on is not None and lot.expires_on <= horizon:
            title = titles.get(lot.outcome_id or "", lot.id)
            values = {"credits": _credits(lot.credits), "title": title, "day": lot.expires_on.isoformat()}
            since = dt.datetime.combine(lot.expires_on - dt.timedelta(days=expiry_days), dt.time(), dt.UTC)
            found.append(
                (
                    f"expiry:{lot.id}",
                    "expiry",
                    max(since, lot.created_at),
                    zh("inbox.expiry", **values),
                    en("inbox.expiry", **values),
                    "/archive#lots",
                )
            )
    # 3. transfers the learner asked for, and their decisions
    names = {
        i.id: (i.name_zh, i.name_en)
        for i in session.exec(
            select(Institution).where(
                col(Institution.id).in_(
                    select(TransferRequest.destination_institution_id).where(
                        TransferRequest.learner_id == learner.id
                    )
                )
            )
        ).all()
    }
    transfers = session.exec(select(TransferRequest).where(TransferRequest.learner_id == learner.id)).all()
    for transfer in transfers:
        name_zh, name_en = names.get(transfer.destination_institution_id, ("", ""))
        steps = [("issued", transfer.created_at)]
        if transfer.decided_at is not None and transfer.status in ("accepted", "rejected"):
            steps.append((transfer.status, transfer.decided_at))
        for status, at in steps:
            found.append(
                (
                    f"transfer:{transfer.id}:{status}",
                    "transfer",
                    at,
                    zh(f"inbox.transfer.{status}", institution=name_zh),
                    en(f"inbox.transfer.{status}", institution=name_en),
                    "/archive#transfers",
                )
            )
    # 4. read grants the learner gave that end within a week
    grants = session.exec(
        select(ArchiveGrant).where(
            ArchiveGrant.learner_id == learner.id,
            col(ArchiveGrant.revoked_at).is_(None),
            col(ArchiveGrant.expires_at) > now,
            col(ArchiveGrant.expires_at) <= now + GRANT_NOTICE,
        )
    ).all()
    grantees = {
        i.id: (i.name_zh, i.name_en)
        for i in session.exec(
            select(Institution).where(col(Institution.id).in_([g.institution_id for g in grants]))
        ).all()
    }
    for grant in grants:
        name_zh, name_en = grantees.get(grant.institution_id, ("", ""))
        day = grant.expires_at.date().isoformat()
        found.append(
            (
                f"grant:{grant.id}",
                "grant",
                grant.expires_at - GRANT_NOTICE,
                zh("inbox.grant_ends", institution=name_zh, day=day),
                en("inbox.grant_ends", institution=name_en, day=day),
                "/archive#grants",
            )
        )
    read_until = state.read_until
    result = [
        InboxItem(key, kind, at, text_zh, text_en, link, read_until is None or at > read_until)
        for key, kind, at, text_zh, text_en, link in found
    ]
    return sorted(result, key=lambda item: (item.at, item.key), reverse=True)


def mark_read(session: Session, learner_id: str, until: dt.datetime | None = None) -> InboxState:
    """Mark every message up to ``until`` (default now) read."""
    state = _state(session, learner_id)
    state.read_until = until or utcnow()
    session.add(state)
    session.flush()
    return state


def _address(session: Session, master_key: bytes, learner_id: str) -> str | None:
    """The learner's e-mail address: their account's sign-in name, else the contact in the vault."""
    account = accounts.of_learner(session, learner_id)
    submitted = accounts.submitted(account, master_key) if account is not None else None
    data = vault.load(session, master_key, learner_id)
    for contact in (submitted.contact if submitted else None, data.contact if data else None):
        if contact and "@" in contact:
            return contact
    return None


def _candidates(session: Session, since: dt.datetime, expiry_days: int, now: dt.datetime) -> set[str]:
    """Learners who may have something new since ``since``: an outcome event, a transfer, a lot
    nearing the end of its validity, a grant ending soon."""
    learners: set[str] = set()
    learners.update(
        session.exec(
            select(Outcome.learner_id)
            .join(OutcomeEvent, col(OutcomeEvent.outcome_id) == col(Outcome.id))
            .where(col(OutcomeEvent.at) > since)
            .distinct()
        ).all()
    )
    learners.update(
        session.exec(
            select(TransferRequest.learner_id).where(
                (col(TransferRequest.created_at) > since) | (col(TransferRequest.decided_at) > since)
            )
        ).all()
    )
    horizon = now.date() + dt.timedelta(days=expiry_days)
    learners.update(
        session.exec(
            select(Lot.learner_id)
            .where(col(Lot.expires_on).is_not(None), col(Lot.expires_on) <= horizon)
            .distinct()
        ).all()
    )
    learners.update(
        session.exec(
            select(ArchiveGrant.learner_id).where(
                col(ArchiveGrant.revoked_at).is_(None),
                col(ArchiveGrant.expires_at) <= now + GRANT_NOTICE,
                col(ArchiveGrant.expires_at) > now,
            )
        ).all()
    )
    return learners


@dataclass
class MailReport:
    sent: int = 0
    failed: int = 0
    skipped_no_address: int = 0


def mail_notices(
    session: Session, settings: Settings, master_key: bytes, *, since: dt.datetime
) -> MailReport:
    """E-mail each learner with unannounced messages (and an e-mail address) one notice naming how
    many messages of which kinds wait. ``since`` bounds the search for learners with new events
    (the last run's time). Nothing is sent when no SMTP server is configured."""
    report = MailReport()
    if not mailer.enabled(settings):
        return report
    now = utcnow()
    for learner_id in sorted(_candidates(session, since, settings.expiry_notice_days, now)):
        learner = session.get(Learner, learner_id)
        if learner is None or learner.erased_at is not None:
            continue
        state = _state(session, learner_id)
        fresh = [
            item
            for item in items(session, master_key, learner, expiry_days=settings.expiry_notice_days, now=now)
            if item.unread and (state.mailed_until is None or item.at > state.mailed_until)
        ]
        if not fresh:
            continue
        address = _address(session, master_key, learner_id)
        if address is None:
            report.skipped_no_address += 1
            continue
        counts = {kind: sum(1 for i in fresh if i.kind == kind) for kind in KINDS}
        zh, en = Translator("zh"), Translator("en")
        listed_zh = "、".join(f"{zh('inbox.kind.' + k)} {n}" for k, n in counts.items() if n)
        listed_en = ", ".join(f"{en('inbox.kind.' + k)} {n}" for k, n in counts.items() if n)
        link = settings.base_url.rstrip("/") + "/inbox"
        body = "\n\n".join(
            [
                zh("inbox.mail_body", count=len(fresh), kinds=listed_zh, link=link),
                en("inbox.mail_body", count=len(fresh), kinds=listed_en, link=link),
            ]
        )
        try:
            mailer.send(settings, address, zh("inbox.mail_subject") + " / " + en("inbox.mail_subject"), body)
        except mailer.MailFailed as exc:
            log.warning("inbox notice not sent: %s", exc)
            report.failed += 1
            continue
        state.mailed_until = now
        session.add(state)
        session.flush()
        report.sent += 1
    return report
