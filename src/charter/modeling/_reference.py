"""Reference statistics kept with a model, so monitoring never re-reads the training data."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from charter.modeling._features import check_columns
from charter.modeling._fitted import FittedModel
from charter.modeling._jsonable import jsonable
from charter.values import category_strings, numeric_values

#: The version of the statistics' shape.
REFERENCE_FORMAT_VERSION = 1
#: Numeric features are cut at their deciles (fewer bins when values repeat).
QUANTILES = tuple(q / 10 for q in range(1, 10))
#: Categorical features keep the counts of this many most frequent levels.
TOP_CATEGORIES = 50
#: The level that pools every other category.
OTHER = "__other__"
#: Bins of the positive-class score for a binary model.
SCORE_BINS = 10


def numeric_bins(values: np.ndarray) -> dict[str, Any]:
    """Decile bins of the present values: edges (text "-inf"/"inf" at the ends) and counts.

    Bin i holds the values v with edges[i] <= v < edges[i + 1]; missing values are
    counted apart, so sum(counts) + missing_count is the number of rows.
    """
    present = values[~np.isnan(values)]
    missing = int(len(values) - len(present))
    if len(present):
        inner = np.unique(np.quantile(present, QUANTILES))
        counts = np.bincount(
            np.searchsorted(inner, present, side="right"), minlength=len(inner) + 1
        )
    else:
        inner, counts = np.zeros(0), np.zeros(1, dtype=np.int64)
    return {
        "edges": ["-inf", *[float(e) for e in inner], "inf"],
        "counts": [int(c) for c in counts],
        "missing_count": missing,
        "missing_rate": missing / len(values) if len(values) else 0.0,
        "mean": float(present.mean()) if len(present) else None,
        "std": float(present.std()) if len(present) else None,
        "min": float(present.min()) if len(present) else None,
        "max": float(present.max()) if len(present) else None,
    }


def category_counts(values: np.ndarray, top: int = TOP_CATEGORIES) -> dict[str, Any]:
    """Counts and frequencies of the `top` most frequent levels, the rest as "__other__"."""
    missing_mask = pd.isna(values)
    present = pd.Series(values[~missing_mask], dtype=object)
    counted = present.value_counts()
    ranked = sorted(counted.items(), key=lambda item: (-int(item[1]), str(item[0])))
    counts = {str(level): int(n) for level, n in ranked[:top]}
    counts[OTHER] = int(sum(int(n) for _, n in ranked[top:]))
    total = len(values)
    missing = int(missing_mask.sum())
    return {
        "counts": counts,
        "frequencies": {level: n / total if total else 0.0 for level, n in counts.items()},
        "missing_count": missing,
        "missing_rate": missing / total if total else 0.0,
    }


def reference_statistics(model: FittedModel, train: pd.DataFrame) -> dict[str, Any]:
    """What monitoring compares live data with: per-feature bins and the prediction distribution.

    Returns JSON data::

        {
          "format": 1, "rows": int,
          "features": {name: {"kind": "numeric" | "datetime", "edges": ["-inf", float, ...,
                              "inf"], "counts": [int], "missing_count": int,
                              "missing_rate": float, "mean", "std", "min", "max"}
                        | {"kind": "categorical", "counts": {level: int, "__other__": int},
                           "frequencies": {level: float}, "missing_count": int,
                           "missing_rate": float}},
          "prediction": {"kind": "positive_score", "edges": [0.0, 0.1, ..., 1.0],
                         "counts": [int] * 10}                                  # binary
                        | {"kind": "class", "counts": {label: int}}            # multiclass
                        | {"kind": "value", "edges": [...], "counts": [...], ...},  # regression
          "target": {"kind": "class", "counts": {label: int}} | {"kind": "value", ...} | None
        }

    Numeric bins hold edges[i] <= v < edges[i + 1]; the open ends are the texts "-inf" and
    "inf" (strict JSON has no infinity; `numpy.asarray(edges, dtype=float)` reads them
    back). Datetime features are binned as seconds since the epoch. Categorical levels
    are normalised text (1.0 and 1 are "1"). Score bins include 1.0 in the last one.
    """
    check_columns(train, model.features)
    frame = train.reset_index(drop=True)
    features: dict[str, Any] = {}
    for name in model.features:
        kind = model.kinds.get(name, "numeric")
        if kind == "categorical":
            features[name] = {"kind": kind, **category_counts(category_strings(frame[name]))}
        else:
            features[name] = {"kind": kind, **numeric_bins(numeric_values(frame[name]))}
    prediction: dict[str, Any]
    if model.task == "binary_classification":
        score = model.score(frame)
        index = np.clip((score * SCORE_BINS).astype(np.int64), 0, SCORE_BINS - 1)
        prediction = {
            "kind": "positive_score",
            "edges": [b / SCORE_BINS for b in range(SCORE_BINS + 1)],
            "counts": np.bincount(index, minlength=SCORE_BINS).tolist(),
        }
    elif model.task == "multiclass_classification":
        codes = model.predict_codes(frame)
        counts = np.bincount(codes, minlength=len(model.classes))
        prediction = {
            "kind": "class",
            "counts": {str(label): int(n) for label, n in zip(model.classes, counts, strict=True)},
        }
    else:
        prediction = {"kind": "value", **numeric_bins(model.score(frame))}
    target: dict[str, Any] | None = None
    if model.target in frame.columns and not frame[model.target].isna().any():
        y = model.labels.encode(frame[model.target], "the training data")
        if model.task == "regression":
            target = {"kind": "value", **numeric_bins(y)}
        else:
            counts = np.bincount(y, minlength=len(model.classes))
            target = {
                "kind": "class",
                "counts": {str(c): int(n) for c, n in zip(model.classes, counts, strict=True)},
            }
    stats: dict[str, Any] = jsonable(
        {
            "format": REFERENCE_FORMAT_VERSION,
            "rows": len(frame),
            "features": features,
            "prediction": prediction,
            "target": target,
        }
    )
    return stats
