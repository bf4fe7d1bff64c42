"""The pages' parts on their own: messages, charts, PDFs, share tokens, forms, and the no-CDN rule."""

import datetime as dt
import re
from decimal import Decimal
from pathlib import Path

import pytest

from creditbank.i18n import Translator
from creditbank.outcomes.batch import BodyMalformed
from creditbank.web import forms, pdf, pdf_drawing
from creditbank.web.charts import CategoryBar, TimePoint, credits_by_category, credits_over_time
from creditbank.web.rendering import STATIC_DIR, TEMPLATES_DIR
from creditbank.web.share import make_share_token, read_share_token

SECRET = b"k" * 32
WEB_DIR = TEMPLATES_DIR.parent


class TestMessages:
    def test_coded_values_have_labels(self) -> None:
        t = Translator("zh")
        for kind in forms.OUTCOME_TYPES:
            assert t.label("type", kind) != kind
        for status in ("recognised", "review", "rejected", "revoked", "superseded"):
            assert t.label("status", status) != status
        for check in ("proof", "key", "issuer", "status", "validity", "ledger", "learner"):
            assert t.label("check", check) != check
        assert t.label("category", "something_new") == "something_new"

    def test_pick_prefers_the_readers_language(self) -> None:
        assert Translator("zh").pick("中文", "English") == "中文"
        assert Translator("en").pick("中文", "English") == "English"
        assert Translator("en").pick("中文", None) == "中文"


class TestNothingFromAnotherHost:
    def test_templates_and_static_files_name_no_other_host(self) -> None:
        files = [*TEMPLATES_DIR.rglob("*"), *STATIC_DIR.rglob("*")]
        for path in files:
            if path.is_file():
                content = path.read_text()
                urls = re.findall(r"(?:https?:)?//[A-Za-z0-9.-]+\.[A-Za-z]{2,}", content)
                # the only absolute URL allowed is the SVG namespace (a name, never fetched)
                assert all(u == "http://www.w3.org" for u in urls), (path, urls)
                assert "@import" not in content and "url(" not in content, path

    def test_fonts_are_system_fonts(self) -> None:
        css = (STATIC_DIR / "app.css").read_text()
        assert "@font-face" not in css
        assert "system-ui" in css and "PingFang SC" in css


def test_the_user_guide_shows_existing_screenshots() -> None:
    guide = WEB_DIR.parents[1] / "docs" / "user-guide.md"
    images = re.findall(r"\]\((images/[^)]+\.png)\)", guide.read_text())
    assert len(images) >= 10
    for image in images:
        path = guide.parent / image
        assert path.is_file(), image
        assert path.stat().st_size < 200_000, f"{image} is too large for the docs"


class TestCharts:
    def test_time_chart_is_accessible_svg_with_a_step_per_date(self) -> None:
        points = [
            TimePoint(dt.date(2024, 1, 5), Decimal(3)),
            TimePoint(dt.date(2024, 6, 1), Decimal("5.5")),
            TimePoint(dt.date(2025, 2, 1), Decimal("2.5")),
        ]
        svg = str(credits_over_time(points, title="学分 <累计>", desc="d", empty="e"))
        assert svg.startswith('<svg xmlns="http://www.w3.org/2000/svg" class="chart"')
        assert 'role="img"' in svg and "<title id=" in svg and "<desc id=" in svg
        assert "学分 &lt;累计&gt;" in svg
        assert svg.count('class="chart-dot"') == 3
        assert "2024-01-05" in svg and "2025-02-01" in svg
        assert " style=" not in svg and "<script" not in svg

    def test_empty_and_single_point_charts(self) -> None:
        assert "暂无" in str(credits_over_time([], title="t", desc="d", empty="暂无"))
        single = str(
            credits_over_time([TimePoint(dt.date(2024, 1, 1), Decimal(1))], title="t", desc="d", empty="e")
        )
        assert single.count('class="chart-dot"') == 1

    def test_category_chart_stacks_available_and_converted(self) -> None:
        bars = [CategoryBar("培训", Decimal(3), Decimal(2)), CategoryBar("证书", Decimal(4), Decimal(0))]
        svg = str(credits_by_category(bars, title="t", desc="d", empty="e", legend=("可用", "已转换")))
        assert svg.count('class="bar-available"') == 3  # two bars and the legend
        assert svg.count('class="bar-converted"') == 2  # one bar and the legend
        assert ">5</text>" in svg and ">4</text>" in svg
        assert "e</text>" in str(credits_by_category([], title="t", desc="d", empty="e", legend=("a", "b")))


class TestShareTokens:
    def test_round_trip(self) -> None:
        token = make_share_token(SECRET, "shl_1")
        assert read_share_token(SECRET, token) == "shl_1"

    def test_forged_or_foreign_tokens_are_refused(self) -> None:
        token = make_share_token(SECRET, "shl_1")
        assert read_share_token(b"o" * 32, token) is None
        assert read_share_token(SECRET, token[:-2] + "xx") is None
        assert read_share_token(SECRET, "x" * 500) is None


class TestForms:
    def test_csv_rows_read_attributes_booleans_and_gb18030(self) -> None:
        text = (
            "\ufeffreference,learner_id,outcome_type,title,achieved_on,hours,identity_verified,attr.years\n"
        )
        text += "R-1,lrn_1,work_experience,电工,2024-01-02,,是,2\n"
        total, chunks = forms.upload_rows(text.encode("gb18030"), "x.csv", 10)
        [[row]] = chunks
        assert total == 1 and row.item is not None
        assert row.item.identity_verified is True
        assert row.item.attributes == {"years": 2}

    def test_unreadable_uploads(self) -> None:
        for data in (b"", b"title\nx\n", b"\xff\xfe\x00\x81\x30\x81" * 3 + b"\x80"):
            with pytest.raises(BodyMalformed):
                forms.upload_rows(data, "x.csv", 10)
        with pytest.raises(forms.UploadUnreadable):
            forms.upload_rows(b"x" * (forms.MAX_UPLOAD_BYTES + 1), "x.csv", 10)

    def test_form_keeps_values_and_attributes(self) -> None:
        t = Translator("zh")
        form = forms.read_outcome_form(
            {
                "learner_id": "lrn_1",
                "reference": "R",
                "outcome_type": "mooc",
                "title": "Python",
                "achieved_on": "2024-02-03",
                "attributes": "platform=学堂在线\nbroken line",
            },
            t,
        )
        assert form.item is None
        assert form.errors["attributes"] == ["第 2 行应为 名称=值"]
        assert form.values["title"] == "Python"

    def test_superscript_and_other_unicode_digits_stay_text(self) -> None:
        """``"¹".isdigit()`` is true but ``int("¹")`` raises: such a value stays text."""
        form = forms.read_outcome_form(
            {
                "learner_id": "lrn_1",
                "reference": "R",
                "outcome_type": "work_experience",
                "title": "电工",
                "achieved_on": "2024-02-03",
                "attributes": "years=¹\nlevel=٣\ncount=12",
            },
            Translator("zh"),
        )
        assert form.item is not None, form.errors
        assert form.item.attributes == {"years": "¹", "level": "٣", "count": 12}


def _letterhead(t: Translator) -> pdf_drawing.Letterhead:
    return pdf_drawing.Letterhead(
        "北京市海淀区职业学校", t("app.name"), t("pdf.printed", at="2026-12-05 21:00"), t("pdf.page_of")
    )


def _seal(t: Translator) -> pdf_drawing.Seal:
    return pdf_drawing.Seal("北京市海淀区职业学校", t("pdf.seal_centre"), ["2026年12月5日"])


def _appendix(t: Translator) -> pdf.Appendix:
    return pdf.Appendix(
        t("pdf.appendix_title"), t("pdf.appendix_intro"), [pdf_drawing.Field("Leaf", "A" * 44)]
    )


class TestPdf:
    def _sheet(self, t: Translator) -> pdf.CertificateSheet:
        return pdf.CertificateSheet(
            letterhead=_letterhead(t),
            title=t("pdf.certificate_title"),
            number=t("pdf.number", id="crt_1"),
            statement="兹证明",
            fields=[pdf_drawing.Field(t("pdf.achievement"), "低压电工作业培训")],
            verify_url="http://127.0.0.1:8000/verify?certificate=crt_1",
            verify_hint=t("pdf.verify_hint"),
            qr_caption=t("pdf.qr_caption"),
            seal=_seal(t),
            appendix=_appendix(t),
        )

    def test_without_a_cjk_font_the_pdf_is_english_and_says_so(self) -> None:
        data = pdf.certificate_pdf(self._sheet, Translator("zh"), use_system_font=False)
        assert data.startswith(b"%PDF")
        assert b"/FontFile2" not in data  # no embedded font
        assert b"/Image" in data or b"/XObject" in data  # the QR code

    def test_with_a_cjk_font_chinese_is_embedded(self) -> None:
        font = pdf_drawing.find_cjk_font()
        if font is None:
            pytest.skip(
                f"no CJK font on this machine (install the Debian package {pdf_drawing.FONT_PACKAGE})"
            )
        data = pdf.certificate_pdf(self._sheet, Translator("zh"), font=font)
        assert data.startswith(b"%PDF") and b"/FontFile2" in data
        transcript = pdf.transcript_pdf(self._transcript, Translator("zh"), font=font)
        assert transcript.startswith(b"%PDF") and b"/FontFile2" in transcript

    def _transcript(self, t: Translator) -> pdf.TranscriptSheet:
        rows = [["2024-01-01", "电工", "海淀", "recognised", "3", "BJ-REC-TRAIN v1", "main#4"]] * 40
        return pdf.TranscriptSheet(
            letterhead=_letterhead(t),
            title=t("pdf.transcript_title"),
            fields=[pdf_drawing.Field("Learner", "lrn_1")],
            tables=[
                pdf_drawing.Table(
                    "Outcomes", ["a", "b", "c", "d", "e", "f", "g"], rows, [20, 40, 32, 17, 12, 24, 17]
                )
            ],
            seal=_seal(t),
            appendix=_appendix(t),
        )

    def test_transcript_pdf_with_tables(self) -> None:
        data = pdf.transcript_pdf(self._transcript, Translator("en"), use_system_font=False)
        assert data.startswith(b"%PDF")

    def test_font_candidates_are_debian_paths(self) -> None:
        assert all(isinstance(p, Path) and p.is_absolute() for p in pdf_drawing.CJK_FONT_CANDIDATES)
