"""Every message a person reads, from gettext catalogues managed with Babel (``zh_CN`` first, ``en``).

How this works:

* A message has a symbolic id (``nav.archive``, ``console.posted``); the code and the templates
  call ``t("nav.archive")`` or ``t("console.posted", id=..., credits=...)``. Placeholders are
  ``{name}``, filled with :meth:`str.format`.
* The texts live in ``creditbank/locale/<locale>/LC_MESSAGES/messages.po`` (one catalogue per
  language, both translating the ids), with the template ``creditbank/locale/messages.pot``
  extracted from the code by ``pybabel extract -F babel.cfg`` (``make messages``). Translators
  work on the ``.po`` files with any gettext tool; ``docs/translating.md`` says how.
* The service reads the ``.po`` files when a language is first used (no compiled ``.mo`` file
  to forget): each is compiled in memory into a :class:`babel.support.Translations`.
* An id built at run time (``type.<outcome type>``) is listed once with :func:`N_` in
  :mod:`creditbank.i18n.coded`, so that extraction sees it.
* A message said before its reader's language is known (a problem's ``detail`` raised deep in a
  service, a verification check's reason) is a :class:`Message`, made with ``msg("id", name=value)``:
  its id and values, rendered in a language when it is shown (``message.text("zh")``); ``str()``
  of it is the English text, for logs.
* A message missing from a catalogue shows as its id (never a broken page); the tests fail on it.
"""

import datetime as dt
import functools
import io
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from babel.dates import format_datetime
from babel.messages.catalog import Catalog
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations

Lang = Literal["zh", "en"]
LANGS: tuple[Lang, ...] = ("zh", "en")
DEFAULT_LANG: Lang = "zh"
LOCALES: Mapping[Lang, str] = {"zh": "zh_CN", "en": "en"}
"""The gettext locale of each language's catalogue."""
HTML_LANG: Mapping[Lang, str] = {"zh": "zh-CN", "en": "en"}
LANG_COOKIE = "cb_lang"
"""The cookie that remembers a reader's choice of language (``?lang=``)."""
DOMAIN = "messages"
LOCALE_DIR = Path(__file__).resolve().parent.parent / "locale"


def N_(message: str) -> str:  # noqa: N802 - the gettext convention for "mark, do not translate yet"
    """Mark a message id for extraction without translating it (``gettext_noop``)."""
    return message


def po_path(lang: Lang) -> Path:
    return LOCALE_DIR / LOCALES[lang] / "LC_MESSAGES" / f"{DOMAIN}.po"


def read_catalogue(lang: Lang) -> Catalog:
    """The ``.po`` catalogue of ``lang`` as Babel reads it."""
    with po_path(lang).open("rb") as handle:
        return read_po(handle, locale=LOCALES[lang], domain=DOMAIN)


@dataclass(frozen=True)
class Catalogue:
    """One language's compiled messages: the gettext translations and the ids it translates."""

    translations: Translations
    ids: frozenset[str]


@functools.cache
def catalogue(lang: Lang) -> Catalogue:
    """The messages of ``lang``, compiled once per process (fuzzy and empty entries left out)."""
    source = read_catalogue(lang)
    compiled = io.BytesIO()
    write_mo(compiled, source, use_fuzzy=False)
    compiled.seek(0)
    ids = frozenset(m.id for m in source if isinstance(m.id, str) and m.id and m.string and not m.fuzzy)
    return Catalogue(Translations(compiled, domain=DOMAIN), ids)


@dataclass(frozen=True)
class Translator:
    """``t(id, **values)``: the message in this language, with its ``{placeholders}`` filled."""

    lang: Lang

    @property
    def html_lang(self) -> str:
        return HTML_LANG[self.lang]

    @property
    def other(self) -> Lang:
        return "en" if self.lang == "zh" else "zh"

    def __call__(self, message: str, /, **values: object) -> str:
        text = self.gettext(message)
        return text.format(**values) if values else text

    def gettext(self, message: str) -> str:
        """The message's text without filling placeholders; the id itself when it has none."""
        found = catalogue(self.lang)
        return found.translations.gettext(message) if message in found.ids else message

    def has(self, message: str) -> bool:
        return message in catalogue(self.lang).ids

    def pick(self, zh: str | None, en: str | None) -> str:
        """Of a stored pair of texts (e.g. an explanation), the one in this language."""
        first, second = (zh, en) if self.lang == "zh" else (en, zh)
        return first or second or ""

    def label(self, prefix: str, value: str | None) -> str:
        """A coded value's label (``type.mooc``); the raw value when there is none."""
        if value is None:
            return ""
        key = f"{prefix}.{value}"
        return self(key) if self.has(key) else value


@dataclass(frozen=True)
class Message:
    """A message to render later in its reader's language: a catalogue id and its values.

    A value may itself be a :class:`Message` (an underlying error's reason inside a detail) or a
    :class:`Both` (texts already written in each language); it is rendered in the same language.
    """

    id: str
    values: Mapping[str, object]

    def text(self, lang: Lang) -> str:
        """The message in ``lang``, its placeholders filled (left as written if one has no value)."""
        t = Translator(lang)
        values = {
            k: v.text(lang) if isinstance(v, Message | Both | When) else v for k, v in self.values.items()
        }
        template = t.gettext(self.id)
        try:
            return template.format(**values)
        except (KeyError, IndexError, ValueError):
            return template

    def pair(self) -> tuple[str, str]:
        """The message in Chinese and in English, for a record that stores both."""
        return self.text("zh"), self.text("en")

    def __str__(self) -> str:
        return self.text("en")


@dataclass(frozen=True)
class Both:
    """A value already written in each language (a stored explanation), for a :class:`Message`."""

    zh: str
    en: str

    def text(self, lang: Lang) -> str:
        return self.zh if lang == "zh" else self.en


@dataclass(frozen=True)
class When:
    """A moment for a :class:`Message`, said for people in each language in UTC
    (``2026年12月5日 19:04 UTC``, ``5 December 2026, 19:04 UTC``): the pattern is the catalogue's
    ``time.utc`` (a CLDR date pattern, formatted by Babel in the language's locale)."""

    at: dt.datetime

    def text(self, lang: Lang) -> str:
        pattern = Translator(lang).gettext("time.utc")
        moment = self.at if self.at.tzinfo is not None else self.at.replace(tzinfo=dt.UTC)
        return format_datetime(moment.astimezone(dt.UTC), pattern, tzinfo=dt.UTC, locale=LOCALES[lang])


def msg(message: str, /, **values: object) -> Message:
    """``msg("id", name=value)``: a :class:`Message` to render later (extraction sees the id)."""
    return Message(message, values)


Said = str | Message
"""What a message-bearing field holds: a ready text, or a :class:`Message` rendered when shown."""


def joined(items: Sequence[Said]) -> Said:
    """Several messages said one after another (``a; b`` in English, ``a；b`` in Chinese)."""
    if not items:
        return ""
    first, *rest = items
    return first if not rest else msg("list.joined", first=first, rest=joined(rest))


def text_of(said: Said, lang: Lang) -> str:
    """``said`` in ``lang``: a :class:`Message` rendered, a ready text as it is."""
    return said.text(lang) if isinstance(said, Message) else said


def parse_lang(value: str | None) -> Lang | None:
    """``zh``/``zh-CN``/``zh_CN``… or ``en``/``en-US``…: the language; anything else None."""
    if not value:
        return None
    primary = value.strip().replace("_", "-").split("-")[0].lower()
    if primary == "zh":
        return "zh"
    if primary == "en":
        return "en"
    return None


def negotiate(accept_language: str | None) -> Lang | None:
    """The language of ours that an ``Accept-Language`` header prefers (RFC 9110 section 12.5.4), or None.

    ``zh-CN,zh;q=0.9,en;q=0.8`` is Chinese, ``en-GB,en;q=0.9`` English; ``*`` and languages we do not
    have say nothing; on equal weights the first named wins.
    """
    best: Lang | None = None
    best_q = 0.0
    for part in (accept_language or "").split(",")[:50]:
        tag, _, params = part.partition(";")
        q = 1.0
        for param in params.split(";"):
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    q = float(value.strip())
                except ValueError:
                    q = 0.0
        lang = parse_lang(tag)
        if lang is not None and q > best_q:
            best, best_q = lang, q
    return best


def choose_lang(asked: str | None, remembered: str | None, accept_language: str | None) -> Lang:
    """A reader's language: asked for (``?lang=``), else remembered (the cookie), else the
    ``Accept-Language`` header, else Chinese."""
    return parse_lang(asked) or parse_lang(remembered) or negotiate(accept_language) or DEFAULT_LANG


CLI_LANG_VARIABLES = ("CREDITBANK_LANG", "LC_ALL", "LC_MESSAGES", "LANG")


def cli_lang(environ: Mapping[str, str] | None = None) -> Lang:
    """The command line's language, from the environment as gettext reads it.

    ``CREDITBANK_LANG`` (``zh`` or ``en``) if set, else the first of ``LC_ALL``, ``LC_MESSAGES``
    and ``LANG`` that is set: ``zh_CN.UTF-8`` gives Chinese, ``en_US.UTF-8`` English. The ``C`` and
    ``POSIX`` locales, and languages without a catalogue, give English, as gettext shows a
    program's own (untranslated) messages there.
    """
    env = os.environ if environ is None else environ
    for name in CLI_LANG_VARIABLES:
        value = env.get(name)
        if value:
            return parse_lang(value.split(".")[0]) or "en"
    return "en"
