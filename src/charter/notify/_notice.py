"""What is sent (`Notice`) and what became of each sending (`Delivery`)."""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from types import MappingProxyType
from typing import Any, Literal, get_args

from charter.notify._errors import NotifyError

NoticeKind = Literal[
    "incident.opened", "incident.resolved", "retrain.promoted", "retrain.refused", "test"
]
NOTICE_KINDS: tuple[str, ...] = get_args(NoticeKind)
FieldValue = str | int | float | bool | None

#: Receivers that keep notices may check this to know which shape they read.
NOTICE_SCHEMA = "charter.notice/1"

# A key names one event for once-only delivery; it travels in file lines and ledger rows,
# so it stays short, printable and free of spaces.
_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:\-]{0,199}$")


def _must(field_name: str, constraint: str, value: Any) -> NotifyError:
    return NotifyError(
        f"The '{field_name}' of a notice must be {constraint}. Got {value!r} instead."
    )


def _one_line(field_name: str, value: Any) -> str:
    if not isinstance(value, str) or not value.strip() or "\n" in value or "\r" in value:
        raise _must(field_name, "one non-empty line of text", value)
    return value


def _fact(name: Any, value: Any) -> FieldValue:
    if not isinstance(name, str) or not name.strip():
        raise _must("fields", "a mapping with non-empty text names", name)
    if value is not None and not isinstance(value, str | int | float | bool):
        raise _must(f"fields.{name}", "text, a number, true/false or null", value)
    if isinstance(value, float) and not math.isfinite(value):
        # JSON has no NaN or infinity: a receiver would read null and not know why.
        raise _must(f"fields.{name}", "a finite number", value)
    return value


@dataclass(frozen=True, kw_only=True)
class Notice:
    """One event worth telling the stakeholders about, in words and in short facts.

    `key` names the event, not the sending (e.g. "incident-12-opened"): the same event
    always gets the same key, so a caller can deliver it once only per stakeholder.
    `time` must be timezone-aware; `fields` holds scalars (KPI, value, threshold, window,
    model version, ...) and is read-only once the notice exists.
    """

    project: str
    kind: NoticeKind
    key: str
    title: str
    time: datetime
    text: str = ""
    fields: Mapping[str, FieldValue] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _one_line("project", self.project)
        if self.kind not in NOTICE_KINDS:
            raise _must("kind", f"one of {', '.join(NOTICE_KINDS)}", self.kind)
        if not isinstance(self.key, str) or not _KEY.match(self.key):
            raise _must("key", "1-200 letters, digits, '_', '.', ':' or '-'", self.key)
        _one_line("title", self.title)
        if not isinstance(self.text, str):
            raise _must("text", "text", self.text)
        if not isinstance(self.time, datetime) or self.time.utcoffset() is None:
            raise _must("time", "a timezone-aware datetime", self.time)
        if not isinstance(self.fields, Mapping):
            raise _must("fields", "a mapping of names to values", self.fields)
        facts = {name: _fact(name, value) for name, value in self.fields.items()}
        object.__setattr__(self, "fields", MappingProxyType(facts))

    @property
    def utc_time(self) -> str:
        """The time in UTC to the second, as "2026-01-31T07:30:00Z"."""
        return self.time.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")

    def as_dict(self) -> dict[str, Any]:
        """The notice as plain JSON-able values: the webhook body and the file line."""
        return {
            "schema": NOTICE_SCHEMA,
            "key": self.key,
            "project": self.project,
            "kind": self.kind,
            "title": self.title,
            "text": self.text,
            "fields": dict(self.fields),
            "time": self.time.isoformat(),
        }


@dataclass(frozen=True)
class Delivery:
    """What became of one notice for one stakeholder.

    `attempts` is 0 when nothing could be tried (e.g. the webhook's environment variable is
    not set); `error` is the last failure, `status_code` the last HTTP status (HTTP channels
    only); `duration_ms` covers every attempt and the waits between them.
    """

    stakeholder: str
    channel: str
    key: str
    delivered: bool
    attempts: int
    error: str | None
    status_code: int | None
    duration_ms: float

    def as_dict(self) -> dict[str, Any]:
        """The delivery as plain JSON-able values, e.g. for a ledger event."""
        return dataclasses.asdict(self)
