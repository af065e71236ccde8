"""Join coverage of an event source against the entity table, checked before its events are accepted.

An event file whose keys match no customer (or only after a type or format change: `'00001'` against
`1`, `' C1'` against `'C1'`) would otherwise give every customer all-zero event features, and a
model trained on them would be registered and perhaps promoted. So an event source must reach two
shares, set per source in the settings:

* matched events: the share of its events whose key is in the entity table;
* covered customers: the share of the entity table's customers with at least one event.

Below either, the source is rejected with the counts and the likely cause: the key normalisations
(trimming, case, leading zeros, number formatting) under which the keys would match, with an example
and the setting that applies it. Nothing is normalised silently: keys are compared as text, as every
layer compares them, after the normalisation the settings name (`entity.key_normalization`, applied
by the raw layer to every source and logged), and none by default.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from retention_assets.core.errors import DataValidationError
from retention_assets.engine.base import Engine


@dataclass(frozen=True)
class KeyCoverage:
    """How the keys of an event relation meet the keys of the entity table."""

    events: int
    matched_events: int
    entities: int
    entities_with_events: int

    @property
    def matched_share(self) -> float:
        return self.matched_events / self.events if self.events else 0.0

    @property
    def covered_share(self) -> float:
        return self.entities_with_events / self.entities if self.entities else 0.0


@dataclass(frozen=True)
class KeyRule:
    """What an event source must reach against the entity table before it is accepted."""

    entity: str  # the entity table's relation (keys as text)
    entity_key: str
    entity_path: str  # for the message
    min_matched_events: float
    min_entities_with_events: float
    settings_prefix: str  # e.g. "events.transactions", where the user changes the thresholds
    normalization: str = "none"  # entity.key_normalization, already applied to the entity table's keys

    @property
    def normalization_label(self) -> str:
        return "written" if self.normalization == "none" else f"normalised by {KEY_NORMALIZATION_SETTING}: " \
                                                              f"{self.normalization}"


KEY_NORMALIZATION_SETTING = "entity.key_normalization"


def normalization_template(dialect, normalization: str) -> str:
    """The SQL template over `{k}` (a text expression) of an `entity.key_normalization` value."""
    if normalization == "none":
        return "{k}"
    if normalization == "trim":
        return "trim({k})"
    if normalization == "trim_lower":
        return "lower(trim({k}))"
    if normalization == "number":
        whole = dialect.matches("trim({k})", r"^[+]?[0-9]+(\.0*)?$")
        digits = "split_part(TRIM(LEADING '+' FROM trim({k})), '.', 1)"
        return f"CASE WHEN {whole} THEN coalesce(nullif(TRIM(LEADING '0' FROM {digits}), ''), '0') ELSE trim({{k}}) END"
    raise ValueError(f"{KEY_NORMALIZATION_SETTING}: {normalization!r} is not one of none, trim, trim_lower, number")


def normalize_key(dialect, normalization: str, text_expr: str) -> str:
    """`text_expr` (a key as text) after the normalisation."""
    return normalization_template(dialect, normalization).format(k=text_expr)


_CAUSES = {  # what each normalisation undoes, in the order they are tried
    "trim": "surrounding whitespace",
    "trim_lower": "letter case",
    "number": "leading zeros or number formatting ('00017', '17.0' and '17' are one customer)",
}


def _normalisations(dialect) -> dict[str, tuple[str, str]]:
    """Key normalisations a user may have meant: cause -> (setting value, SQL template over `{k}`)."""
    return {cause: (value, normalization_template(dialect, value)) for value, cause in _CAUSES.items()}


def _keys(dialect, normalise: str, event_key: str, entity_key: str) -> tuple[str, str]:
    """The event key (alias e) and the entity key (alias c) as text, after `normalise`."""
    q = dialect.ident
    return (normalise.format(k=dialect.as_string(f"e.{q(event_key)}")),
            normalise.format(k=dialect.as_string(f"c.{q(entity_key)}")))


def key_coverage(engine: Engine, events: str, event_key: str, entity: str, entity_key: str,
                 normalise: str = "{k}") -> KeyCoverage:
    """Counts of matched events and covered customers, keys compared as text after `normalise`."""
    event_k, entity_k = _keys(engine.dialect, normalise, event_key, entity_key)
    row = engine.rows(
        f"WITH ek AS (SELECT {event_k} AS k, count(*) AS n FROM {events} e GROUP BY 1), "
        f"ck AS (SELECT DISTINCT {entity_k} AS k FROM {entity} c) "
        f"SELECT (SELECT coalesce(sum(n), 0) FROM ek), "
        f"(SELECT coalesce(sum(n), 0) FROM ek WHERE k IN (SELECT k FROM ck)), "
        f"(SELECT count(*) FROM ck), "
        f"(SELECT count(*) FROM ck WHERE k IN (SELECT k FROM ek))"
    )[0]
    return KeyCoverage(*(int(v or 0) for v in row))


def likely_causes(engine: Engine, events: str, event_key: str, entity: str, entity_key: str,
                  coverage: KeyCoverage) -> list[str]:
    """The normalisations under which clearly more events would match (each one only if it matches
    clearly more than the simpler ones before it), each with an example pair."""
    d = engine.dialect
    raw_event, raw_entity = _keys(d, "{k}", event_key, entity_key)
    causes = []
    best = coverage.matched_share
    for cause, (setting, template) in _normalisations(d).items():
        fixed = key_coverage(engine, events, event_key, entity, entity_key, template)
        if fixed.matched_share < best + 0.1:
            continue
        best = fixed.matched_share
        event_k, entity_k = _keys(d, template, event_key, entity_key)
        example = engine.rows(f"SELECT {raw_event}, {raw_entity} FROM {events} e JOIN {entity} c "
                              f"ON {event_k} = {entity_k} WHERE {raw_event} <> {raw_entity} LIMIT 1")
        pair = f" (e.g. {example[0][0]!r} here, {example[0][1]!r} in the entity table)" if example else ""
        causes.append(f"the keys differ by {cause}: {fixed.matched_share:.1%} of the events would match{pair} "
                      f"with {KEY_NORMALIZATION_SETTING}: {setting}")
    return causes


def check_key_coverage(engine: Engine, events: str, event_key: str, path: str | Path, rule: KeyRule) -> KeyCoverage:
    """Raise DataValidationError naming the file, the key column, the counts and the likely cause when the
    source misses either share of `rule`; else the coverage, for the asset's metadata."""
    coverage = key_coverage(engine, events, event_key, rule.entity, rule.entity_key,
                            normalization_template(engine.dialect, rule.normalization))
    problems = []
    if coverage.matched_share < rule.min_matched_events:
        problems.append(f"only {coverage.matched_events:,} of {coverage.events:,} events "
                        f"({coverage.matched_share:.1%}) have a {event_key} found in the entity table "
                        f"{rule.entity_path} (minimum {rule.min_matched_events:.0%}, "
                        f"{rule.settings_prefix}.min_matched_events)")
    if coverage.covered_share < rule.min_entities_with_events:
        problems.append(f"only {coverage.entities_with_events:,} of {coverage.entities:,} customers "
                        f"({coverage.covered_share:.1%}) have any event (minimum "
                        f"{rule.min_entities_with_events:.0%}, {rule.settings_prefix}.min_entities_with_events)")
    if problems:
        causes = likely_causes(engine, events, event_key, rule.entity, rule.entity_key, coverage)
        cause = ("; likely cause: " + "; ".join(causes) + " (fix the file or the entity table, or set that "
                 f"normalisation: keys are compared as {rule.normalization_label})") if causes else ""
        raise DataValidationError(path, "; ".join(problems) + cause, column=event_key)
    return coverage
