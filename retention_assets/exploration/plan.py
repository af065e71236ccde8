"""From reviewed findings to the plan every layer follows in one run.

The plan (`RunPlan`) is a snapshot taken once per run by the `recommendations` asset: the findings
and registry versions, which datasets are selected, the chosen target, the identifier columns, and
every recommendation with its status. Layers read the plan (not the files) so that a person editing
a file mid-run cannot make two layers disagree.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

from retention_assets.exploration.findings import Findings, findings_path, load_findings
from retention_assets.exploration.recommendations import (
    ColumnFacts,
    DatasetFacts,
    Recommendation,
    RecommendationPolicy,
    active,
    load_registry,
    merge,
    recommend_for_dataset,
    registry_lock,
    registry_version,
    write_registry,
)

DECLARED_TYPES = {"value_columns": "numeric", "categorical_columns": "categorical", "text_columns": "text"}


def dataset_facts(findings: Findings, declared: dict[str, list[str] | None] | None = None) -> DatasetFacts:
    """Effective column facts: a person's review first, then columns the settings declare, then detection.

    Where the settings declare a role list (e.g. `value_columns`), that list is the whole role: other
    columns the findings type that way are not given it.
    """
    declared = {k: v for k, v in (declared or {}).items() if v is not None}
    declared_type = {c: DECLARED_TYPES[role] for role, cols in declared.items() for c in cols}
    restricted = {DECLARED_TYPES[role] for role in declared}
    excluded = set(findings.excluded_columns)
    columns = []
    for name in findings.columns:
        if name in excluded:
            continue
        entry = (findings.data.get("columns") or {}).get(name, {})
        detected = entry.get("detected") or {}
        reviewed = (entry.get("review") or {}).get("type")
        kind = reviewed or declared_type.get(name) or findings.column_type(name)
        if not reviewed and name not in declared_type and kind in restricted:
            kind = "ignored"  # the settings list this role explicitly and this column is not in it
        columns.append(ColumnFacts(
            name=name, type=kind, null_rate=float(detected.get("null_rate") or 0.0),
            outlier_rate=detected.get("outlier_rate"), cardinality=int(detected.get("cardinality") or 0),
        ))
    return DatasetFacts(
        name=findings.dataset, granularity=findings.granularity or "entity", entity_key=findings.entity_key,
        timestamp_column=findings.timestamp_column, columns=tuple(columns),
    )


def refresh_registry(
    directory: Path,
    datasets: dict[str, dict[str, list[str] | None]],
    policy: RecommendationPolicy,
    registry_file: Path,
    key_overrides: dict[str, tuple[str, str | None]] | None = None,
) -> tuple[list[Recommendation], dict[str, Findings]]:
    """Recompute proposals from every dataset's findings and merge them into the registry file.

    `datasets` maps a dataset name to the role lists its settings declare; `key_overrides` gives the
    settings' (key, timestamp) for a dataset, which win over detection.
    """
    findings = {name: load_findings(findings_path(directory, name)) for name in datasets}
    for name, (key, timestamp) in (key_overrides or {}).items():
        check_review_agrees(findings[name], key, timestamp)
    fresh: list[Recommendation] = []
    for name, item in findings.items():
        if not item.selected:
            continue
        facts = dataset_facts(item, datasets[name])
        if key_overrides and name in key_overrides:
            key, ts = key_overrides[name]
            facts = DatasetFacts(facts.name, "event" if ts else "entity", key, ts, facts.columns)
        fresh += recommend_for_dataset(facts, policy)
    with registry_lock(registry_file):
        recs = merge(load_registry(registry_file), fresh)
        write_registry(registry_file, recs)
    return recs, findings


@dataclass(frozen=True)
class EventRoles:
    """What the accepted recommendations aggregate for one event source, and which entries say so."""

    value: tuple[str, ...] = ()
    category: tuple[str, ...] = ()
    text: tuple[str, ...] = ()
    window_recommendations: tuple[str, ...] = ()  # ids of the aggregate_windows entries in force
    text_recommendations: tuple[str, ...] = ()  # ids of the text_svd entries in force


@dataclass(frozen=True)
class RunPlan:
    """The decisions one run follows, taken once by the `recommendations` asset.

    Layers read this snapshot (not the files), so a person editing a file mid-run cannot make two
    layers disagree. `to_dict`/`from_dict` carry it between steps as JSON.
    """

    findings_versions: dict[str, str]
    recommendations_version: str
    selected: dict[str, bool]
    targets: dict[str, str]
    excluded: dict[str, list[str]]
    identifiers: dict[str, list[str]]
    recommendations: tuple[Recommendation, ...] = ()

    def is_selected(self, dataset: str) -> bool:
        return self.selected.get(dataset, True)

    @property
    def deselected(self) -> list[str]:
        return [name for name, chosen in self.selected.items() if not chosen]

    def target(self, entity: str, configured: str | None) -> str | None:
        """The target column: one a person chose in the entity findings wins over the settings."""
        return self.targets.get(entity) or configured

    def excluded_columns(self, dataset: str) -> list[str]:
        return list(self.excluded.get(dataset, []))

    @property
    def identifier_columns(self) -> list[str]:
        return [c for columns in self.identifiers.values() for c in columns]

    def active(self, layer: str, dataset: str | None = None, action: str | None = None) -> list[Recommendation]:
        """The entries in force (accepted or applied) for a layer, optionally one dataset and action."""
        return active(list(self.recommendations), layer, dataset, action)

    def event_roles(self, dataset: str) -> EventRoles:
        """The value, category and text columns the accepted recommendations aggregate for an event source."""
        if not self.is_selected(dataset):
            return EventRoles()
        windows = self.active("bronze_event", dataset, "aggregate_windows")
        text = self.active("bronze_event", dataset, "text_svd")
        return EventRoles(
            value=tuple(r.column for r in windows if r.params.get("kind", "value") == "value"),
            category=tuple(r.column for r in windows if r.params.get("kind") == "category"),
            text=tuple(r.column for r in text),
            window_recommendations=tuple(r.id for r in windows),
            text_recommendations=tuple(r.id for r in text),
        )

    def proposed_by(self, iteration: str | None) -> list[str]:
        """Ids of the entries a model iteration proposed (the feedback the next iteration receives)."""
        if iteration is None:
            return []
        return [r.id for r in self.recommendations if r.origin == f"iteration:{iteration}"]

    def to_dict(self) -> dict:
        return {
            "findings_versions": dict(self.findings_versions),
            "recommendations_version": self.recommendations_version,
            "selected": dict(self.selected),
            "targets": dict(self.targets),
            "excluded": {k: list(v) for k, v in self.excluded.items()},
            "identifiers": {k: list(v) for k, v in self.identifiers.items()},
            "recommendations": [asdict(r) for r in self.recommendations],
        }

    @classmethod
    def from_dict(cls, data: dict) -> "RunPlan":
        return cls(
            findings_versions=dict(data.get("findings_versions", {})),
            recommendations_version=data.get("recommendations_version", ""),
            selected=dict(data.get("selected", {})),
            targets=dict(data.get("targets", {})),
            excluded={k: list(v) for k, v in data.get("excluded", {}).items()},
            identifiers={k: list(v) for k, v in data.get("identifiers", {}).items()},
            recommendations=tuple(Recommendation(**r) for r in data.get("recommendations", [])),
        )


def check_review_agrees(findings: Findings, key: str, timestamp: str | None) -> None:
    """A dataset the settings declare is keyed and timed by the settings; a review that says otherwise is a
    contradiction to resolve, not something to ignore (`retention explore` is where a reviewed key,
    timestamp or grain shapes the starter settings)."""
    review = findings.review
    declared = {"entity_key": key, "timestamp_column": timestamp, "granularity": "event" if timestamp else "entity"}
    for field, value in declared.items():
        reviewed = review.get(field)
        if reviewed is not None and reviewed != value:
            raise ValueError(f"{findings.path}: review.{field} is {reviewed!r} but the settings declare {value!r} "
                             f"for {findings.dataset}; change the settings file (it decides) or clear the review")


def build_plan(recs: list[Recommendation], findings: dict[str, Findings]) -> RunPlan:
    return RunPlan(
        findings_versions={name: f.version for name, f in findings.items()},
        recommendations_version=registry_version(recs),
        selected={name: f.selected for name, f in findings.items()},
        targets={name: f.target for name, f in findings.items() if f.target},
        excluded={name: f.excluded_columns for name, f in findings.items()},
        identifiers={name: f.columns_of_type("identifier") for name, f in findings.items()},
        recommendations=tuple(recs),
    )
