"""Small files of the shapes users have, built in the test (deterministic numpy RNG, ~600 customers, churners
whose activity stops before the end so a model has something to learn): integer ids everywhere."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

START = pd.Timestamp("2024-01-01", tz="UTC")
SPAN_DAYS = 360


def _events(n: int, seed: int, *, dates_only: bool = False) -> tuple[pd.DataFrame, np.ndarray]:
    """Integer-keyed events: each customer buys every few days; churners stop part-way (their last weeks empty)."""
    rng = np.random.default_rng(seed)
    rows = []
    churned = rng.random(n) < 0.35
    for customer in range(1, n + 1):
        gap = rng.uniform(3, 12)
        stop = SPAN_DAYS - rng.uniform(5, 90) if churned[customer - 1] else SPAN_DAYS
        day = rng.uniform(0, 20)
        while day < stop:
            rows.append((customer, day, round(float(rng.gamma(2.0, 15.0)), 2), int(rng.integers(1, 400))))
            fading = churned[customer - 1] and day > stop - 60  # churners come back less and less before they stop
            day += rng.exponential(gap * (3 if fading else 1))
    frame = pd.DataFrame(rows, columns=["user_id", "day", "amount", "product_id"])
    stamps = START + pd.to_timedelta(frame.pop("day"), unit="D")
    frame.insert(1, "event_time", stamps.dt.floor("D") if dates_only else stamps.dt.floor("s"))
    return frame, churned


def events_only(directory: Path, n: int = 600, seed: int = 1) -> list[Path]:
    """A clickstream-like log: integer user ids and product ids, no customer table."""
    frame, _ = _events(n, seed)
    path = directory / "events.csv"
    frame.to_csv(path, index=False)
    return [path]


def customers_and_events(directory: Path, n: int = 600, seed: int = 2) -> list[Path]:
    """A customer table with integer ids 1..n plus integer-keyed events."""
    rng = np.random.default_rng(seed)
    frame, _ = _events(n, seed)
    customers = pd.DataFrame({"customer_id": np.arange(1, n + 1),
                              "plan": rng.choice(["basic", "pro", "max"], n),
                              "age": rng.integers(18, 80, n)})
    (directory / "customers.csv").write_text(customers.to_csv(index=False))
    frame.rename(columns={"user_id": "customer_id"}).to_parquet(directory / "purchases.parquet")
    return [directory / "customers.csv", directory / "purchases.parquet"]


def entity_only(directory: Path, n: int = 600, seed: int = 3) -> list[Path]:
    """A customer table with a churn column and no dates or events: the churn depends on tenure and fee."""
    rng = np.random.default_rng(seed)
    tenure = rng.integers(0, 72, n)
    fee = rng.uniform(20, 110, n).round(2)
    risk = 1 / (1 + np.exp(0.08 * tenure - 0.03 * (fee - 60)))
    frame = pd.DataFrame({"customer_ref": [f"K{i:05d}" for i in range(1, n + 1)], "tenure_months": tenure,
                          "monthly_fee": fee, "contract": rng.choice(["month", "year", "two_year"], n),
                          "churned": np.where(rng.random(n) < risk, "yes", "no")})
    path = directory / "telecom.csv"
    frame.to_csv(path, index=False)
    return [path]


def date_only_events(directory: Path, n: int = 600, seed: int = 4) -> list[Path]:
    """A customer table and events stamped with dates only (every timestamp a midnight)."""
    rng = np.random.default_rng(seed)
    frame, _ = _events(n, seed, dates_only=True)
    frame["event_time"] = frame["event_time"].dt.strftime("%Y-%m-%d")
    customers = pd.DataFrame({"customer_id": np.arange(1, n + 1), "region": rng.choice(["n", "s", "e", "w"], n)})
    customers.to_csv(directory / "members.csv", index=False)
    frame.rename(columns={"user_id": "customer_id"}).to_csv(directory / "visits.csv", index=False)
    return [directory / "members.csv", directory / "visits.csv"]


SHAPES = {"events_only": events_only, "customers_and_events": customers_and_events, "entity_only": entity_only,
          "date_only_events": date_only_events}
