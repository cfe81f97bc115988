"""The estimator as an ONNX graph: which models convert, in which precision, how close."""

from __future__ import annotations

import numpy as np
import pytest

from charter.serving import PARITY_TOLERANCE, Predictor, compile_predictor
from charter.serving._fastpath import UnsupportedPipeline, read_encoder
from charter.serving._onnx import OnnxKernel, convert, dtypes_for
from tests.serving.conftest import Case, case

CONVERTIBLE = (
    "telco-logistic_regression",
    "telco-lightgbm",
    "telco-random_forest",
    "regression-linear_regression",
    "regression-lightgbm",
    "multiclass-logistic_regression",
    "multiclass-lightgbm",
    "mixed-logistic_regression",
    "mixed-lightgbm",
)


def encoded(found: Case, rows: int = 500) -> np.ndarray:
    model = found.model
    encoder = read_encoder(model.pipeline, model.features, model.kinds)
    return encoder.encode_frame(found.holdout.iloc[:rows])


def reference(found: Case, rows: int = 500) -> np.ndarray:
    frame = found.holdout.iloc[:rows]
    if found.model.task == "regression":
        return np.asarray(found.model.predict(frame), dtype=np.float64)
    return found.model.predict_proba(frame)


@pytest.mark.parametrize("name", CONVERTIBLE)
def test_the_graph_of_each_convertible_model_matches_it(name: str) -> None:
    found = case(name)
    matrix = encoded(found)
    kernel = convert(
        found.model.estimator,
        found.model.task,
        matrix.shape[1],
        dtypes_for(found.model.estimator)[0],
    )
    out = kernel(matrix)
    expected = reference(found)
    assert out.shape == expected.shape
    assert out.dtype == np.float64
    if found.model.task == "regression":
        np.testing.assert_allclose(out, expected, rtol=PARITY_TOLERANCE)
    else:
        np.testing.assert_allclose(out, expected, rtol=0, atol=PARITY_TOLERANCE)


@pytest.mark.parametrize(
    ("name", "dtypes"),
    [
        ("telco-logistic_regression", ("float64", "float32")),
        ("regression-linear_regression", ("float64", "float32")),
        ("telco-lightgbm", ("float32",)),
        ("telco-random_forest", ("float32",)),
        ("telco-hist_gradient_boosting", ("float32",)),
    ],
)
def test_tree_models_take_float32_and_linear_ones_float64_first(
    name: str, dtypes: tuple[str, ...]
) -> None:
    assert dtypes_for(case(name).model.estimator) == dtypes


def test_a_linear_graph_in_float64_is_exact_to_rounding() -> None:
    found = case("telco-logistic_regression")
    matrix = encoded(found)
    out = convert(found.model.estimator, found.model.task, matrix.shape[1], "float64")(matrix)
    np.testing.assert_allclose(out, reference(found), rtol=0, atol=1e-12)


def test_hist_gradient_boosting_does_not_convert() -> None:
    found = case("telco-hist_gradient_boosting")
    width = read_encoder(found.model.pipeline, found.model.features, found.model.kinds).width
    with pytest.raises(
        UnsupportedPipeline, match="skl2onnx cannot convert HistGradientBoostingClassifier"
    ):
        convert(found.model.estimator, found.model.task, width, "float32")


def test_lightgbm_graphs_take_float32_only() -> None:
    found = case("telco-lightgbm")
    with pytest.raises(
        UnsupportedPipeline, match=r"onnxmltools cannot convert LGBMClassifier \(float64\)"
    ):
        convert(found.model.estimator, found.model.task, 19, "float64")


def test_an_estimator_no_converter_knows_is_named() -> None:
    class Mystery:
        def predict(self, matrix: np.ndarray) -> np.ndarray:
            return np.zeros(len(matrix))

    with pytest.raises(UnsupportedPipeline, match="skl2onnx cannot convert Mystery"):
        convert(Mystery(), "regression", 3, "float64")


def test_a_graph_survives_the_predictor_bytes() -> None:
    found = case("multiclass-lightgbm")
    predictor = compile_predictor(found.model, holdout=found.holdout, prefer="onnx")
    assert predictor.kind == "onnx"
    loaded = Predictor.from_bytes(predictor.to_bytes())
    assert isinstance(loaded._kernel, OnnxKernel)
    assert loaded._kernel.dtype == "float32"
    matrix = encoded(found, 50)
    np.testing.assert_array_equal(loaded._kernel(matrix), predictor._kernel(matrix))  # type: ignore[misc]


def test_a_graph_runs_on_one_row_and_on_none() -> None:
    found = case("mixed-lightgbm")
    matrix = encoded(found, 5)
    kernel = convert(found.model.estimator, found.model.task, matrix.shape[1], "float32")
    assert kernel(matrix[:1]).shape == (1, 2)
    assert kernel(matrix[:0]).shape == (0, 2)
