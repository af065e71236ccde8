"""One run at a time per data directory: the lock itself, and two quickstarts started together."""

from __future__ import annotations

import multiprocessing
import os
import subprocess
import sys
import threading
import time

import pytest

from retention_assets.core.run_lock import LOCK_FILE, data_dir_lock


def _hold(data_dir, ready, release) -> None:
    with data_dir_lock(data_dir):
        ready.set()
        release.wait(30)


def test_a_second_holder_waits_for_the_first_and_learns_its_pid(tmp_path):
    context = multiprocessing.get_context("spawn")
    ready, release = context.Event(), context.Event()
    holder = context.Process(target=_hold, args=(tmp_path, ready, release))
    holder.start()
    try:
        assert ready.wait(30)
        waited: list[str] = []
        timer = threading.Timer(0.5, release.set)
        timer.start()
        start = time.monotonic()
        with data_dir_lock(tmp_path, on_wait=waited.append):
            assert time.monotonic() - start >= 0.4  # it waited for the release
            assert (tmp_path / LOCK_FILE).read_text() == str(os.getpid())
        assert waited == [str(holder.pid)]
    finally:
        release.set()
        holder.join(30)
    with data_dir_lock(tmp_path, on_wait=lambda pid: pytest.fail(f"released, yet {pid} seems to hold it")):
        pass


def test_a_killed_holder_leaves_no_stale_lock(tmp_path):
    context = multiprocessing.get_context("spawn")
    ready, release = context.Event(), context.Event()
    holder = context.Process(target=_hold, args=(tmp_path, ready, release))
    holder.start()
    assert ready.wait(30)
    holder.kill()
    holder.join(30)
    waited: list[str] = []
    with data_dir_lock(tmp_path, on_wait=waited.append):
        pass
    assert waited == []


def test_two_quickstarts_on_one_data_directory_run_in_turn(make_settings, tmp_path):
    import pandas as pd

    from retention_assets.model.tracking import champion_version, version_record
    from retention_assets.profiles import build_profile
    from retention_assets.publication.generations import read_release

    settings = make_settings()
    command = [sys.executable, "-m", "retention_assets.cli", "quickstart", "--settings",
               str(settings.base_dir / "settings.yaml")]
    runs = [subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outputs = [run.communicate(timeout=900) for run in runs]
    assert [run.returncode for run in runs] == [0, 0], [err[-2000:] for _, err in outputs]
    waited = [out for out, _ in outputs if "is using" in out and "waiting for it to finish" in out]
    assert len(waited) == 1  # one ran, the other waited for it, then ran
    release = read_release(settings.data_path)
    tracking = build_profile(settings.data_path).tracking()
    scores = pd.read_parquet(release.tables["churn_scores"])
    # the published scores come from the published champion, trained on data as of the published features
    assert set(scores["model_version"]) == {release.model_version} == {champion_version(tracking)}
    trained_as_of, _ = version_record(tracking, release.model_version)
    assert trained_as_of == release.as_of
    assert release.previous is not None  # both published, in turn
