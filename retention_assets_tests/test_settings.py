"""A wrong setting fails at load with a message naming the key and what was expected."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
import yaml

from retention_assets.settings import SettingsError, load_settings, sample_settings_path

MINIMAL = {
    "entity": {"path": "customers.csv", "entity_key": "cid"},
    "events": {"tx": {"path": "tx.parquet", "entity_key": "cid", "timestamp_column": "ts"}},
}


def write(tmp_path, data) -> str:
    path = tmp_path / "settings.yaml"
    path.write_text(yaml.safe_dump(data))
    return str(path)


def test_sample_settings_load():
    settings = load_settings(sample_settings_path())
    assert set(settings.events) == {"transactions", "support_tickets"}
    assert settings.windows == ["24h", "7d", "30d", "90d", "180d", "365d", "all_time"]
    assert settings.resolve(settings.entity.path).exists()


def test_relative_paths_resolve_against_the_settings_file(tmp_path):
    settings = load_settings(write(tmp_path, MINIMAL))
    assert settings.resolve(settings.entity.path) == (tmp_path / "customers.csv").resolve()


def test_unknown_key_is_named(tmp_path):
    data = {**MINIMAL, "entity": {**MINIMAL["entity"], "entitykey": "x"}}
    with pytest.raises(SettingsError, match=r"entity\.entitykey: Extra inputs are not permitted"):
        load_settings(write(tmp_path, data))


def test_missing_required_key_is_named(tmp_path):
    data = {**MINIMAL, "events": {"tx": {"path": "tx.parquet", "entity_key": "cid"}}}
    with pytest.raises(SettingsError, match=r"events\.tx\.timestamp_column: Field required"):
        load_settings(write(tmp_path, data))


def test_bad_window_is_named_with_the_expected_form(tmp_path):
    with pytest.raises(SettingsError, match=r"windows: .*'7 days' must look like '24h', '7d' or 'all_time'"):
        load_settings(write(tmp_path, {**MINIMAL, "windows": ["7 days"]}))


def test_wrong_type_is_named(tmp_path):
    with pytest.raises(SettingsError, match=r"label\.horizon_days: .*integer"):
        load_settings(write(tmp_path, {**MINIMAL, "label": {"horizon_days": "a month"}}))


def test_activity_sources_must_be_event_sources(tmp_path):
    with pytest.raises(SettingsError, match=r"activity_sources names \['logins'\]"):
        load_settings(write(tmp_path, {**MINIMAL, "label": {"activity_sources": ["logins"]}}))


def test_target_label_needs_its_column(tmp_path):
    with pytest.raises(SettingsError, match="target_column is not set"):
        load_settings(write(tmp_path, {**MINIMAL, "label": {"kind": "target_column"}}))


def test_explicit_as_of_is_utc(tmp_path):
    settings = load_settings(write(tmp_path, {**MINIMAL, "timeline": {"as_of": "2026-06-30T14:00:00+02:00"}}))
    assert settings.timeline.as_of == datetime(2026, 6, 30, 12, 0, tzinfo=timezone.utc)


def test_missing_settings_file_is_named(tmp_path):
    with pytest.raises(SettingsError, match="does not exist"):
        load_settings(tmp_path / "nope.yaml")


def test_env_var_selects_the_file(tmp_path, monkeypatch):
    monkeypatch.setenv("RETENTION_SETTINGS", write(tmp_path, {**MINIMAL, "windows": ["7d"]}))
    assert load_settings().windows == ["7d"]
