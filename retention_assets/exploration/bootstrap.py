"""Bootstrapping data nobody has configured yet: profile the files, write findings and a starter
settings file, so new data goes from files to a first materialization with one review step.

The files are profiled on an engine, out of core, so a file larger than memory can be explored.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

import yaml

from retention_assets.core.errors import DataValidationError
from retention_assets.core.files import atomic_write
from retention_assets.exploration.defaults import event_cadence, propose_defaults
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
    regrain,
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


def _findings_file(profile: DatasetProfile) -> str:
    return f"findings/{profile.name}_findings.yaml"


def choose_entity(profiles: dict[str, DatasetProfile], relationships, chosen: str | None = None) -> str | None:
    """The customer table: the one a person chose in the cross-dataset findings (`review.primary_entity`), else
    the entity-level dataset most events point to (ties: the most rows); None when no file is one."""
    if chosen is not None:
        return chosen
    entities = [n for n, p in profiles.items() if p.granularity == "entity" and p.entity_key]
    if not entities:
        return None
    links = {n: sum(1 for r in relationships if n in (r.left, r.right)) for n in entities}
    return max(entities, key=lambda n: (links[n], profiles[n].rows))


# --------------------------------------------------------------------------------------------------
# keys: from repetition and from the other files


def _joins(name: str, column: str, relationships) -> list[tuple[str, str, float, float]]:
    """(other dataset, its unique column, share of this column's rows matched, share of the other's keys found)
    for each unique column of another file that `column` joins; the best covering first."""
    found = []
    for r in relationships:
        if r.right == name and r.right_column == column and r.cardinality in ("one_to_one", "one_to_many"):
            found.append((r.left, r.left_column, r.right_match_rate, r.left_match_rate))
        if r.left == name and r.left_column == column and r.cardinality in ("one_to_one", "many_to_one"):
            found.append((r.right, r.right_column, r.left_match_rate, r.right_match_rate))
    return sorted(found, key=lambda j: (-j[3], -j[2], j[0], j[1]))


def _repetition(profile: DatasetProfile, column: str) -> str:
    col = profile.columns[column]
    present = profile.rows * (1 - col.null_rate)
    kind = "whole numbers" if column in profile.repeating_numbers else "codes"
    return f"{kind} repeating: {col.cardinality} distinct values, {present / max(col.cardinality, 1):.1f} rows per value"


def rank_keys(profiles: dict[str, DatasetProfile], relationships) -> dict[str, DatasetProfile]:
    """Each dataset's key candidates ranked, with the reason for each, using what the other files say.

    A column that joins another file's unique column is a key whatever its type: it ranks first (best match
    first) and makes a timestamped file event-level even when the file has a unique id of its own (a
    transaction id). Then the repeating candidates as profiled (codes first, then whole numbers, most distinct
    values first). When no file is event-level at all, a timestamped file whose whole numbers repeat is read as
    an event log keyed by them (an events-only log with integer user ids).
    """
    ranked = {}
    for name, profile in profiles.items():
        repeating = [c for c in profile.columns
                     if c in profile.repeating_numbers
                     or (profile.columns[c].type == "identifier" and profile.columns[c].unique_ratio < 0.95)]
        joined = {c: j[0] for c in repeating if (j := _joins(name, c, relationships))}
        reasons = {}
        for column, (other, other_column, rate, coverage) in joined.items():
            reasons[column] = (f"joins {other}.{other_column} (unique there): {rate:.0%} of its rows matched, "
                               f"{coverage:.0%} of the keys of {other} found")
        if profile.granularity == "event" or (joined and profile.timestamp_candidates):
            order = sorted(joined, key=lambda c: (-joined[c][3], -joined[c][2], repeating.index(c)))
            order += [c for c in profile.key_candidates if c not in order]
            order += [c for c in repeating if c not in order]
            for column in order:
                reasons.setdefault(column, _repetition(profile, column))
            timestamp = profile.timestamp_column or profile.timestamp_candidates[0]
            profile = replace(profile, granularity="event", key_candidates=order, entity_key=order[0],
                              timestamp_column=timestamp, target_candidates=[],
                              time_span=_span(profile, timestamp))
        else:
            for column in profile.key_candidates:
                col = profile.columns[column]
                reasons[column] = ("unique: one row per value" if col.cardinality == profile.rows
                                   else f"most unique identifier: {col.unique_ratio:.1%} distinct")
            for column in profile.repeating_numbers:
                reasons.setdefault(column, _repetition(profile, column) + "; not the key of this file, which has "
                                   "a unique identifier")
        ranked[name] = replace(profile, key_reasons=reasons)
    if not any(p.granularity == "event" for p in ranked.values()):
        for name, profile in ranked.items():
            numbers = [c for c in profile.repeating_numbers if c not in profile.key_candidates]
            if profile.timestamp_candidates and numbers and not (profile.granularity == "entity"
                                                                 and _has_unique_identifier(profile)):
                ranked[name] = _as_event_log(profile, numbers)
        if not any(p.granularity == "event" for p in ranked.values()):
            for name, profile in ranked.items():
                if profile.timestamp_candidates and profile.repeating_numbers:
                    ranked[name] = _as_event_log(profile, list(profile.repeating_numbers))
                    break
    return ranked


def _has_unique_identifier(profile: DatasetProfile) -> bool:
    return any(profile.columns[c].cardinality == profile.rows for c in profile.key_candidates)


def _span(profile: DatasetProfile, timestamp: str) -> dict | None:
    from retention_assets.exploration.profiling import _time_span

    return _time_span(profile.columns[timestamp])


def _as_event_log(profile: DatasetProfile, numbers: list[str]) -> DatasetProfile:
    """No file is event-level: this timestamped file with repeating whole numbers is read as the event log."""
    timestamp = profile.timestamp_candidates[0]
    reasons = {c: _repetition(profile, c) + ("; no file is event-level, so this timestamped file is read as the "
                                              "event log keyed by it" if i == 0 else "")
               for i, c in enumerate(numbers)}
    return replace(profile, granularity="event", key_candidates=numbers, entity_key=numbers[0],
                   timestamp_column=timestamp, target_candidates=[], time_span=_span(profile, timestamp),
                   key_reasons={**reasons, **{k: v for k, v in profile.key_reasons.items() if k not in reasons}})


def _with_reviewed_types(profile: DatasetProfile, findings_dir: Path) -> DatasetProfile:
    """The profile with the column types a person set in its findings, and the grain derived from them again."""
    path = findings_path(findings_dir, profile.name)
    if not path.exists():
        return profile
    findings = load_findings(path)
    types = {c: t for c in profile.columns if c in findings.data.get("columns", {})
             and (t := findings.reviewed_type(c))}
    if not types:
        return profile
    columns = {n: replace(c, type=types.get(n, c.type)) for n, c in profile.columns.items()}
    return regrain(replace(profile, columns=columns))


def reviewed(profile: DatasetProfile, findings) -> DatasetProfile:
    """The profile with a person's dataset-level review (granularity, entity_key, timestamp_column) applied; a
    reviewed grain brings the key and time column that grain has, unless those are reviewed too."""
    review = findings.review
    granularity = review.get("granularity") or profile.granularity
    key, timestamp = profile.entity_key, profile.timestamp_column
    if granularity != profile.granularity:
        repeating = [c for c in profile.key_reasons if c != profile.entity_key] or list(profile.repeating_numbers)
        key = (repeating or [None])[0] if granularity == "event" else key
        timestamp = (profile.timestamp_candidates or [None])[0] if granularity == "event" else None
    key = review.get("entity_key") or key
    timestamp = review.get("timestamp_column") or timestamp
    return replace(profile, granularity=granularity, entity_key=key, timestamp_column=timestamp)


@dataclass
class Starter:
    """A starter settings mapping and, per dotted key, the evidence written as comments above it."""

    settings: dict
    comments: dict[str, list[str]] = field(default_factory=dict)
    shape: str = ""

    def note(self, key: str, *lines: str) -> None:
        self.comments.setdefault(key, []).extend(lines)


def _refuse(profile: DatasetProfile, problem: str) -> DataValidationError:
    return DataValidationError(Path(profile.path).name, problem)


def _negative_values(profile: DatasetProfile) -> dict:
    # Negative numbers reject an event file unless allowed per column: allow the ones explore found
    # (refunds, corrections), visibly, for the user to review.
    return {c: "allow" for c, col in profile.columns.items()
            if col.type == "numeric" and isinstance(col.min, (int, float)) and not isinstance(col.min, bool)
            and col.min < 0}


def _key_lines(profile: DatasetProfile) -> list[str]:
    others = [f"{c} ({profile.key_reasons.get(c, 'candidate')})" for c in profile.key_candidates
              if c != profile.entity_key]
    lines = [f"key {profile.entity_key}: {profile.key_reasons.get(profile.entity_key, 'detected')}"]
    if others:
        lines.append("other candidates: " + "; ".join(others))
        lines.append(f"to choose another, set review.entity_key in {_findings_file(profile)}")
    return lines


def _event_block(profile: DatasetProfile, key: str, out_dir: Path, starter: Starter, prefix: str) -> dict:
    block = {"path": _relative(Path(profile.path), out_dir), "entity_key": key,
             "timestamp_column": profile.timestamp_column}
    starter.note(f"{prefix}.entity_key", *_key_lines(replace(profile, entity_key=key)))
    others = [c for c in profile.timestamp_candidates if c != profile.timestamp_column]
    starter.note(f"{prefix}.timestamp_column", "the datetime with the most distinct values"
                 + (f" (others: {', '.join(others)})" if others else ""))
    signed = _negative_values(profile)
    if signed:
        block["negative_values"] = signed
        starter.note(f"{prefix}.negative_values", "negative numbers were found (refunds, corrections?): allowed")
    return block


def _target(profile: DatasetProfile, review_target: str | None, starter: Starter) -> str:
    """The churn column of an entity-only table: the reviewed one, else the first binary column (in file order)."""
    findings = _findings_file(profile)
    if review_target:
        starter.note("label.target_column", f"review.target in {findings}")
        return review_target
    candidates = [c for c in profile.target_candidates if c != profile.entity_key]
    if not candidates:
        kinds = ", ".join(f"{c} ({col.type})" for c, col in profile.columns.items())
        raise _refuse(profile, f"there is no event file (many timestamped rows per customer) and no column with two "
                      f"values to use as the churn target (columns: {kinds}); add an event file, or set review.target "
                      f"in {findings} to the churn column")
    several = "" if len(candidates) == 1 else ", the first in file order"
    starter.note("label.target_column", f"the column with two values{several} (candidates: {', '.join(candidates)}); "
                 f"to choose another, set review.target in {findings}")
    return candidates[0]


def starter_settings(profiles: dict[str, DatasetProfile], relationships, out_dir: Path,
                     primary_entity: str | None = None, targets: dict[str, str | None] | None = None) -> Starter:
    """The settings that run the whole graph on these files without edits (the defaults that need the data's
    cadence are added by `explore_files`). Shapes: a customer table with event files; an events-only log (a
    customer table derived from it); a customer table with a target and no events. Every refusal names the
    file, the columns and what to set."""
    targets = targets or {}
    entity = choose_entity(profiles, relationships, primary_entity)
    starter = Starter({})
    event_profiles = {n: p for n, p in profiles.items() if n != entity and p.granularity == "event"}
    for profile in event_profiles.values():
        if not profile.entity_key:
            columns = ", ".join(f"{c} ({col.type}, {col.cardinality} distinct)" for c, col in profile.columns.items())
            raise _refuse(profile, f"event-level (timed by {profile.timestamp_column}) but no column is a customer "
                          f"key: none repeats like one (columns: {columns}); set review.entity_key in "
                          f"{_findings_file(profile)}")
        if not profile.timestamp_column:
            raise _refuse(profile, f"event-level but has no datetime column; set review.timestamp_column in "
                          f"{_findings_file(profile)} (or review.granularity: entity)")
    if entity is None:
        if not event_profiles:
            kinds = "; ".join(f"{Path(p.path).name}: {p.granularity}-level, key candidates "
                              f"{', '.join(p.key_candidates) or 'none'}" for p in profiles.values())
            raise DataValidationError(", ".join(Path(p.path).name for p in profiles.values()),
                                      f"none of the files is a customer table (one row per unique key) or an event "
                                      f"log (timestamped rows repeating a key) ({kinds}); set review.granularity and "
                                      f"review.entity_key in the file's findings")
        source = max(event_profiles, key=lambda n: (event_profiles[n].rows, n))
        key = event_profiles[source].entity_key
        name = "customers" if "customers" not in profiles else "derived_customers"
        starter.shape = "events_only"
        starter.settings["entity"] = {"name": name, "derived_from": source, "entity_key": key}
        starter.note("entity", f"no customer table among the files: the customers are the keys of {source} "
                     f"({key}), with first_seen (used as signup) and last_seen per key",
                     "to use a customer file instead, explore it together with the events")
        events = {source: _event_block(event_profiles[source], key, out_dir, starter, f"events.{source}")}
        for other, profile in event_profiles.items():
            joined = _event_key(source, key, other, relationships)
            if other != source and joined:
                events[other] = _event_block(profile, joined, out_dir, starter, f"events.{other}")
        starter.settings["events"] = events
    else:
        ep = profiles[entity]
        date_columns = [c for c, col in ep.columns.items() if col.type == "datetime"]
        starter.settings["entity"] = {"name": entity, "path": _relative(Path(ep.path), out_dir),
                                      "entity_key": ep.entity_key, "date_columns": date_columns}
        starter.note("entity", f"the customer table: {entity} ({ep.rows} rows); to choose another, set "
                     "review.primary_entity in findings/multi_dataset_findings.yaml")
        starter.note("entity.entity_key", *_key_lines(ep))
        events = {}
        for name, profile in event_profiles.items():
            key = _event_key(entity, ep.entity_key, name, relationships) or profile.entity_key
            events[name] = _event_block(profile, key, out_dir, starter, f"events.{name}")
        starter.settings["events"] = events
        if not events:
            target = _target(ep, targets.get(entity), starter)
            starter.shape = "entity_only"
            starter.settings["label"] = {"kind": "target_column", "target_column": target}
            starter.settings["timeline"] = {"training_cutoffs": 1}
            starter.note("events", "no event file: the label is the target column of the customer table")
            starter.note("timeline.training_cutoffs", "one snapshot: without events every snapshot would copy the "
                         "same rows, and identical rows must never validate each other")
        else:
            starter.shape = "entity_and_events"
    if starter.shape != "entity_only":
        starter.settings["label"] = {"kind": "inactivity", "horizon_days": 30}
    starter.settings["exploration"] = {"findings_dir": "findings"}
    starter.settings["data_dir"] = "output"
    return starter


def _event_key(entity: str, entity_key: str, event: str, relationships) -> str | None:
    for r in relationships:
        if r.left == entity and r.left_column == entity_key and r.right == event:
            return r.right_column
        if r.right == entity and r.right_column == entity_key and r.left == event:
            return r.left_column
    return None


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


SETTINGS_HASH_PREFIX = "# explore-hash: "


def _scalar(value) -> str:
    return yaml.safe_dump(value, default_flow_style=True, width=10_000).strip().removesuffix("...").strip()


def _emit(data: dict, comments: dict[str, list[str]], prefix: str = "", indent: int = 0) -> list[str]:
    lines = []
    pad = " " * indent
    for key, value in data.items():
        path = f"{prefix}{key}"
        lines += [f"{pad}# {line}" for line in comments.get(path, [])]
        if isinstance(value, dict) and value:
            lines.append(f"{pad}{key}:")
            lines += _emit(value, comments, f"{path}.", indent + 2)
        else:
            lines.append(f"{pad}{key}: {_scalar(value)}")
    return lines


def settings_text(starter: Starter, settings_path: Path) -> str:
    """The starter settings as YAML with the evidence as comments above each key, and a hash of the body so a
    later explore knows whether a person edited the file (an unedited one is rewritten, an edited one kept)."""
    body = "\n".join(_emit(starter.settings, starter.comments)) + "\n"
    digest = hashlib.sha256(body.encode()).hexdigest()[:16]
    header = ("# Starter settings written by `retention explore`; review the findings in findings/ and this file,\n"
              f"# then run `retention quickstart --settings {settings_path}`.\n"
              "# While this file is unedited, `retention explore` rewrites it from the findings' reviews; once you\n"
              "# edit it, explore leaves it alone.\n"
              f"{SETTINGS_HASH_PREFIX}{digest}\n")
    return header + body


def written_by_explore_unedited(path: Path) -> bool:
    """True when `path` is a starter settings file explore wrote and nobody has edited since."""
    if not path.exists():
        return False
    text = path.read_text()
    lines = text.splitlines(keepends=True)
    for i, line in enumerate(lines):
        if line.startswith(SETTINGS_HASH_PREFIX):
            body = "".join(lines[i + 1:])
            return hashlib.sha256(body.encode()).hexdigest()[:16] == line[len(SETTINGS_HASH_PREFIX):].strip()
    return False


def _amount_column(engine: Engine, relation: str, profile: DatasetProfile) -> str | None:
    """The first non-negative numeric event column holding fractions (an amount, not a count), or None."""
    from retention_assets.exploration.profiling import _sql_columns

    columns = {c.name: c for c in _sql_columns(engine, relation)}
    for name, col in profile.columns.items():
        if name == profile.entity_key or col.type != "numeric" or not isinstance(col.min, (int, float)) \
                or col.min < 0:
            continue
        x = columns[name].number
        fractions = engine.scalar(f"SELECT count(*) FROM {relation} WHERE {x} IS NOT NULL AND {x} <> floor({x})")
        if int(fractions or 0):
            return name
    return None


def _add_defaults(starter: Starter, profiles: dict[str, DatasetProfile], relations: dict[str, str],
                  engine: Engine) -> None:
    """Horizon, activity window, windows, day semantics and the value column from the main event source."""
    from retention_assets.exploration.profiling import _key_texts, _sql_columns

    events = starter.settings.get("events") or {}
    if not events:
        return
    source = max(events, key=lambda n: (profiles[n].rows, n))
    block, profile, relation = events[source], profiles[source], relations[source]
    key = _key_texts(engine, relation, [block["entity_key"]])[block["entity_key"]]
    stamp = next(c.stamp for c in _sql_columns(engine, relation) if c.name == block["timestamp_column"])
    cadence = event_cadence(engine, relation, key, stamp)
    proposal = propose_defaults(cadence)
    label = starter.settings["label"]
    label["horizon_days"] = proposal.horizon_days
    label["active_within_days"] = proposal.active_within_days
    starter.note("label.horizon_days", f"from {source}: " + proposal.evidence["horizon_days"])
    starter.note("label.active_within_days", proposal.evidence["active_within_days"])
    settings = {k: v for k, v in starter.settings.items() if k not in ("exploration", "data_dir")}
    settings["windows"] = proposal.windows
    starter.note("windows", proposal.evidence["windows"])
    timeline = {"training_cutoffs": proposal.training_cutoffs}
    starter.note("timeline.training_cutoffs", "the latest cutoff is the out-of-time validation set")
    if cadence.date_only:
        timeline["date_only_events"] = True
        starter.note("timeline.date_only_events", f"every {source}.{block['timestamp_column']} is a midnight: dates "
                     "only, so a cutoff date means the end of that day")
        profiles[source].notes.append("dates only: a cutoff date means the end of that day")
    settings["timeline"] = timeline
    amount = _amount_column(engine, relation, profile)
    if amount and "30d" in proposal.windows:
        value = f"{source}_30d_{amount}_sum"
        settings["business"] = {"value_column": value}
        starter.note("business.value_column", f"each customer's monthly value: the sum of {source}.{amount} "
                     "(non-negative amounts) over the last 30 days")
    starter.settings = {**settings, "exploration": starter.settings["exploration"],
                        "data_dir": starter.settings["data_dir"]}


def explore_files(paths: list[Path], out_dir: Path, engine: Engine) -> tuple[Path, Path]:
    """Profile `paths` on `engine`, write findings under out_dir/findings and out_dir/settings.yaml.

    What a person reviewed in the findings is what explore decides from: column types (the grain is derived
    again from them), a dataset's grain, key, time column, selection and target, and the customer table. A
    settings file explore wrote and nobody edited is rewritten; an edited one is left alone. Findings are
    refreshed with their reviews kept. Returns (settings path, findings directory).
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    findings_dir = out_dir / "findings"
    settings_path = out_dir / "settings.yaml"
    files = [Path(p) for p in paths]
    with explored_relations(files, engine) as relations:
        detected = {name: profile_relation(engine, relation, name, str(path.resolve()))
                    for (name, relation), path in zip(relations.items(), files)}
        typed = {name: _with_reviewed_types(p, findings_dir) for name, p in detected.items()}
        relationships = profile_relationships(engine, relations, typed)
        ranked = rank_keys(typed, relationships)
        for name, profile in ranked.items():
            write_findings(replace(profile, columns=detected[name].columns), findings_dir)
        multi = load_multi_findings(write_multi_findings(ranked, relationships, findings_dir))
        findings = {name: load_findings(findings_path(findings_dir, name)) for name in ranked}
        profiles = {name: reviewed(p, findings[name]) for name, p in ranked.items() if findings[name].selected}
        if settings_path.exists() and not written_by_explore_unedited(settings_path):
            return settings_path, findings_dir
        starter = starter_settings(profiles, relationships, out_dir, multi.review.get("primary_entity"),
                                   {name: f.target for name, f in findings.items()})
        _add_defaults(starter, profiles, relations, engine)
    for name, profile in profiles.items():
        if profile.notes:  # what the defaults found (dates only) belongs in the findings too
            write_findings(replace(profile, columns=detected[name].columns), findings_dir)
    atomic_write(settings_path, lambda tmp: tmp.write_text(settings_text(starter, settings_path)))
    return settings_path, findings_dir
