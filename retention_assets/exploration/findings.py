"""The reviewable findings files: what exploration detected, and what a person decided about it.

Each dataset gets `<directory>/<dataset>_findings.yaml`, the datasets together
`<directory>/multi_dataset_findings.yaml`. Every file has two kinds of blocks: `detected` is
rewritten on every exploration run, `review` belongs to people and is carried over unchanged (a
corrected column type, an excluded column, a deselected dataset, a chosen key or target). A column
that disappears from the data keeps its edited review under its name with `detected: null`, so the
edit is not lost if the column comes back. Files are written atomically with a stable key order
and floats rounded to 4 significant digits, so re-running on the same data gives the same bytes and
a reviewer's diff shows only what changed. (Comments people add inside the file are not kept; the
values of their `review` blocks are.)
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from retention_assets.core.files import atomic_write
from retention_assets.exploration.profiling import COLUMN_TYPES, DatasetProfile, Relationship

MULTI_FINDINGS_FILE = "multi_dataset_findings.yaml"
GRANULARITIES = ("entity", "event")
DATASET_HEADER = (
    "# Exploration findings for {name}: `detected` is rewritten on every exploration run; edit `review` "
    "to override it (your edits are kept). Column types: " + ", ".join(COLUMN_TYPES) + ".\n"
)
MULTI_HEADER = (
    "# Exploration findings across datasets: `detected`, `datasets` and `relationships` are rewritten on "
    "every exploration run; edit `review` (and each dataset's own file) to override them.\n"
)


def _default_review() -> dict:
    return {"selected": True, "granularity": None, "entity_key": None, "timestamp_column": None, "target": None}


def _default_column_review() -> dict:
    return {"type": None, "exclude": False}


def _default_multi_review() -> dict:
    return {"primary_entity": None}


def findings_path(directory: Path, dataset: str) -> Path:
    return Path(directory) / f"{dataset}_findings.yaml"


def multi_findings_path(directory: Path) -> Path:
    return Path(directory) / MULTI_FINDINGS_FILE


# --------------------------------------------------------------------------------------------------
# YAML: readable, diffable, tag-free


class _Flow(dict):
    """A mapping written on one line (`{type: null, exclude: false}`)."""


class _Dumper(yaml.SafeDumper):
    """The safe dumper, with short mappings and lists of scalars on one line."""


def _represent_flow(dumper: yaml.SafeDumper, data: _Flow):
    return dumper.represent_mapping("tag:yaml.org,2002:map", data.items(), flow_style=True)


def _represent_list(dumper: yaml.SafeDumper, data: list):
    short = all(not isinstance(item, (dict, list)) for item in data) and sum(len(str(i)) for i in data) <= 80
    return dumper.represent_sequence("tag:yaml.org,2002:seq", data, flow_style=short)


_Dumper.add_representer(_Flow, _represent_flow)
_Dumper.add_representer(list, _represent_list)


def _round(value):
    """Floats to 4 significant digits (NaN/inf to null), recursively; for detected values, never reviews."""
    if isinstance(value, float):
        return float(f"{value:.4g}") if math.isfinite(value) else None
    if isinstance(value, _Flow):
        return _Flow((k, _round(v)) for k, v in value.items())
    if isinstance(value, dict):
        return {k: _round(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_round(v) for v in value]
    return value


def _dump(header: str, data: dict) -> str:
    return header + yaml.dump(data, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=110)


def _write(path: Path, text: str) -> Path:
    atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8", newline="\n"))
    return path


def _read_existing(path: Path) -> dict:
    """The current file's content, or {} when there is none; a file people broke is an error, never overwritten."""
    if not path.exists():
        return {}
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ValueError(f"{path} is not valid YAML, fix it before exploring again: {exc}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ValueError(f"{path} must hold a mapping at the top level")
    return data


def _merged_review(existing, defaults: dict):
    """A person's review block as they left it; keys they never had are added with their defaults."""
    if not isinstance(existing, dict):
        return defaults if existing is None else existing
    return {**existing, **{k: v for k, v in defaults.items() if k not in existing}}


def _version(data: dict, keys: Iterable[str]) -> str:
    payload = json.dumps({k: data.get(k) for k in keys}, sort_keys=True, default=str)
    return hashlib.sha256(payload.encode()).hexdigest()[:12]


# --------------------------------------------------------------------------------------------------
# one dataset


def _detected(profile: DatasetProfile) -> dict:
    explained = {"key_reasons": dict(profile.key_reasons)} if profile.key_reasons else {}
    explained |= {"notes": list(profile.notes)} if profile.notes else {}
    return _round({
        "rows": profile.rows,
        "granularity": profile.granularity,
        "entity_key": profile.entity_key,
        "key_candidates": list(profile.key_candidates),
        "timestamp_column": profile.timestamp_column,
        "timestamp_candidates": list(profile.timestamp_candidates),
        "target_candidates": list(profile.target_candidates),
        "duplicate_rows": profile.duplicate_rows,
        "duplicate_keys": profile.duplicate_keys,
        "events_per_entity": profile.events_per_entity,
        "time_span": profile.time_span,
        **explained,
    })


def _detected_column(column) -> dict:
    detected = {
        "type": column.type,
        "dtype": column.dtype,
        "null_rate": column.null_rate,
        "cardinality": column.cardinality,
        "unique_ratio": column.unique_ratio,
        "examples": list(column.examples),
    }
    for name in ("outlier_rate", "min", "max", "mean_words", "future_rate", "far_past_rate"):
        value = getattr(column, name)
        if value is not None:
            detected[name] = value
    return _round(detected)


def _is_default_column_review(review) -> bool:
    return isinstance(review, dict) and not review.get("type") and not review.get("exclude")


def write_findings(profile: DatasetProfile, directory: Path) -> Path:
    """Write (or refresh) a dataset's findings: `detected` from `profile`, every `review` kept as it was."""
    path = findings_path(directory, profile.name)
    existing = _read_existing(path)
    old_columns = existing.get("columns") if isinstance(existing.get("columns"), dict) else {}
    columns: dict = {}
    for name, column in profile.columns.items():
        old = old_columns.get(name) if isinstance(old_columns.get(name), dict) else {}
        review = _merged_review(old.get("review"), _default_column_review())
        columns[name] = {"review": _Flow(review) if isinstance(review, dict) else review,
                         "detected": _detected_column(column)}
    for name, old in old_columns.items():
        review = old.get("review") if isinstance(old, dict) else None
        if name not in columns and review is not None and not _is_default_column_review(review):
            columns[name] = {"review": _Flow(review) if isinstance(review, dict) else review, "detected": None}
    data = {
        "dataset": profile.name,
        "path": profile.path,
        "review": _merged_review(existing.get("review"), _default_review()),
        "detected": _detected(profile),
        "columns": columns,
    }
    return _write(path, _dump(DATASET_HEADER.format(name=profile.name), data))


@dataclass
class Findings:
    """A dataset's findings as a person left them: the review where set, else what was detected."""

    path: Path
    data: dict

    @property
    def dataset(self) -> str:
        return str(self.data.get("dataset"))

    @property
    def source_path(self) -> str | None:
        return self.data.get("path")

    @property
    def review(self) -> dict:
        return self.data.get("review") or {}

    @property
    def detected(self) -> dict:
        return self.data.get("detected") or {}

    @property
    def selected(self) -> bool:
        return self.review.get("selected", True) is not False

    def _effective(self, key: str):
        value = self.review.get(key)
        return value if value is not None else self.detected.get(key)

    @property
    def granularity(self) -> str | None:
        return self._effective("granularity")

    @property
    def entity_key(self) -> str | None:
        return self._effective("entity_key")

    @property
    def timestamp_column(self) -> str | None:
        return self._effective("timestamp_column")

    @property
    def target(self) -> str | None:
        """Only a person chooses the target: a binary column is not necessarily the churn outcome."""
        return self.review.get("target")

    @property
    def columns(self) -> list[str]:
        """Columns present in the data (vanished columns kept only for their review are not)."""
        return [name for name, entry in self._column_entries().items() if entry.get("detected") is not None]

    def _column_entries(self) -> dict:
        return self.data.get("columns") or {}

    def _column_review(self, name: str) -> dict:
        return self._column_entries().get(name, {}).get("review") or {}

    def reviewed_type(self, name: str) -> str | None:
        """The type a person set for a column, or None."""
        value = self._column_review(name).get("type")
        if value is not None:
            _check_type(self.path, name, value)
        return value

    def column_type(self, name: str) -> str | None:
        """The reviewed type if a person set one, else the detected one."""
        entries = self._column_entries()
        if name not in entries:
            raise KeyError(f"{self.path}: no column {name!r} (columns: {', '.join(entries)})")
        reviewed = self._column_review(name).get("type")
        if reviewed is not None:
            _check_type(self.path, name, reviewed)
            return reviewed
        detected = entries[name].get("detected") or {}
        return detected.get("type")

    @property
    def excluded_columns(self) -> list[str]:
        return [name for name in self.columns if self._column_review(name).get("exclude") is True]

    def columns_of_type(self, column_type: str) -> list[str]:
        """Present, not excluded columns whose effective type is `column_type`."""
        if column_type not in COLUMN_TYPES:
            raise ValueError(f"unknown column type {column_type!r}; allowed: {', '.join(COLUMN_TYPES)}")
        excluded = set(self.excluded_columns)
        return [c for c in self.columns if c not in excluded and self.column_type(c) == column_type]

    @property
    def version(self) -> str:
        """A short hash of what was detected and decided, to record which findings a run used."""
        return _version(self.data, ("dataset", "review", "detected", "columns"))


def _check_type(path: Path, column: str, value) -> None:
    if value not in COLUMN_TYPES:
        raise ValueError(
            f"{path}: column {column!r} has review type {value!r}, which is not a column type; "
            f"allowed: {', '.join(COLUMN_TYPES)} (or null to accept the detected type)"
        )


def _validate(findings: Findings) -> None:
    path, review = findings.path, findings.data.get("review")
    if review is not None and not isinstance(review, dict):
        raise ValueError(f"{path}: `review` must be a mapping")
    review = review or {}
    if not isinstance(review.get("selected", True), bool):
        raise ValueError(f"{path}: review.selected must be true or false, got {review['selected']!r}")
    if review.get("granularity") is not None and review["granularity"] not in GRANULARITIES:
        raise ValueError(f"{path}: review.granularity must be one of {', '.join(GRANULARITIES)} or null, "
                         f"got {review['granularity']!r}")
    entries = findings.data.get("columns")
    if not isinstance(entries, dict):
        raise ValueError(f"{path}: `columns` must be a mapping of column name to review/detected")
    for name, entry in entries.items():
        if not isinstance(entry, dict):
            raise ValueError(f"{path}: column {name!r} must hold `review` and `detected`")
        column_review = entry.get("review")
        if column_review is None:
            continue
        if not isinstance(column_review, dict):
            raise ValueError(f"{path}: column {name!r}: `review` must be a mapping like {{type: null, exclude: false}}")
        if column_review.get("type") is not None:
            _check_type(path, name, column_review["type"])
        if not isinstance(column_review.get("exclude", False), bool):
            raise ValueError(f"{path}: column {name!r}: review.exclude must be true or false, "
                             f"got {column_review['exclude']!r}")
    present = findings.columns
    for key in ("entity_key", "timestamp_column", "target"):
        value = review.get(key)
        if value is not None and value not in present:
            raise ValueError(f"{path}: review.{key} is {value!r}, which is not a column of "
                             f"{findings.dataset} (columns: {', '.join(present)})")


def load_findings(path: Path) -> Findings:
    """Read and check a dataset's findings file; a bad edit fails here naming the file and the column."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist: run exploration first")
    findings = Findings(path=path, data=_read_existing(path))
    _validate(findings)
    return findings


# --------------------------------------------------------------------------------------------------
# across datasets


def _primary_entity(datasets: dict[str, dict], relationships: list[Relationship]) -> str | None:
    """The selected entity-level dataset that most other datasets point to (then the largest, then by name)."""
    entities = [n for n, d in datasets.items() if d["granularity"] == "entity" and d["selected"]]
    if not entities:
        return None
    links = {n: sum(1 for r in relationships if r.left == n and r.cardinality in ("one_to_many", "one_to_one"))
             for n in entities}
    return sorted(entities, key=lambda n: (-links[n], -datasets[n]["rows"], n))[0]


def write_multi_findings(
    profiles: Mapping[str, DatasetProfile] | Iterable[DatasetProfile],
    relationships: list[Relationship],
    directory: Path,
) -> Path:
    """Write (or refresh) the cross-dataset findings; `review` is kept as people left it.

    Each dataset's granularity, key and selection are the effective ones from its own findings file
    when it exists (so a person's review there is reflected here), else what was detected.
    """
    path = multi_findings_path(directory)
    existing = _read_existing(path)
    items = profiles.values() if isinstance(profiles, Mapping) else profiles
    datasets: dict[str, dict] = {}
    for profile in sorted(items, key=lambda p: p.name):
        entry = {"granularity": profile.granularity, "entity_key": profile.entity_key,
                 "rows": profile.rows, "selected": True}
        own = findings_path(directory, profile.name)
        if own.exists():
            findings = load_findings(own)
            entry.update(granularity=findings.granularity, entity_key=findings.entity_key,
                         selected=findings.selected)
        datasets[profile.name] = entry
    data = {
        "review": _merged_review(existing.get("review"), _default_multi_review()),
        "detected": {"primary_entity": _primary_entity(datasets, relationships)},
        "datasets": {name: _Flow(_round(entry)) for name, entry in datasets.items()},
        "relationships": [
            _round({"left": r.left, "left_column": r.left_column, "right": r.right, "right_column": r.right_column,
             "left_match_rate": r.left_match_rate, "right_match_rate": r.right_match_rate,
             "cardinality": r.cardinality})
            for r in relationships
        ],
    }
    return _write(path, _dump(MULTI_HEADER, data))


@dataclass
class MultiFindings:
    """The datasets together: which are selected, how they join, which one is the customer table."""

    path: Path
    data: dict
    relationships: list[Relationship] = field(default_factory=list)

    @property
    def review(self) -> dict:
        return self.data.get("review") or {}

    @property
    def datasets(self) -> dict[str, dict]:
        return dict(self.data.get("datasets") or {})

    @property
    def selected_datasets(self) -> list[str]:
        return [name for name, entry in self.datasets.items() if entry.get("selected", True) is not False]

    @property
    def primary_entity(self) -> str | None:
        value = self.review.get("primary_entity")
        return value if value is not None else (self.data.get("detected") or {}).get("primary_entity")

    @property
    def version(self) -> str:
        return _version(self.data, ("review", "detected", "datasets", "relationships"))


def load_multi_findings(path: Path) -> MultiFindings:
    """Read and check the cross-dataset findings file."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist: run exploration first")
    data = _read_existing(path)
    review = data.get("review") or {}
    if not isinstance(review, dict):
        raise ValueError(f"{path}: `review` must be a mapping")
    datasets = data.get("datasets") or {}
    chosen = review.get("primary_entity")
    if chosen is not None and chosen not in datasets:
        raise ValueError(f"{path}: review.primary_entity is {chosen!r}, which is not a dataset "
                         f"(datasets: {', '.join(datasets)})")
    try:
        relationships = [Relationship(**r) for r in data.get("relationships") or []]
    except TypeError as exc:
        raise ValueError(f"{path}: a relationship entry is malformed: {exc}") from None
    return MultiFindings(path=path, data=data, relationships=relationships)
