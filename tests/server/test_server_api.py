"""charter.server's public API is pinned: a change to it is a deliberate change to this test."""

from __future__ import annotations

import charter.server
from charter.serving import _requests


def test_the_server_api_is_pinned() -> None:
    assert charter.server.__all__ == [
        "STYLES",
        "DashboardOptions",
        "ModelHolder",
        "ServeOptions",
        "Served",
        "ServerConfig",
        "Style",
        "build_config",
        "create_app",
        "create_dashboard",
        "default_port",
        "read_token",
        "run_dashboard",
        "serve",
        "write_package",
    ]
    for name in charter.server.__all__:
        assert getattr(charter.server, name) is not None, name


def test_the_request_validation_api_is_pinned() -> None:
    assert _requests.__all__ == [
        "Batch",
        "FieldError",
        "FieldSpec",
        "RecordValidator",
        "RequestRejected",
        "check_label",
        "compile_validator",
        "parse_json",
    ]
