"""Data: read a source once, check its contract, audit it, split it (and scaffold a charter).

The audit stage in one call: `prepare(loaded)` reads the charter's source (`read_source`:
CSV as strings so that missing-value markers survive, Parquet or a SQL query, fingerprinted
as read), checks it against the contract with pandera (`check_contract`, every violation
reported; `quarantine` sets bad rows aside; `check_contract_spark` checks a Spark table by the
same rules, as aggregates), audits quality, leakage and bias through the
frame engine (`audit`), and cuts the holdout (`split`, `overlap_findings`). Every result
has `to_dict()` for the ledger and the report. With a `SparkEngine`, `prepare` reads the
source into Spark (`read_source_spark`: CSV, Parquet file or folder, catalog table), checks
and audits it there, and brings only the training set (whole or sampled) to this process.

`read_table` reads a file for `charter init`; `infer_charter` turns a file and a target
column into a charter as plain data; `render_charter` writes that charter as commented YAML.
"""

from charter.data._audit import AuditReport, BiasTable, ColumnProfile, GroupStats, audit
from charter.data._contract import (
    ContractResult,
    ContractViolation,
    Quarantined,
    Violation,
    check_contract,
    contract_schema,
    quarantine,
    scoring_filter,
)
from charter.data._contract_spark import SparkContractResult, check_contract_spark
from charter.data._findings import Finding
from charter.data._fingerprint import Fingerprint
from charter.data._infer import infer_charter
from charter.data._prepare import Prepared, prepare
from charter.data._read import read_table
from charter.data._render import render_charter
from charter.data._source import SourceFrame, read_source
from charter.data._source_spark import SparkSourceFrame, read_source_spark
from charter.data._split import Split, overlap_findings, split

__all__ = [
    "AuditReport",
    "BiasTable",
    "ColumnProfile",
    "ContractResult",
    "ContractViolation",
    "Finding",
    "Fingerprint",
    "GroupStats",
    "Prepared",
    "Quarantined",
    "SourceFrame",
    "SparkContractResult",
    "SparkSourceFrame",
    "Split",
    "Violation",
    "audit",
    "check_contract",
    "check_contract_spark",
    "contract_schema",
    "infer_charter",
    "overlap_findings",
    "prepare",
    "quarantine",
    "read_source",
    "read_source_spark",
    "read_table",
    "render_charter",
    "scoring_filter",
    "split",
]
