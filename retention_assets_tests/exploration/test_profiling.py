"""Profiling types columns, finds keys, grain and joins, and counts problems from values alone, never names;
it runs in SQL on an engine, exact over every row, reading values only from a bounded deterministic sample."""

from __future__ import annotations

import json
import math
import shutil
from dataclasses import asdict
from datetime import datetime, timezone

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
import yaml

from retention_assets.core.errors import DataValidationError
from retention_assets.exploration import profiling
from retention_assets.engine.dialect import DuckDBDialect
from retention_assets.engine.duckdb_engine import DuckDBEngine
from retention_assets.exploration.bootstrap import explore_files
from retention_assets.exploration.profiling import (
    infer_column_type,
    profile_frame,
    profile_relation,
    profile_relationships,
    sample_relation,
    source_relation,
)
from retention_assets.sample.generator import SAMPLE_AS_OF
from retention_assets.settings import load_settings
from retention_assets_tests.exploration.cases import (
    FRAME_CASES,
    REFERENCE,
    REFERENCE_FILE,
    RELATIONSHIP_CASES,
    SAMPLE_DATA,
    SAMPLE_FILES,
    case_path,
    codes,
    named_by_values,
    relate_frames,
)

PANDAS_REFERENCE = json.loads(REFERENCE_FILE.read_text())


def profile(engine, frame: pd.DataFrame, name: str = "t", **kwargs):
    return profile_frame(engine, frame, name, f"/data/{name}.csv", **kwargs)


@pytest.fixture(scope="module")
def sample(engine):
    """The embedded sample, profiled from its files; its frames (read with pandas) are the oracle."""
    relations = {name: source_relation(engine, SAMPLE_DATA / file) for name, file in SAMPLE_FILES.items()}
    profiles = {name: profile_relation(engine, relation, name, case_path(name), reference_time=SAMPLE_AS_OF)
                for name, relation in relations.items()}
    frames = {"customers": pd.read_csv(SAMPLE_DATA / SAMPLE_FILES["customers"], dtype=str),
              "transactions": pd.read_parquet(SAMPLE_DATA / SAMPLE_FILES["transactions"]),
              "support_tickets": pd.read_csv(SAMPLE_DATA / SAMPLE_FILES["support_tickets"], dtype=str)}
    return frames, profiles, relations


def assert_same(found, expected, where: str = "") -> None:
    """Equal field by field; floats to 1e-12 relative (quantiles may interpolate in another order)."""
    if isinstance(expected, dict):
        assert isinstance(found, dict) and found.keys() == expected.keys(), where
        for key in expected:
            assert_same(found[key], expected[key], f"{where}.{key}")
    elif isinstance(expected, list):
        assert isinstance(found, list) and len(found) == len(expected), where
        for i, (a, b) in enumerate(zip(found, expected)):
            assert_same(a, b, f"{where}[{i}]")
    elif isinstance(expected, float) and not isinstance(found, bool):
        assert isinstance(found, (int, float)) and math.isclose(found, expected, rel_tol=1e-12, abs_tol=1e-15), \
            f"{where}: {found} != {expected}"
    else:
        assert found == expected and type(found) is type(expected), f"{where}: {found!r} != {expected!r}"


def reference_fields(profile) -> dict:
    """The fields the pandas implementation had (keys by repetition came later)."""
    found = asdict(profile)
    found.pop("repeating_numbers")  # e.g. the sample customers' age: a candidate, but the table has a unique key
    assert found.pop("key_reasons") == {} and found.pop("notes") == []  # explore's, from every file
    return found


def without_examples(profile: dict) -> dict:
    return {**profile, "columns": {c: {**p, "examples": None} for c, p in profile["columns"].items()}}


# --------------------------------------------------------------------------------------------------
# the same profiles as the pandas implementation


@pytest.mark.parametrize("case", FRAME_CASES)
def test_small_frames_profile_exactly_as_the_pandas_implementation_did(engine, case):
    found = profile_frame(engine, FRAME_CASES[case].build(), case, case_path(case), **FRAME_CASES[case].options)
    assert_same(reference_fields(found), PANDAS_REFERENCE["profiles"][case], case)


@pytest.mark.parametrize("dataset", ["customers", "support_tickets"])
def test_the_sample_files_profile_exactly_as_the_pandas_implementation_did(sample, dataset):
    _, profiles, _ = sample
    assert_same(reference_fields(profiles[dataset]), PANDAS_REFERENCE["profiles"][f"sample_{dataset}"], dataset)


def test_a_sampled_sample_file_differs_from_the_pandas_profile_only_in_its_examples(sample):
    frames, profiles, _ = sample
    transactions = profiles["transactions"]
    assert transactions.rows > 200_000  # more rows than the default sample: the examples come from another sample
    expected = PANDAS_REFERENCE["profiles"]["sample_transactions"]
    assert_same(without_examples(reference_fields(transactions)), without_examples(expected), "transactions")
    for name, column in transactions.columns.items():
        values = frames["transactions"][name]
        read = pd.Timestamp if name == "event_ts" else (lambda example: example)
        assert len(column.examples) == 3 and all((values == read(e)).any() for e in column.examples), name


@pytest.mark.parametrize("case", RELATIONSHIP_CASES)
def test_relationships_in_sql_equal_the_pandas_ones(engine, case):
    frames = RELATIONSHIP_CASES[case]()
    profiles = {name: profile(engine, frame, name) for name, frame in frames.items()}
    found = relate_frames(engine, frames, profiles)
    assert_same([asdict(r) for r in found], PANDAS_REFERENCE["relationships"][case], case)


def test_relationships_between_the_sample_files_equal_the_pandas_ones(engine, sample):
    _, profiles, relations = sample
    found = profile_relationships(engine, relations, profiles)
    assert_same([asdict(r) for r in found], PANDAS_REFERENCE["relationships"]["sample"], "sample")


# --------------------------------------------------------------------------------------------------
# exact over every row, typed from a bounded deterministic sample


def wide_events(n: int = 5_000) -> pd.DataFrame:
    """Events of 300 customers with gaps, outliers, future dates and 40 exact duplicate rows."""
    rng = np.random.default_rng(5)
    amounts = rng.gamma(2.0, 10.0, n).round(2)
    amounts[rng.choice(n, 25, replace=False)] = 5_000.0
    amounts[rng.choice(n, 300, replace=False)] = np.nan
    frame = pd.DataFrame({
        "event_id": np.arange(10_000, 10_000 + n),
        "cid": [f"C{i:05d}" for i in rng.integers(0, 300, n)],
        "at": pd.Timestamp("2026-01-01", tz="UTC") + pd.to_timedelta(rng.integers(0, 300 * 86_400, n), unit="s"),
        "amount": amounts,
        "channel": rng.choice(["web", "store", None], n),
    })
    frame.iloc[n - 40:] = frame.iloc[:40].to_numpy()  # the last 40 rows repeat the first 40
    return frame


def test_counts_and_statistics_are_exact_when_the_table_is_larger_than_the_sample(engine):
    frame = wide_events()
    result = profile(engine, frame, reference_time=REFERENCE, sample_rows=1_000)

    assert result.rows == len(frame)
    for name, column in result.columns.items():
        assert column.null_rate == pytest.approx(frame[name].isna().mean()), name
        assert column.cardinality == frame[name].nunique(), name
    assert result.duplicate_rows == frame.duplicated().sum() == 40
    amounts = frame["amount"].dropna()
    q1, q3 = np.percentile(amounts, [25, 75])
    outside = (amounts < q1 - 3 * (q3 - q1)) | (amounts > q3 + 3 * (q3 - q1))
    amount = result.columns["amount"]
    assert (amount.min, amount.max, amount.outlier_rate) == (amounts.min(), 5_000.0, pytest.approx(outside.mean()))
    at = result.columns["at"]
    assert (at.min, at.max) == (frame["at"].min().isoformat(), frame["at"].max().isoformat())
    assert at.future_rate == pytest.approx((frame["at"] > REFERENCE).mean())
    per_customer = frame["cid"].value_counts()
    assert (result.granularity, result.entity_key) == ("event", "cid")
    assert result.events_per_entity == {"min": per_customer.min(), "median": per_customer.median(),
                                        "mean": pytest.approx(per_customer.mean()), "max": per_customer.max()}


def test_a_sampled_profile_counts_what_the_whole_table_profile_counts(engine):
    frame = wide_events()
    whole = asdict(profile(engine, frame, reference_time=REFERENCE))
    sampled = asdict(profile(engine, frame, reference_time=REFERENCE, sample_rows=1_000))
    assert_same(without_examples(sampled), without_examples(whole))


class CollidingDialect(DuckDBDialect):
    """A row hash with four values: nearly every pair of distinct rows collides."""

    def row_hash(self, exprs: list[str]) -> str:
        return f"(hash({exprs[0]}) % 4)"


def test_duplicate_rows_stay_exact_when_row_hashes_collide(tmp_path):
    frame = wide_events()
    weak = DuckDBEngine(tables_dir=tmp_path / "tables")
    weak.dialect = CollidingDialect()
    with weak:
        assert profile(weak, frame).duplicate_rows == frame.duplicated().sum() == 40


def test_a_sampled_integer_sequence_is_still_an_identifier_and_repeated_ids_are_not(engine):
    frame = wide_events()
    assert profile(engine, frame, sample_rows=500).columns["event_id"].type == "numeric"  # dense, but 40 repeat
    unique = frame.assign(event_id=np.arange(len(frame)) * 2 + 7)  # sparse in a sample, half the range in full
    assert profile(engine, unique, sample_rows=500).columns["event_id"].type == "identifier"


def test_the_same_table_gives_the_same_profile_on_every_run(tmp_path):
    frame = wide_events()
    runs = []
    for run in range(2):
        with DuckDBEngine(tables_dir=tmp_path / f"run{run}" / "tables") as fresh:
            runs.append(profile(fresh, frame, reference_time=REFERENCE, sample_rows=700, seed=3))
    assert runs[0] == runs[1]


def test_the_sample_is_bounded_and_seeded_and_a_small_table_is_read_whole(engine):
    frame = wide_events()
    with engine.registered("events", frame) as events:
        first = sample_relation(engine, events, sample_rows=300, seed=0).to_pandas()
        again = sample_relation(engine, events, sample_rows=300, seed=0).to_pandas()
        other_seed = sample_relation(engine, events, sample_rows=300, seed=1).to_pandas()
        whole = sample_relation(engine, events, sample_rows=len(frame)).to_pandas()
    assert len(first) == 300
    pd.testing.assert_frame_equal(first, again)
    assert set(first["event_id"]) != set(other_seed["event_id"])
    # a table that fits is read whole, in its own order (times come back in microseconds)
    pd.testing.assert_frame_equal(whole, frame, check_dtype=False)


def test_copies_of_a_row_are_drawn_independently(engine):
    few = pd.DataFrame({"plan": ["basic", "pro", "max", "basic"], "paying": [True, True, True, False]})
    frame = pd.concat([few] * 1_000, ignore_index=True)  # four distinct rows, a thousand copies each
    with engine.registered("copies", frame) as copies:
        sample = sample_relation(engine, copies, sample_rows=40, seed=0).to_pandas()
    assert len(sample.drop_duplicates()) == 4
    assert profile(engine, frame, sample_rows=40).columns["paying"].type == "binary"


def test_a_smaller_sample_is_the_start_of_a_larger_one_whatever_is_kept_before_ordering(engine):
    frame = wide_events()
    with engine.registered("events", frame) as events:
        for seed in range(20):  # a sample of one or two rows often needs a second, wider pass
            larger = sample_relation(engine, events, sample_rows=400, seed=seed).to_pandas()
            for size in (1, 2, 50):
                smaller = sample_relation(engine, events, sample_rows=size, seed=seed).to_pandas()
                pd.testing.assert_frame_equal(smaller, larger.head(size))


def quantile_cases() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(8)
    return {
        "normal": rng.normal(50, 10, 997),
        "repeated integers": rng.integers(0, 12, 500).astype(float),
        "one outlier": np.r_[rng.uniform(0, 1, 300), 1e12],
        "one value": np.array([3.5]),
        "two values": np.array([2.0, -1.0]),
        "all equal": np.full(40, 7.25),
        "infinities": np.r_[rng.normal(0, 1, 50), [np.inf, -np.inf, np.inf]],
        "extremes": np.r_[rng.normal(0, 1, 50), [1.7e308, -1.7e308]],
        "subnormal": np.array([5e-324, 1e-323, 0.0, 1.5e-323, 5e-324] * 5),
    }


@pytest.mark.parametrize("case", quantile_cases())
def test_exact_quantiles_equal_numpys_reading_only_small_ranges_of_values(engine, monkeypatch, case):
    values = quantile_cases()[case]
    monkeypatch.setattr(profiling, "QUANTILE_FETCH_ROWS", 7)  # force several narrowing passes
    monkeypatch.setattr(profiling, "QUANTILE_BUCKETS", 4)
    largest_result = []
    rows = engine.rows
    monkeypatch.setattr(engine, "rows", lambda sql: largest_result.append(len(result := rows(sql))) or result)
    with engine.registered("numbers", pd.DataFrame({"x": values})) as relation:
        numbers = profiling._numbers(engine, f"(SELECT CAST(x AS DOUBLE) AS c0 FROM {relation}) AS n")
        found = profiling._quantiles(engine, numbers, (0.25, 0.5, 0.75, 0.0, 1.0))
    with np.errstate(invalid="ignore"):  # infinity minus infinity: numpy's answer is nan, and so is ours
        expected = np.percentile(values, [25, 50, 75, 0, 100])
    assert np.array_equal(found, expected, equal_nan=True), (found, list(expected))  # bit for bit
    assert max(largest_result) <= 7


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
    _, profiles, _ = sample
    assert {name: column.type for name, column in profiles[dataset].columns.items()} == expected


def test_the_sample_customers_are_entity_level_keyed_by_customer_id(sample):
    _, profiles, _ = sample
    customers = profiles["customers"]
    assert (customers.granularity, customers.entity_key, customers.key_candidates) == (
        "entity", "customer_id", ["customer_id"])
    assert customers.timestamp_column is None
    assert customers.duplicate_keys == 0 and customers.rows == 3000


@pytest.mark.parametrize("dataset, timestamp", [("transactions", "event_ts"), ("support_tickets", "created_at")])
def test_the_sample_event_tables_are_keyed_by_customer_and_timed_by_their_timestamp(sample, dataset, timestamp):
    frames, profiles, _ = sample
    events = profiles[dataset]
    assert (events.granularity, events.entity_key, events.timestamp_column) == ("event", "customer_id", timestamp)
    per_customer = frames[dataset]["customer_id"].value_counts()
    assert events.events_per_entity == {"min": per_customer.min(), "median": per_customer.median(),
                                        "mean": pytest.approx(per_customer.mean()), "max": per_customer.max()}
    stamps = pd.to_datetime(frames[dataset][timestamp], utc=True, format="ISO8601")
    assert events.time_span["start"] == stamps.min().isoformat()
    assert events.time_span["end"] == stamps.max().isoformat()


def test_the_sample_customers_join_each_event_table_one_to_many(engine, sample):
    frames, profiles, relations = sample
    relationships = {(r.left, r.left_column, r.right, r.right_column): r
                     for r in profile_relationships(engine, relations, profiles)}
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


def test_columns_are_typed_by_their_values_not_their_names(engine):
    types = {c: p.type for c, p in profile(engine, named_by_values()).columns.items()}
    assert types == {"paid_amount": "numeric", "class_size": "numeric", "is_valid": "binary"}


def test_booleans_written_as_words_are_binary():
    assert infer_column_type(pd.Series(["true", "false", "true", None])) == "binary"


def test_swapping_names_onto_other_values_swaps_the_types(engine):
    frame = named_by_values()
    swapped = frame.rename(columns={"paid_amount": "is_valid", "class_size": "paid_amount", "is_valid": "class_size"})
    types = {c: p.type for c, p in profile(engine, swapped).columns.items()}
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


def test_future_and_far_past_dates_are_counted_against_the_reference_time(engine):
    stamps = ["2026-01-01", "2026-02-01", "2026-03-01", "2027-01-01", "1900-01-01", None, "1970-01-01", "2025-05-05"]
    column = profile(engine, pd.DataFrame({"d": stamps}), reference_time=REFERENCE).columns["d"]
    assert column.type == "datetime"
    assert column.future_rate == pytest.approx(1 / 7)
    assert column.far_past_rate == pytest.approx(2 / 7)  # before 1976-06-30
    assert (column.min, column.max) == ("1900-01-01T00:00:00+00:00", "2027-01-01T00:00:00+00:00")


def test_without_a_reference_time_nothing_is_future_and_far_past_means_before_1971(engine):
    column = profile(engine, pd.DataFrame({"d": ["2099-01-01", "1970-01-01", "1975-06-01", "2020-01-01"]})).columns["d"]
    assert column.future_rate is None
    assert column.far_past_rate == pytest.approx(1 / 4)


def test_outliers_outside_the_iqr_fences_are_counted(engine):
    values = [float(v) for v in range(10, 30)] + [500.0, -400.0]
    frame = pd.DataFrame({"x": values})
    assert profile(engine, frame).columns["x"].outlier_rate == pytest.approx(2 / 22)
    assert profile(engine, frame, outlier_iqr_multiplier=100).columns["x"].outlier_rate == 0.0


def test_nan_is_missing_like_null_in_counts_statistics_and_duplicates(engine):
    # Arrow (like Parquet) keeps NaN apart from null; pandas, and so the profile, count both as missing
    table = pa.table({"x": pa.array([1.5, float("nan"), 2.5, None, 1.5, 40.0], from_pandas=False),
                      "k": ["a", "b", "c", "b", "a", "d"]})
    with engine.registered("with_nan", table) as relation:
        result = profile_relation(engine, relation, "t", "/data/t.parquet")
    x = result.columns["x"]
    assert (x.null_rate, x.cardinality, x.min, x.max) == (pytest.approx(2 / 6), 3, 1.5, 40.0)
    assert result.duplicate_rows == 2  # (1.5, a) and (missing, b) each repeat


def test_nulls_duplicate_keys_and_duplicate_rows_are_counted(engine):
    frame = pd.DataFrame({
        "cid": codes("C", 40) + ["C00001", "C00002"],
        "age": [30 + i % 7 for i in range(40)] + [30, 99],
        "plan": (["basic", "pro", None, "basic"] * 11)[:42],
    })
    result = profile(engine, frame)
    assert (result.granularity, result.entity_key) == ("entity", "cid")
    assert result.duplicate_keys == 2
    assert result.duplicate_rows == 1  # C00001 repeats with the same age and plan; C00002 differs
    assert result.columns["plan"].null_rate == pytest.approx(10 / 42)
    assert result.columns["cid"].cardinality == 40


def test_repeating_keys_without_a_timestamp_are_an_entity_table_with_duplicates(engine):
    frame = pd.DataFrame({"cid": codes("C", 60, repeat=2), "plan": ["a", "b"] * 60})
    result = profile(engine, frame)
    assert (result.granularity, result.entity_key, result.duplicate_keys) == ("entity", "cid", 60)


def test_a_unique_key_with_a_date_is_still_an_entity_table(engine):
    frame = pd.DataFrame({"cid": codes("C", 30), "signup": pd.date_range("2024-01-01", periods=30, freq="D"),
                          "churned": [0, 1, 1] * 10})
    result = profile(engine, frame)
    assert (result.granularity, result.entity_key, result.timestamp_column) == ("entity", "cid", None)
    assert result.target_candidates == ["churned"]


def test_an_event_table_is_timed_by_its_most_detailed_datetime(engine):
    n = 200
    frame = pd.DataFrame({
        "event_id": codes("E", n),
        "cid": codes("C", 50, repeat=4),
        "day": pd.to_datetime("2024-01-01") + pd.to_timedelta(np.arange(n) // 20, unit="D"),
        "at": pd.to_datetime("2024-01-01") + pd.to_timedelta(np.arange(n) * 3_600, unit="s"),
        "flag": [0, 1] * (n // 2),
    })
    result = profile(engine, frame)
    assert (result.granularity, result.entity_key, result.key_candidates) == ("event", "cid", ["cid"])
    assert (result.timestamp_column, result.timestamp_candidates) == ("at", ["at", "day"])
    assert result.target_candidates == []
    assert result.events_per_entity == {"min": 4, "median": 4.0, "mean": 4.0, "max": 4}


def test_large_frames_are_typed_from_a_seeded_sample_but_counted_in_full(engine):
    rng = np.random.default_rng(3)
    n = 6_000
    frame = pd.DataFrame({
        "id": np.arange(1, n + 1),
        "cid": [f"C{i:05d}" for i in rng.integers(0, 400, n)],
        "amount": rng.gamma(2.0, 10.0, n).round(2),
        "when": pd.Timestamp("2024-01-01", tz="UTC") + pd.to_timedelta(rng.integers(0, 10**7, n), unit="s"),
    })
    full = profile(engine, frame)
    sampled = profile(engine, frame, sample_rows=500, seed=7)
    assert {c: p.type for c, p in sampled.columns.items()} == {c: p.type for c, p in full.columns.items()}
    assert sampled.columns["id"].type == "identifier"  # a sequence, even though a sample of it is sparse
    assert sampled.rows == n and sampled.columns["cid"].cardinality == full.columns["cid"].cardinality
    assert sampled.duplicate_rows == full.duplicate_rows
    assert profile(engine, frame, sample_rows=500, seed=7) == sampled


def test_examples_are_plain_values(engine):
    days = ["2024-01-01", "2024-01-02", "2024-01-03", "2024-01-04"]
    frame = pd.DataFrame({"when": pd.to_datetime(days, utc=True), "naive": pd.to_datetime(days),
                          "n": np.array([1, 2, 3, 3], dtype=np.int64)})
    result = profile(engine, frame)
    assert result.columns["when"].examples == [
        "2024-01-01T00:00:00+00:00", "2024-01-02T00:00:00+00:00", "2024-01-03T00:00:00+00:00"]
    assert result.columns["naive"].examples[0] == "2024-01-01T00:00:00"
    assert result.columns["n"].examples == [1, 2, 3] and type(result.columns["n"].examples[0]) is int


# --------------------------------------------------------------------------------------------------
# relationships


def relate(engine, frames: dict[str, pd.DataFrame]):
    return relate_frames(engine, frames, {name: profile(engine, frame, name) for name, frame in frames.items()})


def test_two_entity_tables_sharing_a_key_are_one_to_one(engine):
    [link] = relate(engine, {"a": pd.DataFrame({"k": codes("K", 30)}), "b": pd.DataFrame({"k": codes("K", 20)})})
    assert (link.cardinality, link.left_match_rate, link.right_match_rate) == ("one_to_one", 20 / 30, 1.0)


def test_a_repeating_reference_to_another_tables_key_is_many_to_one(engine):
    accounts = pd.DataFrame({"account": codes("A", 60)})
    customers = pd.DataFrame({"cid": codes("C", 120), "account": codes("A", 60, repeat=2)})
    [link] = relate(engine, {"customers": customers, "accounts": accounts})
    assert (link.left, link.left_column, link.right, link.right_column) == ("customers", "account", "accounts", "account")
    assert link.cardinality == "many_to_one"


def test_tables_whose_keys_do_not_overlap_enough_are_not_related(engine):
    assert relate(engine, {"a": pd.DataFrame({"k": codes("K", 30)}), "b": pd.DataFrame({"k": codes("X", 30)})}) == []
    shifted = [f"K{i:05d}" for i in range(21, 51)]  # 10 of 30 shared on each side
    assert relate(engine, {"a": pd.DataFrame({"k": codes("K", 30)}), "b": pd.DataFrame({"k": shifted})}) == []


def test_integer_float_and_text_keys_match_as_the_same_text(engine):
    people = pd.DataFrame({"pid": np.arange(100, 160)})
    visits = pd.DataFrame({"pid": np.r_[np.arange(100.0, 140.0), [np.nan] * 5]})  # 17.0 is 17
    notes = pd.DataFrame({"pid": [f" {100 + i} " for i in range(20, 70)]})  # " 17 " is 17
    links = {r.right: r for r in relate(engine, {"people": people, "visits": visits, "notes": notes})
             if r.left == "people"}
    assert (links["visits"].left_match_rate, links["visits"].right_match_rate) == (40 / 60, 1.0)
    assert (links["notes"].left_match_rate, links["notes"].right_match_rate) == (40 / 60, 40 / 50)


# --------------------------------------------------------------------------------------------------
# reading files and exploring them


def test_csv_is_read_as_text_with_empty_cells_missing(engine, tmp_path):
    path = tmp_path / "c.csv"
    path.write_text("id,zip,age\n1,02139,\n2,10001,40\n")
    frame = engine.frame(f"SELECT * FROM {source_relation(engine, path)}")
    assert frame["zip"].tolist() == ["02139", "10001"]
    assert frame["age"].isna().tolist() == [True, False]


def test_reading_an_unknown_format_names_the_file(engine, tmp_path):
    path = tmp_path / "data.xlsx"
    path.write_text("x\n1\n")
    with pytest.raises(DataValidationError, match=r"data\.xlsx.*csv or parquet"):
        source_relation(engine, path)
    assert engine.scalar(f"SELECT count(*) FROM {source_relation(engine, path, 'csv')}") == 1


def test_a_missing_or_unreadable_file_is_bad_input_naming_it(engine, tmp_path):
    with pytest.raises(DataValidationError, match=r"gone\.csv: the file does not exist"):
        source_relation(engine, tmp_path / "gone.csv")
    broken = tmp_path / "broken.parquet"
    broken.write_text("not parquet")
    with pytest.raises(DataValidationError, match=r"broken\.parquet: cannot be read as PARQUET"):
        source_relation(engine, broken)


def test_explore_files_profiles_csv_and_parquet_into_findings_and_starter_settings(tmp_path):
    shutil.copy(SAMPLE_DATA / "customers.csv", tmp_path / "clients.csv")
    pd.read_parquet(SAMPLE_DATA / "transactions.parquet").rename(
        columns={"customer_id": "client", "event_ts": "paid_at"}).to_parquet(tmp_path / "payments.parquet")
    tables = tmp_path / "scratch" / "tables"
    with DuckDBEngine(tables_dir=tables) as fresh:
        settings_path, findings_dir = explore_files([tmp_path / "clients.csv", tmp_path / "payments.parquet"],
                                                    tmp_path / "project", fresh)
    settings = load_settings(settings_path)
    assert (settings.entity.name, settings.entity.entity_key) == ("clients", "customer_id")
    payments = settings.events["payments"]
    assert (payments.entity_key, payments.timestamp_column) == ("client", "paid_at")
    assert sorted(p.name for p in findings_dir.glob("*.yaml")) == [
        "clients_findings.yaml", "multi_dataset_findings.yaml", "payments_findings.yaml"]
    assert not list(tables.glob("*.parquet"))  # the CSV's working copy is gone


def test_datetimes_are_compared_in_utc_whatever_the_offset_written(engine):
    frame = pd.DataFrame({"at": ["2024-07-01T01:00:00+02:00", "2024-06-30T22:30:00-01:00", "2024-06-30T20:00:00"]})
    column = profile(engine, frame, reference_time=datetime(2024, 6, 30, 23, tzinfo=timezone.utc)).columns["at"]
    assert (column.min, column.max) == ("2024-06-30T20:00:00+00:00", "2024-06-30T23:30:00+00:00")
    assert column.future_rate == pytest.approx(1 / 3)


def test_explore_uses_what_a_person_reviewed_in_the_findings(tmp_path):
    """A reviewed key, time column or customer table changes the starter settings on the next explore."""
    shutil.copy(SAMPLE_DATA / "customers.csv", tmp_path / "clients.csv")
    payments = pd.read_parquet(SAMPLE_DATA / "transactions.parquet").rename(
        columns={"customer_id": "client", "event_ts": "paid_at"})
    payments["booked_at"] = payments["paid_at"] + pd.Timedelta(hours=1)
    payments.to_parquet(tmp_path / "payments.parquet")
    files = [tmp_path / "clients.csv", tmp_path / "payments.parquet"]
    project = tmp_path / "project"
    with DuckDBEngine(tables_dir=tmp_path / "scratch") as engine:
        settings_path, findings_dir = explore_files(files, project, engine)
        detected = load_settings(settings_path).events["payments"].timestamp_column
        other = "booked_at" if detected == "paid_at" else "paid_at"
        path = findings_dir / "payments_findings.yaml"
        data = yaml.safe_load(path.read_text())
        data["review"]["timestamp_column"] = other
        path.write_text(yaml.safe_dump(data, sort_keys=False))
        settings_path.unlink()  # explore writes starter settings only where there are none
        settings_path, _ = explore_files(files, project, engine)
    assert load_settings(settings_path).events["payments"].timestamp_column == other
