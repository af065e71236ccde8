"""A deterministic, seeded generator of a believable subscription business.

`generate_sample` writes three files (customers, transactions, support tickets) that the quickstart and
the tests use as input. Everything is drawn from one `numpy.random.default_rng(seed)` stream in a fixed
order and all rows are sorted deterministically, so the same arguments give byte-identical files.

The simulation, in short:

* every customer has a latent churn time drawn from a constant hazard that starts when the customer
  enters the observed period (``max(SAMPLE_START, signup)``). The hazard is higher for the basic plan,
  the "south" region, young customers and customers paying more than their plan's list price, times an
  unobserved frailty. Churn times may fall after ``SAMPLE_AS_OF`` (the customer is still active then).
* events are a Poisson process over ``[max(SAMPLE_START, signup), min(churn, SAMPLE_AS_OF)]`` with a
  gamma-distributed per-customer base rate, thinned in the 60-90 days before churn (activity falls to
  30-50% of normal, with more refunds and fewer upgrades) and during occasional "pauses" of non-churners
  (holidays, busy months), which make low activity an imperfect churn signal.
* tickets are a Poisson process at a per-customer rate, plus extra tickets in the 60 days before churn,
  skewed to cancellation and billing topics. About 20% of ticket timestamps are written with a non-UTC
  offset (the same instant, expressed in local time).

No column reveals the churn time directly; `_simulate` (private) also returns the latent truth for tests.

`generate_later_period` writes a *later export of the same world*: the same customers continued for
``extra_days`` after ``SAMPLE_AS_OF``, for drift and performance monitoring demos. It replays the base
simulation unchanged (so everything up to ``SAMPLE_AS_OF`` is identical to `generate_sample` with the
same arguments) and draws the continuation from two separate generators seeded from ``seed``: one for
the events of the continued world, one for the scenario's choices. A Poisson process restricted to
disjoint intervals is independent on each, so appending an independent draw over
``(SAMPLE_AS_OF, SAMPLE_AS_OF + extra_days]`` with the same per-customer rates, churn times, decline
windows and pauses is exactly the process the base simulation would have produced over the longer period,
and the base random stream (hence the base files) stays untouched. The continuation is drawn the same way
for every scenario, and scenarios only remove or reprice its events, so two scenarios with the same seed
differ only by what the scenario changes:

* ``"stable"``: nothing changes.
* ``"drift"``: at ``SAMPLE_AS_OF`` ~40% of the standard-plan subscribers move to basic, list prices rise
  by 25% (the customers file holds the current plan and fee; transaction amounts after ``SAMPLE_AS_OF``
  follow), and transactions of the "east" region are thinned to ~15% (an activity drop). The latent
  churn mechanism is untouched: this is a change of the inputs, not of who churns.
* ``"performance_drop"``: ~25% of the customers still subscribed at ``SAMPLE_AS_OF``, chosen
  independently of everything, stop all activity at a random moment of the next 10 days (a competitor's
  launch; front-loaded, mean 2.5 days), without the usual warning signs (no decline, no cancellation
  tickets), so a model trained on the base period ranks the churners of the SAMPLE_AS_OF cohort badly.

This module must not import dagster.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from retention_assets.core.files import atomic_write

__all__ = [
    "SAMPLE_AS_OF",
    "SAMPLE_START",
    "SCENARIOS",
    "SamplePaths",
    "Scenario",
    "generate_frames",
    "generate_later_period",
    "generate_sample",
    "later_period_frames",
]

SAMPLE_AS_OF: datetime = datetime(2026, 6, 30, tzinfo=timezone.utc)
SAMPLE_START: datetime = datetime(2024, 7, 1, tzinfo=timezone.utc)

CUSTOMERS_FILE = "customers.csv"
TRANSACTIONS_FILE = "transactions.parquet"
SUPPORT_TICKETS_FILE = "support_tickets.csv"

DAY = 86_400  # seconds
_EPOCH_START_S = int(SAMPLE_START.timestamp())
_PERIOD_S = int((SAMPLE_AS_OF - SAMPLE_START).total_seconds())  # 729 days
_SIGNUP_MIN = np.datetime64("2022-01-01")
_SIGNUP_MAX = np.datetime64("2026-05-31")
_START_DAY = np.datetime64("2024-07-01")

PLANS = ("basic", "standard", "premium")
_PLAN_P = np.array([0.45, 0.35, 0.20])
_PLAN_PRICE = np.array([9.99, 19.99, 39.99])
_PLAN_HAZARD = np.array([1.8, 1.0, 0.65])
_PLAN_ACTIVITY = np.array([0.9, 1.0, 1.25])

REGIONS = ("north", "south", "east", "west")
_REGION_P = np.array([0.28, 0.22, 0.27, 0.23])
_REGION_HAZARD = np.array([1.0, 1.6, 1.0, 1.0])

EVENT_TYPES = ("purchase", "renewal", "refund", "upgrade")
_EVENT_P_NORMAL = np.array([0.700, 0.260, 0.022, 0.018])
_EVENT_P_DECLINE = np.array([0.675, 0.260, 0.060, 0.005])

TOPICS = ("billing", "technical", "cancellation", "other")
_TOPIC_P_BACKGROUND = np.array([0.30, 0.40, 0.05, 0.25])
_TOPIC_P_PRE_CHURN = np.array([0.35, 0.10, 0.45, 0.10])

# Ticket text = prefix + body + suffix. Bodies are topic-specific; every combination has 4-15 words.
_TEXT_PREFIXES = ("", "", "", "hi, ", "hello, ", "hi team, ", "urgent: ", "sorry to bother you, ")
_TEXT_SUFFIXES = ("", "", "", " thanks", " please help", " any update?", " thanks in advance")
_TEXT_BODIES: dict[str, tuple[str, ...]] = {
    "billing": (
        "I was charged twice this month",
        "why is my bill higher than last month",
        "my card was charged after I paused",
        "please refund the last payment",
        "the invoice shows the wrong amount",
        "I need a copy of my receipt",
        "the price went up without any notice",
        "my discount code was not applied",
    ),
    "technical": (
        "the app keeps crashing on login",
        "I cannot reset my password",
        "videos will not load on my phone",
        "the website shows an error at checkout",
        "sync stopped working after the update",
        "I get logged out every few minutes",
        "notifications are not arriving anymore",
    ),
    "cancellation": (
        "how do I cancel my subscription",
        "thinking about leaving, too expensive",
        "please close my account this month",
        "I want to stop my plan",
        "found a cheaper alternative, cancel please",
        "not using the service enough to keep paying",
        "how do I turn off auto renewal",
    ),
    "other": (
        "can I change the email on my account",
        "do you offer a student discount",
        "how do I add a family member",
        "where can I update my address",
        "question about the new features",
        "can I switch to annual billing",
    ),
}

# Non-UTC offsets (minutes east of UTC) used for ~20% of ticket timestamps.
_TZ_OFFSETS_MIN = np.array([120, -300, 60, 330, -480, 540, -240, 180])
_NON_UTC_SHARE = 0.20

# Pauses: a share of customers has one spell of low activity starting uniformly in
# [SAMPLE_START - lead, SAMPLE_AS_OF]; the later period keeps the same per-day incidence.
_PAUSE_SHARE = 0.40
_PAUSE_LEAD_DAYS = 60.0
_PAUSE_LEN_DAYS = (20.0, 75.0)
_PAUSE_KEEP = (0.0, 0.15)
_PRE_CHURN_TICKET_DAYS = 60.0
_PRE_CHURN_TICKET_MULT = 4.0  # 60 days before churn: background rate + 4x extra = 5x the usual rate

# Later period (generate_later_period).
Scenario = Literal["stable", "drift", "performance_drop"]
SCENARIOS: tuple[str, ...] = ("stable", "drift", "performance_drop")
_MAX_EXTRA_DAYS = 365  # seconds since SAMPLE_START must stay below 2**27 in the (customer, second) sort key
_LATER_STREAM = 1  # SeedSequence entropy [seed, stream]: independent of default_rng(seed) and of each other
_SCENARIO_STREAM = 2
_DRIFT_MOVE_SHARE = 0.40  # of the standard-plan subscribers move to basic
_DRIFT_PRICE_MULT = 1.25  # list prices and transaction amounts
_DRIFT_REGION = "east"
_DRIFT_REGION_KEEP = 0.15  # share of that region's transactions that remain after SAMPLE_AS_OF
_COMPETITOR_SHARE = 0.25  # of the customers still subscribed at SAMPLE_AS_OF
_COMPETITOR_WINDOW_DAYS = 10.0


@dataclass(frozen=True)
class SamplePaths:
    customers: Path  # customers.csv
    transactions: Path  # transactions.parquet
    support_tickets: Path  # support_tickets.csv


@dataclass(frozen=True)
class _Truth:
    """Latent per-customer quantities (aligned with the customers frame); for tests and diagnostics."""

    churn_ts: pd.Series  # datetime64[ns, UTC]; may lie after SAMPLE_AS_OF (= not churned in the sample)
    base_rate_per_day: np.ndarray
    hazard_per_day: np.ndarray


@dataclass(frozen=True)
class _World:
    """Latent state of the base simulation that `_simulate_later` continues (arrays per customer)."""

    ids: np.ndarray
    plan: np.ndarray  # index into PLANS
    region: np.ndarray  # index into REGIONS
    log_fee_ratio: np.ndarray  # personal price relative to the plan's list price (log)
    fee_true: np.ndarray
    fee_obs: np.ndarray  # as written (NaN when missing, outliers inflated)
    fee_outlier: np.ndarray
    start_s: np.ndarray  # seconds since SAMPLE_START
    churn_s: np.ndarray
    decline_w: np.ndarray
    decline_floor: np.ndarray
    pause_start: np.ndarray
    pause_len: np.ndarray
    pause_keep: np.ndarray
    rate_s: np.ndarray  # events per second before thinning
    ticket_propensity: np.ndarray
    ticket_rate: float


def generate_frames(
    n_customers: int = 3000,
    seed: int = 7,
    events_per_customer: float = 100.0,
    tickets_per_customer: float = 1.5,
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Returns (customers, transactions, tickets) exactly as `generate_sample` writes them.

    customers: customer_id, signup_date (ISO string), plan, region, age (Int64, nullable), monthly_fee
    (float, NaN when missing). transactions: customer_id and event_type (categorical), event_ts
    (datetime64[ns, UTC]), amount (float64), sorted by customer_id, event_ts. tickets: ticket_id,
    customer_id, created_at (ISO 8601 string with offset), topic, text, sorted by ticket_id (= by instant).
    """
    customers, transactions, tickets, _ = _simulate(
        n_customers, seed, events_per_customer, tickets_per_customer
    )
    return customers, transactions, tickets


def generate_sample(
    out_dir: Path,
    n_customers: int = 3000,
    seed: int = 7,
    events_per_customer: float = 100.0,
    tickets_per_customer: float = 1.5,
) -> SamplePaths:
    """Writes the three files into out_dir (created if missing) and returns their paths."""
    customers, transactions, tickets = generate_frames(
        n_customers, seed, events_per_customer, tickets_per_customer
    )
    return _write_files(out_dir, customers, transactions, tickets)


def later_period_frames(
    scenario: Scenario,
    n_customers: int = 3000,
    seed: int = 7,
    extra_days: int = 45,
    events_per_customer: float = 100.0,
    tickets_per_customer: float = 1.5,
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Returns (customers, transactions, tickets) exactly as `generate_later_period` writes them.

    Same columns, dtypes and sort orders as `generate_frames`. Up to SAMPLE_AS_OF the transactions and
    tickets (including ticket ids) are identical to `generate_frames` with the same arguments; the latest
    events lie just before SAMPLE_AS_OF + extra_days. The customers file holds the current plan and fee,
    which differ from the base sample only in the "drift" scenario.
    """
    customers, transactions, tickets, _ = _simulate_later(
        scenario, n_customers, seed, extra_days, events_per_customer, tickets_per_customer
    )
    return customers, transactions, tickets


def generate_later_period(
    out_dir: Path,
    scenario: Scenario,
    n_customers: int = 3000,
    seed: int = 7,
    extra_days: int = 45,
    events_per_customer: float = 100.0,
    tickets_per_customer: float = 1.5,
) -> SamplePaths:
    """Writes a later full export of the `generate_sample` world (same file names and formats).

    Use it next to `generate_sample(..., same n_customers/seed/rates)`: the base files are the training
    period, these files the same business `extra_days` later under `scenario` ("stable", "drift" or
    "performance_drop", see the module docstring), to demonstrate drift and performance monitoring.
    """
    customers, transactions, tickets = later_period_frames(
        scenario, n_customers, seed, extra_days, events_per_customer, tickets_per_customer
    )
    return _write_files(out_dir, customers, transactions, tickets)


def _write_files(
    out_dir: Path, customers: pd.DataFrame, transactions: pd.DataFrame, tickets: pd.DataFrame
) -> SamplePaths:
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = SamplePaths(
        customers=out_dir / CUSTOMERS_FILE,
        transactions=out_dir / TRANSACTIONS_FILE,
        support_tickets=out_dir / SUPPORT_TICKETS_FILE,
    )
    # Atomic: a later period replaces files a running sensor or refresh may be reading.
    atomic_write(paths.customers, lambda tmp: customers.to_csv(tmp, index=False, lineterminator="\n"))
    atomic_write(paths.support_tickets, lambda tmp: tickets.to_csv(tmp, index=False, lineterminator="\n"))
    atomic_write(paths.transactions,
                 lambda tmp: pq.write_table(_transactions_to_arrow(transactions), tmp, compression="zstd"))
    return paths


# --------------------------------------------------------------------------------------------------
# simulation


def _simulate(
    n_customers: int,
    seed: int,
    events_per_customer: float,
    tickets_per_customer: float,
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, _Truth]:
    customers, transactions, tickets, truth, _ = _simulate_world(
        n_customers, seed, events_per_customer, tickets_per_customer
    )
    return customers, transactions, tickets, truth


def _simulate_world(
    n_customers: int,
    seed: int,
    events_per_customer: float,
    tickets_per_customer: float,
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, _Truth, _World]:
    """The base simulation. The order of the draws from `rng` is what makes the files reproducible:
    do not add, remove or reorder draws here (new randomness belongs to a separate generator)."""
    n = int(n_customers)
    if n < 1:
        raise ValueError(f"n_customers must be >= 1, got {n_customers!r}")
    if n > 9_999_999:
        raise ValueError("n_customers must fit a 7-digit customer id (<= 9,999,999)")
    if events_per_customer < 0 or tickets_per_customer < 0:
        raise ValueError("events_per_customer and tickets_per_customer must be >= 0")
    rng = np.random.default_rng(seed)

    # ---- customers --------------------------------------------------------------------------------
    ids = np.char.add("C", np.char.zfill(np.arange(1, n + 1).astype(str), 7)).astype(object)

    pre_days = int((_START_DAY - _SIGNUP_MIN) / np.timedelta64(1, "D"))  # days 2022-01-01..2024-06-30
    in_days = int((_SIGNUP_MAX - _START_DAY) / np.timedelta64(1, "D")) + 1  # 2024-07-01..2026-05-31
    in_period = rng.random(n) < 0.22
    signup_off = np.where(
        in_period,
        rng.integers(0, in_days, n),
        rng.integers(-pre_days, 0, n),
    )  # days relative to SAMPLE_START
    signup_date = _START_DAY + signup_off.astype("timedelta64[D]")

    plan = rng.choice(len(PLANS), size=n, p=_PLAN_P)
    region = rng.choice(len(REGIONS), size=n, p=_REGION_P)
    age_true = np.clip(np.rint(rng.normal(41.0, 14.0, n)), 18, 80).astype(np.int64)
    log_fee_ratio = rng.normal(0.0, 0.07, n)
    fee_true = np.round(_PLAN_PRICE[plan] * np.exp(log_fee_ratio), 2)
    frailty = rng.lognormal(0.0, 0.35, n)

    # observed age/fee: missing values and implausible outliers (disjoint)
    u_age = rng.random(n)
    age_missing = u_age < 0.05
    age_outlier = (u_age >= 0.05) & (u_age < 0.055)
    age_obs = np.where(age_outlier, rng.integers(150, 201, n), age_true)
    u_fee = rng.random(n)
    fee_missing = u_fee < 0.02
    fee_outlier = (u_fee >= 0.02) & (u_fee < 0.025)
    fee_obs = np.where(fee_outlier, np.round(fee_true * rng.uniform(10.0, 50.0, n), 2), fee_true)
    fee_obs = np.where(fee_missing, np.nan, fee_obs)

    # ---- latent churn -----------------------------------------------------------------------------
    age_mult = 1.0 + 1.0 * np.exp(-(age_true - 18) / 8.0)
    fee_mult = np.exp(4.0 * log_fee_ratio)
    hazard = 0.00095 * _PLAN_HAZARD[plan] * _REGION_HAZARD[region] * age_mult * fee_mult * frailty
    start_s = np.maximum(signup_off, 0).astype(np.float64) * DAY  # seconds since SAMPLE_START
    churn_s = start_s + rng.exponential(1.0, n) / hazard * DAY  # may exceed the period
    end_s = np.minimum(churn_s, float(_PERIOD_S))
    # pre-churn decline: keep probability ramps from 1 to `floor` over the first third of the window
    decline_w = rng.uniform(60.0, 90.0, n) * DAY
    decline_floor = rng.uniform(0.30, 0.50, n)
    # pauses: ~40% of customers have one 20-75 day spell at 0-15% of their normal activity
    has_pause = rng.random(n) < _PAUSE_SHARE
    pause_len = rng.uniform(*_PAUSE_LEN_DAYS, n) * DAY
    pause_start = rng.uniform(-_PAUSE_LEAD_DAYS * DAY, float(_PERIOD_S), n)
    pause_start = np.where(has_pause, pause_start, np.inf)
    pause_keep = rng.uniform(*_PAUSE_KEEP, n)

    # ---- transactions -----------------------------------------------------------------------------
    base = rng.gamma(1.6, 1.0 / 1.6, n) * _PLAN_ACTIVITY[plan]
    dur_s = end_s - start_s
    kept_s = (
        dur_s
        - _decline_lost(start_s, end_s, churn_s, decline_w, decline_floor)
        - _pause_lost(start_s, end_s, pause_start, pause_len, pause_keep, churn_s, decline_w)
    )
    total_weight = float(np.sum(base * kept_s))
    rate_s = base * (events_per_customer * n / total_weight) if total_weight > 0 else base * 0.0
    cust, sec = _events(
        rng, rate_s, start_s, end_s, churn_s, decline_w, decline_floor,
        [(pause_start, pause_len, pause_keep)],
    )
    etype = _event_types(rng, cust, sec, churn_s, decline_w)
    amount = _amounts(rng, etype, cust, plan, fee_true)
    ts_ns = (sec + _EPOCH_START_S) * 1_000_000_000
    del sec
    transactions = _transactions_frame(ids, cust, ts_ns, amount, etype)
    del cust, ts_ns, amount, etype

    # ---- support tickets --------------------------------------------------------------------------
    tickets, ticket_propensity, ticket_rate = _tickets(
        rng, n, ids, start_s, end_s, churn_s, tickets_per_customer
    )

    customers = pd.DataFrame(
        {
            "customer_id": ids,
            "signup_date": np.datetime_as_string(signup_date, unit="D").astype(object),
            "plan": np.array(PLANS, dtype=object)[plan],
            "region": np.array(REGIONS, dtype=object)[region],
            "age": pd.arrays.IntegerArray(np.where(age_missing, 0, age_obs).astype(np.int64), age_missing),
            "monthly_fee": fee_obs,
        }
    )

    churn_ns = (np.floor(churn_s).astype(np.int64) + _EPOCH_START_S) * 1_000_000_000
    truth = _Truth(
        churn_ts=pd.Series(churn_ns.view("datetime64[ns]")).dt.tz_localize("UTC"),
        base_rate_per_day=rate_s * DAY,
        hazard_per_day=hazard,
    )
    world = _World(
        ids=ids,
        plan=plan,
        region=region,
        log_fee_ratio=log_fee_ratio,
        fee_true=fee_true,
        fee_obs=fee_obs,
        fee_outlier=fee_outlier,
        start_s=start_s,
        churn_s=churn_s,
        decline_w=decline_w,
        decline_floor=decline_floor,
        pause_start=pause_start,
        pause_len=pause_len,
        pause_keep=pause_keep,
        rate_s=rate_s,
        ticket_propensity=ticket_propensity,
        ticket_rate=ticket_rate,
    )
    return customers, transactions, tickets, truth, world


def _events(rng, rate_s, lo_s, hi_s, churn_s, decline_w, decline_floor, pauses):
    """Kept events over each customer's [lo, hi] (hi >= lo), as (customer code, second since
    SAMPLE_START) sorted by customer, then second.

    A Poisson process at `rate_s`, thinned by the pre-churn decline and by every (start, length, keep)
    pause in `pauses`. Used for the base period and, with the same rates, for the later period.
    """
    n = rate_s.size
    dur_s = hi_s - lo_s
    counts = rng.poisson(rate_s * dur_s)
    cust = np.repeat(np.arange(n, dtype=np.int64), counts)
    t = lo_s[cust] + rng.random(cust.size) * dur_s[cust]
    keep_p = _keep_probability(t, cust, churn_s, decline_w, decline_floor)
    for p_start, p_len, p_keep in pauses:
        in_pause = (t >= p_start[cust]) & (t < p_start[cust] + p_len[cust])
        keep_p = np.where(in_pause, keep_p * p_keep[cust], keep_p)
        del in_pause
    keep = rng.random(cust.size) < keep_p
    cust, t = cust[keep], t[keep]
    del keep, keep_p
    # sort by (customer, second): customer ids are zero padded, so code order == id order
    key = (cust << 27) | np.floor(t).astype(np.int64)
    del cust, t
    key.sort()
    return key >> 27, key & ((1 << 27) - 1)


def _event_types(rng, cust, sec, churn_s, decline_w):
    """Event type codes; the decline window has more refunds and fewer upgrades."""
    in_decline = (sec.astype(np.float64) > churn_s[cust] - decline_w[cust])
    u = rng.random(cust.size)
    etype = np.where(
        in_decline,
        np.searchsorted(np.cumsum(_EVENT_P_DECLINE), u, side="right"),
        np.searchsorted(np.cumsum(_EVENT_P_NORMAL), u, side="right"),
    ).astype(np.int8)
    return np.minimum(etype, len(EVENT_TYPES) - 1)


def _transactions_frame(ids, cust, ts_ns, amount, etype) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "customer_id": pd.Categorical.from_codes(cust, categories=pd.Index(ids, dtype=object)),
            "event_ts": pd.Series(ts_ns.view("datetime64[ns]")).dt.tz_localize("UTC"),
            "amount": amount,
            "event_type": pd.Categorical.from_codes(etype, categories=list(EVENT_TYPES)),
        }
    )


def _simulate_later(
    scenario: str,
    n_customers: int,
    seed: int,
    extra_days: int,
    events_per_customer: float,
    tickets_per_customer: float,
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, _Truth]:
    """The base simulation continued for `extra_days` under `scenario` (see the module docstring).

    The returned truth holds the effective churn time: the latent one, or the competitor's stop time
    in "performance_drop" when that is earlier.
    """
    if scenario not in SCENARIOS:
        raise ValueError(f"scenario must be one of {SCENARIOS}, got {scenario!r}")
    whole = not isinstance(extra_days, bool) and int(extra_days) == extra_days
    if not whole or not 1 <= extra_days <= _MAX_EXTRA_DAYS:
        raise ValueError(f"extra_days must be an integer in [1, {_MAX_EXTRA_DAYS}], got {extra_days!r}")
    extra_days = int(extra_days)
    customers, transactions, tickets, truth, w = _simulate_world(
        n_customers, seed, events_per_customer, tickets_per_customer
    )
    n = w.ids.size
    period_s = float(_PERIOD_S)
    horizon_s = period_s + extra_days * DAY
    # Two generators seeded from `seed` but independent of the base stream (which stays untouched)
    # and of each other: the continuation of the world is drawn identically for every scenario, and
    # the scenario's choices are drawn in full whatever the scenario, so scenarios are paired.
    rng = np.random.default_rng([int(seed), _LATER_STREAM])
    rng_sc = np.random.default_rng([int(seed), _SCENARIO_STREAM])
    subscribed = w.churn_s > period_s  # still a customer at SAMPLE_AS_OF
    standard = w.plan == PLANS.index("standard")
    move_to_basic = subscribed & standard & (rng_sc.random(n) < _DRIFT_MOVE_SHARE)
    competitor = subscribed & (rng_sc.random(n) < _COMPETITOR_SHARE)
    # the departure moment is front-loaded (density falling to 0 at the end of the window, mean 2.5
    # days): switching peaks right after the launch. Many departures must come before the customer's
    # next event for the SAMPLE_AS_OF cohort's 30-day label to see them; with a uniform moment most
    # low-activity switchers would still look like the churners a model already flags.
    stop_s = period_s + _COMPETITOR_WINDOW_DAYS * rng_sc.beta(1.0, 3.0, n) * DAY

    # ---- current plan and fee -----------------------------------------------------------------
    drift = scenario == "drift"
    if drift:
        # downgrades and a list price rise, both effective at SAMPLE_AS_OF; the personal deviation
        # from the list price (log_fee_ratio) persists, so fee / list price keeps its distribution
        plan_now = np.where(move_to_basic, PLANS.index("basic"), w.plan)
        price_mult = _DRIFT_PRICE_MULT
        fee_now = np.round(_PLAN_PRICE[plan_now] * price_mult * np.exp(w.log_fee_ratio), 2)
        fee_obs = np.where(w.fee_outlier, np.round(w.fee_obs * (fee_now / w.fee_true), 2), fee_now)
        fee_obs = np.where(np.isnan(w.fee_obs), np.nan, fee_obs)
        customers = customers.assign(
            plan=np.array(PLANS, dtype=object)[plan_now], monthly_fee=fee_obs
        )
    else:
        plan_now, price_mult, fee_now = w.plan, 1.0, w.fee_true

    # ---- continued events (the same latent world: rates, churn, decline, pauses) -----------------
    lo_s = np.full(n, period_s)
    hi_s = np.maximum(np.minimum(w.churn_s, horizon_s), period_s)
    # new pauses with the base period's per-day incidence; pauses that began before SAMPLE_AS_OF
    # continue as well
    p_new = _PAUSE_SHARE * (horizon_s - period_s) / (period_s + _PAUSE_LEAD_DAYS * DAY)
    has_pause = rng.random(n) < p_new
    pause_len = rng.uniform(*_PAUSE_LEN_DAYS, n) * DAY
    pause_start = np.where(has_pause, rng.uniform(period_s, horizon_s, n), np.inf)
    pause_keep = rng.uniform(*_PAUSE_KEEP, n)
    cust, sec = _events(
        rng, w.rate_s, lo_s, hi_s, w.churn_s, w.decline_w, w.decline_floor,
        [(w.pause_start, w.pause_len, w.pause_keep), (pause_start, pause_len, pause_keep)],
    )
    etype = _event_types(rng, cust, sec, w.churn_s, w.decline_w)
    amount = _amounts(rng, etype, cust, plan_now, fee_now, price_mult)
    t_cust, t_sec, t_topic = _ticket_events(
        rng, n, w.ticket_rate, w.ticket_propensity, lo_s, hi_s, w.churn_s
    )
    new_tickets = _render_tickets(rng, w.ids, t_cust, t_sec, t_topic)
    u_region = rng_sc.random(cust.size)

    # ---- scenario filters -----------------------------------------------------------------------
    keep = np.ones(cust.size, dtype=bool)
    keep_tk = np.ones(t_cust.size, dtype=bool)
    churn_eff = w.churn_s
    if drift:
        region_drop = w.region == REGIONS.index(_DRIFT_REGION)
        keep &= ~(region_drop[cust] & (u_region >= _DRIFT_REGION_KEEP))
    elif scenario == "performance_drop":
        keep &= ~(competitor[cust] & (sec >= stop_s[cust]))
        keep_tk &= ~(competitor[t_cust] & (t_sec >= stop_s[t_cust]))
        churn_eff = np.where(competitor, np.minimum(w.churn_s, stop_s), w.churn_s)
    cust, sec, etype, amount = cust[keep], sec[keep], etype[keep], amount[keep]
    del keep, u_region

    # ---- merge with the base export ---------------------------------------------------------------
    # every new event is later than the customer's base events: insert each customer's new events
    # after its base block (np.insert keeps the given order for equal positions)
    b_cust = transactions["customer_id"].cat.codes.to_numpy().astype(np.int64)
    pos = np.searchsorted(b_cust, cust, side="right")
    ts_ns = np.insert(_ts_ns(transactions["event_ts"]), pos, (sec + _EPOCH_START_S) * 1_000_000_000)
    all_amount = np.insert(transactions["amount"].to_numpy(dtype=np.float64), pos, amount)
    all_etype = np.insert(transactions["event_type"].cat.codes.to_numpy().astype(np.int8), pos, etype)
    del transactions
    all_cust = np.insert(b_cust, pos, cust)
    del b_cust, pos, cust, sec, amount, etype
    transactions = _transactions_frame(w.ids, all_cust, ts_ns, all_amount, all_etype)
    del all_cust, ts_ns, all_amount, all_etype

    # tickets: every new ticket is later than all base tickets; renumber (base ids are unchanged)
    tickets = pd.concat(
        [tickets, new_tickets.loc[keep_tk]], ignore_index=True
    ).assign(ticket_id=lambda f: _ticket_ids(len(f)))

    churn_ns = (np.floor(churn_eff).astype(np.int64) + _EPOCH_START_S) * 1_000_000_000
    truth = _Truth(
        churn_ts=pd.Series(churn_ns.view("datetime64[ns]")).dt.tz_localize("UTC"),
        base_rate_per_day=truth.base_rate_per_day,
        hazard_per_day=truth.hazard_per_day,
    )
    return customers, transactions, tickets, truth


def _ts_ns(event_ts: pd.Series) -> np.ndarray:
    """int64 nanoseconds since the epoch of a datetime64[ns, UTC] series (no copy to objects)."""
    ts = event_ts.array
    return np.asarray(ts.asi8 if hasattr(ts, "asi8") else ts.view("i8"), dtype=np.int64)


def _decline_lost(start_s, end_s, churn_s, w, floor):
    """Seconds of activity lost to the pre-churn decline within [start, end] (exact integral)."""
    ramp = w / 3.0

    def lost_up_to(tau):  # integral over [0, tau] of (1 - keep probability), tau in [0, w]
        return (1.0 - floor) * np.where(tau <= ramp, tau * tau / (2.0 * ramp), ramp / 2.0 + (tau - ramp))

    origin = churn_s - w
    a = np.clip(start_s - origin, 0.0, w)
    b = np.clip(end_s - origin, 0.0, w)
    return lost_up_to(b) - lost_up_to(a)


def _pause_lost(start_s, end_s, pause_start, pause_len, pause_keep, churn_s, w):
    """Approximate seconds lost to pauses (ignores the small overlap with the decline window)."""
    with np.errstate(invalid="ignore"):
        lo = np.maximum(start_s, pause_start)
        hi = np.minimum(end_s, pause_start + pause_len)
        overlap = np.where(np.isfinite(pause_start), np.clip(hi - lo, 0.0, None), 0.0)
    return overlap * (1.0 - pause_keep)


def _keep_probability(t, cust, churn_s, w, floor):
    w_e = w[cust]
    tau = t - (churn_s[cust] - w_e)
    ramp = w_e / 3.0
    f = floor[cust]
    return np.where(tau <= 0.0, 1.0, np.where(tau < ramp, 1.0 - (1.0 - f) * tau / ramp, f))


def _amounts(rng, etype, cust, plan, fee_true, price_mult=1.0):
    """Amounts by event type. Renewals charge `fee_true`; `price_mult` scales the other prices (the
    draws do not depend on it, and 1.0 leaves the values bit-identical)."""
    m = etype.size
    cplan = plan[cust]
    amount = np.empty(m, dtype=np.float64)
    # purchases: add-ons and one-off items, larger for richer plans
    purchase_median = np.array([8.0, 12.0, 18.0])[cplan] * price_mult
    amount[:] = purchase_median * rng.lognormal(0.0, 0.6, m)
    renewal = etype == 1
    amount[renewal] = fee_true[cust[renewal]]
    refund = etype == 2
    amount[refund] = -amount[refund] * rng.uniform(0.5, 1.0, int(refund.sum()))
    upgrade = etype == 3
    amount[upgrade] = np.array([10.0, 20.0, 25.0])[cplan[upgrade]] * price_mult * rng.uniform(
        0.9, 1.1, int(upgrade.sum())
    )
    amount = np.round(amount, 2)
    # rounding must not create zero amounts
    amount = np.where(amount >= 0, np.maximum(amount, 0.01), np.minimum(amount, -0.01))
    return amount


def _tickets(rng, n, ids, start_s, end_s, churn_s, tickets_per_customer):
    """Tickets of the base period; also returns the per-customer propensity and the rate scale."""
    propensity = rng.gamma(2.0, 0.5, n)
    dur_s = end_s - start_s
    _, pre_overlap = _pre_churn_window(start_s, end_s, churn_s)
    weight = float(np.sum(propensity * (dur_s + _PRE_CHURN_TICKET_MULT * pre_overlap)))
    rate = tickets_per_customer * n / weight if weight > 0 else 0.0
    cust, sec, topic = _ticket_events(rng, n, rate, propensity, start_s, end_s, churn_s)
    return _render_tickets(rng, ids, cust, sec, topic), propensity, rate


def _pre_churn_window(lo_s, hi_s, churn_s):
    """Start and length of the part of [lo, hi] (hi <= churn) in the 60 days before churn."""
    pre_lo = np.maximum(lo_s, churn_s - _PRE_CHURN_TICKET_DAYS * DAY)
    return pre_lo, np.clip(hi_s - pre_lo, 0.0, None)


def _ticket_events(rng, n, rate, propensity, lo_s, hi_s, churn_s):
    """(customer code, second, topic) of the tickets over each customer's [lo, hi], sorted by instant."""
    dur_s = hi_s - lo_s
    pre_lo, pre_overlap = _pre_churn_window(lo_s, hi_s, churn_s)
    extra_mult = _PRE_CHURN_TICKET_MULT
    n_bg = rng.poisson(rate * propensity * dur_s)
    n_ex = rng.poisson(rate * extra_mult * propensity * pre_overlap)
    c_bg = np.repeat(np.arange(n, dtype=np.int64), n_bg)
    c_ex = np.repeat(np.arange(n, dtype=np.int64), n_ex)
    t_bg = lo_s[c_bg] + rng.random(c_bg.size) * dur_s[c_bg]
    t_ex = pre_lo[c_ex] + rng.random(c_ex.size) * pre_overlap[c_ex]
    topic_bg = np.searchsorted(np.cumsum(_TOPIC_P_BACKGROUND), rng.random(c_bg.size), side="right")
    topic_ex = np.searchsorted(np.cumsum(_TOPIC_P_PRE_CHURN), rng.random(c_ex.size), side="right")
    cust = np.concatenate([c_bg, c_ex])
    sec = np.floor(np.concatenate([t_bg, t_ex])).astype(np.int64)
    topic = np.minimum(np.concatenate([topic_bg, topic_ex]), len(TOPICS) - 1)
    order = np.lexsort((topic, cust, sec))
    return cust[order], sec[order], topic[order]


def _render_tickets(rng, ids, cust, sec, topic) -> pd.DataFrame:
    """The tickets frame (text, local-time created_at, ids T00000001... in row order)."""
    k = cust.size

    # text: prefix + topic-specific body + suffix
    bodies = [b for name in TOPICS for b in _TEXT_BODIES[name]]
    body_counts = np.array([len(_TEXT_BODIES[name]) for name in TOPICS])
    body_offsets = np.concatenate([[0], np.cumsum(body_counts)[:-1]])
    body_idx = body_offsets[topic] + np.floor(rng.random(k) * body_counts[topic]).astype(np.int64)
    prefix_idx = rng.integers(0, len(_TEXT_PREFIXES), k)
    suffix_idx = rng.integers(0, len(_TEXT_SUFFIXES), k)
    text = (
        np.array(_TEXT_PREFIXES, dtype=object)[prefix_idx]
        + np.array(bodies, dtype=object)[body_idx]
        + np.array(_TEXT_SUFFIXES, dtype=object)[suffix_idx]
    )

    # created_at: ISO 8601 with an explicit offset; ~20% in a non-UTC local time (same instant)
    non_utc = rng.random(k) < _NON_UTC_SHARE
    offset_min = np.where(non_utc, _TZ_OFFSETS_MIN[rng.integers(0, _TZ_OFFSETS_MIN.size, k)], 0)
    local = (sec + _EPOCH_START_S + offset_min * 60).astype("datetime64[s]")
    sign = np.where(offset_min < 0, "-", "+").astype(object)
    hh = np.char.zfill((np.abs(offset_min) // 60).astype(str), 2).astype(object)
    mm = np.char.zfill((np.abs(offset_min) % 60).astype(str), 2).astype(object)
    created_at = np.datetime_as_string(local, unit="s").astype(object) + sign + hh + ":" + mm

    return pd.DataFrame(
        {
            "ticket_id": _ticket_ids(k),
            "customer_id": ids[cust] if k else np.array([], dtype=object),
            "created_at": created_at,
            "topic": np.array(TOPICS, dtype=object)[topic],
            "text": text,
        }
    )


def _ticket_ids(k: int) -> np.ndarray:
    width = max(8, len(str(k)))
    return np.char.add("T", np.char.zfill(np.arange(1, k + 1).astype(str), width)).astype(object)


def _transactions_to_arrow(transactions: pd.DataFrame) -> pa.Table:
    """Plain string columns, UTC nanosecond timestamps, no pandas metadata (deterministic bytes)."""
    cid = transactions["customer_id"].cat
    etype = transactions["event_type"].cat
    ts_ns = _ts_ns(transactions["event_ts"])
    return pa.table(
        {
            "customer_id": pa.array(cid.categories.to_numpy(dtype=object), type=pa.string()).take(
                pa.array(cid.codes.to_numpy(), type=pa.int64())
            ),
            "event_ts": pa.array(ts_ns, type=pa.timestamp("ns", tz="UTC")),
            "amount": pa.array(transactions["amount"].to_numpy(dtype=np.float64), type=pa.float64()),
            "event_type": pa.array(etype.categories.to_numpy(dtype=object), type=pa.string()).take(
                pa.array(etype.codes.to_numpy(), type=pa.int64())
            ),
        }
    )
