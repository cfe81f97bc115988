"""The Evidently side of benchmarks/drift.py, run with Evidently's own virtual environment.

Reads the reference and current Parquet files and runs `Report([DataDriftPreset()])` with
its defaults (above 1000 rows: normed Wasserstein distance for numeric columns and
Jensen-Shannon distance for categorical ones, threshold 0.1). Prints one JSON object: the
in-process seconds, the flagged columns with their scores, and the versions.
"""

from __future__ import annotations

import argparse
import json
import time
from importlib import metadata
from typing import Any

import pandas as pd
from evidently import Report
from evidently.presets import DataDriftPreset


def flagged(snapshot: Any) -> dict[str, dict[str, Any]]:
    """Per column: the method, its score and whether it crossed the threshold."""
    columns: dict[str, dict[str, Any]] = {}
    for metric in snapshot.dict()["metrics"]:
        config = metric.get("config", {})
        if not config.get("type", "").endswith("ValueDrift"):
            continue
        method, threshold, value = config["method"], float(config["threshold"]), metric["value"]
        # p-value tests drift below their threshold, distances at or above it.
        drifted = value < threshold if "p_value" in method else value >= threshold
        value = float(value)
        columns[config["column"]] = {"method": method, "value": value, "drifted": bool(drifted)}
    return columns


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reference", required=True)
    parser.add_argument("--current", required=True)
    args = parser.parse_args()
    reference = pd.read_parquet(args.reference)
    current = pd.read_parquet(args.current)
    started = time.perf_counter()
    snapshot = Report([DataDriftPreset()]).run(current, reference)
    seconds = time.perf_counter() - started
    columns = flagged(snapshot)
    print(
        json.dumps(
            {
                "drift_s": seconds,
                "flagged": sorted(name for name, c in columns.items() if c["drifted"]),
                "statistics": columns,
                "versions": {p: metadata.version(p) for p in ("evidently", "pandas", "numpy")},
            }
        )
    )


if __name__ == "__main__":
    main()
