"""Data: reading tables and inferring a charter from them (what `charter init` scaffolds).

`read_table` reads a CSV (every column as strings, so that missing-value markers survive)
or a Parquet file (typed by the file); `infer_charter` turns a file and a target column
into a charter as plain data; `render_charter` writes that charter as commented YAML.
"""

from charter.data._infer import infer_charter
from charter.data._read import read_table
from charter.data._render import render_charter

__all__ = ["infer_charter", "read_table", "render_charter"]
