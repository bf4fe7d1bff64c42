"""Drawing helpers of the PDF documents: the CJK font, the A4 page with its letterhead and footer
bands, paragraphs, fields, tables, the seal area, QR codes and Beijing time.

How the documents use them is in :mod:`creditbank.web.pdf` (the certificate and transcript layouts).
"""

import datetime as dt
import io
import math
import shutil
import subprocess
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from zoneinfo import ZoneInfo

import segno
from fpdf import FPDF
from fpdf.enums import WrapMode, XPos, YPos
from fpdf.fonts import FontFace

from creditbank.i18n import Translator

CJK_FONT_CANDIDATES: tuple[Path, ...] = (
    Path("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc"),
    Path("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc"),
    Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc"),
    Path("/usr/share/fonts/truetype/arphic/uming.ttc"),
)
FONT_PACKAGE = "fonts-wqy-microhei"
"""The Debian package the service's host needs for Chinese PDFs (about 1.6 MB installed as a .ttc)."""

BEIJING = ZoneInfo("Asia/Shanghai")
"""Documents state their times in Beijing time (UTC+8, no daylight saving)."""

SEAL_RED = (200, 30, 40)
TOP_BAND = 32.0
"""Millimetres the letterhead takes at the top of every page; the content starts below."""
BOTTOM_BAND = 20.0
"""Millimetres kept free at the bottom of every page for the printed time and the page number."""


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
class Table:
    heading: str
    columns: Sequence[str]
    rows: Sequence[Sequence[str]]
    widths: Sequence[int]


@dataclass(frozen=True)
class Letterhead:
    """The top and bottom bands of every page."""

    authority: str
    """the issuing authority, printed large at the top"""
    line: str
    """under it: the bank and the kind of document"""
    printed: str
    """bottom left: when it was printed, in Beijing time, saying so"""
    page_label: str
    """bottom right: with ``{page}`` and ``{pages}`` placeholders (第 {page} 页 共 {pages} 页)"""


@dataclass(frozen=True)
class Seal:
    """The seal area: the authority's name round a red circle, a word in it, lines under it."""

    authority: str
    centre: str
    lines: Sequence[str]


class Pages(FPDF):
    """An A4 FPDF whose pages draw the letterhead and the footer band."""

    def __init__(self, document: "Document") -> None:
        super().__init__(format="A4", unit="mm")
        self.document = document

    def header(self) -> None:
        self.document.draw_letterhead()

    def footer(self) -> None:
        self.document.draw_footer()


class Document:
    """An A4 document set up with the CJK font, or with Helvetica and a printable-text filter."""

    def __init__(self, t: Translator, font: Path | None, letterhead: Letterhead) -> None:
        self.letterhead = letterhead
        self.pdf = Pages(self)
        self.pdf.set_auto_page_break(auto=True, margin=BOTTOM_BAND + 2)
        self.pdf.set_margins(18, TOP_BAND + 4, 18)
        self.pdf.set_creator("creditbank")
        self.pdf.set_lang("zh-CN" if t.lang == "zh" else "en")
        self.pdf.alias_nb_pages("{nb}")
        self.cjk = font is not None
        if font is not None:
            self.pdf.add_font("cjk", "", str(font))
            self.family = "cjk"
        else:
            self.family = "helvetica"
        self.pdf.add_page()

    # -- the bands -------------------------------------------------------------------------------

    def draw_letterhead(self) -> None:
        pdf, head = self.pdf, self.letterhead
        pdf.set_y(9)
        self.font(16, bold=True)
        pdf.set_text_color(*SEAL_RED)
        pdf.cell(0, 8, self.text(head.authority), align="C", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        pdf.set_text_color(60, 60, 60)
        self.font(9)
        pdf.cell(0, 6, self.text(head.line), align="C", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        pdf.set_draw_color(*SEAL_RED)
        pdf.set_line_width(0.8)
        pdf.line(pdf.l_margin, TOP_BAND - 3, pdf.w - pdf.r_margin, TOP_BAND - 3)
        pdf.set_line_width(0.25)
        pdf.line(pdf.l_margin, TOP_BAND - 1.8, pdf.w - pdf.r_margin, TOP_BAND - 1.8)
        pdf.set_draw_color(0, 0, 0)
        pdf.set_text_color(0, 0, 0)
        pdf.set_xy(pdf.l_margin, pdf.t_margin)

    def draw_footer(self) -> None:
        pdf, head = self.pdf, self.letterhead
        top = pdf.h - BOTTOM_BAND + 6
        pdf.set_draw_color(170, 170, 170)
        pdf.set_line_width(0.2)
        pdf.line(pdf.l_margin, top, pdf.w - pdf.r_margin, top)
        pdf.set_draw_color(0, 0, 0)
        pdf.set_text_color(90, 90, 90)
        self.font(8)
        pdf.set_xy(pdf.l_margin, top + 2)
        pdf.cell(pdf.epw / 2, 5, self.text(head.printed), align="L")
        label = head.page_label.format(page=pdf.page_no(), pages=pdf.str_alias_nb_pages)
        pdf.set_xy(pdf.l_margin + pdf.epw / 2, top + 2)
        pdf.cell(pdf.epw / 2, 5, self.text(label), align="R")
        pdf.set_text_color(0, 0, 0)

    # -- content ---------------------------------------------------------------------------------

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
            wrapmode=wrap(value),
        )

    def title(self, value: str, size: float = 22) -> None:
        pdf = self.pdf
        pdf.ln(3)
        self.font(size, bold=True)
        pdf.set_char_spacing(3 if self.cjk else 0.5)
        pdf.cell(0, size * 0.45, self.text(value), align="C", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        pdf.set_char_spacing(0)
        pdf.ln(3)

    def heading(self, value: str, size: float = 14) -> None:
        self.pdf.ln(2)
        self.font(size, bold=True)
        self.pdf.multi_cell(0, size * 0.5, self.text(value), align="L", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        self.pdf.ln(1)

    def fields(self, items: Iterable[Field], width: float = 0, label_w: float = 30) -> None:
        for item in items:
            self.font(9)
            self.pdf.set_text_color(90, 90, 90)
            top = self.pdf.get_y()
            self.pdf.multi_cell(
                label_w, 6, self.text(item.label), align="L", new_x=XPos.RIGHT, new_y=YPos.TOP
            )
            self.pdf.set_text_color(0, 0, 0)
            self.font(10.5)
            self.pdf.set_xy(self.pdf.l_margin + label_w, top)
            self.pdf.multi_cell(
                (width or self.pdf.epw) - label_w,
                6,
                self.text(item.value or "-"),
                align="L",
                new_x=XPos.LMARGIN,
                new_y=YPos.NEXT,
                wrapmode=wrap(item.value),
            )

    def table(self, table: Table) -> None:
        if self.pdf.get_y() + 30 > self.pdf.page_break_trigger:  # no heading alone at a page's foot
            self.pdf.add_page()
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

    def notice(self, value: str) -> None:
        self.pdf.set_text_color(*SEAL_RED)
        self.para(value, size=10.5, height=6)
        self.pdf.set_text_color(0, 0, 0)

    def note(self, value: str) -> None:
        self.pdf.set_text_color(90, 90, 90)
        self.para(value, size=8, height=4.2)
        self.pdf.set_text_color(0, 0, 0)

    def seal(self, seal: Seal, lead: Sequence[str] = (), radius: float = 19) -> None:
        """The seal area at the right, below the content, after the ``lead`` paragraphs (both on a
        new page when they do not fit)."""
        pdf = self.pdf
        needed = 2 * radius + 8 + 5 * len(seal.lines) + 10 * len(lead)
        if pdf.get_y() + needed > pdf.page_break_trigger:
            pdf.add_page()
        for line in lead:
            self.para(line, size=10, height=6)
        cx = pdf.w - pdf.r_margin - radius - 8
        cy = pdf.get_y() + radius + 4
        pdf.set_draw_color(*SEAL_RED)
        pdf.set_text_color(*SEAL_RED)
        pdf.set_line_width(0.9)
        pdf.circle(x=cx, y=cy, radius=radius)
        pdf.set_line_width(0.3)
        pdf.circle(x=cx, y=cy, radius=radius - 1.6)
        self._arc_text(seal.authority, cx, cy, radius - 5.2)
        self.font(9.5)
        pdf.set_xy(cx - radius, cy - 2.5)
        pdf.cell(2 * radius, 5, self.text(seal.centre), align="C")
        pdf.set_draw_color(0, 0, 0)
        pdf.set_text_color(0, 0, 0)
        pdf.set_y(cy + radius + 3)
        self.font(9.5)
        for line in seal.lines:
            pdf.set_x(cx - radius - 30)
            pdf.cell(2 * radius + 38, 5, self.text(line), align="R", new_x=XPos.LMARGIN, new_y=YPos.NEXT)

    def _arc_text(self, value: str, cx: float, cy: float, radius: float) -> None:
        """``value`` along the upper arc of the seal, each character turned to face the centre."""
        text = self.text(value)
        if not text:
            return
        size = 8.5 if len(text) <= 14 else max(6.0, 8.5 * 14 / len(text))
        self.font(size)
        span = min(240.0, 17.0 * len(text)) if self.cjk else min(250.0, 8.0 * len(text))
        step = span / max(len(text) - 1, 1)
        start = -span / 2
        pdf = self.pdf
        for i, ch in enumerate(text):
            angle = start + i * step if len(text) > 1 else 0.0
            rad = math.radians(angle)
            x = cx + radius * math.sin(rad)
            y = cy - radius * math.cos(rad)
            width = pdf.get_string_width(ch)
            with pdf.rotation(-angle, x=x, y=y):
                pdf.text(x - width / 2, y + size * 0.35 / 2.83, ch)

    def output(self) -> bytes:
        return bytes(self.pdf.output())


def wrap(text: str) -> WrapMode:
    """Chinese has no spaces between words: break it anywhere; break other text between words."""
    return WrapMode.CHAR if any("\u2e80" <= ch <= "\uffef" for ch in text) else WrapMode.WORD


def qr_png(url: str) -> io.BytesIO:
    buffer = io.BytesIO()
    segno.make(url, error="m").save(buffer, kind="png", scale=8, border=2)
    buffer.seek(0)
    return buffer


def beijing_time(moment: dt.datetime) -> str:
    """``moment`` as Beijing wall-clock time, ``2026-12-05 21:30`` (the caller states the zone)."""
    return moment.astimezone(BEIJING).strftime("%Y-%m-%d %H:%M")


def beijing_date(moment: dt.datetime) -> dt.date:
    return moment.astimezone(BEIJING).date()


def stamp(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
