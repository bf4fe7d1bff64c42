import json

import pytest
from pyld import jsonld

from creditbank.standards.vc.contexts import (
    CONTEXT_FILES,
    CREDIT_TRANSFER_CONTEXT,
    VC_V2_CONTEXT,
    context_text,
    document_loader,
    load_context,
)
from creditbank.standards.vc.did import KeyInfo, build_did_document
from creditbank.standards.vc.errors import ContextNotBundled
from tests.credentials.jsonld_helpers import assert_nothing_dropped, expanded_leaves, input_leaves
from tests.credentials.vectors import vector_json


class TestBundled:
    @pytest.mark.parametrize("url", sorted(CONTEXT_FILES))
    def test_every_context_loads(self, url: str) -> None:
        ctx = load_context(url)
        assert isinstance(ctx["@context"], dict)
        assert json.loads(context_text(url)) == ctx
        assert document_loader(url)["document"] == ctx

    def test_vc_v2_is_the_final_context(self) -> None:
        ctx = load_context(VC_V2_CONTEXT)["@context"]
        assert "@vocab" not in ctx  # moved to undefined-terms/v2 in the REC
        assert "BitstringStatusListEntry" in ctx
        assert "DataIntegrityProof" in ctx

    def test_load_returns_a_copy(self) -> None:
        load_context(CREDIT_TRANSFER_CONTEXT)["@context"]["x"] = 1
        assert "x" not in load_context(CREDIT_TRANSFER_CONTEXT)["@context"]

    def test_unknown_url_is_refused(self) -> None:
        with pytest.raises(ContextNotBundled):
            load_context("https://evil.example/context.json")
        with pytest.raises(jsonld.JsonLdError):
            jsonld.expand(
                {"@context": "https://evil.example/context.json", "name": "x"},
                {"documentLoader": document_loader},
            )


class TestExpansion:
    def test_w3c_vector_expands_without_loss(self) -> None:
        assert_nothing_dropped(vector_json("signedJCS.json"))

    def test_leaf_check_catches_undefined_terms(self) -> None:
        doc = vector_json("signedJCS.json")
        doc["@context"] = doc["@context"][:1]  # drop the examples context: alumniOf is now undefined
        expanded = jsonld.expand(doc, {"documentLoader": document_loader})
        assert expanded_leaves(expanded) < input_leaves(doc)

    def test_did_document_expands_without_loss(self) -> None:
        from datetime import UTC, datetime

        keys = [
            KeyInfo("k1", b"\x01" * 32, created=datetime(2024, 1, 1, tzinfo=UTC)),
            KeyInfo(
                "k2",
                b"\x02" * 32,
                created=datetime(2024, 1, 1, tzinfo=UTC),
                retired_at=datetime(2024, 6, 1, tzinfo=UTC),
                compromised_at=datetime(2024, 5, 1, tzinfo=UTC),
            ),
        ]
        assert_nothing_dropped(build_did_document("did:web:bank.example:institutions:1", keys))
