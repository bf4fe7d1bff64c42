"""Certificates and transcripts read like official documents (issue 16, point 7).

Each PDF is downloaded through the app as the learner does, every page is rendered (``pdftoppm``) and
read back with the place of each line (``pdftotext -bbox-layout``): the issuing authority's
letterhead in the top band of every page, 第 x 页 共 y 页 in the bottom band, Beijing time said as
such, a masked identity number, the QR code, the red seal area, and no DID, hash or lot id on the
reader's pages (they are on the technical appendix, the last page). The archive page folds the same
identifiers behind a 技术信息 toggle.
"""

import dataclasses
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from creditbank.auth.models import Role
from creditbank.context import AppContext
from creditbank.main import create_app
from creditbank.web import pdf_drawing
from tests.conftest import Tokens
from tests.support.factories import create_learner, identity_number
from tests.support.pdfpages import Dark, Page, Red, images_per_page, read_pdf
from tests.support.signin import mint
from tests.web.scene import Scene, build_scene, programme, publish, training

TOP_BAND = 0.1
BOTTOM_BAND = 0.93

DID = re.compile(r"did:[a-z0-9]+:")
HEX_HASH = re.compile(r"[0-9a-fA-F]{32,}")
B64_HASH = re.compile(r"[A-Za-z0-9+/]{40,}={0,2}")
LOT_ID = re.compile(r"lot_[0-9a-z]{6,}")


@pytest.fixture
def scene(client: TestClient, auth: Tokens, ctx: AppContext) -> Scene:
    if pdf_drawing.find_cjk_font() is None:
        pytest.fail(
            f"no CJK font: the document tests need the Debian package {pdf_drawing.FONT_PACKAGE} "
            "(run `make system-deps`)",
            pytrace=False,
        )
    return build_scene(client, auth, ctx)


def scene_learner(scene: Scene) -> dict[str, str]:
    """The learner's bearer header (for the archive through the API)."""
    return {"Authorization": f"Bearer {mint(scene.ctx, Role.learner, scene.learner_id)}"}


def _learner(scene: Scene, name: str = "李华") -> tuple[Scene, str]:
    """A learner whose identity number the test knows."""
    number = identity_number("19880412", district="110105")
    learner_id = create_learner(scene.client, scene.institution_headers, name=name, number=number)
    return dataclasses.replace(scene, learner_id=learner_id), number


def _issue(scene: Scene, lot_id: str) -> str:
    """The learner asks for the lot's certificate on the archive page; its id."""
    csrf = scene.sign_in(Role.learner, scene.learner_id)
    issued = scene.client.post(
        "/archive/certificates", data={"csrf": csrf, "lot_id": lot_id}, follow_redirects=False
    )
    assert issued.status_code == 303, issued.text
    found = re.search(r'/archive/certificates/(crt_[0-9a-z]+)\.pdf"', scene.client.get("/archive").text)
    assert found
    return found.group(1)


def _pages(scene: Scene, path: str, workdir: Path) -> tuple[list[Page], bytes]:
    response = scene.client.get(path)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/pdf"
    return read_pdf(response.content, workdir), response.content


def _bands_on_every_page(pages: list[Page], authority: str, page_label: str = "第{i}页共{n}页") -> None:
    for page in pages:
        top = page.band_text(0, TOP_BAND)
        assert authority in top, f"page {page.number} top band: {top!r}"
        bottom = page.band_text(BOTTOM_BAND, 1)
        label = page_label.format(i=page.number, n=len(pages))
        assert label in bottom, f"page {page.number} bottom band: {bottom!r}"
        # the letterhead is red (the rule and the authority's name), and so is nothing else up there
        assert page.image.count(Red, (0, 0, 1, TOP_BAND)) > 50


def _nothing_technical(page: Page) -> None:
    """No DID, lot id or hash (hex or base64, as printed on one line) on the page."""
    for pattern, text in (
        (DID, page.compact),
        (LOT_ID, page.compact),
        (HEX_HASH, page.text),
        (B64_HASH, page.text),
    ):
        found = pattern.search(text)
        assert found is None, f"page {page.number} prints {found.group(0)!r}"


class TestCertificatePdf:
    def test_reads_like_an_official_document(self, scene: Scene, tmp_path: Path) -> None:
        scene, number = _learner(scene)
        posted = scene.post(training("DOC-1"))
        certificate_id = _issue(scene, posted["recognition"]["lot_id"])
        credential = scene.client.get(f"/archive/certificates/{certificate_id}.json").json()
        # the credential's name is the outcome's title, not the lot's field code
        assert credential["credentialSubject"]["achievement"]["name"] == "低压电工作业培训"
        pages, data = _pages(scene, f"/archive/certificates/{certificate_id}.pdf", tmp_path)

        assert len(pages) == 2
        reader, appendix = pages
        _bands_on_every_page(pages, "北京市海淀区职业学校")
        assert "北京时间" in reader.band_text(BOTTOM_BAND, 1)
        text = reader.compact
        assert "学分证书" in text and "兹证明李华" in text
        assert "低压电工作业培训" in text and "electrician" not in text
        assert "3学分" in text  # 48 hours at 16 per credit
        assert f"{number[:4]}{'*' * 10}{number[-4:]}" in text
        assert number not in text and number[:6] not in text
        assert certificate_id in text  # the document's number, which the QR code verifies
        _nothing_technical(reader)
        # the QR code: one image, on the reader's page, in its upper right, printed black on white
        assert images_per_page(data, tmp_path) == {1: 1}
        assert reader.image.count(Dark, (0.7, 0.2, 1, 0.6)) > 200
        assert f"/verify?certificate={certificate_id}" in text
        # the seal area: red, at the lower right, above the issuer's name and the date
        signed = reader.find("签发机构：北京市海淀区职业学校")
        assert signed.left > 0.5 and signed.top > 0.45
        assert reader.image.count(Red, (0.55, signed.top - 0.2, 1, signed.top)) > 150
        assert reader.image.count(Red, (0, 0.2, 0.5, BOTTOM_BAND)) == 0
        # the technical appendix carries what the reader's page leaves out
        tech = appendix.compact
        assert "技术信息" in tech
        assert credential["issuer"]["id"] in tech
        ledger = credential["credentialSubject"]["creditTransfer"]["ledgerReference"]
        assert ledger["leafHash"] in tech
        assert posted["recognition"]["lot_id"] in tech

    def test_a_revoked_certificate_says_when_and_why(self, scene: Scene, tmp_path: Path) -> None:
        posted = scene.post(training("DOC-2"))
        certificate_id = _issue(scene, posted["recognition"]["lot_id"])
        revoked = scene.client.post(
            f"/api/v1/certificates/{certificate_id}/revoke",
            json={"reason": "考核记录有误"},
            headers={**scene.institution_headers, "Idempotency-Key": "doc-revoke-1"},
        )
        assert revoked.status_code == 200, revoked.text
        pages, _ = _pages(scene, f"/archive/certificates/{certificate_id}.pdf", tmp_path)
        notice = pages[0].find("被签发机构吊销")
        assert notice.top < 0.35  # under the title, before anything else
        text = pages[0].compact
        assert re.search(
            r"本证书已于\d{4}-\d\d-\d\d\d\d:\d\d（北京时间）被签发机构吊销。原因：考核记录有误", text
        )
        assert "打印时状态已吊销" in text

    def test_in_english_on_request(self, scene: Scene, tmp_path: Path) -> None:
        posted = scene.post(training("DOC-3"))
        certificate_id = _issue(scene, posted["recognition"]["lot_id"])
        pages, _ = _pages(scene, f"/archive/certificates/{certificate_id}.pdf?lang=en", tmp_path)
        _bands_on_every_page(pages, "HaidianVocational", page_label="Page{i}of{n}")
        assert "Beijingtime" in pages[0].band_text(BOTTOM_BAND, 1)
        assert "Thiscertifiesthat" in pages[0].compact
        _nothing_technical(pages[0])


class TestTranscriptPdf:
    def _converted(self, scene: Scene) -> None:
        """Two lots moved to the other school's programme and accepted there."""
        first = scene.post(training("DOC-T1"))
        second = scene.post(training("DOC-T2", hours=32, title="电工安全实训"))
        programme_id = programme(scene.ctx, scene.other_institution_id)
        csrf = scene.sign_in(Role.learner, scene.learner_id)
        lots = [first["recognition"]["lot_id"], second["recognition"]["lot_id"]]
        asked = scene.client.post(
            "/archive/transfer",
            data={"csrf": csrf, "lot_ids": lots, "programme_id": programme_id},
            follow_redirects=False,
        )
        assert asked.status_code == 303, asked.text
        transfer = re.search(r"<code>(trf_[a-z0-9]+)</code>", scene.client.get("/archive").text)
        assert transfer
        publish(scene.ctx)
        school = TestClient(create_app(ctx=scene.ctx), raise_server_exceptions=False)
        school_csrf = scene.sign_in(Role.institution, scene.other_institution_id, client=school)
        accepted = school.post(
            "/console/transfers/accept",
            data={"csrf": school_csrf, "transfer_id": transfer.group(1)},
            follow_redirects=False,
        )
        assert accepted.status_code == 303, accepted.text

    def test_lists_conversions_with_letterhead_page_numbers_and_appendix(
        self, scene: Scene, tmp_path: Path
    ) -> None:
        scene, number = _learner(scene, name="赵敏")
        self._converted(scene)
        archive = scene.client.get(
            f"/api/v1/learners/{scene.learner_id}/archive", headers=scene_learner(scene)
        )
        assert archive.status_code == 200, archive.text
        outcomes = archive.json()["outcomes"]
        pages, _ = _pages(scene, "/archive/transcript.pdf", tmp_path)

        assert len(pages) >= 2
        _bands_on_every_page(pages, "终身学习学分银行")
        *reader, appendix = pages
        text = "".join(page.compact for page in reader)
        assert "终身学习档案成绩单" in text and "赵敏" in text
        assert f"{number[:4]}{'*' * 10}{number[-4:]}" in text and number not in text
        assert "北京时间" in text
        # the conversion, and lot by lot what each became
        assert "学分转换" in text and "软件技术(510201)" in text and "北京开放大学" in text
        assert "转换明细" in text and "电工类选修" in text
        assert "电工安全实训" in text and "低压电工作业培训" in text
        for page in reader:
            _nothing_technical(page)
        # the seal area closes the reader's part
        signed = next(page for page in reader if "签发机构：终身学习学分银行" in page.compact)
        line = signed.find("签发机构：终身学习学分银行")
        assert signed.image.count(Red, (0.55, line.top - 0.2, 1, line.top)) > 150
        # the appendix: the ledger's coordinates and leaf hashes of the outcomes
        tech = appendix.compact
        assert "技术信息" in tech
        for outcome in outcomes:
            assert outcome["ledger"]["leaf_hash"] in tech


class _Folding(HTMLParser):
    """Where each hash, DID and ledger leaf sits: inside a <details class="tech"> or not."""

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[tuple[str, bool]] = []
        self.outside: list[str] = []
        self.inside: list[str] = []
        self.summaries: list[str] = []
        self._summary = False

    @property
    def folded(self) -> bool:
        return any(tech for _, tech in self.stack)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        classes = (dict(attrs).get("class") or "").split()
        if tag in ("br", "input", "img", "meta", "link"):
            return
        self.stack.append((tag, tag == "details" and "tech" in classes))
        if tag == "summary" and self.folded:
            self._summary = True
            self.summaries.append("")

    def handle_endtag(self, tag: str) -> None:
        while self.stack:
            if self.stack.pop()[0] == tag:
                break
        if tag == "summary":
            self._summary = False

    def handle_data(self, data: str) -> None:
        if self._summary:
            self.summaries[-1] += data
        for pattern in (DID, HEX_HASH, B64_HASH):
            for found in pattern.findall(data):
                (self.inside if self.folded else self.outside).append(found)


class TestArchiveTechnicalInformation:
    def test_hashes_and_dids_sit_behind_the_toggle(self, scene: Scene) -> None:
        posted = scene.post(training("DOC-A1"))
        _issue(scene, posted["recognition"]["lot_id"])
        page = scene.client.get("/archive").text
        folding = _Folding()
        folding.feed(page)
        assert folding.outside == []
        leaf = scene.client.get(
            f"/api/v1/learners/{scene.learner_id}/archive", headers=scene_learner(scene)
        ).json()["outcomes"][0]["ledger"]["leaf_hash"]
        assert leaf in folding.inside
        assert any(found.startswith("did:web:") for found in folding.inside)
        assert len(folding.inside) >= 3  # rule-set hash, leaf hash, the issuer's DID
        assert folding.summaries and all(s.startswith("技术信息") for s in folding.summaries)
        # closed by default
        assert '<details class="tech" open' not in page
