"""The registry's champion alias moves only to a challenger that beats the champion on the same rows."""

from __future__ import annotations

import yaml
from mlflow import MlflowClient

from retention_assets_tests.pipeline import check_results, materialized_keys, run_refresh


def select_transactions(settings, selected: bool) -> None:
    path = settings.findings_path / "transactions_findings.yaml"
    data = yaml.safe_load(path.read_text())
    data["review"]["selected"] = selected
    path.write_text(yaml.safe_dump(data, sort_keys=False))


def champion(settings) -> str:
    client = MlflowClient(tracking_uri=(uri := f"sqlite:///{settings.data_path / 'mlflow' / 'mlflow.db'}"), registry_uri=uri)
    return str(client.get_model_version_by_alias("churn_model", "champion").version)


def test_a_better_challenger_takes_the_alias_and_a_worse_one_does_not(make_settings):
    settings = make_settings()
    assert run_refresh(settings).success
    assert champion(settings) == "1"  # the first model becomes champion

    select_transactions(settings, False)  # without transactions the model is much weaker
    worse = run_refresh(settings)
    assert check_results(worse)["churn_model:beats_champion"] is False
    assert "champion_model" not in materialized_keys(worse)
    assert champion(settings) == "1"

    select_transactions(settings, True)
    same = run_refresh(settings)  # same data and features as version 1: a tie keeps the alias
    assert same.success and check_results(same)["churn_model:beats_champion"] is True
    assert champion(settings) == "1"


def test_a_challenger_beating_a_weak_champion_is_promoted(make_settings, tmp_path):
    first = make_settings()
    assert run_refresh(first).success  # writes the findings
    findings = {p.name: p.read_bytes() for p in first.findings_path.glob("*.yaml")}
    settings = make_settings(directory=tmp_path / "again")  # a new data directory with the same findings,
    settings.findings_path.mkdir(parents=True)  # transactions left out
    for name, body in findings.items():
        (settings.findings_path / name).write_bytes(body)
    select_transactions(settings, False)
    weak = run_refresh(settings)
    assert weak.success and champion(settings) == "1"  # the first model is champion, however weak

    select_transactions(settings, True)
    strong = run_refresh(settings)

    assert strong.success and check_results(strong)["churn_model:beats_champion"] is True
    assert champion(settings) == "2"
