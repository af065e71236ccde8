"""Column names every layer agrees on, defined once.

`feature_timestamp` is the moment a row's features describe (no feature saw data after it);
`label_timestamp` when its label is observed; `label_available` whether that moment has passed at
the run's as-of time; `eligible` whether the customer belongs to the population the model is for at
that moment; `row_role` whether a gold row trains the model or is scored by it.
"""

FEATURE_TIMESTAMP = "feature_timestamp"
LABEL = "churned"
LABEL_TIMESTAMP = "label_timestamp"
LABEL_AVAILABLE = "label_available"
ELIGIBLE = "eligible"
ROW_ROLE = "row_role"
TRAIN, SCORE = "train", "score"
SOURCE_ROW = "__source_row"  # 1-based record number in the source file (entity tables: file order for de-duplication)

POINT_IN_TIME_COLUMNS = (FEATURE_TIMESTAMP, LABEL_TIMESTAMP, LABEL_AVAILABLE)
LABEL_COLUMNS = (LABEL, LABEL_TIMESTAMP, LABEL_AVAILABLE)
NON_FEATURE_COLUMNS = (*POINT_IN_TIME_COLUMNS, LABEL, ELIGIBLE, ROW_ROLE)

# scores
PROBABILITY = "churn_probability"
RISK_TIER = "risk_tier"
ACTIVE = "active_at_as_of"
MODEL_VERSION = "model_version"
TOP_REASONS = "top_reasons"  # the reasons as one readable string
REASONS = "reasons"  # the same reasons as a list of records (model.reasons.REASON_FIELDS)
INACTIVE_TIER = "inactive"

# a customer table derived from an event source (entity.derived_from)
FIRST_SEEN = "first_seen"  # the key's earliest event: its signup date, a "days since" feature as of each row
LAST_SEEN = "last_seen"  # the key's latest event over the whole history: future to every cutoff, never a feature
