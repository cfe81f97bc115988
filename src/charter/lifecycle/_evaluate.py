"""One monitoring window judged: drift, live KPIs (realised or estimated), operational KPIs.

The domain does the measuring (monitoring: drift, estimates, operational figures;
modeling: the charter's KPIs on labelled rows; gates: the verdicts); this module only
gathers a window's records into the inputs each needs and assembles the window payload
that the ledger keeps and the dashboard reads.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from charter.gates import GateReport, judge
from charter.spec.metrics import MetricKind

if TYPE_CHECKING:
    import pandas as pd

    from charter.modeling import FittedModel
    from charter.monitoring import CutWindow, DriftThresholds
    from charter.serving import Feedback
    from charter.spec.schema import KPI, Charter

#: Metrics measured from the log alone, so label coverage does not apply to them.
_LOG_ONLY = frozenset({MetricKind.OPERATIONAL, MetricKind.DATA})
#: KPIs whose metric the confidence-based estimate covers (binary classification).
_ESTIMABLE = {"accuracy", "precision", "recall", "roc_auc"}


@dataclass(frozen=True)
class VersionContext:
    """What judging a window of one model version needs: its model and reference statistics."""

    version: int
    model: FittedModel
    reference: dict[str, Any]

    @property
    def class_keys(self) -> tuple[str, ...]:
        """The probability keys the server logs, in the model's class order."""
        from charter.serving import probability_key

        return tuple(probability_key(c) for c in self.model.classes)


@dataclass(frozen=True)
class JudgedWindow:
    """A window's verdict ("pass", "fail", "no_verdict"), payload and monitor-gate report."""

    verdict: str
    payload: dict[str, Any]
    gate: GateReport | None
    drifted: tuple[str, ...]


def _finite(value: Any) -> float | None:
    if value is None:
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def _threshold(kpi: KPI) -> tuple[float | None, str]:
    if kpi.at_least is not None:
        return kpi.at_least, "at_least"
    return kpi.at_most, "at_most"


def _probabilities(records: Sequence[Mapping[str, Any]], keys: tuple[str, ...]) -> np.ndarray:
    """(n, K) probabilities in class order; NaN rows where the log holds none."""
    out = np.full((len(records), len(keys)), np.nan)
    for row, record in enumerate(records):
        found = record.get("output", {}).get("probabilities")
        if isinstance(found, Mapping):
            for column, key in enumerate(keys):
                value = found.get(key)
                if isinstance(value, int | float) and not isinstance(value, bool):
                    out[row, column] = float(value)
    return out


def _values(records: Sequence[Mapping[str, Any]]) -> np.ndarray:
    out = np.full(len(records), np.nan)
    for row, record in enumerate(records):
        value = record.get("output", {}).get("prediction")
        if isinstance(value, int | float) and not isinstance(value, bool):
            out[row] = float(value)
    return out


def _needed_columns(charter: Charter, model: FittedModel) -> list[str]:
    """The logged input columns a window's judgement reads: features, groups and slices."""
    names = list(model.features)
    names += list(charter.data.protected)
    for kpi in charter.kpis:
        names += [kpi.by] if kpi.by else []
        names += list(kpi.where or {})
        names += [kpi.column] if kpi.column else []
    return list(dict.fromkeys(names))


def _inputs_frame(records: Sequence[Mapping[str, Any]], names: list[str]) -> pd.DataFrame:
    """The named input columns of the records (columns no record has are left out).

    Building each column from the dicts directly is several times faster than
    `DataFrame.from_records`, which first unions every record's keys.
    """
    import pandas as pd

    inputs = [r.get("input") or {} for r in records]
    # `any` stops at the first record holding the column: a full scan only for absent ones.
    columns = {n: [i.get(n) for i in inputs] for n in names if any(n in i for i in inputs)}
    return pd.DataFrame(columns, index=pd.RangeIndex(len(records)))


def judge_window(
    window: CutWindow,
    context: VersionContext,
    charter: Charter,
    thresholds: DriftThresholds,
    labels: Mapping[str, Feedback],
    *,
    min_predictions: int,
    min_label_coverage: float,
) -> JudgedWindow:
    """Measure and judge one window (see the module docstring for who does what)."""

    from charter.engines import DriftPlan, count_columns
    from charter.monitoring import drift_report, is_error, operational

    records = window.records
    served = [r for r in records if not is_error(r)]
    ops = operational(records, window.start, window.end)
    base: dict[str, Any] = {
        "window": {
            "key": window.key,
            "start": window.start.isoformat(),
            "end": window.end.isoformat(),
            "predictions": len(records),
            "errors": len(records) - len(served),
        },
        "operational": ops,
    }
    if len(served) < min_predictions:
        base.update(
            status="too_few_predictions",
            note=f"{len(served)} served predictions, fewer than the {min_predictions} a "
            "verdict needs (monitor.window.min_predictions): no verdict.",
            drift=None,
            kpis=[],
            performance=None,
        )
        return JudgedWindow("no_verdict", base, None, ())
    model = context.model
    frame = _inputs_frame(served, _needed_columns(charter, model))
    # --- drift against the reference kept with the model
    prediction: np.ndarray | None
    proba: np.ndarray | None = None
    if model.task == "regression":
        prediction = _values(served)
    else:
        proba = _probabilities(served, context.class_keys)
        if model.task == "binary_classification":
            prediction = proba[:, int(model.labels.positive_code or 1)]
        else:
            prediction = np.asarray(
                [str(r.get("output", {}).get("prediction")) for r in served], dtype=object
            )
    plan = DriftPlan.from_reference(context.reference)
    columns = {name: frame[name] for name in model.features if name in frame.columns}
    counts = count_columns(plan, columns, prediction)
    drift = drift_report(context.reference, counts, thresholds)
    drift_json = drift.to_json()
    # --- labels, live KPIs and estimates
    ids = [str(r.get("prediction_id")) for r in served]
    performance, realised_rows = _performance(
        served, ids, labels, model, proba, frame, min_label_coverage, context.reference
    )
    values, notes, kpi_rows = _kpi_values(
        charter, model, frame, drift_json, ops, performance, realised_rows
    )
    gate = judge(charter.kpis, values, "monitor", notes=notes)
    by_name = {v.kpi: v for v in gate.verdicts}
    for row in kpi_rows:
        verdict = by_name.get(row["name"])
        row["passed"] = None if verdict is None else verdict.passed
        if verdict is not None and verdict.passed is not True and not row.get("note"):
            row["note"] = verdict.reason
    failed = any(v.passed is False for v in gate.verdicts)
    measured = any(v.passed is not None for v in gate.verdicts)
    verdict_text = "fail" if failed else ("pass" if measured else "no_verdict")
    base.update(
        status="evaluated",
        drift=drift_json,
        kpis=kpi_rows,
        performance=performance,
        gate=gate.to_dict(),
    )
    return JudgedWindow(verdict_text, base, gate, tuple(drift.drifted))


def _performance(
    served: Sequence[Mapping[str, Any]],
    ids: Sequence[str],
    labels: Mapping[str, Feedback],
    model: FittedModel,
    proba: np.ndarray | None,
    frame: pd.DataFrame,
    min_label_coverage: float,
    reference: Mapping[str, Any],
) -> tuple[dict[str, Any], Any]:
    """Label coverage, the estimate before labels, the realised metrics once they cover enough.

    Returns the payload's "performance" section and, when labels cover enough rows, the
    modeling layer's `Predictions` on the labelled rows (else None).
    """
    from charter.modeling import Predictions
    from charter.monitoring import compare, estimate_binary, estimate_multiclass
    from charter.serving import probability_key
    from charter.spec.metrics import MetricError, get_metric

    known = {probability_key(c): code for code, c in enumerate(model.classes)}
    rows, codes, invalid = [], [], 0
    for row, prediction_id in enumerate(ids):
        feedback = labels.get(prediction_id)
        if feedback is None:
            continue
        if model.task == "regression":
            if isinstance(feedback.label, int | float) and not isinstance(feedback.label, bool):
                rows.append(row)
                codes.append(float(feedback.label))
            else:
                invalid += 1
            continue
        code = known.get(probability_key(feedback.label))
        if code is None:
            invalid += 1
            continue
        rows.append(row)
        codes.append(code)
    coverage = len(rows) / len(served) if served else 0.0
    estimated: dict[str, Any] | None = None
    if proba is not None:
        usable = ~np.isnan(proba).any(axis=1)
        if model.task == "binary_classification":
            positive = model.labels.positive_code or 1
            threshold = 0.5 if model.threshold is None else model.threshold
            scores = proba[usable, positive]
            calibration = reference.get("calibration")
            if calibration:
                # Decisions use the raw score; the chance each is right, the calibrated one.
                calibrated = np.interp(scores, calibration["x"], calibration["y"])
                estimated = estimate_binary(calibrated, threshold, decided=scores >= threshold)
            else:
                estimated = estimate_binary(scores, threshold)
        else:
            estimated = estimate_multiclass(proba[usable])
    performance: dict[str, Any] = {
        "labelled": len(rows),
        "label_coverage": coverage,
        "invalid_labels": invalid,
        "min_label_coverage": min_label_coverage,
        "estimated": estimated,
        "estimate_calibrated": bool(reference.get("calibration")),
        "realised": None,
        "comparison": None,
    }
    if not rows or coverage < min_label_coverage:
        return performance, None
    index = np.asarray(rows, dtype=np.int64)
    if model.task == "regression":
        predictions = Predictions(
            task=model.task,
            y_true=np.asarray(codes, dtype=np.float64),
            frame=frame.iloc[index].reset_index(drop=True),
            values=_values([served[i] for i in rows]),
        )
    else:
        assert proba is not None
        labelled = proba[index]
        keep = ~np.isnan(labelled).any(axis=1)
        predictions = Predictions(
            task=model.task,
            y_true=np.asarray(codes, dtype=np.int64)[keep],
            frame=frame.iloc[index[keep]].reset_index(drop=True),
            proba=labelled[keep],
            threshold=model.threshold,
            positive_code=model.labels.positive_code,
        )
    realised: dict[str, float | None] = {}
    if model.task != "regression":
        names: tuple[str, ...] = ("accuracy", "precision", "recall", "roc_auc")
        if model.task != "binary_classification":
            names = ("accuracy",)
        for name in names:
            try:
                realised[name] = _finite(get_metric(name).compute(predictions.inputs()))
            except MetricError:
                realised[name] = None
    performance["realised"] = realised
    if estimated is not None:
        performance["comparison"] = compare(estimated, realised)
    return performance, predictions


def _kpi_values(
    charter: Charter,
    model: FittedModel,
    frame: pd.DataFrame,
    drift: Mapping[str, Any],
    ops: Mapping[str, float | None],
    performance: Mapping[str, Any],
    realised_rows: Any,
) -> tuple[dict[str, float | None], dict[str, str], list[dict[str, Any]]]:
    """Each KPI's live value (None with a note when it cannot be had yet), and payload rows."""
    from charter.modeling import evaluate_kpi
    from charter.spec.metrics import MetricError, MetricInputs, get_metric

    values: dict[str, float | None] = {}
    notes: dict[str, str] = {}
    rows: list[dict[str, Any]] = []
    coverage = float(performance["label_coverage"])
    estimated = performance.get("estimated") or {}
    for kpi in charter.kpis:
        metric = get_metric(kpi.metric)
        value: float | None = None
        shown: float | None = None
        is_estimate = False
        note: str | None = None
        if metric.kind is MetricKind.OPERATIONAL:
            value = _finite(ops.get(metric.name))
            note = None if value is not None else "no served requests with a latency"
        elif metric.name == "max_psi":
            if kpi.column is not None:
                feature = drift["features"].get(kpi.column)
                value = None if feature is None else _finite(feature["psi"])
                note = None if feature is not None else f"{kpi.column!r} is not a feature"
            else:
                value = _finite(drift["max_psi"])
        elif metric.kind is MetricKind.DATA:
            columns = {str(c): frame[c].to_numpy(dtype=object) for c in frame.columns}
            try:
                value = _finite(metric.compute(MetricInputs(columns=columns), **kpi.params))
            except MetricError as error:
                note = str(error)
        elif realised_rows is not None:
            measured = evaluate_kpi(kpi, realised_rows)
            value = _finite(measured.value)
            note = measured.note
        else:
            note = (
                f"awaiting labels: {coverage:.0%} of this window's predictions have one, "
                f"below the {charter.monitor.min_label_coverage:.0%} the charter asks for"
            )
            if metric.name in _ESTIMABLE and estimated.get(metric.name) is not None:
                shown = float(estimated[metric.name])
                is_estimate = True
                note += f"; estimated {shown:.4g} from the model's calibrated scores"
        if note and value is None:
            notes[kpi.name] = note
        values[kpi.name] = value
        threshold, direction = _threshold(kpi)
        rows.append(
            {
                "name": kpi.name,
                "metric": kpi.metric,
                "value": value if value is not None else shown,
                "threshold": threshold,
                "direction": direction,
                "gate": kpi.gate,
                "passed": None,
                "estimated": is_estimate,
                "coverage": coverage if metric.kind not in _LOG_ONLY else None,
                "note": note,
            }
        )
    return values, notes, rows
