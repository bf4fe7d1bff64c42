"""The message catalogues: every id the code and the templates use is translated in ``zh_CN`` and ``en``.

The ids are extracted as ``pybabel extract -F babel.cfg`` extracts them (Babel's Python and Jinja2
extractors, with the keywords of ``babel.cfg``), so a message added to the code without its texts,
or a ``.pot`` left behind the code, fails here.
"""

import re
import string
import subprocess
import sys
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po

from creditbank.i18n import LANGS, LOCALE_DIR, LOCALES, Lang, Translator, catalogue, po_path, read_catalogue
from creditbank.outcomes import reasons

ROOT = Path(__file__).resolve().parents[2]
POT = LOCALE_DIR / "messages.pot"


def extract(root: Path = ROOT) -> dict[str, list[str]]:
    """Every message id ``pybabel extract -F babel.cfg`` finds under ``root``, with where."""
    with (ROOT / "babel.cfg").open() as handle:
        method_map, options_map = parse_mapping_cfg(handle)  # type: ignore[no-untyped-call]

    def in_package(path: str) -> bool:  # babel.cfg names files under creditbank/ only
        relative = Path(path).relative_to(root)
        return relative.parts[0] == "creditbank" and not relative.name.startswith((".", "_"))

    found: dict[str, list[str]] = {}
    for filename, lineno, message, _comments, _context in extract_from_dir(
        str(root), method_map, options_map, keywords=DEFAULT_KEYWORDS, directory_filter=in_package
    ):
        assert isinstance(message, str), (filename, lineno, message)
        found.setdefault(message, []).append(f"{filename}:{lineno}")
    return found


def ids(catalog: Catalog) -> set[str]:
    return {m.id for m in catalog if isinstance(m.id, str) and m.id}


def placeholders(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


@pytest.fixture(scope="module")
def used() -> dict[str, list[str]]:
    return extract()


@pytest.fixture(scope="module")
def template() -> Catalog:
    with POT.open("rb") as handle:
        return read_po(handle)


class TestExtraction:
    def test_finds_the_pages_python_and_coded_ids(self, used: dict[str, list[str]]) -> None:
        assert len(used) > 400
        assert "nav.archive" in used  # base.html, a template
        assert "pdf.transcript_title" in used  # sheets.py, Python
        assert "type.mooc" in used  # built at run time, marked in creditbank/i18n/coded.py

    def test_a_new_message_in_a_template_is_found(self, tmp_path: Path) -> None:
        templates = tmp_path / "creditbank" / "web" / "templates"
        templates.mkdir(parents=True)
        (templates / "new.html").write_text('<p>{{ t("new.message", n=1) }} {{ t.label("type", x) }}</p>')
        (tmp_path / "creditbank" / "new.py").write_text('def f(t):\n    return t("new.python")\n')
        assert set(extract(tmp_path)) == {"new.message", "new.python"}

    def test_no_message_is_called_through_another_name(self) -> None:
        """``translator(request)("id")`` hides the id from extraction: messages are called ``t("id")``."""
        hidden = [
            f"{path.relative_to(ROOT)}: {found}"
            for path in (ROOT / "creditbank").rglob("*.py")
            for found in re.findall(
                r"""\)\(\s*["'][a-z_]+\.[a-z_.-]+["']""", path.read_text(encoding="utf-8")
            )
        ]
        assert hidden == []


class TestTemplateIsCurrent:
    def test_every_id_the_code_uses_is_in_the_pot(
        self, used: dict[str, list[str]], template: Catalog
    ) -> None:
        missing = {k: v for k, v in used.items() if k not in ids(template)}
        assert missing == {}, "run `make messages` and translate the new ids in both .po files"

    def test_the_pot_holds_no_id_the_code_no_longer_uses(
        self, used: dict[str, list[str]], template: Catalog
    ) -> None:
        assert sorted(ids(template) - set(used)) == [], "run `make messages` (the .pot is stale)"


class TestCatalogues:
    @pytest.mark.parametrize("lang", LANGS)
    def test_translates_every_id_of_the_template(self, lang: Lang, template: Catalog) -> None:
        catalog = read_catalogue(lang)
        assert str(catalog.locale).startswith(LOCALES[lang].split("_")[0])
        messages = {m.id: m for m in catalog if m.id}
        assert sorted(ids(template) - set(messages)) == [], f"{po_path(lang)}: run `make messages`"
        assert sorted(set(messages) - ids(template)) == [], f"{po_path(lang)}: ids the template lacks"
        untranslated = sorted(str(k) for k, m in messages.items() if not str(m.string).strip())
        assert untranslated == [], f"{po_path(lang)}: empty translations"
        fuzzy = sorted(str(k) for k, m in messages.items() if m.fuzzy)
        assert fuzzy == [], f"{po_path(lang)}: fuzzy (unchecked) translations"

    def test_placeholders_agree_between_languages(self) -> None:
        zh = {m.id: str(m.string) for m in read_catalogue("zh") if m.id}
        en = {m.id: str(m.string) for m in read_catalogue("en") if m.id}
        differ = {
            k: (zh[k], en[k]) for k in zh.keys() & en.keys() if placeholders(zh[k]) != placeholders(en[k])
        }
        assert differ == {}

    def test_the_chinese_catalogue_is_chinese(self) -> None:
        zh = catalogue("zh")
        assert Translator("zh")("nav.archive") == "我的档案"
        assert Translator("en")("nav.archive") == "My archive"
        assert len(zh.ids) == len(catalogue("en").ids) > 400


class TestStandardTools:
    """The catalogues as translators' tools see them: ``pybabel compile``, ``pybabel update --check``."""

    @pytest.mark.parametrize("lang", LANGS)
    def test_pybabel_compiles_each_catalogue(self, lang: Lang, tmp_path: Path) -> None:
        out = tmp_path / "messages.mo"
        result = subprocess.run(
            [
                _pybabel(),
                "compile",
                "-i",
                str(po_path(lang)),
                "-o",
                str(out),
                "-l",
                LOCALES[lang],
                "--statistics",
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        assert result.returncode == 0, result.stderr
        assert "100%" in result.stderr
        assert out.stat().st_size > 10_000

    def test_pybabel_update_would_change_nothing(self) -> None:
        result = subprocess.run(
            [
                _pybabel(),
                "update",
                "--check",
                "--no-wrap",
                "--no-fuzzy-matching",
                "--ignore-obsolete",
                "--ignore-pot-creation-date",
                "-i",
                str(POT),
                "-d",
                str(LOCALE_DIR),
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        assert result.returncode == 0, result.stdout + result.stderr


def _pybabel() -> str:
    """The ``pybabel`` command installed with Babel, beside this Python."""
    return str(Path(sys.executable).parent / "pybabel")


class TestUploadReasons:
    """The reasons an upload report gives for a row are the catalogues' texts, in both languages."""

    def test_a_field_error_and_a_refusal_read_from_the_catalogues(self) -> None:
        zh = {m.id: str(m.string) for m in read_catalogue("zh") if m.id}
        en = {m.id: str(m.string) for m in read_catalogue("en") if m.id}
        missing = reasons.validation_reason({"type": "missing", "loc": ["hours"], "msg": "Field required"})
        assert missing == (
            f"学时（hours）：{zh['row.invalid.missing']}",
            f"hours: {en['row.invalid.missing']}",
        )
        refused = reasons.error_reason(
            {"type": "https://creditbank.example/problems/learner-not-found", "detail": "lrn_x"}
        )
        assert refused == (
            f"{zh['row.refused.learner-not-found']}（lrn_x）",
            f"{en['row.refused.learner-not-found']} (lrn_x)",
        )
