"""Profiling types columns, finds keys, grain and joins, and counts problems from values alone, never names."""

from __future__ import annotations

from datetime import datetime, timezone

import numpy as np
import pandas as pd
import pytest

from retention_assets.core.errors import DataValidationError
from retention_assets.exploration.profiling import (
    infer_column_type,
    profile_frame,
    profile_relationships,
    read_any,
)
from retention_assets.sample.generator import SAMPLE_AS_OF
from retention_assets.settings import sample_settings_path

SAMPLE_DATA = sample_settings_path().parent / "data"
SAMPLE_FILES = {
    "customers": "customers.csv",
    "transactions": "transactions.parquet",
    "support_tickets": "support_tickets.csv",
}
REFERENCE = datetime(2026, 6, 30, tzinfo=timezone.utc)


def codes(prefix: str, n: int, repeat: int = 1) -> list[str]:
    return [f"{prefix}{i:05d}" for i in range(1, n + 1) for _ in range(repeat)]


def profile(frame: pd.DataFrame, name: str = "t", **kwargs):
    return profile_frame(frame, name, f"/data/{name}.csv", **kwargs)


@pytest.fixture(scope="module")
def sample():
    frames = {name: read_any(SAMPLE_DATA / file) for name, file in SAMPLE_FILES.items()}
    profiles = {
        name: profile_frame(frame, name, SAMPLE_DATA / SAMPLE_FILES[name], reference_time=SAMPLE_AS_OF)
        for name, frame in frames.items()
    }
    return frames, profiles


# --------------------------------------------------------------------------------------------------
# the embedded sample


@pytest.mark.parametrize("dataset, expected", [
    ("customers", {"customer_id": "identifier", "signup_date": "datetime", "plan": "categorical",
                   "region": "categorical", "age": "numeric", "monthly_fee": "numeric"}),
    ("transactions", {"customer_id": "identifier", "event_ts": "datetime", "amount": "numeric",
                      "event_type": "categorical"}),
    ("support_tickets", {"ticket_id": "identifier", "customer_id": "identifier", "created_at": "datetime",
                         "topic": "categorical", "text": "text"}),
])
def test_every_sample_column_is_typed_from_its_values(sample, dataset, expected):
    _, profiles = sample
    assert {name: column.type for name, column in profiles[dataset].columns.items()} == expected


def test_the_sample_customers_are_entity_level_keyed_by_customer_id(sample):
    _, profiles = sample
    customers = profiles["customers"]
    assert (customers.granularity, customers.entity_key, customers.key_candidates) == (
        "entity", "customer_id", ["customer_id"])
    assert customers.timestamp_column is None
    assert customers.duplicate_keys == 0 and customers.rows == 3000


@pytest.mark.parametrize("dataset, timestamp", [("transactions", "event_ts"), ("support_tickets", "created_at")])
def test_the_sample_event_tables_are_keyed_by_customer_and_timed_by_their_timestamp(sample, dataset, timestamp):
    frames, profiles = sample
    events = profiles[dataset]
    assert (events.granularity, events.entity_key, events.timestamp_column) == ("event", "customer_id", timestamp)
    per_customer = frames[dataset]["customer_id"].value_counts()
    assert events.events_per_entity == {"min": per_customer.min(), "median": per_customer.median(),
                                        "mean": pytest.approx(per_customer.mean()), "max": per_customer.max()}
    stamps = pd.to_datetime(frames[dataset][timestamp], utc=True, format="ISO8601")
    assert events.time_span["start"] == stamps.min().isoformat()
    assert events.time_span["end"] == stamps.max().isoformat()


def test_the_sample_customers_join_each_event_table_one_to_many(sample):
    frames, profiles = sample
    relationships = {(r.left, r.left_column, r.right, r.right_column): r
                     for r in profile_relationships(frames, profiles)}
    known = set(frames["customers"]["customer_id"])
    for events in ("transactions", "support_tickets"):
        link = relationships["customers", "customer_id", events, "customer_id"]
        referenced = frames[events]["customer_id"]
        assert link.cardinality == "one_to_many"
        assert link.left_match_rate == pytest.approx(len(known & set(referenced)) / len(known))
        assert link.right_match_rate == pytest.approx(referenced.isin(known).mean())
        assert link.right_match_rate == 1.0 and 0.5 < link.left_match_rate < 1.0
    # the two event tables share customers too, which is many to many
    assert relationships["transactions", "customer_id", "support_tickets", "customer_id"].cardinality == "many_to_many"


# --------------------------------------------------------------------------------------------------
# names never decide


def named_by_values() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame({
        "paid_amount": rng.uniform(5, 500, 60).round(2) + np.arange(60) * 1e-3,  # all distinct
        "class_size": rng.integers(10, 41, 60),
        "is_valid": rng.random(60) < 0.5,
    })


def test_columns_are_typed_by_their_values_not_their_names():
    types = {c: p.type for c, p in profile(named_by_values()).columns.items()}
    assert types == {"paid_amount": "numeric", "class_size": "numeric", "is_valid": "binary"}


def test_booleans_written_as_words_are_binary():
    assert infer_column_type(pd.Series(["true", "false", "true", None])) == "binary"


def test_swapping_names_onto_other_values_swaps_the_types():
    frame = named_by_values()
    swapped = frame.rename(columns={"paid_amount": "is_valid", "class_size": "paid_amount", "is_valid": "class_size"})
    types = {c: p.type for c, p in profile(swapped).columns.items()}
    assert types == {"is_valid": "numeric", "paid_amount": "numeric", "class_size": "binary"}


def test_a_customer_id_holding_decimals_is_numeric():
    assert infer_column_type(pd.Series(np.arange(100) + 0.25, name="customer_id")) == "numeric"


# --------------------------------------------------------------------------------------------------
# the rules, each with the case it must not catch


@pytest.mark.parametrize("values", [[0, 1, 1, 0], [0.0, 1.0, None], ["yes", "no", "no"], ["Y", "N", None],
                                    [True, False, True], ["a b c d", "e f g h"]])
def test_any_two_distinct_values_are_binary(values):
    assert infer_column_type(pd.Series(values)) == "binary"


@pytest.mark.parametrize("values", [[0, 1, 2], ["yes", "yes", "yes"]])
def test_one_or_three_distinct_values_are_not_binary(values):
    assert infer_column_type(pd.Series(values)) != "binary"


def test_two_distinct_dates_are_dates_not_binary():
    assert infer_column_type(pd.Series(["2024-01-01", "2024-02-01", "2024-01-01"])) == "datetime"
    assert infer_column_type(pd.Series(pd.to_datetime(["2024-01-01", "2024-02-01"]))) == "datetime"


def test_integer_sequences_and_fixed_width_codes_are_identifiers():
    assert infer_column_type(pd.Series(np.arange(1, 101))) == "identifier"
    assert infer_column_type(pd.Series([str(i) for i in range(1001, 1101)])) == "identifier"  # as read from CSV
    account_numbers = [10_000_000 + 1_234_567 * i for i in range(50)]  # sparse, but all eight digits
    assert infer_column_type(pd.Series(account_numbers)) == "identifier"


def test_distinct_integer_measurements_are_numeric():
    spread = np.random.default_rng(2).choice(np.arange(1, 100_000), 100, replace=False)  # cents, not a sequence
    assert infer_column_type(pd.Series(spread)) == "numeric"
    assert infer_column_type(pd.Series(np.arange(10, 20))) == "numeric"  # too few to call a key
    assert infer_column_type(pd.Series(np.arange(-50, 50))) == "numeric"  # negative


def test_date_strings_are_datetimes_but_plain_integers_are_not():
    assert infer_column_type(pd.Series(["2024-07-01", "2024-07-02T10:00:00+02:00", "03/07/2024"])) == "datetime"
    assert infer_column_type(pd.Series(["2024", "2023", "2021", "2019"])) == "numeric"
    assert infer_column_type(pd.Series(["12", "3", "7", "31", "12"])) == "numeric"


def test_mostly_dates_with_a_few_typos_are_datetime_and_a_real_mix_is_not():
    dates = [f"2024-01-{d:02d}" for d in range(1, 29)] * 4
    assert infer_column_type(pd.Series(dates[:-2] + ["n/a", "unknown"])) == "datetime"  # 98% parse
    assert infer_column_type(pd.Series(dates[:-12] + ["pending"] * 12)) == "categorical"  # 89% parse


def test_repeating_string_codes_in_an_event_table_are_identifiers():
    assert infer_column_type(pd.Series(codes("C", 60, repeat=20))) == "identifier"


def test_few_repeating_codes_and_repeating_words_are_categorical():
    assert infer_column_type(pd.Series(codes("P", 5, repeat=100))) == "categorical"
    cities = [f"city{chr(97 + i % 26)}{'x' * (i % 7)}" for i in range(60)]  # 60 names without digits
    assert infer_column_type(pd.Series(cities * 20)) == "categorical"


def test_codes_with_leading_zeros_are_not_numbers():
    zips = [f"{i:05d}" for i in range(1000, 1200)]
    assert infer_column_type(pd.Series(zips)) == "identifier"
    assert infer_column_type(pd.Series(["007", "012", "003"] * 10)) == "categorical"


def test_many_distinct_sentences_are_text_and_short_labels_are_categorical():
    sentences = [f"my order {i} arrived late again" for i in range(40)]
    assert infer_column_type(pd.Series(sentences)) == "text"
    assert infer_column_type(pd.Series(["very good", "not so good", "bad"] * 20)) == "categorical"
    assert infer_column_type(pd.Series(["please call me back soon", "thanks a lot team"] * 30 + ["ok"])) == "categorical"


def test_a_column_without_values_is_categorical():
    assert infer_column_type(pd.Series([None, None], dtype=object)) == "categorical"


# --------------------------------------------------------------------------------------------------
# quality counts


def test_future_and_far_past_dates_are_counted_against_the_reference_time():
    stamps = ["2026-01-01", "2026-02-01", "2026-03-01", "2027-01-01", "1900-01-01", None, "1970-01-01", "2025-05-05"]
    column = profile(pd.DataFrame({"d": stamps}), reference_time=REFERENCE).columns["d"]
    assert column.type == "datetime"
    assert column.future_rate == pytest.approx(1 / 7)
    assert column.far_past_rate == pytest.approx(2 / 7)  # before 1976-06-30
    assert (column.min, column.max) == ("1900-01-01T00:00:00+00:00", "2027-01-01T00:00:00+00:00")


def test_without_a_reference_time_nothing_is_future_and_far_past_means_before_1971():
    column = profile(pd.DataFrame({"d": ["2099-01-01", "1970-01-01", "1975-06-01", "2020-01-01"]})).columns["d"]
    assert column.future_rate is None
    assert column.far_past_rate == pytest.approx(1 / 4)


def test_outliers_outside_the_iqr_fences_are_counted():
    values = [float(v) for v in range(10, 30)] + [500.0, -400.0]
    frame = pd.DataFrame({"x": values})
    assert profile(frame).columns["x"].outlier_rate == pytest.approx(2 / 22)
    assert profile(frame, outlier_iqr_multiplier=100).columns["x"].outlier_rate == 0.0


def test_nulls_duplicate_keys_and_duplicate_rows_are_counted():
    frame = pd.DataFrame({
        "cid": codes("C", 40) + ["C00001", "C00002"],
        "age": [30 + i % 7 for i in range(40)] + [30, 99],
        "plan": (["basic", "pro", None, "basic"] * 11)[:42],
    })
    result = profile(frame)
    assert (result.granularity, result.entity_key) == ("entity", "cid")
    assert result.duplicate_keys == 2
    assert result.duplicate_rows == 1  # C00001 repeats with the same age and plan; C00002 differs
    assert result.columns["plan"].null_rate == pytest.approx(10 / 42)
    assert result.columns["cid"].cardinality == 40


def test_repeating_keys_without_a_timestamp_are_an_entity_table_with_duplicates():
    frame = pd.DataFrame({"cid": codes("C", 60, repeat=2), "plan": ["a", "b"] * 60})
    result = profile(frame)
    assert (result.granularity, result.entity_key, result.duplicate_keys) == ("entity", "cid", 60)


def test_a_unique_key_with_a_date_is_still_an_entity_table():
    frame = pd.DataFrame({"cid": codes("C", 30), "signup": pd.date_range("2024-01-01", periods=30, freq="D"),
                          "churned": [0, 1, 1] * 10})
    result = profile(frame)
    assert (result.granularity, result.entity_key, result.timestamp_column) == ("entity", "cid", None)
    assert result.target_candidates == ["churned"]


def test_an_event_table_is_timed_by_its_most_detailed_datetime():
    n = 200
    frame = pd.DataFrame({
        "event_id": codes("E", n),
        "cid": codes("C", 50, repeat=4),
        "day": pd.to_datetime("2024-01-01") + pd.to_timedelta(np.arange(n) // 20, unit="D"),
        "at": pd.to_datetime("2024-01-01") + pd.to_timedelta(np.arange(n) * 3_600, unit="s"),
        "flag": [0, 1] * (n // 2),
    })
    result = profile(frame)
    assert (result.granularity, result.entity_key, result.key_candidates) == ("event", "cid", ["cid"])
    assert (result.timestamp_column, result.timestamp_candidates) == ("at", ["at", "day"])
    assert result.target_candidates == []
    assert result.events_per_entity == {"min": 4, "median": 4.0, "mean": 4.0, "max": 4}


def test_large_frames_are_typed_from_a_seeded_sample_but_counted_in_full():
    rng = np.random.default_rng(3)
    n = 6_000
    frame = pd.DataFrame({
        "id": np.arange(1, n + 1),
        "cid": [f"C{i:05d}" for i in rng.integers(0, 400, n)],
        "amount": rng.gamma(2.0, 10.0, n).round(2),
        "when": pd.Timestamp("2024-01-01", tz="UTC") + pd.to_timedelta(rng.integers(0, 10**7, n), unit="s"),
    })
    full = profile(frame)
    sampled = profile(frame, sample_rows=500, seed=7)
    assert {c: p.type for c, p in sampled.columns.items()} == {c: p.type for c, p in full.columns.items()}
    assert sampled.columns["id"].type == "identifier"  # a sequence, even though a sample of it is sparse
    assert sampled.rows == n and sampled.columns["cid"].cardinality == full.columns["cid"].cardinality
    assert sampled.duplicate_rows == full.duplicate_rows
    assert profile(frame, sample_rows=500, seed=7) == sampled


def test_examples_are_plain_values():
    days = ["2024-01-01", "2024-01-02", "2024-01-03", "2024-01-04"]
    frame = pd.DataFrame({"when": pd.to_datetime(days, utc=True), "naive": pd.to_datetime(days),
                          "n": np.array([1, 2, 3, 3], dtype=np.int64)})
    result = profile(frame)
    assert result.columns["when"].examples == [
        "2024-01-01T00:00:00+00:00", "2024-01-02T00:00:00+00:00", "2024-01-03T00:00:00+00:00"]
    assert result.columns["naive"].examples[0] == "2024-01-01T00:00:00"
    assert result.columns["n"].examples == [1, 2, 3] and type(result.columns["n"].examples[0]) is int


# --------------------------------------------------------------------------------------------------
# relationships and reading


def relate(frames: dict[str, pd.DataFrame]):
    return profile_relationships(frames, {name: profile(frame, name) for name, frame in frames.items()})


def test_two_entity_tables_sharing_a_key_are_one_to_one():
    [link] = relate({"a": pd.DataFrame({"k": codes("K", 30)}), "b": pd.DataFrame({"k": codes("K", 20)})})
    assert (link.cardinality, link.left_match_rate, link.right_match_rate) == ("one_to_one", 20 / 30, 1.0)


def test_a_repeating_reference_to_another_tables_key_is_many_to_one():
    accounts = pd.DataFrame({"account": codes("A", 60)})
    customers = pd.DataFrame({"cid": codes("C", 120), "account": codes("A", 60, repeat=2)})
    [link] = relate({"customers": customers, "accounts": accounts})
    assert (link.left, link.left_column, link.right, link.right_column) == ("customers", "account", "accounts", "account")
    assert link.cardinality == "many_to_one"


def test_tables_whose_keys_do_not_overlap_enough_are_not_related():
    assert relate({"a": pd.DataFrame({"k": codes("K", 30)}), "b": pd.DataFrame({"k": codes("X", 30)})}) == []
    shifted = [f"K{i:05d}" for i in range(21, 51)]  # 10 of 30 shared on each side
    assert relate({"a": pd.DataFrame({"k": codes("K", 30)}), "b": pd.DataFrame({"k": shifted})}) == []


def test_csv_is_read_as_text_with_empty_cells_missing(tmp_path):
    path = tmp_path / "c.csv"
    path.write_text("id,zip,age\n1,02139,\n2,10001,40\n")
    frame = read_any(path)
    assert frame["zip"].tolist() == ["02139", "10001"]
    assert frame["age"].isna().tolist() == [True, False]


def test_reading_an_unknown_format_names_the_file(tmp_path):
    path = tmp_path / "data.xlsx"
    path.write_text("x")
    with pytest.raises(DataValidationError, match=r"data\.xlsx.*csv or parquet"):
        read_any(path)
    assert isinstance(read_any(path, "csv"), pd.DataFrame)
