"""The MLflow side of benchmarks/serving.py, run with MLflow's own virtual environment.

It logs charter's fitted scikit-learn pipeline (pickled by benchmarks/serving.py from the
champion's model.pkl) with `mlflow.sklearn.log_model`, the way a user would log a
scikit-learn model: MLflow's default serialization (skops) with the pipeline's types
trusted, a signature inferred from holdout records, and `pyfunc_predict_fn="predict_proba"`
so the server answers class probabilities, as charter's does. The pipeline holds charter's
own transformers, so this environment has charter installed (without its dependencies)
for the classes to resolve; nothing else of charter runs here. Prints one JSON object:
{"model_uri", "serialization", "trusted_types", "versions"}.
"""

from __future__ import annotations

import argparse
import json
import pickle
from importlib import metadata
from pathlib import Path

import mlflow
import mlflow.sklearn
import pandas as pd
from mlflow.models import infer_signature

PACKAGES = ("mlflow", "scikit-learn", "lightgbm", "pandas", "numpy", "skops", "uvicorn")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pipeline", required=True, help="the pickled scikit-learn pipeline")
    parser.add_argument("--records", required=True, help="JSON list of holdout records")
    parser.add_argument("--tracking-uri", required=True)
    parser.add_argument("--name", required=True, help="the MLflow run and model name")
    args = parser.parse_args()

    pipeline = pickle.loads(Path(args.pipeline).read_bytes())
    records = json.loads(Path(args.records).read_text(encoding="utf-8"))
    frame = pd.DataFrame.from_records(records)
    signature = infer_signature(frame, pipeline.predict_proba(frame))

    # skops is MLflow's default format outside Databricks; it loads only trusted types,
    # and charter's transformers (like LightGBM's and HistGradientBoosting's trees) are
    # not on its list: trust exactly the types this pipeline holds.
    from skops.io import dumps, get_untrusted_types

    trusted = get_untrusted_types(data=dumps(pipeline))
    mlflow.set_tracking_uri(args.tracking_uri)
    mlflow.set_experiment("charter-serving-benchmark")
    with mlflow.start_run(run_name=args.name):
        info = mlflow.sklearn.log_model(
            pipeline,
            name=args.name,
            signature=signature,
            pyfunc_predict_fn="predict_proba",
            skops_trusted_types=trusted,
        )
    print(
        json.dumps(
            {
                "model_uri": info.model_uri,
                "serialization": "skops",
                "trusted_types": trusted,
                "versions": {p: _version(p) for p in PACKAGES},
            }
        )
    )


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


if __name__ == "__main__":
    main()
