"""Judge measured KPI values against the charter's thresholds: evidence in, verdicts out."""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from charter.spec import KPI


def _fmt(value: float) -> str:
    return f"{value:.4g}"


def threshold_text(kpi: KPI) -> str:
    """The KPI's target in words a stakeholder reads: '≥ 0.82', '≤ 0.1' or 'between 1 and 2'."""
    if kpi.at_least is not None and kpi.at_most is not None:
        return f"between {_fmt(kpi.at_least)} and {_fmt(kpi.at_most)}"
    if kpi.at_least is not None:
        return f"≥ {_fmt(kpi.at_least)}"
    if kpi.at_most is not None:
        return f"≤ {_fmt(kpi.at_most)}"
    return "no threshold"


@dataclass(frozen=True)
class Verdict:
    """One KPI judged: its value, its target, the margin, and pass/fail with the reason.

    `passed` is None when the KPI was not measured; `margin` is how far inside (positive) or
    outside (negative) the threshold the value lies.
    """

    kpi: str
    metric: str
    gate: str
    value: float | None
    threshold: str
    margin: float | None
    passed: bool | None
    reason: str
    estimate: bool = False

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: {kpi, metric, gate, value, threshold, margin, passed, reason, estimate}."""
        return {
            "kpi": self.kpi,
            "metric": self.metric,
            "gate": self.gate,
            "value": self.value,
            "threshold": self.threshold,
            "margin": self.margin,
            "passed": self.passed,
            "reason": self.reason,
            "estimate": self.estimate,
        }


def judge_kpi(
    kpi: KPI, value: float | None, *, note: str | None = None, estimate: bool = False
) -> Verdict:
    """The verdict on one KPI given its measured value (None: not measured)."""
    target = threshold_text(kpi)
    if value is None or (isinstance(value, float) and math.isnan(value)):
        why = note or "it could not be measured"
        return Verdict(
            kpi.name,
            kpi.metric,
            kpi.gate,
            None,
            target,
            None,
            None,
            f"{kpi.name} not measured: {why}.",
            estimate,
        )
    margins = []
    if kpi.at_least is not None:
        margins.append(value - kpi.at_least)
    if kpi.at_most is not None:
        margins.append(kpi.at_most - value)
    margin = min(margins) if margins else 0.0
    passed = margin >= 0
    label = " (estimate)" if estimate else ""
    if passed:
        reason = f"{kpi.name} {_fmt(value)}{label} meets {target} (margin {_fmt(margin)})."
    else:
        reason = f"{kpi.name} {_fmt(value)}{label} misses {target} by {_fmt(-margin)}."
    return Verdict(
        kpi.name,
        kpi.metric,
        kpi.gate,
        float(value),
        target,
        float(margin),
        passed,
        reason,
        estimate,
    )


@dataclass(frozen=True)
class GateReport:
    """The verdicts of every KPI enforced at one gate; the gate passes when all of them pass.

    A KPI that could not be measured does not pass: a gate never opens on missing evidence.
    """

    gate: str
    verdicts: tuple[Verdict, ...]

    @property
    def passed(self) -> bool:
        """True when every KPI at this gate was measured and passed."""
        return all(verdict.passed is True for verdict in self.verdicts)

    @property
    def failures(self) -> tuple[Verdict, ...]:
        """The verdicts that did not pass (failed or not measured)."""
        return tuple(v for v in self.verdicts if v.passed is not True)

    def summary(self) -> str:
        """One sentence: why the gate opens or stays shut."""
        if not self.verdicts:
            return f"The {self.gate} gate has no KPIs: it passes."
        if self.passed:
            return f"The {self.gate} gate passes: all {len(self.verdicts)} KPIs meet their targets."
        reasons = " ".join(v.reason for v in self.failures)
        return f"The {self.gate} gate fails: {reasons}"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: {gate, passed, summary, verdicts: [Verdict.to_dict()]}."""
        return {
            "gate": self.gate,
            "passed": self.passed,
            "summary": self.summary(),
            "verdicts": [v.to_dict() for v in self.verdicts],
        }


def judge(
    kpis: Sequence[KPI],
    values: Mapping[str, float | None],
    gate: str,
    *,
    notes: Mapping[str, str] | None = None,
    estimates: Collection[str] = (),
) -> GateReport:
    """Judge every KPI enforced at `gate` from `values` keyed by KPI name."""
    notes = notes or {}
    verdicts = tuple(
        judge_kpi(
            kpi, values.get(kpi.name), note=notes.get(kpi.name), estimate=kpi.name in estimates
        )
        for kpi in kpis
        if kpi.gate == gate
    )
    return GateReport(gate, verdicts)
