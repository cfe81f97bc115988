"""Rules that relate one part of a charter to another.

They read the raw YAML data defensively (a section with a wrong type is skipped here;
the schema reports it), so a charter's every fault is reported in one pass.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from charter.errors import Problem
from charter.spec import metrics as registry
from charter.spec._messages import did_you_mean
from charter.spec._yaml import Located, Path_, format_path
from charter.spec.schema import BUILTIN_CANDIDATES, TASKS

_CLASSIFICATION_COSTS = {"tp", "fp", "tn", "fn"}
_REGRESSION_COSTS = {"over", "under"}
_MODULE_FUNCTION = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")


def _map(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _entries(value: Any) -> Iterator[tuple[int, dict[str, Any]]]:
    if isinstance(value, list):
        for index, item in enumerate(value):
            if isinstance(item, dict):
                yield index, item


class _Checker:
    def __init__(self, located: Located, base_dir: Path | None) -> None:
        self.located = located
        self.base_dir = base_dir
        self.raw = _map(located.data)
        self.problems: list[Problem] = []

    def fail(self, path: Path_, message: str, *, key: bool = False) -> None:
        self.problems.append(self.located.problem(path, message, key=key))

    def must(self, path: Path_, constraint: str, got: Any, hint: str = "") -> None:
        where = format_path(path)
        shown = f"'{got}'" if isinstance(got, str) else str(got)
        self.fail(
            path,
            f"The '{where}' of {self.located.name} must be {constraint}. "
            f"Got {shown} instead.{hint}",
        )

    # ------------------------------------------------------------------------------

    def run(self) -> list[Problem]:
        objective = _map(self.raw.get("objective"))
        data = _map(self.raw.get("data"))
        task = objective.get("task") if objective.get("task") in TASKS else None
        target = objective.get("target") if isinstance(objective.get("target"), str) else None
        contract = _map(data.get("contract"))
        self._check_data(data, contract, target, task)
        self._check_objective(objective, contract, task)
        kpi_names = self._check_kpis(contract, task)
        self._check_model(kpi_names)
        self._check_monitor(task)
        self._check_risks(kpi_names)
        self._check_unique("milestones", "name")
        self._check_unique(("project", "stakeholders"), "name")
        self._check_stakeholders()
        return self.problems

    def _check_stakeholders(self) -> None:
        """Each channel's target must mean what the channel needs, before anything is sent."""
        for index, person in _entries(_map(self.raw.get("project")).get("stakeholders")):
            channel, target = person.get("notify", "console"), person.get("target")
            path = ("project", "stakeholders", index, "target")
            if channel == "file" and not (isinstance(target, str) and target.strip()):
                self.must(path, "the file path the 'file' channel appends to", target)
            elif channel in ("slack", "webhook"):
                if not isinstance(target, str) or "://" in target:
                    shown = "a URL (not shown)" if isinstance(target, str) else target
                    self.must(  # the URL is a secret: never echoed
                        path,
                        f"the name of an environment variable holding the {channel} URL "
                        "(the URL itself stays out of the charter)",
                        shown,
                    )
                elif not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", target):
                    self.must(path, "an environment variable name", target)

    def _columns_known(self, contract: dict[str, Any]) -> bool:
        """A `by`/`where` column can only be checked once the charter declares a contract."""
        return bool(contract)

    def _check_column(self, path: Path_, column: Any, contract: dict[str, Any], what: str) -> None:
        if not isinstance(column, str) or not self._columns_known(contract):
            return
        if column not in contract:
            self.must(
                path, f"{what} declared in data.contract", column, did_you_mean(column, contract)
            )

    def _check_data(
        self, data: dict[str, Any], contract: dict[str, Any], target: str | None, task: str | None
    ) -> None:
        source = data.get("source")
        source = {"path": source} if isinstance(source, str) else _map(source)
        path_ = source.get("path")
        has_query = bool(source.get("query"))
        table = source.get("table")
        engine = self.raw.get("engine")
        on_spark = (engine if isinstance(engine, str) else _map(engine).get("name")) == "spark"
        given = [
            name
            for name, there in (("path", path_), ("query", has_query), ("table", table))
            if there
        ]
        if len(given) > 1:
            self.fail(
                ("data", "source"),
                f"The 'data.source' of {self.located.name} must be one of a file path, a SQL "
                f"query or a Spark table. Got {' and '.join(given)} together instead.",
            )
        elif not given and "source" in data:
            self.fail(
                ("data", "source"),
                f"The 'data.source' of {self.located.name} must name a "
                "file (path) or a SQL query (query, with url or url_env). Got neither.",
            )
        if has_query and not (source.get("url") or source.get("url_env")):
            self.must(
                ("data", "source"),
                "given a connection 'url' or 'url_env' with its query",
                "a query alone",
            )
        if table and not on_spark:
            self.must(
                ("data", "source", "table"),
                "used with engine: spark (a table of Spark's catalog)",
                table,
                " Set engine: spark, or name a file with data.source.path.",
            )
        if has_query and on_spark:
            self.fail(
                ("data", "source", "query"),
                f"The 'data.source.query' of {self.located.name} must be left out with engine: "
                "spark, which reads a file or a table of its catalog. Got a SQL query instead. "
                "Name the table in data.source.table (Spark reads it through its own catalog "
                "or JDBC settings), or use engine: pandas.",
            )
        if isinstance(path_, str) and path_ and self.base_dir is not None:
            where = (
                ("data", "source")
                if isinstance(data.get("source"), str)
                else ("data", "source", "path")
            )
            found = self.base_dir / path_
            folder = on_spark and found.is_dir()
            if "://" not in path_ and not (found.is_file() or folder):
                what = "a file or a Parquet folder" if on_spark else "a file"
                self.must(where, f"{what} that exists (relative to the charter's folder)", path_)
            suffix = Path(path_).suffix.lower()
            if (
                "://" not in path_
                and not folder
                and suffix not in (".csv", ".tsv", ".txt", ".parquet", ".pq")
                and not source.get("format")
            ):
                self.must(where, "a .csv or .parquet file (or set 'format')", path_)
        for key in ("id", "timestamp"):
            column = data.get(key)
            self._check_column(("data", key), column, contract, "a column")
            if isinstance(column, str) and column == target:
                self.must(("data", key), "a column other than the target", column)
        exclude = _list(data.get("exclude"))
        for index, column in enumerate(exclude):
            self._check_column(("data", "exclude", index), column, contract, "a column")
            if column == target:
                self.must(("data", "exclude", index), "a column other than the target", column)
        protected = _list(data.get("protected"))
        for index, column in enumerate(protected):
            path = ("data", "protected", index)
            if column == target:
                self.must(
                    path,
                    "an attribute other than the target (a protected attribute is "
                    "audited, not predicted)",
                    column,
                )
            else:
                self._check_column(path, column, contract, "a column")
        self._check_duplicates(("data", "protected"), protected)
        self._check_duplicates(("data", "exclude"), exclude)
        split = _map(data.get("split"))
        if split.get("method") == "time" and not data.get("timestamp"):
            self.must(
                ("data", "split", "method"),
                "'random' or 'stratified' unless data.timestamp names the time column",
                "time",
            )
        if split.get("method") == "stratified" and task == "regression":
            self.must(
                ("data", "split", "method"),
                "'random' or 'time' for regression (there are no classes to stratify)",
                "stratified",
            )
        for name, spec in contract.items():
            spec = _map(spec)
            low, high = spec.get("min"), spec.get("max")
            if isinstance(low, int | float) and isinstance(high, int | float) and low > high:
                self.must(("data", "contract", name, "max"), f"at least its min ({low})", high)
            pattern = spec.get("regex")
            if isinstance(pattern, str):
                try:
                    re.compile(pattern)
                except re.error as exc:
                    self.must(
                        ("data", "contract", name, "regex"),
                        f"a valid regular expression ({exc})",
                        pattern,
                    )
            kind = spec.get("type")
            if kind in ("string", "datetime", "bool", "category") and (
                low is not None or high is not None
            ):
                self.must(
                    ("data", "contract", name, "min" if low is not None else "max"),
                    "set only on int or float columns",
                    low if low is not None else high,
                )

    def _check_objective(
        self, objective: dict[str, Any], contract: dict[str, Any], task: str | None
    ) -> None:
        target = objective.get("target")
        self._check_column(("objective", "target"), target, contract, "a column")
        positive = objective.get("positive")
        if task == "regression" and positive is not None:
            self.must(
                ("objective", "positive"),
                "left out for regression (there is no positive class)",
                positive,
            )
        spec = _map(contract.get(target)) if isinstance(target, str) else {}
        values = spec.get("values")
        if positive is not None and isinstance(values, list) and positive not in values:
            self.must(
                ("objective", "positive"), f"one of the target's allowed values {values}", positive
            )

    def _check_kpis(self, contract: dict[str, Any], task: str | None) -> set[str]:
        names: set[str] = set()
        for index, kpi in _entries(self.raw.get("kpis")):
            path: Path_ = ("kpis", index)
            name = kpi.get("name")
            if isinstance(name, str):
                if name in names:
                    self.must((*path, "name"), "unique among the KPIs", name)
                names.add(name)
            metric_name = kpi.get("metric")
            if not isinstance(metric_name, str):
                continue
            try:
                metric = registry.get_metric(metric_name)
            except KeyError:
                hint = did_you_mean(metric_name, registry.metric_names())
                self.must(
                    (*path, "metric"),
                    "a known metric (`charter check --metrics` lists them)",
                    metric_name,
                    hint,
                )
                continue
            if task and task not in metric.tasks:
                fits = ", ".join(sorted(metric.tasks))
                self.must(
                    (*path, "metric"),
                    f"a metric that fits the task '{task}' ({metric_name} fits {fits})",
                    metric_name,
                )
            self._check_kpi_params(path, kpi, metric, contract, task)
            at_least, at_most = kpi.get("at_least"), kpi.get("at_most")
            if at_least is None and at_most is None:
                self.fail(
                    path,
                    f"The '{format_path(path)}' of {self.located.name} must set a "
                    "threshold: at_least or at_most. Got neither instead.",
                )
            if metric.direction == "lower" and at_least is not None and at_most is None:
                self.must(
                    (*path, "at_least"),
                    f"at_most instead: lower {metric_name} is better",
                    "at_least",
                )
            if metric.direction == "higher" and at_most is not None and at_least is None:
                self.must(
                    (*path, "at_most"),
                    f"at_least instead: higher {metric_name} is better",
                    "at_most",
                )
            if (
                isinstance(at_least, int | float)
                and isinstance(at_most, int | float)
                and at_least > at_most
            ):
                self.must((*path, "at_most"), f"at least its at_least ({at_least})", at_most)
            gate = kpi.get("gate")
            if metric.kind == registry.MetricKind.OPERATIONAL and gate in (None, "validate"):
                self.must(
                    (*path, "gate"),
                    "'deploy' or 'monitor' for an operational metric "
                    "(it is measured while serving)",
                    gate or "validate",
                )
            where = kpi.get("where")
            if isinstance(where, dict):
                for column in where:
                    self._check_column((*path, "where", column), column, contract, "a column")
        return names

    def _check_kpi_params(
        self,
        path: Path_,
        kpi: dict[str, Any],
        metric: registry.Metric,
        contract: dict[str, Any],
        task: str | None,
    ) -> None:
        allowed = metric.required_params | metric.optional_params
        for param in ("by", "costs", "k", "column"):
            if param in kpi and param not in allowed:
                self.fail(
                    (*path, param),
                    f"The '{format_path((*path, param))}' of "
                    f"{self.located.name} does not apply to {metric.name}; it takes "
                    f"{', '.join(sorted(allowed)) or 'no parameters'}.",
                    key=True,
                )
        for param in sorted(metric.required_params):
            if kpi.get(param) is None:
                self.fail(
                    path,
                    f"The '{format_path((*path, param))}' of {self.located.name} "
                    f"must be given for {metric.name}. Got nothing instead.",
                )
        by = kpi.get("by")
        if "by" in allowed and isinstance(by, str):
            self._check_column((*path, "by"), by, contract, "a column")
        column = kpi.get("column")
        if "column" in allowed and isinstance(column, str):
            self._check_column((*path, "column"), column, contract, "a column")
        costs = kpi.get("costs")
        if "costs" in allowed and isinstance(costs, dict) and task:
            keys = _REGRESSION_COSTS if task == "regression" else _CLASSIFICATION_COSTS
            for key in costs:
                if key not in keys:
                    self.must(
                        (*path, "costs", key),
                        f"one of {sorted(keys)} for {task}",
                        key,
                        did_you_mean(str(key), keys),
                    )
        k = kpi.get("k")
        if "k" in allowed and isinstance(k, int | float) and k >= 1 and int(k) != k:
            self.must((*path, "k"), "a whole number of rows, or a fraction between 0 and 1", k)

    def _check_model(self, kpi_names: set[str]) -> None:
        model = _map(self.raw.get("model"))
        primary = model.get("primary")
        if isinstance(primary, str) and primary not in kpi_names:
            self.must(
                ("model", "primary"), "the name of a KPI", primary, did_you_mean(primary, kpi_names)
            )
        elif isinstance(primary, str):
            for _index, kpi in _entries(self.raw.get("kpis")):
                metric_name = kpi.get("metric")
                if kpi.get("name") != primary or not isinstance(metric_name, str):
                    continue
                metric = registry.METRICS.get(metric_name)
                if metric is not None and metric.kind != registry.MetricKind.MODEL:
                    self.must(
                        ("model", "primary"),
                        "a KPI on a model metric (the search "
                        f"maximises it on held-out folds); '{primary}' is {metric.kind.value}",
                        primary,
                    )
        candidates = _list(model.get("candidates"))
        for index, name in enumerate(candidates):
            if not isinstance(name, str):
                continue
            if name not in BUILTIN_CANDIDATES and not _MODULE_FUNCTION.match(name):
                self.must(
                    ("model", "candidates", index),
                    f"a built-in candidate ({', '.join(BUILTIN_CANDIDATES)}) or 'module:function'",
                    name,
                    did_you_mean(name, BUILTIN_CANDIDATES),
                )
        self._check_duplicates(("model", "candidates"), candidates)
        budget = _map(model.get("budget"))
        if "seconds" in budget and budget.get("seconds") is None and budget.get("trials") is None:
            self.must(("model", "budget"), "limited by seconds or trials", "neither")

    def _check_monitor(self, task: str | None) -> None:
        known = ("psi", "js", "wasserstein", "ks", "ks_pvalue", "unseen_share", "missing_change")
        for name in _map(_map(self.raw.get("monitor")).get("drift")):
            if name not in known:
                self.must(
                    ("monitor", "drift", name),
                    f"one of {', '.join(known)}",
                    name,
                    did_you_mean(str(name), known),
                )
        window = _map(_map(self.raw.get("monitor")).get("window"))
        if window.get("predictions") is not None and window.get("minutes") is not None:
            self.must(
                ("monitor", "window", "minutes"),
                "left out when 'predictions' is set (a window is cut by count or by time)",
                window.get("minutes"),
            )
        size, least = window.get("predictions"), window.get("min_predictions")
        if isinstance(size, int) and isinstance(least, int) and least > size:
            self.must(
                ("monitor", "window", "min_predictions"),
                f"at most the window's {size} predictions",
                least,
            )
        retrain = _map(_map(self.raw.get("monitor")).get("retrain"))
        when = _list(retrain.get("when"))
        if "schedule" in when and not retrain.get("every_days"):
            self.must(
                ("monitor", "retrain", "when"),
                "accompanied by every_days when it includes 'schedule'",
                "schedule",
            )
        promote = _map(retrain.get("promote_if"))
        metric_name = promote.get("metric")
        if isinstance(metric_name, str):
            path = ("monitor", "retrain", "promote_if", "metric")
            try:
                metric = registry.get_metric(metric_name)
            except KeyError:
                self.must(
                    path,
                    "a known metric",
                    metric_name,
                    did_you_mean(metric_name, registry.metric_names()),
                )
                return
            if metric.kind != registry.MetricKind.MODEL:
                self.must(
                    path, "a model metric (a challenger is compared on held-out data)", metric_name
                )
            elif task and task not in metric.tasks:
                self.must(path, f"a metric that fits the task '{task}'", metric_name)
        elif (
            "retrain" in _map(self.raw.get("monitor"))
            and task == "regression"
            and "metric" not in promote
        ):
            self.must(
                ("monitor", "retrain", "promote_if", "metric"),
                "set for regression (the default roc_auc fits classification only)",
                "roc_auc",
            )

    def _check_risks(self, kpi_names: set[str]) -> None:
        self._check_unique("risks", "id")
        for index, risk in _entries(self.raw.get("risks")):
            check = risk.get("check")
            if isinstance(check, str) and check not in kpi_names:
                self.must(
                    ("risks", index, "check"),
                    "the name of a KPI",
                    check,
                    did_you_mean(check, kpi_names),
                )

    def _check_unique(self, section: str | tuple[str, ...], key: str) -> None:
        path: Path_ = (section,) if isinstance(section, str) else section
        holder: Any = self.raw
        for part in path:
            holder = _map(holder).get(str(part))
        seen: set[Any] = set()
        for index, entry in _entries(holder):
            value = entry.get(key)
            if isinstance(value, str | int):
                if value in seen:
                    self.must((*path, index, key), f"unique among the {path[-1]}", value)
                seen.add(value)

    def _check_duplicates(self, path: Path_, items: list[Any]) -> None:
        seen: set[Any] = set()
        for index, item in enumerate(items):
            if not isinstance(item, str | int):
                continue
            if item in seen:
                self.must((*path, index), "listed once", item)
            seen.add(item)


def cross_check(located: Located, base_dir: Path | None) -> list[Problem]:
    """Every problem that spans sections of the charter."""
    return _Checker(located, base_dir).run()
