"""Fixtures for the data tests: charters built from the shared datasets or small files."""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from charter.data import infer_charter, render_charter
from charter.spec import LoadedCharter, load_charter
from tests.conftest import datasets_dir

# name -> (file, target)
DATASETS = {
    "telco": ("telco_churn.csv", "Churn"),
    "ai4i": ("ai4i2020.csv", "Machine failure"),
    "adult": ("adult_train.csv", "income"),
}

MakeCharter = Callable[..., LoadedCharter]
WriteFile = Callable[..., Path]


def dataset(name: str) -> Path:
    """The path of a shared dataset, by its short name or file name."""
    file = DATASETS[name][0] if name in DATASETS else name
    path = datasets_dir() / file
    if not path.is_file():
        pytest.fail(f"the shared dataset {file} is missing at {path}")
    return path


_INFERRED: dict[str, dict[str, Any]] = {}


def inferred(name: str) -> dict[str, Any]:
    """The charter `charter init` infers for a shared dataset (a fresh copy each call)."""
    if name not in _INFERRED:
        target = DATASETS[name][1]
        path = dataset(name)
        _INFERRED[name] = infer_charter(path, target, source=path.as_posix())
    return copy.deepcopy(_INFERRED[name])


def document(
    source: str | dict[str, Any],
    *,
    target: str = "y",
    task: str = "binary_classification",
    positive: Any = "yes",
    contract: dict[str, Any] | None = None,
    **data: Any,
) -> dict[str, Any]:
    """A small charter as plain data, for a file written by the test."""
    objective: dict[str, Any] = {"task": task, "target": target}
    if task == "binary_classification":
        objective["positive"] = positive
    metric = {"binary_classification": "roc_auc", "regression": "r2"}.get(task, "accuracy")
    return {
        "project": {"name": "test", "problem": "A test project.", "owner": "tests"},
        "objective": objective,
        "data": {"source": source, "contract": contract or {}, **data},
        "kpis": [{"name": "quality", "metric": metric, "at_least": 0.5}],
    }


@pytest.fixture
def make_charter(tmp_path: Path) -> MakeCharter:
    """Write a charter document as charter.yaml in a fresh folder and load it, as a user would."""

    def make(charter: dict[str, Any], name: str = "charter.yaml") -> LoadedCharter:
        path = tmp_path / name
        path.write_text(render_charter(charter), encoding="utf-8")
        return load_charter(path)

    return make


@pytest.fixture
def write_file(tmp_path: Path) -> WriteFile:
    """Write text (or bytes) to a file in the test's folder and return its path."""

    def write(content: str | bytes, name: str = "data.csv") -> Path:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content.encode("utf-8") if isinstance(content, str) else content)
        return path

    return write


def assert_plain(value: Any, where: str = "$") -> None:
    """`value` is plain JSON data: dict/list/str/int/float/bool/None, no NaN, no numpy."""
    if isinstance(value, dict):
        for key, item in value.items():
            assert type(key) is str, f"{where}: key {key!r} is {type(key).__name__}"
            assert_plain(item, f"{where}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            assert_plain(item, f"{where}[{index}]")
    elif isinstance(value, float):
        assert type(value) is float, f"{where}: {type(value).__name__}"
        assert math.isfinite(value), f"{where}: {value}"
    else:
        assert value is None or type(value) in (str, int, bool), (
            f"{where}: {value!r} is {type(value).__name__}"
        )
