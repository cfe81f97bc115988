"""The fitted model: labels, predictions on any frame, and its bytes."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from charter.errors import CharterError
from charter.modeling import (
    MODEL_FORMAT_VERSION,
    FeatureError,
    FittedModel,
    ModelFormatError,
    ModelingError,
    TrainingError,
    train_model,
)
from charter.modeling._fitted import MAGIC, fit_labels, read_header
from tests.modeling.conftest import generated, make_charter


@pytest.fixture(scope="module")
def model() -> FittedModel:
    charter = make_charter(model={"candidates": ["lightgbm"], "budget": {"trials": 1}})
    return train_model(generated(n=300), charter).model


def test_binary_labels_put_the_positive_class_at_code_one() -> None:
    labels = fit_labels(pd.Series(["yes", "no", "yes"]), "binary_classification", "no", "y")
    assert labels.classes == ("yes", "no")
    assert labels.encode(pd.Series(["no", "yes"]), "x").tolist() == [1, 0]


def test_integer_labels_match_a_textual_positive() -> None:
    labels = fit_labels(pd.Series([0, 1, 1, 0]), "binary_classification", "1", "y")
    assert labels.classes == (0, 1)
    assert labels.positive == 1
    default = fit_labels(pd.Series([True, False]), "binary_classification", None, "y")
    assert default.classes == (False, True)


def test_multiclass_labels_are_sorted_and_keep_their_values() -> None:
    labels = fit_labels(pd.Series(["b", "c", "a", "b"]), "multiclass_classification", "c", "y")
    assert labels.classes == ("a", "b", "c")
    assert labels.positive_code == 2


@pytest.mark.parametrize(
    ("values", "task", "positive", "message"),
    [
        (["a", "a"], "binary_classification", None, r"at least two classes\. Got only \['a'\]"),
        (["a", "b", "c"], "binary_classification", None, r"must hold two classes\. Got 3"),
        (["No", "Yes"], "binary_classification", "yes", r"'objective\.positive' .* Got 'yes'"),
        (["a", None], "binary_classification", None, r"must have no missing values\. Got 1"),
        (["1.5", "x"], "regression", None, r"must hold numbers .* Got 1 missing or non-numeric"),
    ],
)
def test_an_untrainable_target_is_refused(
    values: list[object], task: str, positive: object, message: str
) -> None:
    with pytest.raises(TrainingError, match=message):
        fit_labels(pd.Series(values, dtype=object), task, positive, "y")  # type: ignore[arg-type]


def test_an_unknown_label_at_validation_is_named() -> None:
    labels = fit_labels(pd.Series(["no", "yes"]), "binary_classification", "yes", "label")
    with pytest.raises(ModelingError, match=r"knows \(no, yes\)\. Got 'maybe' instead"):
        labels.encode(pd.Series(["yes", "maybe"]), "the test data")


def test_predictions_follow_the_classes_and_the_threshold(model: FittedModel) -> None:
    frame = generated(n=50, seed=3)
    proba = model.predict_proba(frame)
    assert model.classes == ("no", "yes")
    np.testing.assert_allclose(model.score(frame), proba[:, 1])
    expected = np.where(proba[:, 1] >= (model.threshold or 0.5), "yes", "no")
    assert model.predict(frame).tolist() == expected.tolist()


def test_extra_columns_and_any_order_are_accepted(model: FittedModel) -> None:
    frame = generated(n=30, seed=4)
    shuffled = frame.assign(unused="x")[list(reversed([*frame.columns, "unused"]))]
    np.testing.assert_array_equal(model.score(frame), model.score(shuffled))
    assert model.predict(frame.drop(columns=["label", "id"])).shape == (30,)


def test_unseen_categories_and_missing_values_are_predicted(model: FittedModel) -> None:
    frame = generated(n=4, seed=5)
    frame["color"] = pd.Series(["ultraviolet", None, np.nan, "red"], dtype=object)
    frame["x1"] = np.nan
    assert np.isfinite(model.score(frame)).all()


def test_a_missing_feature_column_is_named(model: FittedModel) -> None:
    with pytest.raises(FeatureError, match=r"the feature column 'x2' the model was trained on"):
        model.predict(generated(n=5).drop(columns=["x2"]))
    with pytest.raises(ModelingError, match=r"must be a pandas DataFrame\. Got a ndarray"):
        model.predict(np.zeros((2, 2)))  # type: ignore[arg-type]


def test_regression_models_have_no_probabilities() -> None:
    charter = make_charter("regression")
    regression = train_model(generated("regression", n=150), charter).model
    with pytest.raises(ModelingError, match=r"'predict_proba' of a model must be used for"):
        regression.predict_proba(generated("regression", n=3))


def test_bytes_round_trip(model: FittedModel) -> None:
    data = model.to_bytes()
    header = read_header(data)
    assert header["format"] == MODEL_FORMAT_VERSION
    assert {"python", "scikit-learn", "lightgbm"} <= set(header["versions"])
    loaded = FittedModel.from_bytes(data)
    frame = generated(n=40, seed=9)
    np.testing.assert_array_equal(loaded.score(frame), model.score(frame))
    assert loaded.describe() == model.describe()
    json.dumps(loaded.describe(), allow_nan=False)


def test_other_bytes_are_refused_clearly(model: FittedModel) -> None:
    with pytest.raises(ModelFormatError, match=r"must be a charter model, starting with"):
        FittedModel.from_bytes(b"\x80\x05not a model")
    data = model.to_bytes()
    newer = data.replace(
        f'"format": {MODEL_FORMAT_VERSION}'.encode(),
        f'"format": {MODEL_FORMAT_VERSION + 1}'.encode(),
    )
    with pytest.raises(ModelFormatError, match=r"format version must be 1.* Got 2 instead"):
        FittedModel.from_bytes(newer)
    with pytest.raises(ModelFormatError, match=r"header line .* must be a JSON object"):
        FittedModel.from_bytes(MAGIC + b"{oops\n")
    with pytest.raises(ModelFormatError, match=r"must unpickle"):
        FittedModel.from_bytes(MAGIC + b'{"format": 1}\nnot a pickle')
    assert issubclass(ModelFormatError, CharterError)
