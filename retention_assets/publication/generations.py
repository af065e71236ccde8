"""Generations: each run stages what it would publish in a directory of its own, and one small file,
the release manifest, names the generation users and serving read.

    <data dir>/generations/<id>/            a run's staged outputs (id from the Dagster run id)
        feast/                             its Feast repository: offline source, registry file and SQLite
                                           online store on the local profile (a Feast project of its own,
                                           `<project>_<id>`, in the shared registry and Redis on production)
        champion.json                      the run's champion decision (when the run trained a model)
        tables/                            gold, scores and campaign, linked in when the run is published
    <data dir>/generations/release.json     the published generation (replaced atomically, last)

A generation is never modified once published, so readers need no lock: they read the manifest, then
files that cannot change under them. Nothing here imports Dagster, MLflow or Feast.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from retention_assets.core.files import atomic_write

GENERATIONS = "generations"
RELEASE_FILE = "release.json"
DECISION_FILE = "champion.json"
STAGED_MARKERS = "staged"  # one empty file per component a run staged: feast, online, ...


def generations_root(data_dir: Path) -> Path:
    return Path(data_dir) / GENERATIONS


def generation_id(run_id: str) -> str:
    """A generation's id: the first 12 hex digits of the Dagster run that staged it."""
    return run_id.replace("-", "")[:12]


def generation_dir(data_dir: Path, generation: str) -> Path:
    return generations_root(data_dir) / generation


@dataclass(frozen=True)
class Release:
    """The published set: which generation, from which run, served by which model, read through which
    Feast repository, and where its user-facing tables are."""

    generation: str
    run_id: str
    model_version: str
    as_of: str
    feast: dict[str, Any]  # a FeastConfig's fields
    tables: dict[str, str]  # asset name -> published file
    previous: str | None = None  # the generation this one replaced (kept, for readers still on it)
    challenger_version: str | None = None
    promoted: bool = False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Release:
        return cls(**data)

    def feast_config(self):
        from retention_assets.feature_store.repository import FeastConfig

        return FeastConfig(**self.feast)


class ReleaseError(LookupError):
    """Nothing has been published yet, or the manifest cannot be read."""


def release_path(data_dir: Path) -> Path:
    return generations_root(data_dir) / RELEASE_FILE


def read_release(data_dir: Path) -> Release | None:
    """The published release, or None before the first run that passed every blocking check."""
    path = release_path(data_dir)
    if not path.exists():
        return None
    try:
        return Release.from_dict(json.loads(path.read_text()))
    except (ValueError, TypeError) as exc:
        raise ReleaseError(f"{path} cannot be read ({exc}); delete it only together with {path.parent}") from exc


def require_release(data_dir: Path) -> Release:
    release = read_release(data_dir)
    if release is None:
        raise ReleaseError(f"nothing has been published in {data_dir} yet: run `retention quickstart` (or the "
                           "full_refresh job) until a run passes every blocking check")
    return release


def write_release(data_dir: Path, release: Release) -> None:
    """The switch: one atomic rename makes `release` what every reader sees."""
    body = json.dumps(release.to_dict(), indent=2, sort_keys=True)
    atomic_write(release_path(data_dir), lambda tmp: tmp.write_text(body))


@dataclass(frozen=True)
class ChampionDecision:
    """What a run's champion gate decided: the version to serve, the challenger it judged, and why."""

    champion_version: str
    challenger_version: str
    promoted: bool
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def write_decision(directory: Path, decision: ChampionDecision) -> None:
    body = json.dumps(decision.to_dict(), indent=2, sort_keys=True)
    atomic_write(Path(directory) / DECISION_FILE, lambda tmp: tmp.write_text(body))


def read_decision(directory: Path) -> ChampionDecision | None:
    path = Path(directory) / DECISION_FILE
    return ChampionDecision(**json.loads(path.read_text())) if path.exists() else None


def mark_staged(directory: Path, component: str) -> None:
    """Record that this generation's run wrote `component` (feast, online, ...)."""
    markers = Path(directory) / STAGED_MARKERS
    markers.mkdir(parents=True, exist_ok=True)
    (markers / component).touch()


def is_staged(directory: Path, component: str) -> bool:
    return (Path(directory) / STAGED_MARKERS / component).exists()


def generations(data_dir: Path) -> list[str]:
    root = generations_root(data_dir)
    return sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")) if root.exists() else []
