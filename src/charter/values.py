"""How a column's values are read, the same way wherever charter reads them.

Training, validation, reference statistics, drift and the audit all turn a column into
numbers or category text through these functions, so that `1`, `1.0` and `"1"` are one
category everywhere and a missing value is always NaN. Pure numpy/pandas: a foundation
module that any layer may import.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from pandas.api import types as ptypes

__all__ = [
    "category_strings",
    "datetime_series",
    "datetime_values",
    "normalize_value",
    "numeric_values",
]


def normalize_value(value: Any) -> Any:
    """A category as text (`1.0` and `1` give "1"), or NaN when missing."""
    if value is None or (isinstance(value, float | np.floating) and np.isnan(value)):
        return np.nan
    if isinstance(value, str):
        return value
    if isinstance(value, float | np.floating):
        number = float(value)
        # Whole numbers as integers, as `category_strings` writes a numeric column; beyond
        # 2**53 a float no longer names one integer, so it keeps its float spelling.
        return str(int(number)) if number.is_integer() and abs(number) < 2.0**53 else str(number)
    if isinstance(value, np.generic):
        return str(value.item())
    try:
        if pd.isna(value):
            return np.nan
    except (TypeError, ValueError):
        pass
    return str(value)


def category_strings(series: pd.Series) -> np.ndarray:
    """The column's values as text in an object array, NaN where missing."""
    missing = np.asarray(series.isna(), dtype=bool)
    out = np.empty(len(series), dtype=object)
    out[:] = np.nan
    present = ~missing
    if ptypes.is_numeric_dtype(series) and not ptypes.is_bool_dtype(series):
        numbers = series.to_numpy(dtype=np.float64, na_value=np.nan)
        integral = present & (np.abs(numbers) < 2.0**53)
        integral[integral] = numbers[integral] == np.round(numbers[integral])
        out[integral] = [str(int(v)) for v in numbers[integral]]
        rest = present & ~integral
        out[rest] = [str(float(v)) for v in numbers[rest]]
        return out
    values = series.to_numpy(dtype=object)
    if ptypes.infer_dtype(values[present], skipna=False) in ("string", "empty"):
        out[present] = values[present]
    else:
        out[present] = [normalize_value(v) for v in values[present]]
    return out


def numeric_values(series: pd.Series) -> np.ndarray:
    """The column as float64, NaN where missing or not a number."""
    if ptypes.is_bool_dtype(series):
        series = series.astype("float64")
    elif ptypes.is_datetime64_any_dtype(series):
        series = datetime_values(series)
    converted = pd.to_numeric(series, errors="coerce")
    return np.asarray(converted.to_numpy(dtype=np.float64, na_value=np.nan), dtype=np.float64)


def datetime_series(series: pd.Series) -> pd.Series:
    """The column as naive UTC datetimes, NaT where missing or not a date."""
    if ptypes.is_datetime64_any_dtype(series):
        parsed = series
    else:
        parsed = pd.to_datetime(series, errors="coerce", utc=True, format="mixed")
    if getattr(parsed.dt, "tz", None) is not None:
        parsed = parsed.dt.tz_convert("UTC").dt.tz_localize(None)
    return parsed


def datetime_values(series: pd.Series) -> pd.Series:
    """Seconds since the epoch as float64, NaN where missing."""
    parsed = datetime_series(series)
    seconds = parsed.astype("datetime64[ns]").astype("int64") / 1e9
    return seconds.where(parsed.notna(), np.nan).astype("float64")
