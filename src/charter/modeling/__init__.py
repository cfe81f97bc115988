"""Modeling: candidate pipelines, a budgeted search, validation on the holdout, explanations.

    result = train_model(train, charter, progress=callback)    # -> TrainingResult
    report = validate_model(result.model, test, charter)       # -> ValidationReport
    stats = reference_statistics(result.model, train)          # plain JSON, for monitoring
    data = result.model.to_bytes(); model = FittedModel.from_bytes(data)

Nothing here prints: progress comes as `ProgressEvent`s through the optional callback.
Errors are `ModelingError`s (a `CharterError`) with one-sentence messages.

Candidates (`model.candidates`): `logistic_regression`, `linear_regression` (ridge),
`random_forest`, `hist_gradient_boosting`, `lightgbm`, or a custom `module:function`.

Custom candidate protocol
-------------------------
`module:function` names a function in an importable module. charter imports the module
and calls the function with `task=` (one of "binary_classification",
"multiclass_classification", "regression") when it accepts that keyword, else with no
argument, once before the search (to refuse a bad candidate early) and again for every
fit, so each cross-validation fold gets a fresh estimator. The function must return a
scikit-learn-compatible estimator:

- `fit(X, y)`, where `X` is a pandas DataFrame of float columns without missing values
  (numeric features median-imputed and standardised, as "numeric__<feature>", with
  "numeric__missingindicator_<feature>" where training had gaps; categorical features
  one-hot encoded as "categorical__<feature>_<level>", rare levels pooled, unseen ones
  all zeros) and `y` holds class codes 0..K-1 (binary: 1 is `objective.positive`) or
  float targets;
- `predict(X)`;
- for classification, `predict_proba(X)` with one column per class code, in order.

A custom candidate has no search space: it gets one trial with its own settings. To be
reproducible, fix its random state yourself. The module must be importable wherever the
model is loaded, since the fitted estimator is pickled with the model.
"""

from charter.modeling._errors import (
    CandidateError,
    FeatureError,
    ModelFormatError,
    ModelingError,
    TrainingError,
)
from charter.modeling._fitted import MODEL_FORMAT_VERSION, FittedModel
from charter.modeling._kpis import KpiValue, Predictions, evaluate_kpi
from charter.modeling._progress import Progress, ProgressEvent
from charter.modeling._reference import REFERENCE_FORMAT_VERSION, reference_statistics
from charter.modeling._results import (
    BudgetUsed,
    Finalist,
    PrimaryKPI,
    TrainingResult,
    TrialRecord,
)
from charter.modeling._search import train_model
from charter.modeling._validate import ValidationReport, validate_model

__all__ = [
    "MODEL_FORMAT_VERSION",
    "REFERENCE_FORMAT_VERSION",
    "BudgetUsed",
    "CandidateError",
    "FeatureError",
    "Finalist",
    "FittedModel",
    "KpiValue",
    "ModelFormatError",
    "ModelingError",
    "Predictions",
    "PrimaryKPI",
    "Progress",
    "ProgressEvent",
    "TrainingError",
    "TrainingResult",
    "TrialRecord",
    "ValidationReport",
    "evaluate_kpi",
    "reference_statistics",
    "train_model",
    "validate_model",
]
