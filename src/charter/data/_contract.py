"""Check a raw frame against the charter's data contract, with pandera, and type it.

Each contract column is first converted to its declared type: declared missing-value
markers (and empty CSV cells) become missing, and a value that cannot be read as the type
is a `type` violation (text in a numeric column). The typed frame is then validated by a
pandera schema built from the contract (range, allowed values, nullability, uniqueness,
regex), lazily, so that every violation is reported, not just the first. Column-level
faults (a contract column absent from the data, a column with no value at all) are
reported too; a missing target, id, timestamp or protected column is a DataError, since
nothing sensible can follow.

Row numbers in messages count data rows from 1, as a person counts them in the file below
the header: row label i (0-based, as `read_source` gives it) is row i + 1.
"""

from __future__ import annotations

import functools
import math
import os
import re
import tempfile
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from charter.data._findings import jsonable, plural, show
from charter.data._infer import DATE_FORMATS as _DATE_FORMATS
from charter.data._source import columns_shown, did_you_mean
from charter.errors import DataError
from charter.spec.schema import Charter, Column

MAX_EXAMPLES = 5
ROW_CHECKS = ("type", "nullable", "min", "max", "values", "unique", "regex")
COLUMN_CHECKS = ("present", "all_missing")
_CHECK_ORDER = {name: i for i, name in enumerate(COLUMN_CHECKS + ROW_CHECKS)}
# Integers beyond 2**53 cannot be held exactly by a float64.
_EXACT_INT = float(2**53)
_TRUE = frozenset({"true", "t", "yes", "y", "1", "1.0"})
_FALSE = frozenset({"false", "f", "no", "n", "0", "0.0"})
_DATE_SAMPLE = 1_000
_HEADLINE_PARTS = 5
_ROW_COLUMN = "charter_row"
_CHECKS_COLUMN = "charter_violations"


@dataclass(frozen=True)
class Violation:
    """Every row (or the whole column) that broke one check of one contract column.

    `check` is one of type, nullable, min, max, values, unique, regex (row-level) or
    present, all_missing (column-level). `examples` holds up to five (row number, raw
    value) pairs, row numbers counting data rows from 1.
    """

    column: str
    check: str
    count: int
    constraint: str
    examples: tuple[tuple[int, Any], ...] = ()

    @property
    def column_level(self) -> bool:
        """True for a fault of the whole column, which quarantining rows cannot fix."""
        return self.check in COLUMN_CHECKS

    @property
    def message(self) -> str:
        """The violation as a sentence."""
        if self.check == "present":
            return f"Column '{self.column}' of the contract is not in the data."
        if self.check == "all_missing":
            return f"Column '{self.column}' has no value in any of its {self.count} rows."
        shown = ", ".join(f"row {row} {show(value)}" for row, value in self.examples)
        return (
            f"{plural(self.count, 'row')} of '{self.column}' must be {self.constraint} "
            f"({self.check}); e.g. {shown}."
        )

    @property
    def brief(self) -> str:
        """The violation in a few words, for a headline."""
        if self.check == "present":
            return f"{self.column} (present: not in the data)"
        if self.check == "all_missing":
            return f"{self.column} (all_missing: every row is empty)"
        row, value = self.examples[0] if self.examples else (0, None)
        rows = plural(self.count, "row")
        return f"{self.column} ({self.check}: {rows}, e.g. row {row} {show(value)})"

    def to_dict(self) -> dict[str, Any]:
        """The violation as JSON data.

        Shape: {"column": str, "check": str, "level": "row"|"column", "count": int,
        "constraint": str, "message": str, "examples": [{"row": int, "value": JSON}, ...]}
        with at most 5 examples.
        """
        return {
            "column": self.column,
            "check": self.check,
            "level": "column" if self.column_level else "row",
            "count": self.count,
            "constraint": self.constraint,
            "message": self.message,
            "examples": [{"row": row, "value": jsonable(value)} for row, value in self.examples],
        }


class ViolationSummary:
    """What a contract check says about its violations, on either engine.

    `ContractResult` (pandas) and the Spark engine's result share it: the same `ok`,
    totals and one-line headline from their `violations` and `source`.
    """

    violations: tuple[Violation, ...]
    source: str

    @property
    def ok(self) -> bool:
        """True when no check failed."""
        return not self.violations

    @property
    def column_level(self) -> tuple[Violation, ...]:
        """The violations of whole columns (a missing or empty column)."""
        return tuple(v for v in self.violations if v.column_level)

    @property
    def total(self) -> int:
        """Failed checks counted per row (a column-level fault counts once)."""
        return sum(1 if v.column_level else v.count for v in self.violations)

    def to_dict(self) -> dict[str, Any]:
        """The result as JSON data (each kind of result gives the same shape)."""
        raise NotImplementedError

    def headline(self) -> str:
        """One line: '12 contract violations in data/x.csv: TotalCharges (type: 11 rows, ...'."""
        if self.ok:
            return f"No contract violations in {self.source}."
        parts = [v.brief for v in self.violations[:_HEADLINE_PARTS]]
        more = len(self.violations) - _HEADLINE_PARTS
        tail = f", and {plural(more, 'more check')}" if more > 0 else ""
        return (
            f"{plural(self.total, 'contract violation')} in {self.source}: "
            f"{', '.join(parts)}{tail}."
        )


@dataclass(frozen=True)
class ContractResult(ViolationSummary):
    """The contract check of one frame: the typed frame and every violation found.

    `typed` is the frame converted per the contract: markers and empty cells become
    missing; int, float and bool columns become float64 (bool as 0.0/1.0; integers stay
    exact up to 2**53); category and string columns become object dtype holding str, with
    NaN for missing; datetime columns become datetime64 (UTC, naive). A cell that could not
    be read as its type is NaN. Columns outside the contract are kept: numbers as float64
    when every value reads as one, else text. `raw` is the frame as read, `bad_rows` the
    row labels that broke a row-level check, `failures` one row per (label, column, check).
    """

    typed: pd.DataFrame
    raw: pd.DataFrame
    violations: tuple[Violation, ...]
    bad_rows: pd.Index
    failures: pd.DataFrame
    source: str = "the data"
    extra_columns: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """The result as JSON data.

        Shape: {"source": str, "rows": int, "columns": int, "ok": bool, "total": int,
        "bad_rows": int, "headline": str, "extra_columns": [str, ...],
        "violations": [Violation.to_dict(), ...]}.
        """
        return {
            "source": self.source,
            "rows": len(self.raw),
            "columns": len(self.raw.columns),
            "ok": self.ok,
            "total": self.total,
            "bad_rows": len(self.bad_rows),
            "headline": self.headline(),
            "extra_columns": list(self.extra_columns),
            "violations": [v.to_dict() for v in self.violations],
        }


class ContractViolation(DataError):
    """The data broke its contract; `result` holds every violation and the typed frame."""

    def __init__(self, result: ViolationSummary, note: str = "") -> None:
        self.result = result
        super().__init__(result.headline() + note)


@dataclass(frozen=True)
class Quarantined:
    """The rows set aside by the `quarantine` policy, and the rows kept."""

    frame: pd.DataFrame
    path: Path
    rows: int
    kept: int
    checks: dict[str, int] = field(default_factory=dict)

    @property
    def message(self) -> str:
        return (
            f"Quarantined {plural(self.rows, 'row')} that broke the contract to {self.path}; "
            f"continuing with the other {plural(self.kept, 'row')}."
        )

    def to_dict(self) -> dict[str, Any]:
        """The quarantine as JSON data.

        Shape: {"path": str, "rows": int, "kept": int, "message": str,
        "checks": {"column:check": rows, ...}}.
        """
        return {
            "path": str(self.path),
            "rows": self.rows,
            "kept": self.kept,
            "message": self.message,
            "checks": dict(self.checks),
        }


# -- the check ------------------------------------------------------------------------------


@functools.cache
def _pandera() -> Any:
    """pandera's pandas API, imported quietly.

    pandera loads its pyspark typing whenever pyspark is installed (the `spark` extra), and
    pyspark warns on import that it does not yet claim pandas 3 support. That warning says
    nothing about the pandas checks made here, so it is not shown to every `charter run`.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore", message="PySpark does not yet fully support pandas", category=FutureWarning
        )
        import pandera.pandas as pandera_pandas

        # pandera registers its backends (and imports pyspark.pandas) on the first validate.
        pandera_pandas.DataFrameSchema({}).validate(pd.DataFrame())
    return pandera_pandas


def check_contract(
    raw: pd.DataFrame, charter: Charter, *, source: str = "the data", scoring: bool = False
) -> ContractResult:
    """Check `raw` against `charter.data.contract`, reporting every violation, and type it.

    `scoring=True` checks rows to be scored: the target is not expected among them.

    Raises DataError when the target, the id, the timestamp or a protected column is not a
    column of `raw` (with the closest name as a hint); every other fault is a `Violation`
    in the result. The caller decides what a violation means (`data.on_violation`).
    """
    names = [str(name) for name in raw.columns]
    if not raw.index.is_unique:
        raise ValueError("check_contract needs a frame whose row labels are unique")
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise DataError(
            f"The column names of {source} must be unique. Got "
            f"{', '.join(repr(name) for name in repeated)} more than once instead."
        )
    _check_roles(names, charter, source, need_target=not scoring)
    contract = charter.data.contract
    absent_ok = {charter.objective.target} if scoring else set()
    violations: list[Violation] = [
        Violation(name, "present", 1, "a column of the data")
        for name in contract
        if name not in names and name not in absent_ok
    ]
    typed_columns: dict[str, pd.Series] = {}
    type_failures: dict[str, pd.Series] = {}
    for name in names:
        declared = contract.get(name)
        series = raw[name]
        if declared is None:
            typed_columns[name] = _untyped(series)
            continue
        converted, failed = convert(series, declared)
        typed_columns[name] = converted
        if bool(failed.any()):
            type_failures[name] = failed
    typed = pd.DataFrame(typed_columns, index=raw.index)
    typed.columns = pd.Index(names, dtype=object)

    empty = {
        name
        for name in names
        if name in contract
        and len(typed) > 0
        and bool(typed[name].isna().all())
        and name not in type_failures
    }
    violations.extend(
        Violation(name, "all_missing", len(typed), "a column holding values")
        for name in names
        if name in empty
    )
    failures = _pandera_failures(typed, charter, names)
    # A cell unreadable as its type is missing in `typed`: report it once, as `type`.
    if len(failures):
        drop = np.zeros(len(failures), dtype=bool)
        for name, failed in type_failures.items():
            bad = set(failed.index[failed.to_numpy()].tolist())
            drop |= (failures["column"] == name).to_numpy() & failures["label"].isin(bad).to_numpy()
        drop |= failures["column"].isin(empty).to_numpy()
        failures = failures.loc[~drop]
    type_rows = [
        pd.DataFrame({"label": failed.index[failed.to_numpy()], "column": name, "check": "type"})
        for name, failed in type_failures.items()
    ]
    failures = pd.concat([*type_rows, failures], ignore_index=True) if type_rows else failures
    violations.extend(_row_violations(failures, raw, contract))
    order = {name: i for i, name in enumerate([*names, *contract])}
    violations.sort(key=lambda v: (order.get(v.column, len(order)), _CHECK_ORDER[v.check]))
    bad_positions = np.unique(raw.index.get_indexer(failures["label"].to_numpy()))
    bad_rows = raw.index[bad_positions]
    extra = tuple(name for name in names if name not in contract) if contract else ()
    return ContractResult(
        typed=typed,
        raw=raw,
        violations=tuple(violations),
        bad_rows=bad_rows,
        failures=failures.reset_index(drop=True),
        source=source,
        extra_columns=extra,
    )


def _check_roles(names: list[str], charter: Charter, source: str, *, need_target: bool) -> None:
    data = charter.data
    target = charter.objective.target
    shown = columns_shown(names)
    if need_target and target not in names:
        raise DataError(
            f"The target must be a column of {source} ({shown}). Got '{target}' instead."
            f"{did_you_mean(target, names)}"
        )
    roles: list[tuple[str | None, str]] = [(name, "protected column") for name in data.protected]
    roles += [(data.id, "id"), (data.timestamp, "timestamp")]
    for name, role in roles:
        if name is not None and name not in names:
            why = (
                "a protected attribute is audited for bias, so it must be in the data"
                if role == "protected column"
                else f"the charter names it as data.{role}"
            )
            raise DataError(
                f"The {role} '{name}' is missing from {source} ({shown}); {why}."
                f"{did_you_mean(name, names)}"
            )


# -- typing -----------------------------------------------------------------------------------


def _is_text(series: pd.Series) -> bool:
    return bool(series.dtype == object or pd.api.types.is_string_dtype(series.dtype))


def _missing_mask(series: pd.Series, markers: Iterable[str]) -> np.ndarray:
    """Null cells, empty text cells and cells equal to a declared marker."""
    missing: np.ndarray = series.isna().to_numpy(dtype=bool, copy=True)
    if _is_text(series):
        missing |= series.isin(["", *markers]).to_numpy(dtype=bool)
    return missing


def convert(series: pd.Series, column: Column) -> tuple[pd.Series, pd.Series]:
    """(typed values, mask of present cells that could not be read as the column's type)."""
    size = len(series)
    positions = np.flatnonzero(~_missing_mask(series, column.missing))
    present = series.iloc[positions]
    readable: np.ndarray
    if column.type in ("int", "float", "bool"):
        if column.type == "bool":
            numbers = present.map(_boolean).to_numpy(dtype=np.float64)
            readable = ~np.isnan(numbers)
        else:
            numbers = _numbers(present).to_numpy(dtype=np.float64)
            readable = np.isfinite(numbers)
            if column.type == "int":
                with np.errstate(invalid="ignore"):
                    readable &= (numbers == np.floor(numbers)) & (np.abs(numbers) <= _EXACT_INT)
        values = np.full(size, np.nan, dtype=np.float64)
        values[positions[readable]] = numbers[readable]
        typed = pd.Series(values, index=series.index, name=series.name)
    elif column.type == "datetime":
        dates = _datetimes(present)
        readable = dates.notna().to_numpy(dtype=bool)
        typed = pd.Series(pd.NaT, index=series.index, dtype=dates.dtype, name=series.name)
        if bool(readable.any()):
            typed.iloc[positions[readable]] = dates.to_numpy()[readable]
    else:
        texts = np.full(size, np.nan, dtype=object)
        texts[positions] = _texts(present)
        readable = np.ones(len(positions), dtype=bool)
        typed = pd.Series(texts, index=series.index, dtype=object, name=series.name)
    failed = np.zeros(size, dtype=bool)
    failed[positions[~readable]] = True
    return typed, pd.Series(failed, index=series.index)


def _texts(present: pd.Series) -> np.ndarray:
    if pd.api.types.is_string_dtype(present.dtype) and present.dtype != object:
        texts: np.ndarray = present.to_numpy(dtype=object)
    else:
        texts = present.map(as_text).to_numpy(dtype=object)
    return texts


def _numbers(present: pd.Series) -> pd.Series:
    if pd.api.types.is_bool_dtype(present.dtype) or pd.api.types.is_numeric_dtype(present.dtype):
        return present.astype(np.float64)
    if pd.api.types.is_string_dtype(present.dtype) and present.dtype != object:
        stripped = present.str.strip()
    else:
        stripped = present.map(lambda value: value.strip() if isinstance(value, str) else value)
    return pd.to_numeric(stripped, errors="coerce").astype(np.float64)


def _boolean(value: Any) -> float:
    if isinstance(value, bool | np.bool_):
        return 1.0 if value else 0.0
    if isinstance(value, int | float | np.integer | np.floating) and value in (0, 1):
        return float(value)
    if isinstance(value, str):
        word = value.strip().lower()
        if word in _TRUE:
            return 1.0
        if word in _FALSE:
            return 0.0
    return math.nan


def _datetimes(present: pd.Series) -> pd.Series:
    if pd.api.types.is_datetime64_any_dtype(present.dtype):
        values = present
        if getattr(values.dt, "tz", None) is not None:
            values = values.dt.tz_convert("UTC").dt.tz_localize(None)
        return values
    text = present.map(lambda value: str(value).strip())
    sample = text.iloc[:_DATE_SAMPLE]
    best_format, best_count = None, 0
    for date_format in _DATE_FORMATS:
        count = int(_parse_dates(sample, date_format).notna().sum())
        if count > best_count:
            best_format, best_count = date_format, count
        if count == len(sample):
            break
    if best_format is None:
        return pd.Series(pd.NaT, index=present.index, dtype="datetime64[ns]")
    return _parse_dates(text, best_format)


def _parse_dates(text: pd.Series, date_format: str) -> pd.Series:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            parsed = pd.to_datetime(text, format=date_format, errors="coerce", utc=True)
        except (ValueError, TypeError, OverflowError):
            return pd.Series(pd.NaT, index=text.index, dtype="datetime64[ns]")
    result: pd.Series = parsed.dt.tz_localize(None)
    return result


def as_text(value: Any) -> str:
    """A category or string value as text: '1' for an integral number, the text itself else."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool | np.bool_):
        return "true" if value else "false"
    if isinstance(value, float | np.floating) and float(value).is_integer():
        return str(int(value))
    if isinstance(value, np.generic):
        return str(value.item())
    return str(value)


def _untyped(series: pd.Series) -> pd.Series:
    """A column outside the contract: float64 when every present value is a number, else text."""
    if not _is_text(series):
        return series.copy()
    positions = np.flatnonzero(~_missing_mask(series, ()))
    present = series.iloc[positions]
    numbers = _numbers(present).to_numpy(dtype=np.float64)
    if len(positions) and bool(np.isfinite(numbers).all()):
        values = np.full(len(series), np.nan, dtype=np.float64)
        values[positions] = numbers
        return pd.Series(values, index=series.index, name=series.name)
    texts = np.full(len(series), np.nan, dtype=object)
    texts[positions] = _texts(present)
    return pd.Series(texts, index=series.index, dtype=object, name=series.name)


# -- pandera -----------------------------------------------------------------------------------


def _allowed(column: Column) -> list[Any]:
    values = list(column.values or ())
    if column.type in ("int", "float"):
        return [float(value) for value in values if _is_number(value)]
    if column.type == "bool":
        return [_boolean(value) for value in values if not math.isnan(_boolean(value))]
    if column.type == "datetime":
        return list(_parse_dates(pd.Series([str(v) for v in values]), "ISO8601").dropna())
    return [as_text(value) for value in values]


def _is_number(value: Any) -> bool:
    try:
        float(value)
    except (TypeError, ValueError):
        return False
    return True


def _unique(series: pd.Series) -> pd.Series:
    result: pd.Series = ~series.duplicated(keep=False)
    return result


def _regex(pattern: str) -> Callable[[pd.Series], pd.Series]:
    compiled = re.compile(pattern)

    def matches(series: pd.Series) -> pd.Series:
        return series.map(lambda value: compiled.search(as_text(value)) is not None).astype(bool)

    return matches


def contract_checks(column: Column, *, unique: bool) -> list[tuple[str, Any]]:
    """(check name, pandera Check) for one contract column, in the order they are reported."""
    pa = _pandera()

    checks: list[tuple[str, Any]] = []
    if column.type in ("int", "float"):
        if column.min is not None:
            checks.append(("min", pa.Check.ge(column.min)))
        if column.max is not None:
            checks.append(("max", pa.Check.le(column.max)))
    if column.values is not None:
        checks.append(("values", pa.Check.isin(_allowed(column))))
    if unique:
        checks.append(("unique", pa.Check(_unique, name="unique")))
    if column.regex is not None:
        checks.append(("regex", pa.Check(_regex(column.regex), name="regex")))
    return checks


def contract_schema(charter: Charter, columns: Iterable[str] | None = None) -> Any:
    """The pandera DataFrameSchema of the contract, for a frame typed by `check_contract`.

    Only `columns` are included (default: every contract column); the id column is always
    checked for uniqueness, whether the contract says so or not.
    """
    return _schema(charter, list(columns) if columns is not None else list(charter.data.contract))[
        0
    ]


def _schema(charter: Charter, names: list[str]) -> tuple[Any, dict[str, list[str]]]:
    pa = _pandera()

    contract = charter.data.contract
    id_column = charter.data.id
    columns: dict[str, Any] = {}
    check_names: dict[str, list[str]] = {}
    for name in names:
        declared = contract.get(name)
        if declared is None:
            if name != id_column:
                continue
            declared = Column(type="string", nullable=True)
        pairs = contract_checks(declared, unique=declared.unique or name == id_column)
        check_names[name] = [check for check, _ in pairs]
        columns[name] = pa.Column(
            nullable=declared.nullable,
            required=False,
            checks=[check for _, check in pairs],
            name=name,
        )
    return pa.DataFrameSchema(columns, coerce=False), check_names


def _pandera_failures(typed: pd.DataFrame, charter: Charter, names: list[str]) -> pd.DataFrame:
    """One row per (label, column, check) that the contract's pandera schema rejects."""
    pa = _pandera()

    schema, check_names = _schema(charter, names)
    empty = pd.DataFrame({"label": [], "column": [], "check": []})
    if not check_names:
        return empty
    try:
        schema.validate(typed, lazy=True)
    except pa.errors.SchemaErrors as errors:
        cases = errors.failure_cases
    else:
        return empty
    rows: list[tuple[Any, str, str]] = []
    for column, check, number, label in zip(
        cases["column"], cases["check"], cases["check_number"], cases["index"], strict=True
    ):
        if column is None or label is None or column not in check_names:
            continue
        if check == "not_nullable":
            name = "nullable"
        elif number is not None and not pd.isna(number):
            name = check_names[column][int(number)]
        else:
            continue
        rows.append((label, str(column), name))
    if not rows:
        return empty
    return pd.DataFrame(rows, columns=["label", "column", "check"]).drop_duplicates()


def _constraint(check: str, column: Column | None) -> str:
    if column is None:
        return "unique (the id)" if check == "unique" else check
    if check == "type":
        return {
            "int": "an integer",
            "float": "a number",
            "bool": "true or false",
            "datetime": "a date",
        }.get(column.type, column.type)
    if check == "nullable":
        return "present (the column is not nullable)"
    if check == "min":
        return f">= {show(column.min)}"
    if check == "max":
        return f"<= {show(column.max)}"
    if check == "values":
        allowed = ", ".join(show(value) for value in (column.values or ())[:10])
        more = ", ..." if len(column.values or ()) > 10 else ""
        return f"one of {allowed}{more}"
    if check == "unique":
        return "unique"
    if check == "regex":
        return f"matching {column.regex!r}"
    return check


def _row_violations(
    failures: pd.DataFrame, raw: pd.DataFrame, contract: dict[str, Column]
) -> list[Violation]:
    violations: list[Violation] = []
    if not len(failures):
        return violations
    for (column, check), group in failures.groupby(["column", "check"], sort=False):
        positions = np.unique(raw.index.get_indexer(group["label"].to_numpy()))
        where = raw.columns.get_loc(column)
        examples = tuple(
            (int(position) + 1, raw.iat[int(position), where])
            for position in positions[:MAX_EXAMPLES]
        )
        violations.append(
            Violation(
                column=str(column),
                check=str(check),
                count=len(positions),
                constraint=_constraint(str(check), contract.get(str(column))),
                examples=examples,
            )
        )
    return violations


# -- quarantine ---------------------------------------------------------------------------------


def quarantine(result: ContractResult, path: Path) -> Quarantined:
    """Write the rows that broke the contract to the CSV `path`; return the rows kept.

    The file holds the raw rows as read, plus `charter_row` (the row number in the data)
    and `charter_violations` ("column:check; ..."). It is written atomically. Raises
    ContractViolation when a whole column is at fault (a missing or empty column cannot be
    quarantined away) and DataError when no row would be left.
    """
    if result.column_level:
        raise ContractViolation(
            result, " A missing or empty column cannot be quarantined: fix the data or contract."
        )
    bad = result.bad_rows
    kept = result.typed.drop(index=bad)
    if len(kept) == 0:
        raise DataError(
            f"Every row of {result.source} broke the contract ({result.headline()}); "
            "nothing is left to continue with after quarantine."
        )
    failures = result.failures.drop_duplicates()
    tags = failures["column"].astype(str) + ":" + failures["check"].astype(str)
    per_row = tags.groupby(failures["label"].to_numpy()).agg(lambda group: "; ".join(group))
    rows = result.raw.loc[bad].copy()
    row_column = _free_name(_ROW_COLUMN, rows.columns)
    checks_column = _free_name(_CHECKS_COLUMN, rows.columns)
    rows.insert(0, row_column, result.raw.index.get_indexer(bad) + 1)
    rows[checks_column] = per_row.reindex(bad).fillna("").to_numpy()
    _write_atomically(rows, path)
    counts = {str(tag): int(count) for tag, count in tags.value_counts(sort=False).items()}
    return Quarantined(
        frame=kept,
        path=path,
        rows=len(bad),
        kept=len(kept),
        checks=dict(sorted(counts.items())),
    )


def _free_name(name: str, taken: pd.Index) -> str:
    names = {str(item) for item in taken}
    while name in names:
        name = f"_{name}"
    return name


def _write_atomically(frame: pd.DataFrame, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="") as stream:
            frame.to_csv(stream, index=False)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def scoring_filter(
    charter: Charter, *, source: str = "the data"
) -> Callable[[pd.DataFrame], tuple[pd.DataFrame, pd.DataFrame]]:
    """A check for rows to score: (typed good rows, raw bad rows with the checks they broke).

    A missing or empty feature column cannot be scored around: it raises ContractViolation.
    """

    def check(raw: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
        result = check_contract(raw, charter, source=source, scoring=True)
        if result.column_level:
            raise ContractViolation(result, " Rows cannot be scored without these columns.")
        bad = result.bad_rows
        failures = result.failures.drop_duplicates()
        tags = failures["column"].astype(str) + ":" + failures["check"].astype(str)
        per_row = tags.groupby(failures["label"].to_numpy()).agg(lambda group: "; ".join(group))
        rejected = result.raw.loc[bad].copy()
        rejected[_CHECKS_COLUMN] = per_row.reindex(bad).fillna("").to_numpy()
        return result.typed.drop(index=bad), rejected

    return check
