"""`charter score`: a registered champion scores a file; bad rows go to a rejects file."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from charter import lifecycle
from tests.conftest import EXAMPLES, CharterRunner
from tests.e2e.conftest import ProjectFactory


def test_the_champion_scores_a_file_and_sets_bad_rows_aside(
    small_telco: ProjectFactory, run_charter: CharterRunner
) -> None:
    folder = small_telco()
    assert lifecycle.run(folder / "charter.yaml", write_report=False).model_version == 1
    no_champion = run_charter("score", "--in", "x.csv", "--out", "y.csv", cwd=folder)
    assert no_champion.code == 1
    lifecycle.promote(folder / "charter.yaml", "candidate", override="test")
    source = (
        pd.read_csv(
            EXAMPLES / "telco-churn" / "data" / "telco_churn.csv", dtype=str, keep_default_na=False
        )
        .iloc[2000:2600]
        .drop(columns=["Churn"])
    )
    source.loc[source.index[:3], "tenure"] = "many"  # text in a number column
    source.to_csv(folder / "new.csv", index=False)
    result = run_charter(
        "score",
        "--in",
        "new.csv",
        "--out",
        "scores.parquet",
        "--chunk-rows",
        "128",
        "--json",
        cwd=folder,
    )
    assert result.code == 0, result.stderr
    summary = json.loads(result.stdout)
    assert (summary["version"], summary["rows_in"], summary["scored"], summary["rejected"]) == (
        1,
        600,
        597,
        3,
    )
    scores = pd.read_parquet(folder / "scores.parquet")
    assert len(scores) == 597
    assert set(scores["customerID"]) == set(source["customerID"].iloc[3:])
    assert scores["prediction"].isin(["Yes", "No"]).all()
    rejects = pd.read_csv(folder / Path(summary["rejects"]))
    assert len(rejects) == 3
    assert rejects["charter_violations"].str.contains("tenure").all()
    missing = run_charter("score", "--in", "nowhere.csv", "--out", "y.csv", cwd=folder)
    assert missing.code == 1
    assert "nowhere.csv, does not exist" in missing.stderr
