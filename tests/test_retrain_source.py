"""The retrain's charter reads the retrain set, whatever source the project's charter names."""

from __future__ import annotations

from pathlib import Path

import pytest

from charter.data import render_charter
from charter.lifecycle._retrain import _with_source
from charter.spec import load_charter
from tests.data.conftest import document


@pytest.mark.parametrize(
    ("source", "engine"),
    [
        ({"query": "select * from customers", "url_env": "SALES_DB"}, None),
        ({"table": "sales.customers"}, {"name": "spark"}),
        ("data.csv", None),
    ],
)
def test_the_retrain_set_replaces_a_query_a_table_or_a_file(
    tmp_path: Path, source: object, engine: object
) -> None:
    (tmp_path / "data.csv").write_text("x,y\n1,yes\n", encoding="utf-8")
    whole = document(source)
    if engine is not None:
        whole["engine"] = engine
    (tmp_path / "charter.yaml").write_text(render_charter(whole), encoding="utf-8")
    loaded = load_charter(tmp_path / "charter.yaml")
    retrain_set = tmp_path / "retrain" / "training.parquet"

    moved = _with_source(loaded, retrain_set).charter.data.source

    assert moved.path == str(retrain_set)
    assert moved.format == "parquet"
    assert (moved.query, moved.url, moved.url_env, moved.table) == (None, None, None, None)
