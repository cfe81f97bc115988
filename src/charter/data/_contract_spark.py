"""The data contract checked on Spark, as aggregates: the same violations as `check_contract`.

pandera's pyspark backend cannot be used here: `pandera.pyspark` imports `pyspark.pandas`,
which fails under pandas 3 (it imports `DateOffset` from `pandas.tseries.frequencies`), and
its error report names failed checks without counting rows or giving row numbers. So the
contract's rules are written as Spark column expressions, one per (column, check), summed
in one aggregation; only the first five rows of each violated check travel to the driver,
as examples. The rules are `check_contract`'s:

- a contract column is converted to its type first: nulls, empty text and the declared
  missing markers are missing; a present value that does not read as the type (text in a
  number column, a fraction in an int column, a word outside true/false in a bool column,
  an unparseable date) is a `type` violation, and only that;
- then nullable, min, max, values, unique and regex, on the converted values (missing values
  only break `nullable`); the id column is always checked for uniqueness;
- a contract column absent from the data is `present`, one with no value at all
  `all_missing` (its row checks are then not reported).

Row numbers count data rows from 1 in the table's order (partition by partition). Regexes
are Java's (`rlike`), which agree with Python's `re.search` on common patterns. Text dates
are parsed by Spark (`try_to_timestamp`, ISO 8601) rather than by format sniffing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from charter.data._contract import (
    _CHECK_ORDER,
    _FALSE,
    _TRUE,
    MAX_EXAMPLES,
    Violation,
    ViolationSummary,
    _allowed,
    _check_roles,
    _constraint,
)
from charter.engines import ROW_LABEL, SparkEngine, row_number_of, spark_column
from charter.errors import DataError
from charter.spec.schema import Charter, Column

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

_ID = "__charter_id"
#: The 1-based row number of `failing` rows, in the table's order.
ROW_NUMBER = "__charter_row"
#: The checks a `failing` row broke, as "column:check; ...".
CHECKS = "__charter_checks"
_BAD = "__bad_rows"
#: monotonically_increasing_id() holds the partition id above bit 33, the position below.
_POSITION_BITS = 33
_EXACT_INT = float(2**53)


@dataclass(frozen=True)
class SparkContractResult(ViolationSummary):
    """The contract check of a Spark table: the typed table and every violation found.

    `typed` holds the contract columns converted (numbers and booleans as double, text as
    string, dates as timestamp; unreadable values null) and the other columns as they were.
    `passing` is `typed` without the rows that broke a row-level check, with each row's
    label (row number - 1, as pandas indexes it) in the engine's `ROW_LABEL`; `failing`
    holds those rows as read, with their row number (`ROW_NUMBER`) and the checks they
    broke ("column:check; ...", in `CHECKS`). Both are plans: nothing runs until they are
    read.
    """

    typed: DataFrame
    violations: tuple[Violation, ...]
    rows: int
    columns: int
    bad_rows: int
    source: str = "the data"
    extra_columns: tuple[str, ...] = ()
    passing: DataFrame | None = None
    failing: DataFrame | None = None

    def to_dict(self) -> dict[str, Any]:
        """The result as JSON data, in `ContractResult.to_dict`'s shape."""
        return {
            "source": self.source,
            "rows": self.rows,
            "columns": self.columns,
            "ok": self.ok,
            "total": self.total,
            "bad_rows": self.bad_rows,
            "headline": self.headline(),
            "extra_columns": list(self.extra_columns),
            "violations": [v.to_dict() for v in self.violations],
        }


@dataclass(frozen=True)
class _Planned:
    """One contract column's typed value, its type failures and its row checks."""

    name: str
    typed: Any
    failed: Any
    checks: list[tuple[str, Any]]
    declared: bool = True


def check_contract_spark(
    frame: DataFrame, charter: Charter, *, source: str = "the data", scoring: bool = False
) -> SparkContractResult:
    """Check a Spark table against `charter.data.contract`, as `check_contract` does on pandas.

    Raises DataError (with the same message as on pandas) when a column name repeats or
    the target, id, timestamp or a protected column is missing.
    """
    from pyspark.sql import functions as F

    names = [str(name) for name in frame.columns]
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise DataError(
            f"The column names of {source} must be unique. Got "
            f"{', '.join(repr(name) for name in repeated)} more than once instead."
        )
    _check_roles(names, charter, source, need_target=not scoring)
    contract = charter.data.contract
    absent_ok = {charter.objective.target} if scoring else set()
    violations = [
        Violation(name, "present", 1, "a column of the data")
        for name in contract
        if name not in names and name not in absent_ok
    ]
    offsets = SparkEngine(frame.sparkSession).partition_offsets(frame)
    keyed = frame.withColumn(_ID, F.monotonically_increasing_id())
    plans = [_plan(keyed, name, contract.get(name), name == charter.data.id) for name in names]
    staged, conditions = _staged(keyed, names, plans)
    totals = _totals(staged, names, conditions, _any_failed(conditions, set()))
    rows = int(totals["rows"])
    empty = {
        plan.name
        for plan in plans
        if plan.name in contract
        and rows > 0
        and totals[f"present:{plan.name}"] == 0
        and totals[f"type:{plan.name}"] == 0
    }
    violations += [Violation(n, "all_missing", rows, "a column holding values") for n in empty]
    for (column, check), condition in conditions.items():
        count = int(totals[f"{check}:{column}"])
        if count == 0 or column in empty:
            continue
        examples = _examples(staged, condition, column, offsets)
        violations.append(
            Violation(column, check, count, _constraint(check, contract.get(column)), examples)
        )
    order = {name: i for i, name in enumerate([*names, *contract])}
    violations.sort(key=lambda v: (order.get(v.column, len(order)), _CHECK_ORDER[v.check]))
    typed_columns = [F.col(f"__t{i}").alias(name) for i, name in enumerate(names)]
    typed = staged.select(*typed_columns)
    failed = _any_failed(conditions, empty)
    # With no empty column, the aggregate above already counted the failing rows.
    bad_rows = totals[_BAD] if not empty else _bad_rows(staged, failed)
    row_number = _row_number(F.col(_ID), offsets).alias(ROW_NUMBER)
    broken = F.concat_ws(
        "; ",
        *[
            F.when(condition, F.lit(f"{column}:{check}"))
            for (column, check), condition in conditions.items()
            if column not in empty
        ],
    )
    return SparkContractResult(
        typed=typed,
        violations=tuple(violations),
        rows=rows,
        columns=len(names),
        bad_rows=bad_rows,
        source=source,
        extra_columns=tuple(n for n in names if n not in contract) if contract else (),
        # Without failing rows there is nothing to filter, and every later pass over the
        # table skips the checks (the unique checks' window is a shuffle).
        passing=(staged.where(~failed) if bad_rows else staged).select(
            (_row_number(F.col(_ID), offsets) - 1).alias(ROW_LABEL), *typed_columns
        ),
        failing=staged.where(failed).select(
            row_number, *[spark_column(name) for name in names], broken.alias(CHECKS)
        ),
    )


def _row_number(identifier: Any, offsets: dict[int, int]) -> Any:
    """`row_number_of` as a Spark expression: the partition's offset plus the position."""
    from pyspark.sql import functions as F

    partition = F.shiftright(identifier, _POSITION_BITS).cast("int")
    position = identifier.bitwiseAND(F.lit((1 << _POSITION_BITS) - 1))
    if not offsets:
        return position + 1
    starts = F.create_map(
        *[item for key, value in offsets.items() for item in (F.lit(key), F.lit(value))]
    )
    return F.coalesce(starts[partition], F.lit(0)).cast("long") + position + 1


def _plan(frame: DataFrame, name: str, declared: Column | None, is_id: bool) -> _Planned:
    from pyspark.sql import functions as F

    raw = spark_column(name)
    if declared is None:
        only_unique: list[tuple[str, Any]] = [("unique", None)] if is_id else []
        return _Planned(name, raw, F.lit(False), only_unique, declared=False)
    kind = frame.schema[name].dataType
    typed, failed = _converted(raw, kind, declared)
    checks: list[tuple[str, Any]] = []
    if not declared.nullable:
        checks.append(("nullable", typed.isNull() & ~failed))
    if declared.type in ("int", "float"):
        if declared.min is not None:
            checks.append(("min", typed < F.lit(float(declared.min))))
        if declared.max is not None:
            checks.append(("max", typed > F.lit(float(declared.max))))
    if declared.values is not None:
        allowed = _allowed(declared)
        checks.append(("values", typed.isNotNull() & ~typed.isin(allowed)))
    if declared.unique or is_id:
        checks.append(("unique", None))
    if declared.regex is not None:
        checks.append(("regex", typed.isNotNull() & ~typed.cast("string").rlike(declared.regex)))
    return _Planned(name, typed, failed, checks)


def _converted(raw: Any, kind: Any, declared: Column) -> tuple[Any, Any]:
    """(typed value, present-but-unreadable flag) of one contract column."""
    from pyspark.sql import functions as F
    from pyspark.sql import types as T

    text = isinstance(kind, T.StringType)
    missing = raw.isNull()
    if text:
        missing = missing | raw.isin("", *declared.missing)
    if declared.type in ("int", "float"):
        number = F.trim(raw).try_cast("double") if text else raw.cast("double")
        readable = number.isNotNull() & ~F.isnan(number) & (F.abs(number) < F.lit(float("inf")))
        if declared.type == "int":
            readable = readable & (number == F.floor(number)) & (F.abs(number) <= _EXACT_INT)
    elif declared.type == "bool":
        if text:
            word = F.lower(F.trim(raw))
            number = (
                F.when(word.isin(*_TRUE), F.lit(1.0))
                .when(word.isin(*_FALSE), F.lit(0.0))
                .otherwise(F.lit(None).cast("double"))
            )
        elif isinstance(kind, T.BooleanType):
            number = raw.cast("double")
        else:
            number = F.when(raw.cast("double").isin(0.0, 1.0), raw.cast("double"))
        readable = number.isNotNull()
    elif declared.type == "datetime":
        number = F.try_to_timestamp(F.trim(raw)) if text else raw.cast("timestamp")
        readable = number.isNotNull()
    else:
        number = _as_text(raw, kind)
        readable = F.lit(True)
    typed = F.when(~missing & readable, number)
    return typed, ~missing & ~readable


def _as_text(raw: Any, kind: Any) -> Any:
    """A category as `as_text` writes it: an integral number without its ".0"."""
    from pyspark.sql import functions as F
    from pyspark.sql import types as T

    if isinstance(kind, T.FractionalType):
        integral = (raw == F.floor(raw)) & (F.abs(raw) < F.lit(_EXACT_INT))
        return F.when(integral, raw.cast("long").cast("string")).otherwise(raw.cast("string"))
    if isinstance(kind, T.BooleanType):
        return F.when(raw, F.lit("true")).otherwise(F.lit("false"))
    return raw.cast("string")


def _staged(
    keyed: DataFrame, names: list[str], plans: list[_Planned]
) -> tuple[DataFrame, dict[tuple[str, str], Any]]:
    """The table with each column's typed value and flags, and every (column, check) test.

    The original columns stay, under their names, so that the checks written on them
    (and the examples' raw values) resolve.
    """
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    columns = [F.col(_ID), *[spark_column(name) for name in names]]
    for i, plan in enumerate(plans):
        columns += [plan.typed.alias(f"__t{i}"), plan.failed.alias(f"__f{i}")]
    staged = keyed.select(*columns)
    conditions: dict[tuple[str, str], Any] = {}
    for i, plan in enumerate(plans):
        if plan.declared:
            conditions[(plan.name, "type")] = F.col(f"__f{i}")
        for check, condition in plan.checks:
            if check == "unique":
                counted = F.count(F.lit(1)).over(Window.partitionBy(F.col(f"__t{i}")))
                staged = staged.withColumn(f"__u{i}", counted)
                condition = F.col(f"__t{i}").isNotNull() & (F.col(f"__u{i}") > 1)
            conditions[(plan.name, check)] = condition
    return staged, conditions


def _totals(
    staged: DataFrame, names: list[str], conditions: dict[tuple[str, str], Any], failed: Any
) -> dict[str, int]:
    from pyspark.sql import functions as F

    aggregates = [
        F.count(F.lit(1)).alias("rows"),
        F.sum(F.when(failed, 1).otherwise(0)).alias(_BAD),
    ]
    aggregates += [F.count(F.col(f"__t{i}")).alias(f"present:{n}") for i, n in enumerate(names)]
    aggregates += [
        F.sum(F.when(condition, 1).otherwise(0)).alias(f"{check}:{column}")
        for (column, check), condition in conditions.items()
    ]
    row = staged.agg(*aggregates).first()
    totals = {key: int(value or 0) for key, value in (row.asDict() if row else {}).items()}
    for name in names:
        totals.setdefault(f"type:{name}", 0)
    return totals


def _examples(
    staged: DataFrame, condition: Any, column: str, offsets: dict[int, int]
) -> tuple[tuple[int, Any], ...]:
    """The first rows (by position) that break a check: (row number, raw value)."""
    from pyspark.sql import functions as F

    chosen = staged.where(condition).orderBy(F.col(_ID)).select(F.col(_ID), spark_column(column))
    return tuple(
        (row_number_of(int(row[0]), offsets), row[1])
        for row in chosen.limit(MAX_EXAMPLES).collect()
    )


def _any_failed(conditions: dict[tuple[str, str], Any], empty: set[str]) -> Any:
    """True for a row that breaks any row-level check (of a column that holds values)."""
    from pyspark.sql import functions as F

    kept = [c for (column, _), c in conditions.items() if column not in empty]
    if not kept:
        return F.lit(False)
    any_failed = F.coalesce(kept[0], F.lit(False))
    for condition in kept[1:]:
        any_failed = any_failed | F.coalesce(condition, F.lit(False))
    return any_failed


def _bad_rows(staged: DataFrame, failed: Any) -> int:
    from pyspark.sql import functions as F

    row = staged.agg(F.sum(F.when(failed, 1).otherwise(0)).alias("bad")).first()
    return int(row["bad"] or 0) if row is not None else 0
