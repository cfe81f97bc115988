"""The artifact framing: a magic line, a JSON object line, then the payload."""

from __future__ import annotations

from typing import Any

import pytest

from charter.errors import CharterError
from charter.framing import unframe

MAGIC = b"CHARTER-TEST\n"


class FramingError(CharterError):
    """Raised by the tests' reader."""


def read(data: Any) -> tuple[dict[str, Any], bytes]:
    return unframe(data, MAGIC, what="a test artifact", error=FramingError)


def test_the_header_and_the_payload_are_split_at_the_first_line() -> None:
    header, payload = read(MAGIC + b'{"format": 2}\n' + b"payload\nwith lines")
    assert header == {"format": 2}
    assert payload == b"payload\nwith lines"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"PK\x03\x04 a zip file", r"must be a test artifact, starting with .*Got b'PK"),
        ("text, not bytes", r"must be a test artifact, .*Got 'str' instead"),
        (MAGIC + b"[1, 2]\n", "The header line of a test artifact must be a JSON object"),
        (MAGIC + b"\xff\xfe\n", "The header line of a test artifact must be a JSON object"),
        (MAGIC + b'{"format": 2}', "The header line of a test artifact must be a JSON object"),
    ],
)
def test_foreign_or_damaged_bytes_are_refused(data: Any, message: str) -> None:
    with pytest.raises(FramingError, match=message):
        read(data)
