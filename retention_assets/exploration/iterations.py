"""Iteration context: every trained model is one recorded iteration of the exploration loop.

An iteration names its parent, what triggered it, the findings and recommendations versions it
used, its metrics and feature importances. Features whose importance stays below a threshold become
proposed "drop" recommendations for the next iteration, which carries that feedback forward. The
history is a YAML file beside the findings, so it is reviewable and diffable like them.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

import yaml

from retention_assets.core.files import atomic_write
from retention_assets.exploration.recommendations import Recommendation

HISTORY_FILE = "iterations.yaml"
TRIGGERS = ("initial", "manual", "drift", "performance_drop", "scheduled")


@dataclass
class Iteration:
    id: str
    parent: str | None
    trigger: str
    run_id: str
    data_as_of: str
    model_name: str
    findings_versions: dict[str, str]
    recommendations_version: str
    metrics: dict[str, float]
    feature_importance: dict[str, float]
    feedback_received: list[str] = field(default_factory=list)  # recommendation ids proposed by the parent
    feedback_proposed: list[str] = field(default_factory=list)  # features proposed for dropping next time
    champion: bool | None = None
    model_version: str | None = None  # the registered MLflow version
    outcome: dict | None = None  # written after the run ends: status, champion decision, metrics before/after


def load_history(path: Path) -> list[Iteration]:
    if not path.exists():
        return []
    data = yaml.safe_load(path.read_text()) or {}
    return [Iteration(**entry) for entry in data.get("iterations") or []]


def load_champion_changes(path: Path) -> list[dict]:
    """The champion alias changes made by hand (`retention champion set/clear`), oldest first."""
    if not path.exists():
        return []
    return list((yaml.safe_load(path.read_text()) or {}).get("champion_changes") or [])


def write_history(path: Path, history: list[Iteration], champion_changes: list[dict] | None = None) -> None:
    """Write the iterations (and keep the recorded champion changes unless new ones are given)."""
    changes = load_champion_changes(path) if champion_changes is None else champion_changes
    document = {"iterations": [asdict(i) for i in history]}
    if changes:
        document["champion_changes"] = changes
    text = ("# Model iterations, oldest first (written by churn_model; safe to read, diff and commit).\n"
            + yaml.safe_dump(document, sort_keys=False, width=110))
    atomic_write(path, lambda tmp: tmp.write_text(text))


def record_outcome(path: Path, run_id: str, status: str, champion_version: str | None) -> Iteration | None:
    """After a run ends: whether its iteration became champion, with its parent's metrics beside its own.

    Returns the updated iteration, or None when the run trained no model (nothing to record).
    """
    from retention_assets.exploration.recommendations import registry_lock

    with registry_lock(path):
        history = load_history(path)
        found = next((i for i in history if i.run_id == run_id), None)
        if found is None:
            return None
        parent = next((i for i in history if i.id == found.parent), None)
        headline = ("roc_auc", "pr_auc", "brier")
        found.champion = champion_version is not None and champion_version == found.model_version
        found.outcome = {
            "status": status,
            "became_champion": found.champion,
            "champion_version": champion_version,
            "metrics_before": {k: parent.metrics[k] for k in headline if k in parent.metrics} if parent else None,
            "metrics_after": {k: found.metrics[k] for k in headline if k in found.metrics},
        }
        write_history(path, history)
        return found


def record_champion_change(path: Path, action: str, version: str | None, previous: str | None,
                           by: str, at: str) -> dict:
    """Append a hand-made champion change (who, when, from which version to which) to the history.

    It follows the latest iteration (named, with its data as-of time), so the history reads in order:
    the runs, then the person's decision that the next run's gate starts from.
    """
    from retention_assets.exploration.recommendations import registry_lock

    with registry_lock(path):
        history = load_history(path)
        change = {"action": action, "version": version, "previous": previous, "by": by, "at": at,
                  "after_iteration": history[-1].id if history else None,
                  "data_as_of": history[-1].data_as_of if history else None}
        write_history(path, history, [*load_champion_changes(path), change])
    return change


def next_iteration_id(history: list[Iteration]) -> str:
    return f"iteration-{len(history) + 1:04d}"


def resolve_trigger(requested: str | None, history: list[Iteration]) -> str:
    """The run's trigger tag, else 'initial' for the first iteration and 'manual' after it."""
    if requested:
        if requested not in TRIGGERS:
            raise ValueError(f"trigger {requested!r} is not one of {', '.join(TRIGGERS)}")
        return requested
    return "manual" if history else "initial"


def low_importance_features(importance: dict[str, float], threshold: float) -> list[str]:
    """Features whose permutation importance (ROC AUC drop) stays at or below the threshold."""
    return sorted(name for name, value in importance.items() if value <= threshold)


def drop_proposals(iteration_id: str, features: list[str], importance: dict[str, float], threshold: float) -> list[Recommendation]:
    """Proposed gold-layer drops for the next iteration; a person accepts or rejects them."""
    return [
        Recommendation(
            id=f"gold:features.{name}:drop_column", layer="gold", dataset="features", column=name,
            action="drop_column",
            rationale=f"permutation importance {importance[name]:.5f} <= {threshold} in {iteration_id}",
            evidence={"importance": round(importance[name], 6), "iteration": iteration_id},
            status="proposed", origin=f"iteration:{iteration_id}",
        )
        for name in features
    ]
