"""The request validator: every fault named, only RequestRejected escapes, coercion as training."""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from charter.serving._requests import (
    RecordValidator,
    RequestRejected,
    check_label,
    compile_validator,
    parse_json,
)
from charter.spec import load_charter
from charter.spec.schema import Charter, Column
from tests.conftest import EXAMPLES

RECORD: dict[str, Any] = {
    "gender": "Male",
    "SeniorCitizen": 0,
    "Partner": "No",
    "Dependents": "No",
    "tenure": 34,
    "PhoneService": "Yes",
    "MultipleLines": "No",
    "InternetService": "DSL",
    "OnlineSecurity": "Yes",
    "OnlineBackup": "No",
    "DeviceProtection": "Yes",
    "TechSupport": "No",
    "StreamingTV": "No",
    "StreamingMovies": "No",
    "Contract": "One year",
    "PaperlessBilling": "No",
    "PaymentMethod": "Mailed check",
    "MonthlyCharges": 56.95,
    "TotalCharges": 1889.5,
}


@pytest.fixture(scope="module")
def charter() -> Charter:
    return load_charter(EXAMPLES / "telco-churn" / "charter.yaml").charter


def with_serve(charter: Charter, **serve: Any) -> Charter:
    return charter.model_copy(update={"serve": charter.serve.model_copy(update=serve)})


def with_columns(charter: Charter, **columns: Column) -> Charter:
    contract = {**charter.data.contract, **columns}
    return charter.model_copy(
        update={"data": charter.data.model_copy(update={"contract": contract})}
    )


@pytest.fixture(scope="module")
def validator(charter: Charter) -> RecordValidator:
    return compile_validator(charter)


def faults(validator: RecordValidator, payload: Any) -> list[tuple[list[Any], str]]:
    with pytest.raises(RequestRejected) as caught:
        validator.validate(payload)
    assert caught.value.status == 422
    return [(error.as_dict()["loc"], error.type) for error in caught.value.errors]


def test_a_valid_record_is_coerced_as_training_typed_it(validator: RecordValidator) -> None:
    batch = validator.validate({**RECORD, "tenure": 34.0, "TotalCharges": " "})
    (record,) = batch.records
    assert batch.single
    assert record["tenure"] == 34
    assert isinstance(record["tenure"], int)
    assert record["MonthlyCharges"] == 56.95
    assert record["TotalCharges"] is None  # the contract's missing marker
    assert record["Contract"] == "One year"
    assert list(record) == validator.features
    assert "customerID" not in validator.features
    assert "Churn" not in validator.features


def test_every_fault_of_every_record_is_named_at_once(validator: RecordValidator) -> None:
    bad = {**RECORD, "tenure": "34", "MonthlyCharges": -1, "Contract": "Weekly", "gender": None}
    del bad["Partner"]
    bad["Colour"] = "red"
    found = faults(validator, [RECORD, bad])
    assert found == [
        ([1, "gender"], "null_not_allowed"),
        ([1, "Partner"], "missing"),
        ([1, "tenure"], "int_type"),
        ([1, "Contract"], "not_allowed"),
        ([1, "MonthlyCharges"], "out_of_range"),
        ([1, "Colour"], "extra_forbidden"),
    ]


@pytest.mark.parametrize(
    ("field", "value", "kind"),
    [
        ("tenure", 73, "out_of_range"),
        ("tenure", 1.5, "int_type"),
        ("tenure", 10**30, "int_range"),
        ("tenure", True, "int_type"),
        ("tenure", {"nested": 1}, "int_type"),
        ("tenure", [1], "int_type"),
        ("MonthlyCharges", "56.95", "float_type"),
        ("MonthlyCharges", -0.01, "out_of_range"),
        ("SeniorCitizen", 2, "out_of_range"),
        ("Contract", 3, "string_type"),
        ("Contract", {"a": "b"}, "string_type"),
        ("Contract", "", "null_not_allowed"),
        ("PaymentMethod", "Bitcoin", "not_allowed"),
    ],
)
def test_a_value_that_breaks_the_contract_is_refused(
    validator: RecordValidator, field: str, value: Any, kind: str
) -> None:
    assert faults(validator, {**RECORD, field: value}) == [([0, field], kind)]


def test_the_message_follows_the_project_shape(validator: RecordValidator) -> None:
    with pytest.raises(
        RequestRejected,
        match=r"The 'tenure' of record 0 must be an integer from 0 to 72\. Got 99 instead\.",
    ):
        validator.validate({**RECORD, "tenure": 99})


@pytest.mark.parametrize(
    ("payload", "kind"),
    [(3, "body_type"), ("text", "body_type"), (None, "body_type"), ([], "empty_batch")],
)
def test_a_body_that_is_not_records_is_refused(
    validator: RecordValidator, payload: Any, kind: str
) -> None:
    assert faults(validator, payload) == [(["body"], kind)]


def test_items_that_are_not_objects_are_named_by_index(validator: RecordValidator) -> None:
    assert faults(validator, [RECORD, 3, "x", None]) == [
        ([1], "record_type"),
        ([2], "record_type"),
        ([3], "record_type"),
    ]


@pytest.mark.parametrize(
    "body",
    [b"", b"   ", b"{", b"NaN", b'{"tenure": Infinity}', b"[1e400]", b"\xff\xfe", b"{'a': 1}"],
)
def test_bodies_that_are_not_json_are_refused(body: bytes) -> None:
    with pytest.raises(RequestRejected, match=r"must be") as caught:
        parse_json(body)
    assert caught.value.status == 422
    assert caught.value.errors[0].type == "json_invalid"


def test_a_batch_over_max_batch_is_too_large(charter: Charter) -> None:
    small = compile_validator(with_serve(charter, max_batch=3))
    small.validate([RECORD] * 3)
    with pytest.raises(RequestRejected, match=r"at most 3 records") as caught:
        small.validate([RECORD] * 4)
    assert caught.value.status == 413


def test_extra_fields_are_dropped_when_the_charter_says_ignore(charter: Charter) -> None:
    lenient = compile_validator(with_serve(charter, extra_fields="ignore"))
    batch = lenient.validate({**RECORD, "Colour": "red"})
    assert "Colour" not in batch.records[0]
    assert "Colour" not in batch.inputs[0]


def test_the_id_is_echoed_and_logged_but_never_a_feature(validator: RecordValidator) -> None:
    batch = validator.validate([{**RECORD, "customerID": "5575-GNVDE", "Churn": "No"}, RECORD])
    assert batch.ids == ["5575-GNVDE", None]
    assert "customerID" not in batch.records[0]
    assert batch.inputs[0]["customerID"] == "5575-GNVDE"
    assert "Churn" not in batch.inputs[0]
    assert faults(validator, {**RECORD, "customerID": "not-an-id"}) == [
        ([0, "customerID"], "pattern_mismatch")
    ]


def test_unseen_categories_follow_the_charter(charter: Charter) -> None:
    open_payment = with_columns(charter, PaymentMethod=Column(type="category"))
    known = {"PaymentMethod": {"Electronic check", "Mailed check"}}
    accept = compile_validator(open_payment, known_categories=known)
    assert (
        accept.validate({**RECORD, "PaymentMethod": "Bitcoin"}).records[0]["PaymentMethod"]
        == "Bitcoin"
    )
    refuse = compile_validator(
        with_serve(open_payment, unseen_categories="refuse"), known_categories=known
    )
    assert faults(refuse, {**RECORD, "PaymentMethod": "Bitcoin"}) == [
        ([0, "PaymentMethod"], "unseen_category")
    ]
    refuse.validate({**RECORD, "PaymentMethod": "Mailed check"})
    # Outside the contract's values is refused whatever the policy.
    assert faults(compile_validator(charter), {**RECORD, "Contract": "Weekly"}) == [
        ([0, "Contract"], "not_allowed")
    ]


def test_bool_and_datetime_columns(charter: Charter) -> None:
    typed = with_columns(
        charter,
        Promo=Column(type="bool"),
        Joined=Column(type="datetime", nullable=True),
    )
    features = [*RECORD, "Promo", "Joined"]
    validator = compile_validator(typed, features)
    batch = validator.validate(
        [
            {**RECORD, "Promo": True, "Joined": "2024-03-01T10:00:00Z"},
            {**RECORD, "Promo": "no", "Joined": "2024-03-01"},
            {**RECORD, "Promo": 1, "Joined": None},
        ]
    )
    assert [r["Promo"] for r in batch.records] == ["1", "0", "1"]
    assert batch.records[0]["Joined"] == "2024-03-01T10:00:00Z"
    assert faults(validator, {**RECORD, "Promo": "maybe", "Joined": "yesterday"}) == [
        ([0, "Promo"], "bool_type"),
        ([0, "Joined"], "datetime_type"),
    ]


def test_rows_and_csv_follow_the_feature_order(validator: RecordValidator) -> None:
    row = [RECORD[name] for name in validator.features]
    assert validator.validate_records([row]).records[0] == validator.validate(RECORD).records[0]
    line = ",".join(str(RECORD[name]) for name in validator.features)
    parsed = validator.parse_csv(line + "\n" + line.replace("1889.5", "") + "\n")
    batch = validator.validate_records(parsed)
    assert batch.records[0] == validator.validate(RECORD).records[0]
    assert batch.records[1]["TotalCharges"] is None
    with pytest.raises(RequestRejected, match=r"must hold 19 cells"):
        validator.parse_csv("a,b\n")
    with pytest.raises(RequestRejected, match=r"must hold 19 values"):
        validator.validate_records([[1, 2]])


def test_labels_are_the_targets_classes() -> None:
    assert check_label("Yes", "binary_classification", ("No", "Yes"), (0, "label")) == "Yes"
    assert check_label(1.0, "multiclass_classification", (0, 1, 2), (0, "label")) == 1
    assert check_label(2, "regression", (), (0, "label")) == 2.0
    with pytest.raises(RequestRejected, match=r"must be one of the target's classes"):
        check_label("Maybe", "binary_classification", ("No", "Yes"), (0, "label"))
    with pytest.raises(RequestRejected, match=r"must be a finite number"):
        check_label("1", "regression", (), (0, "label"))


def test_the_record_schema_describes_the_contract(validator: RecordValidator) -> None:
    schema = validator.record_schema()
    assert schema["additionalProperties"] is False
    assert "TotalCharges" not in schema["required"]
    assert "tenure" in schema["required"]
    assert schema["properties"]["tenure"] == {"type": "integer", "minimum": 0, "maximum": 72}
    assert schema["properties"]["Contract"] == {"enum": ["Month-to-month", "One year", "Two year"]}
    described = validator.describe()
    assert described["fields"]["TotalCharges"]["nullable"] is True
    assert described["csv_columns"] == validator.features


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(payload=JSON, field=st.sampled_from(sorted(RECORD)), value=JSON)
def test_nothing_but_a_rejection_ever_escapes(
    validator: RecordValidator, payload: Any, field: str, value: Any
) -> None:
    for candidate in (payload, {**RECORD, field: value}, [{**RECORD, field: value}]):
        try:
            batch = validator.validate(candidate)
        except RequestRejected as rejected:
            errors = rejected.errors
            assert errors
            continue
        for record in batch.records:
            for item in record.values():
                assert item is None or isinstance(item, str | int | float)
                assert not (isinstance(item, float) and not math.isfinite(item))
