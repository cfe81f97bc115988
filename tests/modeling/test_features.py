"""Feature preparation: which columns are features, how values are coerced and encoded."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from charter.modeling import FeatureError, TrainingError
from charter.modeling._candidates import BUILTINS
from charter.modeling._features import (
    CategoryCaster,
    FramePrep,
    encoder,
    plan_features,
    safe_names,
)
from charter.values import category_strings
from tests.modeling.conftest import generated, make_charter


def test_features_leave_out_target_id_timestamp_and_excluded_columns() -> None:
    frame = generated().assign(when=pd.Timestamp("2024-01-01"), leak=1.0)
    charter = make_charter(data={"timestamp": "when", "exclude": ["leak"]})
    plan = plan_features(frame, charter)
    assert plan.features == ("x1", "x2", "color", "sex")
    assert plan.kinds == {
        "x1": "numeric",
        "x2": "numeric",
        "color": "categorical",
        "sex": "categorical",
    }


def test_the_contract_decides_the_kind_before_the_dtype() -> None:
    frame = generated().assign(level=lambda f: (f["x1"] > 0).astype(float))
    charter = make_charter(
        data={"contract": {"level": {"type": "category"}, "color": {"type": "string"}}}
    )
    plan = plan_features(frame, charter)
    assert plan.kinds["level"] == "categorical"
    assert plan.kinds["color"] == "categorical"
    assert plan.kinds["x1"] == "numeric"


def test_a_frame_with_only_excluded_columns_has_no_features() -> None:
    frame = generated()[["id", "label"]]
    with pytest.raises(TrainingError, match=r"at least one feature column"):
        plan_features(frame, make_charter())


def test_category_text_is_normalised() -> None:
    values = pd.Series([1.0, 2.0, np.nan, 0.5], dtype="float64")
    assert list(category_strings(values)[[0, 1, 3]]) == ["1", "2", "0.5"]
    assert np.isnan(category_strings(values)[2])
    mixed = pd.Series([1, "a", None, True, np.float64(3.0)], dtype=object)
    out = category_strings(mixed)
    assert [out[0], out[1], out[3], out[4]] == ["1", "a", "True", "3"]
    assert np.isnan(out[2])


def test_safe_names_are_unique_and_plain() -> None:
    assert safe_names(["Air temperature [K]", "a:b", "a b", "", "x"]) == [
        "Air_temperature_K",
        "a_b",
        "a_b_2",
        "feature",
        "x",
    ]


def test_frame_prep_selects_by_name_and_coerces() -> None:
    frame = pd.DataFrame(
        {
            "extra": [1, 2, 3],
            "when": pd.to_datetime(["2024-01-31 10:00", None, "2023-06-01 00:00"]),
            "n": ["1.5", "x", None],
            "c": pd.Series(["a", None, 2.0], dtype=object),
        }
    )
    prep = FramePrep(
        features=("c", "n", "when"), kinds={"c": "categorical", "n": "numeric", "when": "datetime"}
    )
    out = prep.fit(frame).transform(frame[["when", "n", "c", "extra"]])
    assert list(out.columns) == [
        "c",
        "n",
        "when_year",
        "when_month",
        "when_day",
        "when_day_of_week",
        "when_hour",
    ]
    assert out["c"].dtype == object
    assert next(iter(out["c"])) == "a"
    assert list(out["c"])[2] == "2"
    assert out["n"].tolist()[0] == 1.5
    assert np.isnan(out["n"].tolist()[1])
    assert out["when_year"].tolist()[0] == 2024
    assert np.isnan(out["when_year"].tolist()[1])
    assert prep.sources_ == ["c", "n", "when", "when", "when", "when", "when"]


def test_a_missing_feature_column_is_named() -> None:
    frame = generated()
    prep = FramePrep(features=("x1", "color"), kinds={"x1": "numeric", "color": "categorical"})
    prep.fit(frame)
    with pytest.raises(FeatureError, match=r"feature column 'color' the model was trained on"):
        prep.transform(frame.drop(columns=["color"]))
    with pytest.raises(FeatureError, match=r"columns 'x1', 'color' .* without them"):
        prep.transform(frame[["x2"]])


def test_the_category_caster_fixes_categories_and_maps_unseen_to_missing() -> None:
    train = pd.DataFrame({"c": pd.Series(["a", "b", "a", np.nan], dtype=object), "n": 1.0})
    caster = CategoryCaster(max_categories=1).fit(train)
    assert caster.categories_ == {"c": ["a"]}
    out = caster.transform(pd.DataFrame({"c": pd.Series(["b", "a", "zzz"], dtype=object)}))
    assert list(out["c"].cat.categories) == ["a"]
    assert out["c"].isna().tolist() == [True, False, True]


@pytest.mark.parametrize("family", ["dense", "native"])
def test_unseen_categories_and_missing_values_never_crash(family: str) -> None:
    train = generated(n=200)
    plan = plan_features(train, make_charter())
    prep = FramePrep(features=plan.features, kinds=dict(plan.kinds))
    steps = [prep, encoder(family, scale=True)]  # type: ignore[arg-type]
    data = train
    for step in steps:
        data = step.fit(data).transform(data)
    odd = train.head(4).copy()
    odd["color"] = pd.Series(["purple", None, np.nan, "red"], dtype=object)
    odd["x1"] = [np.nan, np.nan, 1.0, np.nan]
    odd["sex"] = pd.Series([None, "X", "F", "M"], dtype=object)
    data = odd
    for step in steps:
        data = step.transform(data)
    assert len(data) == 4


@pytest.mark.parametrize("name", sorted(BUILTINS))
def test_every_builtin_pipeline_predicts_rows_with_unseen_levels(name: str) -> None:
    candidate = BUILTINS[name]
    task = "regression" if name == "linear_regression" else "binary_classification"
    train = generated(task, n=200)
    target = "amount" if task == "regression" else "label"
    plan = plan_features(train, make_charter(task))  # type: ignore[arg-type]
    y = train[target].to_numpy() if task == "regression" else (train[target] == "yes").to_numpy()
    small = {**candidate.defaults}
    if "n_estimators" in small:
        small["n_estimators"] = 20
    pipeline = candidate.pipeline(plan, task, small, seed=0)  # type: ignore[arg-type]
    pipeline.fit(train, y.astype(float) if task == "regression" else y.astype(int))
    odd = train.head(3).copy()
    odd["color"] = pd.Series(["purple", None, "teal"], dtype=object)
    odd["x2"] = np.nan
    out = pipeline.predict(odd[list(reversed(odd.columns))])
    assert len(out) == 3
