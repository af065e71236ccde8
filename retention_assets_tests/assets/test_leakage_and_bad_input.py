"""Leakage is stopped before training; bad input stops at raw; nothing materialized is corrupted."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pandas as pd

from retention_assets.sample.generator import SamplePaths
from retention_assets_tests.pipeline import check_results, materialized_keys, run_refresh, step_failures, table


def copy_sample(sample: SamplePaths, directory, customers=None, transactions=None) -> SamplePaths:
    directory.mkdir(parents=True, exist_ok=True)
    paths = SamplePaths(directory / "customers.csv", directory / "transactions.parquet",
                        directory / "support_tickets.csv")
    (customers if customers is not None else pd.read_csv(sample.customers, dtype=str)).to_csv(paths.customers, index=False)
    (transactions if transactions is not None else pd.read_parquet(sample.transactions)).to_parquet(paths.transactions)
    paths.support_tickets.write_bytes(sample.support_tickets.read_bytes())
    return paths


def test_a_leaky_entity_column_stops_the_graph_before_training(small_sample, make_settings, tmp_path):
    # An export-time column: transactions in the 30 days before the data's end. For the training rows
    # (cutoffs 30 and 60 days earlier) it is computed from the label window itself.
    tx = pd.read_parquet(small_sample.transactions)
    end = tx["event_ts"].max()
    recent = tx[tx["event_ts"] > end - timedelta(days=30)].groupby("customer_id").size()
    customers = pd.read_csv(small_sample.customers, dtype=str)
    customers["recent_purchases"] = customers["customer_id"].map(recent).fillna(0).astype(int)
    settings = make_settings(paths=copy_sample(small_sample, tmp_path / "data", customers=customers))

    result = run_refresh(settings)

    assert not result.success
    assert check_results(result)["gold_features:leakage_probe"] is False
    keys = materialized_keys(result)
    assert "gold_features" in keys and "churn_model" not in keys and "churn_scores" not in keys
    evaluation = next(e.event_specific_data for e in result.all_events
                      if e.event_type_value == "ASSET_CHECK_EVALUATION" and e.event_specific_data.check_name == "leakage_probe")
    assert "recent_purchases" in evaluation.description
    assert evaluation.metadata["suspect_columns"].value == ["recent_purchases"]


def test_an_entity_date_after_the_feature_timestamp_is_flagged(small_sample, make_settings, tmp_path):
    tx = pd.read_parquet(small_sample.transactions)
    last = tx.groupby("customer_id")["event_ts"].max().dt.strftime("%Y-%m-%d")
    customers = pd.read_csv(small_sample.customers, dtype=str)
    customers["last_purchase_date"] = customers["customer_id"].map(last)
    paths = copy_sample(small_sample, tmp_path / "data", customers=customers)
    settings = make_settings(paths=paths, entity={"date_columns": ["signup_date", "last_purchase_date"]})

    result = run_refresh(settings)

    evaluation = next(e.event_specific_data for e in result.all_events
                      if e.event_type_value == "ASSET_CHECK_EVALUATION" and e.event_specific_data.check_name == "leakage_probe")
    assert not evaluation.passed
    assert "days_since_last_purchase_date" in evaluation.metadata["suspect_columns"].value
    assert "churn_model" not in materialized_keys(result)


def test_events_after_a_cutoff_cannot_change_its_training_features(small_sample, make_settings, tmp_path):
    """Leakage-safe by construction: append absurd events after the latest cutoff; training rows stay."""
    base = make_settings(directory=tmp_path / "base", timeline={"as_of": "2026-06-30T00:00:00Z"})
    assert run_refresh(base).success
    tx = pd.read_parquet(small_sample.transactions)
    cutoff = pd.Timestamp("2026-05-31T00:00:00Z")
    extra = tx.sample(n=500, random_state=0).assign(
        event_ts=lambda f: cutoff + pd.to_timedelta(np.arange(len(f)) % (29 * 24), unit="h") + pd.Timedelta(hours=1),
        amount=1e6,
    )
    paths = copy_sample(small_sample, tmp_path / "data", transactions=pd.concat([tx, extra], ignore_index=True))
    changed = make_settings(paths=paths, directory=tmp_path / "changed", timeline={"as_of": "2026-06-30T00:00:00Z"})
    assert run_refresh(changed).success

    def train_features(settings):
        gold = table(settings, "gold_features")
        rows = gold[gold["row_role"] == "train"]
        return rows.drop(columns=["churned", "eligible", "label_available", "label_timestamp"]).reset_index(drop=True)

    pd.testing.assert_frame_equal(train_features(base), train_features(changed))
    scores_base, scores_changed = table(base, "gold_features"), table(changed, "gold_features")
    assert not scores_base[scores_base["row_role"] == "score"].reset_index(drop=True).equals(
        scores_changed[scores_changed["row_role"] == "score"].reset_index(drop=True))


def test_bad_timestamps_stop_at_raw_with_file_column_and_rows_and_keep_the_old_table(small_sample, make_settings, tmp_path):
    paths = copy_sample(small_sample, tmp_path / "data")
    settings = make_settings(paths=paths)
    assert run_refresh(settings).success
    good_scores = table(settings, "churn_scores")
    raw_before = (settings.data_path / "tables" / "raw_support_tickets.parquet").read_bytes()

    tickets = pd.read_csv(paths.support_tickets, dtype=str)
    tickets.loc[[3, 7], "created_at"] = ["yesterday", "2026-02-30T10:00:00Z"]
    tickets.to_csv(paths.support_tickets, index=False)
    result = run_refresh(settings)

    assert not result.success
    message = step_failures(result)["raw_support_tickets"]
    assert str(paths.support_tickets) in message and "'created_at'" in message
    assert "rows 4, 8" in message and "'yesterday'" in message
    assert "Traceback" not in message
    assert "churn_scores" not in materialized_keys(result)
    assert (settings.data_path / "tables" / "raw_support_tickets.parquet").read_bytes() == raw_before
    pd.testing.assert_frame_equal(table(settings, "churn_scores"), good_scores)


def test_duplicate_customers_fail_by_default_and_are_dropped_with_keep_last(small_sample, make_settings, tmp_path):
    customers = pd.read_csv(small_sample.customers, dtype=str)
    duplicated = pd.concat([customers, customers.iloc[[5]].assign(plan="premium")], ignore_index=True)
    paths = copy_sample(small_sample, tmp_path / "data", customers=duplicated)

    strict = run_refresh(make_settings(paths=paths, directory=tmp_path / "strict"))
    assert "duplicate entity key" in step_failures(strict)["raw_customers"]

    lenient = make_settings(paths=paths, directory=tmp_path / "lenient", entity={"duplicate_keys": "keep_last"})
    result = run_refresh(lenient)
    assert result.success
    entity = table(lenient, "bronze_entity")
    assert len(entity) == len(customers)
    assert entity.loc[entity["customer_id"] == customers.loc[5, "customer_id"], "plan"].item() == "premium"


def test_explicit_target_column_labels_train_a_model(small_sample, make_settings, tmp_path):
    customers = pd.read_csv(small_sample.customers, dtype=str)
    rng = np.random.default_rng(0)
    risk = (customers["plan"] == "basic").astype(float) * 0.25 + 0.1
    churned = rng.random(len(customers)) < risk
    days = rng.integers(1, 60, len(customers))
    customers["churned_flag"] = np.where(churned, "yes", "no")
    customers["churned_on"] = np.where(churned, (pd.Timestamp("2026-06-30") - pd.to_timedelta(days, "D")).strftime("%Y-%m-%d"), "")
    paths = copy_sample(small_sample, tmp_path / "data", customers=customers)
    settings = make_settings(paths=paths, label={"kind": "target_column", "target_column": "churned_flag",
                                                 "label_timestamp_column": "churned_on", "activity_sources": None})
    result = run_refresh(settings)
    assert result.success, step_failures(result)
    gold = table(settings, "gold_features")
    assert "churned_flag" not in gold and "days_since_churned_on" not in gold
    assert set(gold.loc[gold["row_role"] == "train", "churned"].dropna().unique()) == {0, 1}


def test_event_keys_that_match_no_customer_never_train_a_model(small_sample, make_settings, tmp_path):
    """Zero matches, and matches only after an undocumented type change ('00001' against 1), stop at raw
    with the counts and the cause; the previous run's tables, model and scores stay as they were."""
    from retention_assets.model.tracking import champion_version

    paths = copy_sample(small_sample, tmp_path / "data")
    settings = make_settings(paths=paths)
    assert run_refresh(settings).success
    tracking = build_profile_for(settings).tracking()
    champion = champion_version(tracking)
    good_scores = table(settings, "churn_scores")
    tables = settings.data_path / "tables"
    before = {p.name: p.read_bytes() for p in tables.glob("*.parquet")}

    customers = pd.read_csv(paths.customers, dtype=str)
    numbered = customers.assign(customer_id=[str(i + 1) for i in range(len(customers))])
    numbered.to_csv(paths.customers, index=False)  # integer ids ...
    tx = pd.read_parquet(small_sample.transactions)
    ids = dict(zip(customers["customer_id"], numbered["customer_id"]))
    for name, keys in {"zero matches": tx["customer_id"].map(lambda k: f"X{k}"),
                       "leading zeros": tx["customer_id"].map(lambda k: ids[k].zfill(5))}.items():
        tx.assign(customer_id=keys).to_parquet(paths.transactions)  # ... and event ids that are not them
        result = run_refresh(settings)

        assert not result.success, name
        message = step_failures(result)["raw_transactions"]
        assert str(paths.transactions) in message and "'customer_id'" in message, name
        assert f"only 0 of {len(tx):,} events (0.0%)" in message, name
        assert ("leading zeros" in message) == (name == "leading zeros"), message
        keys = materialized_keys(result)
        assert "churn_model" not in keys and "gold_features" not in keys and "raw_transactions" not in keys, name
        assert champion_version(tracking) == champion
    assert (tables / "raw_transactions.parquet").read_bytes() == before["raw_transactions.parquet"]
    pd.testing.assert_frame_equal(table(settings, "churn_scores"), good_scores)


def build_profile_for(settings):
    from retention_assets.profiles import build_profile

    return build_profile(settings.data_path)


def test_an_unusable_target_column_stops_before_training_with_its_class_counts(small_sample, make_settings, tmp_path):
    customers = pd.read_csv(small_sample.customers, dtype=str)
    n = len(customers)
    cases = {
        "all empty": ([""] * n, f"every value of the target is empty ({n:,} rows)"),
        "one class": (["no"] * n, f"the target holds a single class (0 churned, {n:,} retained, 0 empty)"),
        "too few churned": (["yes"] * 3 + ["no"] * (n - 3),
                            (f"the target has too few rows of one class (3 churned, {n - 3:,} retained, 0 empty; "
                             "at least 10 of each, label.min_class_rows)")),
    }
    for name, (values, expected) in cases.items():
        paths = copy_sample(small_sample, tmp_path / name, customers=customers.assign(churned_flag=values))
        settings = make_settings(paths=paths, directory=tmp_path / f"{name}_run",
                                 label={"kind": "target_column", "target_column": "churned_flag",
                                        "activity_sources": None})
        result = run_refresh(settings)

        assert not result.success, name
        message = step_failures(result)["churn_labels"]
        assert message.startswith(f"{paths.customers}, column 'churned_flag': {expected}"), message
        assert "Traceback" not in message
        assert "churn_model" not in materialized_keys(result), name


def test_far_future_event_times_are_quarantined_and_never_become_the_as_of(small_sample, make_settings, tmp_path):
    tx = pd.read_parquet(small_sample.transactions)
    clean = make_settings(paths=copy_sample(small_sample, tmp_path / "clean"), directory=tmp_path / "clean_run")
    clean_result = run_refresh(clean)
    assert clean_result.success
    typos = tx.iloc[[0, 1]].assign(event_ts=[pd.Timestamp("2099-01-01", tz="UTC"), pd.Timestamp("2999-12-31", tz="UTC")])
    paths = copy_sample(small_sample, tmp_path / "data", transactions=pd.concat([tx, typos], ignore_index=True))
    settings = make_settings(paths=paths)

    result = run_refresh(settings)

    assert result.success, step_failures(result)
    timeline = result.output_for_node("analysis_timeline")
    # the as-of of the same data without the typos
    assert timeline["as_of"] == clean_result.output_for_node("analysis_timeline")["as_of"]
    raw = next(e.event_specific_data.materialization for e in result.all_events
               if e.event_type_value == "ASSET_MATERIALIZATION"
               and e.event_specific_data.materialization.asset_key.to_user_string() == "raw_transactions")
    assert raw.metadata["quarantined_events"].value == 2
    assert len(table(settings, "raw_transactions")) == len(tx)
    pd.testing.assert_frame_equal(table(settings, "churn_scores").drop(columns="model_version"),
                                  table(clean, "churn_scores").drop(columns="model_version"))



def test_export_time_columns_never_yield_a_promoted_implausible_model(small_sample, make_settings, tmp_path):
    """Export-time columns over the whole history (incl. after every cutoff): the probe names every
    detectable one at once; excluding them one at a time never yields a promoted model above the
    plausibility limit (each run stops naming all that remain, or trains an honest model); behind
    lenient probe limits the plausibility limit still stops the leaky model before promotion."""
    from retention_assets.model.tracking import champion_version

    tx = pd.read_parquet(small_sample.transactions)
    end, by = tx["event_ts"].max(), tx.groupby("customer_id")
    recent = tx[tx["event_ts"] > end - timedelta(days=30)].groupby("customer_id").size()
    customers = pd.read_csv(small_sample.customers, dtype=str)
    # taken at export: the history up to the end, the latest cutoff's label window included
    customers["lifetime_orders"] = customers["customer_id"].map(by.size()).fillna(0).astype(int)
    customers["total_spend"] = customers["customer_id"].map(by["amount"].sum()).fillna(0).round(2)
    customers["last_order_days"] = customers["customer_id"].map((end - by["event_ts"].max()).dt.days).fillna(999)
    customers["last_order_date"] = customers["customer_id"].map(by["event_ts"].max().dt.strftime("%Y-%m-%d"))
    customers["orders_last_30d"] = customers["customer_id"].map(recent).fillna(0).astype(int)
    paths = copy_sample(small_sample, tmp_path / "data", customers=customers)
    # suspect feature -> the entity column a person excludes for it
    leaks = {"last_order_days": "last_order_days", "days_since_last_order_date": "last_order_date",
             "orders_last_30d": "orders_last_30d"}

    def probe(result):
        return next(e.event_specific_data for e in result.all_events if e.event_type_value == "ASSET_CHECK_EVALUATION"
                    and e.event_specific_data.check_name == "leakage_probe")

    def run(name: str, excluded: list[str], **overrides):
        dates = ["signup_date"] + ([] if "last_order_date" in excluded else ["last_order_date"])
        settings = make_settings(paths=paths, directory=tmp_path / name,
                                 entity={"date_columns": dates, "exclude_columns": excluded}, **overrides)
        return settings, run_refresh(settings)

    # every suspect in one message, each under its reason; then excluded one at a time
    excluded: list[str] = []
    for step, feature in enumerate([None, *leaks]):
        if feature is not None:
            excluded.append(leaks[feature])
        settings, result = run(f"step{step}", excluded)
        remaining = {f for f, column in leaks.items() if column not in excluded}
        evaluation = probe(result)
        if remaining:
            assert not result.success and not evaluation.passed, f"{remaining} were not caught"
            assert remaining <= set(evaluation.metadata["suspect_columns"].value), evaluation.description
            assert "churn_model" not in materialized_keys(result)
            assert champion_version(build_profile_for(settings).tracking()) is None
            if step == 0:
                assert "[single-feature AUC] last_order_days" in evaluation.description
                assert "[future dates] days_since_last_order_date" in evaluation.description
        else:  # what is left (lifetime counts and spend included) trains an honest model, which may be promoted
            assert result.success, step_failures(result)
            assert check_results(result)["churn_model:plausible_auc"] is True
            assert result.output_for_node("churn_model").metrics["roc_auc"] <= settings.model.max_plausible_auc

    # probe limits loosened until the leak passes them (one cutoff, so it leaks at the validated cutoff too):
    # the model's AUC still cannot get promoted
    lenient, result = run("lenient", ["last_order_date", "orders_last_30d"], timeline={"training_cutoffs": 1},
                          model={"max_single_feature_auc": 1.0, "max_separation_auc": 1.0, "max_static_advantage": 0.5})
    assert check_results(result)["gold_features:leakage_probe"] is True
    assert check_results(result)["churn_model:plausible_auc"] is False
    model = result.output_for_node("churn_model")
    assert model.metrics["roc_auc"] > lenient.model.max_plausible_auc
    message = next(e.event_specific_data for e in result.all_events if e.event_type_value == "ASSET_CHECK_EVALUATION"
                   and e.event_specific_data.check_name == "plausible_auc").description
    assert "last_order_days (single-feature AUC" in message and "max_plausible_auc" in message
    assert "champion_model" not in materialized_keys(result) and "churn_scores" not in materialized_keys(result)
    assert champion_version(build_profile_for(lenient).tracking()) is None
    assert "published_release" not in materialized_keys(result)
