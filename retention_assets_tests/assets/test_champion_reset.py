"""`retention champion set/clear`: the way out of a bad champion, from the CLI, and what the next gate compares with."""

from __future__ import annotations

import yaml
from mlflow import MlflowClient

from retention_assets.cli import main
from retention_assets.settings import SETTINGS_ENV_VAR
from retention_assets_tests.pipeline import run_refresh


def alias(settings) -> str | None:
    uri = f"sqlite:///{settings.data_path / 'mlflow' / 'mlflow.db'}"
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    aliases = client.get_registered_model("churn_model").aliases
    return str(aliases["champion"]) if "champion" in aliases else None


def gate_metadata(result) -> dict:
    for event in result.all_events:
        if event.event_type_value == "ASSET_CHECK_EVALUATION" and \
                event.event_specific_data.check_name == "beats_champion":
            return {k: v.value for k, v in event.event_specific_data.metadata.items()}
    raise AssertionError("no beats_champion evaluation")


def test_the_champion_is_set_and_cleared_from_the_cli_and_the_next_gate_compares_with_it(
        make_settings, monkeypatch, capsys, tmp_path):
    settings = make_settings()
    path = str(tmp_path / "settings.yaml")
    monkeypatch.setenv(SETTINGS_ENV_VAR, path)  # restored after the test (the CLI exports the path it is given)
    assert run_refresh(settings).success and alias(settings) == "1"
    second = run_refresh(settings)  # the same data again: a tie, published but not promoted
    assert second.success and alias(settings) == "1"

    assert main(["champion", "set", "2", "--settings", path]) == 0
    assert alias(settings) == "2"
    assert main(["champion", "list", "--settings", path]) == 0
    listed = capsys.readouterr().out
    rows = {line.split()[0]: line for line in listed.splitlines() if line.strip()[:1].isdigit()}
    assert set(rows) == {"1", "2"}
    assert "alias: champion" in rows["2"] and "alias: champion" not in rows["1"]
    assert "out_of_time" in rows["1"] and "out_of_time" in rows["2"]  # the validation mode of each version

    third = run_refresh(settings)  # the next gate compares the challenger with the chosen version
    assert third.success
    assert gate_metadata(third)["champion_version"] == "2"
    assert alias(settings) == "2"  # a tie with version 2 keeps the alias where the person put it

    assert main(["champion", "clear", "--settings", path]) == 0
    assert alias(settings) is None
    assert main(["champion", "set", "9", "--settings", path]) == 2  # no such version: a clear refusal
    assert "has no version 9" in capsys.readouterr().err

    history = yaml.safe_load((settings.findings_path / "iterations.yaml").read_text())
    changes = history["champion_changes"]
    assert [(c["action"], c["version"], c["previous"]) for c in changes] == [("set", "2", "1"), ("clear", None, "2")]
    assert changes[0]["after_iteration"] == history["iterations"][1]["id"]
    assert len(history["iterations"]) == 3  # the runs' own entries are kept beside the changes
