"""The timeline users can state: explicit cutoffs, validation cutoffs, and day-boundary semantics for
date-only events (a date D means the end of day D: its events in, the next day's out)."""

from __future__ import annotations

import tempfile
from datetime import date, datetime, timedelta, timezone

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from retention_assets.core.timeline import (
    Timeline,
    TimelineError,
    boundary_warnings,
    build_timeline,
    history_warnings,
    parse_windows,
)
from retention_assets.engine.duckdb_engine import DuckDBEngine
from retention_assets.settings import TimelineSettings
from retention_assets_tests.features.test_window_features import events_frame, run, value

UTC = timezone.utc
DAY = timedelta(days=1)


def midnight(d: date) -> datetime:
    return datetime(d.year, d.month, d.day, tzinfo=UTC)


def test_explicit_cutoffs_and_validation_cutoffs_round_trip():
    cutoffs = [date(2024, 1, 31), date(2024, 2, 29), date(2024, 3, 1)]
    tl = TimelineSettings(as_of=date(2024, 4, 30), training_cutoffs=cutoffs, validation_cutoffs=[date(2024, 2, 29)])
    timeline = build_timeline(tl.as_of, 30, tl.training_cutoffs, None, "settings", tl.validation_cutoffs)
    assert timeline.cutoffs == tuple(midnight(c) for c in cutoffs)
    assert timeline.validation_cutoffs == (midnight(date(2024, 2, 29)),)
    assert Timeline.from_dict(timeline.to_dict()) == timeline
    # the default: the latest cutoff; a timeline stored before validation cutoffs existed reads the same way
    default = build_timeline(tl.as_of, 30, tl.training_cutoffs, None, "settings")
    assert default.validation_cutoffs == (midnight(date(2024, 3, 1)),)
    old = {k: v for k, v in default.to_dict().items() if k in ("as_of", "cutoffs", "horizon_days", "as_of_source")}
    assert Timeline.from_dict(old).validation_cutoffs == default.validation_cutoffs
    assert build_timeline(tl.as_of, 30, [midnight(date(2024, 1, 1))], None, "settings").validation_cutoffs == ()


def test_a_cutoff_whose_label_window_ends_after_the_as_of_is_named():
    with pytest.raises(TimelineError, match="2024-04-15T00:00:00"):
        build_timeline(midnight(date(2024, 4, 30)), 30, [midnight(date(2024, 3, 1)), midnight(date(2024, 4, 15))],
                       None, "settings")
    # exactly at the as-of is allowed: (cutoff, cutoff + horizon] ends at as_of
    build_timeline(midnight(date(2024, 4, 30)), 30, [midnight(date(2024, 3, 31))], None, "settings")


@pytest.mark.parametrize("values, message", [
    ({"validation_cutoffs": [date(2024, 1, 1)]}, "explicit list"),
    ({"training_cutoffs": [date(2024, 1, 1), date(2024, 2, 1)], "validation_cutoffs": [date(2024, 3, 1)]},
     "not among training_cutoffs"),
    ({"training_cutoffs": [date(2024, 1, 1)], "validation_cutoffs": [date(2024, 1, 1)]}, "at least one"),
    ({"training_cutoffs": [datetime(2024, 1, 1, 12)], "date_only_events": True}, "time of day"),
])
def test_implausible_timeline_settings_fail_at_load(values, message):
    with pytest.raises(ValidationError, match=message):
        TimelineSettings(**values)


def test_short_history_before_a_cutoff_is_warned():
    tl = build_timeline(midnight(date(2024, 4, 30)), 30, [midnight(date(2024, 3, 2)), midnight(date(2024, 3, 31))],
                        None, "settings")
    warnings = history_warnings(tl, midnight(date(2024, 3, 1)), parse_windows(["7d", "30d", "all_time"]))
    assert len(warnings) == 1 and "2024-03-02" in warnings[0] and "30d" in warnings[0]
    assert history_warnings(tl, midnight(date(2023, 1, 1)), parse_windows(["30d", "all_time"])) == []


def test_boundary_warning_names_the_count_and_the_setting():
    tl = build_timeline(midnight(date(2024, 4, 30)), 30, 1, None, "data")
    warnings = boundary_warnings(tl, "events.tx", {tl.as_of: 17, tl.cutoffs[0]: 0}, midnight_only=True)
    assert len(warnings) == 1 and "17 event(s)" in warnings[0] and "date_only_events: true" in warnings[0]
    assert boundary_warnings(tl, "events.tx", {tl.as_of: 17}, midnight_only=False) == []  # timestamped data
    dated = build_timeline(midnight(date(2024, 4, 30)), 30, 1, None, "data", date_only=True)
    assert boundary_warnings(dated, "events.tx", {dated.as_of: 17}, midnight_only=True) == []
    assert "times of day" in boundary_warnings(dated, "events.tx", {}, midnight_only=False)[0]


def test_stamps_at_counts_events_on_the_snapshot_and_detects_date_only_stamps():
    from retention_assets.features.raw import stamps_at

    d = midnight(date(2024, 3, 1))
    with tempfile.TemporaryDirectory() as tables, DuckDBEngine(tables) as engine:
        engine.write_table("dated", "SELECT * FROM (VALUES (TIMESTAMPTZ '2024-03-01 00:00:00+00'), "
                                    "(TIMESTAMPTZ '2024-03-01 00:00:00+00'), (TIMESTAMPTZ '2024-02-28 00:00:00+00')) t(ts)")
        engine.write_table("timed", "SELECT * FROM (VALUES (TIMESTAMPTZ '2024-03-01 00:00:00+00'), "
                                    "(TIMESTAMPTZ '2024-03-01 00:00:00.000001+00')) t(ts)")
        assert stamps_at(engine, "dated", "ts", [d, d - DAY]) == ({d: 2, d - DAY: 0}, True)
        assert stamps_at(engine, "timed", "ts", [d]) == ({d: 1}, False)


# --------------------------------------------------------------------------------------------------
# date-only events: the day boundary as a property


BASE = date(2024, 1, 1)
days = st.integers(min_value=0, max_value=60)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.sampled_from(["a", "b"]), days), max_size=30), st.lists(days, min_size=1, max_size=3,
                                                                                       unique=True))
def test_a_snapshot_date_holds_exactly_the_events_of_the_days_up_to_and_including_it(event_days, snapshot_days):
    """Events stamped with dates only (midnight); a snapshot date D counts, in a window of n days, exactly
    the events dated D - n + 1 ... D: the whole day D in, day D + 1 out, day D - n out."""
    windows = parse_windows(["24h", "7d", "30d", "all_time"])
    rows = [(c, midnight(BASE + o * DAY), 1.0) for c, o in event_days]
    snapshots = sorted(midnight(BASE + o * DAY) for o in snapshot_days)
    frame = events_frame(rows) if rows else events_frame([("z", midnight(BASE), 0.0)]).iloc[:0]
    frames = run(frame, ["a", "b"], snapshots, windows)
    for snap in snapshots:
        d = snap.date()
        for window, n_days in (("24h", 1), ("7d", 7), ("30d", 30), ("all_time", 10**5)):
            for customer in ("a", "b"):
                want = sum(1 for c, o in event_days if c == customer and d - timedelta(days=n_days) < BASE + o * DAY <= d)
                assert value(frames, window, customer, "count", snap) == want, (customer, d, window)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(days, max_size=20), days, st.integers(min_value=1, max_value=20))
def test_a_cutoff_dates_label_window_is_the_next_horizon_days(event_days, cutoff_day, horizon):
    """The inactivity label at cutoff date c sees exactly the events dated c + 1 ... c + horizon."""
    from retention_assets.features.labels import ActivitySource, LabelDefinition, labels_sql

    cutoff = midnight(BASE + cutoff_day * DAY)
    as_of = cutoff + (horizon + 5) * DAY
    events = pd.DataFrame({"cid": ["a"] * len(event_days),
                           "ts": pd.to_datetime([midnight(BASE + o * DAY) for o in event_days], utc=True)})
    definition = LabelDefinition(kind="inactivity", key="cid", horizon=timedelta(days=horizon))
    with tempfile.TemporaryDirectory() as tables, DuckDBEngine(tables) as engine, \
            engine.registered("ev", events) as ev, engine.registered("ent", pd.DataFrame({"cid": ["a"]})) as ent:
        labels = engine.frame(labels_sql(engine, definition, entity=ent, activity=[ActivitySource(ev, "cid", "ts")],
                                         snapshots=[cutoff, as_of], as_of=as_of))
    got = labels[labels["feature_timestamp"] == pd.Timestamp(cutoff)]["churned"].iloc[0]
    active = any(cutoff.date() < BASE + o * DAY <= cutoff.date() + timedelta(days=horizon) for o in event_days)
    assert got == (0 if active else 1)


def _timeline_run(make_settings, tmp_path, small_sample, **timeline):
    """Only raw and the timeline, on the sample with its transactions stamped with dates only."""
    import dagster as dg

    from retention_assets_tests.pipeline import run_refresh

    events = pd.read_parquet(small_sample.transactions)
    events["event_ts"] = pd.to_datetime(events["event_ts"], utc=True).dt.floor("D")
    path = tmp_path / "dated" / "transactions.parquet"
    path.parent.mkdir(exist_ok=True)
    events.to_parquet(path)
    tickets = pd.read_csv(small_sample.support_tickets)
    tickets["created_at"] = pd.to_datetime(tickets["created_at"], utc=True).dt.strftime("%Y-%m-%d")
    tickets_path = path.parent / "support_tickets.csv"
    tickets.to_csv(tickets_path, index=False)
    settings = make_settings(directory=tmp_path / f"run{len(timeline)}", timeline={"as_of": "auto", **timeline},
                             events={"transactions": {"path": str(path), "entity_key": "customer_id",
                                                      "timestamp_column": "event_ts",
                                                      "negative_values": {"amount": "allow"}},
                                     "support_tickets": {"path": str(tickets_path),
                                                         "entity_key": "customer_id", "timestamp_column": "created_at"}})
    result = run_refresh(settings, selection=[dg.AssetKey(k) for k in
                                              ("raw_customers", "raw_transactions", "raw_support_tickets",
                                               "analysis_timeline")])
    assert result.success
    (materialization,) = [e.event_specific_data.materialization for e in result.get_asset_materialization_events()
                          if e.asset_key.to_user_string() == "analysis_timeline"]
    latest = max(events["event_ts"].max(), pd.to_datetime(tickets["created_at"], utc=True).max())
    return materialization.metadata, int((events["event_ts"] == latest).sum())


def test_an_auto_as_of_on_date_only_events_is_warned_until_the_day_boundary_is_stated(make_settings, tmp_path,
                                                                                     small_sample):
    metadata, on_latest_day = _timeline_run(make_settings, tmp_path, small_sample)
    warnings = metadata["warnings"].value
    assert any("events.transactions" in w and f"{on_latest_day:,} event(s)" in w and "date_only_events: true" in w
               for w in warnings), warnings
    assert metadata["day_boundary"].value.startswith("instant")
    metadata, _ = _timeline_run(make_settings, tmp_path, small_sample, date_only_events=True)
    assert not any("events.transactions" in w for w in metadata["warnings"].value)
    assert metadata["day_boundary"].value.startswith("date_only")


def test_the_model_validates_on_the_listed_validation_cutoffs():
    from retention_assets.model.training import fit_churn_model
    from retention_assets_tests.model.test_modeling import synthetic

    t1, t2, t3 = (midnight(date(2026, m, 1)) for m in (3, 4, 5))
    frame = synthetic(900, cutoffs=tuple(pd.Timestamp(t) for t in (t1, t2, t3)))
    features = ["signal", "noise", "plan"]
    middle = fit_churn_model(frame, features, "churned", "feature_timestamp", candidates=("logistic_regression",),
                             key=None, validation_cutoffs=[t2])
    assert middle.validation == "out_of_time" and middle.metrics["n_validation"] == 300
    assert set(frame["feature_timestamp"].iloc[middle.validation_rows]) == {pd.Timestamp(t2)}
    latest = fit_churn_model(frame, features, "churned", "feature_timestamp", candidates=("logistic_regression",))
    assert set(frame["feature_timestamp"].iloc[latest.validation_rows]) == {pd.Timestamp(t3)}
