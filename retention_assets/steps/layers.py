"""The set-based layers as steps: raw, bronze_entity, bronze_event, silver, labels, gold and batch scores.

Each step takes the engine, the settings and its inputs (the timeline and the run plan as dicts), writes
its tables through the engine and returns a `StepReport`. Side effects on the Dagster side (marking
recommendations applied, logging) are the asset's: a step only reports what it applied.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from retention_assets.core.columns import LAST_SEEN
from retention_assets.core.names import BRONZE_ENTITY, ENTITY_TERMS, GOLD, LABELS, SILVER, raw_name, silver_inputs, window_name
from retention_assets.engine.base import Engine
from retention_assets.settings import Settings
from retention_assets.steps.report import StepReport


def raw_source(engine: Engine, settings: Settings, params: dict[str, Any]) -> StepReport:
    """Read, type and validate one declared source (`params["source"]`) into `raw_<source>`."""
    from retention_assets.features.raw import key_rules, source_specs, validate_and_write, write_derived_entity

    source = params["source"]
    entity = settings.entity
    entity_table = raw_name(entity.name)
    report = StepReport()
    if source == entity.name and entity.derived_from:  # no file: one row per key of the validated events
        raw = write_derived_entity(engine, settings, entity_table, raw_name(entity.derived_from))
        report.info(f"{entity_table}: {raw.rows:,} customers derived from {raw_name(entity.derived_from)}")
        source_file = str(settings.entity_source_path)
    else:
        spec = source_specs(settings)[source]
        checked = source in settings.events and source != entity.derived_from  # not against its own keys
        rule = key_rules(settings, entity_table, engine)[source] if checked else None
        raw = validate_and_write(engine, spec, raw_name(source), rule)
        source_file = str(spec.path)
    report.add_table(engine, raw_name(source))
    for repair in raw.repairs:
        report.info(f"{raw_name(source)} repair: {repair}")
    for column, n in raw.negative_values.items():
        report.info(f"{raw_name(source)}: {n:,} negative value(s) in {column} kept (negative_values: allow)")
    if raw.quarantine:
        held = raw.quarantine
        report.warning(f"{raw_name(source)}: {held.rows:,} event(s) {held.reason}, i.e. after {held.after} "
                       f"(latest {', '.join(held.examples)}), are quarantined in {held.table}")
    coverage = raw.key_coverage
    report.values = {
        "source_file": source_file, "derived_from": entity.derived_from if source == entity.name else None,
        "repairs": raw.repairs, "time_span": raw.time_span,
        "duplicate_key_rows": raw.duplicate_key_rows, "negative_values": raw.negative_values,
        "quarantine": asdict(raw.quarantine) if raw.quarantine else None,
        "key_coverage": {"matched_share": coverage.matched_share, "covered_share": coverage.covered_share}
        if coverage else None,
    }
    return report


def bronze_entity(engine: Engine, settings: Settings, params: dict[str, Any]) -> StepReport:
    """The entity table cleaned by the plan's bronze_entity recommendations (and its text columns as components).
    A time-versioned table (entity.valid_from_column) keeps every version; its fences and medians are over all
    versions (static cleaning constants, not features; documented in the README)."""
    from retention_assets.exploration.plan import RunPlan
    from retention_assets.features.entity import CleaningPlan, clean_entity_table
    from retention_assets.features.labels import label_definition
    from retention_assets.features.text import replace_text_with_components, terms_table

    entity, exploration = settings.entity, settings.exploration
    run_plan = RunPlan.from_dict(params["plan"])
    definition = label_definition(settings, run_plan)
    label_columns = [c for c in (definition.target_column, definition.label_timestamp_column) if c]
    excluded = [c for c in run_plan.excluded_columns(entity.name) if c != entity.entity_key]
    if entity.derived_from:  # last_seen is over the whole history: future information to every cutoff
        excluded = list(dict.fromkeys([*excluded, LAST_SEEN]))
    recs = run_plan.active("bronze_entity", entity.name)
    cleaning = clean_entity_table(
        engine, relation=engine.relation(raw_name(entity.name)), key=entity.entity_key,
        plan=CleaningPlan.from_recommendations(recs), target=BRONZE_ENTITY,
        duplicate_policy=entity.duplicate_keys, order_by=entity.order_by,
        passthrough=(*settings.entity_date_columns, *([entity.valid_from_column] if entity.valid_from_column else [])),
        drop=tuple(dict.fromkeys([*label_columns, *excluded])),
    )
    text_applied, text_reports, report = [], [], StepReport()
    for rec in recs:
        if rec.action == "text_svd" and entity.valid_from_column:  # components are keyed by customer, not version
            report.warning(f"{rec.id}: text components of {rec.column} are not built for a time-versioned entity "
                           "table (entity.valid_from_column); the column is kept as text")
        elif rec.action == "text_svd" and rec.column in engine.column_types(engine.relation(BRONZE_ENTITY)):
            text_reports += replace_text_with_components(
                engine, table=BRONZE_ENTITY, key=entity.entity_key, source=entity.name, column=rec.column,
                n_components=int(rec.params.get("components", exploration.text_components)),
                max_features=exploration.text_max_features, fit_rows=exploration.text_fit_rows).columns
            text_applied.append(rec.id)
    engine.write_frame(ENTITY_TERMS, terms_table(entity.name, text_reports))
    report.add_table(engine, BRONZE_ENTITY)
    if cleaning.duplicates_dropped:
        report.warning(f"dropped {cleaning.duplicates_dropped} duplicate key row(s) ({entity.duplicate_keys})")
    report.values = {"cleaning": cleaning.to_dict(), "applied": sorted([*cleaning.applied, *text_applied]),
                     "excluded": excluded}
    return report


def bronze_event(engine: Engine, settings: Settings, params: dict[str, Any]) -> StepReport:
    """Every window of one event source (`params["source"]`) in one scan of its events."""
    from retention_assets.core.timeline import Timeline, parse_windows
    from retention_assets.exploration.plan import RunPlan
    from retention_assets.features.event_windows import (
        EventFeatureSpec,
        orphan_events_sql,
        write_spine_tables,
        write_window_tables,
    )

    source = params["source"]
    event = settings.events[source]
    tl, run_plan = Timeline.from_dict(params["timeline"]), RunPlan.from_dict(params["plan"])
    roles = run_plan.event_roles(source)
    spec = EventFeatureSpec(source=source, entity_key=event.entity_key, timestamp_column=event.timestamp_column,
                            value_columns=roles.value, aggregations=tuple(event.aggregations))
    tables = {window: window_name(source, window) for window in settings.windows}
    key = settings.entity.entity_key
    events, entity = engine.relation(raw_name(source)), engine.relation(raw_name(settings.entity.name))
    report = StepReport()
    if run_plan.is_selected(source):
        spec = write_window_tables(
            engine, spec, parse_windows(settings.windows), events=events, entity=entity, entity_key=key,
            snapshots=list(tl.snapshots), tables=tables, max_categories=event.max_categories,
            categorical_columns=roles.category,
        ).spec
    else:  # deselected in the findings: keys only, no features
        report.warning(f"{source} is deselected in its findings; its window assets hold keys only")
        write_spine_tables(engine, entity, key, list(tl.snapshots), list(tables.values()))
    orphans = int(engine.scalar(orphan_events_sql(engine.dialect, events, event.entity_key, entity, key)))
    if orphans:
        report.warning(f"{source}: {orphans} event(s) belong to keys missing from the entity table; "
                       "they are not aggregated")
    for table in tables.values():
        report.add_table(engine, table)
    report.values = {"orphans": orphans, "categories": {k: list(v) for k, v in spec.categories.items()},
                     "value_columns": list(spec.value_columns), "applied": list(roles.window_recommendations)}
    return report


def silver(engine: Engine, settings: Settings, params: dict[str, Any]) -> StepReport:
    """bronze_entity joined with every window and text table on (key, feature_timestamp)."""
    from retention_assets.core.timeline import Timeline
    from retention_assets.features.silver import build_silver

    tl = Timeline.from_dict(params["timeline"])
    info = build_silver(engine, entity_table=BRONZE_ENTITY, key=settings.entity.entity_key,
                        snapshots=list(tl.snapshots), inputs=silver_inputs(settings), date_columns=settings.entity_date_columns,
                        target=SILVER, valid_from=settings.entity.valid_from_column)
    report = StepReport()
    report.add_table(engine, SILVER)
    report.values = {"customers": info.rows // len(tl.snapshots), "feature_count": len(info.columns) - 2}
    return report


def labels(engine: Engine, settings: Settings, params: dict[str, Any]) -> StepReport:
    """The churn label of every customer at every snapshot."""
    from retention_assets.core.timeline import Timeline
    from retention_assets.exploration.plan import RunPlan
    from retention_assets.features.labels import activity_sources, label_definition, label_rates_sql, write_labels

    tl = Timeline.from_dict(params["timeline"])
    definition = label_definition(settings, RunPlan.from_dict(params["plan"]))
    entity = settings.entity
    write_labels(engine, definition, entity=engine.relation(raw_name(entity.name)),
                 activity=activity_sources(engine, settings), snapshots=list(tl.snapshots), as_of=tl.as_of,
                 target=LABELS, source_path=str(settings.entity_source_path))
    rates = engine.rows(label_rates_sql(engine.dialect, engine.relation(LABELS)))
    report = StepReport()
    report.add_table(engine, LABELS)
    report.values = {"label_definition": definition.kind,
                     "churn_rate_by_cutoff": {str(c): round(float(r), 4) for c, _, r in rates},
                     "eligible_training_rows": sum(int(n) for _, n, _ in rates)}
    return report


def gold(engine: Engine, settings: Settings, params: dict[str, Any]) -> StepReport:
    """Model-ready features with their point-in-time columns, by the plan's gold recommendations."""
    from retention_assets.core.timeline import Timeline
    from retention_assets.exploration.plan import RunPlan
    from retention_assets.features.gold import build_gold, gold_summary

    tl = Timeline.from_dict(params["timeline"])
    _, applied = build_gold(engine, silver_table=SILVER, labels_table=LABELS, key=settings.entity.entity_key,
                            as_of=tl.as_of, recommendations=RunPlan.from_dict(params["plan"]).active("gold"),
                            target=GOLD)
    summary = gold_summary(engine, GOLD)
    report = StepReport()
    report.add_table(engine, GOLD)
    report.values = {"rows_by_role": summary.rows_by_role, "training_rows": summary.training_rows,
                     "training_churn_rate": summary.training_churn_rate, "applied": list(applied)}
    return report


SCORE_DISTRIBUTION_POINTS = 2001  # quantiles of the probabilities: the distribution plot without every row


def scores(engine: Engine, settings: Settings, params: dict[str, Any]) -> StepReport:
    """Gold's scoring rows scored by a registered model version (`params["tracking"]`, `params["version"]`),
    loaded from the registry where the step runs; on Spark the scoring runs on the executors."""
    import numpy as np

    from retention_assets.core.names import SCORES
    from retention_assets.model.scoring import score_offline, score_summary
    from retention_assets.model.serving import load_champion
    from retention_assets.model.tracking import TrackingConfig

    serving = load_champion(TrackingConfig.from_dict(params["tracking"]), params["version"])
    score_offline(engine, serving, gold_table=GOLD, key=settings.entity.entity_key,
                  bounds=settings.model.risk_tier_bounds, target=SCORES)
    summary = score_summary(engine, SCORES)
    report = StepReport()
    report.add_table(engine, SCORES)
    report.info(f"scored {summary.rows} customers with {serving.model.model_name} version {serving.version} "
                f"({len(serving.model.serving_features)} features)")
    probabilities = summary.probabilities
    report.values = {
        "as_of": summary.as_of.isoformat() if summary.as_of is not None else None, "tiers": summary.tiers,
        "active": summary.active, "model_version": serving.version, "feature_service": serving.feature_service,
        "distribution": np.quantile(probabilities, np.linspace(0, 1, SCORE_DISTRIBUTION_POINTS)).tolist()
        if len(probabilities) else [],
    }
    return report
