"""exploration: findings per source and across sources, and the recommendations they lead to.

The YAML files live in the findings directory; people review and commit them. Each run refreshes
what was detected, keeps what people decided, and hands the layers one plan (the `recommendations`
asset's value) so every layer of the run follows the same decisions.
"""

import dagster as dg

from retention_assets.core.names import MULTI_FINDINGS, RECOMMENDATIONS, TIMELINE, findings_name, raw_name
from retention_assets.exploration.recommendations import REGISTRY_FILE
from retention_assets.resources.compute import EngineResource
from retention_assets.settings import Settings

EXPLORATION_GROUP = "exploration"


def declared_roles(settings: Settings) -> dict[str, dict[str, list[str] | None]]:
    """Role lists each source's settings declare (None: the findings decide)."""
    entity = settings.entity
    roles = {entity.name: {"value_columns": entity.numeric_columns, "categorical_columns": entity.categorical_columns}}
    for name, event in settings.events.items():
        roles[name] = {"value_columns": event.value_columns, "categorical_columns": event.categorical_columns,
                       "text_columns": event.text_columns}
    return roles


def _column_table(findings) -> str:
    lines = ["| column | type | reviewed | null rate | distinct |", "|---|---|---|---|---|"]
    for name in findings.columns:
        entry = findings.data["columns"][name]
        detected, review = entry.get("detected") or {}, entry.get("review") or {}
        reviewed = ("excluded" if review.get("exclude") else "") + (f" type→{review['type']}" if review.get("type") else "")
        lines.append(f"| {name} | {findings.column_type(name)} | {reviewed.strip()} | "
                     f"{detected.get('null_rate', 0):.3f} | {detected.get('cardinality', '')} |")
    return "\n".join(lines)


def _findings_asset(settings: Settings, source: str) -> dg.AssetsDefinition:
    @dg.asset(name=findings_name(source), group_name=EXPLORATION_GROUP, deps=[dg.AssetKey(raw_name(source))],
              ins={"timeline": dg.AssetIn(TIMELINE)}, kinds={"pandas", "yaml"},
              description=f"Profile of {source} from its values, written as {source}_findings.yaml for review.")
    def _asset(context: dg.AssetExecutionContext, compute: EngineResource, timeline: dict):
        from retention_assets.core.timeline import Timeline
        from retention_assets.exploration.findings import load_findings, write_findings
        from retention_assets.exploration.profiling import profile_relation
        from retention_assets.features.raw import user_columns_relation

        with compute.engine() as engine:
            profile = profile_relation(
                engine, user_columns_relation(engine, raw_name(source)), source,
                str(settings.resolve(_source_path(settings, source))),
                reference_time=Timeline.from_dict(timeline).as_of,
                outlier_iqr_multiplier=settings.entity.outlier_iqr_multiplier,
                sample_rows=settings.exploration.profile_sample_rows,
            )
        path = write_findings(profile, settings.findings_path)
        findings = load_findings(path)
        edits = sum(1 for c in findings.columns if (findings.data["columns"][c].get("review") or {}).get("type")
                    or (findings.data["columns"][c].get("review") or {}).get("exclude"))
        context.log.info(f"{path}: {profile.granularity}-level, key {findings.entity_key}, {edits} reviewed column(s)")
        return dg.Output(profile, metadata={
            "findings_file": dg.MetadataValue.path(str(path)),
            "version": dg.MetadataValue.text(findings.version),
            "granularity": dg.MetadataValue.text(str(findings.granularity)),
            "entity_key": dg.MetadataValue.text(str(findings.entity_key)),
            "timestamp_column": dg.MetadataValue.text(str(findings.timestamp_column)),
            "selected": dg.MetadataValue.bool(findings.selected),
            "reviewed_columns": dg.MetadataValue.int(edits),
            "columns": dg.MetadataValue.md(_column_table(findings)),
            "dagster/row_count": dg.MetadataValue.int(profile.rows),
        })

    return _asset


def _source_path(settings: Settings, source: str):
    return settings.entity_source_path if source == settings.entity.name else settings.events[source].path


def build_exploration_assets(settings: Settings) -> list[dg.AssetsDefinition]:
    sources = [settings.entity.name, *settings.events]
    findings_assets = [_findings_asset(settings, source) for source in sources]

    @dg.asset(name=MULTI_FINDINGS, group_name=EXPLORATION_GROUP, kinds={"pandas", "yaml"},
              ins={f"profile_{s}": dg.AssetIn(findings_name(s)) for s in sources},
              description="Which keys join which tables, with match rates and cardinality "
                          "(multi_dataset_findings.yaml).")
    def multi_dataset_findings(compute: EngineResource, **profiles):
        from retention_assets.exploration.findings import load_multi_findings, write_multi_findings
        from retention_assets.exploration.profiling import profile_relationships

        by_name = {name.removeprefix("profile_"): profile for name, profile in profiles.items()}
        with compute.engine() as engine:
            relationships = profile_relationships(engine, {n: engine.relation(raw_name(n)) for n in by_name}, by_name)
        path = write_multi_findings(by_name, relationships, settings.findings_path)
        multi = load_multi_findings(path)
        table = ["| left | right | cardinality | left match | right match |", "|---|---|---|---|---|"] + [
            f"| {r.left}.{r.left_column} | {r.right}.{r.right_column} | {r.cardinality} | "
            f"{r.left_match_rate:.3f} | {r.right_match_rate:.3f} |" for r in relationships
        ]
        return dg.Output({"path": str(path), "version": multi.version}, metadata={
            "findings_file": dg.MetadataValue.path(str(path)),
            "relationships": dg.MetadataValue.md("\n".join(table)),
        })

    @dg.asset(name=RECOMMENDATIONS, group_name=EXPLORATION_GROUP, kinds={"yaml"},
              deps=[dg.AssetKey(MULTI_FINDINGS)],
              description="What each layer should do and why (recommendations.yaml); layers apply the accepted "
                          "entries. The value is the plan this run follows.")
    def recommendations(context: dg.AssetExecutionContext):
        from retention_assets.exploration.plan import build_plan, refresh_registry
        from retention_assets.exploration.recommendations import RecommendationPolicy

        policy = RecommendationPolicy(
            auto_accept=settings.exploration.auto_accept,
            outlier_iqr_multiplier=settings.entity.outlier_iqr_multiplier,
            max_one_hot_cardinality=settings.exploration.max_one_hot_cardinality,
            hash_buckets=settings.exploration.hash_buckets,
            text_components=settings.exploration.text_components,
        )
        keys = {settings.entity.name: (settings.entity.entity_key, None)}
        keys.update({n: (e.entity_key, e.timestamp_column) for n, e in settings.events.items()})
        registry = settings.findings_path / REGISTRY_FILE
        recs, findings = refresh_registry(settings.findings_path, declared_roles(settings), policy, registry, keys)
        plan = build_plan(recs, findings)
        counts: dict[str, int] = {}
        for rec in recs:
            counts[rec.status] = counts.get(rec.status, 0) + 1
        table = ["| id | status | rationale |", "|---|---|---|"] + [
            f"| {r.id} | {r.status} | {r.rationale} |" for r in recs]
        if plan.deselected:
            context.log.warning(f"deselected in the findings: {plan.deselected}; their features are not built")
        return dg.Output(plan.to_dict(), metadata={
            "registry_file": dg.MetadataValue.path(str(registry)),
            "version": dg.MetadataValue.text(plan.recommendations_version),
            "by_status": dg.MetadataValue.json(counts),
            "recommendations": dg.MetadataValue.md("\n".join(table)),
            "findings_versions": dg.MetadataValue.json(plan.findings_versions),
        })

    return [*findings_assets, multi_dataset_findings, recommendations]
