"""Drift of a window against the reference statistics, computed from merged counts only.

Per feature: the PSI over the reference decile bins (or levels), computed by the KPI
registry's `max_psi` kernel so the report and the `max_psi` KPI agree exactly; for
numeric features the KS statistic with its asymptotic p-value and the Wasserstein
distance normalised by the reference standard deviation, both from the percentile bins;
for categorical ones the Jensen-Shannon distance (base 2) and a chi-square p-value over
the reference levels plus one cell for every other level; the share of unseen levels; the
missing rate against training's.

Verdicts rest on effect sizes: at 100k rows a p-value flags nearly every column from noise
alone, so a significant KS counts only when the KS statistic itself is material, and the
chi-square p-value is reported, never a reason by itself.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from scipy import special

from charter.engines._drift_counts import (
    DriftCounts,
    DriftError,
    DriftPlan,
    FeatureCounts,
    count_columns,
    inner_edges,
)
from charter.spec.metrics import MetricInputs, get_metric

FloatArray = NDArray[np.float64]

#: How far the binned KS and Wasserstein values may be from the exact ones, in one sentence.
APPROXIMATION = (
    "KS and Wasserstein come from counts in bins cut at the reference's 1st to 99th "
    "percentiles: the binned KS statistic is never above the exact two-sample one and at "
    "most the largest share either sample puts in one bin below it (about 0.01 while the "
    "window resembles the reference); the Wasserstein distance takes values as spread "
    "evenly within each inner bin, which moves it by at most the sum over those bins of "
    "width times both samples' shares, and is exact beyond the outer edges unless the two "
    "samples' tails cross there."
)
#: Evidently's floor on the reference standard deviation that normalises Wasserstein.
WASSERSTEIN_MIN_STD = 0.001
_REFERENCE_OTHER = "__other__"
_FLOAT_MAX = sys.float_info.max


# --- thresholds --------------------------------------------------------------------------


@dataclass(frozen=True)
class DriftThresholds:
    """When a feature counts as drifted; None turns a statistic's check off.

    `psi`, `js` and `wasserstein` are effect-size thresholds (a statistic above its
    threshold drifts). A numeric feature also drifts when its KS p-value is below
    `ks_pvalue` and its KS statistic is at least `ks`; a categorical one when its unseen
    share exceeds the reference's pooled share by more than `unseen_share`; any feature
    when its missing rate exceeds training's by more than `missing_change`.
    """

    psi: float | None = 0.2
    js: float | None = None
    wasserstein: float | None = None
    ks_pvalue: float = 0.05
    ks: float = 0.1
    unseen_share: float = 0.05
    missing_change: float = 0.1

    @classmethod
    def from_mapping(cls, mapping: Mapping[str, Any]) -> DriftThresholds:
        """Thresholds from a charter's `monitor.drift`: psi, js and wasserstein as given
        (absent ones are off), the others as given or their defaults."""
        where = "the charter's monitor.drift"
        if not isinstance(mapping, Mapping):
            raise DriftError(
                f"The 'drift' of the charter's monitor must be a mapping of statistic names "
                f"to thresholds. Got {mapping!r} instead."
            )
        unknown = sorted(str(key) for key in mapping if key not in _THRESHOLD_KEYS)
        if unknown:
            raise DriftError(
                f"The keys of {where} must be among {', '.join(_THRESHOLD_KEYS)}. "
                f"Got {', '.join(repr(k) for k in unknown)} instead."
            )
        values = {key: _threshold(key, value, where) for key, value in mapping.items()}
        return cls(
            psi=values.get("psi"),
            js=values.get("js"),
            wasserstein=values.get("wasserstein"),
            **{key: values[key] for key in _DEFAULTED_KEYS if key in values},
        )


_THRESHOLD_KEYS = ("js", "ks", "ks_pvalue", "missing_change", "psi", "unseen_share", "wasserstein")
_DEFAULTED_KEYS = ("ks", "ks_pvalue", "missing_change", "unseen_share")
_AT_MOST_ONE = frozenset({"ks", "ks_pvalue", "missing_change", "unseen_share", "js"})


def _threshold(key: str, value: Any, where: str) -> float:
    number = value if isinstance(value, int | float) and not isinstance(value, bool) else None
    upper = 1.0 if key in _AT_MOST_ONE else math.inf
    if number is None or not (0 < number <= upper) or math.isnan(number):
        constraint = "a number in (0, 1]" if upper == 1.0 else "a positive finite number"
        raise DriftError(f"The {key!r} of {where} must be {constraint}. Got {value!r} instead.")
    if math.isinf(number):
        raise DriftError(
            f"The {key!r} of {where} must be a positive finite number. Got {value!r} instead."
        )
    return float(number)


# --- the report --------------------------------------------------------------------------


@dataclass(frozen=True)
class FeatureDrift:
    """The drift statistics of one feature (or the prediction) and the verdict with reasons.

    `reasons` say why it drifted ("PSI 0.31 > 0.2") and note what the window lacked (an
    absent column, values that are not numbers); a note alone does not make it drift.
    """

    kind: Literal["numeric", "categorical"]
    psi: float
    missing_rate: float
    reference_missing_rate: float
    ks: float | None = None
    ks_pvalue: float | None = None
    wasserstein: float | None = None
    js: float | None = None
    chi2_pvalue: float | None = None
    unseen_share: float | None = None
    absent: bool = False
    drifted: bool = False
    reasons: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        """Strict JSON data: every float finite."""
        return {
            "kind": self.kind,
            "psi": _finite(self.psi),
            "ks": _optional(self.ks),
            "ks_pvalue": _optional(self.ks_pvalue),
            "wasserstein": _optional(self.wasserstein),
            "js": _optional(self.js),
            "chi2_pvalue": _optional(self.chi2_pvalue),
            "unseen_share": _optional(self.unseen_share),
            "missing_rate": _finite(self.missing_rate),
            "reference_missing_rate": _finite(self.reference_missing_rate),
            "absent": self.absent,
            "drifted": self.drifted,
            "reasons": list(self.reasons),
        }


@dataclass(frozen=True)
class DriftReport:
    """A window's drift: per feature, for the prediction, and the largest PSI."""

    rows: int
    features: Mapping[str, FeatureDrift] = field(default_factory=dict)
    prediction: FeatureDrift | None = None
    approximation: str = APPROXIMATION

    @property
    def max_psi(self) -> float:
        """The largest feature PSI (0.0 without features); the prediction is not included."""
        return max((f.psi for f in self.features.values()), default=0.0)

    @property
    def drifted(self) -> tuple[str, ...]:
        """The names of the drifted features, in the reference's order."""
        return tuple(name for name, f in self.features.items() if f.drifted)

    def to_json(self) -> dict[str, Any]:
        """Strict JSON data (see the issue's shape): rows, features, prediction, max_psi..."""
        return {
            "rows": self.rows,
            "features": {name: f.to_json() for name, f in self.features.items()},
            "prediction": None if self.prediction is None else self.prediction.to_json(),
            "max_psi": _finite(self.max_psi),
            "drifted": list(self.drifted),
            "approximation": self.approximation,
        }


def drift_report(
    reference_stats: Mapping[str, Any],
    counts: DriftCounts,
    thresholds: DriftThresholds | None = None,
) -> DriftReport:
    """Compare a window's merged counts with the reference statistics they were counted by.

    `DriftError` when the reference is malformed or the counts were counted by another plan
    (other bins). A window without rows gives a report that says so and flags nothing.
    """
    thresholds = thresholds or DriftThresholds()
    plan = DriftPlan.from_reference(reference_stats)
    features = {}
    for name, entry in reference_stats["features"].items():
        feature_counts = counts.features.get(name) or _absent_counts(plan, name, counts.rows)
        features[str(name)] = _feature_drift(name, entry, feature_counts, thresholds)
    prediction = None
    reference_prediction = reference_stats.get("prediction")
    if counts.prediction is not None and reference_prediction is not None:
        prediction = _feature_drift(
            "the prediction", _prediction_entry(reference_prediction), counts.prediction, thresholds
        )
    return DriftReport(counts.rows, features, prediction)


def drift_of_frame(
    reference_stats: Mapping[str, Any],
    frame: pd.DataFrame,
    thresholds: DriftThresholds | None = None,
    *,
    prediction: np.ndarray | pd.Series | None = None,
    chunk_rows: int = 100_000,
) -> DriftReport:
    """`drift_report` of a frame (and its predictions), counted `chunk_rows` rows at a time."""
    if isinstance(chunk_rows, bool) or not isinstance(chunk_rows, int) or chunk_rows < 1:
        raise DriftError(
            f"The 'chunk_rows' of drift_of_frame must be a whole number >= 1. "
            f"Got {chunk_rows!r} instead."
        )
    if prediction is not None and len(prediction) != len(frame):
        raise DriftError(
            f"The 'prediction' of drift_of_frame must hold one value per row "
            f"({len(frame)}). Got {len(prediction)} values instead."
        )
    plan = DriftPlan.from_reference(reference_stats)
    outputs = None if prediction is None else np.asarray(prediction)
    counts = DriftCounts()
    for start, chunk in _chunks(frame, chunk_rows):
        columns = {name: chunk[name] for name in plan.features if name in chunk.columns}
        predicted = None if outputs is None else outputs[start : start + len(chunk)]
        part = count_columns(plan, columns, predicted, rows=len(chunk))
        counts = counts.merge(part).bounded(plan)
    return drift_report(reference_stats, counts, thresholds)


def psi_counts(
    reference_stats: Mapping[str, Any], counts: DriftCounts
) -> tuple[dict[str, list[int]], dict[str, list[int]]]:
    """The per-feature bin counts (reference, window) that the `max_psi` KPI reads.

    Features without a present value in the window are left out: their PSI is undefined
    (reported as 0.0), and their drift shows through the missing rate.
    """
    reference: dict[str, list[int]] = {}
    current: dict[str, list[int]] = {}
    plan = DriftPlan.from_reference(reference_stats)
    for name, entry in reference_stats["features"].items():
        feature_counts = counts.features.get(name) or _absent_counts(plan, name, counts.rows)
        ref, cur = _psi_cells(entry, feature_counts, str(name))
        if sum(cur) > 0 and sum(ref) > 0:
            reference[str(name)], current[str(name)] = ref, cur
    return reference, current


# --- per feature -------------------------------------------------------------------------


def _feature_drift(
    name: str, entry: Mapping[str, Any], counts: FeatureCounts, thresholds: DriftThresholds
) -> FeatureDrift:
    categorical = entry.get("kind") in ("categorical", "class")
    kind: Literal["numeric", "categorical"] = "categorical" if categorical else "numeric"
    reference_missing = float(entry.get("missing_rate") or 0.0)
    missing_rate = counts.missing / counts.rows if counts.rows else 0.0
    reasons = _missing_reasons(missing_rate, reference_missing, thresholds)
    psi, statistics = 0.0, {}
    ref_cells, cur_cells = _psi_cells(entry, counts, name)
    # Without a present value on either side the distribution is undefined: only the
    # missing rate speaks (and the notes say why).
    if sum(cur_cells) > 0 and sum(ref_cells) > 0:
        psi = _psi(name, ref_cells, cur_cells)
        effects = []
        if thresholds.psi is not None and psi > thresholds.psi:
            effects.append(f"PSI {psi:.3g} > {thresholds.psi:g}")
        if categorical:
            statistics = _categorical_statistics(ref_cells, cur_cells, thresholds, effects)
        else:
            statistics = _numeric_statistics(entry, counts, thresholds, effects)
        reasons = effects + reasons
    notes = _notes(counts, "dates" if entry.get("kind") == "datetime" else "numbers")
    return FeatureDrift(
        kind=kind,
        psi=psi,
        missing_rate=missing_rate,
        reference_missing_rate=reference_missing,
        absent=counts.absent_rows > 0,
        drifted=bool(reasons),
        reasons=(*reasons, *notes),
        **statistics,
    )


def _numeric_statistics(
    entry: Mapping[str, Any],
    counts: FeatureCounts,
    thresholds: DriftThresholds,
    reasons: list[str],
) -> dict[str, Any]:
    fine_edges, ref_fine = _reference_fine(entry)
    if len(ref_fine) != len(counts.fine):
        raise DriftError(
            f"The 'fine' of the drift counts must have the reference's {len(ref_fine)} bins. "
            f"Got {len(counts.fine)} instead."
        )
    cur_fine = np.asarray(counts.fine, dtype=np.float64)
    ks, pvalue = binned_ks(ref_fine, cur_fine)
    if ks >= thresholds.ks and pvalue < thresholds.ks_pvalue:
        reasons.append(
            f"KS {ks:.3g} >= {thresholds.ks:g} (p {pvalue:.2g} < {thresholds.ks_pvalue:g})"
        )
    wasserstein = None
    std = entry.get("std")
    if std is not None:
        if _infinite(counts.minimum) or _infinite(counts.maximum):
            distance = math.inf
        else:
            distance = binned_wasserstein(
                fine_edges,
                ref_fine,
                _reference_tails(entry, fine_edges, ref_fine),
                cur_fine,
                counts.tail_sums,
            )
        wasserstein = _finite(distance / max(float(std), WASSERSTEIN_MIN_STD))
        if thresholds.wasserstein is not None and wasserstein > thresholds.wasserstein:
            reasons.append(f"Wasserstein {wasserstein:.3g} > {thresholds.wasserstein:g}")
    return {"ks": ks, "ks_pvalue": pvalue, "wasserstein": wasserstein}


def _categorical_statistics(
    ref_cells: list[int],
    cur_cells: list[int],
    thresholds: DriftThresholds,
    reasons: list[str],
) -> dict[str, Any]:
    ref = np.asarray(ref_cells, dtype=np.float64)
    cur = np.asarray(cur_cells, dtype=np.float64)
    js = jensen_shannon(ref, cur)
    if thresholds.js is not None and js > thresholds.js:
        reasons.append(f"JS {js:.3g} > {thresholds.js:g}")
    unseen = float(cur[-1] / cur.sum())
    reference_unseen = float(ref[-1] / ref.sum())
    if unseen - reference_unseen > thresholds.unseen_share:
        reasons.append(
            f"unseen share {unseen:.3g} > training's {reference_unseen:.3g} "
            f"+ {thresholds.unseen_share:g}"
        )
    return {"js": js, "chi2_pvalue": chi2_pvalue(ref, cur), "unseen_share": unseen}


def _missing_reasons(
    missing_rate: float, reference_missing: float, thresholds: DriftThresholds
) -> list[str]:
    if missing_rate - reference_missing > thresholds.missing_change:
        return [
            f"missing rate {missing_rate:.3g} > training's {reference_missing:.3g} "
            f"+ {thresholds.missing_change:g}"
        ]
    return []


def _notes(counts: FeatureCounts, what: str) -> list[str]:
    if counts.rows == 0:
        return ["no rows in the window"]
    notes = []
    if counts.absent_rows:
        notes.append(f"the column is absent from {counts.absent_rows} of {counts.rows} rows")
    if counts.invalid:
        notes.append(f"{counts.invalid} values are not {what} (counted as missing)")
    if counts.rows and counts.missing == counts.rows and not counts.absent_rows:
        notes.append("every value is missing")
    return notes


# --- the statistics, from binned counts --------------------------------------------------


def binned_ks(reference: FloatArray, current: FloatArray) -> tuple[float, float]:
    """The two-sample KS statistic at the bin edges and its asymptotic p-value.

    The empirical CDFs are exact at every inner edge; the p-value is the Kolmogorov
    distribution's tail at sqrt(n m / (n + m)) * D.
    """
    n, m = float(reference.sum()), float(current.sum())
    reference_cdf = np.cumsum(reference)[:-1] / n
    current_cdf = np.cumsum(current)[:-1] / m
    statistic = float(np.max(np.abs(reference_cdf - current_cdf), initial=0.0))
    effective = n * m / (n + m)
    return statistic, float(special.kolmogorov(math.sqrt(effective) * statistic))


def binned_wasserstein(
    edges: FloatArray,
    reference: FloatArray,
    reference_tails: tuple[float, float],
    current: FloatArray,
    current_tails: tuple[float, float],
) -> float:
    """W1 of two samples from their counts in the bins of `edges` and their tail sums.

    Between the outer edges each CDF is taken as linear from edge to edge (values spread
    evenly within a bin; the CDFs themselves are exact at the edges); beyond them, the
    integral of |F_ref - F_cur| is taken as the difference of the two samples' mean
    excesses (`tail_sums` over the rows), exact unless the CDFs cross out there.
    """
    n, m = float(reference.sum()), float(current.sum())
    with np.errstate(all="ignore"):
        tails = sum(abs(r / n - c / m) for r, c in zip(reference_tails, current_tails, strict=True))
        if len(edges) < 2:
            return min(float(tails), _FLOAT_MAX)
        gap = np.cumsum(reference)[:-1] / n - np.cumsum(current)[:-1] / m
        width = np.diff(edges)
        a, b = np.abs(gap[:-1]), np.abs(gap[1:])
        # |gap| is linear on each bin: a trapezoid, or two triangles where it crosses 0.
        crossing = np.divide(a * a + b * b, a + b, out=np.zeros_like(a), where=(a + b) > 0)
        area = np.where(gap[:-1] * gap[1:] >= 0, (a + b) / 2, crossing / 2) * width
        total = float(np.sum(area)) + float(tails)
    return _FLOAT_MAX if math.isnan(total) else min(total, _FLOAT_MAX)


def jensen_shannon(reference: FloatArray, current: FloatArray) -> float:
    """The Jensen-Shannon distance (base 2, in [0, 1]) of two count vectors."""
    p, q = reference / reference.sum(), current / current.sum()
    mixture = (p + q) / 2
    divergence = (special.rel_entr(p, mixture).sum() + special.rel_entr(q, mixture).sum()) / 2
    return float(math.sqrt(max(float(divergence) / math.log(2), 0.0)))


def chi2_pvalue(reference: FloatArray, current: FloatArray) -> float:
    """The chi-square test of homogeneity of two count vectors (cells empty in both dropped).

    The same as `scipy.stats.chi2_contingency` without continuity correction, from
    scipy.special alone (scipy.stats costs most of a second to import).
    """
    used = (reference + current) > 0
    if used.sum() < 2:
        return 1.0
    table = np.vstack([reference[used], current[used]])
    expected = table.sum(axis=1, keepdims=True) * table.sum(axis=0, keepdims=True) / table.sum()
    statistic = float(np.sum((table - expected) ** 2 / expected))
    return float(special.chdtrc(table.shape[1] - 1, statistic))


def _psi(name: str, reference: list[int], current: list[int]) -> float:
    # The KPI registry's kernel, so the report's PSI and the `max_psi` KPI agree exactly.
    inputs = MetricInputs(reference_counts={name: reference}, current_counts={name: current})
    return get_metric("max_psi").compute(inputs)


# --- reading the reference ---------------------------------------------------------------


def _psi_cells(
    entry: Mapping[str, Any], counts: FeatureCounts, name: str
) -> tuple[list[int], list[int]]:
    """Reference and window counts over the same cells: decile bins, or levels + others."""
    reference = entry.get("counts")
    if isinstance(reference, Mapping):
        levels = [str(level) for level in reference if level != _REFERENCE_OTHER]
        known = set(levels)
        ref_cells = [int(reference[level]) for level in levels]
        ref_cells.append(int(reference.get(_REFERENCE_OTHER, 0)))
        cur_cells = [int(counts.levels.get(level, 0)) for level in levels]
        cur_cells.append(sum(int(n) for lvl, n in counts.levels.items() if lvl not in known))
        return ref_cells, cur_cells
    if not isinstance(reference, list) or len(reference) != len(counts.bins):
        raise DriftError(
            f"The 'bins' of the drift counts of {name!r} must match the reference's "
            f"{len(reference) if isinstance(reference, list) else reference!r} bins. "
            f"Got {len(counts.bins)} instead."
        )
    return [int(n) for n in reference], list(counts.bins)


def _reference_fine(entry: Mapping[str, Any]) -> tuple[FloatArray, FloatArray]:
    """The inner fine edges and counts, or the decile ones for a format-1 reference."""
    if "fine_edges" in entry:
        edges = inner_edges(entry["fine_edges"], "the reference statistics", "fine_edges")
        return edges, np.asarray(entry["fine_counts"], dtype=np.float64)
    if entry.get("kind") == "positive_score":
        return (
            np.asarray(entry["edges"], dtype=np.float64)[1:-1],
            np.asarray(entry["counts"], dtype=np.float64),
        )
    edges = inner_edges(entry["edges"], "the reference statistics")
    return edges, np.asarray(entry["counts"], dtype=np.float64)


def _reference_tails(
    entry: Mapping[str, Any], edges: FloatArray, counts: FloatArray
) -> tuple[float, float]:
    """The reference's tail sums; for format 1, values spread evenly out to min and max."""
    if "tail_sums" in entry:
        low, high = entry["tail_sums"]
        return float(low), float(high)
    if not len(edges) or entry.get("min") is None or entry.get("max") is None:
        return 0.0, 0.0
    low = counts[0] * max(edges[0] - float(entry["min"]), 0.0) / 2
    high = counts[-1] * max(float(entry["max"]) - edges[-1], 0.0) / 2
    return float(low), float(high)


def _infinite(value: float | None) -> bool:
    return value is not None and math.isinf(value)


def _prediction_entry(entry: Mapping[str, Any]) -> Mapping[str, Any]:
    if entry.get("kind") == "positive_score" and "min" not in entry:
        return {**entry, "min": 0.0, "max": 1.0}
    return entry


def _absent_counts(plan: DriftPlan, name: str, rows: int) -> FeatureCounts:
    column = plan.features[name]
    return FeatureCounts(
        rows=rows,
        missing=rows,
        absent_rows=rows,
        bins=(0,) * (len(column.edges) + 1) if column.numeric else (),
        fine=(0,) * (len(column.fine_edges) + 1) if column.numeric else (),
    )


def _chunks(frame: pd.DataFrame, size: int) -> Iterator[tuple[int, pd.DataFrame]]:
    if len(frame) == 0:
        yield 0, frame
        return
    for start in range(0, len(frame), size):
        yield start, frame.iloc[start : start + size]


def _finite(value: float) -> float:
    if math.isnan(value):
        return 0.0
    return float(min(max(value, -_FLOAT_MAX), _FLOAT_MAX))


def _optional(value: float | None) -> float | None:
    return None if value is None else _finite(value)
