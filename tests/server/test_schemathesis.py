"""schemathesis against the app's own OpenAPI document: no 5xx, no response that breaks it."""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import positive_data_acceptance

from tests.server.conftest import LiveServer

OPERATIONS = [
    ("POST", "/predict"),
    ("POST", "/feedback"),
    ("GET", "/health"),
    ("GET", "/ready"),
    ("GET", "/schema"),
    ("GET", "/metrics"),
    ("GET", "/ping"),
    ("POST", "/invocations"),
    ("POST", "/score"),
]


@pytest.fixture(scope="module")
def api_schema(shared_server: LiveServer) -> Any:
    return schemathesis.openapi.from_url(f"{shared_server.url}/openapi.json")


def test_every_operation_is_tested(api_schema: Any) -> None:
    found = {(op.ok().method.upper(), op.ok().path) for op in api_schema.get_all_operations()}
    assert found == set(OPERATIONS)


@pytest.mark.parametrize(("method", "path"), OPERATIONS)
def test_the_api_keeps_its_own_contract(api_schema: Any, method: str, path: str) -> None:
    operation = api_schema[path][method]

    @given(case=operation.as_strategy())
    @settings(max_examples=50, deadline=None, suppress_health_check=list(HealthCheck))
    def check(case: Any) -> None:
        if case.media_type == "text/csv":
            # The document cannot say which text is a valid CSV row (it names the columns
            # in words), so a schema-valid string may rightly be refused.
            case.call_and_validate(excluded_checks=[positive_data_acceptance])
        else:
            case.call_and_validate()

    check()
