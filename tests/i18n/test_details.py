"""Problem ``detail`` texts come from the catalogues and are said in the reader's language.

Raised as ``msg("detail.<what>", name=value)`` deep in a service, rendered when the problem is
answered: Chinese by default, English with ``Accept-Language: en`` (or ``?lang=en``, the
``cb_lang`` cookie), through real HTTP; the command line's error line in its environment's
language. Scans of the sources, with no exemption list, keep text written in place from coming
back: an English sentence at a raise site, a command printing a literal sentence
(``typer.echo("…")``, ``print(f"… {x}")``), and page text or a readable attribute in a template
outside ``t()``. Each scan is shown to catch a planted example.
"""

import ast
import importlib
import pkgutil
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

import creditbank
from creditbank.auth.models import Role
from creditbank.cli_common import error_line
from creditbank.errors import CreditBankError, Forbidden, NotFound
from creditbank.i18n import Message, catalogue, msg
from creditbank.standards.vc.errors import ResolutionFailed
from creditbank.web.rendering import ENV, TEMPLATES_DIR
from tests.conftest import Tokens

PACKAGE = Path(creditbank.__file__).resolve().parent


def error_names() -> set[str]:
    for module in pkgutil.walk_packages(creditbank.__path__, "creditbank."):
        importlib.import_module(module.name)
    names: set[str] = set()
    todo: list[type[CreditBankError]] = [CreditBankError]
    while todo:
        cls = todo.pop()
        names.add(cls.__name__)
        todo.extend(cls.__subclasses__())
    return names


def is_sentence(node: ast.expr) -> bool:
    """A literal text, an f-string or a sum of them: English written at the raise site."""
    if isinstance(node, ast.Constant):
        return isinstance(node.value, str)
    if isinstance(node, ast.JoinedStr):
        return True
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        return is_sentence(node.left) or is_sentence(node.right)
    return False


def english_raises(package: Path, names: set[str]) -> dict[str, list[int]]:
    """Per module, the lines that make a domain error with a literal sentence as its detail: raised
    there, or kept to be raised later (a batch row's error is made in one place and raised in another)."""
    found: dict[str, list[int]] = {}
    for path in sorted(package.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Call):
                continue
            func = node.func
            name = (
                func.id
                if isinstance(func, ast.Name)
                else func.attr
                if isinstance(func, ast.Attribute)
                else ""
            )
            details = [*node.args[:1], *(k.value for k in node.keywords if k.arg == "detail")]
            if name in names and any(is_sentence(d) for d in details):
                found.setdefault(path.relative_to(package).as_posix(), []).append(node.lineno)
    return found


class TestNoEnglishAtRaiseSites:
    def test_the_scan_sees_a_sentence_and_passes_a_message(self, tmp_path: Path) -> None:
        (tmp_path / "bad.py").write_text(
            'def f(x):\n    raise NotFound(f"no learner {x}")\n\n'
            'def g(x):\n    raise Forbidden("only " + x)\n\n'
            'def h(x):\n    raise NotFound(detail="gone")\n\n'
            'def k(x):\n    return Row(error=Conflict(f"{x} was posted before"))\n'
        )
        (tmp_path / "good.py").write_text(
            'def f(x):\n    raise NotFound(msg("detail.learners.no_learner", learner_id=x))\n\n'
            'def g():\n    raise ValueError("not a domain error")\n'
        )
        assert english_raises(tmp_path, {"NotFound", "Forbidden", "Conflict"}) == {"bad.py": [2, 5, 8, 11]}

    def test_every_domain_error_raised_with_a_detail_says_it_through_the_catalogue(self) -> None:
        """Every module, with no exemption: a raise site names a catalogue message."""
        found = english_raises(PACKAGE, error_names())
        assert found == {}, "raise with msg('detail.<area>.<what>', name=value): docs/translating.md"


WORDS = re.compile(r"[A-Za-z]{2,}|[\u4e00-\u9fff]")
"""Text a person reads: a word of two letters or more, or a Chinese character."""
PAGE_WORDS = re.compile(r"\b(?=[A-Z]*[a-z\u4e00-\u9fff])[A-Za-z]{2,}\b|[\u4e00-\u9fff]")
"""Page text a person reads; names written in capitals (``SHA-256``, ``CSV``, ``JSON``) are the same in
every language."""
ATTRIBUTE = re.compile(r'[\w-]+="[^"]*"')
"""An attribute a macro writes into the tag that calls it (``aria-invalid="true"``), not text."""
PRINTERS = {"echo", "secho", "print"}


def _literal_text(node: ast.expr) -> str:
    """The text written in place in an expression: literals, f-string parts, ``"…".format()``."""
    if isinstance(node, ast.Constant):
        return node.value if isinstance(node.value, str) else ""
    if isinstance(node, ast.JoinedStr):
        return " ".join(_literal_text(v) for v in node.values if isinstance(v, ast.Constant))
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add | ast.Mod):
        return _literal_text(node.left) + " " + _literal_text(node.right)
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "format":
        return _literal_text(node.func.value)
    return ""


def printed_literals(package: Path) -> dict[str, list[int]]:
    """Per module, the lines that print (``typer.echo``, ``echo``, ``secho``, ``print``) text written
    in place rather than a catalogue message (a date format such as ``%Y-%m-%d`` is not text)."""
    found: dict[str, list[int]] = {}
    for path in sorted(package.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not (isinstance(node, ast.Call) and node.args):
                continue
            func = node.func
            name = (
                func.id
                if isinstance(func, ast.Name)
                else func.attr
                if isinstance(func, ast.Attribute)
                else ""
            )
            text = re.sub(r"%[A-Za-z]", "", _literal_text(node.args[0]))
            if name in PRINTERS and WORDS.search(text):
                found.setdefault(path.relative_to(package).as_posix(), []).append(node.lineno)
    return found


def written_help(package: Path) -> dict[str, list[int]]:
    """Per module, the lines whose command-line help is text written in place: a ``help=`` argument
    (``typer.Option``, ``typer.Typer``, ``app.command``) with a literal, or a command whose help Typer
    would take from its docstring (decorated with ``….command(…)`` without ``help=``)."""
    found: dict[str, list[int]] = {}
    for path in sorted(package.rglob("*.py")):
        lines: list[int] = []
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call):
                lines += [k.value.lineno for k in node.keywords if k.arg == "help" and _literal_text(k.value)]
            if isinstance(node, ast.FunctionDef) and ast.get_docstring(node):
                for decorator in node.decorator_list:
                    if (
                        isinstance(decorator, ast.Call)
                        and isinstance(decorator.func, ast.Attribute)
                        and decorator.func.attr == "command"
                        and not any(k.arg == "help" for k in decorator.keywords)
                    ):
                        lines.append(decorator.lineno)
        if lines:
            found[path.relative_to(package).as_posix()] = sorted(lines)
    return found


READABLE_ATTRIBUTES = {"title", "alt", "placeholder", "aria-label", "aria-description"}
"""Attributes a person reads (or hears from a screen reader); a submit button's ``value`` too."""
NOT_PROSE = {"code", "pre", "kbd", "samp", "script", "style"}
"""Elements whose text is a command, code or data, not prose to translate."""


class _PageText(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[str] = []
        self.inside: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in NOT_PROSE:
            self.inside.append(tag)
        given = dict(attrs)
        readable = set(READABLE_ATTRIBUTES)
        if tag == "input" and given.get("type") in ("submit", "button", "reset"):
            readable.add("value")
        self.found += [f"{k}={v!r}" for k, v in attrs if k in readable and v and PAGE_WORDS.search(v)]

    def handle_endtag(self, tag: str) -> None:
        if self.inside and self.inside[-1] == tag:
            self.inside.pop()

    def handle_data(self, data: str) -> None:
        if not self.inside and PAGE_WORDS.search(ATTRIBUTE.sub(" ", data)):
            self.found.append(data.strip())


def template_literals(templates: Path) -> dict[str, list[str]]:
    """Per template, the text and readable attributes written in place rather than through ``t()``:
    every Jinja construct (``{{ t("id") }}``, ``{% if %}``) is set aside, and what remains is read as
    HTML."""
    found: dict[str, list[str]] = {}
    for path in sorted(templates.rglob("*.html")):
        source = path.read_text(encoding="utf-8")
        html = "".join(value if kind == "data" else " " for _, kind, value in ENV.lex(source))
        parser = _PageText()
        parser.feed(html)
        parser.close()
        if parser.found:
            found[path.relative_to(templates).as_posix()] = parser.found
    return found


class TestNoTextWrittenInPlace:
    """Command output and page text come from the catalogues, in every module and template."""

    def test_the_command_line_scan_sees_a_printed_sentence_and_passes_a_message(self, tmp_path: Path) -> None:
        (tmp_path / "bad.py").write_text(
            'import typer\n\ndef f(n):\n    typer.echo(f"{n} rows imported")\n\n'
            'def g():\n    print("done")\n\n'
            'def h(n):\n    echo("已导入 {n} 行".format(n=n), err=True)\n'
        )
        (tmp_path / "good.py").write_text(
            'import typer\n\ndef f(t, n):\n    typer.echo(t("cli.imported", count=n))\n\n'
            'def g(row):\n    typer.echo(f"{row.id}\\t{row.at:%Y-%m-%d}")\n\n'
            "def h(report):\n    typer.echo(json.dumps(report))\n"
        )
        assert printed_literals(tmp_path) == {"bad.py": [4, 7, 10]}

    def test_no_command_prints_text_written_in_place(self) -> None:
        assert printed_literals(PACKAGE) == {}, (
            "print t('cli.<what>', ...) or echo(msg(...)): docs/translating.md"
        )

    def test_the_help_scan_sees_help_written_in_place_and_passes_a_catalogue_id(self, tmp_path: Path) -> None:
        (tmp_path / "bad.py").write_text(
            'import typer\n\napp = typer.Typer(help="database schema")\n\n'
            'def f(url: str = typer.Option(None, help=f"the {NAME} URL")) -> None:\n    pass\n\n'
            '@app.command("current")\ndef g() -> None:\n    """Print the revision."""\n'
        )
        (tmp_path / "good.py").write_text(
            'import typer\n\napp = typer.Typer(help=cli_help("help.main.db_app"))\n\n'
            'def f(url: str = typer.Option(None, help=cli_help("help.main.url"))) -> None:\n    pass\n\n'
            '@app.command("current", help=cli_help("help.main.db_current"))\ndef g() -> None:\n'
            '    """Print the revision."""\n\n'
            '@app.command("plain")\ndef h() -> None:\n    pass\n'
        )
        assert written_help(tmp_path) == {"bad.py": [3, 5, 8]}

    def test_no_command_help_is_written_in_place(self) -> None:
        assert written_help(PACKAGE) == {}, "help=cli_help('help.<area>.<what>'): docs/translating.md"

    def test_the_template_scan_sees_text_outside_t_and_passes_t(self, tmp_path: Path) -> None:
        (tmp_path / "bad.html").write_text(
            '<h1>{{ t("nav.archive") }}</h1>\n<p>Your credits</p>\n'
            '<input type="text" placeholder="居民身份证">\n<a href="/" title="Home">⌂</a>\n'
            '<input type="submit" value="Send">\n'
        )
        (tmp_path / "good.html").write_text(
            '<p>{{ t("nav.archive") }}: {{ credits }}</p>\n<input type="hidden" name="kind" value="page">\n'
            "<pre><code>creditbank audit verify --url {{ base_url }}</code></pre>\n"
            '<meta name="viewport" content="width=device-width">{% if x %} aria-invalid="true"{% endif %}\n'
            '<th title="SHA-256">SHA-256</th><td>CSV · XLSX</td>\n'
        )
        assert template_literals(tmp_path) == {
            "bad.html": ["Your credits", "placeholder='居民身份证'", "title='Home'", "value='Send'"]
        }

    def test_no_template_writes_text_outside_t(self) -> None:
        assert template_literals(TEMPLATES_DIR) == {}, "put page text through t('id') and both catalogues"


class TestMessages:
    def test_a_message_is_rendered_in_each_language(self) -> None:
        said = msg("detail.learners.no_learner", learner_id="lrn_x")
        assert said.text("zh") == "学习者 lrn_x 不存在"
        assert said.text("en") == str(said) == "no learner lrn_x"

    def test_a_nested_reason_is_said_in_the_same_language(self) -> None:
        inner = NotFound(msg("detail.credentials.keys.no_signing_key", key_id="k1"))
        outer = ResolutionFailed(
            msg("detail.credentials.local_resolver.did_unresolvable", did="did:web:x", reason=inner.said)
        )
        assert outer.detail_in("zh") == "did:web:x：签名密钥 'k1' 不存在"
        assert outer.detail_in("en") == outer.detail == "did:web:x: no signing key 'k1'"

    def test_every_detail_id_is_in_both_catalogues(self) -> None:
        zh, en = catalogue("zh").ids, catalogue("en").ids
        details = {i for i in zh | en if i.startswith("detail.")}
        assert len(details) > 300
        assert details <= zh & en

    def test_every_message_the_code_names_is_in_both_catalogues(self) -> None:
        """Read with ``ast``, not Babel: a ``msg("id")`` nested in another call, which the
        extractor skips, is still checked."""
        named = {
            (path.relative_to(PACKAGE).as_posix(), node.args[0].value)
            for path in PACKAGE.rglob("*.py")
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
            if isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id == "msg"
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        }
        assert len(named) > 300
        zh, en = catalogue("zh").ids, catalogue("en").ids
        assert sorted((where, i) for where, i in named if i not in zh or i not in en) == []

    def test_a_plain_detail_and_a_default_detail_still_work(self) -> None:
        assert Forbidden("as written").detail_in("zh") == "as written"
        assert NotFound().detail_in("zh") == "未找到"
        assert NotFound().detail_in("en") == "Not found"
        assert isinstance(NotFound(msg("detail.catalog.no_programme", programme_id="p")).message, Message)


class TestOverHttp:
    def test_an_unknown_learner_is_said_in_chinese_then_english(
        self, client: TestClient, auth: Tokens
    ) -> None:
        admin = auth(Role.admin)
        zh = client.get("/api/v1/learners/lrn_nobody", headers=admin)
        en = client.get("/api/v1/learners/lrn_nobody", headers={**admin, "Accept-Language": "en-GB,en;q=0.9"})
        assert zh.status_code == en.status_code == 404
        assert zh.json()["detail"] == "学习者 lrn_nobody 不存在"
        assert en.json()["detail"] == "no learner lrn_nobody"
        assert zh.json()["type"] == en.json()["type"]

    def test_another_learners_record_is_refused_in_each_language(
        self, client: TestClient, auth: Tokens
    ) -> None:
        """A learner asking for someone else's record: the refusal says why, in the reader's language."""
        nosy = auth(Role.learner, "lrn_nosy")
        zh = client.get("/api/v1/learners/lrn_victim", headers=nosy)
        en = client.get("/api/v1/learners/lrn_victim", headers=nosy, params={"lang": "en"})
        assert zh.status_code == en.status_code == 403
        assert zh.json()["detail"] == "学习者只能查阅本人的记录"
        assert en.json()["detail"] == "a learner may read only their own record"

    def test_a_page_session_on_the_api_is_told_why_in_chinese(self, client: TestClient) -> None:
        r = client.get("/api/v1/learners/lrn_x", headers={"Authorization": "Bearer not-a-token"})
        assert r.status_code == 401
        assert r.json()["detail"] == "令牌不存在或已撤销"
        r = client.get(
            "/api/v1/learners/lrn_x", headers={"Authorization": "Bearer not-a-token", "Accept-Language": "en"}
        )
        assert r.json()["detail"] == "the token is unknown or revoked"

    def test_an_invalid_body_names_the_field_in_the_readers_language(
        self, client: TestClient, auth: Tokens
    ) -> None:
        """A 422's detail says the field and what is wrong from the error's type, not pydantic's English."""
        admin = auth(Role.admin)
        zh = client.post("/api/v1/learners", headers=admin, json={"name": 1})
        en = client.post("/api/v1/learners", headers={**admin, "Accept-Language": "en"}, json={"name": 1})
        assert zh.status_code == en.status_code == 422
        assert zh.json()["errors"] == en.json()["errors"]  # the machine-readable list is unchanged
        field = zh.json()["errors"][0]["loc"][-1]
        assert field in zh.json()["detail"] and "：" in zh.json()["detail"]
        assert en.json()["detail"].startswith(f"{field}: ")
        assert "Input should" not in zh.json()["detail"] + en.json()["detail"]
        assert "Field required" not in zh.json()["detail"] + en.json()["detail"]


class TestCommandLine:
    @pytest.mark.parametrize(
        ("lang", "line"),
        [
            ("zh", "错误（not-found）：未找到。学习者 lrn_x 不存在"),
            ("en", "error (not-found): Not found: no learner lrn_x"),
        ],
    )
    def test_the_error_line_says_the_detail_in_the_environments_language(
        self, monkeypatch: pytest.MonkeyPatch, lang: str, line: str
    ) -> None:
        monkeypatch.setenv("CREDITBANK_LANG", lang)
        assert error_line(NotFound(msg("detail.learners.no_learner", learner_id="lrn_x"))) == line
