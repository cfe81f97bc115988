"""Tests for charter.data's sources: CSV, Parquet and SQL read once, fingerprinted, bad input."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa

from charter.data import SourceFrame, read_source
from charter.errors import DataError
from tests.data.conftest import MakeCharter, WriteFile, assert_plain, dataset, document, inferred

SMALL = "id,x,y\n1,0.5,yes\n2,1.5,no\n3,2.5,yes\n4,3.5,no\n"
SMALL_CONTRACT = {
    "id": {"type": "int", "unique": True},
    "x": {"type": "float"},
    "y": {"type": "category", "values": ["yes", "no"]},
}


def small_frame() -> pd.DataFrame:
    return pd.DataFrame({"id": [1, 2, 3, 4], "x": [0.5, 1.5, 2.5, 3.5], "y": ["yes", "no"] * 2})


# -- files --------------------------------------------------------------------------------------


def test_the_data_is_read_once_and_hashed_as_it_is_parsed(
    make_charter: MakeCharter, monkeypatch: pytest.MonkeyPatch
) -> None:
    import charter.data._source as source_module

    def second_read(_path: object) -> str:
        raise AssertionError("the file was read a second time to hash it")

    monkeypatch.setattr(source_module, "file_sha256", second_read)
    source = read_source(make_charter(inferred("telco")))
    expected = hashlib.sha256(dataset("telco").read_bytes()).hexdigest()
    assert source.fingerprint.content_sha256 == expected


def test_ai4i_csv_with_bom_and_crlf_is_read_as_strings(make_charter: MakeCharter) -> None:
    source = read_source(make_charter(inferred("ai4i")))
    path = dataset("ai4i")
    assert source.format == "csv"
    assert source.textual
    assert list(source.frame.columns)[:2] == ["UDI", "Product ID"]  # no BOM in the name
    assert source.frame.shape == (10_000, 14)
    assert source.frame.at[0, "Torque [Nm]"] == "42.8"
    assert source.fingerprint.content_sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert source.fingerprint.rows == 10_000
    assert source.fingerprint.columns == 14
    assert source.source == path.as_posix()


def test_telco_keeps_its_blank_markers_visible(make_charter: MakeCharter) -> None:
    frame = read_source(make_charter(inferred("telco"))).frame
    assert (frame["TotalCharges"] == " ").sum() == 11


def test_source_to_dict_is_plain_json(make_charter: MakeCharter) -> None:
    source = read_source(make_charter(inferred("telco")))
    data = source.to_dict()
    assert_plain(data)
    assert data["fingerprint"]["rows"] == 7043
    assert data["fingerprint"]["schema"][0] == ["customerID", "string"]
    assert set(data) == {"source", "format", "rows", "columns", "fingerprint"}


def test_fingerprint_follows_content_and_declared_types(
    make_charter: MakeCharter, write_file: WriteFile, tmp_path: Path
) -> None:
    write_file(SMALL)
    first = read_source(make_charter(document("data.csv", contract=SMALL_CONTRACT))).fingerprint
    again = read_source(make_charter(document("data.csv", contract=SMALL_CONTRACT))).fingerprint
    assert first == again
    retyped = {**SMALL_CONTRACT, "x": {"type": "string"}}
    other = read_source(make_charter(document("data.csv", contract=retyped))).fingerprint
    assert other.content_sha256 == first.content_sha256
    assert other.schema_sha256 != first.schema_sha256
    write_file(SMALL.replace("0.5", "0.6"))
    changed = read_source(make_charter(document("data.csv", contract=SMALL_CONTRACT))).fingerprint
    assert changed.content_sha256 != first.content_sha256
    assert changed.schema_sha256 == first.schema_sha256


def test_parquet_is_read_with_its_types(make_charter: MakeCharter, tmp_path: Path) -> None:
    small_frame().to_parquet(tmp_path / "data.parquet")
    source = read_source(make_charter(document("data.parquet", contract=SMALL_CONTRACT)))
    assert source.format == "parquet"
    assert not source.textual
    assert source.frame["x"].dtype == "float64"
    content = hashlib.sha256((tmp_path / "data.parquet").read_bytes()).hexdigest()
    assert source.fingerprint.content_sha256 == content


def test_format_overrides_the_suffix(make_charter: MakeCharter, tmp_path: Path) -> None:
    small_frame().to_parquet(tmp_path / "data.bin")
    charter = document({"path": "data.bin", "format": "parquet"}, contract=SMALL_CONTRACT)
    assert read_source(make_charter(charter)).format == "parquet"


def test_declared_delimiter_and_encoding_are_used(
    make_charter: MakeCharter, write_file: WriteFile
) -> None:
    write_file("id|x|y\n1|é|yes\n2|ü|no\n".encode("latin-1"), "data.csv")
    contract = {"id": {"type": "int"}, "x": {"type": "string"}, "y": {"type": "category"}}
    charter = document(
        {"path": "data.csv", "delimiter": "|", "encoding": "latin-1"}, contract=contract
    )
    frame = read_source(make_charter(charter)).frame
    assert list(frame["x"]) == ["é", "ü"]


def test_a_declared_encoding_that_does_not_fit(
    make_charter: MakeCharter, write_file: WriteFile
) -> None:
    write_file("id,x,y\n1,é,yes\n2,ü,no\n".encode("latin-1"), "data.csv")
    charter = document({"path": "data.csv", "encoding": "utf-8"})
    with pytest.raises(DataError, match=r"cannot be decoded as utf-8: a byte at offset \d+"):
        read_source(make_charter(charter))
    charter = document({"path": "data.csv", "encoding": "klingon"})
    with pytest.raises(DataError, match=r"must be one Python knows .* Got 'klingon' instead"):
        read_source(make_charter(charter))


def test_missing_file(make_charter: MakeCharter, write_file: WriteFile) -> None:
    path = write_file(SMALL)
    loaded = make_charter(document("data.csv", contract=SMALL_CONTRACT))
    path.unlink()
    with pytest.raises(DataError, match=r"The data file '.*data\.csv' does not exist\."):
        read_source(loaded)


def test_empty_file(make_charter: MakeCharter, write_file: WriteFile) -> None:
    write_file("")
    with pytest.raises(DataError, match=r"data\.csv' is empty \(0 bytes\)\."):
        read_source(make_charter(document("data.csv", contract=SMALL_CONTRACT)))


def test_header_only(make_charter: MakeCharter, write_file: WriteFile) -> None:
    write_file("id,x,y\n")
    with pytest.raises(DataError, match=r"must hold data rows\. Got only a header instead\."):
        read_source(make_charter(document("data.csv", contract=SMALL_CONTRACT)))


def test_wrong_delimiter(make_charter: MakeCharter, write_file: WriteFile) -> None:
    write_file(SMALL.replace(",", ";"))
    charter = document({"path": "data.csv", "delimiter": ","}, contract=SMALL_CONTRACT)
    with pytest.raises(
        DataError,
        match=r"has 1 column \('id;x;y'\) while the charter names 3: looks like the "
        r"delimiter is not ','\. It seems split by ';'",
    ):
        read_source(make_charter(charter))


def test_unsniffable_delimiter(make_charter: MakeCharter, write_file: WriteFile) -> None:
    write_file(SMALL.replace(",", ":"))
    with pytest.raises(DataError, match=r"looks like the delimiter is not ','\. It seems split"):
        read_source(make_charter(document("data.csv", contract=SMALL_CONTRACT)))


def test_wrong_delimiter_without_a_contract(
    make_charter: MakeCharter, write_file: WriteFile
) -> None:
    write_file(SMALL.replace(",", ";"))
    charter = document({"path": "data.csv", "delimiter": ","})
    with pytest.raises(
        DataError, match=r"while the charter names the target: looks like the delimiter is not"
    ):
        read_source(make_charter(charter))


def test_missing_target_suggests_the_closest_column(
    make_charter: MakeCharter, write_file: WriteFile
) -> None:
    write_file(SMALL.replace("id,x,y", "id,x,Y"))
    with pytest.raises(
        DataError,
        match=r"The target must be a column of data\.csv \('id', 'x', 'Y'\)\. "
        r"Got 'y' instead\. Did you mean 'Y'\?",
    ):
        read_source(make_charter(document("data.csv")))


def test_unreadable_parquet(make_charter: MakeCharter, write_file: WriteFile) -> None:
    write_file(b"PAR1 this is not really parquet", "data.parquet")
    with pytest.raises(DataError, match=r"cannot be read as Parquet"):
        read_source(make_charter(document("data.parquet", contract=SMALL_CONTRACT)))


# -- SQL ----------------------------------------------------------------------------------------


def _write_table(url: str, frame: pd.DataFrame, table: str = "customers") -> None:
    engine = sa.create_engine(url)
    try:
        frame.to_sql(table, engine, index=False)
    finally:
        engine.dispose()


def _sql_source(make_charter: MakeCharter, url: str, query: str) -> SourceFrame:
    charter = document({"query": query, "url": url}, contract=SMALL_CONTRACT)
    return read_source(make_charter(charter))


def test_sqlite_source(make_charter: MakeCharter, tmp_path: Path) -> None:
    url = f"sqlite:///{(tmp_path / 'shop.db').as_posix()}"
    _write_table(url, small_frame())
    source = _sql_source(make_charter, url, "SELECT id, x, y FROM customers ORDER BY id")
    assert source.format == "sql"
    assert source.source.startswith("query on sqlite:///")
    assert list(source.frame["y"]) == ["yes", "no", "yes", "no"]
    assert source.frame["x"].dtype == "float64"
    again = _sql_source(make_charter, url, "SELECT id, x, y FROM customers ORDER BY id")
    assert again.fingerprint.content_sha256 == source.fingerprint.content_sha256
    fewer = _sql_source(make_charter, url, "SELECT id, x, y FROM customers WHERE id < 4")
    assert fewer.fingerprint.content_sha256 != source.fingerprint.content_sha256


def test_sql_url_from_the_environment(
    make_charter: MakeCharter, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite:///{(tmp_path / 'shop.db').as_posix()}"
    _write_table(url, small_frame())
    monkeypatch.setenv("SHOP_DB_URL", url)
    charter = document(
        {"query": "SELECT * FROM customers", "url_env": "SHOP_DB_URL"}, contract=SMALL_CONTRACT
    )
    source = read_source(make_charter(charter))
    assert source.source == "query on $SHOP_DB_URL"
    assert len(source.frame) == 4


def test_sql_url_env_not_set(make_charter: MakeCharter, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CHARTER_TEST_NO_SUCH_URL", raising=False)
    charter = document(
        {"query": "SELECT 1", "url_env": "CHARTER_TEST_NO_SUCH_URL"}, contract=SMALL_CONTRACT
    )
    with pytest.raises(DataError, match=r"'CHARTER_TEST_NO_SUCH_URL' named by data\.source"):
        read_source(make_charter(charter))


@pytest.mark.postgres
def test_postgresql_source(
    make_charter: MakeCharter, make_postgres_database: Callable[[], str]
) -> None:
    url = make_postgres_database()
    _write_table(url, small_frame())
    source = _sql_source(make_charter, url, "SELECT id, x, y FROM customers ORDER BY id")
    assert source.format == "sql"
    assert source.frame.shape == (4, 3)
    assert list(source.frame["id"]) == [1, 2, 3, 4]
    assert source.source.startswith("query on postgresql+psycopg://")


@pytest.mark.postgres
def test_postgresql_query_error_names_the_source(
    make_charter: MakeCharter, make_postgres_database: Callable[[], str]
) -> None:
    url = make_postgres_database()
    with pytest.raises(DataError, match=r"The query of data\.source failed on postgresql"):
        _sql_source(make_charter, url, "SELECT * FROM no_such_table")


def test_sql_source_that_cannot_connect_masks_the_password(make_charter: MakeCharter) -> None:
    url = "postgresql+psycopg://analyst:s3cret-pw@127.0.0.1:1/shop"
    with pytest.raises(
        DataError,
        match=r"^Cannot connect to the data source "
        r"postgresql\+psycopg://analyst:\*\*\*@127\.0\.0\.1:1/shop: .+\.$",
    ) as caught:
        _sql_source(make_charter, url, "SELECT * FROM customers")
    assert "s3cret-pw" not in str(caught.value)


def test_sqlite_file_that_cannot_be_opened(make_charter: MakeCharter, tmp_path: Path) -> None:
    url = f"sqlite:///{(tmp_path / 'no' / 'such' / 'folder' / 'x.db').as_posix()}"
    with pytest.raises(DataError, match=r"^Cannot connect to the data source sqlite:///"):
        _sql_source(make_charter, url, "SELECT 1")


def test_query_without_rows(make_charter: MakeCharter, tmp_path: Path) -> None:
    url = f"sqlite:///{(tmp_path / 'shop.db').as_posix()}"
    _write_table(url, small_frame())
    with pytest.raises(DataError, match=r"must return rows\. Got none\."):
        _sql_source(make_charter, url, "SELECT * FROM customers WHERE id > 99")
