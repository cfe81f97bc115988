"""Which frame engine a stage runs on: the charter's `engine` section, or `--engine`.

    engine = choose_engine(charter)                 # engine: {name: spark, master: ...}
    engine = choose_engine(charter, "spark")        # `charter score --engine spark`

pandas needs nothing; Spark needs pyspark (the `spark` extra) and Java, and starts (or
joins) a SparkSession at the charter's `engine.master` with its `engine.conf`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from charter.engines import Engine, EngineError, PandasEngine
from charter.spec import Charter

if TYPE_CHECKING:
    from charter.engines import SparkEngine

ENGINE_NAMES = ("pandas", "spark")


def engine_name(charter: Charter, override: str | None = None) -> str:
    """The engine's name: `override` (the command line's) when given, else the charter's."""
    if override is None:
        return charter.engine.name
    if override not in ENGINE_NAMES:
        raise EngineError(
            f"The 'engine' of the command line must be one of {', '.join(ENGINE_NAMES)}. "
            f"Got {override!r} instead."
        )
    return override


def choose_engine(charter: Charter, override: str | None = None) -> Engine:
    """The frame engine the charter (or `override`) names, ready to use."""
    if engine_name(charter, override) == "pandas":
        return PandasEngine()
    return spark_engine(charter)


def spark_engine(charter: Charter) -> SparkEngine:
    """A SparkEngine at the charter's `engine.master` with its `engine.conf`.

    EngineError when pyspark is not installed.
    """
    try:
        import pyspark  # noqa: F401
    except ImportError:
        raise EngineError(
            "The 'engine' of the charter must be pandas when pyspark is not installed. Got "
            "'spark' instead; install the spark extra (pip install 'charter[spark]')."
        ) from None
    from charter.engines import SparkEngine

    return SparkEngine(master=charter.engine.master, conf=charter.engine.conf)
