"""Helpers to check that JSON-LD expansion keeps every value (nothing silently dropped)."""

from typing import Any

from pyld import jsonld

from creditbank.standards.vc.contexts import document_loader


def expand(document: dict[str, Any]) -> list[Any]:
    result: list[Any] = jsonld.expand(document, {"documentLoader": document_loader})
    return result


def input_leaves(node: Any) -> int:
    """Count scalar values in compact JSON, ignoring ``@context``."""
    if isinstance(node, dict):
        return sum(input_leaves(v) for k, v in node.items() if k != "@context")
    if isinstance(node, list):
        return sum(input_leaves(v) for v in node)
    return 0 if node is None else 1


def expanded_leaves(node: Any) -> int:
    """Count values in expanded JSON-LD: each @value, @id and @type entry."""
    if isinstance(node, list):
        return sum(expanded_leaves(v) for v in node)
    if not isinstance(node, dict):
        return 0
    if "@value" in node:
        return 1
    count = 1 if "@id" in node else 0
    count += len(node.get("@type", []))
    for key, value in node.items():
        if key not in ("@id", "@type"):
            count += expanded_leaves(value)
    return count


def assert_nothing_dropped(document: dict[str, Any]) -> list[Any]:
    expanded = expand(document)
    assert expanded_leaves(expanded) == input_leaves(document), "JSON-LD expansion dropped a term"
    return expanded
