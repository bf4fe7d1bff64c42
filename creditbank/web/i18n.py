"""The pages' language: ``?lang=zh|en`` (remembered in the ``cb_lang`` cookie), Chinese by default.

The messages themselves are gettext catalogues (:mod:`creditbank.i18n`,
``creditbank/locale/*/LC_MESSAGES/messages.po``); this module keeps the names the pages import.
"""

from creditbank.i18n import (
    DEFAULT_LANG,
    HTML_LANG,
    LANG_COOKIE,
    LANGS,
    Lang,
    Translator,
    parse_lang,
    register_legacy,
)

__all__ = [
    "DEFAULT_LANG",
    "HTML_LANG",
    "LANGS",
    "LANG_COOKIE",
    "MESSAGES",
    "Lang",
    "Translator",
    "parse_lang",
]

MESSAGES: dict[str, tuple[str, str]] = {
    # Transitional and to be emptied: a (Chinese, English) pair added here is still shown, but its
    # place is the catalogues (docs/translating.md); the catalogue test lists what is left here.
}
register_legacy(MESSAGES)
