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


def _normalized(engine: DuckDBEngine, normalization: str, keys: list[str]) -> list[str]:
    from retention_assets.features.coverage import normalize_key

    with engine.registered("keys", pd.DataFrame({"k": keys})) as relation:
        sql = f"SELECT {normalize_key(engine.dialect, normalization, 'k')} FROM {relation}"
        return [row[0] for row in engine.rows(sql)]


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 10**15), st.integers(0, 4), st.booleans(), st.sampled_from(["", ".", ".0", ".000"]),
       st.sampled_from(["", " ", "  "]))
def test_number_normalization_writes_every_spelling_of_a_whole_number_one_way(engine, n, zeros, plus, point, pad):
    spelled = f"{pad}{'+' if plus else ''}{'0' * zeros}{n}{point}{pad}"
    assert _normalized(engine, "number", [spelled]) == [str(n)]


def test_normalizations_leave_what_they_do_not_name_alone(engine):
    keys = [" C17 ", "c17", "017", "17.5", "A-0017"]
    assert _normalized(engine, "none", keys) == keys
    assert _normalized(engine, "trim", keys) == ["C17", "c17", "017", "17.5", "A-0017"]
    assert _normalized(engine, "trim_lower", keys) == ["c17", "c17", "017", "17.5", "a-0017"]
    assert _normalized(engine, "number", keys) == ["C17", "c17", "17", "17.5", "A-0017"]  # only whole numbers


def test_the_message_names_the_setting_that_would_match_the_keys(engine):
    r = rule(engine, CUSTOMERS)
    with pytest.raises(DataValidationError, match="with entity.key_normalization: number") as raised:
        check_key_coverage(engine, events_relation(engine, [f"{i:05d}" for i in range(1, 21)]), "customer_id",
                           "tx.csv", r)
    assert "keys are compared as written" in str(raised.value)


def test_a_declared_normalization_is_applied_to_every_source_and_logged(engine, tmp_path):
    """entity.key_normalization: number makes '00017' events and '17' customers one customer: the stored keys
    are canonical in both tables, the coverage passes, and raw says how many keys it rewrote."""
    customers = SourceSpec(name="customers", path=tmp_path / "customers.csv", file_format="csv",
                           entity_key="customer_id", unique_key=True, key_normalization="number")
    pd.DataFrame({"customer_id": [str(i) for i in range(1, 20)] + ["+020"]}).to_csv(customers.path, index=False)
    entity_report = validate_and_write(engine, customers, "raw_customers_norm")
    assert entity_report.repairs == ["customer_id: 1 key(s) rewritten by entity.key_normalization: number"]
    tx = SourceSpec(name="transactions", path=tmp_path / "tx.csv", file_format="csv", entity_key="customer_id",
                    timestamp_columns=("ts",), key_normalization="number")
    pd.DataFrame({"customer_id": [f"{i:05d}" for i in range(1, 21)],
                  "ts": ["2026-01-01T00:00:00Z"] * 20}).to_csv(tx.path, index=False)
    r = KeyRule(entity=engine.relation("raw_customers_norm"), entity_key="customer_id", entity_path="customers.csv",
                min_matched_events=0.5, min_entities_with_events=0.1, settings_prefix="events.transactions",
                normalization="number")
    report = validate_and_write(engine, tx, "raw_tx_norm", r)
    assert report.key_coverage.matched_share == 1.0 and report.key_coverage.covered_share == 1.0
    assert "customer_id: 20 key(s) rewritten by entity.key_normalization: number" in report.repairs
    stored = engine.frame(f"SELECT customer_id FROM {engine.relation('raw_tx_norm')}")["customer_id"].tolist()
    assert stored == [str(i) for i in range(1, 21)]


def test_a_normalization_that_merges_two_customers_is_a_duplicate_key(engine, tmp_path):
    spec = SourceSpec(name="customers", path=tmp_path / "dup.csv", file_format="csv", entity_key="customer_id",
                      unique_key=True, key_normalization="trim_lower")
    pd.DataFrame({"customer_id": ["C1", "c1 ", "C2"]}).to_csv(spec.path, index=False)
    with pytest.raises(DataValidationError, match="1 duplicate entity key row"):
        validate_and_write(engine, spec, "raw_dup")
