"""Small, fast projects for whole-journey tests: real data, tiny budgets."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import EXAMPLES

ProjectFactory = Callable[..., Path]


@pytest.fixture
def small_telco(tmp_path: Path) -> ProjectFactory:
    """A telco-churn project on the first `rows` rows, with a budget of a few trials.

    `edit(text) -> text` changes the charter; `data(text) -> text` changes the CSV.
    """

    def make(
        rows: int = 1500,
        edit: Callable[[str], str] | None = None,
        data: Callable[[str], str] | None = None,
        name: str = "telco",
    ) -> Path:
        folder = tmp_path / name
        (folder / "data").mkdir(parents=True)
        source = (EXAMPLES / "telco-churn" / "data" / "telco_churn.csv").read_text()
        lines = source.splitlines(keepends=True)
        csv = "".join(lines[: rows + 1])
        (folder / "data" / "telco_churn.csv").write_text(data(csv) if data else csv)
        text = (EXAMPLES / "telco-churn" / "charter.yaml").read_text()
        text = re.sub(r"budget: \{seconds: \d+\}", "budget: {seconds: 30, trials: 3}", text)
        text = text.replace("cv_folds: 5", "cv_folds: 3")
        (folder / "charter.yaml").write_text(edit(text) if edit else text)
        return folder

    return make
