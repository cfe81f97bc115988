"""KPI gates: measured values in, verdicts with reasons out.

`judge(kpis, values, gate)` returns a `GateReport`; it passes only when every KPI enforced
at that gate was measured and meets its threshold.
"""

from charter.gates._judge import GateReport, Verdict, judge, judge_kpi, threshold_text

__all__ = ["GateReport", "Verdict", "judge", "judge_kpi", "threshold_text"]
