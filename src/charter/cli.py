"""The `charter` command line: parse, call the lifecycle, render. It holds no logic.

Heavy libraries (pandas, scikit-learn, SQLAlchemy...) are imported inside the commands
that need them, so `charter --help` answers at once. `main()` is the one error boundary.
"""

from __future__ import annotations

import json
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console

from charter.errors import CharterError, SpecError

if TYPE_CHECKING:
    from charter.lifecycle import RunOutcome, StatusReport

EXIT_FAILED = 1
EXIT_INTERNAL = 70  # sysexits' EX_SOFTWARE: a bug in charter, not in the user's input

app = typer.Typer(
    name="charter",
    help="Execute a machine-learning project from one declarative file, charter.yaml.\n\n"
    "Start with `charter init --data data.csv --target label`, then `charter check`.",
    epilog="**Examples**\n\n"
    "    charter init --data data/telco_churn.csv --target Churn\n\n"
    "    charter check\n\n"
    "    charter status --json\n\n"
    "    charter metrics --task regression\n\n"
    "    charter schema > charter.schema.json",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="markdown",
)
out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)

CharterOpt = Annotated[
    Path | None,
    typer.Option(
        "--charter",
        "-c",
        help="The charter file, or a folder holding charter.yaml. [default: ./charter.yaml]",
        show_default=False,
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]


def _json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")


def _one_of(value: str | None, allowed: Sequence[str], option: str) -> None:
    """Refuse an option value outside `allowed` (None means "not given") as a usage error."""
    if value is not None and value not in allowed:
        raise typer.BadParameter(
            f"must be one of {', '.join(allowed)}. Got '{value}' instead.", param_hint=option
        )


def _charter_path(charter: Path | None, positional: Path | None = None) -> Path:
    from charter.spec import find_charter

    return find_charter(positional if positional is not None else charter)


@app.command(
    epilog="**Examples**\n\n"
    "    charter check\n\n"
    "    charter check examples/telco-churn/charter.yaml --json\n\n"
    "    charter check --no-record   # validate only, leave the ledger alone",
)
def check(
    path: Annotated[
        Path | None, typer.Argument(help="The charter file (or its folder).", show_default=False)
    ] = None,
    charter: CharterOpt = None,
    record: Annotated[
        bool, typer.Option(help="Record a new revision of a valid charter in the ledger.")
    ] = True,
    as_json: JsonOpt = False,
) -> None:
    """Validate a charter and report every problem at once, each with file:line:column."""
    from charter import lifecycle

    target = _charter_path(charter, path)
    try:
        outcome = lifecycle.check(target, record=record)
    except SpecError as exc:
        if as_json:
            _json(
                {
                    "ok": False,
                    "charter": str(target),
                    "problems": [
                        {
                            "file": p.file,
                            "line": p.line,
                            "column": p.column,
                            "path": p.path,
                            "message": p.message,
                        }
                        for p in exc.problems
                    ],
                }
            )
        else:
            for problem in exc.problems:
                err.print(str(problem), markup=False)
            count = len(exc.problems)
            err.print(
                f"{count} problem{'s' if count != 1 else ''} found in {target}.", markup=False
            )
        raise typer.Exit(EXIT_FAILED) from None
    if as_json:
        _json(
            {
                "ok": True,
                "charter": str(target),
                "project": outcome.project,
                "sha256": outcome.sha256,
                "revision": outcome.revision,
                "new_revision": outcome.new_revision,
                "changed_sections": outcome.changed_sections,
            }
        )
        return
    out.print(
        f"[green]✓[/green] {target} is valid: project '{outcome.project}', "
        f"{outcome.kpi_count} KPIs, {outcome.risk_count} risks, "
        f"{outcome.milestone_count} milestones."
    )
    if outcome.revision is None:
        return
    if outcome.new_revision:
        changed = (
            "first revision"
            if outcome.first_revision
            else "changed " + (", ".join(outcome.changed_sections) or "formatting only")
        )
        out.print(f"  Recorded revision {outcome.revision} ({outcome.sha256[:12]}): {changed}.")
    else:
        out.print(f"  Unchanged since revision {outcome.revision} ({outcome.sha256[:12]}).")


@app.command(
    epilog="**Examples**\n\n"
    "    charter schema > charter.schema.json\n\n"
    "    # VS Code (YAML extension): add to the top of charter.yaml\n\n"
    "    # yaml-language-server: $schema=./charter.schema.json",
)
def schema(
    charter: CharterOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Print the JSON Schema of charter.yaml, so editors autocomplete and validate it."""
    from charter.spec import json_schema_text

    sys.stdout.write(json_schema_text() + "\n")


@app.command(
    epilog="**Examples**\n\n"
    "    charter init --data data/telco_churn.csv --target Churn\n\n"
    "    charter init --data data/sales.parquet --target revenue --charter projects/sales/",
)
def init(
    data: Annotated[Path, typer.Option("--data", "-d", help="A CSV or Parquet file.")],
    target: Annotated[str, typer.Option("--target", "-t", help="The column to predict.")],
    charter: CharterOpt = None,
    force: Annotated[bool, typer.Option(help="Overwrite an existing charter.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Scaffold a commented charter.yaml from a data file: contract, task and KPIs inferred."""
    from charter import lifecycle

    destination = _charter_path(charter)
    with err.status(f"Reading {data} ..."):
        outcome = lifecycle.init(data, target, destination, force=force)
    if as_json:
        _json(
            {
                "charter": str(outcome.path),
                "task": outcome.task,
                "columns": outcome.columns,
                "id": outcome.id_column,
                "protected": outcome.protected,
            }
        )
        return
    out.print(
        f"[green]✓[/green] Wrote {outcome.path}: {outcome.task} on '{target}', "
        f"{outcome.columns} columns in the contract"
        + (f", id '{outcome.id_column}'" if outcome.id_column else "")
        + (f", protected {', '.join(outcome.protected)}" if outcome.protected else "")
        + "."
    )
    out.print(
        "  Review the project section and the KPI thresholds, then run "
        f"`charter check {outcome.path}`.",
        markup=False,
    )


@app.command(
    epilog="**Examples**\n\n"
    "    charter status\n\n"
    "    charter status --charter examples/telco-churn --json",
)
def status(charter: CharterOpt = None, as_json: JsonOpt = False) -> None:
    """Show where the project stands: KPIs, stages, models, incidents, risks, milestones, budget."""
    from charter import lifecycle

    report = lifecycle.status(_charter_path(charter))
    if as_json:
        _json(report.as_dict())
        return
    _render_status(report)


@app.command(
    epilog="**Examples**\n\n"
    "    charter ui\n\n"
    "    charter ui --port 9000 --charter examples/telco-churn\n\n"
    "    CHARTER_UI_TOKEN=s3cret charter ui --host 0.0.0.0   # the token is then required"
)
def ui(
    host: Annotated[str, typer.Option(help="Bind address (loopback by default).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port.")] = 8765,
    token_env: Annotated[
        str,
        typer.Option(help="The environment variable holding the read-only token (if set)."),
    ] = "CHARTER_UI_TOKEN",
    charter: CharterOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Serve the project's dashboard for a browser: KPIs, runs, models, monitoring, risks."""
    from charter.server import DashboardOptions, run_dashboard

    options = DashboardOptions(
        charter=str(_charter_path(charter)), host=host, port=port, token_env=token_env
    )
    if as_json:
        _json({"dashboard": f"http://{host}:{port}/", "charter": options.charter})
    else:
        err.print(f"Dashboard on http://{host}:{port}/ (Ctrl+C stops it)", markup=False)
    run_dashboard(options)


@app.command(
    epilog="**Examples**\n\n"
    "    charter export --what kpis\n\n"
    "    charter export --what windows --format parquet --out bi/windows.parquet\n\n"
    "    charter export --what incidents --json"
)
def export(
    what: Annotated[
        str, typer.Option(help="The table: kpis, windows, incidents or runs.")
    ] = "kpis",
    fmt: Annotated[str, typer.Option("--format", help="csv or parquet.")] = "csv",
    out_path: Annotated[
        Path | None,
        typer.Option(
            "--out",
            help="The file to write. [default: PROJECT-WHAT.FORMAT, e.g. telco-churn-kpis.csv]",
            show_default=False,
        ),
    ] = None,
    charter: CharterOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Export KPIs, monitoring windows, incidents or runs as CSV or Parquet for BI tools."""
    from charter import lifecycle

    outcome = lifecycle.export(_charter_path(charter), what, fmt, out_path)
    if as_json:
        _json(outcome.as_dict())
        return
    out.print(
        f"[green]✓[/green] Wrote {outcome.rows} {what} rows ({len(outcome.columns)} columns) "
        f"to {outcome.path}."
    )


@app.command(
    epilog="**Examples**\n\n    charter metrics\n\n    charter metrics --task regression --json",
)
def metrics(
    task: Annotated[
        str | None, typer.Option(help="Only metrics that fit this task.", show_default=False)
    ] = None,
    charter: CharterOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """List the KPI metrics a charter can name, with their kind, tasks and direction."""
    from charter.spec import METRICS, TASKS

    _one_of(task, TASKS, "--task")
    rows = [m for m in METRICS.values() if task is None or task in m.tasks]
    if as_json:
        _json(
            [
                {
                    "name": m.name,
                    "kind": m.kind.value,
                    "tasks": sorted(m.tasks),
                    "direction": m.direction,
                    "params": sorted(m.required_params),
                    "description": m.description,
                }
                for m in rows
            ]
        )
        return
    from rich.table import Table

    table = Table(title="KPI metrics", title_justify="left")
    for column in ("metric", "kind", "better", "needs", "tasks"):
        table.add_column(column)
    for m in rows:
        table.add_row(
            m.name,
            m.kind.value,
            m.direction,
            ", ".join(sorted(m.required_params)),
            ", ".join(sorted(t.split("_")[0] for t in m.tasks)),
        )
    out.print(table)


class _RichReporter:
    """Shows each stage as a line with a spinner, a bar for progress, and its outcome."""

    def __init__(self) -> None:
        from rich.progress import (
            BarColumn,
            Progress,
            SpinnerColumn,
            TextColumn,
            TimeElapsedColumn,
        )
        from rich.table import Column

        self.progress = Progress(
            SpinnerColumn(),
            TextColumn("{task.fields[stage]}", table_column=Column(min_width=9, no_wrap=True)),
            BarColumn(bar_width=20),
            TimeElapsedColumn(),
            TextColumn("{task.description}", table_column=Column(ratio=1, overflow="fold")),
            console=err,
            transient=False,
            expand=True,
        )
        self.tasks: dict[str, Any] = {}

    def stage_started(self, stage: str) -> None:
        self.tasks[stage] = self.progress.add_task("", total=1.0, stage=stage)

    def stage_progress(self, stage: str, message: str, fraction: float | None) -> None:
        task = self.tasks.get(stage)
        if task is not None:
            self.progress.update(
                task,
                description=message[:90],
                completed=None if fraction is None else min(max(fraction, 0.0), 1.0),
            )

    def stage_finished(self, stage: str, status: str, seconds: float, summary: str) -> None:
        task = self.tasks.get(stage)
        icon = "✓" if status == "passed" else "✗"
        if task is not None:
            self.progress.update(task, completed=1.0, description=f"{icon} {status}: {summary}")
            self.progress.stop_task(task)


def _run_stages(
    charter: Path | None, stages: tuple[str, ...], as_json: bool, engine: str | None = None
) -> None:
    from charter import lifecycle

    _one_of(engine, ("pandas", "spark"), "--engine")
    path = _charter_path(charter)
    reporter = _RichReporter()
    with reporter.progress:
        outcome = lifecycle.run(path, stages=stages, reporter=reporter, engine=engine)
    if as_json:
        _json(outcome.as_dict())
    else:
        _render_outcome(outcome)
    if outcome.status != "succeeded" or outcome.deployable is False:
        raise typer.Exit(EXIT_FAILED)


def _verdict_table(verdicts: Any, title: str) -> Any:
    from rich.table import Table

    table = Table(title=title, title_justify="left")
    for column in ("KPI", "gate", "value", "target", "margin", "verdict"):
        table.add_column(column, justify="right" if column in ("value", "margin") else "left")
    for v in verdicts:
        value = (
            "—"
            if v["value"] is None
            else f"{v['value']:.4g}" + (" (est.)" if v.get("estimate") else "")
        )
        margin = "—" if v["margin"] is None else f"{v['margin']:+.4g}"
        verdict = {True: "✓ PASS", False: "✗ FAIL", None: "- not measured"}[v["passed"]]
        style = {True: "green", False: "bold red", None: "yellow"}[v["passed"]]
        table.add_row(
            v["kpi"], v["gate"], value, v["threshold"], margin, f"[{style}]{verdict}[/{style}]"
        )
    return table


def _render_outcome(outcome: RunOutcome) -> None:
    if outcome.verdicts:
        out.print(_verdict_table(outcome.verdicts, "KPIs against their targets"))
    if outcome.status == "succeeded" and outcome.model_version is not None:
        if outcome.deployable:
            out.print(
                f"[green]✓[/green] Registered version {outcome.model_version} as "
                f"candidate; every deploy gate passes. Promote it with "
                f"`charter promote {outcome.model_version}`."
            )
        else:
            out.print(
                f"[red]✗[/red] Registered version {outcome.model_version} as candidate, "
                "but a deploy gate fails: it cannot be promoted without "
                f'`charter promote {outcome.model_version} --override "reason"`.'
            )
    elif outcome.status == "succeeded":
        done = ", ".join(s.stage for s in outcome.stages)
        out.print(f"[green]✓[/green] {done} passed (run {outcome.run_id[:8]}).")
    else:
        err.print(f"✗ Run {outcome.run_id[:8]} stopped: {outcome.stopped_by}", markup=False)
    if outcome.report_path is not None:
        out.print(f"Report: {outcome.report_path}", markup=False)


_RUN_EPILOG = (
    "**Examples**\n\n"
    "    charter run\n\n"
    "    charter run --charter examples/telco-churn --json\n\n"
    "    charter run --engine spark\n\n"
    "Exit code 1 when a gate fails or a blocking finding stops the run."
)

AuditEngineOpt = Annotated[
    str | None,
    typer.Option(
        "--engine",
        help="Where the audit reads, checks and profiles the data: pandas or spark (training "
        "stays on this machine). [default: the charter's engine]",
        show_default=False,
    ),
]


@app.command(epilog=_RUN_EPILOG)
def run(
    charter: CharterOpt = None, as_json: JsonOpt = False, engine: AuditEngineOpt = None
) -> None:
    """Run the project: audit the data, train, validate against the KPIs, register the model."""
    _run_stages(charter, ("audit", "train", "validate", "register"), as_json, engine)


@app.command(
    epilog="**Examples**\n\n    charter audit\n\n    charter audit --json\n\n"
    "    charter audit --engine spark"
)
def audit(
    charter: CharterOpt = None, as_json: JsonOpt = False, engine: AuditEngineOpt = None
) -> None:
    """Read the data once, check its contract, audit quality and bias, split it."""
    _run_stages(charter, ("audit",), as_json, engine)


@app.command(epilog="**Examples**\n\n    charter train\n\n    charter train --json")
def train(charter: CharterOpt = None, as_json: JsonOpt = False) -> None:
    """Search the candidate models within the budget, from the latest passed audit."""
    _run_stages(charter, ("train",), as_json)


@app.command(epilog="**Examples**\n\n    charter validate\n\n    charter validate --json")
def validate(charter: CharterOpt = None, as_json: JsonOpt = False) -> None:
    """Judge the latest trained model on the holdout against every KPI gate."""
    _run_stages(charter, ("validate",), as_json)


@app.command(epilog="**Examples**\n\n    charter register\n\n    charter register --json")
def register(charter: CharterOpt = None, as_json: JsonOpt = False) -> None:
    """Register the latest validated model as a new version with the alias 'candidate'."""
    _run_stages(charter, ("register",), as_json)


@app.command(
    epilog="**Examples**\n\n"
    "    charter promote 3\n\n"
    "    charter promote candidate\n\n"
    '    charter promote 4 --override "parity re-measured on Q3 data; legal signed off"'
)
def promote(
    version: Annotated[
        str, typer.Argument(help="The model version to promote: a number or an alias.")
    ],
    alias: Annotated[str, typer.Option(help="The alias to move.")] = "champion",
    override: Annotated[
        str | None,
        typer.Option(
            help="Promote despite a failed deploy gate; the reason is recorded.", show_default=False
        ),
    ] = None,
    charter: CharterOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Make a model version the champion, only when its deploy gates pass."""
    from charter import lifecycle

    outcome = lifecycle.promote(_charter_path(charter), version, alias=alias, override=override)
    if as_json:
        _json(outcome.as_dict())
        return
    out.print(_verdict_table(outcome.verdicts, "Deploy gates"))
    moved = f"from version {outcome.previous} " if outcome.previous else ""
    note = f" (override: {outcome.override_reason})" if outcome.override_reason else ""
    out.print(
        f"[green]✓[/green] {outcome.alias} moved {moved}to version {outcome.version}{note}.",
        markup=True,
    )


@app.command(epilog="**Examples**\n\n    charter report\n\n    charter report 3f2a9c1e --json")
def report(
    run_id: Annotated[
        str | None,
        typer.Argument(
            help="A run id or its prefix (default: the latest run).", show_default=False
        ),
    ] = None,
    charter: CharterOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Write the self-contained HTML report of a run and print where it is."""
    from charter import lifecycle

    path = lifecycle.report(_charter_path(charter), run_id)
    if as_json:
        _json({"report": str(path)})
    else:
        out.print(f"Report: {path}", markup=False)


_DRIFT_EPILOG = (
    "**Examples**\n\n"
    "    charter drift --in new_customers.csv\n\n"
    "    charter drift --in events/ --engine spark --ci   # a folder of Parquet parts\n\n"
    "    charter drift --table sales.customers --engine spark --json\n\n"
    "    charter drift                    # what the champion served (.charter/serving)\n\n"
    "    charter drift --log-dir logs/serving --version 3\n\n"
    "Exit code 1 with --ci when a feature or the prediction drifted; 2 when the drift "
    "cannot be measured (a missing or empty source, an unknown version, a bad option)."
)
#: `charter drift`'s exit code when nothing could be measured (1 means drift under --ci).
_EXIT_UNMEASURED = 2


@app.command(epilog=_DRIFT_EPILOG)
def drift(
    source: Annotated[
        Path | None,
        typer.Option(
            "--in",
            help="A CSV or Parquet file, or a folder of Parquet parts.",
            show_default=False,
        ),
    ] = None,
    table: Annotated[
        str | None,
        typer.Option(
            help="A table of Spark's catalog (with the spark engine).", show_default=False
        ),
    ] = None,
    log_dir: Annotated[
        Path | None,
        typer.Option(
            "--log-dir",
            help="A prediction log folder. [default without --in or --table: .charter/serving "
            "beside the charter]",
            show_default=False,
        ),
    ] = None,
    version: Annotated[
        str, typer.Option(help="The model version: a number or an alias.")
    ] = "champion",
    engine: Annotated[
        str | None,
        typer.Option(help="pandas or spark. [default: the charter's]", show_default=False),
    ] = None,
    ci: Annotated[
        bool, typer.Option("--ci", help="Exit 1 when any feature or the prediction drifted.")
    ] = False,
    charter: CharterOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Drift of a data batch or of served predictions against a model version's reference."""
    from charter import lifecycle

    _one_of(engine, ("pandas", "spark"), "--engine")
    given = [
        option
        for option, value in (("--in", source), ("--table", table), ("--log-dir", log_dir))
        if value is not None
    ]
    if len(given) > 1:
        raise typer.BadParameter(
            f"give one of --in, --table and --log-dir. Got {' and '.join(given)} instead.",
            param_hint=given[-1],
        )
    try:
        outcome = lifecycle.drift(
            _charter_path(charter),
            source=source,
            table=table,
            log_dir=log_dir,
            version=version,
            engine=engine,
        )
    except SpecError as exc:
        for problem in exc.problems:
            err.print(str(problem), markup=False)
        raise typer.Exit(_EXIT_UNMEASURED) from None
    except CharterError as exc:
        # Exit 1 means "drifted" under --ci: a drift that cannot be measured must differ.
        err.print("error: " + str(exc), markup=False)
        raise typer.Exit(_EXIT_UNMEASURED) from None
    if as_json:
        _json(outcome.as_dict())
    else:
        _render_drift(outcome)
    if ci and outcome.drifted:
        raise typer.Exit(EXIT_FAILED)


def _render_drift(outcome: Any) -> None:
    from rich.table import Table
    from rich.text import Text

    source = outcome.source
    where = {"log": "the prediction log at ", "table": "table "}.get(source["kind"], "")
    where += str(source.get("path") or source.get("name"))
    phrases = {
        "contract": "{} breaking the contract",
        "failed requests": "{} failed request(s)",
        "other versions": "{} of other versions",
    }
    left = [phrases.get(why, "{} " + why).format(n) for why, n in outcome.left_out.items() if n]
    out.print(
        f"Drift of {where} against version {outcome.version}, on {outcome.engine['name']}: "
        f"{outcome.rows} rows counted" + (f"; left out: {', '.join(left)}" if left else "") + ".",
        markup=False,
    )
    drift = outcome.report.to_json()
    table = Table(title="Against the reference statistics", title_justify="left")
    for column in ("feature", "kind", "PSI", "KS (p)", "Wass.", "JS", "unseen", "missing"):
        table.add_column(column, overflow="fold", no_wrap=column != "feature")
    table.add_column("verdict", overflow="fold")
    entries = list(drift["features"].items())
    if drift["prediction"] is not None:
        entries.append(("(prediction)", drift["prediction"]))
    for name, feature in entries:
        ks = feature["ks"]
        missing = f"{feature['missing_rate']:.1%} ({feature['reference_missing_rate']:.1%})"
        verdict = "✗ DRIFT" if feature["drifted"] else ("· absent" if feature["absent"] else "✓")
        if feature["reasons"]:
            verdict += ": " + "; ".join(feature["reasons"])
        table.add_row(
            *(
                Text(cell)
                for cell in (
                    name,
                    feature["kind"][:3],
                    f"{feature['psi']:.3f}",
                    "-" if ks is None else f"{ks:.3f} ({feature['ks_pvalue']:.2g})",
                    _stat(feature["wasserstein"]),
                    _stat(feature["js"]),
                    "-" if feature["unseen_share"] is None else f"{feature['unseen_share']:.1%}",
                    missing,
                    verdict,
                )
            ),
            style="bold" if feature["drifted"] else None,
        )
    out.print(table)
    drifted = drift["drifted"]
    prediction = outcome.report.prediction
    said = (
        ""
        if prediction is None
        else "; the prediction drifted"
        if prediction.drifted
        else "; the prediction is stable"
    )
    if drifted:
        out.print(
            f"✗ {len(drifted)} of {len(drift['features'])} features drifted: "
            f"{', '.join(drifted)} (max PSI {drift['max_psi']:.3f}){said}.",
            markup=False,
        )
    else:
        out.print(
            f"{'✗' if outcome.drifted else '✓'} No feature drifted "
            f"(max PSI {drift['max_psi']:.3f}){said}.",
            markup=False,
        )
    for note in outcome.notes:
        out.print(f"· {note}", markup=False)


def _stat(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


@app.command(
    epilog="**Examples**\n\n"
    "    charter score --in new_customers.csv --out scores.parquet\n\n"
    "    charter score --in batch.parquet --out batch_scored.csv --version 3"
)
def score(
    source: Annotated[Path, typer.Option("--in", help="A CSV or Parquet file to score.")],
    destination: Annotated[
        Path, typer.Option("--out", help="Where predictions go (.csv or .parquet).")
    ],
    version: Annotated[
        str, typer.Option(help="The model version: a number or an alias.")
    ] = "champion",
    chunk_rows: Annotated[int, typer.Option(min=1, help="Rows per chunk.")] = 50_000,
    engine: Annotated[
        str | None,
        typer.Option(
            help="pandas or spark (Parquet in, a Parquet folder out). [default: the charter's]",
            show_default=False,
        ),
    ] = None,
    charter: CharterOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Score a file in chunks with bounded memory; rows that break the contract go aside."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    from charter import lifecycle

    with Progress(
        "scoring", BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=err
    ) as progress:
        task = progress.add_task("score", total=None)

        def advance(done: int, total: int | None) -> None:
            progress.update(task, completed=done, total=total)

        outcome = lifecycle.score(
            _charter_path(charter),
            source,
            destination,
            version=version,
            chunk_rows=chunk_rows,
            progress=advance,
            engine=engine,
        )
    summary = outcome.summary
    if as_json:
        _json({"version": outcome.version, **summary})
        return
    rejected = summary.get("rejected", 0)
    out.print(
        f"[green]✓[/green] Scored {summary.get('scored', 0)} rows with version {outcome.version} "
        f"({summary.get('kind')}) into {destination}"
        + (f"; {rejected} rows broke the contract: {summary.get('rejects')}" if rejected else "")
        + ".",
    )


StyleOpt = Annotated[
    str,
    typer.Option(help="Container contract: default, sagemaker, vertex or azure."),
]


@app.command(
    epilog="**Examples**\n\n"
    "    charter serve\n\n"
    "    charter serve --version 3 --port 9000\n\n"
    "    CHARTER_TOKEN=s3cret charter serve --workers 2   # with serve.token_env: CHARTER_TOKEN\n\n"
    "    charter serve --style sagemaker                  # /ping and /invocations on 8080"
)
def serve(
    version: Annotated[
        int | None,
        typer.Option(
            help="Serve this model version (default: follow the alias).", show_default=False
        ),
    ] = None,
    alias: Annotated[str, typer.Option(help="Serve, and follow, this alias.")] = "champion",
    host: Annotated[
        str | None,
        typer.Option(help="Bind address [default: serve.host, loopback]", show_default=False),
    ] = None,
    port: Annotated[
        int | None, typer.Option(help="Port [default: serve.port]", show_default=False)
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option(min=1, help="Worker processes [default: serve.workers]", show_default=False),
    ] = None,
    log_mode: Annotated[
        str | None,
        typer.Option(
            help="Prediction log: durable or fast [default: serve.log_mode]", show_default=False
        ),
    ] = None,
    style: StyleOpt = "default",
    charter: CharterOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Serve the champion over HTTP: predict, feedback, health, schema, metrics, docs."""
    from charter.server import STYLES, ServeOptions
    from charter.server import serve as run_server

    _one_of(style, STYLES, "--style")
    _one_of(log_mode, ("durable", "fast"), "--log-mode")
    options = ServeOptions(
        charter=str(_charter_path(charter)),
        alias=None if version is not None else alias,
        version=version,
        style=style,  # type: ignore[arg-type]  # checked above
        host=host,
        port=port,
        workers=workers,
        log_mode=log_mode,  # type: ignore[arg-type]  # checked above
    )
    if as_json:
        _json({"serving": options.__dict__})
    run_server(options)


@app.command(
    epilog="**Examples**\n\n"
    "    charter package --out image/\n\n"
    "    charter package --out image/ --style sagemaker --version 3\n\n"
    "    docker build -t churn-model image/"
)
def package(
    out_dir: Annotated[Path, typer.Option("--out", help="The folder to write the image files to.")],
    version: Annotated[
        int | None,
        typer.Option(help="Package this version (default: the alias's).", show_default=False),
    ] = None,
    alias: Annotated[str, typer.Option(help="Package the version this alias names.")] = (
        "champion"
    ),
    style: StyleOpt = "default",
    charter: CharterOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Write a Dockerfile, an entrypoint and the model bundle for a container image."""
    from charter.server import STYLES, write_package

    _one_of(style, STYLES, "--style")
    path = _charter_path(charter)
    files = write_package(
        path.parent, out_dir, style=style, version=version, alias=alias, charter_file=path.name
    )
    if as_json:
        _json({"files": [str(f) for f in files]})
        return
    out.print(
        f"[green]✓[/green] Wrote {len(files)} files to {out_dir}: "
        + ", ".join(f.name for f in files)
        + f". Build with `docker build {out_dir}`."
    )


LogDirOpt = Annotated[
    Path | None,
    typer.Option(
        "--log-dir",
        help="The prediction log folder. [default: .charter/serving beside the charter]",
        show_default=False,
    ),
]


@app.command(
    epilog="**Examples**\n\n"
    "    charter monitor\n\n"
    "    charter monitor --json\n\n"
    "    charter monitor --ci            # exit 1 when a window fails a monitor gate\n\n"
    "    charter monitor --watch 60      # a pass every minute until Ctrl-C\n\n"
    "    charter monitor --no-retrain --log-dir /var/log/churn"
)
def monitor(
    charter: CharterOpt = None,
    log_dir: LogDirOpt = None,
    ci: Annotated[
        bool, typer.Option("--ci", help="Exit 1 when any window fails a monitor gate.")
    ] = False,
    watch: Annotated[
        float | None,
        typer.Option(
            "--watch",
            help="Run a pass every this many seconds, showing a live status, until Ctrl-C.",
            show_default=False,
            min=1.0,
        ),
    ] = None,
    retrain: Annotated[
        bool, typer.Option(help="Retrain when the charter's retrain policy asks for it.")
    ] = True,
    as_json: JsonOpt = False,
) -> None:
    """Judge served predictions window by window: drift, live KPIs, incidents, retraining."""
    from charter import lifecycle

    path = _charter_path(charter)
    if watch is not None:
        _watch(path, watch, log_dir, retrain, as_json)
        return
    reporter = _RichReporter()
    with reporter.progress:
        outcome = lifecycle.monitor(path, log_dir=log_dir, allow_retrain=retrain, reporter=reporter)
    if as_json:
        _json(outcome.as_dict())
    else:
        _render_monitor(outcome)
    if ci and outcome.failed:
        raise typer.Exit(EXIT_FAILED)


def _watch(path: Path, every: float, log_dir: Path | None, retrain: bool, as_json: bool) -> None:
    import time as clock

    from charter import lifecycle

    def show(outcome: Any) -> None:
        if as_json:
            sys.stdout.write(json.dumps(outcome.as_dict(), default=str) + "\n")
            sys.stdout.flush()
            return
        verdicts = [w.verdict for w in outcome.windows]
        line = (
            f"{clock.strftime('%H:%M:%S')}  read {outcome.records_read} records, "
            f"{len(verdicts)} new window(s): {verdicts.count('pass')} pass, "
            f"{verdicts.count('fail')} fail, {verdicts.count('no_verdict')} no verdict; "
            f"{outcome.pending} waiting for the next window"
        )
        if outcome.opened:
            line += f"; opened incident(s) {', '.join(str(i['id']) for i in outcome.opened)}"
        if outcome.resolved:
            line += f"; resolved {', '.join(str(i['id']) for i in outcome.resolved)}"
        if outcome.retrain:
            line += f"; retrain {outcome.retrain['status']}"
        out.print(line, markup=False)

    err.print(f"Watching every {every:g} s; Ctrl-C stops after the current pass.", markup=False)
    try:
        lifecycle.watch(path, every_s=every, on_pass=show, log_dir=log_dir, allow_retrain=retrain)
    except KeyboardInterrupt:
        err.print("stopped", markup=False)


def _render_monitor(outcome: Any) -> None:
    from rich.table import Table

    out.print(
        f"Read {outcome.records_read} new records from {outcome.log_dir}; "
        f"{outcome.pending} wait for their window to fill.",
        markup=False,
    )
    if outcome.skipped_lines:
        out.print(
            f"Skipped {len(outcome.skipped_lines)} unreadable log line(s) (reported in the "
            "ledger); every other record was read.",
            markup=False,
        )
    if not outcome.windows:
        out.print("No window completed in this pass.", markup=False)
    else:
        table = Table(title="Windows", title_justify="left")
        for column in ("version", "window", "n", "verdict", "drifted (max PSI)", "monitor KPIs"):
            table.add_column(column, overflow="fold")
        for window in outcome.windows:
            drift = window.payload.get("drift") or {}
            psi = drift.get("max_psi")
            mark = {"pass": "✓ pass", "fail": "✗ FAIL", "no_verdict": "· no verdict"}
            drifted = ", ".join(window.drifted[:4]) + ("…" if len(window.drifted) > 4 else "")
            table.add_row(
                f"v{window.version}",
                window.key + ("" if window.created else " (seen)"),
                str(window.predictions),
                mark.get(window.verdict, window.verdict),
                "-" if psi is None else f"{drifted or 'none'} ({psi:.3f})",
                _window_kpis(window.payload) or window.payload.get("note") or "-",
            )
        out.print(table)
    for incident in outcome.opened:
        out.print(
            f"✗ Opened incident {incident['id']}: {incident['KPI']} = {_num(incident['value'])} "
            f"(threshold {incident['threshold']}) in window {incident['window']}",
            markup=False,
        )
    for incident in outcome.resolved:
        out.print(f"✓ Resolved incident {incident['id']} ({incident['KPI']})", markup=False)
    failed = [d for d in outcome.deliveries if not d["delivered"]]
    if outcome.deliveries:
        out.print(
            f"Notified: {len(outcome.deliveries) - len(failed)} delivered, {len(failed)} failed"
            + "".join(f"; {d['stakeholder']} ({d['channel']}): {d['error']}" for d in failed),
            markup=False,
        )
    if outcome.retrain_reason:
        out.print(f"Retrain triggered by {outcome.retrain_reason}", markup=False)
    if outcome.retrain:
        _render_retrain(outcome.retrain)


def _window_kpis(payload: dict[str, Any]) -> str:
    """The monitor-gate KPIs of a window in one cell: 'live-auc 0.86 ✓, p99 3.2 ✓'."""
    shown = []
    for kpi in payload.get("kpis", []):
        if kpi.get("gate") != "monitor":
            continue
        value = kpi.get("value")
        mark = {True: "✓", False: "✗"}.get(kpi.get("passed"), "·")
        text = "-" if value is None else f"{value:.3g}"
        if kpi.get("estimated"):
            text += " est."
        shown.append(f"{kpi['name']} {text} {mark}")
    return ", ".join(shown)


def _render_retrain(result: dict[str, Any]) -> None:
    if result["status"] == "not started":
        out.print(f"· Retrain not started: {' '.join(result['reasons'])}", markup=False)
        return
    icon = {"promoted": "✓", "refused": "·", "stopped": "✗"}.get(result["status"], "·")
    out.print(
        f"{icon} Retrain {result['status']}: champion v{result['champion']}, challenger "
        f"{'-' if result['challenger'] is None else 'v' + str(result['challenger'])}",
        markup=False,
    )
    for name, scores in result.get("scores", {}).items():
        out.print(
            f"  {name.replace('_', ' ')} ({int(scores.get('rows') or 0)} rows): "
            f"{result['metric']} champion {_num(scores.get('champion'))}, "
            f"challenger {_num(scores.get('challenger'))}",
            markup=False,
        )
    for reason in result.get("reasons", []):
        out.print(f"  {reason}", markup=False)


def _num(value: Any) -> str:
    return "-" if value is None else f"{value:.4f}"


@app.command(
    epilog="**Examples**\n\n"
    "    charter retrain\n\n"
    "    charter retrain --json --log-dir /var/log/churn"
)
def retrain(
    charter: CharterOpt = None, log_dir: LogDirOpt = None, as_json: JsonOpt = False
) -> None:
    """Train a challenger on the original plus labelled production data; promote if better."""
    from charter import lifecycle

    path = _charter_path(charter)
    reporter = _RichReporter()
    with reporter.progress:
        result = lifecycle.retrain(path, log_dir=log_dir, reporter=reporter, trigger="manual")
    if as_json:
        _json(result.as_dict())
    else:
        _render_retrain(result.as_dict())
    if result.status == "stopped":
        raise typer.Exit(EXIT_FAILED)


@app.command(
    epilog="**Examples**\n\n    charter incidents\n\n    charter incidents --status open --json"
)
def incidents(
    status: Annotated[
        str | None,
        typer.Option(help="Only 'open' or 'resolved' incidents.", show_default=False),
    ] = None,
    charter: CharterOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """List the incidents monitoring opened: KPI, value, threshold, window, model version."""
    from rich.table import Table

    from charter import lifecycle

    _one_of(status, ("open", "resolved"), "--status")
    rows = lifecycle.incidents(_charter_path(charter), status=status)
    if as_json:
        _json(rows)
        return
    if not rows:
        out.print("No incidents" + (f" {status}." if status else "."), markup=False)
        return
    table = Table(title="Incidents", title_justify="left")
    for column in ("id", "status", "KPI", "value", "threshold", "version", "first seen", "window"):
        table.add_column(column)
    for row in rows:
        table.add_row(
            str(row["id"]),
            "● open" if row["status"] == "open" else "○ resolved",
            row["kpi"],
            "-" if row["value"] is None else f"{row['value']:.4g}",
            "-" if row["threshold"] is None else f"{row['threshold']:.4g}",
            "-" if row["model_version"] is None else f"v{row['model_version']}",
            row["first_seen"],
            row["window"] or "-",
        )
    out.print(table)


def _mark(passed: bool | None) -> str:
    if passed is None:
        return "[yellow]- not measured[/yellow]"
    return "[green]✓ pass[/green]" if passed else "[bold red]✗ fail[/bold red]"


def _measure_text(measure: Any) -> str:
    if measure is None:
        return "[dim]not measured[/dim]"
    from charter.reporting.charts import format_number

    arrow = {"up": " ▲", "down": " ▼", "flat": " ▶"}.get(measure.trend or "", "")
    estimate = " (est.)" if measure.estimated else ""
    return f"{format_number(measure.value)}{estimate} {_mark(measure.passed)}{arrow}"


_STATE_STYLES = {
    "mitigated": "green",
    "met": "green",
    "triggered": "bold red",
    "late": "bold red",
    "open": "yellow",
    "at risk": "yellow",
    "on track": "cyan",
}


def _state(word: str) -> str:
    style = _STATE_STYLES.get(word, "white")
    return f"[{style}]{word}[/{style}]"


def _render_status(report: StatusReport) -> None:
    from rich.markup import escape
    from rich.table import Table

    out.print(f"[bold]{escape(report.project)}[/bold] — {escape(report.problem)}", markup=True)
    out.print(f"charter: {report.charter_path}  ledger: {report.ledger_url}", markup=False)
    if report.is_empty:
        out.print(
            "Nothing recorded yet: no charter revision, no run, no model. "
            "Run `charter check` to record the charter.",
            markup=False,
        )
        return
    derived = report.derived
    if derived is not None:
        icon = {"on track": "✓", "off track": "✗", "needs attention": "!"}.get(
            derived.headline.state, "•"
        )
        style = {"on track": "green", "off track": "bold red", "needs attention": "yellow"}.get(
            derived.headline.state, "white"
        )
        reasons = "; ".join(derived.headline.reasons)
        out.print(f"[{style}]{icon} {derived.headline.state.upper()}[/{style}]: {escape(reasons)}")
    facts = Table(show_header=False, box=None, pad_edge=False)
    facts.add_column(style="bold")
    facts.add_column()
    for label, value in report.facts():
        facts.add_row(label, value)
    out.print(facts)
    if report.stages:
        table = Table(title="Stages (latest execution)", title_justify="left")
        for column in ("stage", "status", "when", "wall s"):
            table.add_column(column)
        for stage in report.stages:
            table.add_row(stage["stage"], stage["status"], stage["when"], stage["wall_seconds"])
        out.print(table)
    else:
        out.print("No stage has run yet.")
    if report.aliases:
        out.print(
            "Models: "
            + ", ".join(f"{alias} = v{version}" for alias, version in report.aliases.items())
        )
    if derived is not None:
        _render_derived(derived)


def _render_derived(derived: Any) -> None:
    from rich.markup import escape
    from rich.table import Table

    kpis = Table(title="KPIs against their targets", title_justify="left")
    for column in ("KPI", "gate", "target", "from validation", "from monitoring"):
        kpis.add_column(column)
    for row in derived.kpis:
        kpis.add_row(
            escape(row.name),
            row.gate,
            row.target,
            _measure_text(row.validation),
            _measure_text(row.monitoring),
        )
    out.print(kpis)
    if derived.incidents:
        incidents = Table(title="Open incidents", title_justify="left")
        for column in ("#", "KPI", "value", "threshold", "since"):
            incidents.add_column(column)
        for incident in derived.incidents:
            incidents.add_row(
                str(incident["id"]),
                escape(incident["kpi"]),
                str(incident["value"]),
                str(incident["threshold"]),
                incident["first_seen"],
            )
        out.print(incidents)
    else:
        out.print("Open incidents: none.")
    if derived.risks:
        risks = Table(title="Risks", title_justify="left")
        for column in ("risk", "state", "check", "owner", "mitigation"):
            risks.add_column(column)
        for risk in derived.risks:
            risks.add_row(
                f"{escape(risk.id)}: {escape(risk.risk)}",
                _state(risk.state),
                escape(risk.check or "-"),
                escape(risk.owner or "-"),
                escape(risk.mitigation or "-"),
            )
        out.print(risks)
    if derived.milestones:
        milestones = Table(title="Milestones", title_justify="left")
        for column in ("milestone", "stage", "due", "state", "met"):
            milestones.add_column(column)
        for milestone in derived.milestones:
            milestones.add_row(
                escape(milestone.name),
                milestone.stage,
                milestone.due,
                _state(milestone.state),
                milestone.met_at or "-",
            )
        out.print(milestones)
    budget = derived.budget
    spent = f"{budget.cpu_hours:.3g} CPU-hours"
    if budget.budget_cpu_hours is not None:
        spent += f" of {budget.budget_cpu_hours:g} ({budget.share:.1%})"
        if budget.cost is not None:
            spent += (
                f"; cost {budget.cost:.2f} {budget.currency} of "
                f"{budget.budget_cost:.2f} {budget.currency} budgeted"
            )
    out.print(f"Budget: {spent}.", markup=False)
    out.print(f"Time to deploy: {derived.time_to_deploy.text}.", markup=False)
    scope = derived.scope
    latest = scope.latest
    out.print(
        f"Scope changes since the first validated run: {scope.count}"
        + (f" (latest, revision {latest.revision}: {'; '.join(latest.changes)})" if latest else "")
        + ".",
        markup=False,
    )
    if derived.retrain:
        decision = derived.retrain[0]
        out.print(f"Latest retrain decision: {decision['message']}", markup=False)


def main() -> None:
    """Run the command line: the one place where errors become messages and exit codes."""
    try:
        app()
    except SpecError as exc:
        for problem in exc.problems:
            err.print(str(problem), markup=False)
        raise SystemExit(EXIT_FAILED) from None
    except CharterError as exc:
        err.print("error: " + str(exc), markup=False)
        raise SystemExit(EXIT_FAILED) from None
    except KeyboardInterrupt:
        err.print("interrupted", markup=False)
        raise SystemExit(130) from None
    except Exception:
        err.print(
            "internal error: this is a bug in charter; please report it with the traceback below.",
            markup=False,
        )
        err.print(traceback.format_exc(), markup=False)
        raise SystemExit(EXIT_INTERNAL) from None


if __name__ == "__main__":
    main()
