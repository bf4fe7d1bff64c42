"""Deeper property-based checks of the API's write operations (schemathesis), beside the whole-schema
walk of ``tests/test_schemathesis.py`` and with its helpers.

This is the suite's longest test, so it is marked ``runs_long``: the collection puts it first and
the two test processes (``--dist loadfile --no-loadscope-reorder``) start it at once, one of them
running it while the other takes the rest, instead of leaving it to run alone at the end.
"""

import pytest
import schemathesis
from fastapi.testclient import TestClient
from schemathesis import GenerationMode
from schemathesis.core.result import Err

from creditbank.auth.models import Role
from creditbank.context import AppContext
from creditbank.main import create_app
from tests.conftest import Tokens
from tests.support.factories import create_institution, create_learner
from tests.test_schemathesis import _fuzz, caller

pytestmark = [pytest.mark.slow, pytest.mark.runs_long]

WRITE_EXAMPLES = 25  # per write operation and mode: deeper than the whole-schema walk above (5-15)


# 46 write operations x 2 modes x 25 requests: 187 s alone on a quiet machine (at 40 requests it took
# 386 s inside the suite, the suite's longest tail); the default timeout of 300 s per test is too tight
@pytest.mark.timeout(900)
def test_write_operations_deeper(
    ctx: AppContext, client: TestClient, auth: Tokens, subtests: pytest.Subtests
) -> None:
    """Every write operation (POST, PUT, PATCH, DELETE) with more generated requests, valid and
    broken, each as a caller it declares: no 5xx, every answer as documented."""
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
    writes = 0
    for result in schema.get_all_operations():
        if isinstance(result, Err):
            pytest.fail(f"the OpenAPI schema has an invalid operation: {result.err()}")
        operation = result.ok()
        if operation.method.upper() not in {"POST", "PUT", "PATCH", "DELETE"}:
            continue
        writes += 1
        who = caller(operation.definition.raw)
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            with subtests.test(msg=f"{operation.label} {mode.value} as {who}"):
                _fuzz(operation, mode, headers[who], WRITE_EXAMPLES)
    assert writes >= 15, "the schema lost its write operations"
