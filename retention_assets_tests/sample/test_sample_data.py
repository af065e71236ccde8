"""Tests for the seeded sample generator (no dagster)."""

from __future__ import annotations

import hashlib
import itertools
import re
from datetime import datetime, timedelta, timezone

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

from retention_assets.sample import generator as sample_data
from retention_assets.sample.generator import (
    SAMPLE_AS_OF,
    SAMPLE_START,
    SCENARIOS,
    SamplePaths,
    generate_frames,
    generate_later_period,
    generate_sample,
    later_period_frames,
)

N = 2000
SEED = 11


@pytest.fixture(scope="module")
def sim():
    return sample_data._simulate(N, SEED, 100.0, 1.5)


@pytest.fixture(scope="module")
def frames(sim):
    customers, transactions, tickets, _ = sim
    return customers, transactions, tickets


def _ts(value: datetime) -> pd.Timestamp:
    return pd.Timestamp(value)


def test_constants():
    assert SAMPLE_AS_OF == datetime(2026, 6, 30, tzinfo=timezone.utc)
    assert SAMPLE_START == datetime(2024, 7, 1, tzinfo=timezone.utc)


def test_module_does_not_import_dagster():
    source = open(sample_data.__file__, encoding="utf-8").read()
    assert not re.search(r"^\s*(import|from)\s+dagster", source, re.MULTILINE)


def test_same_seed_same_frames_and_different_seed_differs(frames):
    a = generate_frames(400, 3, 50.0, 1.5)
    b = generate_frames(400, 3, 50.0, 1.5)
    c = generate_frames(400, 4, 50.0, 1.5)
    for x, y in zip(a, b):
        pd.testing.assert_frame_equal(x, y)
    assert not a[0].equals(c[0])
    assert not a[1].equals(c[1])
    assert not a[2].equals(c[2])
    # the public function returns exactly what the simulation produced
    for x, y in zip(generate_frames(N, SEED, 100.0, 1.5), frames):
        pd.testing.assert_frame_equal(x, y)


def test_generate_sample_writes_byte_identical_files(tmp_path):
    def digests(paths: SamplePaths) -> list[str]:
        return [
            hashlib.sha256(p.read_bytes()).hexdigest()
            for p in (paths.customers, paths.transactions, paths.support_tickets)
        ]

    p1 = generate_sample(tmp_path / "a" / "nested", n_customers=300, seed=5)
    p2 = generate_sample(tmp_path / "b", n_customers=300, seed=5)
    p3 = generate_sample(tmp_path / "c", n_customers=300, seed=6)
    assert p1.customers.name == "customers.csv"
    assert p1.transactions.name == "transactions.parquet"
    assert p1.support_tickets.name == "support_tickets.csv"
    assert digests(p1) == digests(p2)
    assert all(x != y for x, y in zip(digests(p1), digests(p3)))


def test_files_round_trip_with_plain_types(tmp_path):
    paths = generate_sample(tmp_path, n_customers=300, seed=2, events_per_customer=20.0)
    customers, transactions, tickets = generate_frames(300, 2, 20.0, 1.5)

    schema = pq.read_schema(paths.transactions)
    assert str(schema.field("customer_id").type) == "string"
    assert str(schema.field("event_type").type) == "string"
    assert str(schema.field("event_ts").type) == "timestamp[ns, tz=UTC]"
    tx = pd.read_parquet(paths.transactions)
    assert list(tx.columns) == ["customer_id", "event_ts", "amount", "event_type"]
    assert str(tx["event_ts"].dtype) == "datetime64[ns, UTC]"
    assert tx["customer_id"].tolist() == transactions["customer_id"].astype(str).tolist()
    assert (tx["event_ts"].values == transactions["event_ts"].values).all()
    np.testing.assert_array_equal(tx["amount"].to_numpy(), transactions["amount"].to_numpy())

    cu = pd.read_csv(paths.customers, dtype={"customer_id": str, "signup_date": str})
    assert list(cu.columns) == ["customer_id", "signup_date", "plan", "region", "age", "monthly_fee"]
    assert cu["customer_id"].tolist() == customers["customer_id"].tolist()
    assert cu["age"].isna().sum() == customers["age"].isna().sum() > 0
    raw = paths.customers.read_text().splitlines()
    assert any(",," in line or line.endswith(",") for line in raw[1:])  # missing values are empty

    tk = pd.read_csv(paths.support_tickets, dtype=str)
    assert list(tk.columns) == ["ticket_id", "customer_id", "created_at", "topic", "text"]
    assert tk["created_at"].tolist() == tickets["created_at"].tolist()


def test_customers(frames):
    customers, _, _ = frames
    assert len(customers) == N
    assert customers["customer_id"].is_unique
    assert customers["customer_id"].str.fullmatch(r"C\d{7}").all()
    assert customers["customer_id"].iloc[0] == "C0000001"

    signup = pd.to_datetime(customers["signup_date"], format="%Y-%m-%d")
    assert signup.min() >= pd.Timestamp("2022-01-01")
    assert signup.max() <= pd.Timestamp("2026-05-31")
    during = (signup >= pd.Timestamp("2024-07-01")).mean()
    assert 0.05 < during < 0.5  # most signed up before the period, some during it

    assert set(customers["plan"]) == {"basic", "standard", "premium"}
    assert set(customers["region"]) == {"north", "south", "east", "west"}

    age = customers["age"]
    assert str(age.dtype) == "Int64"
    assert 0.03 < age.isna().mean() < 0.07
    known = age.dropna().astype(int)
    outliers = known > 100
    assert outliers.sum() >= 3 and outliers.mean() < 0.015
    assert known[outliers].between(150, 200).all()
    assert known[~outliers].between(18, 80).all()

    fee = customers["monthly_fee"]
    assert 0.01 < fee.isna().mean() < 0.035
    price = customers["plan"].map({"basic": 9.99, "standard": 19.99, "premium": 39.99})
    ratio = (fee / price).dropna()
    fee_outliers = ratio > 5
    assert fee_outliers.sum() >= 3 and fee_outliers.mean() < 0.015
    assert ratio[fee_outliers].between(8, 60).all()
    assert ratio[~fee_outliers].between(0.6, 1.5).all()
    assert abs(ratio[~fee_outliers].median() - 1.0) < 0.03


def test_transactions(frames):
    customers, transactions, _ = frames
    assert list(transactions.columns) == ["customer_id", "event_ts", "amount", "event_type"]
    ts = transactions["event_ts"]
    assert isinstance(ts.dtype, pd.DatetimeTZDtype) and str(ts.dt.tz) == "UTC"
    assert str(ts.dtype) == "datetime64[ns, UTC]"
    assert (ts.astype("int64") % 1_000_000_000 == 0).all()  # second resolution
    assert ts.min() >= _ts(SAMPLE_START)
    assert ts.max() <= _ts(SAMPLE_AS_OF)
    assert transactions["amount"].dtype == np.float64

    # about events_per_customer events per customer over the whole base
    assert 90 < len(transactions) / N < 110

    # sorted by customer, then time
    codes = transactions["customer_id"].cat.codes.to_numpy()
    ns = ts.astype("int64").to_numpy()
    assert (np.diff(codes) >= 0).all()
    same = np.diff(codes) == 0
    assert (np.diff(ns)[same] >= 0).all()

    # no event before the customer's signup
    signup = pd.to_datetime(customers.set_index("customer_id")["signup_date"]).dt.tz_localize("UTC")
    first = transactions.groupby("customer_id", observed=True)["event_ts"].min()
    assert (first >= signup.reindex(first.index)).all()

    freq = transactions["event_type"].value_counts(normalize=True)
    assert set(freq.index) == {"purchase", "renewal", "refund", "upgrade"}
    assert freq["purchase"] > 0.5 and freq["renewal"] > 0.15
    assert freq["refund"] < 0.06 and freq["upgrade"] < 0.05 and freq["upgrade"] > 0
    refunds = transactions["event_type"] == "refund"
    assert (transactions.loc[refunds, "amount"] < 0).all()
    assert (transactions.loc[~refunds, "amount"] > 0).all()


def test_no_event_after_churn(sim):
    customers, transactions, _, truth = sim
    churn = pd.Series(truth.churn_ts.to_numpy(), index=customers["customer_id"])
    last = transactions.groupby("customer_id", observed=True)["event_ts"].max()
    assert (last <= churn.reindex(last.index)).all()
    churned = churn <= _ts(SAMPLE_AS_OF)
    assert 0.2 < churned.mean() < 0.9
    # observable without the truth: many customers are silent in the last weeks
    recent = transactions.loc[transactions["event_ts"] > _ts(SAMPLE_AS_OF - timedelta(days=21))]
    silent = N - recent["customer_id"].nunique()
    assert silent > 0.2 * N


def test_churn_is_steady_near_the_end(sim):
    customers, _, _, truth = sim
    churn = pd.Series(truth.churn_ts.to_numpy())
    signup = pd.to_datetime(customers["signup_date"]).dt.tz_localize("UTC")
    for start in (pd.Timestamp("2026-05-01", tz="UTC"), pd.Timestamp("2026-05-31", tz="UTC")):
        at_risk = (signup <= start) & (churn > start)
        rate = (churn[at_risk] <= start + pd.Timedelta(days=30)).mean()
        assert 0.015 < rate < 0.08, (start, rate)
    # the hazard is planted: basic plan and the south region churn more
    churned = churn <= _ts(SAMPLE_AS_OF)
    by_plan = churned.groupby(customers["plan"]).mean()
    assert by_plan["basic"] > by_plan["premium"]
    by_region = churned.groupby(customers["region"]).mean()
    assert by_region["south"] > by_region.drop("south").max()


def test_tickets(frames):
    customers, _, tickets = frames
    assert list(tickets.columns) == ["ticket_id", "customer_id", "created_at", "topic", "text"]
    assert tickets["ticket_id"].is_unique
    assert tickets["ticket_id"].str.fullmatch(r"T\d+").all()
    assert tickets["customer_id"].isin(customers["customer_id"]).all()
    assert 1.0 < len(tickets) / N < 2.0
    assert set(tickets["topic"]) == {"billing", "technical", "cancellation", "other"}

    created = tickets["created_at"]
    assert created.str.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d").all()
    non_utc = ~created.str.endswith("+00:00")
    assert 0.12 < non_utc.mean() < 0.28

    # the offsets are honest: the same instant, whatever the offset
    parsed = pd.to_datetime(created, utc=True, format="ISO8601")
    stdlib = [datetime.fromisoformat(s).astimezone(timezone.utc) for s in created]
    assert [p.to_pydatetime() for p in parsed] == stdlib
    assert parsed.min() >= _ts(SAMPLE_START) and parsed.max() <= _ts(SAMPLE_AS_OF)
    # ticket ids follow the instant
    assert parsed.is_monotonic_increasing
    # local wall clock of a non-UTC row differs from its UTC wall clock by the offset
    row = created[non_utc].iloc[0]
    local = datetime.fromisoformat(row)
    assert local.replace(tzinfo=None) - local.astimezone(timezone.utc).replace(tzinfo=None) == local.utcoffset()

    words = tickets["text"].str.split().str.len()
    assert words.between(4, 15).all()
    cancel_text = tickets.loc[tickets["topic"] == "cancellation", "text"]
    assert cancel_text.str.contains("cancel|leaving|close|stop|renewal|paying|alternative").all()


def test_every_text_template_has_4_to_15_words():
    for body in itertools.chain.from_iterable(sample_data._TEXT_BODIES.values()):
        for prefix, suffix in itertools.product(sample_data._TEXT_PREFIXES, sample_data._TEXT_SUFFIXES):
            assert 4 <= len((prefix + body + suffix).split()) <= 15


def test_planted_signal_is_learnable_but_not_trivial(frames):
    customers, transactions, tickets = frames
    as_of = _ts(SAMPLE_AS_OF)
    cutoff = as_of - pd.Timedelta(days=30)
    ids = customers["customer_id"]
    cid = transactions["customer_id"].astype(str)
    ts = transactions["event_ts"]

    def count(lo, hi, who=cid, when=ts):
        m = (when > lo) & (when <= hi)
        return who[m].value_counts().reindex(ids, fill_value=0)

    last90 = count(cutoff - pd.Timedelta(days=90), cutoff)
    last30 = count(cutoff - pd.Timedelta(days=30), cutoff)
    after = count(cutoff, as_of)
    active = last90 > 0
    label = (after[active] == 0).astype(int)
    assert 0.02 < label.mean() < 0.20

    prev60 = (last90 - last30)[active]
    trend = (last30[active] / 30.0) / (prev60 / 60.0 + 1e-9)
    auc_trend = roc_auc_score(label, -trend.clip(upper=10.0))
    assert auc_trend > 0.65

    tk_ts = pd.to_datetime(tickets["created_at"], utc=True, format="ISO8601")
    is_cancel = tickets["topic"] == "cancellation"
    cancels = count(
        cutoff - pd.Timedelta(days=60), cutoff, tickets.loc[is_cancel, "customer_id"], tk_ts[is_cancel]
    )[active]
    # churners file cancellation tickets several times more often than others
    assert cancels[label == 1].mean() > 3 * cancels[label == 0].mean()
    assert roc_auc_score(label, cancels) > 0.5

    # not near-perfect: a single strong feature stays well below 1
    assert roc_auc_score(label, -last30[active]) < 0.97


# --------------------------------------------------------------------------------------------------
# the base output is pinned

# sha256 of `_frames_digest(generate_frames(300))` (default seed and rates), computed by running the
# module as it was BEFORE the later-period generator was added. The later period reuses the base
# simulation's code, and its random stream must stay untouched: any change to the order or number of
# draws, or to the arithmetic, changes this digest. The digest is over the frames' dtypes and CSV text
# (not the parquet bytes) so that it does not depend on the pyarrow version that writes the file.
BASE_300_DIGEST = "0fe09afd89cb031513b588af5feb8ba403a19807a6a9586a92c895524e1f2519"


def _frames_digest(frames) -> str:
    h = hashlib.sha256()
    for frame in frames:
        h.update(repr(list(frame.dtypes.astype(str).items())).encode())
        h.update(frame.to_csv(index=False, lineterminator="\n").encode())
    return h.hexdigest()


def test_base_frames_are_unchanged_by_the_later_period_generator():
    assert _frames_digest(generate_frames(300)) == BASE_300_DIGEST


# --------------------------------------------------------------------------------------------------
# later period

LATER_N = 1500
LATER_SEED = 7
EXTRA_DAYS = 45
AS_OF = pd.Timestamp(SAMPLE_AS_OF)
DAY = pd.Timedelta(days=1)


@pytest.fixture(scope="module")
def later_base():
    return generate_frames(LATER_N, LATER_SEED)


@pytest.fixture(scope="module")
def later():
    """scenario -> (customers, transactions, tickets, truth) of the later period, same world."""
    return {
        scenario: sample_data._simulate_later(scenario, LATER_N, LATER_SEED, EXTRA_DAYS, 100.0, 1.5)
        for scenario in SCENARIOS
    }


def _tickets_ts(tickets: pd.DataFrame) -> pd.Series:
    return pd.to_datetime(tickets["created_at"], utc=True, format="ISO8601")


def _count_by_customer(transactions, ids, lo, hi) -> pd.Series:
    """Transactions per customer in (lo, hi], for every id in `ids`."""
    ts = transactions["event_ts"]
    who = transactions["customer_id"].astype(str)[(ts > lo) & (ts <= hi)]
    return who.value_counts().reindex(ids, fill_value=0)


def test_later_period_runs_to_extra_days(later):
    for scenario, (_, transactions, tickets, _) in later.items():
        last = transactions["event_ts"].max()
        assert AS_OF + (EXTRA_DAYS - 2) * DAY < last <= AS_OF + EXTRA_DAYS * DAY, scenario
        tk_ts = _tickets_ts(tickets)
        assert tk_ts.max() > AS_OF and tk_ts.max() <= AS_OF + EXTRA_DAYS * DAY, scenario
    _, transactions, _ = later_period_frames("stable", 400, 3, extra_days=10, events_per_customer=50.0)
    last = transactions["event_ts"].max()
    assert AS_OF + 8 * DAY < last <= AS_OF + 10 * DAY


def test_later_period_repeats_the_base_sample_up_to_as_of(later, later_base):
    base_customers, base_transactions, base_tickets = later_base
    for scenario, (customers, transactions, tickets, _) in later.items():
        before = transactions.loc[transactions["event_ts"] <= AS_OF].reset_index(drop=True)
        pd.testing.assert_frame_equal(before, base_transactions)
        assert (transactions["event_ts"] > AS_OF).sum() > 2 * LATER_N  # ~45 days of the survivors' activity
        # base tickets keep their rows and ids; the new ones follow
        pd.testing.assert_frame_equal(tickets.iloc[: len(base_tickets)], base_tickets)
        assert (_tickets_ts(tickets.iloc[len(base_tickets):]) > AS_OF).all()
        same = ["customer_id", "signup_date", "region", "age"]
        pd.testing.assert_frame_equal(customers[same], base_customers[same])
        if scenario != "drift":
            pd.testing.assert_frame_equal(customers, base_customers)


def test_later_period_has_the_base_formats_and_orders(later, tmp_path):
    for scenario, (customers, transactions, tickets, _) in later.items():
        assert list(transactions.columns) == ["customer_id", "event_ts", "amount", "event_type"]
        assert list(transactions.dtypes.astype(str)) == ["category", "datetime64[ns, UTC]", "float64", "category"]
        assert list(customers.dtypes.astype(str)) == ["object", "object", "object", "object", "Int64", "float64"]
        assert list(tickets.columns) == ["ticket_id", "customer_id", "created_at", "topic", "text"]
        codes = transactions["customer_id"].cat.codes.to_numpy()
        ns = transactions["event_ts"].astype("int64").to_numpy()
        assert (np.diff(codes) >= 0).all() and (np.diff(ns)[np.diff(codes) == 0] >= 0).all(), scenario
        assert (ns % 1_000_000_000 == 0).all()
        assert tickets["ticket_id"].tolist() == [f"T{i:08d}" for i in range(1, len(tickets) + 1)]
        assert _tickets_ts(tickets).is_monotonic_increasing
        refunds = transactions["event_type"] == "refund"
        assert (transactions.loc[refunds, "amount"] < 0).all() and (transactions.loc[~refunds, "amount"] > 0).all()

    paths = generate_later_period(tmp_path, "drift", n_customers=300, seed=2, events_per_customer=20.0)
    customers, transactions, tickets = later_period_frames("drift", 300, 2, events_per_customer=20.0)
    schema = pq.read_schema(paths.transactions)
    assert [str(schema.field(c).type) for c in ("customer_id", "event_ts", "event_type")] == [
        "string", "timestamp[ns, tz=UTC]", "string",
    ]
    tx = pd.read_parquet(paths.transactions)
    assert tx["customer_id"].tolist() == transactions["customer_id"].astype(str).tolist()
    assert (tx["event_ts"].values == transactions["event_ts"].values).all()
    cu = pd.read_csv(paths.customers, dtype={"customer_id": str, "signup_date": str})
    assert cu["plan"].tolist() == customers["plan"].tolist()
    np.testing.assert_array_equal(cu["monthly_fee"].to_numpy(), customers["monthly_fee"].to_numpy())
    assert pd.read_csv(paths.support_tickets, dtype=str)["created_at"].tolist() == tickets["created_at"].tolist()


def test_later_period_is_deterministic(tmp_path):
    def digests(paths: SamplePaths) -> list[str]:
        return [
            hashlib.sha256(p.read_bytes()).hexdigest()
            for p in (paths.customers, paths.transactions, paths.support_tickets)
        ]

    runs = {
        name: digests(generate_later_period(tmp_path / name, scenario, n_customers=300, seed=seed))
        for name, scenario, seed in [
            ("a", "performance_drop", 5), ("b", "performance_drop", 5), ("c", "performance_drop", 6),
            ("d", "stable", 5), ("e", "drift", 5),
        ]
    }
    assert runs["a"] == runs["b"]
    assert all(x != y for x, y in zip(runs["a"], runs["c"]))
    assert runs["a"][1] != runs["d"][1] and runs["a"][2] != runs["d"][2]  # the competitor stops activity
    assert runs["e"][0] != runs["d"][0] and runs["e"][1] != runs["d"][1]  # plans, fees and amounts
    # the base files of the same world are not affected by having generated a later period
    assert _frames_digest(generate_frames(300)) == BASE_300_DIGEST


def test_later_period_rejects_bad_arguments():
    with pytest.raises(ValueError, match="scenario"):
        later_period_frames("boom", 50)
    for extra_days in (0, -3, 2.5, 366):
        with pytest.raises(ValueError, match="extra_days"):
            later_period_frames("stable", 50, extra_days=extra_days)


def test_stable_later_period_continues_the_same_world(later):
    customers, transactions, tickets, truth = later["stable"]
    ts = transactions["event_ts"]
    before = ((ts > AS_OF - EXTRA_DAYS * DAY) & (ts <= AS_OF)).sum()
    after = ((ts > AS_OF) & (ts <= AS_OF + EXTRA_DAYS * DAY)).sum()
    assert 0.85 < after / before < 1.15
    tk_ts = _tickets_ts(tickets)
    tk_before = ((tk_ts > AS_OF - EXTRA_DAYS * DAY) & (tk_ts <= AS_OF)).sum()
    tk_after = ((tk_ts > AS_OF) & (tk_ts <= AS_OF + EXTRA_DAYS * DAY)).sum()
    assert 0.6 < tk_after / tk_before < 1.4

    # customers keep churning by the latent churn time: nothing after it, a steady monthly rate, and
    # the 30-day churners after SAMPLE_AS_OF file cancellation tickets just before churning
    churn = pd.Series(truth.churn_ts.to_numpy(), index=customers["customer_id"])
    last = transactions.groupby("customer_id", observed=True)["event_ts"].max()
    assert (last <= churn.reindex(last.index)).all()
    tk_last = _tickets_ts(tickets).groupby(tickets["customer_id"]).max()
    assert (tk_last <= churn.reindex(tk_last.index)).all()
    at_risk = churn > AS_OF
    churners = at_risk & (churn <= AS_OF + 30 * DAY)
    assert 0.015 < churners.sum() / at_risk.sum() < 0.08
    late = tickets.loc[(tk_ts > AS_OF) & (tickets["topic"] == "cancellation"), "customer_id"]
    assert late.isin(churn.index[churners | (at_risk & (churn <= AS_OF + 90 * DAY))]).mean() > 0.5


def _model_features(customers, transactions, tickets, as_of) -> tuple[pd.DataFrame, pd.Series]:
    """A few activity and ticket features of customers active in the 30 days before as_of, and the
    label: no transaction in (as_of, as_of + 30 days]."""
    ids = customers["customer_id"]
    last7 = _count_by_customer(transactions, ids, as_of - 7 * DAY, as_of)
    last30 = _count_by_customer(transactions, ids, as_of - 30 * DAY, as_of)
    last90 = _count_by_customer(transactions, ids, as_of - 90 * DAY, as_of)
    after = _count_by_customer(transactions, ids, as_of, as_of + 30 * DAY)
    tk_ts = _tickets_ts(tickets)
    recent = (tk_ts > as_of - 60 * DAY) & (tk_ts <= as_of)
    cancel = tickets["customer_id"][recent & (tickets["topic"] == "cancellation")].value_counts()
    features = pd.DataFrame(
        {
            "last7": last7.to_numpy(),
            "last30": last30.to_numpy(),
            "last90": last90.to_numpy(),
            "trend": (last30 / 30.0 / ((last90 - last30) / 60.0 + 1e-3)).clip(upper=10.0).to_numpy(),
            "cancel60": cancel.reindex(ids, fill_value=0).to_numpy(),
            "basic": (customers["plan"] == "basic").to_numpy(),
            "south": (customers["region"] == "south").to_numpy(),
        }
    )
    active = (last30 > 0).to_numpy()
    return features[active], pd.Series((after.to_numpy() == 0)[active].astype(int))


def test_a_base_model_keeps_its_ranking_when_stable_and_loses_it_after_the_competitor(later, later_base):
    x_train, y_train = _model_features(*later_base, AS_OF - 30 * DAY)
    model = LogisticRegression(max_iter=5000).fit(x_train, y_train)
    auc_train = roc_auc_score(y_train, model.predict_proba(x_train)[:, 1])
    auc = {}
    for scenario, (customers, transactions, tickets, _) in later.items():
        x, y = _model_features(customers, transactions, tickets, AS_OF)
        auc[scenario] = roc_auc_score(y, model.predict_proba(x)[:, 1])
    assert auc_train > 0.75
    assert auc["stable"] > auc_train - 0.06, auc
    assert auc["performance_drop"] < auc["stable"] - 0.12, auc


def test_drift_scenario_shifts_plans_prices_and_east_activity(later):
    stable_customers, stable_tx, _, _ = later["stable"]
    customers, transactions, _, _ = later["drift"]

    # (1) plan mix: ~40% of the standard subscribers moved to basic, nobody else changed plan
    basic_stable = (stable_customers["plan"] == "basic").mean()
    basic_drift = (customers["plan"] == "basic").mean()
    assert basic_drift > basic_stable + 0.04
    changed = customers["plan"] != stable_customers["plan"]
    assert (stable_customers.loc[changed, "plan"] == "standard").all()
    assert (customers.loc[changed, "plan"] == "basic").all()
    active = _count_by_customer(stable_tx, stable_customers["customer_id"], AS_OF - 30 * DAY, AS_OF) > 0
    standard_active = (stable_customers["plan"] == "standard").to_numpy() & active.to_numpy()
    assert 0.30 < changed[standard_active].mean() < 0.50

    # (2) prices: fees +25% at an unchanged plan; movers pay the new basic price (so the overall mean
    # rises a little less); amounts after SAMPLE_AS_OF are 25% higher, before unchanged
    ratio = (customers["monthly_fee"] / stable_customers["monthly_fee"])[~changed].dropna()
    assert ((ratio - 1.25).abs() < 0.005).all()
    assert 1.12 < customers["monthly_fee"].mean() / stable_customers["monthly_fee"].mean() < 1.3
    mover_fee = customers.loc[changed, "monthly_fee"].dropna() / (9.99 * 1.25)
    assert abs(mover_fee[mover_fee < 5].median() - 1.0) < 0.05
    # the continuation is paired across scenarios: outside the east, a customer who kept the plan has
    # the same events after SAMPLE_AS_OF as in "stable", each 25% dearer (renewals at the new fee)
    region = stable_customers.set_index("customer_id")["region"]
    same_plan = stable_customers.loc[~changed.to_numpy() & (stable_customers["region"] != "east").to_numpy(),
                                     "customer_id"]

    def after_as_of(tx):
        rows = tx.loc[(tx["event_ts"] > AS_OF) & tx["customer_id"].isin(same_plan)]
        return rows.reset_index(drop=True)

    drifted, kept = after_as_of(transactions), after_as_of(stable_tx)
    pd.testing.assert_frame_equal(drifted.drop(columns="amount"), kept.drop(columns="amount"))
    amount_ratio = drifted["amount"] / kept["amount"]
    assert abs(amount_ratio.median() - 1.25) < 0.005
    assert ((amount_ratio - 1.25).abs() < 0.02)[kept["amount"].abs() > 1.0].all()
    assert len(drifted) > LATER_N

    # (3) east's activity after SAMPLE_AS_OF thinned to ~15%; the other regions are untouched
    for name in ("north", "south", "east", "west"):
        ids = region.index[region == name]
        rate = {
            key: _count_by_customer(tx, ids, AS_OF, AS_OF + EXTRA_DAYS * DAY).sum() / (len(ids) * EXTRA_DAYS)
            for key, tx in (("drift", transactions), ("stable", stable_tx))
        }
        if name == "east":
            assert 0.08 < rate["drift"] / rate["stable"] <= 0.22
        else:
            assert abs(rate["drift"] / rate["stable"] - 1.0) < 0.15, name


def test_performance_drop_scenario_stops_a_random_quarter_of_the_subscribers(later):
    stable_customers, stable_tx, stable_tickets, stable_truth = later["stable"]
    customers, transactions, tickets, truth = later["performance_drop"]
    ids = customers["customer_id"]

    def silent_share(tx):
        active = _count_by_customer(tx, ids, AS_OF - 30 * DAY, AS_OF) > 0
        later_events = _count_by_customer(tx, ids, AS_OF + 10 * DAY, AS_OF + 30 * DAY)
        return (later_events[active] == 0).mean()

    assert silent_share(transactions) > silent_share(stable_tx) + 0.20

    # the stopped customers: ~25% of the subscribers, all within 10 days, independent of their features
    stable_churn = stable_truth.churn_ts
    stopped = (truth.churn_ts < stable_churn).to_numpy()
    subscribed = (stable_churn > AS_OF).to_numpy()
    assert not stopped[~subscribed].any()
    assert 0.20 < stopped[subscribed].mean() < 0.30
    assert (truth.churn_ts[stopped] <= AS_OF + 10 * DAY).all()
    by_plan = pd.Series(stopped[subscribed]).groupby(customers["plan"].to_numpy()[subscribed]).mean()
    assert by_plan.max() - by_plan.min() < 0.08
    # nothing after the stop, and everyone else exactly as in the stable scenario
    stop = pd.Series(truth.churn_ts.to_numpy(), index=ids)
    last = transactions.groupby("customer_id", observed=True)["event_ts"].max()
    assert (last <= stop.reindex(last.index)).all()
    tk_last = _tickets_ts(tickets).groupby(tickets["customer_id"]).max()
    assert (tk_last <= stop.reindex(tk_last.index)).all()
    others = ids[~stopped]
    keep = lambda tx: tx.loc[tx["customer_id"].isin(others)].reset_index(drop=True)
    pd.testing.assert_frame_equal(keep(transactions), keep(stable_tx))
    keep_tk = lambda tk: tk.loc[tk["customer_id"].isin(others)].drop(columns="ticket_id").reset_index(drop=True)
    pd.testing.assert_frame_equal(keep_tk(tickets), keep_tk(stable_tickets))
    pd.testing.assert_frame_equal(customers, stable_customers)
