"""What the pages show, composed from the domains' services (a thin view model; no HTTP here).

* :func:`archive_page` wraps :func:`creditbank.archive.service.build_archive` with what a page needs
  on top: the learner's certificates, institution names, chart data and which lots can be
  certified or transferred.
* :func:`console_page` gathers an institution's outcomes, certificates, incoming transfers and the
  correction requests learners sent it; :func:`review_page` the reviewers' queue.

No query is built here (``tests/test_layers.py``): every read goes through a domain service, which
checks who may read what (an institution's console through the institution's principal, a
transfer's certificates only for its destination); a read of the learner's own archive, or through a
live share link, is authorised by the route before it calls :func:`archive_page`.
"""

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from sqlmodel import Session

from creditbank.applications import service as applications
from creditbank.archive.schemas import Archive, ArchiveLot, ArchiveOutcome
from creditbank.archive.service import build_archive
from creditbank.auth.service import Principal
from creditbank.catalog import exchange
from creditbank.catalog import service as catalog
from creditbank.catalog.models import Conversion, Programme, TransferRequest
from creditbank.context import AppContext
from creditbank.credentials import service as certificates
from creditbank.credentials.models import Certificate
from creditbank.i18n import Translator
from creditbank.institutions import service as institutions
from creditbank.institutions.models import Institution
from creditbank.learners import access
from creditbank.learners import service as learners
from creditbank.learners.models import ArchiveGrant, ShareLink
from creditbank.outcomes import records, review
from creditbank.outcomes.models import Application, ApplicationFile, Outcome, OutcomeEvent, Recognition
from creditbank.standards.vc.verification import Check, Report
from creditbank.web.charts import CategoryBar, TimePoint


@dataclass(frozen=True)
class Names:
    """Display names of institutions, in both languages."""

    zh: dict[str, str] = field(default_factory=dict)
    en: dict[str, str] = field(default_factory=dict)

    def of(self, institution_id: str | None, lang: str) -> str:
        if institution_id is None:
            return ""
        names = self.zh if lang == "zh" else self.en
        return names.get(institution_id, institution_id)


def institution_names(session: Session, ids: Iterable[str | None]) -> Names:
    wanted = sorted({i for i in ids if i})
    if not wanted:
        return Names()
    rows = institutions.by_ids(session, wanted)
    names = Names({r.id: r.name_zh for r in rows}, {r.id: r.name_en for r in rows})
    if "bank" in wanted:
        names.zh["bank"], names.en["bank"] = "终身学习学分银行", "Lifelong Learning Credit Bank"
    return names


@dataclass(frozen=True)
class CertificateView:
    row: Certificate
    status: str
    name: str

    @property
    def record(self) -> "StatusRecord | None":
        return status_record(self.row)

    @property
    def credits(self) -> str:
        subject = self.row.document.get("credentialSubject", {})
        earned = subject.get("creditsEarned") if isinstance(subject, dict) else None
        return str(earned) if earned is not None else ""


def _certificate_name(document: Mapping[str, Any]) -> str:
    subject = document.get("credentialSubject")
    if isinstance(subject, dict):
        achievement = subject.get("achievement")
        if isinstance(achievement, dict) and isinstance(achievement.get("name"), str):
            return str(achievement["name"])
    name = document.get("name")
    return name if isinstance(name, str) else ""


@dataclass(frozen=True)
class StatusRecord:
    """Why a certificate no longer stands, from its own row: revoked (when, the issuer's reason),
    superseded (when, by which certificate) or suspended (since when)."""

    state: str
    at: dt.datetime
    reason: str | None
    successor_id: str | None = None


def status_record(row: Certificate) -> StatusRecord | None:
    """The record behind a certificate's status; None for an active certificate."""
    if row.revoked_at is not None:
        return StatusRecord("revoked", row.revoked_at, row.revocation_reason)
    if row.successor_id is not None:
        return StatusRecord("superseded", row.superseded_at or row.created_at, None, row.successor_id)
    if row.suspended_at is not None:
        return StatusRecord("suspended", row.suspended_at, row.suspension_reason)
    return None


def known_certificate(session: Session, document: Any, report: Report) -> Certificate | None:
    """The certificate this service issued that a verified document is, for its status record;
    None unless the document's signature verified (a forged copy naming someone's credential id
    learns nothing about that certificate)."""
    if not isinstance(document, dict) or not isinstance(document.get("id"), str):
        return None
    proof = next((c for c in report.checks if c.name == "proof"), None)
    if proof is None or not proof.ok:
        return None
    row = certificates.by_credential_id(session, document["id"])
    return row if row is not None and row.document.get("proof") == document.get("proof") else None


def check_reason(t: Translator, check: Check, record: StatusRecord | None = None) -> str:
    """A check's result said for people, in the reader's language. A certificate of this service
    that is suspended or replaced has its revocation bit set (it has one status entry), so its
    ``status`` check is said from its record."""
    if check.ok:
        return t(f"reason.ok.{check.name}")
    if check.name == "status" and record is not None:
        return t(f"reason.credential-{record.state}")
    key = f"reason.{check.code}"
    return t(key) if t.has(key) else t("reason.fail")


def certificate_views(rows: Iterable[Certificate]) -> list[CertificateView]:
    return [CertificateView(r, certificates.status_of(r), _certificate_name(r.document)) for r in rows]


@dataclass(frozen=True)
class TransferView:
    transfer: TransferRequest
    programme: Programme | None
    conversion: Conversion | None


def transfer_views(session: Session, transfers: Sequence[TransferRequest]) -> list[TransferView]:
    programmes = catalog.programmes_by_id(session, [t.programme_id for t in transfers])
    conversions = catalog.conversions_by_id(session, [t.conversion_id for t in transfers])
    return [
        TransferView(t, programmes.get(t.programme_id), conversions.get(t.conversion_id or ""))
        for t in transfers
    ]


@dataclass
class ArchivePage:
    archive: Archive
    certificates: list[CertificateView]
    names: Names
    timeline: list[TimePoint]
    lots_by_outcome: dict[str, ArchiveLot]
    transferable: list[ArchiveLot]
    certifiable: set[str]
    by_category: dict[str, tuple[Decimal, Decimal]]
    by_level: dict[int, tuple[Decimal, Decimal]]
    transfers: list[TransferView]
    programmes: dict[str, Programme]

    @property
    def outcome_titles(self) -> dict[str, str]:
        return {o.id: o.title for o in self.archive.outcomes}

    @property
    def total(self) -> Decimal:
        return self.archive.total_available + self.archive.total_expired + self.archive.total_converted

    @property
    def expired_by_level(self) -> dict[int, Decimal]:
        found: dict[int, Decimal] = defaultdict(Decimal)
        for line in self.archive.balances:
            found[line.level] += line.expired
        return dict(found)

    @property
    def outcomes_newest_first(self) -> list[ArchiveOutcome]:
        return sorted(self.archive.outcomes, key=lambda o: (o.achieved_on, o.created_at), reverse=True)

    def bars(self, label: Any) -> list[CategoryBar]:
        return [CategoryBar(label(c), a, v) for c, (a, v) in sorted(self.by_category.items())]


def _timeline(built: Archive) -> list[TimePoint]:
    """The learner's recognised credits (not reversed), accumulated by the date each was achieved."""
    achieved = {o.id: o.achieved_on for o in built.outcomes}
    by_day: dict[dt.date, Decimal] = defaultdict(Decimal)
    for lot in built.lots:
        if lot.state != "reversed":
            by_day[achieved.get(lot.outcome_id or "", lot.created_at.date())] += lot.credits
    points: list[TimePoint] = []
    running = Decimal(0)
    for day in sorted(by_day):
        running += by_day[day]
        points.append(TimePoint(day, running))
    return points


def archive_page(session: Session, ctx: AppContext, learner_id: str) -> ArchivePage:
    """Everything the archive page shows. Authorisation is the caller's.

    Raises:
        LearnerNotFound: no such learner.
    """
    learner = learners.get(session, learner_id)
    built = build_archive(session, ctx.secrets.master_key, learner)
    certs = certificate_views(certificates.of_learner(session, learner_id))
    names = institution_names(
        session,
        [
            *(o.institution_id for o in built.outcomes),
            *(c.institution_id for c in built.conversions),
            *(c.row.issuer_owner_id for c in certs),
            *(c.row.destination_institution_id for c in certs),
            *(c.destination_institution_id for c in built.consents),
            *catalog.destinations_of_learner(session, learner_id),
        ],
    )
    by_outcome = {lot.outcome_id: lot for lot in built.lots if lot.outcome_id}
    live = [lot for lot in built.lots if lot.state not in ("reversed", "expired")]
    by_category: dict[str, tuple[Decimal, Decimal]] = {}
    by_level: dict[int, tuple[Decimal, Decimal]] = {}
    for line in built.balances:
        a, c = by_category.get(line.category, (Decimal(0), Decimal(0)))
        by_category[line.category] = (a + line.available, c + line.converted)
        a, c = by_level.get(line.level, (Decimal(0), Decimal(0)))
        by_level[line.level] = (a + line.available, c + line.converted)
    return ArchivePage(
        archive=built,
        certificates=certs,
        names=names,
        timeline=_timeline(built),
        lots_by_outcome={k: v for k, v in by_outcome.items() if k is not None},
        transferable=[lot for lot in live if lot.state == "available"],
        certifiable={lot.id for lot in live},
        by_category=by_category,
        by_level=dict(sorted(by_level.items())),
        transfers=(transfers := transfer_views(session, catalog.transfers_of_learner(session, learner_id))),
        programmes=catalog.programmes_by_id(
            session,
            [*(c.programme_id for c in built.conversions), *(t.transfer.programme_id for t in transfers)],
        ),
    )


@dataclass(frozen=True)
class AccessSection:
    """The learner's "who may read my archive" section: read grants and share links (the reads
    themselves are listed by :func:`creditbank.learners.access.access_log`)."""

    grants: list[ArchiveGrant]
    share_links: list[ShareLink]
    institutions: list[Institution]
    names: Names
    now: dt.datetime


def access_section(session: Session, learner_id: str) -> AccessSection:
    """The learner's grants and share links, and the institutions a grant may name."""
    grants = access.list_grants(session, learner_id)
    return AccessSection(
        grants=grants,
        share_links=access.list_share_links(session, learner_id),
        institutions=institutions.list_by_name(session),
        names=institution_names(session, [g.institution_id for g in grants]),
        now=dt.datetime.now(dt.UTC),
    )


# -- the console ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CorrectionRequest:
    outcome: Outcome
    event: OutcomeEvent


@dataclass(frozen=True)
class IncomingTransfer:
    """A transfer addressed to the institution, its certificates and (while open) their verification."""

    view: TransferView
    certificates: list[CertificateView]
    reports: list[Report]

    @property
    def valid(self) -> bool:
        return bool(self.reports) and all(r.valid for r in self.reports)

    @property
    def failed(self) -> list[str]:
        return sorted({name for r in self.reports for name in r.failed})

    @property
    def credits(self) -> Decimal:
        total = Decimal(0)
        for cert in self.certificates:
            try:
                total += Decimal(cert.credits or 0)
            except ArithmeticError:
                continue
        return total


@dataclass
class ConsolePage:
    institution: Institution
    outcomes: list[tuple[Outcome, Recognition]]
    certificates: list[CertificateView]
    incoming: list[IncomingTransfer]
    corrections: list[CorrectionRequest]
    programmes: list[Programme]
    names: Names


def incoming_transfers(
    session: Session, ctx: AppContext, who: Principal, *, limit: int = 50
) -> list[IncomingTransfer]:
    """Transfers addressed to the institution, newest first; open ones are verified now."""
    transfers = exchange.list_transfers(session, who, "incoming")[:limit]
    found: list[IncomingTransfer] = []
    for view in transfer_views(session, transfers):
        transfer = view.transfer
        rows = certificate_views(
            certificates.of_transfer(
                session, who, transfer.destination_institution_id, transfer.certificate_ids
            )
        )
        reports = (
            [certificates.verify(session, ctx, c.row.document) for c in rows]
            if view.transfer.status == "issued"
            else []
        )
        found.append(IncomingTransfer(view, rows, reports))
    return found


def console_page(
    session: Session, ctx: AppContext, who: Principal, institution: Institution, *, limit: int = 50
) -> ConsolePage:
    """An institution's console: its latest outcomes, certificates, incoming transfers, requests."""
    outcomes = records.of_institution(session, who, limit=limit)
    issued = certificate_views(certificates.issued_by(session, who, limit=limit))
    incoming = incoming_transfers(session, ctx, who, limit=limit)
    return ConsolePage(
        institution=institution,
        outcomes=outcomes,
        certificates=issued,
        incoming=incoming,
        corrections=[CorrectionRequest(o, e) for o, e in records.open_correction_requests(session, who)],
        programmes=catalog.transfer_destinations(session, institution.id),
        names=institution_names(
            session,
            [
                *(c.row.issuer_owner_id for item in incoming for c in item.certificates),
                *(c.row.destination_institution_id for c in issued),
            ],
        ),
    )


@dataclass(frozen=True)
class ReviewRow:
    outcome: Outcome
    recognition: Recognition
    institution: str
    district: str
    application: Application | None = None
    evidence: tuple[ApplicationFile, ...] = ()


def review_page(session: Session, lang: str, district: str | None) -> list[ReviewRow]:
    """The review desk's queue for a reviewer whose scope is ``district`` (None: every district)."""
    queue = review.queue(session, district=district)
    names = institution_names(session, [w.outcome.institution_id for w in queue])
    filed = applications.by_outcome(session, [w.outcome.id for w in queue])
    return [
        ReviewRow(
            w.outcome,
            w.recognition,
            names.of(w.outcome.institution_id, lang),
            w.district,
            filed.get(w.outcome.id),
            tuple(applications.files_of(session, filed[w.outcome.id].id)) if w.outcome.id in filed else (),
        )
        for w in queue
    ]
