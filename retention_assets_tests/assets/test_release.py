"""A run publishes all or nothing: malformed input, a rejected challenger or a kill -9 leave the published
set byte-identical (or, for a kill after the switch, the new one whole), and the next run cleans up.

The corpus is written here: every case breaks one file of a good sample in one way, the real graph runs
through the CLI against a data directory holding a good release, and the whole published set is hashed
before and after (release manifest, gold, scores, campaign, the Feast offline source, registry and online
store, the score history, the MLflow registry's alias and published versions).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest
import yaml

from retention_assets.sample.generator import SamplePaths
from retention_assets_tests.assets.test_leakage_and_bad_input import copy_sample
from retention_assets_tests.pipeline import published_fingerprint


@dataclass(frozen=True)
class Case:
    """One malformed input: how to break the sample, and what the one-line message must name."""

    break_files: Callable[[SamplePaths, Path], Path]  # returns the file it broke
    names: tuple[str, ...]  # besides the file's path


def _tickets(paths: SamplePaths) -> pd.DataFrame:
    return pd.read_csv(paths.support_tickets, dtype=str, keep_default_na=False)


def _empty(paths, _):
    paths.customers.write_bytes(b"")
    return paths.customers


def _header_only(paths, _):
    paths.customers.write_text(paths.customers.read_text().splitlines()[0] + "\n")
    return paths.customers


def _parquet_named_csv(paths, _):
    _tickets(paths).to_parquet(paths.support_tickets)
    return paths.support_tickets


def _latin1(paths, _):
    tickets = _tickets(paths)
    tickets.loc[5, "text"] = "my café card was charged twice"
    paths.support_tickets.write_bytes(tickets.to_csv(index=False).encode("latin-1"))
    return paths.support_tickets


def _bad_timestamps(paths, _):
    tickets = _tickets(paths)
    tickets.loc[[2, 4, 6, 8, 10], "created_at"] = ["yesterday", "2026-02-30T10:00:00Z", "n/a", "12/13/2025", "soon"]
    tickets.to_csv(paths.support_tickets, index=False)
    return paths.support_tickets


def _key_column_missing(paths, _):
    _tickets(paths).rename(columns={"customer_id": "client"}).to_csv(paths.support_tickets, index=False)
    return paths.support_tickets


def _event_keys(transform) -> Callable[[SamplePaths, Path], Path]:
    def break_keys(paths, _):
        tx = pd.read_parquet(paths.transactions)
        tx.assign(customer_id=transform(tx["customer_id"])).to_parquet(paths.transactions)
        return paths.transactions

    return break_keys


def _five_percent(keys: pd.Series) -> pd.Series:
    return keys.where(keys.index % 20 == 0, "X" + keys)


def _weaker_model(paths, findings: Path):
    """Not a bad file but a rejected run: without transactions the challenger loses the champion gate
    after it was trained and registered, the latest point a run can fail."""
    path = findings / "transactions_findings.yaml"
    data = yaml.safe_load(path.read_text())
    data["review"]["selected"] = False
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


CASES = {
    "empty file": Case(_empty, ("empty",)),
    "header only": Case(_header_only, ("no data rows",)),
    "parquet named csv": Case(_parquet_named_csv, ("Parquet",)),
    "latin-1 bytes": Case(_latin1, ("not UTF-8", "line 7")),
    "five unparseable timestamps": Case(_bad_timestamps, ("'created_at'", "5 ", "'yesterday'", "'soon'")),
    "key column missing": Case(_key_column_missing, ("'customer_id'", "missing")),
    "event keys match no customer": Case(_event_keys(lambda k: "X" + k), ("'customer_id'", "only 0 of")),
    "event keys match 5%": Case(_event_keys(_five_percent), ("'customer_id'", "5.0%")),
    "event keys differ in case": Case(_event_keys(lambda k: k.str.lower()), ("'customer_id'", "letter case")),
    "challenger loses the gate": Case(_weaker_model, ("beats_champion", "worse than champion")),
}


def _quickstart(settings_path: Path, capsys) -> tuple[int, str]:
    from retention_assets.cli import run_pipeline

    code = run_pipeline(str(settings_path))
    captured = capsys.readouterr()
    return code, captured.err


@pytest.fixture(scope="module")
def released(tmp_path_factory, small_sample):
    """A data directory holding one good release, and the environment the CLI runs in."""
    from retention_assets.cli import run_pipeline
    from retention_assets.settings import SETTINGS_ENV_VAR, load_settings
    from retention_assets_tests.conftest import write_settings

    directory = tmp_path_factory.mktemp("release")
    paths = copy_sample(small_sample, directory / "data")
    settings_path = write_settings(directory, paths)
    with pytest.MonkeyPatch.context() as env:
        env.setenv("DAGSTER_HOME", str(directory / "dagster_home"))
        env.setenv(SETTINGS_ENV_VAR, str(settings_path))
        env.delenv("RETENTION_PROFILE", raising=False)
        assert run_pipeline(str(settings_path)) == 0
        settings = load_settings(settings_path)
        yield settings, paths, settings_path, published_fingerprint(settings)


@pytest.mark.parametrize("name", list(CASES))
def test_malformed_input_fails_with_one_message_and_changes_nothing_published(name, released, capsys):
    settings, paths, settings_path, before = released
    case = CASES[name]
    originals = {p: p.read_bytes() for p in (paths.customers, paths.transactions, paths.support_tickets,
                                                *settings.findings_path.glob("*.yaml"))}
    try:
        broken = case.break_files(paths, settings.findings_path)
        code, err = _quickstart(settings_path, capsys)
    finally:
        for path, body in originals.items():
            path.write_bytes(body)

    assert code == 1, err[-3000:]
    failures = [line for line in err.splitlines() if line.startswith("  - ")]
    assert failures, err[-3000:]
    first = failures[0]
    if broken.suffix != ".yaml":
        assert str(broken) in first, first
    for fragment in case.names:
        assert fragment in first, (fragment, first)
    assert "Traceback" not in first
    assert published_fingerprint(settings) == before, name


def test_the_serving_path_reads_the_release_while_runs_fail(released):
    """After every malformed run above, `retention score` still answers from the good release."""
    from retention_assets.publication.generations import read_release
    from retention_assets.serving import predict

    settings, _, _, before = released
    assert published_fingerprint(settings) == before
    release = read_release(settings.data_path)
    scores = pd.read_parquet(release.tables["churn_scores"]).set_index("customer_id")
    ids = scores.index[:5].tolist()
    online = predict(ids, settings).set_index("customer_id")
    assert (online["model_version"] == release.model_version).all()
    assert (online["churn_probability"] - scores.loc[ids, "churn_probability"]).abs().max() < 1e-9


def test_a_bom_and_crlf_copy_of_the_sources_gives_the_same_results(released, capsys):
    """A valid control written with a UTF-8 byte order mark and CRLF line endings publishes a new release
    whose gold, scores and campaign equal the good release's (runs after the malformed cases: it publishes)."""
    from retention_assets.publication.generations import read_release

    settings, paths, settings_path, _ = released
    good = read_release(settings.data_path)
    originals = {p: p.read_bytes() for p in (paths.customers, paths.support_tickets)}
    try:
        for path in originals:
            path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes().replace(b"\r\n", b"\n").replace(b"\n", b"\r\n"))
        code, err = _quickstart(settings_path, capsys)
    finally:
        for path, body in originals.items():
            path.write_bytes(body)
    assert code == 0, err[-3000:]
    new = read_release(settings.data_path)
    assert new.generation != good.generation and new.previous == good.generation
    for name in ("gold_features", "churn_scores", "retention_campaign"):
        pd.testing.assert_frame_equal(pd.read_parquet(new.tables[name]), pd.read_parquet(good.tables[name]))
    assert new.model_version == good.model_version and not new.promoted  # a tie keeps the champion


def test_a_failed_run_page_carries_its_one_sentence_cause(make_settings, small_sample, tmp_path):
    """What a user sees first on the run page: the failure sensor tags the run with the cause."""
    import dagster as dg

    from retention_assets.assets.failures import FAILURE_TAG
    from retention_assets.definitions import build_definitions
    from retention_assets_tests.pipeline import run_refresh

    paths = copy_sample(small_sample, tmp_path / "data")
    _bad_timestamps(paths, None)
    settings = make_settings(paths=paths)
    instance = dg.DagsterInstance.ephemeral()
    result = run_refresh(settings, instance=instance)
    assert not result.success
    event = next(e for e in result.all_events if e.event_type_value == "PIPELINE_FAILURE")
    context = dg.build_run_status_sensor_context(
        sensor_name="failure_reason_sensor", dagster_event=event, dagster_instance=instance,
        dagster_run=instance.get_run_by_id(result.run_id)).for_run_failure()
    build_definitions(settings).resolve_sensor_def("failure_reason_sensor")(context)
    tag = instance.get_run_by_id(result.run_id).tags[FAILURE_TAG]
    assert tag.startswith("raw_support_tickets: ") and str(paths.support_tickets) in tag
    assert "'created_at'" in tag and "'yesterday'" in tag and "\n" not in tag


# ----------------------------------------------------------------------------------------------------
# kill -9


def _wait_for(condition: Callable[[], bool], process: subprocess.Popen, what: str, timeout: float = 600) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if process.poll() is not None:
            pytest.fail(f"the quickstart ended ({process.returncode}) before {what}")
        if time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"no {what} within {timeout} s")
        time.sleep(0.05)


def test_a_killed_quickstart_leaves_the_old_or_the_new_release_and_the_next_run_cleans_up(make_settings, tmp_path):
    from retention_assets.model.tracking import CANDIDATE, champion_version, unfinished_runs, version_states
    from retention_assets.profiles import build_profile
    from retention_assets.publication.generations import generation_dir, generations, read_release

    settings = make_settings()
    tracking = build_profile(settings.data_path).tracking()
    env = {**os.environ, "DAGSTER_HOME": str(tmp_path / "dagster_home")}
    env.pop("RETENTION_PROFILE", None)
    command = [sys.executable, "-m", "retention_assets.cli", "quickstart", "--settings",
               str(settings.base_dir / "settings.yaml")]

    def quickstart() -> subprocess.Popen:
        return subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)

    first = quickstart()
    assert first.wait(900) == 0, first.stderr.read()[-3000:]
    tables = settings.data_path / "tables"

    def windows_written(since: float) -> Callable[[], bool]:
        return lambda: any(p.stat().st_mtime > since for p in tables.glob("bronze_event_*.parquet"))

    def registered(release) -> Callable[[], bool]:
        return lambda: any(v.state == CANDIDATE and v.dagster_run_id != release.run_id
                           for v in version_states(tracking))

    def publishing(release) -> Callable[[], bool]:
        return lambda: any((generation_dir(settings.data_path, g) / "tables").exists()
                           for g in generations(settings.data_path) if g not in (release.generation, release.previous))

    for point in ("windows", "registered", "publishing"):
        before, release = published_fingerprint(settings), read_release(settings.data_path)
        started = time.time()
        run = quickstart()
        condition = {"windows": windows_written(started), "registered": registered(release),
                     "publishing": publishing(release)}[point]
        _wait_for(condition, run, point)
        os.kill(run.pid, signal.SIGKILL)
        run.wait(60)
        after = read_release(settings.data_path)
        if after.generation == release.generation:  # killed before the switch: the old set, byte for byte
            assert published_fingerprint(settings) == before, point
        else:  # killed after it: the new set, whole
            assert point == "publishing" and after.previous == release.generation
            assert all(Path(p).exists() for p in after.tables.values())

    last = quickstart()
    assert last.wait(900) == 0, last.stderr.read()[-3000:]
    release = read_release(settings.data_path)
    assert unfinished_runs(tracking) == []  # no MLflow run is left RUNNING
    states = version_states(tracking)
    assert [v for v in states if v.state == CANDIDATE] == []  # no orphan version could ever be promoted
    assert champion_version(tracking) == release.model_version
    assert set(generations(settings.data_path)) == {release.generation, release.previous}
    scores = pd.read_parquet(release.tables["churn_scores"])
    assert set(scores["model_version"]) == {release.model_version}
