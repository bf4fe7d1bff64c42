"""Typer's own words (``Usage:``, ``Options``, ``Show this message and exit.``, ``Missing option``, ``No such
command``, ``Error``, ``Try … for help``, the completion options) in the command line's language.

The command is run as a person runs it, in a new process (its help and Typer's words are decided at import).
The installed Typer's sources are read too: a word Typer shows that our catalogue lacks fails here, so an
upgrade of Typer (or of its vendored Click) that adds or rewords one is caught.
"""

import ast
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import typer

from creditbank.cli_words import CLICK_MESSAGES, CLICK_WORDS, RICH_CONSTANTS, TYPER_GETTEXT, USAGE, say
from creditbank.i18n import Translator

CHINESE = {"CREDITBANK_LANG": None, "LC_ALL": None, "LC_MESSAGES": None, "LANG": "zh_CN.UTF-8"}
CHINESE_BY_OUR_VARIABLE = {"CREDITBANK_LANG": "zh_CN", "LC_ALL": None, "LC_MESSAGES": None, "LANG": "C.UTF-8"}
ENGLISH = {"CREDITBANK_LANG": None, "LC_ALL": None, "LC_MESSAGES": None, "LANG": "en_US.UTF-8"}
TYPER = Path(typer.__file__).resolve().parent

ENGLISH_WORDS = ("Usage:", "Options", "Commands", "Show this message and exit.", "Error", "Try '", "for help")
CJK = re.compile(r"[\u4e00-\u9fff]")


def run(environ: dict[str, str | None], *args: str) -> subprocess.CompletedProcess[str]:
    """``creditbank ARGS`` in a new process with ``environ`` (None removes a variable)."""
    env = {k: v for k, v in os.environ.items() if k not in environ}
    env.update({k: v for k, v in environ.items() if v is not None})
    env["COLUMNS"] = "200"  # no wrapping inside the phrases looked for
    return subprocess.run(
        [str(Path(sys.executable).parent / "creditbank"), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


class TestChinese:
    @pytest.mark.parametrize("environ", [CHINESE, CHINESE_BY_OUR_VARIABLE], ids=["LANG", "CREDITBANK_LANG"])
    def test_the_top_level_help(self, environ: dict[str, str | None]) -> None:
        result = run(environ, "--help")
        assert result.returncode == 0, result.stderr
        text = result.stdout
        assert "用法：creditbank [OPTIONS] COMMAND [ARGS]..." in text
        assert "─ 选项 ─" in text and "─ 命令 ─" in text
        assert "显示本帮助并退出。" in text
        assert "为当前 shell 安装命令补全。" in text and "显示当前 shell 的命令补全脚本" in text
        assert [word for word in (*ENGLISH_WORDS, "Install completion") if word in text] == []

    def test_a_subcommands_help(self) -> None:
        result = run(CHINESE, "audit", "database", "--help")
        assert result.returncode == 0, result.stderr
        text = result.stdout
        assert "用法：creditbank audit database [OPTIONS]" in text
        assert "最多列出的差异数 [默认：1000]" in text and "显示本帮助并退出。" in text
        assert [word for word in (*ENGLISH_WORDS, "default:") if word in text] == []

    def test_a_missing_required_option(self) -> None:
        result = run(CHINESE, "tokens", "create")
        assert result.returncode == 2
        text = result.stderr
        assert "用法：creditbank tokens create [OPTIONS]" in text
        assert "运行 'creditbank tokens create --help' 查看帮助。" in text
        assert "─ 错误 ─" in text and "缺少选项 '--role'。可选值：" in text
        assert [word for word in (*ENGLISH_WORDS, "Missing", "Choose from") if word in text] == []

    def test_an_unknown_command_and_a_near_miss(self) -> None:
        unknown = run(CHINESE, "nosuch")
        assert unknown.returncode == 2
        assert (
            "没有命令 'nosuch'。" in unknown.stderr
            and "运行 'creditbank --help' 查看帮助。" in unknown.stderr
        )
        near = run(CHINESE, "audit", "databse")
        assert near.returncode == 2
        assert "没有命令 'databse'。是否要用 'database'？" in near.stderr
        for text in (unknown.stderr, near.stderr):
            assert [
                word for word in (*ENGLISH_WORDS, "No such command", "Did you mean") if word in text
            ] == []

    def test_a_value_of_the_wrong_type(self) -> None:
        result = run(CHINESE, "audit", "database", "--max-differences", "0", "--bogus")
        assert result.returncode == 2
        assert "没有此选项：--bogus" in result.stderr and "No such option" not in result.stderr
        result = run(CHINESE, "audit", "database", "--max-differences", "x")
        assert result.returncode == 2
        assert "'--max-differences' 的值无效：应为整数" in result.stderr
        assert "Invalid value" not in result.stderr and "Input should" not in result.stderr


class TestEnglish:
    def test_help_and_errors_are_typers_own_words(self) -> None:
        helped = run(ENGLISH, "audit", "database", "--help")
        assert helped.returncode == 0, helped.stderr
        assert "Usage: creditbank audit database [OPTIONS]" in helped.stdout
        assert "─ Options ─" in helped.stdout and "Show this message and exit." in helped.stdout
        assert "differences listed at most [default: 1000]" in helped.stdout
        assert not CJK.search(helped.stdout)
        missing = run(ENGLISH, "tokens", "create")
        assert missing.returncode == 2
        assert "Try 'creditbank tokens create --help' for help." in missing.stderr
        assert "─ Error ─" in missing.stderr and "Missing option '--role'. Choose from:" in missing.stderr
        assert not CJK.search(missing.stderr)


class TestSaying:
    """:func:`creditbank.cli_words.say` reads a message back from its template and says its values in turn."""

    def test_a_nested_message_is_said_whole(self) -> None:
        zh = Translator("zh")
        said = say("Invalid value for 'secret': Value error, 'x' is not one of 'a', 'b'.", zh)
        assert said == "'secret' 的值无效：'x' 不是可选值之一：'a', 'b'。"
        assert say("Missing argument 'certificate'.", zh) == "缺少参数 'certificate'。"
        assert say("Option '--n' requires 2 arguments.", zh) == "选项 '--n' 需要 2 个值。"

    def test_english_is_the_same_text(self) -> None:
        en = Translator("en")
        for text in (
            "Missing option '--role'. Choose from:\n\tadmin,\n\tlearner",
            "No such option: --x (Possible options: --xy)",
        ):
            assert say(text, en) == text

    def test_a_text_no_template_reads_is_left_as_written(self) -> None:
        assert say("something else entirely", Translator("zh")) == "something else entirely"
        assert say("'secret'", Translator("zh")) == "'secret'"


# The installed Typer's sources --------------------------------------------------------------------

NOT_SHOWN = (
    # raised while the commands are declared (a programmer's mistake), never shown to a person using them
    "Invalid start character for option",
    "unknown action",
    "Boolean option",
    "Expected one list item type",
    "Invalid autocompletion callback parameters",
    "Too many CLI parameter callback function parameters",
    # a value already checked by Typer before (None, a tuple), and the operating system's own words
    "None is not a valid string",
    "value is not a valid tuple",
    "'{…}': {…}",
    # said of a command declared deprecated: none of ours is
    "DeprecationWarning: The command",
)
ERRORS = {
    "UsageError",
    "BadParameter",
    "BadOptionUsage",
    "BadArgumentUsage",
    "NoSuchOption",
    "MissingParameter",
    "FileError",
    "ClickException",
    "ValueError",
}
SAYING_MODULES = (
    "_click/exceptions.py",
    "_click/parser.py",
    "_click/core.py",
    "core.py",
    "_param_types.py",
    "_coercion.py",
    "_adapters.py",
    "main.py",
)


def tree(module: str) -> ast.Module:
    return ast.parse((TYPER / module).read_text(encoding="utf-8"))


def shape(node: ast.Constant | ast.JoinedStr) -> str:
    """A string as written in the source, each f-string expression as ``{…}``."""
    if isinstance(node, ast.Constant):
        return str(node.value)
    return "".join(str(v.value) if isinstance(v, ast.Constant) else "{…}" for v in node.values)


def gettext_ids(module: str) -> Iterator[str]:
    """Typer's ``_("…")`` msgids in ``module``."""
    for node in ast.walk(tree(module)):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "_":
            (argument,) = node.args
            assert isinstance(argument, ast.Constant) and isinstance(argument.value, str)
            yield argument.value


def error_texts(module: str) -> Iterator[str]:
    """The messages ``module`` raises or fails with, or an error's ``format_message`` returns."""
    for node in ast.walk(tree(module)):
        said: list[ast.expr] = []
        if isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call):
            call = node.exc
            name = call.func.id if isinstance(call.func, ast.Name) else getattr(call.func, "attr", "")
            if name in ERRORS and call.args:
                said.append(call.args[1] if name == "BadOptionUsage" and len(call.args) > 1 else call.args[0])
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "fail":
            said += node.args[:1]
        elif isinstance(node, ast.FunctionDef) and node.name == "format_message":
            said += [r.value for r in ast.walk(node) if isinstance(r, ast.Return) and r.value is not None]
        elif isinstance(node, ast.Assign) and [name_of(t) for t in node.targets] in (["message"], ["msg"]):
            said.append(node.value)  # a message built before it is raised (NoSuchOption, "Did you mean")
        yield from (shape(text) for text in said if isinstance(text, ast.Constant | ast.JoinedStr))


def name_of(target: ast.expr) -> str:
    """``message`` for ``message = …`` and ``e.message = …``."""
    return target.id if isinstance(target, ast.Name) else getattr(target, "attr", "")


def template_reads(template: str, written: str) -> bool:
    """Whether ``template`` (ours, fields ``{name}``) is the source's string ``written`` (``{…}``)."""
    pattern = "".join(
        ".*" if part == "{…}" else re.escape(part) for part in re.split(r"(\{…\})", written) if part
    )
    return re.fullmatch(pattern, template, re.DOTALL) is not None


class TestTyperSources:
    def test_every_word_typer_says_through_gettext_is_ours(self) -> None:
        ids = {*gettext_ids("core.py"), *gettext_ids("rich_utils.py")}
        assert len(ids) >= 15
        assert sorted(ids - {*TYPER_GETTEXT, *RICH_CONSTANTS.values()}) == []
        for lang in ("zh", "en"):
            assert [i for i in ids if not Translator(lang).has(i)] == []

    def test_every_constant_rich_utils_says_is_set(self) -> None:
        constants = {
            target.id: node.value.args[0].value
            for node in ast.walk(tree("rich_utils.py"))
            if isinstance(node, ast.Assign)
            and isinstance(node.value, ast.Call)
            and getattr(node.value.func, "id", "") == "_"
            for target in node.targets
            if isinstance(target, ast.Name) and isinstance(node.value.args[0], ast.Constant)
        }
        assert constants == dict(RICH_CONSTANTS)

    def test_every_help_typer_gives_its_own_options_is_ours(self) -> None:
        helps = {
            keyword.value.value
            for module in ("_click/decorators.py", "completion.py")
            for node in ast.walk(tree(module))
            if isinstance(node, ast.Call)
            for keyword in node.keywords
            if keyword.arg == "help"
            and isinstance(keyword.value, ast.Constant)
            and isinstance(keyword.value.value, str)
        }
        assert len(helps) == 5
        assert sorted(helps - set(CLICK_WORDS)) == []
        assert f'prefix = "{USAGE}"' in (TYPER / "_click" / "formatting.py").read_text(encoding="utf-8")

    def test_every_message_typer_shows_is_read_by_a_template(self) -> None:
        written = {text for module in SAYING_MODULES for text in error_texts(module)}
        assert len(written) > 20
        shown = {w for w in written if not w.startswith(NOT_SHOWN) and re.search(r"[A-Za-z]{3}", w)}
        unread = sorted(w for w in shown if not any(template_reads(t, w) for t in CLICK_MESSAGES))
        assert unread == [], "add each to CLICK_MESSAGES in creditbank/cli_words.py and translate it"

    def test_every_template_still_has_its_words_in_typer(self) -> None:
        """A template whose words Typer no longer writes would never match: Typer reworded a message."""
        source = "".join(path.read_text(encoding="utf-8") for path in TYPER.rglob("*.py"))

        def in_source(text: str) -> bool:  # a newline or a tab is written escaped there
            return text in source or text.encode("unicode_escape").decode() in source

        def written(
            part: str,
        ) -> bool:  # in one string, or in two joined at a space ("requires " "an argument.")
            cuts = [i for i, c in enumerate(part) if c == " "]
            return in_source(part) or any(in_source(part[: i + 1]) and in_source(part[i + 1 :]) for i in cuts)

        ours = [t for t in CLICK_MESSAGES if not t.startswith(("Input should", "Value error"))]  # pydantic's
        stale = [
            (template, part)
            for template in ours
            for part in re.split(r"\{\w*(?:![rsa])?\}", template)
            if len(part.strip(" .")) >= 3 and not written(part.strip(" "))
        ]
        assert stale == []
        words = (*TYPER_GETTEXT, *RICH_CONSTANTS.values(), *CLICK_WORDS[:6])
        assert [word for word in words if not in_source(f'"{word}"')] == []
