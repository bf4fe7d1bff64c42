"""The contents of the PDF documents, in the reader's language, from the archive page's view model.

The reader's part says who, what and how many credits in words (the outcome's own title, the
institutions' names, a masked identity number, Beijing time); identifiers a machine checks (DIDs,
hashes, journal coordinates, lot ids, the credential's URN) go to the technical appendix.
"""

import datetime as dt
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from creditbank.archive.schemas import ArchiveLot
from creditbank.db import utcnow
from creditbank.i18n import Translator
from creditbank.rule_engine.models import PlanLine
from creditbank.web.pdf import Appendix, CertificateSheet, TranscriptSheet
from creditbank.web.pdf_drawing import Field, Letterhead, Seal, Table, beijing_date, beijing_time
from creditbank.web.views import ArchivePage, CertificateView, StatusRecord, status_record


def _amount(value: Decimal) -> str:
    return f"{value.normalize():f}"


def verify_url(base_url: str, certificate_id: str) -> str:
    return f"{base_url.rstrip('/')}/verify?certificate={certificate_id}"


def _transfer(document: dict[str, Any]) -> dict[str, Any]:
    subject = document.get("credentialSubject")
    transfer = subject.get("creditTransfer") if isinstance(subject, dict) else None
    return transfer if isinstance(transfer, dict) else {}


def printed_identity_number(masked: str | None) -> str | None:
    """The identity number as a printed document shows it: the first four and the last four
    characters (1101**********123X), from the archive's masked form."""
    if not masked or len(masked) < 8:
        return None
    return masked[:4] + "*" * (len(masked) - 8) + masked[-4:]


def _holder(page: ArchivePage, t: Translator) -> str:
    learner = page.archive.learner
    return learner.name or t("pdf.holder_erased")


def _date(t: Translator, moment: dt.datetime) -> str:
    day = beijing_date(moment)
    return t("pdf.date", y=day.year, m=day.month, d=day.day)


def _letterhead(t: Translator, authority: str, line: str, now: dt.datetime) -> Letterhead:
    return Letterhead(
        authority=authority,
        line=line,
        printed=t("pdf.printed", at=beijing_time(now)),
        page_label=t("pdf.page_of"),
    )


def status_reason(t: Translator, record: StatusRecord) -> str:
    """Why, as the record says (a replaced certificate names its successor)."""
    if record.successor_id:
        return t("cert.superseded_by", id=record.successor_id)
    return record.reason or t("cert.no_reason")


def _status_notice(t: Translator, cert: CertificateView) -> str | None:
    record = status_record(cert.row)
    if record is None:
        return None
    return t(f"cert.{record.state}_notice", at=beijing_time(record.at), reason=status_reason(t, record))


def certificate_sheet(
    page: ArchivePage, cert: CertificateView, base_url: str
) -> Callable[[Translator], CertificateSheet]:
    """The certificate PDF's contents, for a language chosen later (see :mod:`creditbank.web.pdf`)."""

    def build(t: Translator) -> CertificateSheet:
        now = utcnow()
        row, document = cert.row, cert.row.document
        lots: list[ArchiveLot] = [lot for lot in page.archive.lots if lot.id in row.lot_ids]
        titles = [page.outcome_titles.get(lot.outcome_id or "", "") for lot in lots]
        name = "；".join(x for x in titles if x) or cert.name
        transfer = _transfer(document)
        ledger = transfer.get("ledgerReference", {})
        rule = transfer.get("ruleCitation", {})
        issuer = page.names.of(row.issuer_owner_id, t.lang)
        destination = page.names.of(row.destination_institution_id, t.lang)
        credits = cert.credits or _amount(sum((lot.credits for lot in lots), Decimal(0)))
        end = row.valid_until.date().isoformat() if row.valid_until else t("pdf.open_ended")
        identity = printed_identity_number(page.archive.learner.identity_number_masked)
        levels = "；".join(
            f"{t.label('category', lot.category)}，{t('archive.level_n', n=lot.level)}" for lot in lots
        )
        holder = _holder(page, t)
        statement = t(
            "pdf.statement",
            holder=holder,
            identity=t("pdf.statement_identity", number=identity) if identity else "",
            name=name,
            issuer=issuer,
            credits=credits,
            levels=levels or "-",
        )
        if destination:
            statement += t("pdf.statement_destination", destination=destination)
        fields = [
            Field(t("pdf.holder"), holder),
            *([Field(t("pdf.identity_number"), identity)] if identity else []),
            Field(t("pdf.achievement"), name),
            Field(t("pdf.credits"), credits),
            Field(t("pdf.category_level"), levels or "-"),
        ]
        if rule:
            fields.append(Field(t("pdf.rule"), f"{rule.get('ruleId')} v{rule.get('ruleVersion')}"))
        fields += [
            Field(t("pdf.issuer"), issuer),
            Field(t("pdf.destination"), destination or "-"),
            Field(t("pdf.issued_on"), _date(t, row.created_at)),
            Field(
                t("pdf.validity"), t("pdf.valid_from_until", start=row.valid_from.date().isoformat(), end=end)
            ),
            Field(t("pdf.status"), t(f"archive.cert_status_{cert.status}")),
        ]
        appendix_fields = [
            Field(t("pdf.certificate_id"), row.id),
            Field(t("pdf.credential_id"), row.credential_id),
            Field(t("pdf.issuer_did"), row.issuer_did),
        ]
        proofs = document.get("proof")
        for proof in proofs if isinstance(proofs, list) else [proofs] if isinstance(proofs, dict) else []:
            appendix_fields.append(
                Field(
                    t("pdf.proof"),
                    f"{proof.get('cryptosuite', '-')} · {proof.get('created', '-')}\n"
                    f"{proof.get('verificationMethod', '-')}",
                )
            )
        if rule:
            appendix_fields.append(
                Field(
                    t("pdf.rule"),
                    f"{rule.get('ruleId')} v{rule.get('ruleVersion')}\n{rule.get('ruleSetHash', '-')}",
                )
            )
        if ledger:
            appendix_fields += [
                Field(t("pdf.ledger"), f"{ledger.get('logOrigin')} #{ledger.get('sequenceNumber')}"),
                Field(t("pdf.leaf_hash"), str(ledger.get("leafHash", "-"))),
            ]
        status = document.get("credentialStatus")
        if isinstance(status, dict):
            appendix_fields.append(
                Field(
                    t("pdf.status_entry"),
                    f"{status.get('statusListCredential', '-')} #{status.get('statusListIndex', '-')}",
                )
            )
        appendix_fields.append(Field(t("pdf.lots"), "\n".join(row.lot_ids)))
        title = t("pdf.bundle_title") if row.kind == "clr" else t("pdf.certificate_title")
        return CertificateSheet(
            letterhead=_letterhead(
                t, issuer or t("app.name"), t("pdf.letterhead_line", bank=t("app.name"), document=title), now
            ),
            title=title,
            number=t("pdf.number", id=row.id),
            statement=statement,
            fields=fields,
            verify_url=verify_url(base_url, row.id),
            verify_hint=t("pdf.verify_hint"),
            qr_caption=t("pdf.qr_caption"),
            seal=Seal(
                authority=issuer or t("app.name"),
                centre=t("pdf.seal_centre"),
                lines=[t("pdf.seal_issuer", issuer=issuer or t("app.name")), _date(t, row.created_at)],
            ),
            appendix=Appendix(
                heading=t("pdf.appendix_title"), intro=t("pdf.appendix_intro"), fields=appendix_fields
            ),
            notice=_status_notice(t, cert),
        )

    return build


def _programme(page: ArchivePage, t: Translator, programme_id: str | None) -> str:
    prog = page.programmes.get(programme_id or "")
    if prog is None:
        return programme_id or "-"
    return f"{prog.title_zh if t.lang == 'zh' else prog.title_en} ({prog.code})"


def transcript_sheet(page: ArchivePage, base_url: str) -> Callable[[Translator], TranscriptSheet]:
    """The archive transcript PDF's contents."""

    def build(t: Translator) -> TranscriptSheet:
        now = utcnow()
        built = page.archive
        identity = printed_identity_number(built.learner.identity_number_masked)
        fields = [
            Field(t("archive.learner"), _holder(page, t)),
            *([Field(t("pdf.identity_number"), identity)] if identity else []),
            Field(t("pdf.learner_id"), built.learner.id),
            Field(t("pdf.generated"), t("pdf.beijing", at=beijing_time(built.generated_at))),
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
            ],
            rows=[
                [
                    o.achieved_on.isoformat(),
                    o.title,
                    page.names.of(o.institution_id, t.lang),
                    t.label("status", o.recognition.status),
                    _amount(o.recognition.credits) if o.recognition.status == "recognised" else "-",
                    f"{o.recognition.rule_id or t('archive.manual')} v{o.recognition.rule_version or '-'}",
                ]
                for o in page.outcomes_newest_first
            ],
            widths=[20, 44, 36, 17, 12, 27],
        )
        conversions = Table(
            heading=t("archive.conversions"),
            columns=[
                t("common.date"),
                t("archive.programme"),
                t("archive.at_institution"),
                t("archive.lot_credits"),
                t("archive.counted"),
                t("archive.forfeited"),
                t("common.status"),
            ],
            rows=[
                [
                    beijing_time(c.at)[:10],
                    _programme(page, t, c.programme_id),
                    page.names.of(c.institution_id, t.lang) or "-",
                    _amount(c.credits),
                    _amount(c.counted_credits if c.counted_credits is not None else c.credits),
                    _amount(c.forfeited_credits or Decimal(0)),
                    t("archive.reversed") if c.reversed else t("pdf.conversion_done"),
                ]
                for c in built.conversions
            ],
            widths=[18, 40, 34, 14, 14, 14, 16],
        )
        conversion_lines = Table(
            heading=t("pdf.conversion_lines"),
            columns=[
                t("common.date"),
                t("plan.lot"),
                t("plan.becomes"),
                t("archive.grade"),
                t("plan.counted"),
            ],
            rows=[
                [
                    beijing_time(c.at)[:10],
                    line.title,
                    _becomes(t, line),
                    line.grade or "-",
                    _amount(line.credits),
                ]
                for c in built.conversions
                for line in c.lines
            ],
            widths=[20, 50, 58, 14, 14],
        )
        certs = Table(
            heading=t("archive.certificates"),
            columns=[t("pdf.certificate_id"), t("pdf.achievement"), t("pdf.credits"), t("common.status")],
            rows=[
                [c.row.id, c.name, c.credits, _certificate_status(t, c)]
                for c in page.certificates
                if not c.row.bundle_id
            ],
            widths=[42, 54, 12, 48],
        )
        ledger = Table(
            heading=t("pdf.ledger_refs"),
            columns=[t("field.title"), t("pdf.ledger"), t("pdf.leaf_hash")],
            rows=[
                [o.title, f"{o.ledger.log} #{o.ledger.index}", o.ledger.leaf_hash or "-"]
                for o in page.outcomes_newest_first
                if o.ledger
            ]
            + [
                [
                    t("pdf.conversion_into", programme=_programme(page, t, c.programme_id)),
                    f"{c.ledger.log} #{c.ledger.index}",
                    c.ledger.leaf_hash or "-",
                ]
                for c in built.conversions
            ],
            widths=[50, 30, 74],
        )
        rule_sets = sorted(
            {
                (
                    o.recognition.rule_set_id or "-",
                    o.recognition.rule_set_version or "-",
                    o.recognition.rule_set_hash,
                )
                for o in built.outcomes
                if o.recognition.rule_set_hash
            }
        )
        appendix = Appendix(
            heading=t("pdf.appendix_title"),
            intro=t("pdf.appendix_intro"),
            fields=[Field(t("pdf.learner_id"), built.learner.id)]
            + [Field(t("pdf.rule_set", id=rid, version=ver), str(digest)) for rid, ver, digest in rule_sets],
            tables=[ledger],
        )
        title = t("pdf.transcript_title")
        return TranscriptSheet(
            letterhead=_letterhead(t, t("app.name"), t("pdf.transcript_line"), now),
            title=title,
            fields=fields,
            tables=[balances, outcomes, conversions, conversion_lines, certs],
            seal=Seal(
                authority=t("app.name"),
                centre=t("pdf.seal_centre"),
                lines=[t("pdf.seal_issuer", issuer=t("app.name")), _date(t, now)],
            ),
            appendix=appendix,
            closing=[t("pdf.transcript_closing", at=beijing_time(built.generated_at))],
        )

    return build


def _becomes(t: Translator, line: PlanLine) -> str:
    if line.outcome != "converted":
        return t.label("skip", line.reason)
    title = t.pick(line.destination_title.zh, line.destination_title.en) if line.destination_title else ""
    return (
        f"{t.label('destination', line.destination_kind)}{t('common.colon')}{title} ({line.destination_code})"
    )


def _certificate_status(t: Translator, cert: CertificateView) -> str:
    label = t(f"archive.cert_status_{cert.status}")
    record = status_record(cert.row)
    if record is None:
        return label
    return (
        label
        + t("common.colon")
        + t("cert.when_why", at=beijing_time(record.at), reason=status_reason(t, record))
    )
