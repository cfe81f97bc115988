"""The FLAML side of benchmarks/automl_quality.py, run with FLAML's own virtual environment.

It imports nothing from charter: it reads the train/test Parquet files of charter's split,
drops the id and excluded columns, turns text columns into pandas categories (with the
train split's categories on both sides), maps the target to 1 for the positive class, fits
`flaml.AutoML` within the time budget and prints one JSON object:
{"roc_auc", "best_estimator", "seconds", "fit_seconds", "versions"}.
"""

from __future__ import annotations

import argparse
import json
import time
from importlib import metadata

import pandas as pd
from flaml import AutoML
from sklearn.metrics import roc_auc_score


def features(frame: pd.DataFrame, drop: list[str], target: str) -> pd.DataFrame:
    return frame.drop(columns=[c for c in [*drop, target] if c in frame.columns])


def categorize(train: pd.DataFrame, test: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    train, test = train.copy(), test.copy()
    for name in train.columns:
        column = train[name]
        if pd.api.types.is_numeric_dtype(column) or pd.api.types.is_bool_dtype(column):
            continue
        categories = pd.Index(sorted(column.dropna().astype(str).unique()))
        train[name] = pd.Categorical(column.astype("object"), categories=categories)
        test[name] = pd.Categorical(test[name].astype("object"), categories=categories)
    return train, test


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", required=True)
    parser.add_argument("--test", required=True)
    parser.add_argument("--target", required=True)
    parser.add_argument("--positive", required=True)
    parser.add_argument("--drop", nargs="*", default=[])
    parser.add_argument("--budget", type=float, required=True)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()

    start = time.perf_counter()
    train = pd.read_parquet(args.train)
    test = pd.read_parquet(args.test)
    y_train = (train[args.target].astype(str) == args.positive).astype(int).to_numpy()
    y_test = (test[args.target].astype(str) == args.positive).astype(int).to_numpy()
    x_train, x_test = categorize(
        features(train, args.drop, args.target), features(test, args.drop, args.target)
    )
    automl = AutoML()
    fit_start = time.perf_counter()
    automl.fit(
        x_train,
        y_train,
        task="classification",
        time_budget=args.budget,
        metric="roc_auc",
        seed=args.seed,
        verbose=0,
    )
    fit_seconds = time.perf_counter() - fit_start
    scores = automl.predict_proba(x_test)[:, 1]
    print(
        json.dumps(
            {
                "roc_auc": float(roc_auc_score(y_test, scores)),
                "best_estimator": automl.best_estimator,
                "seconds": time.perf_counter() - start,
                "fit_seconds": fit_seconds,
                "features": list(x_train.columns),
                "versions": {
                    p: metadata.version(p)
                    for p in ("flaml", "pandas", "scikit-learn", "lightgbm", "xgboost")
                    if _installed(p)
                },
            }
        )
    )


def _installed(package: str) -> bool:
    try:
        metadata.version(package)
    except metadata.PackageNotFoundError:
        return False
    return True


if __name__ == "__main__":
    main()
