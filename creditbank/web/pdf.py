"""PDF documents: a certificate's printable transcript with a QR code, and the whole archive.

How this works:

* Chinese text needs a CJK font. :func:`find_cjk_font` looks for one installed on the server (the
  Debian packages ``fonts-wqy-microhei``, ``fonts-wqy-zenhei``, ``fonts-noto-cjk`` or
  ``fonts-arphic-uming``, else anything ``fc-list :lang=zh`` names) and embeds it, subset to
  the characters used, so the PDF opens anywhere.
* Without one, the PDF uses the PDF's built-in Helvetica and English labels, and characters it
  cannot print are replaced by ``?``; a line on the page says so. The page never fails for want
  of a font.
* The QR code (segno) encodes the certificate's verification URL on this service
  (``/verify?certificate=<id>``); the URL is also printed under it.
"""

import datetime as dt
import io
import shutil
import subprocess
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import segno
from fpdf import FPDF
from fpdf.enums import WrapMode, XPos, YPos
from fpdf.fonts import FontFace

from creditbank.web.i18n import Translator

CJK_FONT_CANDIDATES: tuple[Path, ...] = (
    Path("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc"),
    Path("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc"),
    Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc"),
    Path("/usr/share/fonts/truetype/arphic/uming.ttc"),
)
FONT_PACKAGE = "fonts-wqy-microhei"
"""The Debian package the service's host needs for Chinese PDFs (about 1.6 MB installed as a .ttc)."""


def _usable(path: Path) -> bool:
    try:
        probe = FPDF()
        probe.add_font("probe", "", str(path))
    except Exception:  # any font the PDF library cannot embed is simply not used
        return False
    return True


def _fc_list() -> list[Path]:
    fc_list = shutil.which("fc-list")
    if fc_list is None:
        return []
    try:
        out = subprocess.run(
            [fc_list, ":lang=zh", "file"], capture_output=True, text=True, timeout=10, check=False
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    files = [Path(line.split(":")[0].strip()) for line in out.splitlines() if line.strip()]
    return sorted(f for f in files if f.suffix.lower() in (".ttf", ".ttc", ".otf"))


@lru_cache(maxsize=1)
def find_cjk_font() -> Path | None:
    """A CJK font the PDF library can embed, or None when the server has none."""
    for path in [*CJK_FONT_CANDIDATES, *_fc_list()]:
        if path.is_file() and _usable(path):
            return path
    return None


@dataclass(frozen=True)
class Field:
    label: str
    value: str


@dataclass(frozen=True)
class CertificateSheet:
    """What the certificate PDF prints (already in the reader's language)."""

    title: str
    subtitle: str
    fields: Sequence[Field]
    verify_url: str
    verify_hint: str
    qr_caption: str
    footer: str


@dataclass(frozen=True)
class Table:
    heading: str
    columns: Sequence[str]
    rows: Sequence[Sequence[str]]
    widths: Sequence[int]


@dataclass(frozen=True)
class TranscriptSheet:
    title: str
    fields: Sequence[Field]
    tables: Sequence[Table]
    footer: str


class _Document:
    """An A4 page set up with the CJK font, or with Helvetica and a printable-text filter."""

    def __init__(self, t: Translator, font: Path | None) -> None:
        self.pdf = FPDF(format="A4", unit="mm")
        self.pdf.set_auto_page_break(auto=True, margin=16)
        self.pdf.set_margins(18, 18, 18)
        self.pdf.set_creator("creditbank")
        self.pdf.set_lang("zh-CN" if t.lang == "zh" else "en")
        self.cjk = font is not None
        if font is not None:
            self.pdf.add_font("cjk", "", str(font))
            self.family = "cjk"
        else:
            self.family = "helvetica"
        self.pdf.add_page()

    def text(self, value: str) -> str:
        if self.cjk:
            return value
        return value.encode("latin-1", errors="replace").decode("latin-1")

    def font(self, size: float, bold: bool = False) -> None:
        self.pdf.set_font(self.family, "B" if bold and not self.cjk else "", size)

    def para(self, value: str, size: float = 10, height: float = 5.5, width: float = 0) -> None:
        self.font(size)
        self.pdf.multi_cell(
            width,
            height,
            self.text(value),
            align="L",
            new_x=XPos.LMARGIN,
            new_y=YPos.NEXT,
            wrapmode=_wrap(value),
        )

    def heading(self, value: str, size: float = 14) -> None:
        self.pdf.ln(2)
        self.font(size, bold=True)
        self.pdf.multi_cell(0, size * 0.5, self.text(value), align="L", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        self.pdf.ln(1)

    def fields(self, items: Iterable[Field], width: float = 0) -> None:
        label_w = 38
        for item in items:
            self.font(9)
            self.pdf.set_text_color(90, 90, 90)
            top = self.pdf.get_y()
            self.pdf.multi_cell(
                label_w, 5.5, self.text(item.label), align="L", new_x=XPos.RIGHT, new_y=YPos.TOP
            )
            self.pdf.set_text_color(0, 0, 0)
            self.font(10)
            self.pdf.set_xy(self.pdf.l_margin + label_w, top)
            self.pdf.multi_cell(
                (width or self.pdf.epw) - label_w,
                5.5,
                self.text(item.value or "-"),
                align="L",
                new_x=XPos.LMARGIN,
                new_y=YPos.NEXT,
                wrapmode=_wrap(item.value),
            )

    def table(self, table: Table) -> None:
        self.heading(table.heading, 12)
        self.font(8.5)
        with self.pdf.table(
            col_widths=tuple(table.widths),
            text_align="LEFT",
            line_height=4.8,
            wrapmode=WrapMode.CHAR,
            first_row_as_headings=True,
            headings_style=FontFace(emphasis="", fill_color=(235, 238, 242)),
        ) as grid:
            head = grid.row()
            for column in table.columns:
                head.cell(self.text(column))
            for values in table.rows:
                row = grid.row()
                for value in values:
                    row.cell(self.text(value))

    def footer(self, value: str, font_note: str | None) -> None:
        self.pdf.ln(4)
        self.pdf.set_text_color(90, 90, 90)
        self.para(value, size=8, height=4.2)
        if font_note:
            self.para(font_note, size=8, height=4.2)
        self.pdf.set_text_color(0, 0, 0)

    def output(self) -> bytes:
        return bytes(self.pdf.output())


def _wrap(text: str) -> WrapMode:
    """Chinese has no spaces between words: break it anywhere; break other text between words."""
    return WrapMode.CHAR if any("\u2e80" <= ch <= "\uffef" for ch in text) else WrapMode.WORD


def _qr_png(url: str) -> io.BytesIO:
    buffer = io.BytesIO()
    segno.make(url, error="m").save(buffer, kind="png", scale=8, border=2)
    buffer.seek(0)
    return buffer


def _font_note(t: Translator, font: Path | None) -> str | None:
    return None if font is not None else t("pdf.no_cjk_font", package=FONT_PACKAGE)


def _language(t: Translator, font: Path | None) -> Translator:
    """Chinese labels need the CJK font; without it the document is in English."""
    return t if font is not None else Translator("en")


def certificate_pdf(
    sheet_of: Callable[[Translator], CertificateSheet],
    t: Translator,
    *,
    font: Path | None = None,
    use_system_font: bool = True,
) -> bytes:
    """The certificate as a one-page PDF with its verification QR code.

    ``sheet_of`` is a function of a :class:`Translator` returning the :class:`CertificateSheet`
    (so the labels follow the language the font allows).
    """
    font = font or (find_cjk_font() if use_system_font else None)
    lang = _language(t, font)
    sheet = sheet_of(lang)
    doc = _Document(lang, font)
    pdf = doc.pdf
    pdf.set_title(doc.text(sheet.title))
    doc.heading(sheet.title, 20)
    doc.para(sheet.subtitle, size=10)
    pdf.ln(3)
    qr_size = 46
    top = pdf.get_y()
    doc.fields(sheet.fields, width=pdf.epw - qr_size - 6)
    bottom = pdf.get_y()
    qr_x = pdf.l_margin + pdf.epw - qr_size
    pdf.image(_qr_png(sheet.verify_url), x=qr_x, y=top, w=qr_size, h=qr_size, link=sheet.verify_url)
    pdf.set_xy(qr_x, top + qr_size + 1)
    doc.font(7.5)
    pdf.multi_cell(qr_size, 3.6, doc.text(sheet.qr_caption), align="C", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_y(max(bottom, pdf.get_y()) + 4)
    doc.para(sheet.verify_hint, size=9)
    doc.font(8)
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
    doc.footer(sheet.footer, _font_note(lang, font))
    return doc.output()


def transcript_pdf(
    sheet_of: Callable[[Translator], TranscriptSheet],
    t: Translator,
    *,
    font: Path | None = None,
    use_system_font: bool = True,
) -> bytes:
    """The whole archive as a PDF transcript (see :func:`certificate_pdf` for ``sheet_of``)."""
    font = font or (find_cjk_font() if use_system_font else None)
    lang = _language(t, font)
    sheet = sheet_of(lang)
    doc = _Document(lang, font)
    doc.pdf.set_title(doc.text(sheet.title))
    doc.heading(sheet.title, 18)
    doc.fields(sheet.fields)
    for table in sheet.tables:
        if table.rows:
            doc.table(table)
    doc.footer(sheet.footer, _font_note(lang, font))
    return doc.output()


def stamp(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
