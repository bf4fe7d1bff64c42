"""Typer's own words — help headings, usage errors, completion options — in the command line's language.

Our own help and output come from the catalogues (:func:`creditbank.cli_common.cli_help`); what is
left is what Typer writes around them: ``Usage:``, the ``Options``/``Commands``/``Arguments`` panels,
``Show this message and exit.``, ``[default: …]``, the ``Error`` panel and its message (``Missing
option …``, ``No such command …``, ``Try '… --help' for help.``) and the completion options.

Where these words come from decides how they are translated:

* Typer marks its own words with gettext (``typer.core`` and ``typer.rich_utils`` call ``_``, which is
  :func:`gettext.gettext`). ``typer.core`` calls it when it speaks, so its ``_`` becomes our catalogue's
  ``gettext``; ``typer.rich_utils`` called it once, at import, into constants (``OPTIONS_PANEL_TITLE``),
  which are set to our texts. The msgids are Typer's, verbatim.
* Since Typer 0.26 Click is vendored (``typer._click``) with Click's own gettext calls taken out: its
  words are plain strings and f-strings, so gettext (a bound ``click`` domain, Click's ``_`` patched)
  reaches nothing. Three of them are words said alone (the usage prefix, the help option's and the
  completion options' help), translated where Typer renders them (the help formatter's usage prefix,
  :func:`typer.rich_utils._make_rich_text`). The rest are error messages built by f-strings (``Missing
  {param_type}{param_hint}.``): the error panel's message is read back against the templates below
  (each f-string with its expressions named) and said from the catalogue, the values it holds in turn
  (an ``Invalid value for …: {message}`` holds a type's message).

Nothing here changes behaviour or exit codes, and a message that matches no template is shown as Typer
wrote it. Typer's internals are not an API: ``pyproject.toml`` pins Typer's minor version, and
``tests/i18n/test_typer_words.py`` reads the installed Typer's sources and fails on a word shown to
people that is not listed here (and on a template that no longer matches Typer's source).
"""

import functools
import re
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import IO, Any

import typer.completion
import typer.core
from typer import _completion_shared, rich_utils
from typer._click._compat import get_text_stderr
from typer._click.core import Context, Parameter
from typer._click.exceptions import ClickException, NoArgsIsHelpError, UsageError
from typer._click.formatting import HelpFormatter
from typer._click.termui import secho
from typer._click.utils import echo

from creditbank.cli_common import cli_translator
from creditbank.i18n import N_, Translator

TYPER_GETTEXT: tuple[str, ...] = (
    # typer/core.py: _("…"), said when shown
    N_("(dynamic)"),
    N_("Aborted!"),
    N_("default: {default}"),
    N_("required"),
    N_("env var: {var}"),
    N_("Arguments"),
    N_("Options"),
    N_("Commands"),
    N_("Missing command."),
    N_("No such command {name!r}."),
)

RICH_CONSTANTS: Mapping[str, str] = {
    # typer/rich_utils.py: NAME = _("…"), said once at import
    "DEPRECATED_STRING": N_("(deprecated) "),
    "DEFAULT_STRING": N_("[default: {}]"),
    "ENVVAR_STRING": N_("[env var: {}]"),
    "REQUIRED_LONG_STRING": N_("[required]"),
    "ARGUMENTS_PANEL_TITLE": N_("Arguments"),
    "OPTIONS_PANEL_TITLE": N_("Options"),
    "COMMANDS_PANEL_TITLE": N_("Commands"),
    "ERRORS_PANEL_TITLE": N_("Error"),
    "ABORTED_TEXT": N_("Aborted."),
    "RICH_HELP": N_("Try [blue]'{command_path} {help_option}'[/] for help."),
}

PATH_LABELS: tuple[str, ...] = (N_("file"), N_("dir"), N_("path"))

USAGE = N_("Usage: ")
"""typer/_click/formatting.py: ``HelpFormatter.write_usage``'s prefix."""

CLICK_WORDS: tuple[str, ...] = (
    USAGE,
    # typer/_click/decorators.py: the help option
    N_("Show this message and exit."),
    # typer/completion.py: the completion options
    N_("Install completion for the current shell."),
    N_("Show completion for the current shell, to copy it or customize the installation."),
    N_("Install completion for the specified shell."),
    N_("Show completion for the specified shell, to copy it or customize the installation."),
    # a parameter's kind ({param_type})
    N_("argument"),
    N_("option"),
    N_("parameter"),
    # a path's ({label}; typer/_param_types.py ``path_type_name``, also the type column's ``<path>``)
    *PATH_LABELS,
)

PLACEHOLDERS: tuple[str, ...] = (
    # the usage line's: ``options_metavar`` (typer/_click/core.py, typer/core.py), ``subcommand_metavar``
    N_("[OPTIONS]"),
    N_("COMMAND [ARGS]..."),
)

TYPE_NAMES: tuple[str, ...] = (
    # the type column (``<int>``): typer/core.py ``display_type``, a Python type's name or a label of its own
    N_("str"),
    N_("int"),
    N_("float"),
    N_("bool"),
    N_("Path"),
    N_("datetime"),
    N_("UUID"),
    N_("{type} range"),
    N_("list[{type}]"),
)

PLAIN_LINES: tuple[str, ...] = (
    # typer/_click/exceptions.py: an error's lines without Rich (TYPER_USE_RICH=0)
    N_("Error: {message}"),
    N_("Try '{command} {option}' for help."),
)

COMPLETION_LINES: tuple[str, ...] = (
    # typer/completion.py: said after installing completion
    N_("{shell} completion installed in {path}"),
    N_("Completion will take effect once you restart the terminal"),
)

CLICK_MESSAGES: tuple[str, ...] = (
    # typer/_click/exceptions.py
    N_("Invalid value: {message}"),
    N_("Invalid value for {hint}: {message}"),
    N_("Missing {param_type}{param_hint}. {msg}"),
    N_("Missing {param_type}{param_hint}."),
    N_("No such option: {option_name}"),
    N_("{message} (Possible options: {possibility_str})"),
    N_("Could not open file {ui_filename!r}: {message}"),
    # typer/_click/parser.py
    N_("Option {option_name!r} requires an argument."),
    N_("Option {option_name!r} requires {nargs} arguments."),
    N_("Option {opt!r} does not take a value."),
    N_("Argument {dest!r} takes {nargs} values."),
    # typer/_click/core.py
    N_("Got unexpected extra argument(s) ({extra_args})"),
    # typer/core.py
    N_("{message}. Did you mean {suggestions}?"),
    N_("Choose from:\n\t{choices_str}"),
    # typer/_param_types.py, typer/_coercion.py, typer/_adapters.py: a value of the wrong type
    N_("{value!r} is not one of {choices_str}."),
    N_("{label} {value!r} does not exist."),
    N_("{label} {loc} is a file."),
    N_("{label} {loc} is a directory."),
    N_("{label} {loc} is not readable."),
    N_("{label} {loc} is not writable."),
    N_("Value {value!r} is not a valid {label}."),
    N_("Value must be an iterable."),
    N_("{value!r} does not match the formats {formats_str}."),
    N_("{count} values are required, but {given} given."),
    # pydantic's words for a value Typer checks with it (an int option's bounds, a validator's error)
    N_("Input should be a valid integer, unable to parse string as an integer"),
    N_("Input should be greater than or equal to {ge}"),
    N_("Input should be less than or equal to {le}"),
    N_("Input should be greater than {gt}"),
    N_("Input should be less than {lt}"),
    N_("Input should be a valid number, unable to parse string as a number"),
    N_("Input should be a finite number"),
    N_("Input should be a valid boolean, unable to interpret input"),
    N_("Value error, {message}"),
)

_FIELD = re.compile(r"\{(\w*)(?:![rsa])?\}")
_NARROW = {"param_type": r"[a-z]+", "label": r"[a-z]+", "nargs": r"\d+", "count": r"\d+", "given": r"\d+"}
"""What a field of a template may hold where two fields meet or a word follows (else any text)."""


@functools.cache
def _pattern(template: str) -> re.Pattern[str]:
    """The regular expression that reads a text written from ``template``, one group per field."""
    parts: list[str] = []
    end = 0
    for field in _FIELD.finditer(template):
        name = field.group(1)
        parts += [re.escape(template[end : field.start()]), f"(?P<{name}>{_NARROW.get(name, '.*?')})"]
        end = field.end()
    parts.append(re.escape(template[end:]))
    return re.compile("".join(parts), re.DOTALL)


def say(text: str, t: Translator) -> str:
    """``text``, written by Typer in English, in ``t``'s language: a word listed here, a message read
    back from its template with each value said in turn, or else ``text`` as it is."""
    if text in CLICK_WORDS:
        return t.gettext(text)
    for template in CLICK_MESSAGES:
        found = _pattern(template).fullmatch(text)
        if found is not None:
            return _filled(
                t.gettext(template), {name: say(value, t) for name, value in found.groupdict().items()}
            )
    return text


def _filled(template: str, values: Mapping[str, str]) -> str:
    """``template`` with each field replaced by its value as read (``{name!r}`` read the quotes too)."""
    return _FIELD.sub(lambda field: values.get(field.group(1), field.group(0)), template)


def install(t: Translator | None = None) -> None:
    """Have Typer say its words in ``t``'s language (the command line's by default) from now on.

    Like the commands' help (:func:`creditbank.cli_common.cli_help`), the language is the one the
    environment names when the command line is built."""
    t = t or cli_translator()
    typer.core._ = t.gettext  # type: ignore[attr-defined]
    for name, message in RICH_CONSTANTS.items():
        setattr(rich_utils, name, t.gettext(message))
    Context.formatter_class = _formatter(t)
    rich_utils._make_rich_text = _saying_texts(_MAKE_RICH_TEXT, t)
    rich_utils.rich_format_error = _saying_errors(_RICH_FORMAT_ERROR, t)  # type: ignore[assignment]
    typer.core._TyperParameter.display_type = _typing(_DISPLAY_TYPE, t)  # type: ignore[method-assign,assignment]
    ClickException.show = _showing_plainly(t, usage=False)  # type: ignore[method-assign,assignment]
    UsageError.show = _showing_plainly(t, usage=True)  # type: ignore[method-assign,assignment]
    for placeholder in (
        typer.completion._install_completion_placeholder_function,
        typer.completion._install_completion_no_auto_placeholder_function,
    ):
        option = (placeholder.__defaults__ or ())[0]
        option.callback = _installing(t)


_MAKE_RICH_TEXT = rich_utils._make_rich_text
_RICH_FORMAT_ERROR = rich_utils.rich_format_error
_DISPLAY_TYPE = typer.core._TyperParameter.display_type


def say_type(label: str, t: Translator) -> str:
    """A parameter's type as Typer labels it (``int range``, ``list[Path]``; choices stay as typed),
    in ``t``'s language."""
    if label in TYPE_NAMES or label in PATH_LABELS:
        return t.gettext(label)
    for template in ("{type} range", "list[{type}]"):
        found = _pattern(template).fullmatch(label)
        if found is not None:
            return t.gettext(template).format(type=say_type(found["type"], t))
    return label


def say_usage(args: str, t: Translator) -> str:
    """The usage line's arguments (``[OPTIONS] COMMAND [ARGS]...``), Typer's placeholders said in turn."""
    for placeholder in PLACEHOLDERS:
        args = args.replace(placeholder, t.gettext(placeholder))
    return args


def _typing(display_type: Callable[[Any, Context], str], t: Translator) -> Callable[[Any, Context], str]:
    def said(self: Parameter, ctx: Context) -> str:
        shown = display_type(self, ctx)
        if shown.startswith("<") and shown.endswith(">"):
            return f"<{say_type(shown[1:-1], t)}>"
        return shown

    return said


def _showing_plainly(t: Translator, *, usage: bool) -> Callable[[ClickException, IO[Any] | None], None]:
    """Click's ``show`` of an error (what Typer prints without Rich), its lines in ``t``'s language."""

    def show(error: ClickException, file: IO[Any] | None = None) -> None:
        file = file or get_text_stderr()
        color = error.show_color
        ctx = getattr(error, "ctx", None) if usage else None
        if ctx is not None:
            color = ctx.color
            hint = ""
            if ctx.command.get_help_option(ctx) is not None:
                hint = t.gettext(PLAIN_LINES[1]).format(
                    command=ctx.command_path, option=ctx.help_option_names[0]
                )
                hint += "\n"
            echo(f"{ctx.get_usage()}\n{hint}", file=file, color=color)
        echo(t.gettext(PLAIN_LINES[0]).format(message=say(error.format_message(), t)), file=file, color=color)

    return show


def _installing(t: Translator) -> Callable[[Context, Parameter, Any], Any]:
    """Typer's ``--install-completion``, saying what it did in ``t``'s language."""

    def install_callback(ctx: Context, param: Parameter, value: Any) -> Any:
        if not value or ctx.resilient_parsing:
            return value
        shell, path = (
            _completion_shared.install(shell=value)
            if isinstance(value, str)
            else _completion_shared.install()
        )
        secho(t.gettext(COMPLETION_LINES[0]).format(shell=shell, path=path), fg="green")
        echo(t.gettext(COMPLETION_LINES[1]))
        sys.exit(0)

    return install_callback


def _formatter(t: Translator) -> type[HelpFormatter]:
    class Formatter(HelpFormatter):
        """Click's help formatter, with the usage line's prefix in ``t``'s language."""

        def write_usage(self, prog: str, args: str = "", prefix: str | None = None) -> None:
            super().write_usage(prog, say_usage(args, t), t.gettext(USAGE) if prefix is None else prefix)

        def write_dl(self, rows: Sequence[tuple[str, str]], col_max: int = 30, col_spacing: int = 2) -> None:
            super().write_dl([(term, say(text, t)) for term, text in rows], col_max, col_spacing)

    return Formatter


def _saying_texts(make: Callable[..., Any], t: Translator) -> Callable[..., Any]:
    """Typer's maker of help texts, saying a word of Typer's (the help option's help) in ``t``'s language."""

    def make_rich_text(*, text: str, **kwargs: Any) -> Any:
        return make(text=say(text, t), **kwargs)

    return make_rich_text


def _saying_errors(show: Callable[[ClickException], None], t: Translator) -> Callable[[ClickException], None]:
    """Typer's error panel, saying the error's message in ``t``'s language."""

    def rich_format_error(error: ClickException) -> None:
        if isinstance(error, NoArgsIsHelpError):
            return show(error)
        return show(UsageError(say(error.format_message(), t), getattr(error, "ctx", None)))

    return rich_format_error
