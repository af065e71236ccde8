"""The champion gate: a challenger replaces the champion only if it does at least as well on the
challenger's own out-of-sample validation rows (the same rows and labels for both models)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class GateDecision:
    challenger_auc: float
    champion_auc: float | None
    passed: bool  # the challenger is not worse than the champion (beyond the tolerance)
    promote: bool  # the challenger should take the champion alias
    reason: str


def decide(challenger: float, champion: float | None, tolerance: float = 0.0) -> GateDecision:
    """Compare two ROC AUCs measured on the same rows. No champion yet: the challenger is promoted.

    Ties pass the gate without promotion, so re-running on unchanged data keeps the alias where it is.
    """
    if champion is None:
        return GateDecision(challenger, None, True, True, "no champion yet")
    if challenger > champion:
        return GateDecision(challenger, champion, True, True,
                            f"challenger ROC AUC {challenger:.4f} beats champion {champion:.4f}")
    passed = challenger >= champion - tolerance
    verdict = "ties" if challenger == champion else "is worse than"
    return GateDecision(challenger, champion, passed, False,
                        f"challenger ROC AUC {challenger:.4f} {verdict} champion {champion:.4f} on the same rows")


def keep_servable(decision: GateDecision, champion: str | None, missing: list[str]) -> GateDecision:
    """A champion that reads features the feature view no longer publishes cannot score anyone: a
    challenger that passed the gate (within the tolerance) takes over instead of being held back."""
    if decision.promote or not decision.passed or not missing:
        return decision
    return GateDecision(decision.challenger_auc, decision.champion_auc, True, True,
                        f"{decision.reason}; champion version {champion} reads features no longer published "
                        f"({', '.join(missing[:5])}{', ...' if len(missing) > 5 else ''}), so the challenger takes over")


def decide_champion(config, model, engine, training_table: str, key: str,
                    tolerance: float = 0.0) -> tuple[str | None, GateDecision]:
    """The champion decision, in one place: the blocking `beats_champion` check and `champion_model` ask it.

    Both numbers must be out of sample. A champion trained on data up to the same as-of time was
    fitted on those very rows, so scoring it there would flatter it; its own logged validation AUC
    (same data, same split, same rows) is the fair number then. A champion from earlier data never
    saw the challenger's validation cutoff, so it is scored on those rows (read back from the training
    set by key) directly. A champion that reads features the challenger no longer has cannot score
    today's rows, so a challenger within the tolerance takes over (`keep_servable`).
    Returns the champion's version (None when there is none other than the challenger itself).
    """
    from sklearn.metrics import roc_auc_score

    from retention_assets.feature_store.training_set import read_rows_at
    from retention_assets.model.serving import version_spec
    from retention_assets.model.tracking import champion_version, load_version, pipeline_input, version_record

    y_valid = np.asarray(model.validation_labels)
    challenger = float(roc_auc_score(y_valid, np.asarray(model.validation_proba)))
    current = champion_version(config)
    if current is None or current == model.registered_version:
        return None, decide(challenger, None, tolerance)
    champion_as_of, champion_auc = version_record(config, current)
    if champion_as_of != model.trained_as_of or champion_auc is None:
        rows = read_rows_at(engine, training_table, key, model.validation_keys)
        pipeline = load_version(config, current)
        champion_auc = float(roc_auc_score(y_valid, pipeline.predict_proba(pipeline_input(pipeline, rows))[:, 1]))
    decision = decide(challenger, float(champion_auc), tolerance)
    if decision.passed and not decision.promote:
        spec = version_spec(config, current)
        have = set(model.feature_columns)
        decision = keep_servable(decision, current, [c for c in (*spec["numeric_columns"], *spec["categorical_columns"])
                                                     if c not in have])
    return current, decision
