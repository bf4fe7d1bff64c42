"""PDF documents: a certificate and the whole archive (a transcript), laid out as official documents.

How this works:

* Every page has the issuing authority's letterhead in its top band (the authority's name, a line
  naming the bank and the document, a red double rule) and, in its bottom band, the time it was
  printed in Beijing time (stated as such) and its page number, 第 x 页 共 y 页 (``{nb}`` is fpdf's
  alias for the page count, filled in when the document is closed).
* The reader's pages say what a person needs: who, what, how many credits, by whom, valid until
  when, the QR code and a seal area (the issuer's name round a red circle, the date of issue; the
  circle stands for the digital signature, which is what makes the document verifiable). No DID,
  hash or journal coordinate is printed there: those go to a last page, the technical appendix
  (技术信息), for whoever checks the document against the ledger.
* Chinese text needs a CJK font. :func:`creditbank.web.pdf_drawing.find_cjk_font` looks for one
  installed on the server (the Debian packages ``fonts-wqy-microhei``, ``fonts-wqy-zenhei``,
  ``fonts-noto-cjk`` or ``fonts-arphic-uming``, else anything ``fc-list :lang=zh`` names) and embeds
  it, subset to the characters used, so the PDF opens anywhere.
* Without one, the PDF uses the PDF's built-in Helvetica and English labels, and characters it
  cannot print are replaced by ``?``; a line on the page says so. The page never fails for want
  of a font.
* The QR code (segno) encodes the certificate's verification URL on this service
  (``/verify?certificate=<id>``); the URL is also printed under it.
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from fpdf.enums import WrapMode, XPos, YPos

from creditbank.i18n import Translator
from creditbank.web import pdf_drawing
from creditbank.web.pdf_drawing import Field, Letterhead, Seal, Table


@dataclass(frozen=True)
class Appendix:
    """The technical appendix: identifiers, DIDs, hashes and ledger coordinates."""

    heading: str
    intro: str
    fields: Sequence[Field]
    tables: Sequence[Table] = ()


@dataclass(frozen=True)
class CertificateSheet:
    """What the certificate PDF prints (already in the reader's language)."""

    letterhead: Letterhead
    title: str
    number: str
    statement: str
    fields: Sequence[Field]
    verify_url: str
    verify_hint: str
    qr_caption: str
    seal: Seal
    appendix: Appendix
    notice: str | None = None
    """printed in red under the title: the certificate was revoked or suspended, when and why"""


@dataclass(frozen=True)
class TranscriptSheet:
    letterhead: Letterhead
    title: str
    fields: Sequence[Field]
    tables: Sequence[Table]
    seal: Seal
    appendix: Appendix
    closing: Sequence[str] = field(default_factory=tuple)
    """paragraphs printed just before the seal area, kept on its page"""


def _font_note(t: Translator, font: Path | None) -> str | None:
    return None if font is not None else t("pdf.no_cjk_font", package=pdf_drawing.FONT_PACKAGE)


def _language(t: Translator, font: Path | None) -> Translator:
    """Chinese labels need the CJK font; without it the document is in English."""
    return t if font is not None else Translator("en")


def _appendix(doc: pdf_drawing.Document, appendix: Appendix) -> None:
    doc.pdf.add_page()
    doc.heading(appendix.heading, 14)
    doc.note(appendix.intro)
    doc.pdf.ln(2)
    doc.fields(appendix.fields, label_w=34)
    for table in appendix.tables:
        if table.rows:
            doc.table(table)


def certificate_pdf(
    sheet_of: Callable[[Translator], CertificateSheet],
    t: Translator,
    *,
    font: Path | None = None,
    use_system_font: bool = True,
) -> bytes:
    """The certificate: the reader's page (statement, facts, QR code, seal area) and the technical
    appendix.

    ``sheet_of`` is a function of a :class:`Translator` returning the :class:`CertificateSheet`
    (so the labels follow the language the font allows).
    """
    font = font or (pdf_drawing.find_cjk_font() if use_system_font else None)
    lang = _language(t, font)
    sheet = sheet_of(lang)
    doc = pdf_drawing.Document(lang, font, sheet.letterhead)
    pdf = doc.pdf
    pdf.set_title(doc.text(sheet.title))
    doc.title(sheet.title)
    doc.font(9)
    pdf.set_text_color(90, 90, 90)
    pdf.cell(0, 5, doc.text(sheet.number), align="R", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_text_color(0, 0, 0)
    pdf.ln(2)
    if sheet.notice:
        doc.notice(sheet.notice)
        pdf.ln(1)
    doc.para(sheet.statement, size=11.5, height=7.5)
    pdf.ln(3)
    qr_size = 40
    top = pdf.get_y()
    doc.fields(sheet.fields, width=pdf.epw - qr_size - 6)
    bottom = pdf.get_y()
    qr_x = pdf.l_margin + pdf.epw - qr_size
    pdf.image(
        pdf_drawing.qr_png(sheet.verify_url), x=qr_x, y=top, w=qr_size, h=qr_size, link=sheet.verify_url
    )
    pdf.set_xy(qr_x, top + qr_size + 1)
    doc.font(8)
    pdf.multi_cell(qr_size, 3.8, doc.text(sheet.qr_caption), align="C", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_y(max(bottom, pdf.get_y()) + 3)
    doc.para(sheet.verify_hint, size=9)
    doc.font(8.5)
    pdf.set_text_color(0, 70, 160)
    pdf.multi_cell(
        0,
        4.5,
        doc.text(sheet.verify_url),
        align="L",
        link=sheet.verify_url,
        new_x=XPos.LMARGIN,
        new_y=YPos.NEXT,
        wrapmode=WrapMode.CHAR,
    )
    pdf.set_text_color(0, 0, 0)
    doc.seal(sheet.seal)
    note = _font_note(lang, font)
    if note:
        doc.note(note)
    _appendix(doc, sheet.appendix)
    return doc.output()


def transcript_pdf(
    sheet_of: Callable[[Translator], TranscriptSheet],
    t: Translator,
    *,
    font: Path | None = None,
    use_system_font: bool = True,
) -> bytes:
    """The whole archive as a transcript, its seal area, and the technical appendix (see
    :func:`certificate_pdf` for ``sheet_of``)."""
    font = font or (pdf_drawing.find_cjk_font() if use_system_font else None)
    lang = _language(t, font)
    sheet = sheet_of(lang)
    doc = pdf_drawing.Document(lang, font, sheet.letterhead)
    doc.pdf.set_title(doc.text(sheet.title))
    doc.title(sheet.title, 20)
    doc.fields(sheet.fields)
    for table in sheet.tables:
        if table.rows:
            doc.table(table)
    doc.pdf.ln(3)
    note = _font_note(lang, font)
    if note:
        doc.note(note)
    doc.seal(sheet.seal, lead=sheet.closing)
    _appendix(doc, sheet.appendix)
    return doc.output()
