"""Typer's own words (``Usage:``, ``Options``, ``Show this message and exit.``, ``Missing option``, ``No such
command``, ``Error``, ``Try … for help``, the usage line's ``[OPTIONS] COMMAND [ARGS]...``, the type column's
``<int>``, the completion options and what installing completion says) in the command line's language.

Typer's words and our help are decided when the command line is imported, from the environment's language, so
each language runs in a process of its own: one that imports the command line as ``creditbank`` does and
invokes it several times through Typer's ``CliRunner`` (one import for many outputs), and one that runs
``creditbank`` itself. The installed Typer's sources are read too: a word Typer shows that our catalogue lacks
fails here, so an upgrade of Typer (or of its vendored Click) that adds or rewords one is caught.
"""

import ast
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import typer
import typer.main
from typer._click.core import Context

from creditbank.cli_words import (
    _DISPLAY_TYPE,
    CLICK_MESSAGES,
    CLICK_WORDS,
    COMPLETION_LINES,
    PATH_LABELS,
    PLACEHOLDERS,
    PLAIN_LINES,
    RICH_CONSTANTS,
    TYPE_NAMES,
    TYPER_GETTEXT,
    USAGE,
    say,
    say_type,
)
from creditbank.i18n import Translator

CHINESE = {"CREDITBANK_LANG": None, "LC_ALL": None, "LC_MESSAGES": None, "LANG": "zh_CN.UTF-8"}
CHINESE_BY_OUR_VARIABLE = {"CREDITBANK_LANG": "zh_CN", "LC_ALL": None, "LC_MESSAGES": None, "LANG": "C.UTF-8"}
ENGLISH = {"CREDITBANK_LANG": None, "LC_ALL": None, "LC_MESSAGES": None, "LANG": "en_US.UTF-8"}
RICH = {"TYPER_USE_RICH": None}
PLAIN = {"TYPER_USE_RICH": "0"}
TYPER = Path(typer.__file__).resolve().parent
CREDITBANK = str(Path(sys.executable).parent / "creditbank")

ENGLISH_WORDS = (
    "Usage:",
    "Options",
    "Commands",
    "Show this message and exit.",
    "Error",
    "Try '",
    "for help",
    "[OPTIONS]",
    "COMMAND",
    "[ARGS]",
    "<str>",
    "<int",
    "<float>",
    "<bool>",
    "<path>",
    "<Path>",
    "list[",
    " range>",
    "Input should",
)
CJK = re.compile(r"[\u4e00-\u9fff]")

INVOCATIONS: dict[str, list[str]] = {
    "help": ["--help"],
    "database help": ["audit", "database", "--help"],
    "diff help": ["rules", "diff", "--help"],
    "missing": ["tokens", "create"],
    "unknown": ["nosuch"],
    "near miss": ["audit", "databse"],
    "no such option": ["audit", "database", "--max-differences", "0", "--bogus"],
    "not an integer": ["audit", "database", "--max-differences", "x"],
    "below the range": ["audit", "database", "--max-differences", "0"],
}
INVOKE = """
import json, sys
from typer.testing import CliRunner
from creditbank.cli import app
said = {}
for name, args in json.loads(sys.argv[1]).items():
    result = CliRunner().invoke(app, args, prog_name="creditbank")
    said[name] = {"code": result.exit_code, "stdout": result.stdout, "stderr": result.stderr}
print(json.dumps(said))
"""


def environment(*environs: Mapping[str, str | None], **more: str) -> dict[str, str]:
    """This process's environment with ``environs`` laid over it (None removes a variable)."""
    env = dict(os.environ)
    for environ in environs:
        for key, value in environ.items():
            env.pop(key, None)
            if value is not None:
                env[key] = value
    env["COLUMNS"] = "200"  # no wrapping inside the phrases looked for
    env.update(more)
    return env


def run(env: dict[str, str], *command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=300, check=False)


def invoked(*environs: Mapping[str, str | None]) -> dict[str, dict[str, Any]]:
    """Each of :data:`INVOCATIONS`, said by a new process with ``environs`` that imports the command line."""
    result = run(environment(*environs), sys.executable, "-c", INVOKE, json.dumps(INVOCATIONS))
    assert result.returncode == 0, result.stderr
    said: dict[str, dict[str, Any]] = json.loads(result.stdout)
    return said


def english_in(text: str, *more: str) -> list[str]:
    return [word for word in (*ENGLISH_WORDS, *more) if word in text]


@pytest.fixture(scope="module")
def chinese() -> dict[str, dict[str, Any]]:
    return invoked(CHINESE, RICH)


@pytest.fixture(scope="module")
def chinese_plain() -> dict[str, dict[str, Any]]:
    return invoked(CHINESE_BY_OUR_VARIABLE, PLAIN)


@pytest.fixture(scope="module")
def english() -> dict[str, dict[str, Any]]:
    return invoked(ENGLISH, RICH)


class TestChinese:
    def test_the_top_level_help(self, chinese: dict[str, dict[str, Any]]) -> None:
        said = chinese["help"]
        assert said["code"] == 0, said["stderr"]
        text = said["stdout"]
        assert "用法：creditbank [选项] 命令 [参数]..." in text
        assert "─ 选项 ─" in text and "─ 命令 ─" in text
        assert "显示本帮助并退出。" in text and "<开关>" in text
        assert "为当前 shell 安装命令补全。" in text and "显示当前 shell 的命令补全脚本" in text
        assert english_in(text, "Install completion") == []

    def test_a_subcommands_help_and_its_types(self, chinese: dict[str, dict[str, Any]]) -> None:
        said = chinese["database help"]
        assert said["code"] == 0, said["stderr"]
        text = said["stdout"]
        assert "用法：creditbank audit database [选项]" in text
        assert "<文本>" in text and "<整数，有范围> [x>=1]" in text
        assert "最多列出的差异数 [默认：1000]" in text and "显示本帮助并退出。" in text
        assert english_in(text, "default:") == []
        diff = chinese["diff help"]["stdout"]
        assert "用法：creditbank rules diff [选项] [old] [new]" in diff and "<路径>" in diff
        assert english_in(diff) == []

    def test_a_missing_required_option(self, chinese: dict[str, dict[str, Any]]) -> None:
        said = chinese["missing"]
        assert said["code"] == 2
        text = said["stderr"]
        assert "用法：creditbank tokens create [选项]" in text
        assert "运行 'creditbank tokens create --help' 查看帮助。" in text
        assert "─ 错误 ─" in text and "缺少选项 '--role'。可选值：" in text
        assert english_in(text, "Missing", "Choose from") == []

    def test_an_unknown_command_and_a_near_miss(self, chinese: dict[str, dict[str, Any]]) -> None:
        unknown, near = chinese["unknown"], chinese["near miss"]
        assert unknown["code"] == 2 and near["code"] == 2
        assert "没有命令 'nosuch'。" in unknown["stderr"]
        assert "运行 'creditbank --help' 查看帮助。" in unknown["stderr"]
        assert "没有命令 'databse'。是否要用 'database'？" in near["stderr"]
        for text in (unknown["stderr"], near["stderr"]):
            assert english_in(text, "No such command", "Did you mean") == []

    def test_a_value_of_the_wrong_type(self, chinese: dict[str, dict[str, Any]]) -> None:
        bogus, letters, zero = (
            chinese["no such option"],
            chinese["not an integer"],
            chinese["below the range"],
        )
        assert bogus["code"] == letters["code"] == zero["code"] == 2
        assert "没有此选项：--bogus" in bogus["stderr"]
        assert "'--max-differences' 的值无效：应为整数" in letters["stderr"]
        assert "'--max-differences' 的值无效：应大于或等于 1" in zero["stderr"]
        for text in (bogus["stderr"], letters["stderr"], zero["stderr"]):
            assert english_in(text, "No such option", "Invalid value") == []

    def test_without_rich(self, chinese_plain: dict[str, dict[str, Any]]) -> None:
        """``TYPER_USE_RICH=0``: Click's plain help and its ``Error:`` and ``Try … for help.`` lines."""
        helped = chinese_plain["help"]
        assert helped["code"] == 0, helped["stderr"]
        assert "用法：creditbank [选项] 命令 [参数]..." in helped["stdout"]
        assert "显示本帮助并退出。" in helped["stdout"] and "为当前 shell 安装命令补全。" in helped["stdout"]
        database = chinese_plain["database help"]["stdout"]
        assert "--max-differences <整数，有范围>" in database and "--url <文本>" in database
        missing = chinese_plain["missing"]["stderr"]
        assert "运行 'creditbank tokens create --help' 查看帮助。" in missing
        assert "错误：缺少选项 '--role'。可选值：" in missing
        letters = chinese_plain["not an integer"]["stderr"]
        assert "错误：'--max-differences' 的值无效：应为整数" in letters
        for name, said in chinese_plain.items():
            assert english_in(said["stdout"] + said["stderr"], "Install completion") == [], name

    def test_installing_completion(self, tmp_path: Path) -> None:
        """Run as a person runs it, from bash (the shell Typer detects), into a home of its own."""
        env = environment(CHINESE, HOME=str(tmp_path))
        result = run(env, "bash", "-c", '"$0" --install-completion; exit $?', CREDITBANK)
        assert result.returncode == 0, result.stderr
        assert f"bash 命令补全已安装到 {tmp_path}" in result.stdout
        assert "重新打开终端后命令补全生效" in result.stdout
        assert "completion installed" not in result.stdout and "take effect" not in result.stdout
        assert (tmp_path / ".bashrc").read_text(encoding="utf-8").count("creditbank") >= 1


class TestEnglish:
    def test_help_and_errors_are_typers_own_words(self, english: dict[str, dict[str, Any]]) -> None:
        helped = english["database help"]
        assert helped["code"] == 0, helped["stderr"]
        assert "Usage: creditbank audit database [OPTIONS]" in helped["stdout"]
        assert "─ Options ─" in helped["stdout"] and "Show this message and exit." in helped["stdout"]
        assert "<str>" in helped["stdout"] and "<int range> [x>=1]" in helped["stdout"]
        assert "differences listed at most [default: 1000]" in helped["stdout"]
        assert "Usage: creditbank [OPTIONS] COMMAND [ARGS]..." in english["help"]["stdout"]
        missing = english["missing"]
        assert missing["code"] == 2
        assert "Try 'creditbank tokens create --help' for help." in missing["stderr"]
        assert (
            "─ Error ─" in missing["stderr"] and "Missing option '--role'. Choose from:" in missing["stderr"]
        )
        assert "Input should be greater than or equal to 1" in english["below the range"]["stderr"]
        for name, said in english.items():  # the top-level help glosses terms in Chinese
            assert name in ("help", "diff help") or not CJK.search(said["stdout"] + said["stderr"]), name

    def test_the_command_itself_without_rich(self) -> None:
        result = run(environment(ENGLISH, PLAIN), CREDITBANK, "tokens", "create")
        assert result.returncode == 2
        assert "Try 'creditbank tokens create --help' for help." in result.stderr
        assert "Error: Missing option '--role'. Choose from:" in result.stderr
        assert not CJK.search(result.stderr)


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

    def test_a_type_is_said_whole_and_choices_as_typed(self) -> None:
        zh = Translator("zh")
        assert say_type("list[Path]", zh) == "路径，可多个"
        assert say_type("int range", zh) == "整数，有范围"
        assert say_type("admin|learner", zh) == "admin|learner"
        assert say_type("int range", Translator("en")) == "int range"

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

    def test_every_placeholder_of_the_usage_line_is_ours(self) -> None:
        placeholders = {
            node.value
            for module in ("core.py", "_click/core.py", "main.py")
            for node in ast.walk(tree(module))
            if isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and "[" in node.value
            and re.fullmatch(r"[\[\]A-Z. ]*[A-Z]{3,}[\[\]A-Z. ]*", node.value)
        }
        assert placeholders == set(PLACEHOLDERS)

    def test_every_type_label_typer_makes_is_ours(self) -> None:
        made = {
            shape(node.value)
            for function in ast.walk(tree("core.py"))
            if isinstance(function, ast.FunctionDef) and function.name in ("display_type", "_bare_type")
            for node in ast.walk(function)
            if isinstance(node, ast.Assign)
            and [name_of(target) for target in node.targets] in (["label"], ["display_type"])
            and isinstance(node.value, ast.Constant | ast.JoinedStr)
        }
        assert made == {"datetime", "{…} range", "list[{…}]"}
        assert [w for w in made if not any(template_reads(t, w) for t in TYPE_NAMES)] == []
        paths = {
            node.value.value
            for function in ast.walk(tree("_param_types.py"))
            if isinstance(function, ast.FunctionDef) and function.name == "path_type_name"
            for node in ast.walk(function)
            if isinstance(node, ast.Return) and isinstance(node.value, ast.Constant)
        }
        assert paths == set(PATH_LABELS)

    def test_every_type_our_commands_show_is_said(self) -> None:
        """The names Python gives the types (``str``, ``Path``) are ours to list: each our options use."""
        from creditbank.cli import app

        zh, shown = Translator("zh"), set()

        def walk(command: Any, ctx: Context) -> None:
            for param in command.get_params(ctx):
                shown.add(_DISPLAY_TYPE(param, ctx)[1:-1])
            for name, sub in getattr(command, "commands", {}).items():
                walk(sub, Context(sub, info_name=name, parent=ctx))

        root = typer.main.get_command(app)
        walk(root, Context(root, info_name="creditbank"))
        assert {"str", "bool", "int", "int range", "path"} <= shown
        assert sorted(label for label in shown if "|" not in label and say_type(label, zh) == label) == []

    def test_every_plain_line_and_completion_line_is_ours(self) -> None:
        plain = {
            shape(node).rstrip("\n")
            for function in ast.walk(tree("_click/exceptions.py"))
            if isinstance(function, ast.FunctionDef) and function.name == "show"
            for node in ast.walk(function)
            if isinstance(node, ast.JoinedStr) and re.search(r"[A-Za-z]{3}", shape(node))
        }
        assert plain == {"Error: {…}", "Try '{…} {…}' for help."}
        assert [w for w in plain if not any(template_reads(t, w) for t in PLAIN_LINES)] == []
        installing = {
            shape(node.args[0])
            for function in ast.walk(tree("completion.py"))
            if isinstance(function, ast.FunctionDef) and function.name == "install_callback"
            for node in ast.walk(function)
            if isinstance(node, ast.Call)
            and getattr(node.func, "attr", "") in ("echo", "secho")
            and isinstance(node.args[0], ast.Constant | ast.JoinedStr)
        }
        assert len(installing) == 2
        assert [w for w in installing if not any(template_reads(t, w) for t in COMPLETION_LINES)] == []
