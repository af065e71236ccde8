"""Closing the loop on one persistent Dagster instance: later periods arrive, monitoring notices, the
sensors request exactly the retrains they should, and each retrain is recorded as an iteration; the
performance estimated before labels mature is compared with what the labels later show.

The tests below share one world and run in file order: the base period (first champion), then a
stable later period, one whose churn comes from nowhere the model could see (the performance
sensor asks for a retrain), and a drifted one (the drift sensor asks; that retrain is run and
recorded). Along the way the drift table is read as a person would: calendar features (tenure) aged
by the elapsed time stay quiet, the planted changes lead the importance-weighted ranking, the drift
check clears once the retrain answered it, and every run lands in the per-feature drift history.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest

from retention_assets.automation import FULL_JOB, REFRESH_JOB, RETRAIN_JOB
from retention_assets.definitions import build_definitions, build_resources
from retention_assets.profiles import build_profile
from retention_assets.exploration.iterations import HISTORY_FILE, load_history
from retention_assets.monitoring.drift_history import read_drift_history
from retention_assets.sample.generator import generate_later_period, generate_sample
from retention_assets.settings import Settings, load_settings
from retention_assets_tests.conftest import write_settings

CUSTOMERS, EVENTS, SEED = 1200, 60.0, 5
TENURE = "transactions_all_time_days_since_first"
# what the drift scenario changes: plans and fees, prices (amounts), and the east region's activity
PLANTED = r"^(plan|monthly_fee|transactions_\w+_(amount_\w+|count|days_since_last))$"
# The text components are refit on every refresh (fitted on the texts before the earliest training
# cutoff, which moves), so their meaning differs from what the scoring model learned: real
# training/serving skew, not drift of the customers, and the drift table rightly shows it.
TEXT_COMPONENT = r"_svd_\d+_mean$"


@dataclass
class World:
    settings: Settings
    defs: dg.Definitions
    instance: dg.DagsterInstance
    data: Path
    cursors: dict[str, str | None] = field(default_factory=dict)
    drift_request: dg.RunRequest | None = None  # handed from the drift test to the retrain test
    performance: dict[str, pd.DataFrame] = field(default_factory=dict)  # model_performance after each period
    metadata: dict[str, dict] = field(default_factory=dict)  # and its materialization metadata
    period: str = "base"  # the scenario of the source files loaded last
    refresh: dg.ExecuteInProcessResult | None = None  # the latest refresh run

    def drift(self) -> pd.DataFrame:
        """The latest feature_drift table, per feature (as the UI's table and plot show it)."""
        record = self.instance.fetch_materializations(dg.AssetKey("feature_drift"), limit=1).records[0]
        table = pd.read_parquet(record.asset_materialization.metadata["path"].value)
        return table[table["feature"] != "__predicted_score"].reset_index(drop=True)

    def load(self, scenario: str) -> None:
        """A new full export replaces the source files, as a nightly extract would."""
        self.period = scenario
        generate_later_period(self.data, scenario, n_customers=CUSTOMERS, seed=SEED, events_per_customer=EVENTS)

    def run(self, job: str, tags: dict[str, str] | None = None):
        result = self.defs.resolve_job_def(job).execute_in_process(instance=self.instance, tags=tags,
                                                                   raise_on_error=False)
        assert result.success, job
        if job == REFRESH_JOB:
            self.performance[self.period] = result.asset_value("model_performance")
            self.metadata[self.period] = next(
                e for e in result.get_asset_materialization_events()
                if e.asset_key.to_user_string() == "model_performance").materialization.metadata
        return result

    def tick(self, sensor: str):
        """One sensor evaluation, with the cursor carried over from the previous one."""
        context = dg.build_sensor_context(instance=self.instance, cursor=self.cursors.get(sensor),
                                          definitions=self.defs)
        data = self.defs.resolve_sensor_def(sensor).evaluate_tick(context)
        self.cursors[sensor] = data.cursor
        return data

    def exactly_one_retrain(self, scenario: str, sensor: str, trigger: str) -> dg.RunRequest:
        """Load a later period, refresh, and expect `sensor` to request one retrain, then nothing more."""
        self.load(scenario)
        self.refresh = self.run(REFRESH_JOB)
        first = self.tick(sensor)
        assert len(first.run_requests) == 1, first
        request = first.run_requests[0]
        assert self.defs.resolve_sensor_def(sensor).job_name == RETRAIN_JOB
        assert request.tags["retention/trigger"] == trigger and request.run_key.startswith(trigger.split("_")[0] + ":")
        assert not self.tick(sensor).run_requests  # evaluated again: nothing more
        return request


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("monitoring")
    paths = generate_sample(root / "data", n_customers=CUSTOMERS, seed=SEED, events_per_customer=EVENTS)
    settings = load_settings(write_settings(root, paths))
    with dg.instance_for_test() as instance:
        world = World(settings, build_definitions(settings), instance, root / "data")
        world.run(FULL_JOB)
        for sensor in ("drift_sensor", "performance_sensor", "source_files_sensor"):
            assert not world.tick(sensor).run_requests, sensor
        yield world


def drift_check(result: dg.ExecuteInProcessResult):
    return next(e for e in result.get_asset_check_evaluations() if e.check_name == "no_significant_drift")


def test_a_stable_period_requests_no_retrain(world):
    world.load("stable")
    # A sensor started after the files changed (no cursor yet) compares with what the last refresh read.
    fresh = dg.build_sensor_context(instance=world.instance, definitions=world.defs)
    assert len(world.defs.resolve_sensor_def("source_files_sensor").evaluate_tick(fresh).run_requests) == 1
    refresh = world.tick("source_files_sensor")
    assert len(refresh.run_requests) == 1  # new files: refresh every layer downstream of raw
    assert world.defs.resolve_sensor_def("source_files_sensor").job_name == REFRESH_JOB
    world.refresh = world.run(REFRESH_JOB)
    drift, performance = world.tick("drift_sensor"), world.tick("performance_sensor")
    assert not drift.run_requests and "no significant drift" in drift.skip_message, drift
    # The base period's cohort has matured by now and is judged at its old level.
    assert not performance.run_requests and "within" in performance.skip_message, performance


def test_on_a_stable_period_no_feature_drifts_significantly_not_even_tenure(world):
    table = world.drift().set_index("feature")
    calendar = table[table["calendar"]]
    assert {TENURE, "days_since_signup_date"} <= set(calendar.index)
    assert not calendar.index.str.contains("days_since_last").any()
    assert (calendar["severity"] == "none").all(), calendar[["psi", "raw_psi"]]
    assert calendar.loc[TENURE, "raw_psi"] > 1.0  # unaged, tenure alone looked like the biggest drift
    significant = table[table["severity"] == "significant"]
    assert significant.index.str.contains(TEXT_COMPONENT).all(), significant[["psi"]]
    assert significant["importance_share"].sum() < 0.05
    assert drift_check(world.refresh).passed


def test_a_real_performance_drop_requests_one_retrain(world):
    world.exactly_one_retrain("performance_drop", "performance_sensor", "performance_drop")


def _cohort(table: pd.DataFrame, as_of: str) -> pd.Series:
    return table.set_index("as_of").loc[as_of]


def test_the_estimate_covers_the_stable_period_and_the_unforeseen_drop_falls_below_it(world):
    """The base period's cohort is estimated from its scores alone (the same in every later period); its labels
    arrive with the later period. Stable: the realized ROC AUC lands inside the band. Performance drop (churn
    without warning signs, which the scores could not see): it falls below the band, and the gap grows."""
    stable, dropped = world.performance["stable"], world.performance["performance_drop"]
    base = stable.loc[stable["judged"], "as_of"].iloc[0]
    calm, hit = _cohort(stable, base), _cohort(dropped, base)
    assert calm["estimated_roc_auc"] == hit["estimated_roc_auc"]  # scores only: the labels do not enter
    assert calm["estimated_roc_auc_low"] <= calm["roc_auc"] <= calm["estimated_roc_auc_high"]
    assert calm["estimate_covers_realized"] and not hit["estimate_covers_realized"]
    assert hit["roc_auc"] < hit["estimated_roc_auc_low"]
    assert hit["estimated_roc_auc"] - hit["roc_auc"] > 3 * abs(calm["estimated_roc_auc"] - calm["roc_auc"])
    # The cohort scored on the stable period waits for its labels: estimated, not judged, and shown as such.
    waiting = dropped[~dropped["matured"]]
    assert len(waiting) == 1 and not waiting["judged"].iloc[0] and waiting["roc_auc"].isna().all()
    metadata = world.metadata["performance_drop"]
    assert metadata["estimated_roc_auc"].value == waiting["estimated_roc_auc"].iloc[0]  # full precision
    assert metadata["realized_roc_auc"].value == hit["roc_auc"]
    assert "labels not matured" in metadata["performance_by_cohort"].value
    assert "performance_over_time" in metadata and not metadata["estimate_triggers_retrain"].value


def test_a_drifted_period_requests_exactly_one_retrain(world):
    world.drift_request = world.exactly_one_retrain("drift", "drift_sensor", "drift")
    table = world.drift()
    # What really moved leads the importance-weighted ranking (the plot's order), not tenure.
    assert table["feature"].head(3).str.match(PLANTED).all(), table.head(5)
    assert not table.head(10)["calendar"].any()
    by_feature = table.set_index("feature")
    assert by_feature.loc["monthly_fee", "severity"] == "significant"
    assert by_feature.loc["transactions_30d_amount_max", "severity"] == "significant"
    assert by_feature.loc["transactions_30d_count", "severity"] in ("moderate", "significant")
    assert not drift_check(world.refresh).passed
    # The same refresh also signals a performance drop (reported here): the retrain below answers both.
    world.instance.report_runless_asset_event(dg.AssetMaterialization("model_performance", metadata={
        "performance_signal": True, "signal_reason": "planted", "cohort": "c", "model_version": "1"}))


def test_the_estimate_drops_with_the_scores_of_the_performance_drop_period(world):
    """The cohort scored at the later as-of time is re-scored by each period; the drift period's refresh (before
    any retrain: same model, same calibration) estimates the one the performance-drop period scored. Its
    customers' scores moved (the quiet churners' activity stopped), and the estimate drops with them,
    without any label; a low estimate is shown but does not retrain (the setting is off)."""
    later = world.performance["performance_drop"].loc[lambda t: ~t["matured"], "as_of"].iloc[0]
    stable_scores = _cohort(world.performance["performance_drop"], later)
    drop_scores = _cohort(world.performance["drift"], later)
    assert stable_scores["model_version"] == drop_scores["model_version"]
    assert drop_scores["estimated_roc_auc"] < stable_scores["estimated_roc_auc"] - 0.02
    assert drop_scores["estimated_roc_auc"] < drop_scores["expected_roc_auc"] - world.settings.monitoring.max_auc_drop
    metadata = world.metadata["drift"]
    assert not metadata["performance_signal"].value  # realized within max_auc_drop, the estimate only shown
    assert "estimate_triggers_retrain is off" in metadata["signal_reason"].value


def test_the_drift_retrain_is_recorded_with_parent_metrics_and_champion_decision(world):
    result = world.run(RETRAIN_JOB, tags=world.drift_request.tags)
    run = world.instance.get_run_by_id(result.run_id)
    event = next(e for e in result.all_events if e.event_type_value == "PIPELINE_SUCCESS")
    context = dg.build_run_status_sensor_context(
        sensor_name="retrain_outcome_sensor", dagster_event=event, dagster_instance=world.instance, dagster_run=run,
        resources={"tracking": build_resources(world.settings, build_profile(world.settings.data_path))["tracking"]})
    world.defs.resolve_sensor_def("retrain_outcome_sensor")(context)

    history = load_history(world.settings.findings_path / HISTORY_FILE)
    latest = history[-1]
    assert latest.trigger == "drift" and latest.run_id == result.run_id
    assert latest.parent == history[-2].id
    outcome = latest.outcome
    assert outcome["status"] == "success"
    assert outcome["metrics_before"] == {k: history[-2].metrics[k] for k in ("roc_auc", "pr_auc", "brier")}
    assert outcome["metrics_after"]["roc_auc"] == latest.metrics["roc_auc"]
    promoted = next(e for e in result.get_asset_materialization_events()
                    if e.asset_key.to_user_string() == "champion_model").materialization.metadata["promoted"].value
    assert outcome["became_champion"] == promoted == latest.champion
    # After the retrain the drift asset measures against the new champion's own reference: quiet again,
    # and the check clears, saying which version answered the drift.
    assert not world.tick("drift_sensor").run_requests
    check = drift_check(result)
    assert check.passed and check.description.startswith(f"answered by version {latest.model_version}"), check
    # Every monitoring run is in the per-feature history: base, stable, performance drop, drift, retrain.
    history = read_drift_history(world.settings.data_path)
    runs = history.drop_duplicates("run_id")
    assert len(runs) == 5 and runs["run_id"].iloc[-1] == result.run_id
    assert runs["model_version"].tolist() == ["1"] * 4 + [str(latest.model_version)]
    fee = history[history["feature"] == "monthly_fee"].set_index("run_id")["psi"]
    assert fee.iloc[3] > 1.0 > fee.iloc[4] and fee.iloc[1] < 0.1  # drifted, answered, and quiet when stable
    # The performance signal from before the retrain does not start a second one.
    performance = world.tick("performance_sensor")
    assert not performance.run_requests and f"retrain run {result.run_id}" in performance.skip_message
