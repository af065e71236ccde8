"""Labels are observed strictly after their cutoff; joins never fan out; gold rows are point in time."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pandas as pd
import pytest

from retention_assets.engine.duckdb import connect
from retention_assets.features.gold import build_gold, training_rows
from retention_assets.features.labels import finalize_labels, inactivity_labels_sql, target_column_labels
from retention_assets.features.silver import FanOutError, join_silver
from retention_assets.engine.dialect import DUCKDB

AS_OF = datetime(2026, 6, 30, tzinfo=timezone.utc)
CUTOFF = AS_OF - timedelta(days=30)
H = timedelta(days=30)


def inactivity(events: list[tuple[str, datetime]], customers: list[str], signup: dict | None = None,
               active_within_days: int | None = 90) -> pd.DataFrame:
    con = connect()
    frame = pd.DataFrame(events, columns=["cid", "ts"])
    frame["ts"] = pd.to_datetime(frame["ts"], utc=True)
    con.register("ev", frame)
    spine = pd.DataFrame([(c, pd.Timestamp(t)) for t in (CUTOFF, AS_OF) for c in customers],
                         columns=["cid", "feature_timestamp"])
    if signup is not None:
        spine["signup"] = pd.to_datetime(spine["cid"].map(signup), utc=True)
    con.register("spine", spine)
    sql = inactivity_labels_sql(DUCKDB, [("ev", "cid", "ts")], "spine", "cid", horizon_hours=30 * 24,
                                active_within_hours=active_within_days * 24 if active_within_days else None,
                                signup="signup" if signup is not None else None)
    labels = finalize_labels(con.execute(sql).df(), AS_OF, H)
    return labels[labels["feature_timestamp"] == pd.Timestamp(CUTOFF)].set_index("cid")


def test_activity_after_the_cutoff_means_retained_and_none_means_churned():
    labels = inactivity([("stay", CUTOFF - timedelta(days=5)), ("stay", CUTOFF + timedelta(days=3)),
                         ("gone", CUTOFF - timedelta(days=5))], ["stay", "gone"])
    assert labels.loc["stay", "churned"] == 0 and labels.loc["gone", "churned"] == 1


def test_label_window_is_cutoff_exclusive_and_horizon_inclusive():
    labels = inactivity([("at_cutoff", CUTOFF), ("at_end", CUTOFF - timedelta(days=1)), ("at_end", CUTOFF + H)],
                        ["at_cutoff", "at_end"])
    assert labels.loc["at_cutoff", "churned"] == 1  # activity at the cutoff itself is history, not label
    assert labels.loc["at_end", "churned"] == 0


def test_customers_inactive_before_the_cutoff_or_not_yet_signed_up_are_not_eligible():
    events = [("old", CUTOFF - timedelta(days=200)), ("new", CUTOFF + timedelta(days=1)),
              ("ok", CUTOFF - timedelta(days=10))]
    labels = inactivity(events, ["old", "new", "ok"],
                        signup={"old": pd.Timestamp("2020-01-01", tz="UTC"), "new": pd.Timestamp(CUTOFF + timedelta(days=1)),
                                "ok": pd.Timestamp("2020-01-01", tz="UTC")})
    assert labels["eligible"].to_dict() == {"new": False, "old": False, "ok": True}


def test_scoring_snapshot_has_no_label():
    frame = pd.DataFrame({"cid": ["a"], "feature_timestamp": [pd.Timestamp(AS_OF)], "churned": [True],
                          "eligible": [True]})
    labels = finalize_labels(frame, AS_OF, H)
    assert not labels["label_available"].item() and pd.isna(labels["churned"].item())


def test_target_labels_with_timestamps_respect_each_cutoff():
    entity = pd.DataFrame({"cid": ["early", "within", "later", "never"]})
    target = pd.Series([1, 1, 1, 0])
    label_ts = pd.Series(pd.to_datetime([CUTOFF - timedelta(days=1), CUTOFF + timedelta(days=2),
                                         CUTOFF + H + timedelta(days=1), None], utc=True))
    labels = target_column_labels(entity, "cid", target, label_ts, [CUTOFF], AS_OF, H).set_index("cid")
    assert labels["eligible"].to_dict() == {"early": False, "within": True, "later": True, "never": True}
    assert labels.loc[["within", "later", "never"], "churned"].tolist() == [1, 0, 0]


def window_frame(customers, stamps, value):
    return pd.DataFrame([(c, t, value) for t in stamps for c in customers],
                        columns=["cid", "feature_timestamp", f"f{value}"])


def test_silver_has_one_row_per_customer_and_snapshot():
    entity = pd.DataFrame({"cid": ["a", "b"], "signup": pd.to_datetime(["2026-01-01", "2026-06-01"], utc=True)})
    stamps = [pd.Timestamp(CUTOFF), pd.Timestamp(AS_OF)]
    silver = join_silver(entity, "cid", stamps, {"w1": window_frame(["a", "b"], stamps, 1)}, date_columns=["signup"])
    assert len(silver) == 4 and "signup" not in silver
    b_at_cutoff = silver[(silver["cid"] == "b") & (silver["feature_timestamp"] == stamps[0])]
    assert b_at_cutoff["days_since_signup"].item() == pytest.approx(-1.0)


def test_a_join_that_would_fan_out_is_an_error():
    entity = pd.DataFrame({"cid": ["a", "b"]})
    stamps = [pd.Timestamp(AS_OF)]
    doubled = pd.concat([window_frame(["a", "b"], stamps, 1), window_frame(["a"], stamps, 1)])
    with pytest.raises(FanOutError, match=r"w1 .*repeats keys \[\('a'"):
        join_silver(entity, "cid", stamps, {"w1": doubled})


def test_gold_training_rows_are_eligible_cutoff_rows_with_labels():
    stamps = [pd.Timestamp(CUTOFF), pd.Timestamp(AS_OF)]
    silver = window_frame(["a", "b"], stamps, 1)
    labels = pd.DataFrame({
        "cid": ["a", "b", "a", "b"], "feature_timestamp": stamps[:1] * 2 + stamps[1:] * 2,
        "churned": pd.array([1, 0, pd.NA, pd.NA], dtype="Int64"),
        "label_timestamp": [pd.Timestamp(AS_OF)] * 2 + [pd.Timestamp(AS_OF + H)] * 2,
        "label_available": [True, True, False, False], "eligible": [True, False, True, True],
    })
    gold = build_gold(silver, labels, "cid", AS_OF)
    assert (gold["feature_timestamp"] < gold["label_timestamp"]).all()
    assert gold["row_role"].tolist().count("score") == 2
    assert training_rows(gold)["cid"].tolist() == ["a"]


def test_target_labels_exclude_customers_who_signed_up_after_the_cutoff():
    entity = pd.DataFrame({"cid": ["old", "new"]})
    signup = pd.Series(pd.to_datetime([CUTOFF - timedelta(days=100), CUTOFF + timedelta(days=1)], utc=True))
    labels = target_column_labels(entity, "cid", pd.Series([0, 1]), None, [CUTOFF], AS_OF, H, signup=signup)
    assert labels.set_index("cid")["eligible"].to_dict() == {"old": True, "new": False}
