"""The contents of the PDF documents, in the reader's language, from the archive page's view model."""

from collections.abc import Callable
from decimal import Decimal
from typing import Any

from creditbank.archive.service import ArchiveLot
from creditbank.db import utcnow
from creditbank.web.i18n import Translator
from creditbank.web.pdf import CertificateSheet, Field, Table, TranscriptSheet, stamp
from creditbank.web.views import ArchivePage, CertificateView


def _amount(value: Decimal) -> str:
    return f"{value.normalize():f}"


def verify_url(base_url: str, certificate_id: str) -> str:
    return f"{base_url.rstrip('/')}/verify?certificate={certificate_id}"


def _transfer(document: dict[str, Any]) -> dict[str, Any]:
    subject = document.get("credentialSubject")
    transfer = subject.get("creditTransfer") if isinstance(subject, dict) else None
    return transfer if isinstance(transfer, dict) else {}


def _holder(page: ArchivePage) -> str:
    learner = page.archive.learner
    return f"{learner.name} ({learner.id})" if learner.name else learner.id


def certificate_sheet(
    page: ArchivePage, cert: CertificateView, base_url: str
) -> Callable[[Translator], CertificateSheet]:
    """The certificate PDF's contents, for a language chosen later (see :mod:`creditbank.web.pdf`)."""

    def build(t: Translator) -> CertificateSheet:
        row, document = cert.row, cert.row.document
        lots: list[ArchiveLot] = [lot for lot in page.archive.lots if lot.id in row.lot_ids]
        transfer = _transfer(document)
        ledger = transfer.get("ledgerReference", {})
        rule = transfer.get("ruleCitation", {})
        end = row.valid_until.date().isoformat() if row.valid_until else t("pdf.open_ended")
        fields = [
            Field(t("pdf.certificate_id"), row.id),
            Field(t("pdf.credential_id"), row.credential_id),
            Field(t("pdf.holder"), _holder(page)),
            Field(t("pdf.achievement"), cert.name),
            Field(
                t("pdf.outcome"),
                "; ".join(page.outcome_titles.get(lot.outcome_id or "", "") for lot in lots) or "-",
            ),
            Field(
                t("pdf.credits"),
                cert.credits or _amount(sum((lot.credits for lot in lots), Decimal(0))),
            ),
            Field(
                t("pdf.category_level"),
                "; ".join(
                    f"{t.label('category', lot.category)}, {t('archive.level_n', n=lot.level)}"
                    for lot in lots
                ),
            ),
        ]
        if rule:
            fields.append(Field(t("pdf.rule"), f"{rule.get('ruleId')} v{rule.get('ruleVersion')}"))
        if ledger:
            fields.append(
                Field(
                    t("pdf.ledger"),
                    f"{ledger.get('logOrigin')} #{ledger.get('sequenceNumber')}\n{ledger.get('leafHash')}",
                )
            )
        fields += [
            Field(t("pdf.issuer"), f"{page.names.of(row.issuer_owner_id, t.lang)}\n{row.issuer_did}"),
            Field(t("pdf.destination"), page.names.of(row.destination_institution_id, t.lang) or "-"),
            Field(
                t("pdf.validity"),
                t("pdf.valid_from_until", start=row.valid_from.date().isoformat(), end=end),
            ),
            Field(t("pdf.status"), t(f"archive.cert_status_{cert.status}")),
            Field(t("pdf.lots"), ", ".join(row.lot_ids)),
        ]
        url = verify_url(base_url, row.id)
        return CertificateSheet(
            title=t("pdf.bundle_title") if row.kind == "clr" else t("pdf.certificate_title"),
            subtitle=t("pdf.subtitle"),
            fields=fields,
            verify_url=url,
            verify_hint=t("pdf.verify_hint"),
            qr_caption=t("pdf.qr_caption"),
            footer=t("pdf.footer", bank=t("app.name"), at=stamp(utcnow())),
        )

    return build


def transcript_sheet(page: ArchivePage, base_url: str) -> Callable[[Translator], TranscriptSheet]:
    """The archive transcript PDF's contents."""

    def build(t: Translator) -> TranscriptSheet:
        built = page.archive
        fields = [
            Field(t("archive.learner"), _holder(page)),
            Field(t("pdf.generated"), stamp(built.generated_at)),
            Field(
                t("pdf.totals"),
                t(
                    "pdf.totals_value",
                    total=_amount(page.total),
                    available=_amount(built.total_available),
                    expired=_amount(built.total_expired),
                    converted=_amount(built.total_converted),
                    counted=_amount(built.total_counted),
                ),
            ),
            Field(
                t("pdf.verify_archive"), t("pdf.verify_archive_value", url=f"{base_url.rstrip('/')}/verify")
            ),
        ]
        balances = Table(
            heading=t("archive.by_category_level"),
            columns=[
                t("archive.category"),
                t("archive.level"),
                t("archive.available"),
                t("archive.expired"),
                t("archive.converted"),
            ],
            rows=[
                [
                    t.label("category", line.category),
                    str(line.level),
                    _amount(line.available),
                    _amount(line.expired),
                    _amount(line.converted),
                ]
                for line in built.balances
            ],
            widths=[34, 12, 16, 18, 16],
        )
        outcomes = Table(
            heading=t("archive.outcomes"),
            columns=[
                t("archive.achieved_on"),
                t("field.title"),
                t("archive.institution"),
                t("common.status"),
                t("archive.credits_short"),
                t("archive.rule"),
                t("archive.ledger_ref"),
            ],
            rows=[
                [
                    o.achieved_on.isoformat(),
                    o.title,
                    page.names.of(o.institution_id, t.lang),
                    t.label("status", o.recognition.status),
                    _amount(o.recognition.credits) if o.recognition.status == "recognised" else "-",
                    f"{o.recognition.rule_id or t('archive.manual')} v{o.recognition.rule_version or '-'}",
                    f"{o.ledger.log}#{o.ledger.index}" if o.ledger else "-",
                ]
                for o in page.outcomes_newest_first
            ],
            widths=[20, 40, 32, 17, 12, 24, 17],
        )
        certs = Table(
            heading=t("archive.certificates"),
            columns=[t("pdf.certificate_id"), t("pdf.achievement"), t("pdf.credits"), t("common.status")],
            rows=[
                [c.row.id, c.name, c.credits, t(f"archive.cert_status_{c.status}")] for c in page.certificates
            ],
            widths=[35, 60, 15, 20],
        )
        return TranscriptSheet(
            title=t("pdf.transcript_title"),
            fields=fields,
            tables=[balances, outcomes, certs],
            footer=t("pdf.footer", bank=t("app.name"), at=stamp(utcnow())),
        )

    return build
