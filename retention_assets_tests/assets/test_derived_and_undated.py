"""The two shapes without an ordinary customer table + event files: an events-only log whose customer
table is derived from its keys (`entity.derived_from`), and a customer table with a target and no events
or dates (the undated timeline)."""

from __future__ import annotations

from datetime import UTC
from pathlib import Path

import dagster as dg
import numpy as np
import pandas as pd
import pytest
import yaml

from retention_assets.settings import SettingsError, load_settings
from retention_assets_tests.pipeline import run_refresh, step_failures, table, training_rows

N_USERS = 600


def _clicks(directory: Path, seed: int = 0) -> pd.DataFrame:
    """An events-only log with integer user ids; users who stop early churn (a planted signal), and a
    tenth of the users start late (first event in the last month)."""
    rng = np.random.default_rng(seed)
    end = pd.Timestamp("2026-06-30")
    rows = []
    for user in range(1, N_USERS + 1):
        late = user % 10 == 0
        start = end - pd.Timedelta(days=int(rng.integers(5, 25) if late else rng.integers(150, 200)))
        active_until = end if rng.random() < 0.6 else start + (end - start) * rng.uniform(0.3, 0.9)
        span = max((active_until - start).total_seconds(), 3600.0)
        n = int(rng.integers(4, 25))
        for offset in np.sort(rng.uniform(0, span, n)):
            rows.append((user, start + pd.Timedelta(seconds=float(offset)), round(float(rng.gamma(2.0, 20.0)), 2)))
    frame = pd.DataFrame(rows, columns=["user_id", "event_time", "amount"]).astype({"user_id": "int64"})
    frame["event_time"] = frame["event_time"].dt.floor("s")
    frame.to_parquet(directory / "clicks.parquet", index=False)
    return frame


def _write(directory: Path, settings: dict) -> Path:
    path = directory / "settings.yaml"
    path.write_text(yaml.safe_dump({**settings, "data_dir": "out"}))
    return path


def _events_only_settings(extra_events: dict | None = None) -> dict:
    return {
        "entity": {"name": "customers", "derived_from": "clicks"},
        "events": {"clicks": {"path": "clicks.parquet", "entity_key": "user_id", "timestamp_column": "event_time",
                              "value_columns": ["amount"]}, **(extra_events or {})},
        "windows": ["7d", "30d", "all_time"],
        "label": {"horizon_days": 30, "active_within_days": 90},
        "timeline": {"training_cutoffs": 2},
        "business": {"value_column": None},
    }


def test_an_events_only_log_derives_its_customer_table_and_materializes_the_graph(tmp_path):
    clicks = _clicks(tmp_path)
    settings = load_settings(_write(tmp_path, _events_only_settings()))
    result = run_refresh(settings)
    assert result.success, step_failures(result)

    customers = table(settings, "raw_customers").set_index("user_id")
    expected = clicks.groupby(clicks["user_id"].astype(str))["event_time"].agg(["min", "max"])
    assert len(customers) == N_USERS and customers.index.is_unique
    first = pd.to_datetime(customers["first_seen"]).dt.tz_convert(None).astype("datetime64[ns]")
    last = pd.to_datetime(customers["last_seen"]).dt.tz_convert(None).astype("datetime64[ns]")
    pd.testing.assert_series_equal(first.sort_index(), expected["min"].sort_index(), check_names=False)
    pd.testing.assert_series_equal(last.sort_index(), expected["max"].sort_index(), check_names=False)

    gold = table(settings, "gold_features")
    assert not [c for c in gold.columns if "last_seen" in c]
    assert "days_since_first_seen" in gold
    silver = table(settings, "silver_joined")  # first_seen as a date feature, as of each row
    silver["user_id"] = silver["user_id"].astype(str)
    as_of_row = (pd.to_datetime(silver["feature_timestamp"]).dt.tz_convert(None)
                 - silver["user_id"].map(expected["min"])).dt.total_seconds() / 86400
    np.testing.assert_allclose(silver["days_since_first_seen"], as_of_row, atol=1e-6)
    train = training_rows(settings)
    for cutoff, rows in train.groupby("feature_timestamp"):
        cutoff = pd.Timestamp(cutoff).tz_convert(None)
        late = expected.index[expected["min"] > cutoff]
        assert len(late) > 0
        assert not set(rows["user_id"].astype(str)) & set(late), cutoff
    assert len(table(settings, "churn_scores")) > 0


def test_a_second_event_source_is_coverage_checked_against_the_derived_customer_table(tmp_path):
    """The source the customer table is derived from is not checked against itself; another source is,
    and one whose keys are not the derived customers stops at raw naming the derived table."""
    _clicks(tmp_path)
    pd.DataFrame({"user_id": [f"X{i}" for i in range(1, 201)], "sent_at": pd.Timestamp("2026-06-01"),
                  "cost": 1.0}).to_parquet(tmp_path / "emails.parquet", index=False)
    extra = {"emails": {"path": "emails.parquet", "entity_key": "user_id", "timestamp_column": "sent_at",
                        "value_columns": ["cost"]}}
    settings = load_settings(_write(tmp_path, _events_only_settings(extra)))
    result = run_refresh(settings, selection=[dg.AssetKey(k) for k in ("raw_clicks", "raw_customers",
                                                                       "raw_emails")])
    failures = step_failures(result)
    assert set(failures) == {"raw_emails"}, failures
    assert "derived from events.clicks" in failures["raw_emails"] and "events.emails" in failures["raw_emails"]
    assert len(table(settings, "raw_customers")) == N_USERS


@pytest.mark.parametrize(("entity", "message"), [
    ({"derived_from": "clicks", "path": "customers.csv"}, "exactly one of entity.path"),
    ({"entity_key": "user_id"}, "exactly one of entity.path"),
    ({"derived_from": "nope"}, "entity.derived_from names 'nope', which is not an event source"),
    ({"derived_from": "clicks", "date_columns": ["last_seen"]}, "never a feature"),
])
def test_derived_entity_settings_are_validated(tmp_path, entity, message):
    raw = _events_only_settings()
    raw["entity"] = entity
    with pytest.raises(SettingsError, match=message):
        load_settings(_write(tmp_path, raw))


def test_an_entity_only_table_with_a_target_and_no_dates_trains_on_one_snapshot_per_customer(tmp_path):
    """`events: {}` and a target column without timestamps: the undated timeline (no as_of in the settings),
    one training cutoff although the default asks for two, and no customer twice in the training rows."""
    rng = np.random.default_rng(1)
    tenure = rng.integers(1, 72, N_USERS)
    contract = rng.choice(["monthly", "yearly"], N_USERS)
    risk = 0.1 + 0.4 * (contract == "monthly") + 0.3 * (tenure < 12)
    pd.DataFrame({"customer_id": [f"C{i:04d}" for i in range(N_USERS)], "tenure_months": tenure,
                  "contract": contract, "monthly_charges": rng.normal(60, 15, N_USERS).round(2),
                  "churn": np.where(rng.random(N_USERS) < risk, "Yes", "No")}).to_csv(tmp_path / "telco.csv",
                                                                                      index=False)
    raw = {"entity": {"path": "telco.csv", "entity_key": "customer_id"}, "events": {},
           "label": {"kind": "target_column", "target_column": "churn"},
           "business": {"value_column": None}}
    settings = load_settings(_write(tmp_path, raw))
    assert settings.timeline.as_of == "auto" and settings.timeline.training_cutoffs == 2
    result = run_refresh(settings)
    assert result.success, step_failures(result)

    timeline = result.output_for_node("analysis_timeline")
    assert timeline["as_of_source"] == "undated" and len(timeline["cutoffs"]) == 1
    train = training_rows(settings)
    assert len(train) == N_USERS and train["customer_id"].is_unique
    assert set(train["churned"].unique()) == {0, 1}
    assert len(table(settings, "churn_scores")) == N_USERS


def test_the_undated_timeline_rule():
    """Deterministic: the latest entity date, else the documented constant; several cutoffs of a static
    target without events collapse to one (with the reason), and nothing changes when there are events."""
    from datetime import datetime

    from retention_assets.core.timeline import UNDATED_CUTOFF, static_target_cutoffs, undated_timeline

    latest = datetime(2024, 3, 1, 12, tzinfo=UTC)
    dated, message = undated_timeline(latest, 30)
    assert dated.cutoffs == (latest,) and (dated.as_of - latest).days == 30 and dated.as_of_source == "undated"
    assert "latest entity date" in message
    assert undated_timeline(None, 30)[0].cutoffs == (UNDATED_CUTOFF,)
    n, warning = static_target_cutoffs(3, has_events=False, static_target=True)
    assert n == 1 and "asks for 3 cutoffs" in warning
    assert static_target_cutoffs(3, has_events=True, static_target=True) == (3, None)
    assert static_target_cutoffs(3, has_events=False, static_target=False) == (3, None)
