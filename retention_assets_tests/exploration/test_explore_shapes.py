"""`retention explore` on files as users have them: integer keys found from repetition and from the other files,
review edits respected on the next run, refusals that say what to set, and starter settings per shape with
their evidence; the proposed timeline always fits the data's span."""

from __future__ import annotations

import pandas as pd
import pytest
import yaml
from hypothesis import given, settings as hsettings
from hypothesis import strategies as st

from retention_assets.core.errors import DataValidationError
from retention_assets.engine.duckdb_engine import DuckDBEngine
from retention_assets.exploration.bootstrap import explore_files, written_by_explore_unedited
from retention_assets.exploration.defaults import Cadence, propose_defaults
from retention_assets.settings import load_settings
from retention_assets_tests.exploration import shapes


def explore(tmp_path, files):
    with DuckDBEngine(tables_dir=tmp_path / "scratch") as engine:
        return explore_files(files, tmp_path / "project", engine)


def findings(findings_dir, name) -> dict:
    return yaml.safe_load((findings_dir / f"{name}_findings.yaml").read_text())


def test_an_events_only_log_with_integer_ids_gets_a_customer_table_derived_from_it(tmp_path):
    settings_path, findings_dir = explore(tmp_path, shapes.events_only(tmp_path))
    text = settings_path.read_text()
    settings = load_settings(settings_path)
    assert (settings.entity.derived_from, settings.entity.entity_key, settings.entity.path) == (
        "events", "user_id", None)
    assert settings.events["events"].entity_key == "user_id"
    detected = findings(findings_dir, "events")["detected"]
    assert detected["granularity"] == "event" and detected["key_candidates"] == ["user_id", "product_id"]
    assert "600 distinct values" in detected["key_reasons"]["user_id"]
    assert "other candidates: product_id" in text and "review.entity_key" in text


def test_a_customer_table_and_integer_keyed_events_join_on_the_key_that_covers_the_customers(tmp_path):
    settings_path, findings_dir = explore(tmp_path, shapes.customers_and_events(tmp_path))
    settings = load_settings(settings_path)
    assert (settings.entity.name, settings.entity.entity_key) == ("customers", "customer_id")
    assert settings.events["purchases"].entity_key == "customer_id"
    reasons = findings(findings_dir, "purchases")["detected"]["key_reasons"]
    assert "100% of the keys of customers found" in reasons["customer_id"]
    assert "66% of the keys of customers found" in reasons["product_id"]
    assert settings.business.value_column == "purchases_30d_amount_sum"


def test_an_entity_only_table_with_a_target_gets_a_target_label_and_one_snapshot(tmp_path):
    settings_path, _ = explore(tmp_path, shapes.entity_only(tmp_path))
    settings = load_settings(settings_path)
    assert (settings.label.kind, settings.label.target_column) == ("target_column", "churned")
    assert settings.events == {} and settings.timeline.training_cutoffs == 1
    assert settings.timeline.as_of == "auto"  # nothing invented
    assert "identical rows must never validate each other" in settings_path.read_text()


def test_an_entity_only_table_without_a_target_is_refused_naming_the_file_and_what_to_set(tmp_path):
    path = tmp_path / "people.csv"
    pd.DataFrame({"pid": [f"P{i:04d}" for i in range(60)], "age": [20 + i % 40 for i in range(60)]}).to_csv(
        path, index=False)
    with pytest.raises(DataValidationError, match=r"people\.csv: .*no column with two values.*age \(numeric\).*"
                                                  r"review\.target in findings/people_findings\.yaml"):
        explore(tmp_path, [path])


def test_date_only_events_say_a_cutoff_date_means_the_end_of_that_day(tmp_path):
    settings_path, findings_dir = explore(tmp_path, shapes.date_only_events(tmp_path))
    assert load_settings(settings_path).timeline.date_only_events is True
    assert "dates only: a cutoff date means the end of that day" in findings(findings_dir, "visits")["detected"]["notes"]


def test_the_defaults_come_from_the_cadence_with_their_evidence(tmp_path):
    settings_path, _ = explore(tmp_path, shapes.customers_and_events(tmp_path))
    settings = load_settings(settings_path)
    text = settings_path.read_text()
    assert 10 <= settings.label.horizon_days <= 25  # ~4 median gaps of ~4 days, not a fixed 30
    assert settings.label.active_within_days >= settings.label.horizon_days
    assert "365d" not in settings.windows and "180d" in settings.windows  # a 360-day span
    assert "# from purchases: median gap between a customer's events:" in text


def test_a_reviewed_key_and_column_type_change_what_explore_writes_next(tmp_path):
    files = shapes.events_only(tmp_path)
    settings_path, findings_dir = explore(tmp_path, files)
    assert written_by_explore_unedited(settings_path)
    path = findings_dir / "events_findings.yaml"
    data = yaml.safe_load(path.read_text())
    data["review"]["entity_key"] = "product_id"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    explore(tmp_path, files)  # the unedited starter file is rewritten from the review
    assert load_settings(settings_path).entity.entity_key == "product_id"

    settings_path.write_text(settings_path.read_text() + "# my note\n")  # edited: explore leaves it alone
    data["review"]["entity_key"] = None
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    explore(tmp_path, files)
    assert load_settings(settings_path).entity.entity_key == "product_id"


def test_a_reviewed_grain_is_what_explore_decides_from_and_its_refusal_says_what_to_set(tmp_path):
    files = shapes.events_only(tmp_path)
    _, findings_dir = explore(tmp_path, files)
    path = findings_dir / "events_findings.yaml"
    data = yaml.safe_load(path.read_text())
    data["review"]["granularity"] = "entity"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    with pytest.raises(DataValidationError, match=r"events\.csv: there is no event file.*"
                                                  r"review\.target in findings/events_findings\.yaml"):
        explore(tmp_path, files)


@hsettings(max_examples=200, deadline=None)
@given(span=st.floats(3, 3000), gap=st.one_of(st.none(), st.floats(0.01, 400)), spread=st.floats(1, 10))
def test_the_proposed_timeline_always_fits_in_the_span(span, gap, spread):
    proposal = propose_defaults(Cadence(span, gap, None if gap is None else gap * spread, False))
    assert (proposal.training_cutoffs + 1) * proposal.horizon_days <= max(span, proposal.training_cutoffs + 1)
    assert proposal.horizon_days <= proposal.active_within_days <= max(1, int(span))
    assert "all_time" in proposal.windows
    assert all(w == "all_time" or int(w[:-1]) / (24 if w.endswith("h") else 1) <= span for w in proposal.windows)


# --------------------------------------------------------------------------------------------------
# the whole graph from the settings explore wrote, unedited (shape a runs in test_readme_explore.py)


def materialize(tmp_path, build):
    from retention_assets_tests.pipeline import run_refresh, step_failures

    settings_path, _ = explore(tmp_path, build(tmp_path))
    settings = load_settings(settings_path)
    result = run_refresh(settings)
    assert result.success, step_failures(result)
    model = result.output_for_node("churn_model")
    # plausible, and never an in-sample number called out of time
    assert 0.55 < model.metrics["roc_auc"] <= settings.model.max_plausible_auc, model.metrics
    assert model.validation in {"out_of_time", "grouped_cv"}, model.validation
    assert model.validation_reason.startswith("out of time") == (model.validation == "out_of_time")
    return settings, model


def test_an_events_only_log_materializes_unedited(tmp_path):
    from retention_assets_tests.pipeline import table

    settings, _ = materialize(tmp_path, shapes.events_only)
    assert settings.entity.derived_from is not None and settings.entity.path is None
    customers = table(settings, f"raw_{settings.entity.name}")
    assert customers[settings.entity.entity_key].is_unique and len(customers) >= 500


def test_an_entity_only_table_materializes_unedited(tmp_path):
    from retention_assets_tests.pipeline import table

    settings, model = materialize(tmp_path, shapes.entity_only)
    assert settings.label.kind == "target_column" and not settings.events
    assert model.validation == "grouped_cv" and model.repeated_customers == 0
    training = table(settings, "training_set")
    assert training[settings.entity.entity_key].is_unique  # one row per customer: nothing validates itself


def test_date_only_events_materialize_unedited(tmp_path):
    settings, _ = materialize(tmp_path, shapes.date_only_events)
    assert settings.timeline.date_only_events


def test_a_column_reviewed_as_identifier_makes_its_file_an_event_log(tmp_path):
    """Account names (words, typed categorical from their values) are no key until a person says so; then
    explore re-derives the grain from the reviewed type and writes a customer table derived from them."""
    frame = pd.read_csv(shapes.events_only(tmp_path)[0])
    names = [f"{a}{b}" for a in ("acme", "globex", "initech", "umbrella", "hooli", "stark", "wayne", "wonka")
             for b in ("", "corp", "labs", "works", "group")]
    frame = frame[frame["user_id"] <= len(names)].drop(columns=["user_id", "product_id"])
    frame.insert(0, "account", [names[i % len(names)] for i in range(len(frame))])
    path = tmp_path / "events.csv"
    frame.to_csv(path, index=False)
    with pytest.raises(DataValidationError, match=r"events\.csv"):
        explore(tmp_path, [path])
    findings_file = tmp_path / "project" / "findings" / "events_findings.yaml"
    data = yaml.safe_load(findings_file.read_text())
    assert data["columns"]["account"]["detected"]["type"] != "identifier"
    data["columns"]["account"]["review"]["type"] = "identifier"
    findings_file.write_text(yaml.safe_dump(data, sort_keys=False))

    settings = load_settings(explore(tmp_path, [path])[0])
    assert (settings.entity.derived_from, settings.entity.entity_key) == ("events", "account")
    assert settings.events["events"].timestamp_column == "event_time"
