"""From a `RunReport` to what the template lays out: rows, badges, sentences and SVG charts.

Every lookup here is defensive: evidence with a key missing, of the wrong type or empty
gives "not recorded" (the template's `show` filter renders None that way), never an error.
The template only lays things out; every decision about what to say is made here.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from markupsafe import Markup

from charter.reporting import charts
from charter.reporting._model import Data, RunReport
from charter.spec import get_metric

_PASS_WORDS = frozenset(
    {"passed", "pass", "succeeded", "success", "completed", "complete", "ok", "done"}
)
_FAIL_WORDS = frozenset(
    {"failed", "fail", "error", "errored", "stopped", "interrupted", "aborted", "killed"}
)
_LOWER_IS_BETTER = frozenset(
    {"rmse", "mae", "mape", "log_loss", "brier", "missing_rate", "max_psi", "error_rate"}
)
_SEVERITY_ORDER = ("blocking", "critical", "error", "high", "warning", "medium", "low", "info")
# Stage names as the run records them, and how the report names them in sentences.
_STAGE_NAMES = {
    "audit": "audit",
    "training": "train",
    "validation": "validate",
    "model_version": "register",
}
_MAX_TRIALS_TABLE = 15
_MAX_EXAMPLES = 5
_MAX_FEATURES = 20


@dataclass(frozen=True)
class Badge:
    """A pass/fail/neutral marker: an icon and a word, with a CSS class for its colour."""

    kind: str  # "pass", "fail", "warn" or "none"
    text: str


PASS = Badge("pass", "✓ PASS")
FAIL = Badge("fail", "✗ FAIL")
NOT_MEASURED = Badge("none", "— NOT MEASURED")


def _get(data: object, *keys: str) -> Any:
    """data[k1][k2]... or None when any step is missing or not a mapping."""
    current: Any = data
    for key in keys:
        if not isinstance(current, Mapping):
            return None
        current = current.get(key)
    return current


def _list(value: object) -> list[Any]:
    if isinstance(value, Sequence) and not isinstance(value, (str, bytes)):
        return list(value)
    return []


def _maps(value: object) -> list[Data]:
    return [v for v in _list(value) if isinstance(v, Mapping)]


def _dict(value: object) -> Data:
    return value if isinstance(value, Mapping) else {}


def _number(value: object) -> float | None:
    return charts.finite(value)


def status_badge(status: object) -> Badge:
    """A badge for a stage or run status word (passed, failed, running...), or a boolean."""
    if status is True:
        return PASS
    if status is False:
        return FAIL
    if status is None:
        return Badge("none", "— NOT RECORDED")
    word = str(status).strip().lower()
    if word in _PASS_WORDS:
        return Badge("pass", f"✓ {word.upper()}")
    if word in _FAIL_WORDS:
        return Badge("fail", f"✗ {word.upper()}")
    return Badge("warn", f"• {word.upper()}")


def _verdict_badge(passed: object) -> Badge:
    if passed is True:
        return PASS
    if passed is False:
        return FAIL
    return NOT_MEASURED


# --------------------------------------------------------------------------- summary


def _targets_by_name(report: RunReport) -> dict[str, Data]:
    return {str(t.get("name")): t for t in report.kpi_targets if t.get("name") is not None}


def _threshold_text(verdict: Data, target: Data) -> str | None:
    if verdict.get("threshold"):
        return str(verdict["threshold"])
    parts = []
    for key, sign in (("at_least", "≥"), ("at_most", "≤")):
        value = verdict.get(key, target.get(key))
        if _number(value) is not None:
            parts.append(f"{sign} {charts.format_number(value)}")
    return " and ".join(parts) or None


def _limits(verdict: Data, target: Data) -> tuple[float | None, float | None]:
    at_least = _number(verdict.get("at_least", target.get("at_least")))
    at_most = _number(verdict.get("at_most", target.get("at_most")))
    if at_least is None and at_most is None:
        text = str(verdict.get("threshold") or "").strip()
        for signs, kind in (("≥", "least"), (">=", "least"), ("≤", "most"), ("<=", "most")):
            if text.startswith(signs):
                try:
                    value = float(text[len(signs) :].strip())
                except ValueError:
                    continue
                if kind == "least":
                    at_least = value
                else:
                    at_most = value
                break
    return at_least, at_most


def _pair(value: float, limit: float) -> tuple[str, str]:
    """Value and limit with the same decimals, enough that they do not print the same."""
    if max(abs(value), abs(limit)) >= 100:
        return charts.format_number(value), charts.format_number(limit)
    for decimals in (2, 3, 4):
        a, b = f"{value:.{decimals}f}", f"{limit:.{decimals}f}"
        if a != b:
            return a, b
    return f"{value:.6g}", f"{limit:.6g}"


def _why_failed(verdict: Data, target: Data) -> str:
    name = str(verdict.get("kpi") or verdict.get("name") or "a KPI")
    value = _number(verdict.get("value"))
    if value is None:
        return f"{name} was not measured"
    at_least, at_most = _limits(verdict, target)
    if at_most is not None and value > at_most:
        shown, limit = _pair(value, at_most)
        return f"{name} {shown} exceeds at_most {limit}"
    if at_least is not None and value < at_least:
        shown, limit = _pair(value, at_least)
        return f"{name} {shown} is below at_least {limit}"
    threshold = _threshold_text(verdict, target)
    reason = verdict.get("reason")
    if reason:
        return f"{name} {charts.format_number(value)} fails: {reason}"
    return f"{name} {charts.format_number(value)} fails {threshold or 'its target'}"


def _failed_stage(report: RunReport) -> Data | None:
    for stage in _maps(report.run.get("stages")):
        if status_badge(stage.get("status")).kind == "fail":
            return stage
    return None


def _gate_of(verdict: Data, targets: Mapping[str, Data]) -> str:
    gate = verdict.get("gate") or targets.get(str(verdict.get("kpi")), {}).get("gate")
    return str(gate or "deploy")


def verdict_sentence(report: RunReport) -> tuple[bool, str]:
    """Whether the run's model is ready to deploy, and the one sentence that says why."""
    targets = _targets_by_name(report)
    failing = [
        v for v in report.verdicts if v.get("passed") is False and _gate_of(v, targets) != "monitor"
    ]
    if failing:
        reasons = [_why_failed(v, targets.get(str(v.get("kpi")), {})) for v in failing]
        more = f" (and {len(reasons) - 2} more failing KPIs)" if len(reasons) > 2 else ""
        return False, "Not deployable: " + "; ".join(reasons[:2]) + more + "."
    stage = _failed_stage(report)
    if stage is not None:
        reason = stage.get("exit_reason") or report.run.get("exit_reason")
        tail = f": {str(reason).rstrip('.')}" if reason else ""
        return (
            False,
            f"Not deployable: the run stopped at the {stage.get('stage', 'unknown')} stage{tail}.",
        )
    if status_badge(report.run.get("status")).kind == "fail":
        reason = report.run.get("exit_reason")
        tail = f": {str(reason).rstrip('.')}" if reason else ""
        return False, f"Not deployable: the run failed{tail}."
    if not report.verdicts:
        return False, "Not deployable: validation did not run, so no KPI was measured."
    # A gate never opens on missing evidence: an unmeasured gate KPI blocks like a failed one.
    unmeasured = [
        str(v.get("kpi"))
        for v in report.verdicts
        if v.get("passed") is None and _gate_of(v, targets) != "monitor"
    ]
    if unmeasured:
        names = ", ".join(unmeasured)
        verb = "was" if len(unmeasured) == 1 else "were"
        return False, f"Not deployable: {names} {verb} not measured, and a gate needs every KPI."
    closed = [stage for stage, passed in report.gates.items() if passed is not True]
    if closed:
        return False, f"Not deployable: the {', '.join(map(str, closed))} gate did not pass."
    return True, "Ready to deploy: every deploy gate passes."


def _kpi_rows(report: RunReport) -> list[dict[str, Any]]:
    targets = _targets_by_name(report)
    rows = []
    seen = set()
    for verdict in report.verdicts:
        name = verdict.get("kpi") or verdict.get("name")
        seen.add(str(name))
        target = targets.get(str(name), {})
        rows.append(
            {
                "name": name,
                "metric": verdict.get("metric") or target.get("metric"),
                "gate": verdict.get("gate") or target.get("gate"),
                "value": verdict.get("value"),
                "threshold": _threshold_text(verdict, target),
                "margin": _signed(verdict.get("margin")),
                "badge": _verdict_badge(verdict.get("passed")),
                "reason": verdict.get("reason"),
                "estimate": verdict.get("estimate") is True,
            }
        )
    measured = _dict(_get(report.validation, "kpis"))
    for name, target in targets.items():
        if name in seen:
            continue
        gate = target.get("gate")
        reason = "judged while monitoring" if gate == "monitor" else "not measured in this run"
        estimate = measured.get(name)
        value = _get(estimate, "value") if isinstance(estimate, Mapping) else estimate
        if _number(value) is not None:
            reason = f"offline estimate only; {reason}"
        rows.append(
            {
                "name": name,
                "metric": target.get("metric"),
                "gate": gate,
                "value": value if _number(value) is not None else None,
                "threshold": _threshold_text({}, target),
                "margin": None,
                "badge": NOT_MEASURED,
                "reason": reason,
                "estimate": _number(value) is not None,
            }
        )
    return rows


def _signed(value: object) -> str | None:
    number = _number(value)
    if number is None:
        return None
    text = charts.format_number(number)
    return text if number < 0 else f"+{text}"


def _chosen(report: RunReport) -> dict[str, Any] | None:
    training = report.training
    finalists = _maps(_get(training, "finalists"))
    chosen = next((f for f in finalists if f.get("chosen")), None)
    version = report.model_version
    if chosen is None and version is None:
        return None
    candidate = (
        (chosen or {}).get("candidate")
        or _get(training, "chosen", "candidate")
        or _get(training, "chosen")
    )
    return {
        "candidate": candidate if isinstance(candidate, str) else None,
        "params": (chosen or {}).get("params"),
        "reasons": [str(r) for r in _list((chosen or {}).get("reasons"))],
        "threshold": (chosen or {}).get("threshold", _get(training, "threshold")),
        "version": _get(version, "version"),
        "aliases": _list(_get(version, "aliases")),
        "override_reason": _get(version, "override_reason"),
    }


# --------------------------------------------------------------------------- sections


def stage_note(report: RunReport, part: str) -> str | None:
    """None when the stage left evidence, else a plain sentence saying why there is none."""
    if getattr(report, part) is not None:
        return None
    stage_name = _STAGE_NAMES.get(part, part)
    for stage in _maps(report.run.get("stages")):
        if str(stage.get("stage")) == stage_name:
            badge = status_badge(stage.get("status"))
            reason = stage.get("exit_reason")
            if badge.kind == "fail":
                tail = f": {str(reason).rstrip('.')}" if reason else ""
                return f"The {stage_name} stage failed{tail}. Its evidence was not recorded."
            status = str(stage.get("status") or "did not finish").lower()
            return f"The {stage_name} stage {status}; its evidence was not recorded."
    return f"The {stage_name} stage did not run in this run."


def _severity_key(severity: str) -> tuple[int, str]:
    word = severity.lower()
    return (_SEVERITY_ORDER.index(word) if word in _SEVERITY_ORDER else len(_SEVERITY_ORDER), word)


def _severity_badge(severity: str) -> Badge:
    word = severity.lower()
    if word in ("blocking", "critical", "error", "high"):
        return Badge("fail", f"✗ {severity.upper()}")
    if word in ("warning", "medium"):
        return Badge("warn", f"! {severity.upper()}")
    return Badge("none", f"i {severity.upper()}")


def _audit(report: RunReport) -> dict[str, Any]:
    audit = report.audit or {}
    fingerprint = _dict(audit.get("fingerprint"))
    groups: dict[str, list[Data]] = {}
    for finding in _maps(audit.get("findings")):
        groups.setdefault(str(finding.get("severity") or "unrated"), []).append(finding)
    findings = [
        {"severity": s, "badge": _severity_badge(s), "findings": groups[s]}
        for s in sorted(groups, key=_severity_key)
    ]
    violations = []
    for v in _maps(audit.get("violations")):
        examples = _maps(v.get("examples"))
        violations.append(
            {
                "column": v.get("column"),
                "check": v.get("check"),
                "count": v.get("count"),
                "examples": examples[:_MAX_EXAMPLES],
                "more": max(0, len(examples) - _MAX_EXAMPLES),
            }
        )
    bias = []
    for attr, rows in _dict(audit.get("groups")).items():
        groups_rows = [_with_count(r) for r in _maps(rows)]
        # Regression audits the target's mean per group where classification has a base rate.
        by_mean = all(r.get("base_rate") is None for r in groups_rows) and any(
            r.get("target_mean") is not None for r in groups_rows
        )
        bias.append({"attr": attr, "rows": groups_rows, "by_mean": by_mean})
    split = _dict(audit.get("split"))
    return {
        "note": stage_note(report, "audit"),
        "facts": [
            ("Rows", audit.get("rows")),
            ("Columns", audit.get("columns")),
            (
                "Quarantined rows",
                audit.get("quarantined_rows", 0) if "violations" in audit else None,
            ),
            ("Train / test rows", _join_rows(split.get("train_rows"), split.get("test_rows"))),
            ("Split method", split.get("method")),
        ],
        "fingerprint": [
            ("Content sha256", fingerprint.get("content_sha256")),
            ("Schema sha256", fingerprint.get("schema_sha256")),
        ],
        "findings": findings,
        "violations": violations,
        "bias": bias,
    }


def _with_count(row: Data) -> Data:
    """A group's row with its size under `count`, whichever name the evidence used."""
    if row.get("count") is None and row.get("rows") is not None:
        return {**row, "count": row["rows"]}
    return row


def _join_rows(train: object, test: object) -> str | None:
    if train is None and test is None:
        return None
    return " / ".join(charts.format_number(n) if n is not None else "?" for n in (train, test))


def _primary(training: Data) -> tuple[str | None, str | None]:
    """The primary KPI's name, and the direction declared with it when there is one.

    Evidence names it as a string or as {kpi, metric, direction}.
    """
    primary = training.get("primary")
    if isinstance(primary, Mapping):
        name = primary.get("kpi") or primary.get("name") or primary.get("metric")
        return (str(name) if name is not None else None), primary.get("direction")
    return (str(primary) if primary is not None else None), training.get("direction")


def _direction(report: RunReport) -> str:
    training = report.training or {}
    primary, declared_direction = _primary(training)
    declared = str(declared_direction or "").lower()
    if declared in ("minimize", "lower", "min"):
        return "lower"
    if declared in ("maximize", "higher", "max"):
        return "higher"
    target = _targets_by_name(report).get(str(primary), {})
    metric = str(target.get("metric") or _get(training, "primary", "metric") or primary or "")
    try:
        return str(get_metric(metric).direction)
    except KeyError:  # an unknown or custom metric: fall back on the target's direction
        if metric in _LOWER_IS_BETTER or (
            target.get("at_most") is not None and target.get("at_least") is None
        ):
            return "lower"
        return "higher"


def _training(report: RunReport) -> dict[str, Any]:
    training = report.training or {}
    trials = _maps(training.get("trials"))
    lower = _direction(report) == "lower"
    primary, _ = _primary(training)
    by_candidate: dict[str, list[tuple[object, object]]] = {}
    best_points: list[tuple[object, object]] = []
    best: float | None = None
    scored = []
    for order, trial in enumerate(sorted(trials, key=lambda t: _number(t.get("number")) or 0.0)):
        number = trial.get("number", order)
        score = _number(trial.get("score"))
        if score is not None:  # pruned and failed trials have no score; the facts count them
            by_candidate.setdefault(str(trial.get("candidate") or "unknown"), []).append(
                (number, score)
            )
            scored.append(trial)
            if best is None or (score < best if lower else score > best):
                best = score
            best_points.append((number, best))
    series = [charts.Series(name, points, kind="markers") for name, points in by_candidate.items()]
    if best_points:
        series.append(
            charts.Series("running best", best_points, kind="step", color="#000000", dash="")
        )
    history = None
    if trials:
        history = charts.line_chart(
            series,
            title=f"Search history: {primary or 'score'} by trial",
            x_label="trial number",
            y_label=f"CV {primary or 'score'}" + (" (lower is better)" if lower else ""),
            description=(
                f"{len(trials)} trials, {len(scored)} scored, coloured by candidate; "
                "the black step line is the best so far"
            ),
            width=880,
            height=400,
            max_points=1200,
        )
    top = sorted(scored, key=lambda t: _number(t.get("score")) or 0.0, reverse=not lower)[
        :_MAX_TRIALS_TABLE
    ]
    budget = _dict(training.get("budget_used"))
    finalists: list[dict[str, Any]] = []
    for f in _maps(training.get("finalists")):
        finalists.append(
            {
                "candidate": f.get("candidate"),
                "params": f.get("params"),
                "kpis": {
                    str(k): _get(v, "value") if isinstance(v, Mapping) else v
                    for k, v in _dict(f.get("kpis")).items()
                },
                "badge": _verdict_badge(f.get("passed")),
                "reasons": [str(r) for r in _list(f.get("reasons"))],
                "chosen": bool(f.get("chosen")),
            }
        )
    kpi_names = list(dict.fromkeys(k for f in finalists for k in f["kpis"]))
    states: dict[str, int] = {}
    for trial in trials:
        state = str(trial.get("state") or "unknown")
        states[state] = states.get(state, 0) + 1
    return {
        "note": stage_note(report, "training"),
        "history": Markup(history) if history else None,
        "facts": [
            ("Primary KPI", primary),
            ("Trials", budget.get("trials", len(trials) if trials else None)),
            ("Trial states", ", ".join(f"{k}: {v}" for k, v in states.items()) or None),
            ("Search time", _seconds(budget.get("seconds"))),
            ("Stopped by", budget.get("stopped_by")),
        ]
        + (
            []
            if _task(report) == "regression"
            else [("Decision threshold", training.get("threshold"))]
        ),
        "finalists": finalists,
        "kpi_names": kpi_names,
        "top_trials": top,
        "trial_count": len(trials),
        "lower": lower,
    }


def _task(report: RunReport) -> str:
    return str(_get(report.validation, "task") or report.objective.get("task") or "")


def _seconds(value: object) -> str | None:
    number = _number(value)
    if number is None:
        return None
    if number < 60:
        return f"{number:.1f} s"
    minutes, seconds = divmod(round(number), 60)
    if minutes < 60:
        return f"{minutes} min {seconds:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def _curve_series(
    curve: object, x_key: str, y_key: str, score_key: str, label: str
) -> list[charts.Series]:
    """One series for a {x, y, score} curve, or one per class for {class: curve}."""
    data = _dict(curve)
    if x_key in data or y_key in data:
        items: list[tuple[str | None, Data]] = [(None, data)]
    else:
        items = [(str(k), v) for k, v in data.items() if isinstance(v, Mapping)]
    out = []
    for name, one in items:
        xs, ys = _list(one.get(x_key)), _list(one.get(y_key))
        score = _number(one.get(score_key))
        title = name or label
        if score is not None:
            title += f" ({score_key.upper()} {charts.format_number(score)})"
        out.append(charts.Series(title, list(zip(xs, ys, strict=False)), kind="line"))
    return out


def _validation(report: RunReport) -> dict[str, Any]:
    validation = report.validation or {}
    task = _task(report)
    curves = _dict(validation.get("curves"))
    roc = pr = None
    if curves.get("roc") is not None:
        series = _curve_series(curves.get("roc"), "fpr", "tpr", "auc", "ROC")
        roc = charts.line_chart(
            series,
            title="ROC curve",
            x_label="false positive rate",
            y_label="true positive rate",
            x_range=(0.0, 1.0),
            y_range=(0.0, 1.0),
            diagonal="chance",
            description="true positive rate against false positive rate over every threshold",
            width=460,
            height=420,
            max_points=300,
        )
    if curves.get("pr") is not None:
        series = _curve_series(curves.get("pr"), "recall", "precision", "ap", "precision-recall")
        prevalence = _prevalence(report)
        refs = (
            [charts.Reference(prevalence, f"no skill (prevalence {prevalence:.2f})")]
            if prevalence is not None
            else []
        )
        pr = charts.line_chart(
            series,
            title="Precision-recall curve",
            x_label="recall",
            y_label="precision",
            x_range=(0.0, 1.0),
            y_range=(0.0, 1.0),
            references=refs,
            description="precision against recall over every threshold",
            width=460,
            height=420,
            max_points=300,
        )
    confusion = _dict(validation.get("confusion"))
    matrix = _list(confusion.get("matrix"))
    confusion_svg = None
    if matrix:
        labels = [str(x) for x in _list(confusion.get("labels"))]
        threshold = confusion.get("threshold")
        at = (
            f" at threshold {charts.format_number(threshold)}"
            if _number(threshold) is not None
            else ""
        )
        confusion_svg = charts.heatmap(
            [_list(r) for r in matrix],
            row_labels=labels,
            col_labels=labels,
            title=f"Confusion matrix{at}",
            description=f"counts of actual against predicted classes{at}",
        )
    calibration = _dict(validation.get("calibration"))
    # An empty bin has no observed rate: leave it out rather than report a skipped point.
    bins = [b for b in _maps(calibration.get("bins")) if b.get("count") != 0]
    calibration_svg = None
    if bins:
        calibration_svg = charts.line_chart(
            [
                charts.Series(
                    "model",
                    [
                        (b.get("mean_predicted"), b.get("observed", b.get("observed_rate")))
                        for b in bins
                    ],
                    kind="line+markers",
                )
            ],
            title="Calibration (reliability curve)",
            x_label="mean predicted probability",
            y_label="observed positive rate",
            x_range=(0.0, 1.0),
            y_range=(0.0, 1.0),
            diagonal="perfectly calibrated",
            description="observed positive rate against mean predicted probability per bin",
            width=460,
            height=420,
        )
    importance = _dict(validation.get("importance"))
    permutation = _maps(importance.get("permutation"))
    contributions = _maps(importance.get("contributions"))
    permutation_svg = contributions_svg = None
    if permutation:
        ranked = sorted(permutation, key=lambda r: _number(r.get("mean")) or 0.0, reverse=True)
        permutation_svg = charts.bar_chart(
            [charts.Bar(str(r.get("feature")), r.get("mean"), error=r.get("std")) for r in ranked],
            title="Permutation importance",
            x_label="drop in score when the feature is shuffled (± std)",
            max_bars=_MAX_FEATURES,
        )
    if contributions:
        ranked = sorted(
            contributions, key=lambda r: _number(r.get("mean_abs")) or 0.0, reverse=True
        )
        contributions_svg = charts.bar_chart(
            [charts.Bar(str(r.get("feature")), r.get("mean_abs")) for r in ranked],
            title="Mean absolute contribution (SHAP-style)",
            x_label="mean |contribution| to the model's raw score",
            max_bars=_MAX_FEATURES,
        )
    kpi_estimates = [
        {
            "name": name,
            "value": _get(v, "value") if isinstance(v, Mapping) else v,
            "estimate": _get(v, "estimate"),
            "note": _get(v, "note"),
        }
        for name, v in _dict(validation.get("kpis")).items()
    ]
    slices = [
        {
            "name": name,
            "where": _get(v, "where"),
            "value": _get(v, "value"),
            "rows": _get(v, "rows"),
        }
        for name, v in _dict(validation.get("slices")).items()
    ]
    return {
        "note": stage_note(report, "validation"),
        "task": task or None,
        "metrics": list(_dict(validation.get("metrics")).items()),
        "kpis": kpi_estimates,
        "roc": _markup(roc),
        "pr": _markup(pr),
        "has_curves": "classification" in task or bool(curves),
        "confusion": _markup(confusion_svg),
        "has_confusion": "classification" in task or bool(confusion),
        "threshold": confusion.get("threshold"),
        "calibration": _markup(calibration_svg),
        "has_calibration": "binary" in task or bool(calibration),
        "brier": calibration.get("brier"),
        "bins": bins,
        "permutation": _markup(permutation_svg),
        "contributions": _markup(contributions_svg),
        "contributions_recorded": importance.get("contributions") is not None,
        "fairness": _fairness(report),
        "slices": slices,
        "regression": _regression(validation),
    }


def _markup(svg: str | None) -> Markup | None:
    # The charts module escapes every piece of text it writes, so its SVG is safe to embed.
    return Markup(svg) if svg else None


def _prevalence(report: RunReport) -> float | None:
    confusion = _dict(_get(report.validation, "confusion"))
    labels = [str(x) for x in _list(confusion.get("labels"))]
    matrix = [_list(r) for r in _list(confusion.get("matrix"))]
    positive = report.objective.get("positive")
    if len(labels) != 2 or len(matrix) != 2 or positive is None or str(positive) not in labels:
        return None
    try:
        totals = [sum(float(x) for x in row) for row in matrix]
    except (TypeError, ValueError):
        return None
    total = sum(totals)
    if total <= 0 or not math.isfinite(total):
        return None
    return totals[labels.index(str(positive))] / total


def _fairness(report: RunReport) -> list[dict[str, Any]]:
    out = []
    fairness = _dict(_get(report.validation, "fairness"))
    for attr, groups in fairness.items():
        rows = [_with_count(r) for r in _maps(groups)]
        rates = [(r, _number(r.get("selection_rate"))) for r in rows]
        known = [v for _, v in rates if v is not None]
        refs: list[charts.Reference] = []
        floor = None
        counts = [(_number(r.get("count")) or 0.0, v) for r, v in rates if v is not None]
        weight = sum(c for c, _ in counts)
        for target in report.kpi_targets:
            by = target.get("by")
            bys = [by] if isinstance(by, str) else [str(b) for b in _list(by)]
            if str(attr) not in bys or not known:
                continue
            metric = str(target.get("metric") or "")
            at_most, at_least = _number(target.get("at_most")), _number(target.get("at_least"))
            if metric == "demographic_parity_difference" and at_most is not None:
                floor = max(known) - at_most
                refs.append(
                    charts.Reference(
                        floor,
                        f"{target.get('name')}: highest rate minus {charts.format_number(at_most)}",
                    )
                )
            elif metric == "demographic_parity_ratio" and at_least is not None:
                floor = max(known) * at_least
                refs.append(
                    charts.Reference(
                        floor,
                        f"{target.get('name')}: highest rate times "
                        f"{charts.format_number(at_least)}",
                    )
                )
        if weight > 0:  # after the limits, so the limit keeps the boldest line style
            overall = sum(c * v for c, v in counts) / weight
            refs.append(charts.Reference(overall, "overall selection rate"))
        bars = []
        for r, v in rates:
            status: Literal["pass", "fail"] | None = None
            if floor is not None and v is not None:
                status = "fail" if v < floor - 1e-12 else "pass"
            bars.append(charts.Bar(str(r.get("group")), v, status=status))
        svg = charts.bar_chart(
            bars,
            title=f"Selection rate by {attr}",
            x_label="share of the group predicted positive",
            references=refs,
            x_range=(0.0, 1.0) if all(0 <= v <= 1 for v in known) else None,
            description=f"selection rate of each {attr} group"
            + (" against the parity limit" if floor is not None else ""),
        )
        out.append({"attr": attr, "svg": Markup(svg), "rows": rows})
    return out


def _regression(validation: Data) -> dict[str, Any] | None:
    regression = validation.get("regression")
    if not isinstance(regression, Mapping):
        return None
    points = _maps(regression.get("points"))
    pairs = [(p.get("actual"), p.get("predicted")) for p in points]
    scatter = charts.line_chart(
        [charts.Series("rows", pairs, kind="markers")],
        title="Predicted against actual",
        x_label="actual",
        y_label="predicted",
        diagonal="perfect prediction",
        description=f"{len(pairs)} holdout rows, predicted value against actual value",
        max_points=800,
    )
    residuals = _dict(regression.get("residuals"))
    if _list(residuals.get("edges")) and _list(residuals.get("counts")):
        histogram = charts.binned_histogram(
            _list(residuals.get("edges")),
            _list(residuals.get("counts")),
            title="Residuals (actual minus predicted)",
            x_label="residual",
            references=[charts.Reference(0.0, "zero error")],
        )
    else:
        values = []
        for actual, predicted in pairs:
            a, p = _number(actual), _number(predicted)
            values.append(a - p if a is not None and p is not None else None)
        histogram = charts.histogram(
            values,
            title="Residuals (actual minus predicted)",
            x_label="residual",
            references=[charts.Reference(0.0, "zero error")],
        )
    facts = [(k, v) for k, v in residuals.items() if k not in ("edges", "counts")]
    return {"scatter": Markup(scatter), "histogram": Markup(histogram), "facts": facts}


def _context_rows(report: RunReport) -> dict[str, Any]:
    verdicts = {str(v.get("kpi")): v for v in report.verdicts}
    risks = []
    for risk in report.risks:
        verdict = verdicts.get(str(risk.get("check")))
        state = str(risk.get("state") or "open")
        risks.append(
            {
                **risk,
                "state_badge": {
                    "mitigated": Badge("pass", "✓ MITIGATED"),
                    "triggered": Badge("fail", "✗ TRIGGERED"),
                }.get(state, Badge("warn", f"• {state.upper()}")),
                "touched": verdict is not None,
                "measured": verdict.get("value") if verdict else None,
            }
        )
    risks.sort(key=lambda r: not r["touched"])
    milestones = []
    for milestone in report.milestones:
        state = str(milestone.get("state") or "not recorded")
        milestones.append(
            {
                **milestone,
                "state_badge": {
                    "met": Badge("pass", "✓ MET"),
                    "on track": Badge("none", "• ON TRACK"),
                    "at risk": Badge("warn", "! AT RISK"),
                    "late": Badge("fail", "✗ LATE"),
                }.get(state, Badge("none", state.upper())),
            }
        )
    targets = []
    for t in report.kpi_targets:
        targets.append({**t, "target": _threshold_text({}, t)})
    return {"risks": risks, "milestones": milestones, "targets": targets}


def _lineage(report: RunReport) -> dict[str, Any]:
    lineage = report.lineage or {}
    fingerprint = lineage.get("data_fingerprint", lineage.get("fingerprint"))
    if fingerprint is None:
        fingerprint = _get(report.audit, "fingerprint")
    rows: list[tuple[str, Any]] = [
        ("Charter sha256", lineage.get("charter_sha256") or report.run.get("charter_sha256")),
        ("Charter revision", lineage.get("charter_revision", report.run.get("charter_revision"))),
    ]
    if isinstance(fingerprint, Mapping):
        rows += [(f"Data {k.replace('_', ' ')}", v) for k, v in fingerprint.items()]
    else:
        rows.append(("Data fingerprint", fingerprint))
    rows.append(("Code version", lineage.get("code_version")))
    seeds = lineage.get("seeds")
    if isinstance(seeds, Mapping) and seeds:
        rows += [(f"Seed: {k}", v) for k, v in seeds.items()]
    else:
        rows.append(("Seeds", seeds))
    known = {"charter_sha256", "charter_revision", "data_fingerprint", "fingerprint"}
    known |= {"code_version", "packages", "seeds"}
    rows += [(str(k), v) for k, v in lineage.items() if k not in known]
    packages = _dict(lineage.get("packages"))
    return {
        "rows": rows,
        "packages": sorted(packages.items(), key=lambda kv: str(kv[0]).lower()),
    }


def build(report: RunReport) -> dict[str, Any]:
    """The template's whole context for one run report."""
    run = report.run
    ready, sentence = verdict_sentence(report)
    project_name = report.project.get("name")
    run_id = run.get("id")
    title = f"{project_name or 'charter'} — run {run_id if run_id is not None else '(unknown)'}"
    stages = [
        {
            **s,
            "badge": status_badge(s.get("status")),
            "wall": _seconds(s.get("wall_seconds")),
            "cpu": _seconds(s.get("cpu_seconds")),
        }
        for s in _maps(run.get("stages"))
    ]
    exit_reason = run.get("exit_reason")
    return {
        "title": title,
        "exit_reason": exit_reason
        if exit_reason and str(exit_reason).rstrip(".") not in sentence
        else None,
        "chosen_note": stage_note(report, "training") or "Training recorded no chosen model.",
        "project": report.project,
        "stakeholders": _maps(report.project.get("stakeholders")),
        "objective": report.objective,
        "run": run,
        "run_badge": status_badge(run.get("status")),
        "ready": ready,
        "sentence": sentence,
        "kpi_rows": _kpi_rows(report),
        "gates": [(stage, _verdict_badge(passed)) for stage, passed in report.gates.items()],
        "stages": stages,
        "chosen": _chosen(report),
        "context": _context_rows(report),
        "audit": _audit(report),
        "training": _training(report),
        "validation": _validation(report),
        "lineage": _lineage(report),
    }
