"""Profiling a source from its values: column types, keys, granularity and data-quality counts.

This is the first half of the exploration step (the second, `findings`, writes what it finds as
reviewable YAML). Nothing here looks at column names: a column named `customer_id` that holds
amounts is numeric, and a 0/1 column named `class_size` is binary. The rules, in the order they
are tried on a column's non-null values:

1. datetime: a datetime dtype, or strings of which >= 95% look like a date (two separators such as
   2024-07-01 or 01/07/2024, a year-month 2024-07, or a month name) and parse as one.
2. binary: exactly two distinct values, of any kind.
3. numeric: a numeric dtype, or strings of which >= 99% parse as numbers, unless they are codes
   with leading zeros ("007"). Integers become identifiers instead when they are all distinct,
   non-negative, at least `MIN_INTEGER_KEYS` of them, and look like a sequence or a code rather than
   a measurement: they fill at least half of the range min..max, or all have the same number of
   digits (six or more).
4. identifier: strings without whitespace that are code-like (>= 90% contain a digit and >= 90%
   share one length or one shape such as "C0000001" -> "a9") and either mostly distinct
   (unique ratio > 0.5) or repeating keys (>= 50 distinct values and >= 0.1% of the values, so a
   customer id repeated in an event table is still an identifier); or strings without whitespace
   with >= 50 distinct values and a unique ratio > 0.5 (e-mail addresses, user names).
5. text: strings averaging >= 3 words with many distinct values (unique ratio > 0.3 or > 50).
6. categorical: every other string column (and a column with no values at all).

Granularity, also from values: a table with a repeating identifier (unique ratio < 0.95) and a
datetime column is event-level (keyed by the repeating identifier, timed by the datetime column
with the most distinct values); otherwise it is entity-level, keyed by its most unique identifier.
Type inference uses a seeded random sample of large frames; row counts, nulls, distinct values,
duplicates and numeric/datetime statistics use every row.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass
from datetime import datetime
from itertools import combinations
from pathlib import Path
from typing import Literal, get_args

import numpy as np
import pandas as pd

from retention_assets.features.entity import iqr_fences
from retention_assets.core.errors import DataValidationError

ColumnType = Literal["numeric", "categorical", "binary", "datetime", "text", "identifier"]
COLUMN_TYPES: tuple[str, ...] = get_args(ColumnType)

DATETIME_PARSE_SHARE = 0.95
NUMERIC_PARSE_SHARE = 0.99
MIN_INTEGER_KEYS = 20
MIN_REPEATING_KEYS = 50
REPEATING_KEY_SHARE = 0.001
CODE_SHARE = 0.9
TEXT_MIN_WORDS = 3.0
NEARLY_UNIQUE = 0.95
FAR_PAST_YEARS = 50
EPOCH_PLACEHOLDER_LIMIT = pd.Timestamp("1971-01-01", tz="UTC")
MAX_EXAMPLE_CHARS = 80

_MONTHS = r"(?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\.?"
_DATE_LIKE = re.compile(
    rf"\d{{1,4}}[-/.]\d{{1,2}}[-/.]\d{{1,4}}|^\s*\d{{4}}-\d{{2}}\b|\b{_MONTHS}\s+\d|\d\s+{_MONTHS}",
    re.IGNORECASE,
)
_LEADING_ZERO = re.compile(r"^[+-]?0\d")


@dataclass
class ColumnProfile:
    """What one column holds, as found from its values."""

    name: str
    type: ColumnType
    dtype: str
    null_rate: float
    cardinality: int
    unique_ratio: float
    examples: list
    outlier_rate: float | None = None
    min: float | str | None = None
    max: float | str | None = None
    mean_words: float | None = None
    future_rate: float | None = None
    far_past_rate: float | None = None


@dataclass
class DatasetProfile:
    """What one source is: its grain, its key, its event time and its columns."""

    name: str
    path: str
    rows: int
    granularity: Literal["entity", "event"]
    entity_key: str | None
    key_candidates: list[str]
    timestamp_column: str | None
    timestamp_candidates: list[str]
    target_candidates: list[str]
    duplicate_rows: int
    duplicate_keys: int
    columns: dict[str, ColumnProfile]
    events_per_entity: dict | None = None
    time_span: dict | None = None


@dataclass
class Relationship:
    """How the key of one dataset matches an identifier column of another."""

    left: str
    left_column: str
    right: str
    right_column: str
    left_match_rate: float
    right_match_rate: float
    cardinality: Literal["one_to_one", "one_to_many", "many_to_one", "many_to_many"]


# --------------------------------------------------------------------------------------------------
# reading


def read_any(path: Path, file_format: str | None = None) -> pd.DataFrame:
    """A CSV (every column as text, empty cells as missing) or a Parquet file, for profiling."""
    path = Path(path)
    if not path.exists():
        raise DataValidationError(path, "the file does not exist")
    fmt = file_format or {".csv": "csv", ".txt": "csv", ".parquet": "parquet", ".pq": "parquet"}.get(
        path.suffix.lower()
    )
    if fmt == "csv":
        return pd.read_csv(path, dtype=str, keep_default_na=True)
    if fmt == "parquet":
        return pd.read_parquet(path)
    raise DataValidationError(path, f"cannot profile format {fmt or path.suffix!r}: use csv or parquet")


# --------------------------------------------------------------------------------------------------
# column types


def _is_text_like(series: pd.Series) -> bool:
    return (
        pd.api.types.is_object_dtype(series)
        or pd.api.types.is_string_dtype(series)
        or isinstance(series.dtype, pd.CategoricalDtype)
    )


def _parse_datetimes(values: pd.Series) -> pd.Series:
    """UTC timestamps; ISO 8601 first (fast), anything else value by value; unparseable -> NaT."""
    if pd.api.types.is_datetime64_any_dtype(values):
        parsed = pd.Series(values)
        return parsed.dt.tz_localize("UTC") if parsed.dt.tz is None else parsed.dt.tz_convert("UTC")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        parsed = pd.to_datetime(values, utc=True, format="ISO8601", errors="coerce")
        retry = parsed.isna() & values.notna()
        if retry.any():
            parsed[retry] = pd.to_datetime(values[retry], utc=True, format="mixed", errors="coerce")
    return parsed


def _distinct_strings(values: pd.Series) -> tuple[pd.Series, np.ndarray]:
    """Distinct trimmed non-empty strings and how often each occurs (string rules run once per value)."""
    counts = values.dropna().astype(str).value_counts(sort=False)
    counts = counts.groupby(counts.index.str.strip(), sort=True).sum()
    counts = counts[counts.index != ""]
    return pd.Series(counts.index, dtype=object), counts.to_numpy()


def _share(mask, weights: np.ndarray) -> float:
    return float(np.dot(np.asarray(mask, dtype=float), weights) / weights.sum())


def _share_of_dates(strings: pd.Series, weights: np.ndarray) -> float:
    date_like = strings.str.contains(_DATE_LIKE).to_numpy()
    if _share(date_like, weights) < DATETIME_PARSE_SHARE:
        return _share(date_like, weights)
    return _share(_parse_datetimes(strings.where(date_like)).notna(), weights)


def _integer_code(numbers: np.ndarray) -> bool:
    """Distinct non-negative integers that look like a sequence or a fixed-width code, not a measurement."""
    n = numbers.size
    if n < MIN_INTEGER_KEYS or not np.all(np.isfinite(numbers)):
        return False
    if np.any(numbers < 0) or np.any(numbers != np.floor(numbers)):
        return False
    if np.unique(numbers).size != n:
        return False
    low, high = float(numbers.min()), float(numbers.max())
    if high - low + 1 <= 2 * n:
        return True
    digits = np.floor(np.log10(np.maximum(numbers, 1))) + 1
    return bool(digits.min() == digits.max() and digits.min() >= 6)


def _shape(value: str) -> str:
    """'C0000001' -> 'a9', 'ab-12' -> 'a-9': letter runs become 'a', digit runs '9'."""
    return re.sub(r"\d+", "9", re.sub(r"[^\W\d_]+", "a", value))


def _top_share(keys: pd.Series, weights: np.ndarray) -> float:
    return float(pd.Series(weights).groupby(keys.to_numpy()).sum().max() / weights.sum())


def _code_like(strings: pd.Series, weights: np.ndarray) -> bool:
    if _share(strings.str.contains(r"\d"), weights) < CODE_SHARE:
        return False
    return (
        _top_share(strings.str.len(), weights) >= CODE_SHARE
        or _top_share(strings.map(_shape), weights) >= CODE_SHARE
    )


def _mean_words(strings: pd.Series, weights: np.ndarray) -> float:
    return float(np.dot(strings.str.split().str.len().to_numpy(dtype=float), weights) / weights.sum())


def _string_type(strings: pd.Series, weights: np.ndarray) -> ColumnType:
    n = int(weights.sum())
    cardinality = len(strings)
    unique_ratio = cardinality / n
    if _share(strings.str.contains(r"\s"), weights) <= 0.01:
        repeating = cardinality >= MIN_REPEATING_KEYS and cardinality >= REPEATING_KEY_SHARE * n
        if _code_like(strings, weights) and (unique_ratio > 0.5 or repeating):
            return "identifier"
        if cardinality >= MIN_REPEATING_KEYS and unique_ratio > 0.5:
            return "identifier"
    if _mean_words(strings, weights) >= TEXT_MIN_WORDS and (unique_ratio > 0.3 or cardinality > 50):
        return "text"
    return "categorical"


def _hashable(values: pd.Series) -> pd.Series:
    """Unhashable cells (lists, dicts from Parquet) are judged by their text."""
    if values.dtype != object:
        return values
    try:
        values.nunique()
    except TypeError:
        return values.map(lambda v: v if v is None else str(v))
    return values


def infer_column_type(series: pd.Series) -> ColumnType:
    """The column's type from its values alone (see the module docstring for the rules)."""
    values = _hashable(series.dropna())
    if values.empty:
        return "categorical"
    if pd.api.types.is_datetime64_any_dtype(values):
        return "datetime"
    kind = pd.api.types.infer_dtype(values, skipna=True) if values.dtype == object else None
    if kind in ("datetime", "datetime64", "date"):
        return "datetime"
    python_numbers = kind in ("integer", "floating", "mixed-integer-float", "decimal")
    strings = weights = None
    if _is_text_like(values) and not python_numbers and kind != "boolean":
        strings, weights = _distinct_strings(values)
        if strings.empty:
            return "categorical"
        if _share_of_dates(strings, weights) >= DATETIME_PARSE_SHARE:
            return "datetime"
    if pd.api.types.is_bool_dtype(values) or values.nunique() == 2:
        return "binary"
    if pd.api.types.is_numeric_dtype(values) or python_numbers:
        numbers = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float)
        return "identifier" if _integer_code(numbers) else "numeric"
    if strings is None:  # anything else (one boolean, mixed objects) is judged by its text
        strings, weights = _distinct_strings(values)
        if strings.empty:
            return "categorical"
    numbers = pd.to_numeric(strings, errors="coerce")
    leading_zeros = _share(strings.str.contains(_LEADING_ZERO), weights) >= 0.1
    if _share(numbers.notna(), weights) >= NUMERIC_PARSE_SHARE and not leading_zeros:
        # distinct strings can repeat a number ("1" and "1.0"): judge every value, not the distinct ones
        every = np.repeat(numbers.to_numpy(dtype=float), weights)
        return "identifier" if _integer_code(every[~np.isnan(every)]) else "numeric"
    return _string_type(strings, weights)


# --------------------------------------------------------------------------------------------------
# one dataset


def _numbers(series: pd.Series) -> pd.Series:
    if pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series):
        return series.astype(float)
    return pd.to_numeric(series.astype("string").str.strip(), errors="coerce").astype(float)


def _plain(value) -> str | int | float | bool:
    """A value YAML and JSON can hold without tags."""
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value)
    if isinstance(value, np.datetime64):
        value = pd.Timestamp(value)
    if isinstance(value, (pd.Timestamp, datetime)):
        return value.isoformat()
    text = str(value)
    return text if len(text) <= MAX_EXAMPLE_CHARS else text[: MAX_EXAMPLE_CHARS - 3] + "..."


def _utc(moment: datetime | None) -> pd.Timestamp | None:
    if moment is None:
        return None
    stamp = pd.Timestamp(moment)
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


def _factorize(series: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Codes per row (-1 = missing) and the number of rows holding each distinct value, in one pass."""
    try:
        if pd.api.types.is_datetime64_any_dtype(series):  # hashing the int64 view is several times faster
            codes, _ = pd.factorize(series.array.asi8)
            codes[series.isna().to_numpy()] = -1
        else:
            codes, _ = pd.factorize(series, use_na_sentinel=True)
    except TypeError:  # unhashable cells (lists, dicts): compare their text
        codes, _ = pd.factorize(series.astype(str).where(series.notna()), use_na_sentinel=True)
    counts = np.bincount(codes[codes >= 0])
    return codes, counts[counts > 0]


def _duplicate_rows(factorized: list[tuple[np.ndarray, np.ndarray]], rows: int) -> int:
    """Rows identical to an earlier row: each row's codes folded into one int64, then counted once."""
    if not factorized or rows == 0:
        return 0
    combined = np.zeros(rows, dtype=np.int64)
    span = 1
    for codes, counts in factorized:
        radix = int(counts.size) + 1  # +1 for missing
        if span * radix >= 2**62:  # re-number the distinct combinations so far before it overflows
            combined, uniques = pd.factorize(combined)
            combined, span = combined.astype(np.int64), len(uniques)
        combined = combined * radix + (codes.astype(np.int64) + 1)
        span *= radix
    return rows - len(pd.unique(combined))


def _profile_column(
    full: pd.Series,
    sample: pd.Series,
    value_counts: np.ndarray,
    *,
    sampled: bool,
    reference_time: pd.Timestamp | None,
    outlier_iqr_multiplier: float,
) -> ColumnProfile:
    rows = len(full)
    non_null = int(value_counts.sum())
    cardinality = int(value_counts.size)
    column_type = infer_column_type(sample)
    if sampled and column_type == "numeric":
        # density of an integer sequence is only visible on every row
        column_type = infer_column_type(_numbers(full))
    profile = ColumnProfile(
        name=str(full.name),
        type=column_type,
        dtype=str(full.dtype),
        null_rate=1 - non_null / rows if rows else 0.0,
        cardinality=cardinality,
        unique_ratio=cardinality / non_null if non_null else 0.0,
        examples=[_plain(v) for v in pd.unique(_hashable(sample.dropna()))[:3]],
    )
    if column_type == "numeric":
        numbers = _numbers(full).dropna()
        if not numbers.empty:
            low, high = iqr_fences(numbers, outlier_iqr_multiplier)
            profile.outlier_rate = float(((numbers < low) | (numbers > high)).mean())
            profile.min, profile.max = float(numbers.min()), float(numbers.max())
    elif column_type == "datetime":
        stamps = _parse_datetimes(full).dropna()
        if not stamps.empty:
            profile.min, profile.max = stamps.min().isoformat(), stamps.max().isoformat()
            if reference_time is not None:
                far_past = reference_time - pd.DateOffset(years=FAR_PAST_YEARS)
                profile.future_rate = float((stamps > reference_time).mean())
            else:
                far_past = EPOCH_PLACEHOLDER_LIMIT
            profile.far_past_rate = float((stamps < far_past).mean())
    elif _is_text_like(sample) and column_type != "binary":
        strings, weights = _distinct_strings(sample)
        if not strings.empty:
            profile.mean_words = _mean_words(strings, weights)
    return profile


def _best_first(names: list[str], columns: dict[str, ColumnProfile], order: list[str]) -> list[str]:
    return sorted(names, key=lambda c: (columns[c].null_rate, order.index(c)))


def profile_frame(
    frame: pd.DataFrame,
    name: str,
    path: str | Path,
    *,
    reference_time: datetime | None = None,
    outlier_iqr_multiplier: float = 3.0,
    sample_rows: int = 200_000,
    seed: int = 0,
) -> DatasetProfile:
    """Profile a whole table: column types from a seeded sample, counts and keys from every row.

    `reference_time` (naive = UTC) is the moment after which dates count as "in the future"; without
    it no future share is computed (there is no wall clock) and "far past" means before 1971.
    """
    rows = len(frame)
    sampled = rows > sample_rows
    if sampled:
        positions = np.sort(np.random.default_rng(seed).choice(rows, size=sample_rows, replace=False))
        sample = frame.iloc[positions]
    else:
        sample = frame
    reference = _utc(reference_time)
    order = [str(c) for c in frame.columns]
    factorized = {str(c): _factorize(frame[c]) for c in frame.columns}
    columns = {
        str(c): _profile_column(
            frame[c], sample[c], factorized[str(c)][1], sampled=sampled, reference_time=reference,
            outlier_iqr_multiplier=outlier_iqr_multiplier,
        )
        for c in frame.columns
    }

    identifiers = [c for c in order if columns[c].type == "identifier"]
    repeating = [c for c in identifiers if columns[c].unique_ratio < NEARLY_UNIQUE]
    nearly_unique = [c for c in identifiers if c not in repeating]
    datetimes = sorted(
        (c for c in order if columns[c].type == "datetime"),
        key=lambda c: (-columns[c].cardinality, order.index(c)),
    )
    if repeating and datetimes:
        granularity: Literal["entity", "event"] = "event"
        key_candidates = _best_first(repeating, columns, order)
        timestamp_column = datetimes[0]
    else:
        granularity = "entity"
        exact = [c for c in nearly_unique if columns[c].cardinality == rows]
        key_candidates = exact + _best_first([c for c in nearly_unique if c not in exact], columns, order)
        if not key_candidates:
            key_candidates = _best_first(repeating, columns, order)
        timestamp_column = None
    entity_key = key_candidates[0] if key_candidates else None

    duplicate_keys = 0
    events_per_entity = None
    time_span = None
    if entity_key is not None:
        counts = factorized[entity_key][1]
        if granularity == "entity":
            duplicate_keys = int(counts.sum() - counts.size)
        elif counts.size:
            events_per_entity = {
                "min": int(counts.min()), "median": float(np.median(counts)),
                "mean": float(counts.mean()), "max": int(counts.max()),
            }
    if timestamp_column is not None and columns[timestamp_column].min is not None:
        start, end = columns[timestamp_column].min, columns[timestamp_column].max
        days = (pd.Timestamp(end) - pd.Timestamp(start)).total_seconds() / 86_400
        time_span = {"start": start, "end": end, "days": days}
    duplicate_rows = _duplicate_rows([factorized[c] for c in order], rows)

    return DatasetProfile(
        name=name,
        path=str(path),
        rows=rows,
        granularity=granularity,
        entity_key=entity_key,
        key_candidates=key_candidates,
        timestamp_column=timestamp_column,
        timestamp_candidates=datetimes,
        target_candidates=(
            [c for c in order if columns[c].type == "binary" and c != entity_key] if granularity == "entity" else []
        ),
        duplicate_rows=duplicate_rows,
        duplicate_keys=duplicate_keys,
        columns=columns,
        events_per_entity=events_per_entity,
        time_span=time_span,
    )


# --------------------------------------------------------------------------------------------------
# across datasets


def _key_text(series: pd.Series) -> pd.Series:
    """Keys compared as text, as raw does: 17, 17.0 and "17" are the same key."""
    values = series.dropna()
    if pd.api.types.is_float_dtype(values) and np.all(values == np.floor(values)):
        values = values.astype("int64")
    return values.astype(str).str.strip()


def profile_relationships(
    frames: dict[str, pd.DataFrame], profiles: dict[str, DatasetProfile]
) -> list[Relationship]:
    """Which key of one dataset matches an identifier column of another, how well, and how many to how many.

    Each pair (key candidate of one dataset, identifier column of the other) whose values overlap is
    measured; `left_match_rate` is the share of the left column's distinct values found on the right,
    `right_match_rate` the share of the right column's rows whose value is found on the left. The
    entity-level dataset is put on the left when there is one, so entity -> events reads one_to_many.
    Pairs matching at most half on both sides are dropped.
    """
    texts: dict[tuple[str, str], pd.Series] = {}

    def text(dataset: str, column: str) -> pd.Series:
        if (dataset, column) not in texts:
            texts[dataset, column] = _key_text(frames[dataset][column])
        return texts[dataset, column]

    names = [n for n in frames if n in profiles]
    found: dict[tuple[str, str, str, str], Relationship] = {}
    for a, b in combinations(names, 2):
        if profiles[b].granularity == "entity" and profiles[a].granularity == "event":
            a, b = b, a
        pairs = {
            (left_col, right_col)
            for first, second, flip in ((a, b, False), (b, a, True))
            for key in profiles[first].key_candidates
            for other, column in profiles[second].columns.items()
            if column.type == "identifier"
            for left_col, right_col in [((other, key) if flip else (key, other))]
        }
        for left_col, right_col in sorted(pairs):
            left_values, right_values = text(a, left_col), text(b, right_col)
            left_distinct = pd.Index(left_values.unique())
            right_distinct = pd.Index(right_values.unique())
            shared = left_distinct.isin(right_distinct)
            if not shared.any():
                continue
            left_rate = float(shared.mean())
            right_rate = float(right_values.isin(left_distinct).mean())
            if max(left_rate, right_rate) <= 0.5:
                continue
            left_unique = left_distinct.size == left_values.size
            right_unique = right_distinct.size == right_values.size
            cardinality = {
                (True, True): "one_to_one", (True, False): "one_to_many",
                (False, True): "many_to_one", (False, False): "many_to_many",
            }[left_unique, right_unique]
            found[a, left_col, b, right_col] = Relationship(a, left_col, b, right_col, left_rate, right_rate, cardinality)
    return [found[k] for k in sorted(found)]
