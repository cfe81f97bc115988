"""The layout charter's binary artifacts share: a magic line, one JSON object line, a payload.

    header, payload = unframe(data, MAGIC, what="a charter model", error=ModelFormatError)

The model (`modeling`) and the compiled predictor (`serving`) are written this way, so
that a reader can tell what the bytes are and which format version they hold before it
unpickles or loads anything. One reader, so that both artifacts refuse foreign or damaged
bytes with the same rules.
"""

from __future__ import annotations

import json
from typing import Any

from charter.errors import CharterError


def unframe(
    data: Any, magic: bytes, *, what: str, error: type[CharterError]
) -> tuple[dict[str, Any], bytes]:
    """(header, payload) of `data`; `error` when it lacks `magic` or a JSON object header.

    `what` names the artifact in the message ("a charter model").
    """
    if not isinstance(data, bytes | bytearray) or not bytes(data).startswith(magic):
        start = bytes(data[:20]) if isinstance(data, bytes | bytearray) else type(data).__name__
        raise error(f"The bytes must be {what}, starting with {magic!r}. Got {start!r} instead.")
    rest = bytes(data[len(magic) :])
    end = rest.find(b"\n")
    try:
        header = json.loads(rest[:end].decode("utf-8")) if end >= 0 else None
    except (UnicodeDecodeError, json.JSONDecodeError):
        header = None
    if not isinstance(header, dict):
        raise error(
            f"The header line of {what} must be a JSON object. Got unreadable bytes instead."
        )
    return header, rest[end + 1 :]
