"""The recommendations registry: what each layer should do, why, and whether a person agreed.

Exploration proposes entries from the findings (and model iterations propose dropping features that
never mattered). Each entry carries its rationale, the evidence behind it and a status:
proposed -> accepted / rejected by a person (or accepted automatically when `auto_accept` is on for
routine cleaning) -> applied once a layer has used it. Layers apply exactly the accepted (and
already applied) entries. Re-running exploration refreshes rationale and evidence but never changes
a status a person or a layer set.
"""

from __future__ import annotations

import fcntl
import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Literal

import yaml

from retention_assets.core.files import atomic_write

Status = Literal["proposed", "accepted", "rejected", "applied"]
STATUSES = ("proposed", "accepted", "rejected", "applied")
ACTIVE = ("accepted", "applied")
REGISTRY_FILE = "recommendations.yaml"
HEADER = (
    "# Recommendations: what each layer does and why. Edit `status` (proposed, accepted, rejected);\n"
    "# layers apply accepted entries and mark them applied. Re-running exploration keeps your statuses.\n"
)


@dataclass(frozen=True)
class ColumnFacts:
    """What the findings say about one column (effective type after a person's review)."""

    name: str
    type: str
    null_rate: float = 0.0
    outlier_rate: float | None = None
    cardinality: int = 0


@dataclass(frozen=True)
class DatasetFacts:
    name: str
    granularity: str  # "entity" or "event"
    entity_key: str | None
    timestamp_column: str | None
    columns: tuple[ColumnFacts, ...]


@dataclass
class Recommendation:
    id: str
    layer: str
    dataset: str
    column: str
    action: str
    params: dict = field(default_factory=dict)
    rationale: str = ""
    evidence: dict = field(default_factory=dict)
    status: str = "proposed"
    origin: str = "findings"

    @property
    def active(self) -> bool:
        return self.status in ACTIVE


@dataclass(frozen=True)
class RecommendationPolicy:
    """Thresholds that turn findings into proposals (named settings, not literals in code)."""

    auto_accept: bool = True
    outlier_iqr_multiplier: float = 3.0
    max_one_hot_cardinality: int = 20
    hash_buckets: int = 32
    text_components: int = 8


def _rec(layer: str, dataset: str, column: str, action: str, rationale: str, evidence: dict,
         policy: RecommendationPolicy, params: dict | None = None, routine: bool = True) -> Recommendation:
    status = "accepted" if (policy.auto_accept and routine) else "proposed"
    return Recommendation(
        id=f"{layer}:{dataset}.{column}:{action}", layer=layer, dataset=dataset, column=column, action=action,
        params=params or {}, rationale=rationale, evidence=evidence, status=status,
    )


def _pct(rate: float) -> str:
    return f"{100 * rate:.1f}%"


def recommend_for_dataset(facts: DatasetFacts, policy: RecommendationPolicy) -> list[Recommendation]:
    """Proposals for one dataset; routine cleaning is auto-accepted, removals stay proposed."""
    recs: list[Recommendation] = []
    key, ts = facts.entity_key, facts.timestamp_column
    for col in facts.columns:
        if col.name in (key, ts):
            continue
        evidence = {"type": col.type, "null_rate": round(col.null_rate, 4), "cardinality": col.cardinality}
        if facts.granularity == "entity":
            layer = "bronze_entity"
            if col.cardinality <= 1:
                recs.append(_rec(layer, facts.name, col.name, "drop_column",
                                 "constant column: it cannot separate customers", evidence, policy, routine=False))
                continue
            if col.type == "identifier":
                recs.append(_rec(layer, facts.name, col.name, "drop_column",
                                 "identifier-like column: unique codes let a model memorise rows", evidence, policy))
                continue
            if col.type == "numeric":
                if col.outlier_rate:
                    recs.append(_rec(layer, facts.name, col.name, "cap_iqr",
                                     f"cap at the IQR fences because {_pct(col.outlier_rate)} are outliers",
                                     {**evidence, "outlier_rate": round(col.outlier_rate, 4)}, policy,
                                     {"multiplier": policy.outlier_iqr_multiplier}))
                if col.null_rate > 0:
                    recs.append(_rec(layer, facts.name, col.name, "impute_median",
                                     f"impute with the median because {_pct(col.null_rate)} is missing", evidence, policy))
            elif col.type in ("categorical", "binary"):
                if col.null_rate > 0:
                    recs.append(_rec(layer, facts.name, col.name, "impute_constant",
                                     f"missing values ({_pct(col.null_rate)}) become their own category",
                                     evidence, policy, {"value": "missing"}))
                if col.type == "categorical":
                    if col.cardinality > policy.max_one_hot_cardinality:
                        recs.append(_rec("gold", facts.name, col.name, "hash_encode",
                                         f"hash into {policy.hash_buckets} buckets: {col.cardinality} values are too "
                                         f"many to one-hot", evidence, policy, {"buckets": policy.hash_buckets}))
                    else:
                        recs.append(_rec("gold", facts.name, col.name, "one_hot",
                                         f"one-hot: {col.cardinality} values", evidence, policy))
            elif col.type == "text":
                recs.append(_rec(layer, facts.name, col.name, "text_svd",
                                 "free text: TF-IDF + truncated SVD components", evidence, policy,
                                 {"components": policy.text_components}))
        else:
            layer = "bronze_event"
            if col.type == "numeric":
                recs.append(_rec(layer, facts.name, col.name, "aggregate_windows",
                                 "numeric event value: count, sum, mean, min, max, std per window", evidence, policy,
                                 {"kind": "value"}))
            elif col.type in ("categorical", "binary"):
                recs.append(_rec(layer, facts.name, col.name, "aggregate_windows",
                                 "event category: counts of its most frequent values per window", evidence, policy,
                                 {"kind": "category"}))
            elif col.type == "text":
                recs.append(_rec(layer, facts.name, col.name, "text_svd",
                                 "free text: TF-IDF + truncated SVD components averaged per window", evidence, policy,
                                 {"components": policy.text_components}))
    return recs


def merge(existing: list[Recommendation], fresh: list[Recommendation]) -> list[Recommendation]:
    """Fresh proposals with the statuses already decided; entries no longer proposed by the data are kept
    when a person or a model iteration owns them (so decisions are never lost)."""
    by_id = {r.id: r for r in existing}
    merged = []
    for rec in fresh:
        old = by_id.pop(rec.id, None)
        if old is not None:
            rec.status = old.status
        merged.append(rec)
    merged += [r for r in by_id.values() if r.origin != "findings" or r.status != "proposed"]
    return merged


def load_registry(path: Path) -> list[Recommendation]:
    if not path.exists():
        return []
    data = yaml.safe_load(path.read_text()) or {}
    recs = []
    for i, entry in enumerate(data.get("recommendations") or []):
        status = entry.get("status")
        if status not in STATUSES:
            raise ValueError(f"{path}: recommendation {entry.get('id', i)!r} has status {status!r}; "
                             f"expected one of {', '.join(STATUSES)}")
        recs.append(Recommendation(**{k: entry[k] for k in entry if k in Recommendation.__dataclass_fields__}))
    return recs


def dump_registry(recs: list[Recommendation]) -> str:
    ordered = sorted(recs, key=lambda r: (r.layer, r.dataset, r.column, r.action))
    return HEADER + yaml.safe_dump({"recommendations": [asdict(r) for r in ordered]}, sort_keys=False,
                                   allow_unicode=True, width=110)


def write_registry(path: Path, recs: list[Recommendation]) -> None:
    text = dump_registry(recs)
    if path.exists() and path.read_text() == text:
        return  # unchanged: keep the file (and its mtime) as it is
    atomic_write(path, lambda tmp: tmp.write_text(text))


def registry_version(recs: list[Recommendation]) -> str:
    return hashlib.sha256(dump_registry(recs).encode()).hexdigest()[:12]


def active(recs: list[Recommendation], layer: str, dataset: str | None = None, action: str | None = None) -> list[Recommendation]:
    return [r for r in recs if r.active and r.layer == layer and (dataset is None or r.dataset == dataset)
            and (action is None or r.action == action)]


@contextmanager
def registry_lock(path: Path) -> Iterator[None]:
    """Serialise read-modify-write of the registry across the processes of one run."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_name(f".{path.name}.lock"), "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def mark_applied(path: Path, ids: list[str]) -> None:
    """Record that a layer used these entries (accepted -> applied); statuses people set otherwise stay."""
    if not ids:
        return
    with registry_lock(path):
        recs = load_registry(path)
        wanted = set(ids)
        for rec in recs:
            if rec.id in wanted and rec.status == "accepted":
                rec.status = "applied"
        write_registry(path, recs)


def add_proposals(path: Path, proposals: list[Recommendation]) -> list[Recommendation]:
    """Add new proposals (e.g. from a model iteration) without touching entries that already exist."""
    with registry_lock(path):
        recs = load_registry(path)
        known = {r.id for r in recs}
        added = [p for p in proposals if p.id not in known]
        write_registry(path, recs + added)
    return added
