"""The compiled predictor: parity with the model, records in, explanations, bytes."""

from __future__ import annotations

import functools
import json
import math
import time
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from charter import serving
from charter.errors import CharterError
from charter.serving import (
    BIAS,
    PARITY_TOLERANCE,
    ParityReport,
    Predictor,
    PredictorFormatError,
    ServingError,
    compile_predictor,
)
from charter.serving._fastpath import (
    UnsupportedPipeline,
    category_key,
    keys_of,
    number,
    numbers_of,
    read_encoder,
)
from charter.serving._predictor import MAGIC
from tests.serving.conftest import CASES, FAST_KINDS, Case, case

LIGHTGBM_CASES = [name for name in CASES if name.endswith("-lightgbm")]
LATENCY_CASES = (
    "telco-logistic_regression",
    "telco-lightgbm",
    "telco-random_forest",
    "telco-hist_gradient_boosting",
    "multiclass-lightgbm",
    "regression-linear_regression",
)
DENSE_CASES = [
    name
    for name in CASES
    if name.split("-", 1)[1] in ("logistic_regression", "linear_regression", "random_forest")
]


@functools.cache
def compiled(name: str) -> Predictor:
    """The auto-compiled predictor of a case, once per session."""
    found = case(name)
    return compile_predictor(found.model, holdout=found.holdout)


def records_of(frame: pd.DataFrame, features: tuple[str, ...]) -> list[dict[str, Any]]:
    return frame.loc[:, list(features)].to_dict("records")


def assert_same_predictions(found: Case, frame: pd.DataFrame, batches: list[Any]) -> None:
    """Labels equal the model's; probabilities (or values) within the parity tolerance."""
    labels = [label for batch in batches for label in batch.labels]
    model = found.model
    if model.task == "regression":
        values = np.array([value for batch in batches for value in batch.values])
        expected = model.predict(frame)
        np.testing.assert_allclose(values, expected, rtol=PARITY_TOLERANCE, atol=PARITY_TOLERANCE)
        assert labels == values.tolist()
        return
    assert labels == list(model.predict(frame))
    probabilities = np.array([row for batch in batches for row in batch.probabilities])
    np.testing.assert_allclose(
        probabilities, model.predict_proba(frame), rtol=0, atol=PARITY_TOLERANCE
    )


def test_the_public_names_are_exported_once_and_sorted() -> None:
    mine = {
        "BIAS",
        "PARITY_ROWS",
        "PARITY_TOLERANCE",
        "PREDICTOR_FORMAT_VERSION",
        "ContractCheck",
        "FrameScores",
        "ModelLike",
        "ParityReport",
        "PathCheck",
        "PredictionBatch",
        "Predictor",
        "PredictorFormatError",
        "ScoreProgress",
        "ScoreSummary",
        "ServingError",
        "compile_predictor",
        "score_file",
    }
    assert mine <= set(serving.__all__)
    assert len(set(serving.__all__)) == len(serving.__all__)
    assert all(getattr(serving, name) is not None for name in serving.__all__)


# --- parity and the path served ----------------------------------------------------------


def test_each_model_is_served_on_a_path_that_matches_it(any_case: Case) -> None:
    predictor = compiled(any_case.name)
    parity = predictor.parity
    assert predictor.kind in FAST_KINDS[any_case.name]
    assert parity.kind == predictor.kind
    assert parity.rows > min(len(any_case.holdout), 2000)  # holdout rows plus probes
    if predictor.kind == "native":
        assert parity.passed is False
        assert "skl2onnx cannot convert HistGradientBoostingClassifier" in parity.reason
        assert "no hand-written kernel for HistGradientBoostingClassifier" in parity.reason
        return
    assert parity.passed is True
    assert parity.reason.startswith(f"Serving {predictor.kind}: it matches the native model")
    if any_case.model.task == "regression":
        assert parity.max_rel_diff is not None
        assert parity.max_rel_diff <= PARITY_TOLERANCE
    else:
        assert parity.max_abs_diff is not None
        assert parity.max_abs_diff <= PARITY_TOLERANCE
        assert parity.same_class is True
    served = next(check for check in parity.tried if check.kind == predictor.kind)
    assert served.passed
    assert served.seconds_per_row is not None


def test_predictions_match_the_model_record_by_record(any_case: Case) -> None:
    predictor = compiled(any_case.name)
    # The native path costs milliseconds a record: fewer rows prove the same there.
    rows = 50 if predictor.kind == "native" else 500
    frame = any_case.holdout.iloc[:rows]
    records = records_of(frame, predictor.features)
    assert_same_predictions(any_case, frame, [predictor.predict_records([r]) for r in records])
    assert_same_predictions(any_case, frame, [predictor.predict_records(records)])


def test_binary_labels_use_the_model_threshold() -> None:
    found = case("telco-logistic_regression")
    predictor = compiled(found.name)
    assert found.model.threshold is not None
    assert found.model.threshold != 0.5
    batch = predictor.predict_records(records_of(found.holdout, predictor.features))
    positive = np.array(batch.probabilities)[:, 1]
    expected = np.where(positive >= found.model.threshold, "Yes", "No")
    assert batch.labels == expected.tolist()
    assert (np.array(batch.labels)[positive < 0.5] == "Yes").any()


def test_unseen_categories_missing_values_and_absent_keys_match_the_model(any_case: Case) -> None:
    predictor = compiled(any_case.name)
    model = any_case.model
    records = records_of(any_case.holdout.iloc[:24], predictor.features)
    for i, record in enumerate(records):
        for name in predictor.features:
            kind = model.kinds[name]
            if kind == "categorical" and i % 3 == 0:
                record[name] = f"never seen {i}"
            elif i % 3 == 1:
                record[name] = None
            elif kind == "numeric" and i % 6 == 2:
                del record[name]
    frame = pd.DataFrame([{name: r.get(name) for name in predictor.features} for r in records])
    assert_same_predictions(any_case, frame, [predictor.predict_records([r]) for r in records])


def test_datetimes_may_come_as_iso_text() -> None:
    found = case("mixed-lightgbm")
    predictor = compiled(found.name)
    frame = found.holdout.iloc[:50]
    records = records_of(frame, predictor.features)
    for record in records:
        record["when"] = record["when"].isoformat()
    assert_same_predictions(found, frame, [predictor.predict_records(records)])


def test_frames_score_like_records(any_case: Case) -> None:
    predictor = compiled(any_case.name)
    frame = any_case.holdout.iloc[:300]
    scores = predictor.score_frame(frame)
    batch = predictor.predict_records(records_of(frame, predictor.features))
    assert scores.labels.tolist() == batch.labels
    if scores.probabilities is not None:
        np.testing.assert_allclose(scores.probabilities, batch.probabilities, rtol=0, atol=1e-12)
    else:
        np.testing.assert_allclose(scores.values, batch.values, rtol=1e-12)


def test_prefer_orders_the_paths() -> None:
    linear = case("telco-logistic_regression")
    assert compile_predictor(linear.model, holdout=linear.holdout, prefer="onnx").kind == "onnx"
    assert compile_predictor(linear.model, holdout=linear.holdout, prefer="fast").kind == "linear"
    native = compile_predictor(linear.model, holdout=linear.holdout, prefer="native")
    assert native.kind == "native"
    assert native.parity.passed is False
    assert "native was asked for" in native.parity.reason
    trees = case("telco-lightgbm")
    assert compile_predictor(trees.model, holdout=trees.holdout, prefer="onnx").kind == "onnx"
    assert compile_predictor(trees.model, holdout=trees.holdout, prefer="fast").kind == "lightgbm"


def test_auto_serves_the_fastest_path_that_passes() -> None:
    predictor = compiled("telco-lightgbm")
    timed = {c.kind: c.seconds_per_row for c in predictor.parity.tried if c.passed}
    assert set(timed) == {"onnx", "lightgbm", "native"}
    assert all(seconds is not None and seconds > 0 for seconds in timed.values())
    assert predictor.kind in ("onnx", "lightgbm")


class _Shifted:
    """A model whose probabilities are nudged away from what its pipeline computes."""

    def __init__(self, model: Any, shift: float) -> None:
        self.inner = model
        self.shift = shift
        for name in ("task", "classes", "features", "kinds", "threshold", "pipeline"):
            setattr(self, name, getattr(model, name))

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        proba = self.inner.predict_proba(frame)
        return np.column_stack([proba[:, 0] - self.shift, proba[:, 1] + self.shift])

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        return np.asarray(self.inner.predict(frame))


def test_a_fast_path_that_disagrees_with_the_model_is_not_served() -> None:
    found = case("telco-logistic_regression")
    shifted = _Shifted(found.model, 1e-3)
    predictor = compile_predictor(shifted, holdout=found.holdout)
    assert predictor.kind == "native"
    assert predictor.parity.passed is False
    assert "Serving natively" in predictor.parity.reason
    assert "largest difference of probabilities is 1.0e-03, above 1e-05" in predictor.parity.reason
    rejected = {c.kind: c for c in predictor.parity.tried if not c.passed}
    assert set(rejected) == {"onnx", "linear"}
    batch = predictor.predict_records(records_of(found.holdout.iloc[:5], predictor.features))
    np.testing.assert_allclose(batch.probabilities, shifted.predict_proba(found.holdout.iloc[:5]))


def test_without_a_holdout_the_model_serves_natively() -> None:
    found = case("regression-lightgbm")
    for holdout in (None, found.holdout.iloc[:0]):
        predictor = compile_predictor(found.model, holdout=holdout)
        assert predictor.kind == "native"
        assert "no holdout rows" in predictor.parity.reason
    frame = found.holdout.iloc[:20]
    assert_same_predictions(
        found, frame, [predictor.predict_records(records_of(frame, predictor.features))]
    )


def test_bad_arguments_are_refused_clearly() -> None:
    found = case("regression-linear_regression")
    with pytest.raises(
        ServingError, match="'prefer' of compile_predictor must be one of auto, onnx"
    ):
        compile_predictor(found.model, holdout=found.holdout, prefer="gpu")  # type: ignore[arg-type]
    with pytest.raises(ServingError, match=r"must have the feature columns .* without 'x2'"):
        compile_predictor(found.model, holdout=found.holdout.drop(columns=["x2"]))
    predictor = compiled(found.name)
    with pytest.raises(
        ServingError, match=r"must be a mapping of column name to value\. Got a list"
    ):
        predictor.predict_records([["x1", 1.0]])  # type: ignore[list-item]
    with pytest.raises(ServingError, match="without 'color'"):
        predictor.score_frame(found.holdout.drop(columns=["color"]))
    assert issubclass(ServingError, CharterError)


def test_an_empty_batch_gives_empty_predictions() -> None:
    for name in ("telco-lightgbm", "regression-linear_regression"):
        predictor = compiled(name)
        batch = predictor.predict_records([])
        assert batch.labels == []
        assert predictor.explain_records([]) in ([], None)


# --- explanations ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", LIGHTGBM_CASES)
def test_explanations_add_up_to_the_raw_score(name: str) -> None:
    found = case(name)
    predictor = compiled(name)
    frame = found.holdout.iloc[:100]
    explained = predictor.explain_records(records_of(frame, predictor.features))
    assert explained is not None
    assert predictor.explainable
    assert list(explained[0]) == [*found.model.features, BIAS]
    totals = np.array([sum(item.values()) for item in explained])
    raw = np.asarray(found.model.estimator.predict(found.model.prepared(frame), raw_score=True))
    if found.model.task == "multiclass_classification":
        chosen = found.model.predict_proba(frame).argmax(axis=1)
        raw = raw[np.arange(len(frame)), chosen]
    np.testing.assert_allclose(totals, raw, rtol=0, atol=1e-9)


@pytest.mark.parametrize("name", ["mixed-lightgbm", "multiclass-lightgbm"])
def test_a_native_lightgbm_predictor_explains_too(name: str) -> None:
    found = case(name)
    records = records_of(found.holdout.iloc[:30], found.model.features)
    native = compile_predictor(found.model, holdout=None)
    assert native.kind == "native"
    assert native.explainable
    fast = compiled(name).explain_records(records)
    slow = native.explain_records(records)
    assert fast is not None
    assert slow is not None
    for left, right in zip(fast, slow, strict=True):
        assert left.keys() == right.keys()
        np.testing.assert_allclose(list(left.values()), list(right.values()), atol=1e-9)


@pytest.mark.parametrize(
    "name", ["telco-logistic_regression", "telco-random_forest", "telco-hist_gradient_boosting"]
)
def test_models_without_contributions_explain_nothing(name: str) -> None:
    predictor = compiled(name)
    assert not predictor.explainable
    assert (
        predictor.explain_records(records_of(case(name).holdout.iloc[:3], predictor.features))
        is None
    )


# --- bytes ----------------------------------------------------------------------------------


def test_a_predictor_survives_its_bytes(any_case: Case) -> None:
    predictor = compiled(any_case.name)
    data = predictor.to_bytes()
    assert data.startswith(MAGIC)
    header = json.loads(data[len(MAGIC) : data.index(b"\n", len(MAGIC))])
    assert header["format"] == 1
    assert header["kind"] == predictor.kind
    loaded = Predictor.from_bytes(data, any_case.model)
    assert (loaded.kind, loaded.task, loaded.classes) == (
        predictor.kind,
        predictor.task,
        predictor.classes,
    )
    assert loaded.parity == predictor.parity
    assert loaded.describe() == predictor.describe()
    records = records_of(any_case.holdout.iloc[:60], predictor.features)
    assert loaded.predict_records(records) == predictor.predict_records(records)
    assert loaded.explain_records(records) == predictor.explain_records(records)
    if predictor.kind != "native":
        # Without its model, a predictor decides rows at the threshold on its fast path.
        alone = Predictor.from_bytes(data).predict_records(records)
        served = predictor.predict_records(records)
        if predictor.task == "regression":
            assert alone == served
            return
        np.testing.assert_allclose(alone.probabilities, served.probabilities, atol=PARITY_TOLERANCE)
        threshold = any_case.model.threshold or 0.5
        clear = [
            i
            for i, row in enumerate(served.probabilities)
            if predictor.task != "binary_classification" or abs(row[1] - threshold) > 1e-5
        ]
        assert [alone.labels[i] for i in clear] == [served.labels[i] for i in clear]


def test_a_native_predictor_needs_its_model_to_load() -> None:
    found = case("telco-hist_gradient_boosting")
    data = compiled(found.name).to_bytes()
    with pytest.raises(
        PredictorFormatError, match=r"'model' of Predictor\.from_bytes must be given"
    ):
        Predictor.from_bytes(data)
    other = case("regression-linear_regression").model
    with pytest.raises(
        PredictorFormatError, match="must be the one the predictor was compiled from"
    ):
        Predictor.from_bytes(data, other)


def test_other_bytes_are_refused() -> None:
    data = compiled("regression-linear_regression").to_bytes()
    with pytest.raises(PredictorFormatError, match="must be a charter predictor, starting with"):
        Predictor.from_bytes(b"CHARTER-MODEL\n{}\n")
    with pytest.raises(PredictorFormatError, match="header line of a charter predictor must be"):
        Predictor.from_bytes(MAGIC + b"not json\n")
    newer = data.replace(b'"format": 1', b'"format": 2', 1)
    with pytest.raises(PredictorFormatError, match=r"format version must be 1.*Got 2 instead"):
        Predictor.from_bytes(newer)
    with pytest.raises(PredictorFormatError, match="sections must fill its bytes exactly"):
        Predictor.from_bytes(data[:-10])


def test_the_parity_report_is_plain_data() -> None:
    parity = compiled("telco-lightgbm").parity
    data = json.loads(json.dumps(parity.to_dict()))
    assert ParityReport.from_dict(data) == parity
    assert {check["kind"] for check in data["tried"]} >= {"onnx", "lightgbm", "native"}


# --- the encoder ----------------------------------------------------------------------------


@pytest.mark.parametrize("name", DENSE_CASES)
def test_the_dense_encoder_reproduces_the_pipeline(name: str) -> None:
    found = case(name)
    model = found.model
    encoder = read_encoder(model.pipeline, model.features, model.kinds)
    frame = found.holdout.iloc[:400]
    expected = np.asarray(model.prepared(frame), dtype=np.float64)
    np.testing.assert_array_equal(encoder.encode_frame(frame), expected)
    np.testing.assert_array_equal(
        encoder.encode_records(records_of(frame, model.features)), expected
    )
    assert len(encoder.sources) == encoder.width == expected.shape[1]


@pytest.mark.parametrize("name", LIGHTGBM_CASES)
def test_the_native_encoder_gives_lightgbm_its_category_codes(name: str) -> None:
    found = case(name)
    model = found.model
    encoder = read_encoder(model.pipeline, model.features, model.kinds)
    frame = found.holdout.iloc[:400]
    prepared = model.prepared(frame)
    expected = np.column_stack([_as_numbers(prepared[column]) for column in prepared.columns])
    np.testing.assert_array_equal(encoder.encode_frame(frame), expected)
    np.testing.assert_array_equal(
        encoder.encode_records(records_of(frame, model.features)), expected
    )


def _as_numbers(column: pd.Series) -> np.ndarray:
    """A prepared column as LightGBM reads it: category codes as numbers, NaN for none."""
    if not isinstance(column.dtype, pd.CategoricalDtype):
        return column.to_numpy(dtype=np.float64)
    codes = column.cat.codes.to_numpy().astype(np.float64)
    codes[codes < 0] = np.nan
    return codes


def test_a_pipeline_of_another_shape_is_named() -> None:
    with pytest.raises(UnsupportedPipeline, match="not charter's prep, encoder, estimator"):
        read_encoder(object(), ("x",), {"x": "numeric"})


@given(
    st.lists(
        st.one_of(
            st.none(),
            st.integers(-(2**60), 2**60).map(float),
            st.floats(allow_nan=True, allow_infinity=True),
        ),
        max_size=20,
    )
)
def test_a_record_category_is_the_column_category(values: list[float | None]) -> None:
    column = pd.Series([math.nan if v is None else v for v in values], dtype="float64")
    assert keys_of(column).tolist() == [category_key(v) for v in column.tolist()]
    assert keys_of(pd.Series(values, dtype=object)).tolist() == [category_key(v) for v in values]


@given(
    st.one_of(
        st.floats(allow_nan=False).map(repr),
        st.integers().map(str),
        st.sampled_from(
            [" 12 ", "abc", "", "1e3", "inf", "1_000", "-0", "NaN", "+3", "١٢", "0x10"]
        ),
    )
)
def test_a_record_number_reads_text_as_pandas_does(text: str) -> None:
    expected = numbers_of(pd.Series([text], dtype=object))[0]
    found = number(text)
    assert (math.isnan(found) and math.isnan(expected)) or found == expected


# --- latency (printed, never asserted) ------------------------------------------------------


def test_print_the_latency_of_each_path() -> None:
    """Per-record latency of every path on single-record calls; run with -s to read it.

    A benchmark, not a check: nothing is asserted (the machines are shared and noisy).
    The native path costs milliseconds a call, so it is timed on fewer calls.
    """
    lines = [f"{'model':30} {'path':9} {'calls':>6} {'p50 µs':>9} {'mean µs':>9} {'p99 µs':>9}"]
    for name in LATENCY_CASES:
        found = case(name)
        records = records_of(found.holdout, found.model.features)
        served = compiled(name)
        predictors = {served.kind: served}
        # The other fast path, where there is one (forests have no hand-written kernel).
        other = {"onnx": "fast", "linear": "onnx", "lightgbm": "onnx"}.get(served.kind)
        if other and not name.endswith("random_forest"):
            predictor = compile_predictor(found.model, holdout=found.holdout, prefer=other)  # type: ignore[arg-type]
            predictors.setdefault(predictor.kind, predictor)
        predictors.setdefault("native", compile_predictor(found.model, holdout=None))
        for kind, predictor in predictors.items():
            calls = 50 if kind == "native" else 2000
            times = np.empty(calls)
            for i in range(calls):
                record = [records[i % len(records)]]
                start = time.perf_counter()
                predictor.predict_records(record)
                times[i] = time.perf_counter() - start
            p50, p99 = np.percentile(times, [50, 99]) * 1e6
            mean = times.mean() * 1e6
            lines.append(f"{name:30} {kind:9} {calls:>6} {p50:>9.1f} {mean:>9.1f} {p99:>9.1f}")
    print("\n" + "\n".join(lines))
