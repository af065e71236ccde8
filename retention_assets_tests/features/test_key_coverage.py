"""Event keys against the entity table: counts, the thresholds, and the likely cause named in the message."""

from __future__ import annotations

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from retention_assets.core.errors import DataValidationError
from retention_assets.engine.duckdb_engine import DuckDBEngine
from retention_assets.features.coverage import KeyRule, check_key_coverage, key_coverage
from retention_assets.features.raw import SourceSpec, validate_and_write


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    with DuckDBEngine(tmp_path_factory.mktemp("tables")) as engine:
        yield engine


def rule(engine: DuckDBEngine, entity: pd.DataFrame, matched: float = 0.5, covered: float = 0.1) -> KeyRule:
    engine.write_frame("entity", entity)
    return KeyRule(entity=engine.relation("entity"), entity_key="customer_id", entity_path="customers.csv",
                   min_matched_events=matched, min_entities_with_events=covered, settings_prefix="events.transactions")


def events_relation(engine: DuckDBEngine, keys: list) -> str:
    engine.write_frame("events", pd.DataFrame({"customer_id": keys, "amount": range(len(keys))}))
    return engine.relation("events")


CUSTOMERS = pd.DataFrame({"customer_id": [str(i) for i in range(1, 21)]})


def test_counts_of_matched_events_and_covered_customers(engine):
    r = rule(engine, CUSTOMERS)
    coverage = key_coverage(engine, events_relation(engine, ["1", "1", "2", "99", "98"]), "customer_id",
                            r.entity, r.entity_key)
    assert (coverage.events, coverage.matched_events, coverage.entities, coverage.entities_with_events) == (5, 3, 20, 2)
    assert coverage.matched_share == pytest.approx(0.6) and coverage.covered_share == pytest.approx(0.1)


def test_integer_keys_match_text_keys_as_every_layer_compares_them(engine):
    r = rule(engine, CUSTOMERS)
    coverage = check_key_coverage(engine, events_relation(engine, list(range(1, 21))), "customer_id", "tx.csv", r)
    assert coverage.matched_share == 1.0 and coverage.covered_share == 1.0


@pytest.mark.parametrize("keys, cause, example", [
    ([f"{i:05d}" for i in range(1, 21)], "leading zeros", "'00001' here, '1' in the entity table"),
    ([f" {i} " for i in range(1, 21)], "surrounding whitespace", "' 1 ' here, '1' in the entity table"),
    ([f"{i}.0" for i in range(1, 21)], "number formatting", "'1.0' here, '1' in the entity table"),
])
def test_keys_that_match_only_after_a_format_change_are_rejected_with_the_cause(engine, keys, cause, example):
    r = rule(engine, CUSTOMERS)
    with pytest.raises(DataValidationError) as raised:
        check_key_coverage(engine, events_relation(engine, keys), "customer_id", "tx.csv", r)
    message = str(raised.value)
    assert message.startswith("tx.csv, column 'customer_id': only 0 of 20 events (0.0%) have a customer_id found in "
                              "the entity table customers.csv (minimum 50%, events.transactions.min_matched_events)")
    assert "only 0 of 20 customers (0.0%) have any event" in message
    assert cause in message and example in message and "100.0% of the events would match" in message
    assert message.count("would match") == 1  # the simplest normalisation that explains it, not every one


def test_letter_case_is_named_when_only_case_differs(engine):
    r = rule(engine, pd.DataFrame({"customer_id": [f"C{i}" for i in range(10)]}))
    with pytest.raises(DataValidationError, match="letter case: 100.0% of the events would match"):
        check_key_coverage(engine, events_relation(engine, [f"c{i}" for i in range(10)]), "customer_id", "tx.csv", r)


def test_near_zero_matches_fail_and_the_thresholds_are_settings(engine):
    keys = ["1"] + [f"x{i}" for i in range(19)]  # 5% of events match, 1 of 20 customers covered
    r = rule(engine, CUSTOMERS)
    with pytest.raises(DataValidationError, match=r"only 1 of 20 events \(5.0%\)") as raised:
        check_key_coverage(engine, events_relation(engine, keys), "customer_id", "tx.csv", r)
    assert "likely cause" not in str(raised.value)  # no normalisation would help: no guess
    lenient = rule(engine, CUSTOMERS, matched=0.05, covered=0.05)
    assert check_key_coverage(engine, events_relation(engine, keys), "customer_id", "tx.csv", lenient).matched_events == 1


def test_too_few_customers_with_events_fail_even_when_every_event_matches(engine):
    r = rule(engine, CUSTOMERS, covered=0.5)
    with pytest.raises(DataValidationError, match=r"only 2 of 20 customers \(10.0%\) have any event \(minimum 50%"):
        check_key_coverage(engine, events_relation(engine, ["1", "2", "2"]), "customer_id", "tx.csv", r)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(0, 30), max_size=40), st.lists(st.integers(0, 30), min_size=1, max_size=20, unique=True))
def test_coverage_equals_a_python_count(engine, event_keys, entity_keys):
    r = rule(engine, pd.DataFrame({"customer_id": [str(k) for k in entity_keys]}))
    coverage = key_coverage(engine, events_relation(engine, [str(k) for k in event_keys]), "customer_id",
                            r.entity, r.entity_key)
    known = set(entity_keys)
    assert coverage.events == len(event_keys)
    assert coverage.matched_events == sum(k in known for k in event_keys)
    assert coverage.entities == len(known)
    assert coverage.entities_with_events == len(known & set(event_keys))


def test_a_rejected_event_file_never_replaces_the_stored_table(engine, tmp_path):
    r = rule(engine, CUSTOMERS)
    spec = SourceSpec(name="transactions", path=tmp_path / "tx.csv", file_format="csv", entity_key="customer_id",
                      timestamp_columns=("ts",), numeric_columns=("amount",))
    good = pd.DataFrame({"customer_id": [str(i) for i in range(1, 21)], "ts": ["2026-01-01T00:00:00Z"] * 20,
                         "amount": [1.0] * 20})
    good.to_csv(spec.path, index=False)
    report = validate_and_write(engine, spec, "raw_tx", r)
    assert report.key_coverage.matched_share == 1.0
    before = engine.path("raw_tx").read_bytes()
    good.assign(customer_id=[f"{i:05d}" for i in range(1, 21)]).to_csv(spec.path, index=False)
    with pytest.raises(DataValidationError, match="leading zeros"):
        validate_and_write(engine, spec, "raw_tx", r)
    assert engine.path("raw_tx").read_bytes() == before
