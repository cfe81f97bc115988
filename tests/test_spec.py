"""The charter spec: bad charters fail with the right line and message; valid ones round-trip."""

from __future__ import annotations

import datetime as dt
import re
import string
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from charter.errors import SpecError
from charter.spec import Charter, dump_charter, json_schema, load_charter, validate_text

BASE = """\
project:
  name: churn
  problem: Predict churn.
  owner: ds@example.com
objective: {task: binary_classification, target: Churn, positive: "Yes"}
data:
  source: data.csv
  id: customerID
  contract:
    customerID: {type: string, unique: true}
    gender: {type: category, values: [Female, Male]}
    tenure: {type: int, min: 0}
    TotalCharges: {type: float, min: 0, nullable: true, missing: [" "]}
    Churn: {type: category, values: ["Yes", "No"]}
  protected: [gender]
  split: {method: stratified, test: 0.2, seed: 7}
kpis:
  - {name: auc, metric: roc_auc, at_least: 0.8, gate: deploy}
  - {name: value, metric: expected_value, costs: {tp: 300, fp: -50}, at_least: 0, gate: deploy}
  - {name: parity, metric: demographic_parity_difference, by: gender, at_most: 0.1, gate: deploy}
  - {name: drift, metric: max_psi, at_most: 0.2, gate: monitor}
model: {candidates: [logistic_regression, lightgbm], budget: {seconds: 60}}
risks:
  - {id: R1, risk: Under-serves women, check: parity}
milestones:
  - {name: MVP, stage: validate, due: 2027-01-15}
budget: {cpu_hours: 10}
"""


@pytest.fixture
def project_dir(tmp_path: Path) -> Path:
    (tmp_path / "data.csv").write_text("customerID,Churn\n1,Yes\n", encoding="utf-8")
    return tmp_path


def _problems(text: str, base_dir: Path) -> list[tuple[int, str]]:
    charter, problems = validate_text(text, "charter.yaml", base_dir)
    assert (charter is None) == bool(problems)
    return [(p.line, p.message) for p in problems]


def test_the_base_charter_is_valid(project_dir: Path) -> None:
    assert _problems(BASE, project_dir) == []


BAD = [
    # (id, old text, new text, line, message pattern)
    (
        "not-a-number",
        "at_least: 0, gate",
        "at_least: high, gate",
        19,
        r"The 'kpis\[1\]\.at_least' of charter\.yaml must be a number\. Got 'high' instead\.",
    ),
    (
        "unknown-metric",
        "metric: roc_auc",
        "metric: roc_aux",
        18,
        r"'kpis\[0\]\.metric' .* must be a known metric.*Got 'roc_aux'.*Did you mean 'roc_auc'\?",
    ),
    (
        "unknown-key",
        "at_least: 0.8",
        "at_lest: 0.8",
        18,
        r"'kpis\[0\]\.at_lest' of charter\.yaml is not a known key\. Did you mean 'at_least'\?",
    ),
    (
        "unknown-section",
        "milestones:",
        "milestone:",
        25,
        r"'milestone' of charter\.yaml is not a known key\. Did you mean 'milestones'\?",
    ),
    (
        "metric-unfit-for-task",
        "metric: max_psi",
        "metric: rmse",
        21,
        r"must be a metric that fits the task 'binary_classification' \(rmse fits regression\)",
    ),
    (
        "by-not-in-contract",
        "by: gender",
        "by: sex",
        20,
        r"'kpis\[2\]\.by' .* must be a column declared in data\.contract\. Got 'sex' instead\.",
    ),
    (
        "risk-check-names-no-kpi",
        "check: parity",
        "check: parityy",
        24,
        r"'risks\[0\]\.check' .* must be the name of a KPI\. Got 'parityy'.*Did you mean 'parity'",
    ),
    (
        "milestone-unknown-stage",
        "stage: validate",
        "stage: validation",
        26,
        r"'milestones\[0\]\.stage' .* must be one of .*'validate'.*\(did you mean 'validate'\?\)",
    ),
    (
        "protected-is-target",
        "protected: [gender]",
        "protected: [Churn]",
        15,
        r"'data\.protected\[0\]' .* must be an attribute other than the target",
    ),
    (
        "duplicate-kpi-name",
        "{name: value,",
        "{name: auc,",
        19,
        r"'kpis\[1\]\.name' .* must be unique among the KPIs\. Got 'auc' instead\.",
    ),
    (
        "duplicate-risk-id",
        "  - {id: R1, risk: Under-serves women, check: parity}\n",
        "  - {id: R1, risk: Under-serves women, check: parity}\n  - {id: R1, risk: Other}\n",
        25,
        r"'risks\[1\]\.id' .* must be unique among the risks\. Got 'R1' instead\.",
    ),
    (
        "yaml-syntax",
        "budget: {cpu_hours: 10}",
        "budget: {cpu_hours: 10",
        28,
        r"charter\.yaml is not valid YAML",
    ),
    (
        "duplicate-yaml-key",
        "  id: customerID\n",
        "  id: customerID\n  id: other\n",
        9,
        r"'data\.id' of charter\.yaml must appear once\. Got it again here \(first on line 8\)",
    ),
    (
        "task-typo",
        "task: binary_classification",
        "task: binary_clasification",
        5,
        r"'objective\.task' .* must be one of .* \(did you mean 'binary_classification'\?\)",
    ),
    (
        "missing-target",
        "target: Churn, ",
        "",
        5,
        r"The 'objective\.target' of charter\.yaml must be given\. Got nothing instead\.",
    ),
    (
        "bad-gate",
        "gate: monitor",
        "gate: production",
        21,
        r"'kpis\[3\]\.gate' .* must be one of 'validate', 'deploy' or 'monitor'\. Got 'production'",
    ),
    (
        "test-fraction-too-big",
        "test: 0.2",
        "test: 1.5",
        16,
        r"'data\.split\.test' of charter\.yaml must be less than 1\. Got 1\.5 instead\.",
    ),
    (
        "bad-date",
        "due: 2027-01-15",
        "due: soon",
        26,
        r"'milestones\[0\]\.due' .* must be a date such as 2027-01-15\. Got 'soon' instead\.",
    ),
    (
        "wrong-direction",
        "max_psi, at_most: 0.2",
        "max_psi, at_least: 0.2",
        21,
        r"'kpis\[3\]\.at_least' .* must be at_most instead: lower max_psi is better",
    ),
    (
        "bad-cost-key",
        "fp: -50",
        "fpp: -50",
        19,
        r"'kpis\[1\]\.costs\.fpp' .* must be one of \['fn', 'fp', 'tn', 'tp'\].*Did you mean 'fp'",
    ),
    (
        "unknown-candidate",
        "lightgbm]",
        "lightgmb]",
        22,
        r"'model\.candidates\[1\]' .* must be a built-in candidate .*Did you mean 'lightgbm'\?",
    ),
    (
        "source-missing",
        "source: data.csv",
        "source: nowhere.csv",
        7,
        r"'data\.source' .* must be a file that exists .*Got 'nowhere\.csv' instead\.",
    ),
    (
        "fairness-without-by",
        "by: gender, ",
        "",
        20,
        r"'kpis\[2\]\.by' .* must be given for demographic_parity_difference\.",
    ),
    (
        "param-does-not-apply",
        "metric: roc_auc,",
        "metric: roc_auc, k: 10,",
        18,
        r"'kpis\[0\]\.k' .* does not apply to roc_auc",
    ),
    (
        "thresholds-crossed",
        "at_least: 0.8,",
        "at_least: 0.8, at_most: 0.5,",
        18,
        r"'kpis\[0\]\.at_most' .* must be at least its at_least \(0\.8\)\. Got 0\.5 instead\.",
    ),
    (
        "no-threshold",
        "at_least: 0.8, ",
        "",
        18,
        r"'kpis\[0\]' .* must set a threshold: at_least or at_most\. Got neither instead\.",
    ),
    (
        "positive-not-a-class",
        'positive: "Yes"',
        'positive: "Y"',
        5,
        r"'objective\.positive' .* must be one of the target's allowed values",
    ),
    (
        "token-in-charter",
        "budget: {cpu_hours: 10}",
        "budget: {cpu_hours: 10}\nserve: {token_env: 'sk-live 123'}",
        28,
        r"'serve\.token_env' .* must be text matching",
    ),
    (
        "min-above-max",
        "tenure: {type: int, min: 0}",
        "tenure: {type: int, min: 10, max: 1}",
        12,
        r"'data\.contract\.tenure\.max' .* must be at least its min \(10\)\. Got 1 instead\.",
    ),
    (
        "wrong-column-type",
        "type: int, min: 0}",
        "type: integer, min: 0}",
        12,
        r"'data\.contract\.tenure\.type' .* must be one of 'int', 'float'",
    ),
    (
        "list-instead-of-mapping",
        "budget: {cpu_hours: 10}",
        "budget: [10]",
        27,
        r"'budget' of charter\.yaml must be a mapping of keys to values\. Got a list instead\.",
    ),
    (
        "operational-at-validate",
        "metric: max_psi, at_most: 0.2, gate: monitor",
        "metric: latency_p99_ms, at_most: 25, gate: validate",
        21,
        r"'kpis\[3\]\.gate' .* must be 'deploy' or 'monitor' for an operational metric",
    ),
    (
        "file-channel-without-target",
        "  owner: ds@example.com\n",
        "  owner: ds@example.com\n  stakeholders:\n    - {name: Ops, notify: file}\n",
        6,
        r"'project\.stakeholders\[0\]\.target' .* must be the file path",
    ),
    (
        "webhook-url-in-the-charter",
        "  owner: ds@example.com\n",
        "  owner: ds@example.com\n  stakeholders:\n"
        "    - {name: Ops, notify: slack, target: 'https://hooks.example.com/x'}\n",
        6,
        r"must be the name of an environment variable holding the slack URL .* Got 'a URL "
        r"\(not shown\)'",
    ),
    (
        "window-by-count-and-time",
        "model: {candidates",
        "monitor: {window: {predictions: 500, minutes: 10}}\nmodel: {candidates",
        22,
        r"'monitor\.window\.minutes' .* must be left out when 'predictions' is set",
    ),
    (
        "unknown-drift-statistic",
        "model: {candidates",
        "monitor: {drift: {psy: 0.2}}\nmodel: {candidates",
        22,
        r"'monitor\.drift\.psy' .* must be one of psi, js, .* Did you mean 'psi'",
    ),
    (
        "min-predictions-above-window",
        "model: {candidates",
        "monitor: {window: {predictions: 50, min_predictions: 100}}\nmodel: {candidates",
        22,
        r"'monitor\.window\.min_predictions' .* must be at most the window's 50 predictions",
    ),
    (
        "table-without-spark",
        "source: data.csv",
        "source: {table: sales.customers}",
        7,
        r"'data\.source\.table' .* must be used with engine: spark .* Set engine: spark",
    ),
    (
        "folder-without-spark",
        "source: data.csv",
        "source: parts",
        7,
        r"'data\.source' .* must be a file that exists .*Got 'parts' instead\.",
    ),
    (
        "exclude-target",
        "  protected: [gender]\n",
        "  protected: [gender]\n  exclude: [Churn]\n",
        16,
        r"'data\.exclude\[0\]' .* must be a column other than the target",
    ),
]


@pytest.mark.parametrize(
    ("old", "new", "line", "pattern"), [case[1:] for case in BAD], ids=[case[0] for case in BAD]
)
def test_a_bad_charter_names_the_line_and_the_fault(
    project_dir: Path, old: str, new: str, line: int, pattern: str
) -> None:
    assert old in BASE, f"the test's anchor {old!r} is not in the base charter"
    problems = _problems(BASE.replace(old, new, 1), project_dir)
    matching = [(ln, msg) for ln, msg in problems if re.search(pattern, msg)]
    assert matching, f"no problem matches {pattern!r}; got {problems}"
    assert matching[0][0] == line, f"expected line {line}, got {matching}"


@pytest.mark.parametrize(
    ("source", "pattern"),
    [
        (
            "{query: select 1, url_env: DB_URL}",
            r"'data\.source\.query' .* must be left out with engine: spark, .*Got a SQL query "
            r"instead\. Name the table in data\.source\.table",
        ),
        (
            "{path: data.csv, table: sales.customers}",
            r"'data\.source' .* must be one of a file path, a SQL query or a Spark table\. Got "
            r"path and table together instead\.",
        ),
    ],
)
def test_a_spark_source_names_a_file_or_a_table(
    project_dir: Path, source: str, pattern: str
) -> None:
    text = BASE.replace("source: data.csv", f"source: {source}", 1) + "engine: spark\n"
    problems = _problems(text, project_dir)
    matching = [(line, msg) for line, msg in problems if re.search(pattern, msg)]
    assert matching, f"no problem matches {pattern!r}; got {problems}"
    assert matching[0][0] == 7


def test_a_parquet_folder_is_a_source_with_spark(project_dir: Path) -> None:
    (project_dir / "parts").mkdir()
    (project_dir / "parts" / "part-0.parquet").write_bytes(b"PAR1")
    text = BASE.replace("source: data.csv", "source: parts", 1) + "engine: {name: spark}\n"
    assert not [msg for _, msg in _problems(text, project_dir) if "data.source" in msg]
    missing = BASE.replace("source: data.csv", "source: gone", 1) + "engine: spark\n"
    assert any(
        "must be a file or a Parquet folder that exists" in msg
        for _, msg in _problems(missing, project_dir)
    )


def test_every_error_is_reported_at_once(project_dir: Path) -> None:
    text = (
        BASE.replace("at_least: 0, gate", "at_least: high, gate")
        .replace("check: parity", "check: nothing")
        .replace("stage: validate", "stage: launch")
        .replace("by: gender", "by: sex")
    )
    lines = sorted(line for line, _ in _problems(text, project_dir))
    assert lines == [19, 20, 24, 26]


def test_errors_carry_file_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "charter.yaml"
    (tmp_path / "data.csv").write_text("a\n1\n", encoding="utf-8")
    path.write_text(BASE.replace("test: 0.2", "test: 1.5"), encoding="utf-8")
    with pytest.raises(SpecError, match=r"charter\.yaml:16:\d+: The 'data\.split\.test'") as info:
        load_charter(path)
    (problem,) = info.value.problems
    assert (problem.line, problem.path) == (16, "data.split.test")
    assert problem.column == BASE.splitlines()[15].index("0.2") + 1
    assert str(problem).startswith(f"{path}:16:")


@pytest.mark.parametrize(
    ("content", "pattern"),
    [
        (b"", r"is empty: a charter needs at least"),
        (b"- just\n- a list\n", r"top level of charter\.yaml must be a mapping of sections"),
        (b"project: [\n", r"is not valid YAML"),
        (b"\xff\xfe\x00junk", r"must be UTF-8 text"),
        (b"project: {name: x}\n", r"5 problems in .*'data' of charter\.yaml must be given"),
    ],
    ids=["empty", "list", "unclosed", "binary", "sections-missing"],
)
def test_malformed_files_fail_cleanly(tmp_path: Path, content: bytes, pattern: str) -> None:
    path = tmp_path / "charter.yaml"
    path.write_bytes(content)
    with pytest.raises(SpecError, match=pattern):
        load_charter(path)


def test_a_missing_charter_suggests_init(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match=r"No charter at .*charter init --data FILE"):
        load_charter(tmp_path / "charter.yaml")


def test_a_folder_is_not_a_charter(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match=r"is a folder"):
        load_charter(tmp_path)


def test_huge_and_odd_values_are_errors_not_crashes(project_dir: Path) -> None:
    text = BASE.replace("at_least: 0.8", "at_least: 1e999").replace("seed: 7", "seed: 7.5")
    problems = _problems(text, project_dir)
    messages = " ".join(message for _, message in problems)
    assert "kpis[0].at_least' of charter.yaml must be a finite number" in messages
    assert "data.split.seed' of charter.yaml must be a whole number" in messages


def test_the_loaded_charter_is_frozen_and_typed(tmp_path: Path) -> None:
    (tmp_path / "data.csv").write_text("a\n1\n", encoding="utf-8")
    path = tmp_path / "charter.yaml"
    path.write_text(BASE, encoding="utf-8")
    loaded = load_charter(path)
    charter = loaded.charter
    assert charter.kpi("parity").by == "gender"
    assert charter.data.source.path == "data.csv"
    assert charter.milestones[0].due == dt.date(2027, 1, 15)
    assert [k.name for k in charter.kpis_for("deploy")] == ["auc", "value", "parity"]
    assert loaded.resolve("data.csv") == tmp_path / "data.csv"
    with pytest.raises(Exception, match="frozen"):
        charter.project.name = "other"  # type: ignore[misc]


def test_the_json_schema_describes_every_section() -> None:
    schema = json_schema()
    assert set(schema["properties"]) == set(Charter.model_fields)
    assert set(schema["required"]) == {"project", "objective", "data", "kpis"}
    assert schema["additionalProperties"] is False


def test_the_example_charter_is_valid() -> None:
    example = Path(__file__).resolve().parents[1] / "examples" / "telco-churn" / "charter.yaml"
    loaded = load_charter(example)
    assert loaded.charter.project.name == "telco-churn"
    assert loaded.charter.kpi("auc").at_least == 0.82


# --- hypothesis: valid charters round-trip through YAML --------------------------------

_names = st.text(string.ascii_letters + string.digits + "_-", min_size=1, max_size=12).map(
    lambda s: "c" + s
)
_prose = st.text(st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=40).filter(
    lambda s: s.strip() == s and s
)
_finite = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False, allow_infinity=False)


@st.composite
def charters(draw: st.DrawFn) -> Charter:
    columns = draw(st.lists(_names, min_size=2, max_size=6, unique=True))
    target, *features = columns
    contract = {}
    for column in features:
        kind = draw(st.sampled_from(["int", "float", "category", "string"]))
        spec: dict[str, object] = {"type": kind, "nullable": draw(st.booleans())}
        if kind in ("int", "float"):
            low = draw(_finite)
            spec["min"] = low
            spec["max"] = low + draw(st.floats(min_value=0, max_value=1e6))
        if kind == "category":
            spec["values"] = draw(st.lists(_prose, min_size=1, max_size=4, unique=True))
        if draw(st.booleans()):
            spec["missing"] = draw(st.lists(st.sampled_from(["?", " ", "", "NA"]), unique=True))
        contract[column] = spec
    contract[target] = {"type": "category", "values": ["yes", "no"]}
    kpis = [
        {
            "name": "auc",
            "metric": "roc_auc",
            "at_least": draw(st.floats(0, 1)),
            "gate": draw(st.sampled_from(["validate", "deploy"])),
        }
    ]
    if draw(st.booleans()):
        kpis.append(
            {
                "name": "parity",
                "metric": "demographic_parity_difference",
                "by": features[0],
                "at_most": draw(st.floats(0, 1)),
                "gate": "deploy",
            }
        )
    if draw(st.booleans()):
        kpis.append(
            {
                "name": "value",
                "metric": "expected_value",
                "at_least": draw(_finite),
                "costs": {"tp": draw(_finite), "fp": draw(_finite)},
            }
        )
    risks = [
        {
            "id": f"R{i}",
            "risk": draw(_prose),
            "check": draw(st.sampled_from(kpis))["name"],
            "likelihood": draw(st.sampled_from(["low", "medium", "high"])),
        }
        for i in range(draw(st.integers(0, 3)))
    ]
    milestones = [
        {
            "name": f"m{i}",
            "stage": draw(st.sampled_from(["validate", "deploy"])),
            "due": draw(st.dates(dt.date(2020, 1, 1), dt.date(2040, 1, 1))),
        }
        for i in range(draw(st.integers(0, 2)))
    ]
    data = {
        "project": {
            "name": draw(_names),
            "problem": draw(_prose),
            "owner": draw(_prose),
            "stakeholders": [{"name": draw(_prose), "notify": "console"}],
        },
        "objective": {"task": "binary_classification", "target": target, "positive": "yes"},
        "data": {
            "source": {"path": "data.csv"},
            "contract": contract,
            "protected": [features[0]],
            "split": {"test": draw(st.floats(0.05, 0.5)), "seed": draw(st.integers(0, 2**31))},
        },
        "kpis": kpis,
        "model": {
            "budget": {
                "seconds": draw(st.floats(1, 3600)),
                "trials": draw(st.none() | st.integers(1, 1000)),
            }
        },
        "risks": risks,
        "milestones": milestones,
    }
    if draw(st.booleans()):
        data["budget"] = {"cpu_hours": draw(st.floats(0.1, 1e4)), "currency": "EUR"}
    return Charter.model_validate(data)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(charters())
def test_valid_charters_round_trip(charter: Charter) -> None:
    text = dump_charter(charter)
    again, problems = validate_text(text, "charter.yaml", None)
    assert problems == []
    assert again == charter
