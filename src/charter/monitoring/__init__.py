"""Monitoring: how served predictions are compared with what the model saw in training.

    plan = DriftPlan.from_reference(stats)                # stats: reference_statistics(...)
    counts = count_columns(plan, {"tenure": values, ...}, prediction=scores)
    counts = counts.merge(other_chunk_counts)             # exact; ships as to_json()
    report = drift_report(stats, counts, DriftThresholds.from_mapping(charter.monitor.drift))
    report.max_psi, report.drifted, report.to_json()
    report = drift_of_frame(stats, frame, thresholds, prediction=scores)   # all in one

Windows, estimates and operational figures (the monitor's other measures):

    cutter = WindowCutter(WindowSpec(predictions=1000), state=saved)   # log -> windows
    windows = cutter.add(records) + cutter.due(now)
    estimate_binary(positive_scores, threshold)   # expected accuracy/precision/recall/AUC
    operational(records, start, end)              # latency p50/p99, error rate, throughput

The counting contract (bins, missing values, normalisation) is in
`charter.engines._drift_counts`; malformed references, counts or thresholds raise
`DriftError` (a `CharterError`).
"""

from charter.engines._drift_counts import (
    UNSEEN_OTHER,
    ColumnPlan,
    DriftCounts,
    DriftError,
    DriftPlan,
    FeatureCounts,
    count_columns,
)
from charter.monitoring._drift import (
    APPROXIMATION,
    DriftReport,
    DriftThresholds,
    FeatureDrift,
    drift_of_frame,
    drift_report,
    psi_counts,
)
from charter.monitoring._estimate import (
    ESTIMATED_METRICS,
    compare,
    estimate_binary,
    estimate_multiclass,
    expected_roc_auc,
)
from charter.monitoring._operational import is_error, operational
from charter.monitoring._windows import (
    CutWindow,
    WindowCutter,
    WindowError,
    WindowSpec,
    record_time,
    record_version,
)

__all__ = [
    "APPROXIMATION",
    "ESTIMATED_METRICS",
    "UNSEEN_OTHER",
    "ColumnPlan",
    "CutWindow",
    "DriftCounts",
    "DriftError",
    "DriftPlan",
    "DriftReport",
    "DriftThresholds",
    "FeatureCounts",
    "FeatureDrift",
    "WindowCutter",
    "WindowError",
    "WindowSpec",
    "compare",
    "count_columns",
    "drift_of_frame",
    "drift_report",
    "estimate_binary",
    "estimate_multiclass",
    "expected_roc_auc",
    "is_error",
    "operational",
    "psi_counts",
    "record_time",
    "record_version",
]
