"""The dashboard's pages: view-models built from a ledger snapshot, rendered with Jinja2.

`dashboard_context(page, charter, snapshot, now=..., **extra)` builds what one page shows;
`render_dashboard_page(page, context)` renders it. Charts are inline SVG from `charts`,
drawn from the same data the app serves as JSON, so a page needs no script and no network.
Pass and fail always carry an icon and a word beside their colour.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from typing import Any

from markupsafe import Markup, escape

from charter.ledger import Evidence, ModelVersion, MonitoringWindow, Revision
from charter.reporting import charts
from charter.reporting._dashboard_tables import Row, table_rows
from charter.reporting._render import opt, pct, short, show, when
from charter.reporting._status import (
    LedgerSnapshot,
    ProjectStatus,
    derive_status,
    passes,
    scope_diff,
    target_text,
    threshold_of,
    window_kpis,
)
from charter.reporting._view import Badge
from charter.spec.schema import Charter

_PACKAGE = "charter.reporting"
#: The package folder (under charter.reporting) whose files the app serves at /static/.
DASHBOARD_STATIC = "static"
PAGES = (
    "overview",
    "runs",
    "run",
    "models",
    "compare",
    "monitoring",
    "incidents",
    "risks",
    "milestones",
    "charter",
    "error",
)
#: Navigation: (page, path, label).
NAV = (
    ("overview", "/", "Overview"),
    ("runs", "/runs", "Runs"),
    ("models", "/models", "Models"),
    ("monitoring", "/monitoring", "Monitoring"),
    ("incidents", "/incidents", "Incidents"),
    ("risks", "/risks", "Risks"),
    ("milestones", "/milestones", "Milestones"),
    ("charter", "/charter", "Charter history"),
)
_MAX_DRIFT_FEATURES = 8
_FEW_WINDOWS = 6
#: The performance metrics drawn, estimated (from confidence) against realised (from labels).
_PERFORMANCE_METRICS = ("roc_auc", "accuracy")

HEADLINE_BADGES = {
    "on track": Badge("pass", "✓ ON TRACK"),
    "needs attention": Badge("warn", "! NEEDS ATTENTION"),
    "off track": Badge("fail", "✗ OFF TRACK"),
    "not started": Badge("none", "• NOT STARTED"),
}
STATE_BADGES = {
    "mitigated": Badge("pass", "✓ MITIGATED"),
    "triggered": Badge("fail", "✗ TRIGGERED"),
    "open": Badge("warn", "• OPEN"),
    "met": Badge("pass", "✓ MET"),
    "on track": Badge("none", "• ON TRACK"),
    "at risk": Badge("warn", "! AT RISK"),
    "late": Badge("fail", "✗ LATE"),
    "resolved": Badge("pass", "✓ RESOLVED"),
    "passed": Badge("pass", "✓ PASSED"),
    "succeeded": Badge("pass", "✓ SUCCEEDED"),
    "pass": Badge("pass", "✓ PASS"),
    "failed": Badge("fail", "✗ FAILED"),
    "fail": Badge("fail", "✗ FAIL"),
    "interrupted": Badge("warn", "! INTERRUPTED"),
    "running": Badge("none", "… RUNNING"),
    "no_verdict": Badge("none", "— NO VERDICT"),
    "promoted": Badge("pass", "✓ PROMOTED"),
    "refused": Badge("warn", "• REFUSED"),
}


def state_badge(state: object) -> Badge:
    """The badge for a state word (met, late, triggered...), or a neutral one."""
    word = str(state)
    return STATE_BADGES.get(word, Badge("none", word.upper().replace("_", " ")))


def verdict_badge(passed: object) -> Badge:
    """✓ PASS, ✗ FAIL or — NOT MEASURED."""
    if passed is True:
        return STATE_BADGES["pass"]
    if passed is False:
        return STATE_BADGES["fail"]
    return Badge("none", "— NOT MEASURED")


def trend_arrow(trend: object) -> str:
    """An arrow for a trend word, with words for screen readers in the template."""
    return {"up": "▲", "down": "▼", "flat": "▶"}.get(str(trend), "")


# --------------------------------------------------------------------------- contexts


def dashboard_context(
    page: str,
    charter: Charter,
    snapshot: LedgerSnapshot,
    *,
    now: dt.datetime,
    **extra: Any,
) -> dict[str, Any]:
    """Everything template `page` shows. `extra` carries page-specific inputs:

    run: `run_id` and `evidence` (that run's Evidence list); compare: `a`, `b` (version
    numbers) and `validations` ({run id: validation payload}); error: `message`, `status`.
    """
    status = derive_status(charter, snapshot, now=now)
    base: dict[str, Any] = {
        "page": page,
        "nav": NAV,
        "project": charter.project,
        "status": status,
        "headline_badge": HEADLINE_BADGES[status.headline.state],
        "generated_at": status.generated_at,
        "token_query": extra.pop("token_query", ""),
    }
    builder = _BUILDERS.get(page)
    if builder is not None:
        base.update(builder(charter, snapshot, status, extra))
    return base


def _overview(
    charter: Charter, snapshot: LedgerSnapshot, status: ProjectStatus, extra: Mapping[str, Any]
) -> dict[str, Any]:
    budget = status.budget
    budget_chart = None
    if budget.by_stage:
        bars = [charts.Bar(stage, hours) for stage, hours in budget.by_stage.items()]
        references = []
        if budget.budget_cpu_hours is not None and budget.budget_cpu_hours <= budget.cpu_hours * 4:
            references.append(charts.Reference(budget.budget_cpu_hours, "budget"))
        budget_chart = Markup(
            charts.bar_chart(
                bars,
                title="CPU-hours by stage",
                x_label="CPU-hours",
                references=references,
                width=440,
            )
        )
    return {"kpi_rows": _kpi_view(status), "budget_chart": budget_chart}


def _kpi_view(status: ProjectStatus) -> list[dict[str, Any]]:
    rows = []
    for row in status.kpis:
        view = asdict(row)
        for part in ("validation", "monitoring"):
            measure = getattr(row, part)
            view[f"{part}_badge"] = verdict_badge(None if measure is None else measure.passed)
        rows.append(view)
    return rows


def _runs(
    charter: Charter, snapshot: LedgerSnapshot, status: ProjectStatus, extra: Mapping[str, Any]
) -> dict[str, Any]:
    return {"rows": table_rows("runs", charter, snapshot)}


def _run(
    charter: Charter, snapshot: LedgerSnapshot, status: ProjectStatus, extra: Mapping[str, Any]
) -> dict[str, Any]:
    run_id = str(extra["run_id"])
    run = next(r for r in snapshot.runs if r.id == run_id)
    evidence: Sequence[Evidence] = extra.get("evidence", ())
    verdicts: list[dict[str, Any]] = []
    for item in evidence:
        if item.kind == "gates":
            for gate in ("validate", "deploy"):
                report = (item.payload.get("gates") or {}).get(gate) or {}
                for verdict in report.get("verdicts", []):
                    verdicts.append({**verdict, "badge": verdict_badge(verdict.get("passed"))})
            break
    stages = [
        {**asdict(s), "badge": state_badge(s.status)} for s in snapshot.stages.get(run_id, ())
    ]
    versions = [v.version for v in snapshot.model_versions if v.run_id == run_id]
    return {
        "run": run,
        "run_badge": state_badge(run.status),
        "stages": stages,
        "verdicts": verdicts,
        "versions": versions,
        "evidence_kinds": sorted({e.kind for e in evidence}),
    }


def _model_row(version: ModelVersion) -> dict[str, Any]:
    metrics = version.metrics
    kpis = _section(metrics, "kpis")
    gates = _section(metrics, "gates")
    return {
        "version": version.version,
        "aliases": ", ".join(version.aliases),
        "created_at": version.created_at.isoformat(timespec="seconds"),
        "run_id": version.run_id,
        "status": version.status,
        "candidate": version.lineage.get("candidate"),
        "kpis": kpis,
        "gates": {g: verdict_badge(p) for g, p in gates.items()},
        "override_reason": version.override_reason,
    }


def _models(
    charter: Charter, snapshot: LedgerSnapshot, status: ProjectStatus, extra: Mapping[str, Any]
) -> dict[str, Any]:
    rows = [_model_row(v) for v in reversed(snapshot.model_versions)]
    versions = [v.version for v in snapshot.model_versions]
    default_b = status.champion or (versions[-1] if versions else None)
    default_a = next((v for v in reversed(versions) if v != default_b), None)
    return {
        "rows": rows,
        "kpi_names": [k.name for k in charter.kpis],
        "versions": versions,
        "default_a": default_a,
        "default_b": default_b,
    }


def _importance(validation: Mapping[str, Any] | None) -> dict[str, float]:
    importance = (validation or {}).get("importance")
    rows = importance.get("permutation") if isinstance(importance, Mapping) else None
    if not isinstance(rows, list):
        return {}
    return {
        str(r["feature"]): float(r["mean"])
        for r in rows
        if isinstance(r, Mapping) and charts.finite(r.get("mean")) is not None
    }


def _compare(
    charter: Charter, snapshot: LedgerSnapshot, status: ProjectStatus, extra: Mapping[str, Any]
) -> dict[str, Any]:
    by_version = {v.version: v for v in snapshot.model_versions}
    a, b = by_version[int(extra["a"])], by_version[int(extra["b"])]
    validations: Mapping[str, Mapping[str, Any]] = extra.get("validations", {})
    kpis = []
    for kpi in charter.kpis:
        direction, threshold = threshold_of(kpi)
        values = [_kpi_value(v, kpi.name) for v in (a, b)]
        delta = None if None in values else values[1] - values[0]  # type: ignore[operator]
        kpis.append(
            {
                "name": kpi.name,
                "target": target_text(direction, threshold),
                "a": values[0],
                "b": values[1],
                "a_badge": verdict_badge(passes(values[0], direction, threshold)),
                "b_badge": verdict_badge(passes(values[1], direction, threshold)),
                "delta": delta,
            }
        )
    keys = sorted(set(a.lineage) | set(b.lineage))
    lineage = [
        {
            "key": key,
            "a": a.lineage.get(key),
            "b": b.lineage.get(key),
            "differs": a.lineage.get(key) != b.lineage.get(key),
        }
        for key in keys
        if key != "packages"
    ]
    importances = [_importance(validations.get(v.run_id or "")) for v in (a, b)]
    features = sorted(
        set(importances[0]) | set(importances[1]),
        key=lambda f: -max(importances[0].get(f, 0.0), importances[1].get(f, 0.0)),
    )[:15]
    series = [
        charts.Bar(f"{feature} · v{v.version}", imp.get(feature))
        for feature in features
        for v, imp in zip((a, b), importances, strict=True)
    ]
    chart = (
        Markup(
            charts.bar_chart(
                series,
                title=f"Permutation importance, v{a.version} against v{b.version}",
                x_label="drop in the metric when shuffled",
                width=560,
                max_bars=30,
            )
        )
        if series
        else None
    )
    return {
        "a": _model_row(a),
        "b": _model_row(b),
        "kpis": kpis,
        "lineage": lineage,
        "importance_chart": chart,
        "importance": [
            {"feature": f, "a": importances[0].get(f), "b": importances[1].get(f)} for f in features
        ],
        "versions": sorted(by_version),
    }


def _kpi_value(version: ModelVersion, name: str) -> float | None:
    kpis = version.metrics.get("kpis")
    value = kpis.get(name) if isinstance(kpis, Mapping) else None
    return charts.finite(value)


def monitoring_series(charter: Charter, snapshot: LedgerSnapshot) -> dict[str, Any]:
    """The monitoring charts' data: one point per window (x = its place, oldest first)."""
    windows = list(snapshot.windows)
    labels = [f"{w.window_key} (v{w.version})" for w in windows]

    def points(pick: Any) -> list[tuple[int, float | None]]:
        return [(i + 1, charts.finite(pick(w))) for i, w in enumerate(windows)]

    drift: dict[str, list[tuple[int, float | None]]] = {}
    for i, window in enumerate(windows):
        features = _section(_section(window.payload, "drift"), "features")
        for name, stats in features.items():
            if isinstance(stats, Mapping):
                drift.setdefault(str(name), [(j + 1, None) for j in range(len(windows))])
                drift[str(name)][i] = (i + 1, charts.finite(stats.get("psi")))
    kpis: dict[str, Any] = {}
    for name in _kpi_names(charter, windows):
        kpi = next((k for k in charter.kpis if k.name == name), None)
        direction, threshold = threshold_of(kpi) if kpi else (None, None)
        kpis[name] = {
            "threshold": threshold,
            "direction": direction,
            "points": points(lambda w, n=name: window_kpis(w).get(n, {}).get("value")),
        }
    performance: dict[str, list[tuple[int, float | None]]] = {}
    for part in ("estimated", "realised"):
        for metric in _PERFORMANCE_METRICS:
            series = points(
                lambda w, p=part, m=metric: _section(_section(w.payload, "performance"), p).get(m)
            )
            if any(value is not None for _, value in series):
                performance[f"{part} {metric}"] = series
    return {
        "windows": labels,
        "drift_psi": drift,
        "psi_threshold": charter.monitor.drift.get("psi"),
        "kpis": kpis,
        "latency_p50_ms": points(
            lambda w: _section(w.payload, "operational").get("latency_p50_ms")
        ),
        "latency_p99_ms": points(
            lambda w: _section(w.payload, "operational").get("latency_p99_ms")
        ),
        "label_coverage": points(
            lambda w: _section(w.payload, "performance").get("label_coverage")
        ),
        "min_label_coverage": charter.monitor.min_label_coverage,
        "performance": performance,
    }


def _kpi_names(charter: Charter, windows: Sequence[MonitoringWindow]) -> list[str]:
    seen = {name for w in windows for name in window_kpis(w)}
    ordered = [k.name for k in charter.kpis if k.name in seen]
    return ordered + sorted(seen - set(ordered))


def _section(data: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = data.get(key)
    return value if isinstance(value, Mapping) else {}


def _line(
    title: str,
    named: Mapping[str, Sequence[tuple[int, float | None]]],
    y_label: str,
    references: Sequence[charts.Reference] = (),
    **options: Any,
) -> Markup:
    series = [
        charts.Series(name, list(points), kind="line+markers") for name, points in named.items()
    ]
    count = max((len(points) for points in named.values()), default=0)
    # Few windows: fix the axis to 1..6 so that its ticks fall on whole windows.
    if count <= _FEW_WINDOWS:
        options.setdefault("x_range", (1.0, float(_FEW_WINDOWS)))
    return Markup(
        charts.line_chart(
            series,
            title=title,
            x_label="window (oldest → newest)",
            y_label=y_label,
            references=references,
            width=520,
            height=340,
            **options,
        )
    )


def _monitoring(
    charter: Charter, snapshot: LedgerSnapshot, status: ProjectStatus, extra: Mapping[str, Any]
) -> dict[str, Any]:
    data = monitoring_series(charter, snapshot)
    if not snapshot.windows:
        return {"data": data, "charts": [], "rows": []}
    drift = data["drift_psi"]
    top = sorted(drift, key=lambda n: -max((v for _, v in drift[n] if v is not None), default=0.0))[
        :_MAX_DRIFT_FEATURES
    ]
    psi = data["psi_threshold"]
    figures = [
        _line(
            "Drift per feature (PSI)",
            {name: drift[name] for name in top},
            "PSI",
            [charts.Reference(psi, f"threshold {psi:g}")] if psi else [],
        )
    ]
    for name, kpi in data["kpis"].items():
        refs = []
        if kpi["threshold"] is not None:
            word = "at least" if kpi["direction"] == "at_least" else "at most"
            refs.append(charts.Reference(kpi["threshold"], f"target: {word} {kpi['threshold']:g}"))
        figures.append(_line(f"KPI '{name}' over windows", {name: kpi["points"]}, name, refs))
    figures.append(
        _line(
            "Latency percentiles",
            {"p50": data["latency_p50_ms"], "p99": data["latency_p99_ms"]},
            "milliseconds",
        )
    )
    coverage = data["min_label_coverage"]
    figures.append(
        _line(
            "Label coverage",
            {"label coverage": data["label_coverage"]},
            "share of predictions labelled",
            [charts.Reference(coverage, f"minimum {coverage:g}")],
            y_range=(0.0, 1.0),
        )
    )
    if data["performance"]:
        figures.append(
            _line(
                "Estimated and realised performance",
                data["performance"],
                "metric value",
                y_range=(0.0, 1.0),
            )
        )
    return {"data": data, "charts": figures, "rows": table_rows("windows", charter, snapshot)}


def _incidents(
    charter: Charter, snapshot: LedgerSnapshot, status: ProjectStatus, extra: Mapping[str, Any]
) -> dict[str, Any]:
    rows = table_rows("incidents", charter, snapshot)
    return {
        "rows": [
            {
                **row,
                "badge": Badge("fail", "✗ OPEN")
                if row["status"] == "open"
                else state_badge(row["status"]),
            }
            for row in reversed(rows)
        ],
        "retrain": [{**r, "badge": state_badge(r["decision"])} for r in status.retrain],
    }


def _risks(
    charter: Charter, snapshot: LedgerSnapshot, status: ProjectStatus, extra: Mapping[str, Any]
) -> dict[str, Any]:
    return {"rows": [{**asdict(r), "badge": state_badge(r.state)} for r in status.risks]}


def _milestones(
    charter: Charter, snapshot: LedgerSnapshot, status: ProjectStatus, extra: Mapping[str, Any]
) -> dict[str, Any]:
    start = snapshot.revisions[0].created_at.date() if snapshot.revisions else None
    today = dt.date.fromisoformat(status.generated_at[:10])
    return {
        "rows": [{**asdict(m), "badge": state_badge(m.state)} for m in status.milestones],
        "timeline": Markup(milestone_timeline(status.milestones, start=start, today=today))
        if status.milestones
        else None,
    }


def milestone_timeline(
    milestones: Sequence[Any], *, start: dt.date | None, today: dt.date, width: float = 720
) -> str:
    """A timeline SVG: one row per milestone, a diamond at its due date, a disc when met.

    Shapes carry the meaning as well as colours: a filled disc is "met", a hollow diamond
    the due date; a late milestone's label ends with "late".
    """
    dues = [dt.date.fromisoformat(m.due) for m in milestones]
    mets = [dt.date.fromisoformat(m.met_at[:10]) for m in milestones if m.met_at]
    first = min([today, *dues, *mets, *([start] if start else [])])
    last = max([today, *dues, *mets])
    span = max((last - first).days, 1)
    left, right, row_h, top = 190.0, 24.0, 34.0, 44.0
    height = top + row_h * len(milestones) + 30

    def x(day: dt.date) -> float:
        return left + (width - left - right) * (day - first).days / span

    parts = [
        f'<svg class="chart wide" viewBox="0 0 {width:.0f} {height:.0f}" width="{width:.0f}" '
        f'height="{height:.0f}" role="img" aria-label="Milestones against their due dates">',
        "<title>Milestones against their due dates</title>",
        f'<text x="8" y="20" font-size="16" font-weight="600" fill="#222">Milestones: '
        f"{escape(first.isoformat())} to {escape(last.isoformat())}</text>",
    ]
    tx = x(today)
    parts.append(
        f'<line x1="{tx:.1f}" y1="{top - 12}" x2="{tx:.1f}" y2="{height - 24}" '
        'stroke="#222" stroke-dasharray="4 3"/>'
        f'<text x="{tx:.1f}" y="{height - 8}" font-size="12" text-anchor="middle" '
        f'fill="#222">today {escape(today.isoformat())}</text>'
        f'<text x="{width - right:.0f}" y="{height - 8}" font-size="12" text-anchor="end" '
        'fill="#555">◇ due date   ● met</text>'
    )
    for i, (milestone, due) in enumerate(zip(milestones, dues, strict=True)):
        y = top + row_h * i + row_h / 2
        late = milestone.state == "late"
        label = f"{milestone.name} ({milestone.state})"
        parts.append(
            f'<text x="8" y="{y + 4:.1f}" font-size="13" fill="#222">{escape(label[:28])}</text>'
            f'<line x1="{left}" y1="{y:.1f}" x2="{width - right}" y2="{y:.1f}" stroke="#e3e3e3"/>'
        )
        dx = x(due)
        color = charts.FAIL_COLOR if late else "#222"
        parts.append(
            f'<path d="M{dx:.1f} {y - 8:.1f} L{dx + 8:.1f} {y:.1f} L{dx:.1f} {y + 8:.1f} '
            f'L{dx - 8:.1f} {y:.1f} Z" fill="#fff" stroke="{color}" stroke-width="2">'
            f"<title>due {escape(due.isoformat())}</title></path>"
        )
        if milestone.met_at:
            mx = x(dt.date.fromisoformat(milestone.met_at[:10]))
            parts.append(
                f'<circle cx="{mx:.1f}" cy="{y:.1f}" r="6" fill="{charts.PASS_COLOR}">'
                f"<title>met {escape(milestone.met_at[:10])}</title></circle>"
            )
    parts.append("</svg>")
    return "".join(parts)


def _diff_lines(diff: str) -> list[tuple[str, str]]:
    kinds = []
    for line in diff.splitlines():
        if line.startswith(("+++", "---")):
            kind = "meta"
        elif line.startswith("@@"):
            kind = "hunk"
        elif line.startswith("+"):
            kind = "add"
        elif line.startswith("-"):
            kind = "del"
        else:
            kind = "same"
        kinds.append((kind, line))
    return kinds


def _revision_view(revision: Revision, parent: Revision | None) -> dict[str, Any]:
    return {
        "id": revision.id,
        "sha256": revision.sha256,
        "created_at": revision.created_at.isoformat(timespec="seconds"),
        "path": revision.path,
        "changed_sections": ", ".join(revision.changed_sections) or "formatting only",
        "scope": scope_diff(None if parent is None else parent.text, revision.text)
        if parent is not None
        else (),
        "diff": _diff_lines(revision.diff) if parent is not None else [],
        "first": parent is None,
    }


def _charter(
    charter: Charter, snapshot: LedgerSnapshot, status: ProjectStatus, extra: Mapping[str, Any]
) -> dict[str, Any]:
    by_id = {r.id: r for r in snapshot.revisions}
    revisions = [
        _revision_view(r, by_id.get(r.parent_id) if r.parent_id is not None else None)
        for r in reversed(snapshot.revisions)
    ]
    return {"revisions": revisions}


def _error(
    charter: Charter, snapshot: LedgerSnapshot, status: ProjectStatus, extra: Mapping[str, Any]
) -> dict[str, Any]:
    return {"message": extra.get("message", ""), "code": extra.get("status", 500)}


_BUILDERS = {
    "overview": _overview,
    "runs": _runs,
    "run": _run,
    "models": _models,
    "compare": _compare,
    "monitoring": _monitoring,
    "incidents": _incidents,
    "risks": _risks,
    "milestones": _milestones,
    "charter": _charter,
    "error": _error,
}


def extra_tables(charter: Charter, snapshot: LedgerSnapshot, now: dt.datetime) -> dict[str, Any]:
    """The dashboard-only CSV tables (risks, milestones, models, revisions) by name."""
    status = derive_status(charter, snapshot, now=now)
    risks: list[Row] = [asdict(r) for r in status.risks]
    milestones: list[Row] = [asdict(m) for m in status.milestones]
    models: list[Row] = [
        {
            **{k: v for k, v in _model_row(v).items() if k not in ("kpis", "gates")},
            **{f"kpi_{k}": val for k, val in _section(v.metrics, "kpis").items()},
        }
        for v in snapshot.model_versions
    ]
    revisions: list[Row] = [
        {
            "revision": r.id,
            "created_at": r.created_at.isoformat(timespec="seconds"),
            "sha256": r.sha256,
            "changed_sections": ";".join(r.changed_sections),
            "scope_changes": ";".join(
                scope_diff(by.text, r.text)
                if (by := next((p for p in snapshot.revisions if p.id == r.parent_id), None))
                else ()
            ),
        }
        for r in snapshot.revisions
    ]
    return {"risks": risks, "milestones": milestones, "models": models, "revisions": revisions}


# --------------------------------------------------------------------------- rendering


@functools.lru_cache(maxsize=1)
def _environment() -> Any:
    import jinja2  # lazy: the command line starts without it

    env = jinja2.Environment(
        loader=jinja2.PackageLoader(_PACKAGE, "templates/dashboard"),
        autoescape=True,
        undefined=jinja2.ChainableUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        show=show,
        opt=opt,
        pct=pct,
        when=when,
        short=short,
        arrow=trend_arrow,
        num=_num,
        state_badge=state_badge,
        verdict_badge=verdict_badge,
    )
    return env


def _num(value: object) -> Markup:
    """A number shortened for a table cell; missing as a muted dash."""
    number = charts.finite(value)
    if number is None:
        return Markup('<span class="nr">—</span>')
    return escape(charts.format_number(number))


def render_dashboard_page(page: str, context: Mapping[str, Any]) -> str:
    """One dashboard page as HTML (`page` is one of PAGES)."""
    if page not in PAGES:
        raise ValueError(f"The 'page' of the dashboard must be one of {PAGES}. Got {page!r}.")
    html: str = _environment().get_template(f"{page}.html.j2").render(**context)
    return html


def render_problem_page(title: str, message: str, *, code: int, token_query: str = "") -> str:
    """A page for when the project cannot be read: no charter, no ledger, a corrupt one."""
    html: str = (
        _environment()
        .get_template("problem.html.j2")
        .render(title=title, message=message, code=code, nav=NAV, token_query=token_query)
    )
    return html
