"""Text columns as features: fitted only on text written by the earliest cutoff, aggregated by the shared window SQL.

Everything runs through the engine (`DuckDBEngine` on a temporary directory), as the assets do. Small
hand-made ticket sets pin down leakage safety, window boundaries, blank texts, the bounded fitting
sample, batching and the 0-component fallbacks; the embedded sample checks that the components carry
signal and are reproducible.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from retention_assets.core.timeline import parse_windows
from retention_assets.engine.duckdb_engine import DuckDBEngine
from retention_assets.features.text import (
    build_entity_text_features,
    build_event_text_features,
    component_names,
    fit_text_model,
)

AS_OF = datetime(2026, 6, 30, 12, 0, tzinfo=timezone.utc)
CUTOFF = AS_OF - timedelta(days=30)
WINDOWS = parse_windows(["7d", "30d", "all_time"])
TARGET = "bronze_text_support_tickets"
SAMPLE_DATA = Path(__file__).resolve().parents[2] / "retention_assets" / "sample" / "data"

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


@pytest.fixture
def engine(tmp_path):
    with DuckDBEngine(tmp_path / "tables", memory_limit="1GB", threads=2) as eng:
        yield eng


def tickets(rows: list[tuple[str, datetime, object]]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=["cid", "ts", "text"])
    frame["ts"] = pd.to_datetime(frame["ts"], utc=True)
    return frame


def early_rows() -> list[tuple[str, datetime, str]]:
    """Ten tickets of customers a and b, all well before the earliest cutoff."""
    return [("ab"[i % 2], CUTOFF - timedelta(days=60 - i), text) for i, text in enumerate(EARLY_TEXTS)]


def run(engine, events: pd.DataFrame, customers=("a", "b", "c"), snapshots=(CUTOFF, AS_OF), windows=WINDOWS,
        n_components=3, text_columns=("text",), **kwargs):
    """Store the inputs as tables, build the features, and read the written table back."""
    engine.write_frame("raw_tickets", events)
    engine.write_frame("raw_customers", pd.DataFrame({"cid": pd.Series(list(customers), dtype=object)}))
    report = build_event_text_features(
        engine, events=engine.relation("raw_tickets"), entity=engine.relation("raw_customers"),
        source="support_tickets", event_key="cid", entity_key="cid", timestamp_column="ts",
        text_columns=list(text_columns), windows=list(windows), snapshots=list(snapshots),
        n_components=n_components, target=TARGET, **kwargs,
    )
    return engine.frame(f"SELECT * FROM {engine.relation(TARGET)}"), report


def row(frame: pd.DataFrame, customer: str, snapshot: datetime) -> pd.Series:
    match = frame[(frame["cid"] == customer) & (frame["feature_timestamp"] == pd.Timestamp(snapshot))]
    assert len(match) == 1, f"expected one row for {customer} at {snapshot}, got {len(match)}"
    return match.iloc[0]


def means(frame: pd.DataFrame, window: str, customer: str, snapshot: datetime, column: str = "text") -> np.ndarray:
    r = row(frame, customer, snapshot)
    prefix = f"support_tickets_{column}_{window}_svd_"
    return r[[c for c in r.index if c.startswith(prefix) and c.endswith("_mean")]].to_numpy(dtype=float)


def assert_same_model(first, second) -> None:
    assert first.vectorizer.vocabulary_ == second.vectorizer.vocabulary_
    np.testing.assert_array_equal(first.vectorizer.idf_, second.vectorizer.idf_)
    np.testing.assert_array_equal(first.svd.components_, second.svd.components_)


def assert_same_table(first: pd.DataFrame, second: pd.DataFrame) -> None:
    """Equal up to the rounding of a parallel engine's averages (the model itself is bit-identical)."""
    pd.testing.assert_frame_equal(first, second, check_exact=False, rtol=1e-12, atol=1e-15)


# --- leakage safety --------------------------------------------------------------------------------


def test_model_is_fitted_only_on_text_at_or_before_the_earliest_snapshot(engine):
    late = [("a", CUTOFF + timedelta(days=1), "zebra zebra quokka"), ("b", CUTOFF + timedelta(days=2), "zebra quokka")]
    at_cutoff = [("a", CUTOFF, "refund payment password"), ("b", CUTOFF, "refund payment password")]
    _, report = run(engine, tickets(early_rows() + at_cutoff + late))
    fitted = report.column("text")
    vocabulary = fitted.model.vectorizer.vocabulary_
    assert "zebra" not in vocabulary and "quokka" not in vocabulary
    assert "refund" in vocabulary  # a text exactly at the cutoff may be used
    assert fitted.fitted_rows == fitted.candidate_rows == len(EARLY_TEXTS) + 2
    assert not fitted.sampled
    assert fitted.fitted_through == CUTOFF.isoformat()


def test_texts_after_the_earliest_snapshot_do_not_change_the_model_or_the_earliest_features(engine):
    base = early_rows()
    later = [("a", CUTOFF + timedelta(hours=1), "completely new words about refunds and logins"),
             ("c", AS_OF - timedelta(days=1), "cancel cancel cancel")]
    changed = [("a", CUTOFF + timedelta(hours=1), "different later words entirely"),
               ("b", AS_OF, "password password crashing app")] * 3
    frame_0, report_0 = run(engine, tickets(base + later))
    for extra in (changed, later[:1], []):
        # Rows also shuffled: the model must not depend on input order either.
        frame_1, report_1 = run(engine, tickets(base + extra).sample(frac=1.0, random_state=3))
        assert_same_model(report_1.column("text").model, report_0.column("text").model)
        earliest_0 = frame_0[frame_0["feature_timestamp"] == pd.Timestamp(CUTOFF)].reset_index(drop=True)
        earliest_1 = frame_1[frame_1["feature_timestamp"] == pd.Timestamp(CUTOFF)].reset_index(drop=True)
        assert_same_table(earliest_0, earliest_1)
    assert not frame_0.equals(frame_1)  # the later texts do reach the later snapshot


def test_later_text_still_gets_projected_with_the_early_model(engine):
    late_text = "please refund the last payment"
    frame, _ = run(engine, tickets(early_rows() + [("c", AS_OF - timedelta(days=2), late_text)]))
    assert np.isnan(means(frame, "all_time", "c", CUTOFF)).all()
    assert np.abs(means(frame, "7d", "c", AS_OF)).max() > 0


# --- window semantics and shape ----------------------------------------------------------------------


def test_window_is_half_open_an_event_at_as_of_minus_window_is_out_one_at_as_of_is_in(engine):
    rows = early_rows() + [("c", AS_OF - timedelta(days=7), "how do I cancel my subscription"),
                           ("a", AS_OF, "the app keeps crashing on login")]
    # A customer that has no other recent text: the only candidate events sit exactly on the boundaries.
    frame, report = run(engine, tickets(rows))
    assert np.isnan(means(frame, "7d", "c", AS_OF)).all()  # exactly at AS_OF - 7d: excluded
    assert not np.isnan(means(frame, "30d", "c", AS_OF)).any()  # ... but inside 30d
    expected = report.column("text").model.transform(pd.Series(["the app keeps crashing on login"])).to_numpy()[0]
    np.testing.assert_allclose(means(frame, "7d", "a", AS_OF), expected)  # exactly at AS_OF: included


def test_events_older_than_every_bounded_window_are_not_needed_but_change_nothing(engine):
    # Without an all_time window the projection skips events no window can reach; the means must not move.
    old = [("c", CUTOFF - timedelta(days=31), "how do I cancel my subscription")]
    recent = [("c", CUTOFF - timedelta(days=20), "please refund the last payment")]  # in 30d, not in 7d
    bounded = parse_windows(["7d", "30d"])
    frame, report = run(engine, tickets(early_rows() + old + recent), windows=bounded)
    expected = report.column("text").model.transform(pd.Series([recent[0][2]])).to_numpy()[0]
    np.testing.assert_allclose(means(frame, "30d", "c", CUTOFF), expected)
    assert np.isnan(means(frame, "30d", "c", AS_OF)).all()


def test_means_average_the_components_of_the_texts_in_the_window(engine):
    texts = ["please refund the last payment", "how do I cancel my subscription"]
    rows = early_rows() + [("c", AS_OF - timedelta(days=1), texts[0]), ("c", AS_OF - timedelta(days=2), texts[1])]
    frame, report = run(engine, tickets(rows))
    expected = report.column("text").model.transform(pd.Series(texts)).to_numpy().mean(axis=0)
    np.testing.assert_allclose(means(frame, "7d", "c", AS_OF), expected)


def test_missing_and_blank_texts_are_not_events(engine):
    # NBSP and EM SPACE are whitespace to Python but not to the engine's regular expressions.
    blanks = [("a", AS_OF - timedelta(days=3), None), ("a", AS_OF - timedelta(days=2), "   "),
              ("a", AS_OF - timedelta(days=1), "\u00a0\t\u2003\n")]
    text = "please refund the last payment"
    frame, report = run(engine, tickets(early_rows() + blanks + [("b", AS_OF - timedelta(days=1), text)]))
    assert np.isnan(means(frame, "7d", "a", AS_OF)).all()  # only missing / blank text in the window
    assert not np.isnan(means(frame, "all_time", "a", AS_OF)).any()
    # A blank text would pull b's mean towards zero if it were counted; b's own text is the whole mean.
    frame_b, _ = run(engine, tickets(early_rows() + [("b", AS_OF - timedelta(days=1), text),
                                                     ("b", AS_OF - timedelta(days=2), "\u2003")]))
    expected = report.column("text").model.transform(pd.Series([text])).to_numpy()[0]
    np.testing.assert_allclose(means(frame_b, "7d", "b", AS_OF), expected)


def test_every_entity_key_gets_exactly_one_row_per_snapshot_in_timestamp_key_order(engine):
    rows = early_rows() + [("z", AS_OF - timedelta(days=1), "cancel my subscription please")]  # z: not a customer
    frame, _ = run(engine, tickets(rows), customers=["d", "a", "b", "a", None, "c"])
    expected = [(pd.Timestamp(s), k) for s in (CUTOFF, AS_OF) for k in ("a", "b", "c", "d")]
    assert list(zip(frame["feature_timestamp"], frame["cid"])) == expected
    assert np.isnan(means(frame, "all_time", "d", AS_OF)).all()  # never wrote anything


def test_keys_are_compared_as_text_across_differently_named_and_typed_key_columns(engine):
    events = tickets(early_rows()).assign(customer=lambda f: f["cid"].map({"a": 1, "b": 2})).drop(columns="cid")
    engine.write_frame("raw_tickets", events)
    engine.write_frame("raw_customers", pd.DataFrame({"cid": [2, 1, 3]}))
    build_event_text_features(
        engine, events=engine.relation("raw_tickets"), entity=engine.relation("raw_customers"),
        source="support_tickets", event_key="customer", entity_key="cid", timestamp_column="ts",
        text_columns=["text"], windows=WINDOWS, snapshots=[AS_OF], n_components=3, target=TARGET,
    )
    frame = engine.frame(f"SELECT * FROM {engine.relation(TARGET)}")
    assert list(frame["cid"]) == ["1", "2", "3"]
    assert not np.isnan(means(frame, "all_time", "1", AS_OF)).any()
    assert np.isnan(means(frame, "all_time", "3", AS_OF)).all()


def test_columns_are_named_per_source_text_column_window_and_component_only(engine):
    frame, report = run(engine, tickets(early_rows()))
    names = [f"support_tickets_text_{w}_svd_{i}_mean" for w in ("7d", "30d", "all_time") for i in range(3)]
    assert list(frame.columns) == ["cid", "feature_timestamp", *names]
    assert list(report.column("text").features) == names
    assert report.column("text").n_components == 3
    assert str(frame["feature_timestamp"].dt.tz) == "UTC"


def test_each_text_column_has_its_own_model_component_count_and_events(engine):
    frame = tickets(early_rows())
    frame["subject"] = ["login", "billing issue", "refund", "billing refund", "cancel", "cancel account",
                        "app error", "billing", "cancel please", "login password"]
    frame.loc[len(frame)] = ["c", AS_OF - timedelta(days=1), "please refund the last payment", None]
    out, report = run(engine, frame, text_columns=("text", "subject"), n_components={"text": 3, "subject": 2})
    assert report.column("text").n_components == 3 and report.column("subject").n_components == 2
    assert "payment" not in report.column("subject").model.vectorizer.vocabulary_
    assert [c for c in out.columns if c.startswith("support_tickets_subject_")] == [
        f"support_tickets_subject_{w}_svd_{i}_mean" for w in ("7d", "30d", "all_time") for i in range(2)]
    # c's ticket has a text but no subject: it is an event of the text column only.
    assert not np.isnan(means(out, "7d", "c", AS_OF, "text")).any()
    assert np.isnan(means(out, "7d", "c", AS_OF, "subject")).all()
    assert len(out) == 6


def test_intermediate_tables_are_dropped(engine):
    frame = tickets(early_rows())
    frame["subject"] = frame["text"].str.upper()
    run(engine, frame, text_columns=("text", "subject"))
    assert sorted(p.name for p in engine.tables_dir.iterdir()) == [
        f"{TARGET}.parquet", "raw_customers.parquet", "raw_tickets.parquet"]


# --- the bounded fitting sample and batching -----------------------------------------------------------


def test_a_fit_bound_at_or_above_the_number_of_texts_changes_nothing(engine):
    rows = early_rows() + [("c", AS_OF - timedelta(days=1), "please refund the last payment")]
    frame_all, report_all = run(engine, tickets(rows))
    frame_bound, report_bound = run(engine, tickets(rows), fit_rows=len(EARLY_TEXTS))
    assert not report_bound.column("text").sampled
    assert report_bound.column("text").fitted_rows == len(EARLY_TEXTS)
    assert_same_model(report_bound.column("text").model, report_all.column("text").model)
    assert_same_table(frame_bound, frame_all)


def test_a_fit_bound_below_the_number_of_texts_fits_a_deterministic_sample_of_early_texts(engine):
    late = [("a", CUTOFF + timedelta(days=1), "zebra quokka"), ("b", CUTOFF + timedelta(days=2), "zebra quokka")]
    rows = early_rows() + late
    frame, report = run(engine, tickets(rows), fit_rows=6)
    sampled = report.column("text")
    assert sampled.sampled and sampled.fitted_rows == 6 and sampled.candidate_rows == len(EARLY_TEXTS)
    full = run(engine, tickets(rows))[1].column("text").model
    assert set(sampled.model.vectorizer.vocabulary_) < set(full.vectorizer.vocabulary_)  # a strict subset
    assert "zebra" not in sampled.model.vectorizer.vocabulary_
    # The same sample whatever the row order.
    frame_shuffled, report_shuffled = run(engine, tickets(rows).sample(frac=1.0, random_state=7), fit_rows=6)
    assert_same_model(report_shuffled.column("text").model, sampled.model)
    assert_same_table(frame_shuffled, frame)
    # The seed chooses the sample: the vocabularies of several seeds are not all the same.
    models = [run(engine, tickets(rows), fit_rows=6, seed=s)[1].column("text").model for s in range(5)]
    vocabularies = {frozenset(m.vectorizer.vocabulary_) for m in models}
    assert len(vocabularies) > 1


def test_batch_size_does_not_change_the_table(engine):
    rows = early_rows() + [("c", AS_OF - timedelta(days=d), EARLY_TEXTS[d % 10]) for d in range(1, 40, 3)]
    rows += [("a", AS_OF - timedelta(days=4), "  "), ("b", AS_OF - timedelta(days=5), None)]
    frame_small, report_small = run(engine, tickets(rows), batch_rows=7)
    frame_large, report_large = run(engine, tickets(rows), batch_rows=100_000)
    assert_same_model(report_small.column("text").model, report_large.column("text").model)
    assert_same_table(frame_small, frame_large)


def test_computing_the_table_in_key_slices_does_not_change_it(engine):
    rows = early_rows() + [(k, AS_OF - timedelta(days=d), EARLY_TEXTS[(d + i) % 10])
                           for i, k in enumerate("abcde") for d in (1, 12, 45)]
    frame = tickets(rows)
    frame["subject"] = frame["text"].str.split().str[:3].str.join(" ")
    customers = ["e", "c", "a", "b", "d", "f"]
    whole, _ = run(engine, frame, customers=customers, text_columns=("text", "subject"))
    for keys_per_query in (1, 2, 4):
        sliced, _ = run(engine, frame, customers=customers, text_columns=("text", "subject"),
                        keys_per_query=keys_per_query)
        assert_same_table(sliced, whole)
    assert len(whole) == 12 and not whole.duplicated(["cid", "feature_timestamp"]).any()


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
def test_nothing_to_learn_gives_zero_components_and_no_exception(engine, rows):
    frame = tickets(rows) if rows else tickets([("a", AS_OF, "x")]).iloc[:0]
    out, report = run(engine, frame)
    assert report.column("text").n_components == 0 and report.column("text").features == ()
    assert list(out.columns) == ["cid", "feature_timestamp"]
    assert len(out) == 6


def test_an_entirely_missing_text_column_does_not_fail(engine):
    frame = tickets([("a", CUTOFF - timedelta(days=1), None), ("b", AS_OF, None)])
    frame["text"] = np.nan  # float dtype, as pandas reads an empty CSV column
    out, report = run(engine, frame)
    assert report.column("text").n_components == 0 and report.column("text").fitted_rows == 0
    assert len(out) == 6


def test_no_text_columns_give_the_keys_only_spine(engine):
    out, report = run(engine, tickets(early_rows()), text_columns=())
    assert report.columns == ()
    assert list(out.columns) == ["cid", "feature_timestamp"] and len(out) == 6


def test_bad_parameters_and_untyped_timestamps_are_refused(engine):
    with pytest.raises(ValueError, match="fit_rows"):
        run(engine, tickets(early_rows()), fit_rows=0)
    with pytest.raises(ValueError, match="batch_rows"):
        run(engine, tickets(early_rows()), batch_rows=0)
    with pytest.raises(ValueError, match="keys_per_query"):
        run(engine, tickets(early_rows()), keys_per_query=0)
    with pytest.raises(ValueError, match="no count for text column 'text'"):
        run(engine, tickets(early_rows()), n_components={"subject": 2})
    with pytest.raises(ValueError, match="no column"):
        run(engine, tickets(early_rows()), text_columns=("body",))
    as_text = tickets(early_rows()).assign(ts=lambda f: f["ts"].astype(str))
    with pytest.raises(ValueError, match="must be a timestamp"):
        run(engine, as_text)


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


def notes() -> pd.DataFrame:
    """Twelve customers, in no particular order, ten with a note, one missing, one blank."""
    keys = [f"k{i:02d}" for i in (7, 3, 11, 0, 9, 1, 5, 10, 2, 8, 4, 6)]
    return pd.DataFrame({"cid": keys, "note": [*EARLY_TEXTS, None, "  "]})


def run_entity(engine, frame: pd.DataFrame, **kwargs):
    engine.write_frame("raw_customers", frame)
    report = build_entity_text_features(
        engine, relation=engine.relation("raw_customers"), key="cid", source="customers", column="note",
        n_components=kwargs.pop("n_components", 2), target="entity_text", **kwargs,
    )
    return engine.frame(f"SELECT * FROM {engine.relation('entity_text')}"), report


def test_entity_text_features_give_one_row_per_key_with_named_components(engine):
    frame = notes()
    out, report = run_entity(engine, frame)
    assert component_names("customers", "note", 2) == ["customers_note_svd_0", "customers_note_svd_1"]
    assert list(out.columns) == ["cid", "customers_note_svd_0", "customers_note_svd_1"]
    assert list(out["cid"]) == sorted(frame["cid"])
    model = report.column("note").model
    assert report.column("note").fitted_rows == len(EARLY_TEXTS)
    expected = model.transform(frame.set_index("cid")["note"].loc[out["cid"]].reset_index(drop=True))
    np.testing.assert_allclose(out[["customers_note_svd_0", "customers_note_svd_1"]].to_numpy(), expected.to_numpy())
    blank = out["cid"].isin(frame["cid"][frame["note"].isna() | (frame["note"] == "  ")])
    assert (out.loc[blank, ["customers_note_svd_0", "customers_note_svd_1"]].to_numpy() == 0).all()
    assert (out.loc[~blank, "customers_note_svd_0"] != 0).any()


def test_entity_text_features_do_not_depend_on_row_order_fit_bound_or_batch_size(engine):
    out, report = run_entity(engine, notes())
    for kwargs in ({"fit_rows": len(EARLY_TEXTS)}, {"batch_rows": 3}):
        out_1, report_1 = run_entity(engine, notes().sample(frac=1.0, random_state=5), **kwargs)
        assert_same_model(report_1.column("note").model, report.column("note").model)
        pd.testing.assert_frame_equal(out_1, out)  # row by row, no aggregation: bit-identical
    _, sampled = run_entity(engine, notes(), fit_rows=5)
    assert sampled.column("note").sampled and sampled.column("note").fitted_rows == 5


def test_entity_text_features_with_nothing_to_learn_keep_only_the_key(engine):
    out, report = run_entity(engine, pd.DataFrame({"cid": ["a", "b"], "note": [None, " "]}))
    assert report.column("note").n_components == 0
    assert list(out.columns) == ["cid"] and list(out["cid"]) == ["a", "b"]


def test_entity_text_features_refuse_duplicate_keys(engine):
    frame = pd.DataFrame({"cid": ["a", "b", "a", "c", "c"], "note": ["x", "y", "z", "u", "v"]})
    with pytest.raises(ValueError, match=r"duplicate keys \['a', 'c'\]"):
        run_entity(engine, frame)
    assert not engine.exists("entity_text")


# --- the embedded sample ------------------------------------------------------------------------------


def sample_relation(engine) -> str:
    """The embedded tickets as the raw layer would type them: timestamps parsed from text."""
    raw = engine.file_relation(SAMPLE_DATA / "support_tickets.csv", "csv")
    created = engine.dialect.text_timestamp("created_at", "UTC")
    return f"(SELECT customer_id, {created} AS created_at, text FROM {raw})"


def sample_run(engine, target: str = TARGET):
    as_of = datetime(2026, 6, 30, tzinfo=timezone.utc)
    snapshots = [as_of - timedelta(days=60), as_of - timedelta(days=30), as_of]
    events = sample_relation(engine)
    report = build_event_text_features(
        engine, events=events, entity=events, source="support_tickets", event_key="customer_id",
        entity_key="customer_id", timestamp_column="created_at", text_columns=["text"],
        windows=parse_windows(["30d", "90d", "all_time"]), snapshots=snapshots, target=target,
    )
    return engine.frame(f"SELECT * FROM {engine.relation(target)}"), report


@pytest.fixture(scope="module")
def sample_tickets() -> pd.DataFrame:
    return pd.read_csv(SAMPLE_DATA / "support_tickets.csv", dtype=str)


def test_sample_components_separate_cancellation_from_technical_tickets(engine, sample_tickets):
    _, report = sample_run(engine)
    model = report.column("text").model
    assert model.n_components == 8
    components = model.transform(sample_tickets["text"])
    by_topic = components.groupby(sample_tickets["topic"]).mean()
    gap = (by_topic.loc["cancellation"] - by_topic.loc["technical"]).abs()
    assert gap.max() > 0.1, by_topic
    # A negative control: two random halves of the same topic do not differ like that.
    technical = components[sample_tickets["topic"] == "technical"]
    halves = technical.iloc[::2].mean() - technical.iloc[1::2].mean()
    assert halves.abs().max() < gap.max() / 3


def test_sample_same_inputs_give_identical_outputs(engine, sample_tickets):
    frame_1, report_1 = sample_run(engine, "first")
    frame_2, report_2 = sample_run(engine, "second")
    assert_same_model(report_1.column("text").model, report_2.column("text").model)
    assert_same_table(frame_1, frame_2)
    customers = sample_tickets["customer_id"].nunique()
    assert len(frame_1) == 3 * customers
    assert not frame_1.duplicated(["customer_id", "feature_timestamp"]).any()
