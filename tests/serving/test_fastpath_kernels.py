"""The hand-written kernels stay quiet and finite on extreme but valid inputs."""

from __future__ import annotations

import numpy as np

from charter.serving._fastpath import LinearKernel


def test_the_logistic_kernel_saturates_without_warnings() -> None:
    kernel = LinearKernel(coef=np.array([[2.0, -1.0]]), intercept=np.array([0.5]), link="logistic")
    rows = np.array([[1e300, 0.0], [-1e300, 0.0], [0.0, 0.0]])
    probabilities = kernel(rows)  # warnings are errors in the test run
    assert probabilities[0].tolist() == [0.0, 1.0]
    assert probabilities[1].tolist() == [1.0, 0.0]
    assert np.isclose(probabilities[2, 1], 1 / (1 + np.exp(-0.5)))
