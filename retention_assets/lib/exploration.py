"""From reviewed findings to the plan every layer follows in one run.

The plan is a JSON-friendly snapshot taken once per run by the `recommendations` asset: the
findings and registry versions, which datasets are selected, the chosen target, the identifier
columns, and every recommendation with its status. Layers read the plan (not the files) so that a
person editing a file mid-run cannot make two layers disagree.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

from retention_assets.lib.findings import Findings, findings_path, load_findings
from retention_assets.lib.recommendations import (
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


def build_plan(recs: list[Recommendation], findings: dict[str, Findings]) -> dict:
    identifiers = {name: f.columns_of_type("identifier") for name, f in findings.items()}
    return {
        "findings_versions": {name: f.version for name, f in findings.items()},
        "recommendations_version": registry_version(recs),
        "selected": {name: f.selected for name, f in findings.items()},
        "targets": {name: f.target for name, f in findings.items() if f.target},
        "excluded": {name: f.excluded_columns for name, f in findings.items()},
        "identifiers": identifiers,
        "recommendations": [asdict(r) for r in recs],
    }


def plan_recommendations(plan: dict) -> list[Recommendation]:
    return [Recommendation(**r) for r in plan.get("recommendations", [])]


def event_columns(plan: dict, dataset: str) -> dict[str, list[str]]:
    """The value, category and text columns the accepted recommendations aggregate for an event source."""
    recs = plan_recommendations(plan)
    roles: dict[str, list[str]] = {"value": [], "category": [], "text": [], "ids": []}
    if not plan.get("selected", {}).get(dataset, True):
        return roles
    for rec in active(recs, "bronze_event", dataset):
        if rec.action == "aggregate_windows":
            roles[rec.params.get("kind", "value")].append(rec.column)
        elif rec.action == "text_svd":
            roles["text"].append(rec.column)
        else:
            continue
        roles["ids"].append(rec.id)
    return roles


def effective_target(plan: dict, entity: str, target_column: str | None) -> str | None:
    """The target column: one a person chose in the entity findings wins over the settings."""
    return plan.get("targets", {}).get(entity) or target_column


def layer_recommendations(plan: dict, layer: str, dataset: str | None = None) -> list[Recommendation]:
    return active(plan_recommendations(plan), layer, dataset)
