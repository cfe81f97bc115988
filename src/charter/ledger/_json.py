"""Turn the values callers hand the ledger into plain JSON that every backend accepts."""

from __future__ import annotations

import enum
import math
from collections.abc import Mapping
from datetime import date, datetime
from pathlib import PurePath
from typing import Any

from charter.errors import LedgerError


def json_object(value: object, what: str) -> dict[str, Any]:
    """`value` as a JSON object; `what` names it in errors, e.g. "payload of evidence 'x'".

    Numpy scalars and arrays become numbers and lists, dates become ISO text, paths
    become text, tuples and sets become lists; NaN and infinities become null because
    PostgreSQL's JSON refuses them. Anything else is refused with a LedgerError.
    """
    if not isinstance(value, Mapping):
        raise LedgerError(
            f"The {what} must be a mapping of JSON data. Got a {type(value).__name__} instead."
        )
    converted = _convert(value, what, "")
    assert isinstance(converted, dict)
    return converted


def _convert(value: Any, what: str, at: str) -> Any:
    if value is None or isinstance(value, (str, bool)):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for key, item in value.items():
            if isinstance(key, bool) or not isinstance(key, (str, int)):
                raise LedgerError(
                    f"The {what} must have text keys. Got the key {key!r} at "
                    f"'{at or '<top>'}' instead."
                )
            out[str(key)] = _convert(item, what, f"{at}.{key}" if at else str(key))
        return out
    if isinstance(value, (list, tuple)):
        return [_convert(item, what, f"{at}[{index}]") for index, item in enumerate(value)]
    if isinstance(value, (set, frozenset)):
        return sorted((_convert(item, what, at) for item in value), key=repr)
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, PurePath):
        return str(value)
    if isinstance(value, enum.Enum):
        return _convert(value.value, what, at)
    # numpy scalars and arrays, without importing numpy.
    if getattr(value, "shape", None) == () and hasattr(value, "item"):
        return _convert(value.item(), what, at)
    if hasattr(value, "tolist") and hasattr(value, "shape"):
        return _convert(value.tolist(), what, at)
    raise LedgerError(
        f"The {what} must hold only JSON data (mappings, lists, text, numbers, booleans, "
        f"None). Got a {type(value).__name__} at '{at or '<top>'}' instead."
    )
