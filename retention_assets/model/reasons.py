"""Per-customer reasons a retention team can act on: the model inputs pushing a customer towards churn,
in words, with the customer's own value, the typical value among retained customers and the share of
the customer's risk each one carries.

    0 transactions in the last 30 days, fewer than retained customers (median 4), 41% of the risk

The `Glossary` (what each input means, `features.meanings`, and its reference among the retained
customers of the training rows) is built when the model is trained and logged with it in MLflow, so a
served version always explains itself with its own names. A reason's share is its SHAP contribution
over the sum of the customer's positive contributions (what pushes towards churn); one-hot parts of a
categorical column arrive summed (`model.explain`), so a column is one reason.
This module must not import dagster.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd

from retention_assets.features.meanings import FeatureMeaning, Vocabulary, describe_features, meanings_from_dicts, words

REASON_FIELDS = ("feature", "name", "value", "reference", "direction", "risk_share", "contribution", "text")
_NUMERIC_KINDS = ("count", "days", "amount", "number", "text")


@dataclass(frozen=True)
class Reference:
    """The typical value of a feature among retained customers (label 0) of the training rows."""

    median: float | None = None  # numeric features
    mode: str | None = None  # categorical features: the most frequent value
    share: float | None = None  # flags: the share of retained customers with the flag set


@dataclass(frozen=True)
class Reason:
    """One reason for one customer; `text` is the sentence, the other fields are for programs."""

    feature: str  # the model input (a categorical column for all its one-hot parts): stable across runs
    name: str
    value: str  # the customer's value, as shown
    reference: str  # the typical value among retained customers, as shown
    direction: str  # higher / lower / same (numbers), like / unlike (categories and flags), unknown
    risk_share: float  # of the customer's positive SHAP contributions
    contribution: float  # SHAP, log-odds
    text: str

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class Glossary:
    """What each model input means and its reference value: logged with the model, read by every scorer."""

    meanings: dict[str, FeatureMeaning]
    references: dict[str, Reference] = field(default_factory=dict)

    def meaning(self, feature: str) -> FeatureMeaning:
        return self.meanings.get(feature) or FeatureMeaning(feature, words(feature), "number", "column")

    def name(self, feature: str) -> str:
        return self.meaning(feature).name

    def to_dict(self) -> dict:
        return {"meanings": [m.to_dict() for m in self.meanings.values()],
                "references": {f: asdict(r) for f, r in self.references.items()}}

    @classmethod
    def of_columns(cls, features: Sequence[str], categorical: Sequence[str]) -> Glossary:
        """The column names in words and no references: for a version logged before glossaries existed."""
        return cls(describe_features(features, Vocabulary(windows=()), categorical))

    @classmethod
    def from_dict(cls, data: Mapping) -> Glossary:
        return cls(meanings_from_dicts(data.get("meanings", [])),
                   {f: Reference(**r) for f, r in data.get("references", {}).items()})


def build_glossary(features: Sequence[str], categorical: Sequence[str], train: pd.DataFrame, label: str,
                   vocabulary: Vocabulary) -> Glossary:
    """Meanings of the model's inputs and their reference among the retained customers of `train`."""
    meanings = describe_features(features, vocabulary, categorical)
    retained = train.loc[train[label].astype(int) == 0] if label in train else train.iloc[0:0]
    references = {}
    for feature, meaning in meanings.items():
        if feature not in retained:
            continue
        values = retained[feature]
        if meaning.kind == "category":
            counts = values.astype(object).where(values.notna(), "missing").astype(str).value_counts(sort=False)
            references[feature] = Reference(mode=str(counts.sort_index().idxmax()) if len(counts) else None)
            continue
        numbers = pd.to_numeric(values, errors="coerce").astype("float64").dropna()
        if meaning.kind == "flag":
            references[feature] = Reference(share=float(numbers.mean()) if len(numbers) else None)
        else:
            references[feature] = Reference(median=float(numbers.median()) if len(numbers) else None)
    return Glossary(meanings, references)


def _number(value: float, kind: str) -> str:
    if kind in ("count", "days") and float(value).is_integer():
        return f"{int(value):,}"
    if kind == "days":
        return f"{value:,.0f}"
    if kind == "text":
        return f"{value:.2f}"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{int(value)}" if float(value).is_integer() else f"{value:.2f}"


def _category(value: object, meaning: FeatureMeaning) -> str:
    text = "missing" if value is None or (isinstance(value, float) and math.isnan(value)) else str(value)
    if meaning.rule == "hashed_category" and text.startswith("bucket_"):
        return f"in hashed group {text.removeprefix('bucket_')}"
    return text


def _missing(value: object) -> bool:
    return value is None or (isinstance(value, (float, np.floating)) and math.isnan(value)) or value is pd.NA


def describe_value(meaning: FeatureMeaning, value: object, reference: Reference | None) -> tuple[str, str, str, str]:
    """(shown value, shown reference, direction, sentence without the share) of one customer's value."""
    ref = reference or Reference()
    if meaning.kind == "category":
        shown = _category(value, meaning)
        if ref.mode is None:
            return shown, "", "unknown", f"{meaning.name} is {shown}"
        typical = _category(ref.mode, meaning)
        like = "like" if shown == typical else "unlike"
        sentence = f"{meaning.name} is {shown}, {like} retained customers (most often {typical})"
        return shown, f"most often {typical}", like, sentence
    if meaning.kind == "flag":
        flagged = not _missing(value) and float(value) >= 0.5
        shown = "yes" if flagged else "no"
        what = meaning.name if flagged else f"{meaning.name}: no"
        if ref.share is None:
            return shown, "", "unknown", what
        like = "like" if flagged == (ref.share >= 0.5) else "unlike"
        return shown, f"{ref.share:.0%} yes", like, f"{what}, {like} most retained customers ({ref.share:.0%} yes)"
    kind = meaning.kind
    what_missing = f"{meaning.name}: none recorded"
    reference_text = "" if ref.median is None else f"median {_number(ref.median, kind)}"
    if _missing(value):
        return "none", reference_text, "unknown", what_missing + (f" (retained customers: {reference_text})"
                                                                  if reference_text else "")
    number = float(value)
    shown = _number(number, kind)
    if kind in ("count", "days"):
        what = f"{shown} {meaning.one if number == 1 and meaning.one else meaning.name}"
    elif kind == "text":  # a score, not a quantity: shown beside its reference
        reference_note = f", retained customers: {reference_text}" if reference_text else ""
        direction = "unknown" if ref.median is None else "higher" if number > ref.median else \
            "lower" if number < ref.median else "same"
        return shown, reference_text, direction, f"{meaning.name} (match {shown}{reference_note})"
    else:
        what = f"{meaning.name}: {shown}"
    if ref.median is None:
        return shown, "", "unknown", what
    more, fewer = ("more", "fewer") if kind in ("count", "days") else ("higher", "lower")
    if number > ref.median:
        direction, comparison = "higher", f"{more} than retained customers"
    elif number < ref.median:
        direction, comparison = "lower", f"{fewer} than retained customers"
    else:
        direction, comparison = "same", "as for retained customers"
    return shown, reference_text, direction, f"{what}, {comparison} ({reference_text})"


def explain_rows(contributions: pd.DataFrame, rows: pd.DataFrame, glossary: Glossary, k: int = 3) -> list[list[Reason]]:
    """Per row of `contributions` (SHAP per original feature): its k largest positive contributions as reasons,
    with the row's value of each feature from `rows` (same index)."""
    values = contributions.to_numpy(dtype=float)
    names = list(contributions.columns)
    order = np.argsort(-values, axis=1, kind="stable")[:, :k]
    pushing = np.where(values > 0, values, 0.0).sum(axis=1)
    raw = {f: rows[f].to_numpy(dtype=object) if f in rows else np.full(len(rows), None, dtype=object)
           for f in {names[i] for i in np.unique(order)}}
    explained = []
    for r, (row, idx) in enumerate(zip(values, order)):
        reasons = []
        for i in idx:
            if row[i] <= 0:
                continue
            feature = names[i]
            meaning = glossary.meaning(feature)
            shown, reference, direction, sentence = describe_value(meaning, raw[feature][r],
                                                                   glossary.references.get(feature))
            share = float(row[i] / pushing[r]) if pushing[r] > 0 else 0.0
            reasons.append(Reason(feature, meaning.name, shown, reference, direction, round(share, 4),
                                  round(float(row[i]), 6), f"{sentence}, {share:.0%} of the risk"))
        explained.append(reasons)
    return explained


def reasons_text(reasons: Sequence[Reason]) -> str:
    """The reasons of one customer as one readable string."""
    return "; ".join(r.text for r in reasons)


def reasons_records(reasons: Sequence[Reason]) -> list[dict]:
    return [r.to_dict() for r in reasons]
