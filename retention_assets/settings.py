"""The user's settings file: declared sources, windows, timeline, label and outputs.

Everything that reads the YAML goes through `load_settings`, which validates with pydantic so that a
wrong key or value fails at load time with a message naming the key and what was expected.
The file is chosen by `RETENTION_SETTINGS` (or the CLI's `--settings`); without either the embedded
sample's settings are used, so the code location loads on a fresh clone.
"""

from __future__ import annotations

import os
import re
from datetime import datetime, time, timezone
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from retention_assets.core.columns import FIRST_SEEN, LAST_SEEN

SETTINGS_ENV_VAR = "RETENTION_SETTINGS"
DATA_DIR_ENV_VAR = "RETENTION_DATA_DIR"
DEFAULT_DATA_DIR = Path(".retention_data")

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_WINDOW = re.compile(r"^(?:(\d+)(h|d)|all_time)$")
DEFAULT_WINDOWS = ["24h", "7d", "30d", "90d", "180d", "365d", "all_time"]
AGGREGATIONS = ("count", "sum", "mean", "min", "max", "std")


class SettingsError(ValueError):
    """A settings file that cannot be used; the message names the file, the key and the expectation."""


def _identifier(value: str) -> str:
    if not _IDENT.match(value):
        raise ValueError(
            f"{value!r} must be a plain identifier (letters, digits, underscores; not starting with a digit)"
        )
    return value


Identifier = Annotated[str, AfterValidator(_identifier)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SourceSettings(_Strict):
    """A file the pipeline reads: where it is and how it is keyed."""

    path: Path
    format: Literal["csv", "parquet"] | None = Field(
        default=None, description="Inferred from the file extension when omitted."
    )
    entity_key: str

    @property
    def file_format(self) -> Literal["csv", "parquet"]:
        if self.format:
            return self.format
        suffix = self.path.suffix.lower()
        if suffix in (".parquet", ".pq"):
            return "parquet"
        if suffix in (".csv", ".txt"):
            return "csv"
        raise SettingsError(
            f"cannot infer the format of {self.path}: set `format: csv` or `format: parquet`"
        )


class EntitySettings(SourceSettings):
    """The entity table: one row per customer (or a documented duplicate policy), read from `path` or
    derived from an event source's keys (`derived_from`)."""

    path: Path | None = Field(
        default=None, description="The customer file; omitted when the table is `derived_from` an event source.")
    entity_key: str = Field(
        description="The key column. With `derived_from`: the key's name in the derived table "
        "(default: that event source's entity_key).")
    name: Identifier = Field(default="customers", description="Names the raw asset: raw_<name>.")
    numeric_columns: list[str] | None = Field(
        default=None, description="Columns cast to float; inferred from the data when omitted."
    )
    categorical_columns: list[str] | None = None
    date_columns: list[str] = Field(
        default_factory=list,
        description="Dates turned into 'days since' features as of each feature timestamp.",
    )
    signup_column: str | None = Field(
        default=None,
        description="When the customer started; customers who start after a cutoff are not in its training rows.",
    )
    exclude_columns: list[str] = Field(default_factory=list)
    max_undeclared_columns: int = Field(
        default=1000, ge=0,
        description="A file with more undeclared columns than this is read by its declared columns only (a very "
        "wide export would otherwise cost time and memory for columns nobody named); the others are reported.",
    )
    duplicate_keys: Literal["error", "keep_first", "keep_last"] = Field(
        default="error",
        description="error: raw stops on duplicate keys. keep_first/keep_last: bronze keeps one row per key "
        "(file order, or by `order_by`) and logs how many it dropped.",
    )
    order_by: str | None = None
    outlier_iqr_multiplier: float = Field(default=3.0, gt=0)
    key_normalization: Literal["none", "trim", "trim_lower", "number"] = Field(
        default="none",
        description="How the entity key is written before any comparison, in the entity table and every event "
        "source alike (raw logs how many keys it changed): none (as written, compared as text); trim (surrounding "
        "whitespace removed); trim_lower (trimmed and lower-cased); number (trimmed, and ids that are whole "
        "numbers written one way: '00017', '+17', '17.0' and '17' all become '17').",
    )
    valid_from_column: str | None = Field(
        default=None,
        description="A time-versioned entity table: several rows per customer, each valid from this timestamp "
        "column on. Each snapshot sees the latest row valid at or before it (never a later one); customers with no "
        "row valid yet are not in that snapshot. Duplicate (key, valid_from) pairs are an error; duplicate_keys "
        "does not apply.",
    )
    derived_from: Identifier | None = Field(default=None, description="An event source whose keys make the customer table (first_seen, last_seen per key) when there is no customer file; `path` is then omitted.")

    @model_validator(mode="after")
    def _versioned(self) -> "EntitySettings":
        if self.valid_from_column and self.duplicate_keys != "error":
            raise ValueError(f"valid_from_column is set: every (key, {self.valid_from_column}) row is a version, so "
                             f"duplicate_keys {self.duplicate_keys!r} does not apply (leave it at 'error')")
        if self.valid_from_column and self.valid_from_column == self.entity_key:
            raise ValueError("valid_from_column must differ from entity_key")
        return self

    @model_validator(mode="after")
    def _path_or_derived(self) -> "EntitySettings":
        if (self.path is None) == (self.derived_from is None):
            raise ValueError("set exactly one of entity.path (a customer file) and entity.derived_from (an event "
                             "source whose keys make the customer table)"
                             + (", not both" if self.path is not None else ""))
        if self.derived_from is not None:
            if self.entity_key in (FIRST_SEEN, LAST_SEEN):
                raise ValueError(f"entity.entity_key {self.entity_key!r} is a column of the derived table; rename it")
            if self.signup_column not in (None, FIRST_SEEN):
                raise ValueError(f"entity.signup_column of a derived entity is {FIRST_SEEN!r} (the key's first event)")
            declared = [*(self.numeric_columns or ()), *(self.categorical_columns or ()), *self.date_columns]
            if LAST_SEEN in declared:
                raise ValueError(f"entity.{LAST_SEEN} is the key's latest event over the whole history, i.e. "
                                 "future information to every cutoff: it is never a feature")
            if self.valid_from_column:
                raise ValueError("a derived entity has one row per key: valid_from_column does not apply")
            unknown = [c for c in declared if c != FIRST_SEEN]
            if unknown:
                raise ValueError(f"a derived entity has only {FIRST_SEEN} and {LAST_SEEN}; columns {unknown} "
                                 "cannot be declared")
        return self

    @property
    def file_format(self) -> Literal["csv", "parquet"]:
        if self.path is None:
            raise SettingsError(f"entity is derived from {self.derived_from!r}: it has no file")
        return super().file_format


class EventSettings(SourceSettings):
    """An event table: many timestamped rows per customer."""

    timestamp_column: str
    value_columns: list[str] | None = Field(
        default=None, description="Numeric columns to aggregate; when omitted, the findings decide."
    )
    categorical_columns: list[str] | None = Field(default=None, description="When omitted, the findings decide.")
    text_columns: list[str] | None = Field(default=None, description="When omitted, the findings decide.")
    aggregations: list[Literal["count", "sum", "mean", "min", "max", "std"]] = Field(
        default_factory=lambda: list(AGGREGATIONS)
    )
    max_categories: int = Field(default=12, ge=1, description="Most frequent values counted per categorical column.")
    naive_timestamps_timezone: str = Field(
        default="UTC",
        description="Time zone assumed for timestamps without an offset; every timestamp is normalised to UTC.",
    )
    min_matched_events: float = Field(
        default=0.5, ge=0, le=1,
        description="The source is rejected when a smaller share of its events has a key found in the entity "
        "table (keys that match only after a format change would give every customer empty event features).",
    )
    negative_values: dict[str, Literal["allow", "reject"]] = Field(
        default_factory=dict,
        description="Per numeric column: whether negative values are allowed (refunds, corrections; counted and "
        "reported) or reject the file. A numeric column not listed rejects negative values.",
    )
    min_entities_with_events: float = Field(
        default=0.1, ge=0, le=1,
        description="The source is rejected when a smaller share of the entity table's customers has any event.",
    )


class LabelSettings(_Strict):
    """How churn is defined.

    inactivity: churned = no event (in `activity_sources`, default all) in (cutoff, cutoff + horizon].
    target_column: churned = the entity column `target_column`; if `label_timestamp_column` is given,
    rows churned at or before a cutoff are excluded from its training rows and churn after
    cutoff + horizon counts as retained for that cutoff.
    """

    kind: Literal["inactivity", "target_column"] = "inactivity"
    horizon_days: int = Field(default=30, gt=0)
    activity_sources: list[str] | None = None
    active_within_days: int | None = Field(
        default=90,
        gt=0,
        description="Inactivity label: only customers with an event in this many days before a cutoff are "
        "training rows (the others have already left).",
    )
    target_column: str | None = None
    label_timestamp_column: str | None = None
    min_class_rows: int = Field(
        default=10, ge=1,
        description="target_column: the run stops before training, with the class counts, when the target is "
        "all empty, a single class, or has fewer rows than this of either class.",
    )

    @model_validator(mode="after")
    def _target_needs_column(self) -> "LabelSettings":
        if self.kind == "target_column" and not self.target_column:
            raise ValueError("label.kind is 'target_column' but label.target_column is not set")
        return self


class TimelineSettings(_Strict):
    """The as-of timestamp for scoring and the training cutoffs before it."""

    as_of: datetime | Literal["auto"] = Field(
        default="auto",
        description="Scoring timestamp (UTC). 'auto' derives it from the data: the latest event timestamp (with "
        "date_only_events, the latest date, whose events are in).",
    )
    training_cutoffs: Annotated[int, Field(ge=1, le=24)] | list[datetime] = Field(
        default=2,
        description="A number of training snapshots at as_of - horizon, as_of - horizon - spacing, ...; or an "
        "explicit list of cutoff timestamps (UTC), each with its label window (cutoff, cutoff + horizon] ending at "
        "or before as_of. With two or more the latest is the out-of-time validation set (see validation_cutoffs).",
    )
    cutoff_spacing_days: int | None = Field(
        default=None, gt=0, description="Days between training cutoffs; defaults to the label horizon."
    )
    future_gap_days: int | None = Field(
        default=30, gt=0,
        description="With as_of 'auto': event times more than this many days after 99.9% of a source's events are "
        "implausible (typos such as 2099) and are quarantined, counted and reported, instead of becoming the as-of "
        "time; null keeps every event. With an explicit as_of, events after it are quarantined.",
    )
    validation_cutoffs: list[datetime] | None = Field(
        default=None,
        description="The training cutoffs the model is validated on out of time (fitted on the earlier ones); each "
        "must be one of training_cutoffs. Default: the latest training cutoff when there are two or more.",
    )
    date_only_events: bool = Field(default=False, description="Events carry dates only (midnight): an as-of or cutoff date means the end of that day, so the events of that day are in and the next day's are out.")

    @field_validator("as_of")
    @classmethod
    def _utc(cls, value: datetime | str) -> datetime | str:
        if isinstance(value, datetime):
            return _as_utc(value)
        return value

    @field_validator("training_cutoffs", "validation_cutoffs")
    @classmethod
    def _utc_list(cls, value):
        if isinstance(value, list):
            if not value:
                raise ValueError("list at least one cutoff (or give a number of cutoffs)")
            value = sorted(_as_utc(v) for v in value)
            repeated = sorted({v.isoformat() for v in value if value.count(v) > 1})
            if repeated:
                raise ValueError(f"cutoffs must differ; repeated {repeated}")
        return value

    @model_validator(mode="after")
    def _explicit_timeline(self) -> "TimelineSettings":
        cutoffs = self.training_cutoffs if isinstance(self.training_cutoffs, list) else None
        if self.validation_cutoffs is not None:
            if cutoffs is None:
                raise ValueError("validation_cutoffs needs training_cutoffs as an explicit list of cutoffs")
            unknown = [v.isoformat() for v in self.validation_cutoffs if v not in cutoffs]
            if unknown:
                raise ValueError(f"validation_cutoffs {unknown} are not among training_cutoffs "
                                 f"{[c.isoformat() for c in cutoffs]}")
            if len(self.validation_cutoffs) >= len(cutoffs):
                raise ValueError("validation_cutoffs must leave at least one training cutoff to fit on")
        if self.date_only_events:
            stamps = [("as_of", self.as_of)] if isinstance(self.as_of, datetime) else []
            stamps += [("training_cutoffs", c) for c in cutoffs or []]
            timed = [f"{key} {ts.isoformat()}" for key, ts in stamps if ts.time() != time(0)]
            if timed:
                raise ValueError(f"date_only_events: {', '.join(timed)} carry a time of day; give dates (a date "
                                 "means the end of that day)")
        return self


def _as_utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc)


class ModelSettings(_Strict):
    """Model training choices."""

    random_seed: int = 42
    cv_folds: int = Field(default=5, ge=2)
    threshold: float | None = Field(
        default=None,
        gt=0,
        lt=1,
        description="Decision threshold; when omitted the one maximising F1 on validation is chosen.",
    )
    risk_tier_bounds: dict[Literal["medium", "high"], float] = Field(
        default_factory=lambda: {"medium": 0.2, "high": 0.5}
    )
    max_single_feature_auc: float = Field(
        default=0.95,
        gt=0.5,
        le=1.0,
        description="A feature that alone separates the training labels better than this is treated as leakage.",
    )
    max_separation_auc: float = Field(
        default=0.995, gt=0.5, le=1.0,
        description="A depth-3 tree separating the training labels better than this (out of fold) is leakage.",
    )
    champion_tolerance: float = Field(
        default=0.0, ge=0, le=0.2,
        description="ROC AUC a challenger may lose against the champion and still pass the gate (it is only "
        "promoted when strictly better).",
    )
    threads: int | None = Field(
        default=1, ge=1,
        description="OpenMP threads for model fitting; 1 is fastest when other steps share the cores.",
    )
    low_importance_threshold: float = Field(
        default=0.0, description="Features with permutation importance at or below this become proposed drops."
    )
    max_training_rows: int = Field(
        default=250_000, ge=1000,
        description="The model is fitted on at most this many training rows (a seeded sample beyond it): a "
        "gradient-boosted model gains little from more rows and the frame must fit in memory.",
    )
    leakage_probe_rows: int = Field(
        default=50_000, ge=1000,
        description="Training rows the value-based leakage probes look at (a seeded sample beyond it).",
    )
    feast_verify_rows: int = Field(
        default=2000, ge=10,
        description="Training rows re-read through Feast's get_historical_features to prove the training set.",
    )
    max_plausible_auc: float = Field(
        default=0.97, gt=0.5, le=1.0,
        description="A model whose validation ROC AUC is above this is not promoted (blocking check "
        "plausible_auc), naming its top features: churn is never that predictable from honest features, so "
        "such a score means a leak each probe let pass. Raise it only with evidence that the data is that "
        "predictable.",
    )
    max_static_advantage: float = Field(
        default=0.15, ge=0, le=0.5,
        description="An entity column (taken at export) whose single-feature AUC is more than this above "
        "the best event-window feature's, pooled or at one cutoff, is flagged by leakage_probe.",
    )


class BusinessSettings(_Strict):
    """What a retention contact costs and what keeping a customer is worth."""

    contact_cost_usd: float = Field(default=2.0, ge=0)
    offer_acceptance_rate: float = Field(default=0.3, gt=0, le=1)
    value_column: str | None = Field(
        default=None,
        description="Entity column with each customer's monthly value (USD). Not set (or not a column of the "
        "data): the campaign ranks active customers by churn risk at the model's threshold, with no dollar "
        "figures (none is invented), and says so.",
    )
    value_months: float | None = Field(
        default=None, gt=0, description="Months of value a retained customer brings; default: the label horizon."
    )
    default_value_usd: float = Field(
        default=50.0, ge=0, description="With a value column: the value of a customer whose value is missing.")
    warn_flagged_share: float = Field(
        default=0.8, gt=0, le=1,
        description="A threshold that flags more than this share of the active scored customers is warned about "
        "in the campaign's metadata and the run summary (e.g. best F1 at an 85% churn rate flags everyone).",
    )


class MonitoringSettings(_Strict):
    """When drift or a performance drop is a signal to retrain."""

    psi_moderate: float = Field(default=0.1, gt=0, description="PSI from which a feature's drift is moderate.")
    psi_significant: float = Field(default=0.2, gt=0, description="PSI from which a feature's drift is significant.")
    drifted_importance_share: float = Field(
        default=0.10, gt=0, le=1,
        description="The drift signal fires when this share of the model's (SHAP) importance sits in features "
        "whose PSI is at least psi_moderate.",
    )
    psi_bins: int = Field(default=10, ge=2, le=100, description="Quantile bins cut on the training reference.")
    reference_rows: int = Field(default=5000, ge=100, description="Training rows kept as the drift reference.")
    max_auc_drop: float = Field(
        default=0.05, gt=0, lt=0.5,
        description="Realized ROC AUC this far below the scoring model's validation ROC AUC fires the "
        "performance signal.",
    )
    min_cohort_rows: int = Field(default=200, ge=10, description="Matured cohorts smaller than this are not judged.")
    current_rows: int = Field(
        default=100_000, ge=1000,
        description="Scoring rows compared with the reference for drift (a seeded sample beyond it).",
    )
    calendar_features: Literal["shift", "flag"] = Field(
        default="shift",
        description="Tenure-like features (days since a first event or an entity date) grow with the calendar: "
        "'shift' compares them with the reference aged by the elapsed time, 'flag' reports them as expected ageing.",
    )
    estimate_triggers_retrain: bool = Field(
        default=False,
        description="Whether an estimated ROC AUC (from calibrated probabilities, before labels mature) more than "
        "max_auc_drop below the validation ROC AUC fires the performance signal.",
    )

    @model_validator(mode="after")
    def _ordered(self) -> "MonitoringSettings":
        if self.psi_significant <= self.psi_moderate:
            raise ValueError("psi_significant must be above psi_moderate")
        return self


class ExplorationSettings(_Strict):
    """Where findings live and how they turn into recommendations."""

    findings_dir: Path | None = Field(
        default=None, description="Relative to the settings file; default <data directory>/findings."
    )
    auto_accept: bool = Field(
        default=True,
        description="New routine recommendations (imputation, capping, encoding, aggregation) start accepted; "
        "removals always start proposed.",
    )
    max_one_hot_cardinality: int = Field(default=20, ge=2)
    hash_buckets: int = Field(default=32, ge=2)
    text_components: int = Field(default=8, ge=1, le=64)
    text_max_features: int = Field(default=2000, ge=10)
    text_fit_rows: int = Field(
        default=200_000, ge=100,
        description="Texts the TF-IDF + SVD model is fitted on (a seeded sample of those written by the earliest "
        "cutoff beyond it); every text is then projected.",
    )
    profile_sample_rows: int = Field(default=200_000, ge=1000)


class UnityCatalogSettings(_Strict):
    """Where the `databricks` profile keeps tables and the model in Unity Catalog: one catalog, one schema
    per layer, the registered model `catalog.model_schema.model_name`. Unused by the other profiles."""

    catalog: Identifier = "main"
    schemas: dict[Literal["raw", "bronze", "silver", "gold", "serving"], Identifier] = Field(
        default_factory=lambda: {layer: f"retention_{layer}" for layer in ("raw", "bronze", "silver", "gold",
                                                                             "serving")},
        description="The schema of each layer (all five layers).")
    model_schema: Identifier = "retention_ml"
    model_name: Identifier = "churn_model"
    storage_root: str | None = Field(
        default=None, description="URL under which the external Delta tables' data is written (s3://, abfss://, "
        "a Volume); default: <data_dir>/lake on this machine.")

    @field_validator("schemas")
    @classmethod
    def _every_layer(cls, value: dict) -> dict:
        missing = {"raw", "bronze", "silver", "gold", "serving"} - set(value)
        if missing:
            raise ValueError(f"schemas must name a schema for every layer; missing {sorted(missing)}")
        return value

    @property
    def registered_model(self) -> str:
        return f"{self.catalog}.{self.model_schema}.{self.model_name}"


class CatalogSettings(_Strict):
    """How assets appear in the Dagster catalog."""

    owners: list[str] = Field(default_factory=list, description="Asset owners (emails or team:name).")
    tags: dict[str, str] = Field(default_factory=dict, description="Tags on every asset (key: value).")


class Settings(_Strict):
    """The whole settings file."""

    entity: EntitySettings
    events: dict[Identifier, EventSettings] = Field(default_factory=dict)
    windows: list[str] = Field(default_factory=lambda: list(DEFAULT_WINDOWS))
    timeline: TimelineSettings = Field(default_factory=TimelineSettings)
    label: LabelSettings = Field(default_factory=LabelSettings)
    model: ModelSettings = Field(default_factory=ModelSettings)
    exploration: ExplorationSettings = Field(default_factory=ExplorationSettings)
    business: BusinessSettings = Field(default_factory=BusinessSettings)
    monitoring: MonitoringSettings = Field(default_factory=MonitoringSettings)
    unity_catalog: UnityCatalogSettings = Field(default_factory=UnityCatalogSettings)
    catalog: CatalogSettings = Field(default_factory=CatalogSettings)
    data_dir: Path | None = Field(
        default=None,
        description="Where outputs go; relative to the settings file. Default: $RETENTION_DATA_DIR or "
        "./.retention_data in the working directory.",
    )
    base_dir: Path | None = Field(
        default=None, exclude=True, description="Directory relative paths resolve against (the file's own)."
    )

    @field_validator("windows")
    @classmethod
    def _windows(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError("at least one window is required")
        for window in value:
            if not _WINDOW.match(window):
                raise ValueError(f"window {window!r} must look like '24h', '7d' or 'all_time'")
        if len(set(value)) != len(value):
            raise ValueError("windows must be unique")
        return value

    @model_validator(mode="after")
    def _cross_checks(self) -> "Settings":
        names = set(self.events)
        if self.entity.name in names:
            raise ValueError(f"entity.name {self.entity.name!r} is also an event source name; names must differ")
        if self.label.kind == "target_column" and self.label.target_column in self.entity.exclude_columns:
            raise ValueError("label.target_column is listed in entity.exclude_columns")
        if self.label.kind == "inactivity":
            if not names:
                raise ValueError("label.kind 'inactivity' needs at least one event source under `events`")
            unknown = set(self.label.activity_sources or []) - names
            if unknown:
                raise ValueError(
                    f"label.activity_sources names {sorted(unknown)}, which are not event sources {sorted(names)}"
                )
        return self

    def resolve(self, path: Path) -> Path:
        """A path from the settings, made absolute against the settings file's directory."""
        if path.is_absolute() or self.base_dir is None:
            return path.resolve()
        return (self.base_dir / path).resolve()

    @property
    def data_path(self) -> Path:
        override = os.environ.get(DATA_DIR_ENV_VAR)
        if override:
            return Path(override).resolve()
        return self.resolve(self.data_dir) if self.data_dir else DEFAULT_DATA_DIR.resolve()

    @property
    def findings_path(self) -> Path:
        directory = self.exploration.findings_dir
        return self.resolve(directory) if directory else self.data_path / "findings"

    @property
    def source_paths(self) -> list[Path]:
        """Every declared source file, resolved."""
        entity = [] if self.entity.path is None else [self.resolve(self.entity.path)]
        return [*entity, *(self.resolve(e.path) for e in self.events.values())]

    @property
    def entity_date_columns(self) -> list[str]:
        """Entity dates that become "days since" features (the declared dates and the signup column)."""
        entity = self.entity
        return list(dict.fromkeys([*entity.date_columns, *([entity.signup_column] if entity.signup_column else [])]))

    @property
    def activity_sources(self) -> list[str]:
        return list(self.label.activity_sources or self.events)

    @model_validator(mode="before")
    @classmethod
    def _derived_entity_defaults(cls, data):
        """A derived entity names a configured event source; its key defaults to that source's key and its
        signup column is first_seen."""
        if not isinstance(data, dict) or not isinstance(data.get("entity"), dict):
            return data
        entity = data["entity"]
        derived = entity.get("derived_from")
        if derived is None:
            return data
        events = data.get("events") or {}
        if derived not in events:
            raise ValueError(f"entity.derived_from names {derived!r}, which is not an event source under `events` "
                             f"(the event sources are {sorted(events) or 'none'})")
        source = events[derived]
        key = source.get("entity_key") if isinstance(source, dict) else getattr(source, "entity_key", None)
        filled = {**entity}
        if not filled.get("entity_key") and key:
            filled["entity_key"] = key
        filled.setdefault("signup_column", FIRST_SEEN)
        return {**data, "entity": filled}

    @property
    def entity_source_path(self) -> Path:
        """The file the entity table comes from: its own, or the event file it is derived from."""
        entity = self.entity
        return self.resolve(self.events[entity.derived_from].path if entity.derived_from else entity.path)


def _format_errors(path: Path, error: ValidationError) -> str:
    lines = []
    for item in error.errors():
        key = ".".join(str(part) for part in item["loc"]) or "<top level>"
        got = item.get("input")
        got_text = "" if isinstance(got, dict) else f" (got {got!r})"
        lines.append(f"  - {key}: {item['msg']}{got_text}")
    return f"invalid settings in {path}:\n" + "\n".join(lines)


def load_settings(path: str | Path | None = None) -> Settings:
    """Read and validate a settings file; without a path, `RETENTION_SETTINGS` or the sample settings."""
    chosen = Path(path or os.environ.get(SETTINGS_ENV_VAR) or sample_settings_path()).expanduser().resolve()
    if not chosen.exists():
        raise SettingsError(f"settings file {chosen} does not exist (set {SETTINGS_ENV_VAR} or pass --settings)")
    try:
        raw = yaml.safe_load(chosen.read_text()) or {}
    except yaml.YAMLError as exc:
        raise SettingsError(f"settings file {chosen} is not valid YAML: {exc}") from None
    if not isinstance(raw, dict):
        raise SettingsError(f"settings file {chosen} must hold a mapping at the top level")
    try:
        return Settings.model_validate({**raw, "base_dir": chosen.parent})
    except ValidationError as exc:
        raise SettingsError(_format_errors(chosen, exc)) from None


def sample_settings_path() -> Path:
    """Settings of the embedded sample (committed with its data under `retention_assets/sample/`)."""
    return Path(__file__).parent / "sample" / "settings.yaml"


@lru_cache(maxsize=1)
def current_settings() -> Settings:
    """Settings of this process's code location (cached: read once per process)."""
    return load_settings()
