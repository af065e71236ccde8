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
from sklearn.metrics import roc_auc_score

from retention_assets.lib import sample_data
from retention_assets.lib.sample_data import (
    SAMPLE_AS_OF,
    SAMPLE_START,
    SamplePaths,
    generate_frames,
    generate_sample,
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
