"""Notice and Delivery: what is sent is checked when made, and serialises to plain JSON."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from typing import Any

import orjson
import pytest

from charter.notify import NOTICE_KINDS, NOTICE_SCHEMA, Delivery, NotifyError

from .conftest import MakeNotice


@pytest.mark.parametrize("kind", NOTICE_KINDS)
def test_every_kind_makes_a_notice(make_notice: MakeNotice, kind: str) -> None:
    assert make_notice(kind=kind).kind == kind


def test_as_dict_is_plain_json_with_the_schema_and_an_aware_time(make_notice: MakeNotice) -> None:
    paris = timezone(timedelta(hours=1))
    notice = make_notice(time=datetime(2026, 1, 31, 8, 30, tzinfo=paris))
    record = json.loads(orjson.dumps(notice.as_dict()))
    assert record == {
        "schema": NOTICE_SCHEMA,
        "key": "incident-12-opened",
        "project": "telco-churn",
        "kind": "incident.opened",
        "title": "AUC fell below its threshold",
        "text": notice.text,
        "fields": {"KPI": "auc", "value": 0.7612, "threshold": ">= 0.80", "window": "1h"},
        "time": "2026-01-31T08:30:00+01:00",
    }
    assert datetime.fromisoformat(record["time"]) == notice.time
    assert notice.utc_time == "2026-01-31T07:30:00Z"


def test_fields_are_copied_and_read_only(make_notice: MakeNotice) -> None:
    facts: dict[str, Any] = {"KPI": "auc"}
    notice = make_notice(fields=facts)
    facts["KPI"] = "changed"
    assert notice.fields["KPI"] == "auc"
    with pytest.raises(TypeError):
        notice.fields["KPI"] = "x"  # type: ignore[index]


def test_a_notice_is_frozen(make_notice: MakeNotice) -> None:
    notice = make_notice()
    with pytest.raises(AttributeError):
        notice.title = "other"  # type: ignore[misc]


def test_huge_text_and_values_are_kept_whole(make_notice: MakeNotice) -> None:
    text = "x" * 1_000_000
    notice = make_notice(text=text, fields={"rows": 10**18, "big": 1e308, "note": text})
    record = orjson.loads(orjson.dumps(notice.as_dict()))
    assert record["text"] == text
    assert record["fields"] == {"rows": 10**18, "big": 1e308, "note": text}


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"kind": "incident.exploded"}, r"The 'kind' of a notice must be one of incident\.opened"),
        ({"kind": None}, r"'kind' .* Got None instead"),
        ({"key": ""}, r"The 'key' of a notice must be 1-200 letters"),
        ({"key": "incident 12"}, r"'key' .* Got 'incident 12' instead"),
        ({"key": "k" * 201}, r"'key' of a notice"),
        ({"key": 12}, r"'key' .* Got 12 instead"),
        ({"title": ""}, r"The 'title' of a notice must be one non-empty line of text"),
        ({"title": "two\nlines"}, r"'title' .* Got 'two\\nlines' instead"),
        ({"title": "carriage\rreturn"}, r"'title' of a notice"),
        ({"title": None}, r"'title' .* Got None instead"),
        ({"project": "  "}, r"The 'project' of a notice must be one non-empty line"),
        ({"text": None}, r"The 'text' of a notice must be text\. Got None instead"),
        ({"time": datetime(2026, 1, 31, 7, 30)}, r"'time' of a notice must be a timezone-aware"),
        ({"time": "2026-01-31T07:30:00Z"}, r"'time' .* Got '2026-01-31T07:30:00Z' instead"),
        ({"fields": [("KPI", "auc")]}, r"'fields' of a notice must be a mapping"),
        ({"fields": {"": 1}}, r"'fields' of a notice must be a mapping with non-empty text names"),
        ({"fields": {1: 1}}, r"'fields' .* Got 1 instead"),
        ({"fields": {"list": [1, 2]}}, r"'fields\.list' of a notice must be text, a number"),
        ({"fields": {"map": {"a": 1}}}, r"'fields\.map' .* Got \{'a': 1\} instead"),
        ({"fields": {"nan": float("nan")}}, r"'fields\.nan' of a notice must be a finite number"),
        ({"fields": {"inf": float("inf")}}, r"'fields\.inf' .* Got inf instead"),
    ],
)
def test_a_malformed_notice_is_refused_clearly(
    make_notice: MakeNotice, overrides: dict[str, Any], message: str
) -> None:
    with pytest.raises(NotifyError, match=message):
        make_notice(**overrides)


def test_a_delivery_serialises_to_plain_json() -> None:
    delivery = Delivery(
        stakeholder="ML on-call",
        channel="webhook",
        key="incident-12-opened",
        delivered=False,
        attempts=3,
        error="The endpoint answered HTTP 500 Internal Server Error.",
        status_code=500,
        duration_ms=12.5,
    )
    assert json.loads(orjson.dumps(delivery.as_dict())) == {
        "stakeholder": "ML on-call",
        "channel": "webhook",
        "key": "incident-12-opened",
        "delivered": False,
        "attempts": 3,
        "error": "The endpoint answered HTTP 500 Internal Server Error.",
        "status_code": 500,
        "duration_ms": 12.5,
    }
