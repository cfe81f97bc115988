"""Reference statistics kept with a model, so monitoring never re-reads the training data."""

from __future__ import annotations

import math
import sys
from typing import Any

import numpy as np
import pandas as pd

from charter.modeling._features import check_columns
from charter.modeling._fitted import FittedModel
from charter.modeling._jsonable import jsonable
from charter.values import category_strings, numeric_values

#: The version of the statistics' shape. Format 2 adds the fine bins; format 1 is still read.
REFERENCE_FORMAT_VERSION = 2
#: Numeric features are cut at their deciles (fewer bins when values repeat).
QUANTILES = tuple(q / 10 for q in range(1, 10))
#: ... and, for the KS and Wasserstein drift statistics, at their 1st to 99th percentiles.
FINE_QUANTILES = tuple(q / 100 for q in range(1, 100))
#: Categorical features keep the counts of this many most frequent levels.
TOP_CATEGORIES = 50
#: The level that pools every other category.
OTHER = "__other__"
#: Bins of the positive-class score for a binary model.
SCORE_BINS = 10


def quantile_bins(present: np.ndarray, quantiles: tuple[float, ...]) -> tuple[list[Any], list[int]]:
    """Edges at the quantiles (np.unique'd, text "-inf"/"inf" at the ends) and their counts.

    Bin i holds the values v with edges[i] <= v < edges[i + 1]; `present` holds no NaN.
    """
    return _sorted_quantile_bins(np.sort(present), quantiles)


def _sorted_quantile_bins(
    ordered: np.ndarray, quantiles: tuple[float, ...]
) -> tuple[list[Any], list[int]]:
    # On sorted values a bin's count is a difference of two positions: no per-value search.
    if len(ordered):
        inner = np.unique(_quantiles(ordered, quantiles))
        below = np.searchsorted(ordered, inner, side="left")
        counts = np.diff(np.concatenate([[0], below, [len(ordered)]]))
    else:
        inner, counts = np.zeros(0), np.zeros(1, dtype=np.int64)
    return ["-inf", *[float(e) for e in inner], "inf"], [int(c) for c in counts]


def tail_sums(present: np.ndarray, first: float, last: float) -> list[float]:
    """How far the values lie beyond the outer fine edges, summed: [below first, from last].

    The first is the sum of first - v over the finite values v < first, the second the sum
    of v - last over the finite values v >= last; with the tail counts they give each
    tail's mean excess, which the Wasserstein distance needs beyond the percentiles.
    """
    finite = present[np.isfinite(present)]
    low = first - finite[finite < first]
    high = finite[finite >= last] - last
    return [_bounded_sum(low), _bounded_sum(high)]


def _bounded_sum(values: np.ndarray) -> float:
    # Strict JSON has no infinity: a sum past the float range is held at its largest value.
    try:
        total = math.fsum(values.tolist())
    except OverflowError:
        total = math.inf
    return min(total, sys.float_info.max)


def _quantiles(present: np.ndarray, quantiles: tuple[float, ...]) -> np.ndarray:
    finite = present[np.isfinite(present)]
    if len(finite) and float(finite.max()) / 2 - float(finite.min()) / 2 > sys.float_info.max / 2:
        # Interpolating across a range wider than the largest float overflows: halving
        # every value is exact, so the halved quantiles doubled are the same quantiles.
        return np.asarray(np.quantile(present / 2, quantiles) * 2, dtype=np.float64)
    return np.asarray(np.quantile(present, quantiles), dtype=np.float64)


def _moment(function: Any, present: np.ndarray) -> float | None:
    """The mean or std, held within the float range when huge values overflow it."""
    if not len(present):
        return None
    with np.errstate(over="ignore", invalid="ignore"):
        value = float(function(present))
    if math.isnan(value):
        return sys.float_info.max
    return max(min(value, sys.float_info.max), -sys.float_info.max)


def fine_bins(present: np.ndarray) -> dict[str, Any]:
    """Percentile bins ("fine_edges", "fine_counts"), their "tail_sums" and the moments."""
    return _fine_bins(present, np.sort(present))


def _fine_bins(present: np.ndarray, ordered: np.ndarray) -> dict[str, Any]:
    edges, counts = _sorted_quantile_bins(ordered, FINE_QUANTILES)
    inner = edges[1:-1]
    return {
        "fine_edges": edges,
        "fine_counts": counts,
        "tail_sums": tail_sums(ordered, inner[0], inner[-1]) if inner else [0.0, 0.0],
        # The moments of the values as given: a sum's rounding depends on the order.
        "mean": _moment(np.mean, present),
        "std": _moment(np.std, present),
        "min": float(ordered[0]) if len(ordered) else None,
        "max": float(ordered[-1]) if len(ordered) else None,
    }


def numeric_bins(values: np.ndarray) -> dict[str, Any]:
    """Decile and percentile bins of the present values, the missing count and the moments.

    Bin i holds the values v with edges[i] <= v < edges[i + 1]; missing values are
    counted apart, so sum(counts) + missing_count is the number of rows (and so is
    sum(fine_counts) + missing_count).
    """
    present = values[~np.isnan(values)]
    ordered = np.sort(present)
    missing = int(len(values) - len(present))
    edges, counts = _sorted_quantile_bins(ordered, QUANTILES)
    return {
        "edges": edges,
        "counts": counts,
        "missing_count": missing,
        "missing_rate": missing / len(values) if len(values) else 0.0,
        **_fine_bins(present, ordered),
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
          "format": 2, "rows": int,
          "features": {name: {"kind": "numeric" | "datetime", "edges": ["-inf", float, ...,
                              "inf"], "counts": [int], "missing_count": int,
                              "missing_rate": float, "fine_edges": ["-inf", ..., "inf"],
                              "fine_counts": [int], "tail_sums": [float, float],
                              "mean", "std", "min", "max"}
                        | {"kind": "categorical", "counts": {level: int, "__other__": int},
                           "frequencies": {level: float}, "missing_count": int,
                           "missing_rate": float}},
          "prediction": {"kind": "positive_score", "edges": [0.0, 0.1, ..., 1.0],
                         "counts": [int] * 10, "fine_edges", "fine_counts",
                         "tail_sums", "mean", "std", "min", "max"}              # binary
                        | {"kind": "class", "counts": {label: int}}            # multiclass
                        | {"kind": "value", "edges": [...], "counts": [...], ...},  # regression
          "target": {"kind": "class", "counts": {label: int}} | {"kind": "value", ...} | None
        }

    Numeric bins hold edges[i] <= v < edges[i + 1]; the open ends are the texts "-inf" and
    "inf" (strict JSON has no infinity; `numpy.asarray(edges, dtype=float)` reads them
    back). Datetime features are binned as seconds since the epoch. Categorical levels
    are normalised text (1.0 and 1 are "1"). Score bins include 1.0 in the last one.

    Format 2 adds the fine bins: edges at the 1st to 99th percentiles (np.unique'd, so
    fewer when values repeat) with the same bin rule, and "tail_sums" (see `tail_sums`),
    from which monitoring computes the KS statistic and the Wasserstein distance without
    the training data. Format 1 lacks them (and the score's moments); readers fall back on
    the decile bins.
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
            **fine_bins(np.asarray(score, dtype=np.float64)),
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
