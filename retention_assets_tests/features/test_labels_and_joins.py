"""Labels are observed strictly after their cutoff; joins never fan out; gold rows are point in time."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pandas as pd
import pytest

from retention_assets.core.columns import SOURCE_ROW
from retention_assets.engine.duckdb_engine import DuckDBEngine
from retention_assets.features.gold import build_gold, training_sample
from retention_assets.features.labels import ActivitySource, LabelDefinition, labels_sql, write_labels
from retention_assets.features.silver import FanOutError, build_silver

AS_OF = datetime(2026, 6, 30, tzinfo=timezone.utc)
CUTOFF = AS_OF - timedelta(days=30)
H = timedelta(days=30)


@pytest.fixture
def engine(tmp_path):
    with DuckDBEngine(tmp_path / "tables") as engine:
        yield engine


def store(engine, name: str, frame: pd.DataFrame) -> str:
    engine.write_frame(name, frame)
    return engine.relation(name)


def labels_of(engine, definition: LabelDefinition, entity: pd.DataFrame, events: pd.DataFrame | None = None,
              snapshots=(CUTOFF, AS_OF)) -> pd.DataFrame:
    activity = [] if events is None else [ActivitySource(store(engine, "ev", events), "cid", "ts")]
    entity = entity.assign(**{SOURCE_ROW: range(1, len(entity) + 1)})
    return engine.frame(labels_sql(engine, definition, entity=store(engine, "entity", entity), activity=activity,
                                   snapshots=list(snapshots), as_of=AS_OF))


def inactivity(engine, events: list[tuple[str, datetime]], customers: list[str], signup: dict | None = None,
               active_within_days: int | None = 90) -> pd.DataFrame:
    frame = pd.DataFrame(events, columns=["cid", "ts"])
    frame["ts"] = pd.to_datetime(frame["ts"], utc=True)
    entity = pd.DataFrame({"cid": customers})
    if signup is not None:
        entity["signup"] = pd.to_datetime(entity["cid"].map(signup), utc=True)
    definition = LabelDefinition("inactivity", "cid", H,
                                 active_within=timedelta(days=active_within_days) if active_within_days else None,
                                 signup_column="signup" if signup is not None else None)
    labels = labels_of(engine, definition, entity, frame)
    return labels[labels["feature_timestamp"] == pd.Timestamp(CUTOFF)].set_index("cid")


def test_activity_after_the_cutoff_means_retained_and_none_means_churned(engine):
    labels = inactivity(engine, [("stay", CUTOFF - timedelta(days=5)), ("stay", CUTOFF + timedelta(days=3)),
                         ("gone", CUTOFF - timedelta(days=5))], ["stay", "gone"])
    assert labels.loc["stay", "churned"] == 0 and labels.loc["gone", "churned"] == 1


def test_label_window_is_cutoff_exclusive_and_horizon_inclusive(engine):
    labels = inactivity(engine, [("at_cutoff", CUTOFF), ("at_end", CUTOFF - timedelta(days=1)), ("at_end", CUTOFF + H)],
                        ["at_cutoff", "at_end"])
    assert labels.loc["at_cutoff", "churned"] == 1  # activity at the cutoff itself is history, not label
    assert labels.loc["at_end", "churned"] == 0


def test_customers_inactive_before_the_cutoff_or_not_yet_signed_up_are_not_eligible(engine):
    events = [("old", CUTOFF - timedelta(days=200)), ("new", CUTOFF + timedelta(days=1)),
              ("ok", CUTOFF - timedelta(days=10))]
    labels = inactivity(engine, events, ["old", "new", "ok"],
                        signup={"old": pd.Timestamp("2020-01-01", tz="UTC"), "new": pd.Timestamp(CUTOFF + timedelta(days=1)),
                                "ok": pd.Timestamp("2020-01-01", tz="UTC")})
    assert labels["eligible"].to_dict() == {"new": False, "old": False, "ok": True}


def test_scoring_snapshot_has_no_label(engine):
    events = pd.DataFrame({"cid": ["a"], "ts": [pd.Timestamp(AS_OF - timedelta(days=3))]})
    labels = labels_of(engine, LabelDefinition("inactivity", "cid", H), pd.DataFrame({"cid": ["a"]}), events)
    at_as_of = labels[labels["feature_timestamp"] == pd.Timestamp(AS_OF)]
    assert not at_as_of["label_available"].item() and pd.isna(at_as_of["churned"].item())
    at_cutoff = labels[labels["feature_timestamp"] == pd.Timestamp(CUTOFF)]
    assert at_cutoff["label_available"].item() and at_cutoff["churned"].item() == 0


def target_definition(**overrides) -> LabelDefinition:
    return LabelDefinition("target_column", "cid", H, target_column="churned_flag", **overrides)


def test_target_labels_with_timestamps_respect_each_cutoff(engine):
    entity = pd.DataFrame({"cid": ["early", "within", "later", "never"], "churned_flag": ["1", "yes", "true", "0"],
                           "churned_at": pd.to_datetime([CUTOFF - timedelta(days=1), CUTOFF + timedelta(days=2),
                                                         CUTOFF + H + timedelta(days=1), None], utc=True)})
    labels = labels_of(engine, target_definition(label_timestamp_column="churned_at"), entity, snapshots=[CUTOFF])
    labels = labels.set_index("cid")
    assert labels["eligible"].to_dict() == {"early": False, "within": True, "later": True, "never": True}
    assert labels.loc[["within", "later", "never"], "churned"].tolist() == [1, 0, 0]


def test_target_labels_without_timestamps_are_observed_at_the_as_of_time(engine):
    entity = pd.DataFrame({"cid": ["a", "b"], "churned_flag": ["1", "0"]})
    labels = labels_of(engine, target_definition(), entity).set_index(["cid", "feature_timestamp"])
    assert labels.loc[("a", pd.Timestamp(CUTOFF)), "churned"] == 1
    assert labels.loc[("a", pd.Timestamp(CUTOFF)), "label_timestamp"] == pd.Timestamp(AS_OF)
    assert pd.isna(labels.loc[("a", pd.Timestamp(AS_OF)), "churned"])


def test_a_target_that_is_not_binary_is_named_with_its_rows(engine):
    from retention_assets.core.errors import DataValidationError

    entity = pd.DataFrame({"cid": ["a", "b", "c"], "churned_flag": ["1", "maybe", "0"], SOURCE_ROW: [1, 2, 3]})
    with pytest.raises(DataValidationError, match=r"customers.csv, column 'churned_flag'.*rows 2"):
        write_labels(engine, target_definition(), entity=store(engine, "entity", entity), activity=[],
                     snapshots=[CUTOFF, AS_OF], as_of=AS_OF, target="labels", source_path="customers.csv")
    assert not engine.exists("labels")


def window_frame(customers, stamps, value):
    return pd.DataFrame([(c, t, value) for t in stamps for c in customers],
                        columns=["cid", "feature_timestamp", f"f{value}"])


def test_silver_has_one_row_per_customer_and_snapshot(engine):
    entity = pd.DataFrame({"cid": ["a", "b"], "signup": pd.to_datetime(["2026-01-01", "2026-06-01"], utc=True)})
    stamps = [pd.Timestamp(CUTOFF), pd.Timestamp(AS_OF)]
    store(engine, "entity", entity)
    store(engine, "w1", window_frame(["a", "b"], stamps, 1))
    info = build_silver(engine, entity_table="entity", key="cid", snapshots=stamps, inputs=["w1"],
                        date_columns=["signup"], target="silver")
    silver = engine.frame(f"SELECT * FROM {engine.relation('silver')}")
    assert info.rows == 4 and "signup" not in silver
    assert list(silver.columns) == ["cid", "feature_timestamp", "days_since_signup", "f1"]
    assert silver[["feature_timestamp", "cid"]].apply(tuple, axis=1).tolist() == sorted(
        silver[["feature_timestamp", "cid"]].apply(tuple, axis=1).tolist())
    b_at_cutoff = silver[(silver["cid"] == "b") & (silver["feature_timestamp"] == stamps[0])]
    assert b_at_cutoff["days_since_signup"].item() == pytest.approx(-1.0)


def test_a_join_that_would_fan_out_is_an_error(engine):
    stamps = [pd.Timestamp(AS_OF)]
    store(engine, "entity", pd.DataFrame({"cid": ["a", "b"]}))
    store(engine, "w1", pd.concat([window_frame(["a", "b"], stamps, 1), window_frame(["a"], stamps, 1)]))
    with pytest.raises(FanOutError, match=r"w1 .*repeats keys \[\('a'"):
        build_silver(engine, entity_table="entity", key="cid", snapshots=stamps, inputs=["w1"], target="silver")
    assert not engine.exists("silver")


def test_a_window_table_repeating_a_column_is_an_error(engine):
    stamps = [pd.Timestamp(AS_OF)]
    store(engine, "entity", pd.DataFrame({"cid": ["a"]}))
    store(engine, "w1", window_frame(["a"], stamps, 1))
    store(engine, "w2", window_frame(["a"], stamps, 1))
    with pytest.raises(FanOutError, match=r"w2 repeats columns \['f1'\]"):
        build_silver(engine, entity_table="entity", key="cid", snapshots=stamps, inputs=["w1", "w2"], target="silver")


def gold_inputs(engine):
    stamps = [pd.Timestamp(CUTOFF), pd.Timestamp(AS_OF)]
    store(engine, "silver", window_frame(["a", "b"], stamps, 1).assign(plan=["basic", None, "pro", "pro"]))
    store(engine, "labels", pd.DataFrame({
        "cid": ["a", "b", "a", "b"], "feature_timestamp": stamps[:1] * 2 + stamps[1:] * 2,
        "churned": pd.array([1, 0, pd.NA, pd.NA], dtype="Int64"),
        "label_timestamp": [pd.Timestamp(AS_OF)] * 2 + [pd.Timestamp(AS_OF + H)] * 2,
        "label_available": [True, True, False, False], "eligible": [True, False, True, True],
    }))


def test_gold_training_rows_are_eligible_cutoff_rows_with_labels(engine):
    gold_inputs(engine)
    build_gold(engine, silver_table="silver", labels_table="labels", key="cid", as_of=AS_OF, recommendations=[],
               target="gold")
    gold = engine.frame(f"SELECT * FROM {engine.relation('gold')}")
    assert (gold["feature_timestamp"] < gold["label_timestamp"]).all()
    assert gold["row_role"].tolist().count("score") == 2
    assert not gold.loc[gold["row_role"] == "score", "label_available"].any()
    assert training_sample(engine, "gold", None, 100, "cid")["cid"].tolist() == ["a"]


def test_gold_hashes_and_drops_what_the_accepted_recommendations_say(engine):
    from retention_assets.exploration.recommendations import Recommendation
    from retention_assets.features.gold import hash_bucket_of

    gold_inputs(engine)
    recs = [Recommendation("gold:c.plan:hash_encode", "gold", "c", "plan", "hash_encode", {"buckets": 7}),
            Recommendation("gold:c.f1:drop_column", "gold", "c", "f1", "drop_column"),
            Recommendation("gold:c.gone:drop_column", "gold", "c", "gone", "drop_column"),
            Recommendation("gold:c.churned:drop_column", "gold", "c", "churned", "drop_column")]
    _, applied = build_gold(engine, silver_table="silver", labels_table="labels", key="cid", as_of=AS_OF,
                            recommendations=recs, target="gold")
    gold = engine.frame(f"SELECT * FROM {engine.relation('gold')}")
    assert "f1" not in gold and "churned" in gold  # labels are protected
    assert gold["plan"].tolist() == [hash_bucket_of("basic", 7), None, hash_bucket_of("pro", 7),
                                     hash_bucket_of("pro", 7)]
    assert applied == ["gold:c.f1:drop_column", "gold:c.plan:hash_encode"]


def test_gold_refuses_silver_rows_without_labels(engine):
    gold_inputs(engine)
    store(engine, "labels", engine.frame(f"SELECT * FROM {engine.relation('labels')} WHERE cid = 'a'"))
    with pytest.raises(ValueError, match=r"labels has no row for \[\('b'"):
        build_gold(engine, silver_table="silver", labels_table="labels", key="cid", as_of=AS_OF, recommendations=[],
                   target="gold")


def test_target_labels_exclude_customers_who_signed_up_after_the_cutoff(engine):
    entity = pd.DataFrame({"cid": ["old", "new"], "churned_flag": ["0", "1"],
                           "signup": pd.to_datetime([CUTOFF - timedelta(days=100), CUTOFF + timedelta(days=1)], utc=True)})
    labels = labels_of(engine, target_definition(signup_column="signup"), entity, snapshots=[CUTOFF])
    assert labels.set_index("cid")["eligible"].to_dict() == {"old": True, "new": False}
