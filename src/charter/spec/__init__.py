"""The charter spec: the schema of charter.yaml, its loading with located errors, the KPI metrics.

Load a charter with `load_charter(path)`: it returns a `LoadedCharter` or raises
`SpecError` whose `problems` list every fault at once, each with file:line:column.
"""

from charter.spec._load import (
    DEFAULT_FILE,
    LoadedCharter,
    dump_charter,
    find_charter,
    json_schema,
    json_schema_text,
    load_charter,
    validate_text,
)
from charter.spec.metrics import (
    METRICS,
    Metric,
    MetricInputs,
    MetricKind,
    get_metric,
    metric_names,
)
from charter.spec.schema import (
    GATES,
    KPI,
    STAGES,
    TASKS,
    Charter,
    Column,
    Data,
    Milestone,
    Objective,
    Project,
    Risk,
)

__all__ = [
    "DEFAULT_FILE",
    "GATES",
    "KPI",
    "METRICS",
    "STAGES",
    "TASKS",
    "Charter",
    "Column",
    "Data",
    "LoadedCharter",
    "Metric",
    "MetricInputs",
    "MetricKind",
    "Milestone",
    "Objective",
    "Project",
    "Risk",
    "dump_charter",
    "find_charter",
    "get_metric",
    "json_schema",
    "json_schema_text",
    "load_charter",
    "metric_names",
    "validate_text",
]
