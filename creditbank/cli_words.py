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
from collections.abc import Callable, Mapping
from typing import Any

import typer.core
from typer import rich_utils
from typer._click.core import Context
from typer._click.exceptions import ClickException, NoArgsIsHelpError, UsageError
from typer._click.formatting import HelpFormatter

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
    # a parameter's kind ({param_type}) and a path's ({label})
    N_("argument"),
    N_("option"),
    N_("parameter"),
    N_("file"),
    N_("dir"),
    N_("path"),
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


_MAKE_RICH_TEXT = rich_utils._make_rich_text
_RICH_FORMAT_ERROR = rich_utils.rich_format_error


def _formatter(t: Translator) -> type[HelpFormatter]:
    class Formatter(HelpFormatter):
        """Click's help formatter, with the usage line's prefix in ``t``'s language."""

        def write_usage(self, prog: str, args: str = "", prefix: str | None = None) -> None:
            super().write_usage(prog, args, t.gettext(USAGE) if prefix is None else prefix)

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
