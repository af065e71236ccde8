"""Bootstrapping data nobody has configured yet: profile the files, write findings and a starter
settings file, so new data goes from files to a first materialization with one review step.

The files are profiled on an engine, out of core, so a file larger than memory can be explored.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import yaml

from retention_assets.core.errors import DataValidationError
from retention_assets.exploration.findings import (
    findings_path,
    load_findings,
    load_multi_findings,
    write_findings,
    write_multi_findings,
)
from retention_assets.exploration.profiling import (
    DatasetProfile,
    profile_relation,
    profile_relationships,
    source_format,
    source_relation,
)

if TYPE_CHECKING:
    from retention_assets.engine.base import Engine

EXPLORE_TABLE_PREFIX = "explore_"


def dataset_name(path: Path, taken: set[str]) -> str:
    """A plain identifier from the file name, unique among `taken`."""
    base = re.sub(r"[^0-9a-zA-Z]+", "_", path.stem).strip("_").lower() or "dataset"
    if base[0].isdigit():
        base = f"d_{base}"
    name, n = base, 2
    while name in taken:
        name, n = f"{base}_{n}", n + 1
    return name


def _relative(path: Path, start: Path) -> str:
    try:
        return os.path.relpath(path.resolve(), start.resolve())
    except ValueError:  # another drive
        return str(path.resolve())


def choose_entity(profiles: dict[str, DatasetProfile], relationships, chosen: str | None = None) -> str:
    """The customer table: the one a person chose in the cross-dataset findings (`review.primary_entity`), else
    the entity-level dataset most events point to (ties: the most rows)."""
    if chosen is not None:
        return chosen
    entities = [n for n, p in profiles.items() if p.granularity == "entity" and p.entity_key]
    if not entities:
        raise DataValidationError(
            ", ".join(p.path for p in profiles.values()),
            "none of the files is entity-level (one row per customer with a unique key); "
            "explore needs a customer table",
        )
    links = {n: sum(1 for r in relationships if n in (r.left, r.right)) for n in entities}
    return max(entities, key=lambda n: (links[n], profiles[n].rows))


def starter_settings(profiles: dict[str, DatasetProfile], relationships, out_dir: Path,
                     primary_entity: str | None = None) -> dict:
    """A settings mapping that runs the whole graph on these files without edits."""
    entity = choose_entity(profiles, relationships, primary_entity)
    ep = profiles[entity]
    date_columns = [c for c, col in ep.columns.items() if col.type == "datetime"]
    events = {}
    for name, profile in profiles.items():
        if name == entity or profile.granularity != "event" or not profile.timestamp_column:
            continue
        key = _event_key(entity, ep.entity_key, name, relationships) or profile.entity_key
        if not key:
            continue
        events[name] = {
            "path": _relative(Path(profile.path), out_dir), "entity_key": key,
            "timestamp_column": profile.timestamp_column,
        }
        # Negative numbers reject an event file unless allowed per column: allow the ones explore found
        # (refunds, corrections), visibly, for the user to review.
        signed = {c: "allow" for c, col in profile.columns.items()
                  if isinstance(col.min, (int, float)) and not isinstance(col.min, bool) and col.min < 0}
        if signed:
            events[name]["negative_values"] = signed
    if not events:
        raise DataValidationError(
            ", ".join(p.path for p in profiles.values()),
            "no event-level file (many timestamped rows per customer) joins the customer table; the inactivity "
            "label needs at least one",
        )
    return {
        "entity": {"name": entity, "path": _relative(Path(ep.path), out_dir), "entity_key": ep.entity_key,
                   "date_columns": date_columns},
        "events": events,
        "label": {"kind": "inactivity", "horizon_days": 30},
        "exploration": {"findings_dir": "findings"},
        "data_dir": "output",
    }


def _event_key(entity: str, entity_key: str, event: str, relationships) -> str | None:
    for r in relationships:
        if r.left == entity and r.left_column == entity_key and r.right == event:
            return r.right_column
        if r.right == entity and r.right_column == entity_key and r.left == event:
            return r.left_column
    return None


def reviewed(profile: DatasetProfile, findings) -> DatasetProfile:
    """The profile with a person's dataset-level review (granularity, entity_key, timestamp_column) applied."""
    return replace(profile, granularity=findings.granularity or profile.granularity,
                   entity_key=findings.entity_key, timestamp_column=findings.timestamp_column)


@contextmanager
def explored_relations(paths: list[Path], engine: Engine) -> Iterator[dict[str, str]]:
    """Dataset name -> relation for each file, for the duration of the block.

    A CSV file is copied once into a Parquet table of the engine (every column still text), because
    profiling scans a relation a dozen times and a CSV would be parsed again each time; the copies
    are dropped afterwards. A Parquet file is read where it is.
    """
    relations: dict[str, str] = {}
    copies: list[str] = []
    try:
        for path in paths:
            name = dataset_name(path, set(relations))
            relation = source_relation(engine, path)
            if source_format(path) == "csv":
                copies.append(f"{EXPLORE_TABLE_PREFIX}{name}")
                engine.write_table(copies[-1], f"SELECT * FROM {relation}")
                relation = engine.relation(copies[-1])
            relations[name] = relation
        yield relations
    finally:
        for table in copies:
            engine.drop(table)


def explore_files(paths: list[Path], out_dir: Path, engine: Engine) -> tuple[Path, Path]:
    """Profile `paths` on `engine`, write findings under out_dir/findings and out_dir/settings.yaml.

    An existing settings file is left alone (the person may have edited it); findings are
    refreshed with their reviews kept. Returns (settings path, findings directory).
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    findings_dir = out_dir / "findings"
    files = [Path(p) for p in paths]
    with explored_relations(files, engine) as relations:
        profiles = {name: profile_relation(engine, relation, name, str(path.resolve()))
                    for (name, relation), path in zip(relations.items(), files)}
        relationships = profile_relationships(engine, relations, profiles)
    for profile in profiles.values():
        write_findings(profile, findings_dir)
    multi = load_multi_findings(write_multi_findings(profiles, relationships, findings_dir))
    # What a person decided in the findings wins over what was detected: a dataset's grain, key and time
    # column, and which dataset is the customer table.
    profiles = {name: reviewed(profile, load_findings(findings_path(findings_dir, name)))
                for name, profile in profiles.items()}
    settings_path = out_dir / "settings.yaml"
    if not settings_path.exists():
        settings = starter_settings(profiles, relationships, out_dir, multi.review.get("primary_entity"))
        header = ("# Starter settings written by `retention explore`; review the findings in findings/ and this file,\n"
                  "# then run `retention quickstart --settings " + str(settings_path) + "`.\n")
        settings_path.write_text(header + yaml.safe_dump(settings, sort_keys=False))
    return settings_path, findings_dir
