"""The hand-written kernels stay quiet and finite on extreme but valid inputs."""

from __future__ import annotations

import numpy as np
import pandas as pd

from charter.serving._fastpath import LinearKernel


def test_the_logistic_kernel_saturates_without_warnings() -> None:
    kernel = LinearKernel(coef=np.array([[2.0, -1.0]]), intercept=np.array([0.5]), link="logistic")
    rows = np.array([[1e300, 0.0], [-1e300, 0.0], [0.0, 0.0]])
    probabilities = kernel(rows)  # warnings are errors in the test run
    assert probabilities[0].tolist() == [0.0, 1.0]
    assert probabilities[1].tolist() == [1.0, 0.0]
    assert np.isclose(probabilities[2, 1], 1 / (1 + np.exp(-0.5)))


def test_category_keys_follow_trainings_rule_for_every_kind_of_value() -> None:
    from charter.serving._fastpath import category_key, keys_of
    from charter.values import category_strings

    values = [1, 1.0, "1", 2.0**60, 1e20, np.float32(0.5), True, None, float("nan"), "x"]
    series = pd.Series(values, dtype=object)
    expected = [None if pd.isna(v) else v for v in category_strings(series)]
    assert expected[:5] == ["1", "1", "1", "1.152921504606847e+18", "1e+20"]
    assert [category_key(v) for v in values] == expected
    assert list(keys_of(series)) == expected
