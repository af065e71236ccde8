"""Findings files are stable, readable YAML whose `review` blocks belong to people and survive every re-run."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import yaml

from retention_assets.exploration.findings import (
    findings_path,
    load_findings,
    load_multi_findings,
    multi_findings_path,
    write_findings,
    write_multi_findings,
)
from retention_assets.exploration.profiling import profile_frame
from retention_assets_tests.exploration.cases import relate_frames


def customers(n: int = 30, **extra) -> pd.DataFrame:
    frame = pd.DataFrame({
        "customer_id": [f"C{i:04d}" for i in range(n)],
        "age": [20 + 5 * (i % 7) for i in range(n)],
        "plan": ["basic", "pro", "max"] * (n // 3),
        "churned": [0, 1] * (n // 2),
        "note": [f"called about invoice {i} twice" for i in range(n)],
    })
    return frame.assign(**extra)


def events(n_customers: int = 60) -> pd.DataFrame:
    return pd.DataFrame({
        "customer_id": [f"C{i % n_customers:04d}" for i in range(3 * n_customers)],
        "at": pd.date_range("2024-01-01", periods=3 * n_customers, freq="h", tz="UTC"),
        "amount": [1.5 * i for i in range(3 * n_customers)],
    })


def write(engine, frame: pd.DataFrame, directory: Path, name: str = "customers") -> Path:
    return write_findings(profile_frame(engine, frame, name, f"/data/{name}.csv"), directory)


def edit(path: Path, change) -> None:
    """What a person does: open the YAML, change a value, save."""
    data = yaml.safe_load(path.read_text())
    change(data)
    path.write_text(yaml.safe_dump(data, sort_keys=False))


def test_the_file_is_named_after_the_dataset(engine, tmp_path):
    path = write(engine, customers(), tmp_path)
    assert path == findings_path(tmp_path, "customers") == tmp_path / "customers_findings.yaml"
    assert multi_findings_path(tmp_path) == tmp_path / "multi_dataset_findings.yaml"


def test_the_same_data_twice_gives_byte_identical_files(engine, tmp_path):
    first = write(engine, customers(), tmp_path).read_bytes()
    assert write(engine, customers(), tmp_path).read_bytes() == first


def test_the_file_is_plain_yaml_with_review_before_detected_and_rounded_floats(engine, tmp_path):
    text = write(engine, customers(), tmp_path).read_text()
    assert text.startswith("# ") and "`detected` is rewritten" in text.splitlines()[0]
    assert "!!" not in text
    data = yaml.safe_load(text)
    assert list(data) == ["dataset", "path", "review", "detected", "columns"]
    assert data["review"] == {"selected": True, "granularity": None, "entity_key": None,
                              "timestamp_column": None, "target": None}
    assert data["columns"]["plan"]["review"] == {"type": None, "exclude": False}
    assert "  plan:\n    review: {type: null, exclude: false}\n" in text
    assert data["columns"]["plan"]["detected"]["unique_ratio"] == 0.1  # 3/30
    assert data["columns"]["age"]["detected"]["unique_ratio"] == 0.2333  # 7/30 to 4 significant digits


def test_a_persons_edits_survive_a_rerun_and_are_what_load_returns(engine, tmp_path):
    path = write(engine, customers(), tmp_path)

    def review(data):
        data["review"]["selected"] = False
        data["review"]["target"] = "churned"
        data["columns"]["age"]["review"]["type"] = "categorical"
        data["columns"]["note"]["review"]["exclude"] = True

    edit(path, review)
    edited = yaml.safe_load(path.read_text())
    write(engine, customers(n=36), tmp_path)  # new data, same columns
    rerun = yaml.safe_load(path.read_text())
    assert rerun["review"] == edited["review"]
    assert {c: rerun["columns"][c]["review"] for c in rerun["columns"]} == {
        c: edited["columns"][c]["review"] for c in edited["columns"]}
    assert rerun["detected"]["rows"] == 36

    findings = load_findings(path)
    assert findings.selected is False
    assert findings.target == "churned"
    assert findings.column_type("age") == "categorical"
    assert findings.excluded_columns == ["note"]
    assert findings.columns_of_type("categorical") == ["age", "plan"]
    assert findings.columns_of_type("text") == []  # note is text but excluded


def test_without_edits_the_detected_values_are_used(engine, tmp_path):
    findings = load_findings(write(engine, customers(), tmp_path))
    assert findings.selected is True
    assert (findings.entity_key, findings.granularity, findings.timestamp_column) == ("customer_id", "entity", None)
    assert findings.target is None  # binary columns are only candidates; a person picks the target
    assert findings.detected["target_candidates"] == ["churned"]
    assert findings.column_type("age") == "numeric"
    assert findings.excluded_columns == []
    assert findings.columns_of_type("text") == ["note"]


def test_a_reviewed_key_and_timestamp_override_the_detected_ones(engine, tmp_path):
    path = write(engine, events(), tmp_path, "tx")

    def review(data):
        data["review"]["entity_key"] = "customer_id"
        data["review"]["timestamp_column"] = "at"
        data["review"]["granularity"] = "event"

    edit(path, review)
    findings = load_findings(path)
    assert (findings.entity_key, findings.timestamp_column, findings.granularity) == ("customer_id", "at", "event")


def test_an_invalid_type_edit_names_the_file_the_column_and_the_allowed_types(engine, tmp_path):
    path = write(engine, customers(), tmp_path)
    edit(path, lambda data: data["columns"]["age"]["review"].update(type="number"))
    with pytest.raises(ValueError) as error:
        load_findings(path)
    message = str(error.value)
    assert str(path) in message and "'age'" in message and "'number'" in message
    assert "numeric, categorical, binary, datetime, text, identifier" in message


def test_a_reviewed_key_that_is_not_a_column_is_an_error(engine, tmp_path):
    path = write(engine, customers(), tmp_path)
    edit(path, lambda data: data["review"].update(entity_key="cust_id"))
    with pytest.raises(ValueError, match=r"customers_findings\.yaml: review\.entity_key is 'cust_id'.*customer_id"):
        load_findings(path)


def test_a_non_boolean_selection_is_an_error(engine, tmp_path):
    path = write(engine, customers(), tmp_path)
    edit(path, lambda data: data["review"].update(selected="maybe"))
    with pytest.raises(ValueError, match="review.selected must be true or false"):
        load_findings(path)


def test_a_vanished_columns_review_is_kept_and_an_unedited_one_is_dropped(engine, tmp_path):
    path = write(engine, customers(), tmp_path)
    edit(path, lambda data: data["columns"]["note"]["review"].update(exclude=True, type="text"))
    write(engine, customers().drop(columns=["note", "plan"]).assign(region=["n", "s", "e"] * 10), tmp_path)
    data = yaml.safe_load(path.read_text())
    assert data["columns"]["note"] == {"review": {"type": "text", "exclude": True}, "detected": None}
    assert "plan" not in data["columns"]
    assert data["columns"]["region"]["review"] == {"type": None, "exclude": False}
    findings = load_findings(path)
    assert "note" not in findings.columns and findings.excluded_columns == []


def test_a_column_that_comes_back_finds_its_review(engine, tmp_path):
    path = write(engine, customers(), tmp_path)
    edit(path, lambda data: data["columns"]["age"]["review"].update(type="categorical"))
    write(engine, customers().drop(columns=["age"]), tmp_path)
    write(engine, customers(), tmp_path)
    assert load_findings(path).column_type("age") == "categorical"


def test_a_broken_file_is_reported_and_not_overwritten(engine, tmp_path):
    path = write(engine, customers(), tmp_path)
    path.write_text("review: [unclosed\n")
    with pytest.raises(ValueError, match="not valid YAML"):
        write(engine, customers(), tmp_path)
    assert path.read_text() == "review: [unclosed\n"


def test_the_version_is_stable_and_changes_with_a_review(engine, tmp_path):
    path = write(engine, customers(), tmp_path)
    before = load_findings(path).version
    write(engine, customers(), tmp_path)
    assert load_findings(path).version == before and len(before) == 12
    edit(path, lambda data: data["columns"]["age"]["review"].update(exclude=True))
    assert load_findings(path).version != before


def multi(engine, tmp_path: Path):
    frames = {"customers": customers(60), "tx": events()}
    profiles = {name: profile_frame(engine, frame, name, f"/data/{name}") for name, frame in frames.items()}
    for p in profiles.values():
        write_findings(p, tmp_path)
    return write_multi_findings(profiles, relate_frames(engine, frames, profiles), tmp_path)


def test_multi_findings_list_datasets_and_relationships(engine, tmp_path):
    path = multi(engine, tmp_path)
    findings = load_multi_findings(path)
    assert findings.datasets["customers"] == {"granularity": "entity", "entity_key": "customer_id",
                                              "rows": 60, "selected": True}
    assert findings.datasets["tx"]["granularity"] == "event"
    [link] = findings.relationships
    assert (link.left, link.right, link.cardinality, link.left_match_rate) == ("customers", "tx", "one_to_many", 1.0)
    assert findings.primary_entity == "customers"
    assert multi(engine, tmp_path).read_bytes() == path.read_bytes()


def test_multi_findings_keep_their_review_and_follow_each_datasets_selection(engine, tmp_path):
    path = multi(engine, tmp_path)
    edit(path, lambda data: data["review"].update(primary_entity="tx", note="checked by ana"))
    edit(findings_path(tmp_path, "tx"), lambda data: data["review"].update(selected=False))
    frames = {"customers": customers(60), "tx": events()}
    profiles = {name: profile_frame(engine, frame, name, f"/data/{name}") for name, frame in frames.items()}
    write_multi_findings(profiles, relate_frames(engine, frames, profiles), tmp_path)
    findings = load_multi_findings(path)
    assert findings.review == {"primary_entity": "tx", "note": "checked by ana"}
    assert findings.primary_entity == "tx"
    assert findings.selected_datasets == ["customers"]


def test_a_primary_entity_that_is_not_a_dataset_is_an_error(engine, tmp_path):
    path = multi(engine, tmp_path)
    edit(path, lambda data: data["review"].update(primary_entity="people"))
    with pytest.raises(ValueError, match=r"multi_dataset_findings\.yaml: review\.primary_entity is 'people'"):
        load_multi_findings(path)
