"""Read a PDF as a person sees it: every page rendered to an image (``pdftoppm``) and its text with
positions (``pdftotext -bbox-layout``), both from poppler-utils (``make system-deps`` installs it).

Positions are fractions of the page (0 at the top and left, 1 at the bottom and right), so a test
says "in the top band" without knowing the paper size.
"""

import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import pytest

XHTML = "{http://www.w3.org/1999/xhtml}"


def _tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        pytest.fail(
            f"{name} is not installed: the PDF tests need poppler-utils "
            "(run `make system-deps` or `apt-get install poppler-utils`)",
            pytrace=False,
        )
    return found


@dataclass(frozen=True)
class Line:
    text: str
    top: float
    bottom: float
    left: float
    right: float

    @property
    def compact(self) -> str:
        return re.sub(r"\s+", "", self.text)


@dataclass(frozen=True)
class Image:
    """A rendered page: RGB bytes, row by row."""

    width: int
    height: int
    rgb: bytes

    def count(self, want: "type[Colour]", box: tuple[float, float, float, float] = (0, 0, 1, 1)) -> int:
        """Pixels of a colour inside ``box`` (left, top, right, bottom as fractions of the page)."""
        x0, y0 = int(box[0] * self.width), int(box[1] * self.height)
        x1, y1 = int(box[2] * self.width), int(box[3] * self.height)
        found = 0
        for y in range(y0, y1):
            row = self.rgb[(y * self.width + x0) * 3 : (y * self.width + x1) * 3]
            for i in range(0, len(row), 3):
                if want.matches(row[i], row[i + 1], row[i + 2]):
                    found += 1
        return found


class Colour:
    @staticmethod
    def matches(r: int, g: int, b: int) -> bool:
        raise NotImplementedError


class Red(Colour):
    """The seal's and the letterhead's red."""

    @staticmethod
    def matches(r: int, g: int, b: int) -> bool:
        return r > 150 and g < 110 and b < 110


class Dark(Colour):
    @staticmethod
    def matches(r: int, g: int, b: int) -> bool:
        return r < 80 and g < 80 and b < 80


@dataclass(frozen=True)
class Page:
    number: int
    lines: list[Line]
    image: Image

    @property
    def text(self) -> str:
        return "\n".join(line.text for line in self.lines)

    @property
    def compact(self) -> str:
        """The page's text without any whitespace (long values wrap across lines)."""
        return "".join(line.compact for line in self.lines)

    def band(self, top: float, bottom: float) -> list[Line]:
        """The lines lying wholly between ``top`` and ``bottom``."""
        return [line for line in self.lines if line.top >= top and line.bottom <= bottom]

    def band_text(self, top: float, bottom: float) -> str:
        return "".join(line.compact for line in self.band(top, bottom))

    def find(self, text: str) -> Line:
        wanted = re.sub(r"\s+", "", text)
        for line in self.lines:
            if wanted in line.compact:
                return line
        raise AssertionError(f"no line with {text!r} on page {self.number}:\n{self.text}")


def _ppm(path: Path) -> Image:
    data = path.read_bytes()
    fields: list[bytes] = []
    pos = 0
    while len(fields) < 4:  # magic, width, height, maxval; whitespace separated
        while data[pos : pos + 1].isspace():
            pos += 1
        end = pos
        while not data[end : end + 1].isspace():
            end += 1
        fields.append(data[pos:end])
        pos = end
    assert fields[0] == b"P6", fields[0]
    width, height = int(fields[1]), int(fields[2])
    return Image(width, height, data[pos + 1 : pos + 1 + width * height * 3])


def read_pdf(data: bytes, workdir: Path, *, dpi: int = 40) -> list[Page]:
    """Every page of the PDF: its text lines with their places, and its image."""
    workdir.mkdir(parents=True, exist_ok=True)
    source = workdir / "document.pdf"
    source.write_bytes(data)
    subprocess.run(
        [_tool("pdftoppm"), "-r", str(dpi), str(source), str(workdir / "page")], check=True, timeout=120
    )
    layout = workdir / "layout.html"
    subprocess.run([_tool("pdftotext"), "-bbox-layout", str(source), str(layout)], check=True, timeout=120)
    images = sorted(workdir.glob("page-*.ppm"), key=lambda p: int(p.stem.split("-")[-1]))
    root = ET.parse(layout).getroot()  # noqa: S314 - written just now by pdftotext from our own PDF
    pages: list[Page] = []
    for number, (element, image) in enumerate(zip(root.iter(f"{XHTML}page"), images, strict=True), start=1):
        width, height = float(element.attrib["width"]), float(element.attrib["height"])
        lines = [
            Line(
                text=" ".join((word.text or "") for word in line.iter(f"{XHTML}word")),
                top=float(line.attrib["yMin"]) / height,
                bottom=float(line.attrib["yMax"]) / height,
                left=float(line.attrib["xMin"]) / width,
                right=float(line.attrib["xMax"]) / width,
            )
            for line in element.iter(f"{XHTML}line")
        ]
        pages.append(Page(number, lines, _ppm(image)))
    return pages


def images_per_page(data: bytes, workdir: Path) -> dict[int, int]:
    """How many raster images each page draws (``pdfimages -list``)."""
    source = workdir / "images.pdf"
    source.write_bytes(data)
    out = subprocess.run(
        [_tool("pdfimages"), "-list", str(source)], check=True, capture_output=True, text=True, timeout=60
    ).stdout
    counts: dict[int, int] = {}
    for row in out.splitlines()[2:]:
        fields = row.split()
        if fields and fields[0].isdigit() and fields[2] == "image":
            counts[int(fields[0])] = counts.get(int(fields[0]), 0) + 1
    return counts
