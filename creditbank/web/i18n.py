"""The pages' language: ``?lang=zh|en`` (remembered in the ``cb_lang`` cookie), Chinese by default.

The messages themselves are gettext catalogues (:mod:`creditbank.i18n`,
``creditbank/locale/*/LC_MESSAGES/messages.po``, see docs/translating.md); this module keeps the
names the pages import.
"""

from creditbank.i18n import DEFAULT_LANG, HTML_LANG, LANG_COOKIE, LANGS, Lang, Translator, parse_lang

__all__ = ["DEFAULT_LANG", "HTML_LANG", "LANGS", "LANG_COOKIE", "Lang", "Translator", "parse_lang"]
