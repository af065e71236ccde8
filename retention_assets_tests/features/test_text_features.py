"""Text columns as features: fitted only on text written by the earliest cutoff, aggregated by the shared window SQL.

Small hand-made ticket sets pin down leakage safety, window boundaries, nulls and the 0-component
fallbacks; the embedded sample checks that the components carry signal and are reproducible.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from retention_assets.engine.duckdb import connect
from retention_assets.features.text import (
    component_names,
    entity_text_features,
    event_text_window_features,
    fit_text_model,
)
from retention_assets.core.timeline import parse_windows

AS_OF = datetime(2026, 6, 30, 12, 0, tzinfo=timezone.utc)
CUTOFF = AS_OF - timedelta(days=30)
WINDOWS = parse_windows(["7d", "30d", "all_time"])
SAMPLE_TICKETS = Path(__file__).resolve().parents[2] / "retention_assets" / "sample" / "data" / "support_tickets.csv"

EARLY_TEXTS = [
    "the app keeps crashing on login",
    "I cannot reset my password on login",
    "please refund the last payment",
    "I was charged twice this month refund",
    "how do I cancel my subscription",
    "please close my account this month cancel",
    "the app shows an error at checkout",
    "my card was charged twice after I paused",
    "cancel my subscription please",
    "password reset link does not arrive",
]


def tickets(rows: list[tuple[str, datetime, object]]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=["cid", "ts", "text"])
    frame["ts"] = pd.to_datetime(frame["ts"], utc=True)
    return frame


def early_rows() -> list[tuple[str, datetime, str]]:
    """Ten tickets of customers a and b, all well before the earliest cutoff."""
    return [("ab"[i % 2], CUTOFF - timedelta(days=60 - i), text) for i, text in enumerate(EARLY_TEXTS)]


def run(events, customers=("a", "b", "c"), snapshots=(CUTOFF, AS_OF), windows=WINDOWS, n_components=3, **kwargs):
    return event_text_window_features(
        connect(), events, source="support_tickets", entity_key="cid", timestamp_column="ts",
        text_column="text", windows=list(windows), entity_keys=pd.Series(list(customers)),
        snapshots=list(snapshots), n_components=n_components, **kwargs,
    )


def row(frames, window: str, customer: str, snapshot: datetime) -> pd.Series:
    frame = frames[window]
    match = frame[(frame["cid"] == customer) & (frame["feature_timestamp"] == pd.Timestamp(snapshot))]
    assert len(match) == 1, f"expected one row for {customer} at {snapshot}, got {len(match)}"
    return match.iloc[0]


def means(frames, window: str, customer: str, snapshot: datetime) -> np.ndarray:
    r = row(frames, window, customer, snapshot)
    return r[[c for c in r.index if c.endswith("_mean")]].to_numpy(dtype=float)


# --- leakage safety --------------------------------------------------------------------------------


def test_model_is_fitted_only_on_text_at_or_before_the_earliest_snapshot():
    late = [("a", CUTOFF + timedelta(days=1), "zebra zebra quokka"), ("b", CUTOFF + timedelta(days=2), "zebra quokka")]
    at_cutoff = [("a", CUTOFF, "refund payment password"), ("b", CUTOFF, "refund payment password")]
    _, model = run(tickets(early_rows() + at_cutoff + late))
    vocabulary = model.vectorizer.vocabulary_
    assert "zebra" not in vocabulary and "quokka" not in vocabulary
    assert "refund" in vocabulary  # a text exactly at the cutoff may be used
    assert model.fitted_rows == len(EARLY_TEXTS) + 2
    assert model.fitted_through == pd.Timestamp(CUTOFF).isoformat()


def test_texts_after_the_earliest_snapshot_do_not_change_the_model_or_the_earliest_features():
    base = early_rows()
    later = [("a", CUTOFF + timedelta(hours=1), "completely new words about refunds and logins"),
             ("c", AS_OF - timedelta(days=1), "cancel cancel cancel")]
    changed = [("a", CUTOFF + timedelta(hours=1), "different later words entirely"),
               ("b", AS_OF, "password password crashing app")] * 3
    frames_0, model_0 = run(tickets(base + later))
    for extra in (changed, later[:1], []):
        # Rows also shuffled: the model must not depend on input order either.
        frames_1, model_1 = run(tickets(base + extra).sample(frac=1.0, random_state=3))
        assert model_1.vectorizer.vocabulary_ == model_0.vectorizer.vocabulary_
        np.testing.assert_array_equal(model_1.vectorizer.idf_, model_0.vectorizer.idf_)
        np.testing.assert_array_equal(model_1.svd.components_, model_0.svd.components_)
        for window in frames_0:
            earliest_0 = frames_0[window][frames_0[window]["feature_timestamp"] == pd.Timestamp(CUTOFF)]
            earliest_1 = frames_1[window][frames_1[window]["feature_timestamp"] == pd.Timestamp(CUTOFF)]
            pd.testing.assert_frame_equal(earliest_0.reset_index(drop=True), earliest_1.reset_index(drop=True))


def test_later_text_still_gets_projected_with_the_early_model():
    late_text = "please refund the last payment"
    frames, _ = run(tickets(early_rows() + [("c", AS_OF - timedelta(days=2), late_text)]))
    assert np.isnan(means(frames, "all_time", "c", CUTOFF)).all()
    assert np.abs(means(frames, "7d", "c", AS_OF)).max() > 0


# --- window semantics and shape ----------------------------------------------------------------------


def test_window_is_half_open_an_event_at_as_of_minus_window_is_out_one_at_as_of_is_in():
    rows = early_rows() + [("c", AS_OF - timedelta(days=7), "how do I cancel my subscription"),
                           ("a", AS_OF, "the app keeps crashing on login")]
    # A customer that has no other recent text: the only candidate events sit exactly on the boundaries.
    frames, model = run(tickets(rows))
    assert np.isnan(means(frames, "7d", "c", AS_OF)).all()  # exactly at AS_OF - 7d: excluded
    assert not np.isnan(means(frames, "30d", "c", AS_OF)).any()  # ... but inside 30d
    expected = model.transform(pd.Series(["the app keeps crashing on login"])).to_numpy()[0]
    np.testing.assert_allclose(means(frames, "7d", "a", AS_OF), expected)  # exactly at AS_OF: included


def test_means_average_the_components_of_the_texts_in_the_window():
    texts = ["please refund the last payment", "how do I cancel my subscription"]
    rows = early_rows() + [("c", AS_OF - timedelta(days=1), texts[0]), ("c", AS_OF - timedelta(days=2), texts[1])]
    frames, model = run(tickets(rows))
    expected = model.transform(pd.Series(texts)).to_numpy().mean(axis=0)
    np.testing.assert_allclose(means(frames, "7d", "c", AS_OF), expected)


def test_customers_without_text_get_null_means_and_every_customer_one_row_per_snapshot():
    rows = early_rows() + [("a", AS_OF - timedelta(days=3), None), ("a", AS_OF - timedelta(days=2), "   ")]
    frames, _ = run(tickets(rows), customers=["a", "b", "c", "d"])
    for frame in frames.values():
        assert len(frame) == 8
        assert not frame.duplicated(["cid", "feature_timestamp"]).any()
    assert np.isnan(means(frames, "all_time", "d", AS_OF)).all()  # never wrote anything
    assert np.isnan(means(frames, "7d", "a", AS_OF)).all()  # only missing / blank text in the window
    assert not np.isnan(means(frames, "all_time", "a", AS_OF)).any()


def test_columns_are_named_per_source_text_column_window_and_component_only():
    frames, model = run(tickets(early_rows()))
    assert set(frames) == {"7d", "30d", "all_time"}
    assert list(frames["30d"].columns) == [
        "cid", "feature_timestamp",
        "support_tickets_text_30d_svd_0_mean", "support_tickets_text_30d_svd_1_mean",
        "support_tickets_text_30d_svd_2_mean",
    ]
    # No count / recency columns: those would duplicate the source's own window features.
    assert not any(c.endswith(("_count", "days_since_last", "days_since_first")) for f in frames.values() for c in f)
    assert model.n_components == 3


# --- graceful zero-component fallbacks ---------------------------------------------------------------


@pytest.mark.parametrize(
    "rows",
    [
        pytest.param([("a", CUTOFF + timedelta(days=1), "only text after the cutoff here")], id="no-text-before-cutoff"),
        pytest.param([("ab"[i % 2], CUTOFF - timedelta(days=i), "login refund") for i in range(6)]
                     + [("a", AS_OF, "login")], id="too-few-terms"),
        pytest.param([("a", CUTOFF - timedelta(days=1), "login refund password"),
                      ("b", CUTOFF - timedelta(days=2), "login refund crashing")], id="fewer-texts-than-components"),
        pytest.param([("a", CUTOFF - timedelta(days=1), None), ("b", CUTOFF - timedelta(days=2), "")], id="all-empty"),
        pytest.param([], id="no-events"),
    ],
)
def test_nothing_to_learn_gives_zero_components_and_no_exception(rows):
    frame = tickets(rows) if rows else tickets([("a", AS_OF, "x")]).iloc[:0]
    frames, model = run(frame)
    assert model.n_components == 0
    for frame in frames.values():
        assert list(frame.columns) == ["cid", "feature_timestamp"]
        assert len(frame) == 6


def test_an_entirely_missing_text_column_does_not_fail():
    frame = tickets([("a", CUTOFF - timedelta(days=1), None), ("b", AS_OF, None)])
    frame["text"] = np.nan  # float dtype, as pandas reads an empty CSV column
    frames, model = run(frame)
    assert model.n_components == 0 and model.fitted_rows == 0
    assert len(frames["all_time"]) == 6


def test_fit_text_model_rejects_nonsense_parameters():
    with pytest.raises(ValueError, match="min_df"):
        fit_text_model(pd.Series(EARLY_TEXTS), "text", min_df=0)
    with pytest.raises(ValueError, match="n_components"):
        fit_text_model(pd.Series(EARLY_TEXTS), "text", n_components=-1)


def test_transform_maps_missing_empty_and_unknown_text_to_zeros():
    model = fit_text_model(pd.Series(EARLY_TEXTS), "text", n_components=3)
    out = model.transform(pd.Series([None, "", "entirely unseen vocabulary", "cancel my subscription"], index=[5, 6, 7, 8]))
    assert list(out.columns) == ["svd_0", "svd_1", "svd_2"] and list(out.index) == [5, 6, 7, 8]
    assert (out.loc[[5, 6, 7]].to_numpy() == 0).all()
    assert np.abs(out.loc[8].to_numpy()).max() > 0


# --- entity text columns -------------------------------------------------------------------------------


def test_entity_text_features_give_one_row_per_key_with_named_components():
    model = fit_text_model(pd.Series(EARLY_TEXTS), "note", n_components=2)
    entity = pd.DataFrame({"cid": ["a", "b", "c"], "note": ["cancel my subscription", None, "app crashing"]})
    out = entity_text_features(entity, "cid", "customers", "note", model)
    assert component_names("customers", "note", 2) == ["customers_note_svd_0", "customers_note_svd_1"]
    assert list(out.columns) == ["cid", "customers_note_svd_0", "customers_note_svd_1"]
    assert list(out["cid"]) == ["a", "b", "c"]
    assert (out.loc[1, ["customers_note_svd_0", "customers_note_svd_1"]] == 0).all()


def test_entity_text_features_refuse_duplicate_keys():
    model = fit_text_model(pd.Series(EARLY_TEXTS), "note", n_components=2)
    entity = pd.DataFrame({"cid": ["a", "a"], "note": ["x", "y"]})
    with pytest.raises(ValueError, match="duplicate keys"):
        entity_text_features(entity, "cid", "customers", "note", model)


# --- the embedded sample ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sample_tickets() -> pd.DataFrame:
    frame = pd.read_csv(SAMPLE_TICKETS, dtype=str)
    frame["created_at"] = pd.to_datetime(frame["created_at"], utc=True, format="ISO8601")
    return frame


def sample_run(frame: pd.DataFrame):
    as_of = datetime(2026, 6, 30, tzinfo=timezone.utc)
    snapshots = [as_of - timedelta(days=60), as_of - timedelta(days=30), as_of]
    return event_text_window_features(
        connect(), frame, source="support_tickets", entity_key="customer_id", timestamp_column="created_at",
        text_column="text", windows=parse_windows(["30d", "90d", "all_time"]),
        entity_keys=pd.Series(sorted(frame["customer_id"].unique())), snapshots=snapshots,
    )


def test_sample_components_separate_cancellation_from_technical_tickets(sample_tickets):
    _, model = sample_run(sample_tickets)
    assert model.n_components == 8
    components = model.transform(sample_tickets["text"])
    by_topic = components.groupby(sample_tickets["topic"]).mean()
    gap = (by_topic.loc["cancellation"] - by_topic.loc["technical"]).abs()
    assert gap.max() > 0.1, by_topic
    # A negative control: two random halves of the same topic do not differ like that.
    technical = components[sample_tickets["topic"] == "technical"]
    halves = technical.iloc[::2].mean() - technical.iloc[1::2].mean()
    assert halves.abs().max() < gap.max() / 3


def test_sample_same_inputs_give_identical_outputs(sample_tickets):
    frames_1, model_1 = sample_run(sample_tickets)
    frames_2, model_2 = sample_run(sample_tickets.copy())
    np.testing.assert_array_equal(model_1.svd.components_, model_2.svd.components_)
    for window in frames_1:
        pd.testing.assert_frame_equal(frames_1[window], frames_2[window])
    customers = sample_tickets["customer_id"].nunique()
    assert all(len(f) == 3 * customers for f in frames_1.values())
