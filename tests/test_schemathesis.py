"""Property-based checks of the whole HTTP API from its own OpenAPI schema (schemathesis).

The test walks every operation the app's schema lists, so endpoints added later are covered
without touching this file. For each operation it generates valid requests and, where the schema
can be broken, invalid ones; sends them through the ASGI app on the test's rolled-back PostgreSQL
transaction with a token of a role the operation declares in ``x-roles`` (an institution's or a
learner's first, as they are the callers with most to send; no token for public operations), so each
handler is fuzzed past its authentication; and requires that no response is a 5xx and that every
response matches its documented schema and media type.

The run is bounded: about ``TOTAL_EXAMPLES`` requests over the whole schema, shared out between
operations (between ``MIN_EXAMPLES`` and ``MAX_EXAMPLES`` per operation and mode), so it stays quick
as the API grows. Generation is derandomised: a failure reproduces on the next run.
"""

from typing import Any

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.core.result import Err
from schemathesis.specs.openapi.checks import content_type_conformance, response_schema_conformance

from creditbank.auth.models import Role
from creditbank.context import AppContext
from creditbank.main import create_app
from tests.conftest import Tokens
from tests.support.factories import create_institution, create_learner

# a minute long: collected early (see tests/conftest.py), so it does not run alone at the end
pytestmark = pytest.mark.runs_long

CHECKS = [schemathesis.checks.not_a_server_error, response_schema_conformance, content_type_conformance]
TOTAL_EXAMPLES = 800
MIN_EXAMPLES, MAX_EXAMPLES = 5, 15

# schema keywords that make a string path parameter refuse some values
_CONSTRAINTS = {
    "pattern",
    "format",
    "enum",
    "minLength",
    "maxLength",
    "const",
    "anyOf",
    "oneOf",
    "allOf",
    "$ref",
}


def _has_invalid_requests(raw: dict[str, Any]) -> bool:
    """Whether a request that breaks the operation's schema exists (else negative generation is moot).

    An operation whose only inputs are path parameters taking any string accepts every request.
    """
    if raw.get("requestBody"):
        return True
    for parameter in raw.get("parameters", []):
        schema = parameter.get("schema", {})
        if parameter["in"] != "path" or schema.get("type") != "string" or _CONSTRAINTS & set(schema):
            return True
    return False


def _fuzz(operation: Any, mode: GenerationMode, headers: dict[str, str], examples: int) -> None:
    @settings(
        max_examples=examples,
        deadline=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
        derandomize=True,
        database=None,
    )
    @given(case=operation.as_strategy(generation_mode=mode))
    def run(case: Any) -> None:
        case.call_and_validate(headers=headers, checks=CHECKS)

    try:
        run()
    except Unsatisfiable:
        if mode is GenerationMode.POSITIVE:
            raise
        # every input of this operation accepts any value: there is no invalid request to send


# which of its declared callers fuzzes an operation: the first of these that ``x-roles`` names
PREFERENCE = ["institution", "learner", "reviewer", "admin", "auditor", "public"]


def caller(raw: dict[str, Any]) -> str:
    declared = raw.get("x-roles", [])
    chosen = next((role for role in PREFERENCE if role in declared), None)
    assert chosen is not None, f"{raw.get('operationId')} declares no caller: {declared}"
    return chosen


def test_the_caller_is_one_the_operation_declares() -> None:
    assert caller({"x-roles": ["admin", "institution"]}) == "institution"
    assert caller({"x-roles": ["learner", "admin"]}) == "learner"
    assert caller({"x-roles": ["public"]}) == "public"


def test_every_operation_conforms(
    ctx: AppContext, client: TestClient, auth: Tokens, subtests: pytest.Subtests
) -> None:
    admin = auth(Role.admin)
    institution = auth(Role.institution, create_institution(client, admin))
    headers = {
        "public": {},
        "admin": admin,
        "institution": institution,
        "learner": auth(Role.learner, create_learner(client, institution)),
        "reviewer": auth(Role.reviewer),
        "auditor": auth(Role.auditor),
    }
    schema = schemathesis.openapi.from_asgi("/openapi.json", create_app(ctx=ctx))
    runs: list[tuple[Any, GenerationMode]] = []
    for result in schema.get_all_operations():
        if isinstance(result, Err):
            pytest.fail(f"the OpenAPI schema has an invalid operation: {result.err()}")
        operation = result.ok()
        runs.append((operation, GenerationMode.POSITIVE))
        if _has_invalid_requests(operation.definition.raw):
            runs.append((operation, GenerationMode.NEGATIVE))
    assert len(runs) >= 10, "the schema lost its operations"
    callers = {caller(operation.definition.raw) for operation, _ in runs}
    assert {"institution", "learner", "public"} <= callers, callers
    examples = max(MIN_EXAMPLES, min(MAX_EXAMPLES, TOTAL_EXAMPLES // len(runs)))
    for operation, mode in runs:
        with subtests.test(msg=f"{operation.label} {mode.value} as {caller(operation.definition.raw)}"):
            _fuzz(operation, mode, headers[caller(operation.definition.raw)], examples)
