"""Audit findings, and the helpers that make evidence JSON-ready."""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd

from charter.spec.schema import FINDING_KINDS, FindingKind

Severity = Literal["info", "warning", "error"]
SEVERITIES: tuple[Severity, ...] = ("info", "warning", "error")


def jsonable(value: Any) -> Any:
    """`value` as plain JSON data: numpy scalars unwrapped, NaN and inf as None, tuples as lists."""
    if isinstance(value, dict):
        return {str(key): jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        items = sorted(value, key=str) if isinstance(value, set | frozenset) else value
        return [jsonable(item) for item in items]
    if isinstance(value, np.ndarray):
        return [jsonable(item) for item in value.tolist()]
    if value is None or value is pd.NaT or value is pd.NA:
        return None
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, pd.Timestamp | dt.datetime | dt.date):
        return value.isoformat()
    return str(value)


def show(value: Any) -> str:
    """A value as a person reads it in a message: 1 not 1.0, text quoted."""
    value = jsonable(value)
    if value is None:
        return "missing"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e15:
            return str(int(value))
        return f"{value:.6g}"
    if isinstance(value, int):
        return str(value)
    return repr(value)


def plural(count: int, word: str, many: str | None = None) -> str:
    """'1 row', '3 rows'."""
    return f"{count} {word if count == 1 else (many or word + 's')}"


@dataclass(frozen=True)
class Finding:
    """One thing the audit noticed about the data.

    `kind` is one of the charter schema's FINDING_KINDS (a charter can make any kind
    blocking), `severity` says how much it matters, `column` names the column it is about
    (None for the whole table), `message` is a sentence for a data scientist and `details`
    holds the numbers behind it (plain JSON data).
    """

    kind: FindingKind
    severity: Severity
    column: str | None
    message: str
    details: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.kind not in FINDING_KINDS:
            raise ValueError(
                f"The kind of a finding must be one of {', '.join(FINDING_KINDS)}. "
                f"Got {self.kind!r} instead."
            )
        if self.severity not in SEVERITIES:
            raise ValueError(
                f"The severity of a finding must be info, warning or error. "
                f"Got {self.severity!r} instead."
            )

    def to_dict(self) -> dict[str, Any]:
        """The finding as JSON data.

        Shape: {"kind": str, "severity": "info"|"warning"|"error", "column": str | None,
        "message": str, "details": {str: JSON}}.
        """
        return {
            "kind": self.kind,
            "severity": self.severity,
            "column": self.column,
            "message": self.message,
            "details": jsonable(self.details),
        }
