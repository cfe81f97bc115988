"""The notify package's public API is pinned, and its errors are CharterErrors."""

from __future__ import annotations

import subprocess
import sys

import charter.notify
from charter.errors import CharterError
from charter.notify import DeliveryError, NotifyError


def test_the_public_api_is_pinned() -> None:
    assert charter.notify.__all__ == [
        "NOTICE_KINDS",
        "NOTICE_SCHEMA",
        "SUPPORTED_CHANNELS",
        "Channel",
        "ConsoleChannel",
        "Delivery",
        "DeliveryError",
        "FileChannel",
        "Notice",
        "NoticeKind",
        "Notifier",
        "NotifyError",
        "SlackChannel",
        "WebhookChannel",
        "console_line",
        "file_line",
        "slack_payload",
    ]
    for name in charter.notify.__all__:
        assert getattr(charter.notify, name) is not None


def test_errors_are_charter_errors() -> None:
    assert issubclass(NotifyError, CharterError)
    assert issubclass(DeliveryError, NotifyError)
    failure = DeliveryError("The endpoint answered HTTP 503.", retryable=True, status_code=503)
    assert (str(failure), failure.retryable, failure.status_code) == (
        "The endpoint answered HTTP 503.",
        True,
        503,
    )


def test_the_package_imports_no_ledger() -> None:
    # Once-only delivery is the caller's: notify keeps no delivery records of its own.
    code = "import sys, charter.notify; print(sorted(m for m in sys.modules if 'ledger' in m))"
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert done.stdout.strip() == "[]"
