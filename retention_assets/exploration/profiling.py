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
Keys by repetition: in a table with a datetime column, a column of whole non-negative numbers with at
least `MIN_INTEGER_KEYS` distinct values and at least two rows per value (`REPEATING_NUMBER_ROWS`) is
a key candidate whatever its type (`repeating_numbers`, most distinct first): an integer `user_id` of
an event log. Such a table without a unique identifier is event-level keyed by it; with one (an event
id, or a customer table with an age) it stays entity-level and exploration decides from the other
files (a column that joins another file's unique column is a key).

Profiles run on an engine, out of core. What needs values (the type rules, examples, the mean number
of words) reads a bounded deterministic sample: the whole table when it has at most `sample_rows`
rows, else the `sample_rows` rows whose positions have the smallest seeded hash. Everything counted
(rows, nulls, distinct values, duplicate rows and keys, events per entity) and every numeric and
datetime statistic is exact SQL over the whole relation, and so is the integer-code rule of a numeric column
of a sampled table (the density of a sequence shows only on every row). Quantiles (the IQR fences,
the median of events per entity) equal numpy's and are found by counting values in narrowing ranges,
so no query holds a column in memory. In SQL, datetimes are ISO 8601 text or timestamp columns (read
as the raw layer reads them); NaN counts as missing.
"""

from __future__ import annotations

import math
import re
import warnings
from collections.abc import Sequence
import dataclasses
from dataclasses import dataclass
from datetime import datetime
from itertools import combinations
from pathlib import Path
from typing import TYPE_CHECKING, Literal, get_args

import numpy as np
import pandas as pd

from retention_assets.core.errors import DataValidationError
from retention_assets.engine.base import NUMERIC_KINDS, TIMESTAMP_KINDS

if TYPE_CHECKING:
    import pyarrow as pa

    from retention_assets.engine.base import Engine

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
REPEATING_NUMBER_ROWS = 2.0  # mean rows per value from which whole numbers repeat like a key
FAR_PAST_YEARS = 50
EPOCH_PLACEHOLDER_LIMIT = pd.Timestamp("1971-01-01", tz="UTC")
MAX_EXAMPLE_CHARS = 80
SAMPLE_OVERSHOOT = 2.0  # rows kept by hash before ordering, as a multiple of the sample: one pass almost always
SAMPLE_KEY = "__profile_row_hash"
QUANTILE_BUCKETS = 65_536  # ranges one pass of an exact quantile search counts (its result has as many rows)
QUANTILE_FETCH_ROWS = 100_000  # values in a range small enough to read
MAX_DOUBLE = "1.7976931348623157E308"  # finite doubles lie within +-MAX_DOUBLE
FRAME_RELATION = "__profiled_frame"
SOURCE_FORMATS: dict[str, Literal["csv", "parquet"]] = {
    ".csv": "csv", ".txt": "csv", ".parquet": "parquet", ".pq": "parquet",
}

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
    # whole-number columns that repeat in a file with a datetime (keys by repetition, whatever their type), each
    # with its evidence: {"distinct": n, "rows_per_value": mean}; ranked most distinct first
    repeating_numbers: dict[str, dict] = dataclasses.field(default_factory=dict)
    # why each key candidate is one and why the first was chosen (set by `retention explore`, which sees every file)
    key_reasons: dict[str, str] = dataclasses.field(default_factory=dict)
    notes: list[str] = dataclasses.field(default_factory=list)  # what explore concluded about the file as a whole


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


def source_format(path: Path, file_format: str | None = None) -> Literal["csv", "parquet"]:
    """The format of a user's file, from its suffix unless given; a missing file or another format is bad input."""
    path = Path(path)
    if not path.exists():
        raise DataValidationError(path, "the file does not exist")
    fmt = file_format or SOURCE_FORMATS.get(path.suffix.lower())
    if fmt == "csv":
        return "csv"
    if fmt == "parquet":
        return "parquet"
    raise DataValidationError(path, f"cannot profile format {fmt or path.suffix!r}: use csv or parquet")


def source_relation(engine: Engine, path: Path, file_format: str | None = None) -> str:
    """A relation over a user's file (every CSV column as text, empty cells missing), checked readable:
    a file the engine cannot parse is bad input naming the file, not an engine traceback."""
    fmt = source_format(path, file_format)
    relation = engine.file_relation(Path(path), fmt)
    try:
        engine.column_types(relation)
    except Exception as exc:  # each engine raises its own type; all of them mean "not this format"
        first_line = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise DataValidationError(path, f"cannot be read as {fmt.upper()}: {first_line}") from None
    return relation


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


@dataclass(frozen=True)
class IntegerEvidence:
    """What the integer-code rule needs to know of a column's numbers, from a sample (numpy) or every row (SQL)."""

    count: int  # numbers present
    distinct: int
    whole: bool  # every number is a finite, non-negative integer
    low: float | None
    high: float | None

    @classmethod
    def of(cls, numbers: np.ndarray) -> IntegerEvidence:
        if numbers.size == 0:
            return cls(0, 0, True, None, None)
        whole = bool(np.all(np.isfinite(numbers)) and np.all(numbers >= 0) and np.all(numbers == np.floor(numbers)))
        return cls(int(numbers.size), int(np.unique(numbers).size), whole, float(numbers.min()), float(numbers.max()))


def _digits(value: float) -> int:
    return int(np.floor(np.log10(max(value, 1.0)))) + 1


def _integer_code(evidence: IntegerEvidence) -> bool:
    """Distinct non-negative integers that look like a sequence or a fixed-width code, not a measurement."""
    n = evidence.count
    if n < MIN_INTEGER_KEYS or not evidence.whole or evidence.distinct != n:
        return False
    assert evidence.low is not None and evidence.high is not None  # there are numbers
    if evidence.high - evidence.low + 1 <= 2 * n:
        return True
    # the digit count grows with the value, so the smallest and largest numbers bound all the others
    return _digits(evidence.low) == _digits(evidence.high) >= 6


def _type_of_every_number(evidence: IntegerEvidence) -> ColumnType:
    """What `infer_column_type` says of a numeric column once it sees all of its numbers."""
    if evidence.count == 0:
        return "categorical"
    if evidence.distinct == 2:
        return "binary"
    return "identifier" if _integer_code(evidence) else "numeric"


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
        return "identifier" if _integer_code(IntegerEvidence.of(numbers)) else "numeric"
    if strings is None:  # anything else (one boolean, mixed objects) is judged by its text
        strings, weights = _distinct_strings(values)
        if strings.empty:
            return "categorical"
    numbers = pd.to_numeric(strings, errors="coerce")
    leading_zeros = _share(strings.str.contains(_LEADING_ZERO), weights) >= 0.1
    if _share(numbers.notna(), weights) >= NUMERIC_PARSE_SHARE and not leading_zeros:
        # distinct strings can repeat a number ("1" and "1.0"): judge every value, not the distinct ones
        every = np.repeat(numbers.to_numpy(dtype=float), weights)
        return "identifier" if _integer_code(IntegerEvidence.of(every[~np.isnan(every)])) else "numeric"
    return _string_type(strings, weights)


# --------------------------------------------------------------------------------------------------
# exact statistics, in SQL over the whole relation


@dataclass(frozen=True)
class _Column:
    """How SQL reads one column: its value (NaN as NULL), as a number, and as a UTC timestamp."""

    name: str
    value: str
    number: str
    stamp: str


def _sql_columns(engine: Engine, relation: str) -> list[_Column]:
    """Each column's SQL readings; which applies is decided later, from the values."""
    d = engine.dialect
    columns = []
    for name, kind in engine.column_kinds(relation).items():
        c = d.ident(name)
        value = d.nan_as_null(c) if kind == "float" else c
        text = f"trim({d.as_string(c)})"
        if kind in NUMERIC_KINDS:
            number = d.nan_as_null(d.as_double(c)) if kind == "float" else d.as_double(c)
        else:
            number = d.nan_as_null(d.try_double(text))  # "NaN" written as text is missing too
        if kind in TIMESTAMP_KINDS:
            # naive values are UTC, as pandas reads them here; sessions run in UTC, so the cast to the aware
            # type reads them so (and costs a tenth of an explicit time-zone conversion)
            stamp = d.aware_timestamp(c)
        else:
            stamp = d.text_timestamp(text, "UTC")
        columns.append(_Column(name, value, number, stamp))
    return columns


def _select(exprs: Sequence[str], relation: str, alias: str) -> str:
    """`relation` projected to `exprs` named c0, c1, ...: later aggregates refer to short names."""
    body = ", ".join(f"{e} AS c{i}" for i, e in enumerate(exprs))
    return f"(SELECT {body} FROM {relation}) AS {alias}"


def _int(value) -> int:
    return int(value) if value is not None else 0


@dataclass(frozen=True)
class _Counts:
    """Rows, and per column the values present and the distinct values among them."""

    rows: int
    present: dict[str, int]
    distinct: dict[str, int]


def _counts(engine: Engine, relation: str, columns: list[_Column]) -> _Counts:
    parts = ["count(*)"] + [f"count(c{i}), count(DISTINCT c{i})" for i in range(len(columns))]
    row = engine.rows(f"SELECT {', '.join(parts)} FROM {_select([c.value for c in columns], relation, 'v')}")[0]
    return _Counts(
        rows=_int(row[0]),
        present={c.name: _int(row[1 + 2 * i]) for i, c in enumerate(columns)},
        distinct={c.name: _int(row[2 + 2 * i]) for i, c in enumerate(columns)},
    )


def _fresh_name(taken: Sequence[str], wanted: str) -> str:
    name = wanted
    while name in taken:
        name = f"_{name}"
    return name


def sample_relation(engine: Engine, relation: str, *, sample_rows: int, seed: int = 0,
                    rows: int | None = None) -> pa.Table:
    """A bounded deterministic sample: a table of at most `sample_rows` rows whole and in its own order;
    a larger one's `sample_rows` rows with the smallest hash of (seed, row position), in hash order: the
    same rows on every run over the same stored data, each row drawn independently of its copies. Only
    rows whose hash falls in the lowest share of about twice the sample are ordered, so the engine never
    sorts the whole table. `rows` is the relation's row count, when known."""
    d = engine.dialect
    names = list(engine.column_types(relation))
    select = ", ".join(d.ident(c) for c in names)
    rows = int(engine.scalar(f"SELECT count(*) FROM {relation}")) if rows is None else rows
    if rows <= sample_rows:
        return engine.query(f"SELECT {select} FROM {relation}")
    key = d.ident(_fresh_name(names, SAMPLE_KEY))
    hashed = f"(SELECT {select}, {d.row_hash([str(int(seed)), d.row_position()])} AS {key} FROM {relation}) AS hashed"
    share = SAMPLE_OVERSHOOT * sample_rows / rows
    while True:
        keep = f"WHERE {d.hash_fraction(key)} < {_double(share)} " if share < 1 else ""
        sample = engine.query(f"SELECT {select} FROM {hashed} {keep}ORDER BY {key} LIMIT {int(sample_rows)}")
        if sample.num_rows >= sample_rows or share >= 1:
            return sample
        share = min(1.0, 4 * share)  # unluckily few hashes fell in the share: widen it (the same rows in the end)


def _pandas_dtypes(schema: pa.Schema, counts: _Counts) -> dict[str, str]:
    """The dtype each column gets when the whole relation is read into pandas (gaps make integers float64)."""
    import pyarrow as pa

    dtypes = {}
    for field in schema:
        values = [None] if counts.present[field.name] < counts.rows else []
        try:
            dtypes[field.name] = str(pa.array(values, type=field.type).to_pandas().dtype)
        except (pa.ArrowException, TypeError, ValueError):
            dtypes[field.name] = str(field.type)
    return dtypes


def _whole_number(x: str) -> str:
    return f"({x} >= 0 AND {x} <= {MAX_DOUBLE} AND {x} = floor({x}))"


def _integer_evidence(engine: Engine, relation: str, columns: list[_Column]) -> dict[str, IntegerEvidence]:
    """The integer-code evidence of each column's numbers, from every row."""
    if not columns:
        return {}
    parts = [f"count(c{i}), count(DISTINCT c{i}), "
             f"sum(CASE WHEN c{i} IS NOT NULL AND NOT {_whole_number(f'c{i}')} THEN 1 ELSE 0 END), "
             f"min(c{i}), max(c{i})" for i in range(len(columns))]
    row = engine.rows(f"SELECT {', '.join(parts)} FROM {_select([c.number for c in columns], relation, 'n')}")[0]
    evidence = {}
    for i, column in enumerate(columns):
        count, distinct, broken, low, high = row[5 * i: 5 * i + 5]
        evidence[column.name] = IntegerEvidence(
            _int(count), _int(distinct), _int(broken) == 0,
            None if low is None else float(low), None if high is None else float(high))
    return evidence


def _double(value: float) -> str:
    """A DOUBLE literal that round-trips exactly (and spells infinities the way both engines read them)."""
    return f"CAST('{float(value)!r}' AS DOUBLE)"


# exact quantiles in bounded memory: an engine's exact quantile aggregate holds every value of the column
# in memory (DuckDB's runs out of memory on 100M doubles with a 2 GB limit), so order statistics are
# found by counting values in ranges instead, narrowing to the range that holds the wanted rank.

@dataclass(frozen=True)
class _Span:
    """`rows` values in [low, high], of which `below` values of the column are smaller than low."""

    low: float
    high: float
    below: int
    rows: int


@dataclass(frozen=True)
class _Numbers:
    """A column's numbers as one SQL relation (column c0, NULLs included) and what one pass tells of them."""

    relation: str
    count: int
    low: float
    high: float
    negative_infinite: int
    positive_infinite: int
    finite: _Span | None


def _numbers(engine: Engine, relation: str) -> _Numbers:
    """Count, min, max and the finite range of `relation`'s c0, in one pass."""
    finite = f"c0 BETWEEN -{MAX_DOUBLE} AND {MAX_DOUBLE}"
    count, low, high, below, above, finite_low, finite_high, finite_rows = engine.rows(
        f"SELECT count(c0), min(c0), max(c0), sum(CASE WHEN c0 < -{MAX_DOUBLE} THEN 1 ELSE 0 END), "
        f"sum(CASE WHEN c0 > {MAX_DOUBLE} THEN 1 ELSE 0 END), min(CASE WHEN {finite} THEN c0 END), "
        f"max(CASE WHEN {finite} THEN c0 END), count(CASE WHEN {finite} THEN c0 END) FROM {relation}")[0]
    span = _Span(float(finite_low), float(finite_high), _int(below), _int(finite_rows)) if finite_rows else None
    return _Numbers(relation, _int(count), float("nan") if low is None else float(low),
                    float("nan") if high is None else float(high), _int(below), _int(above), span)


def _bucket_spans(engine: Engine, numbers: _Numbers, span: _Span) -> list[_Span]:
    """The non-empty ones of QUANTILE_BUCKETS equal ranges of `span`, each as the span of its own values.
    Bucket numbers never decrease as values grow, so each bucket holds one contiguous run of ranks."""
    scale = 1.0 if math.isfinite(span.high - span.low) else 0.5  # halving is exact and keeps the width finite
    width = (span.high * scale - span.low * scale) / QUANTILE_BUCKETS
    position = f"(c0 * {_double(scale)} - {_double(span.low * scale)}) / {_double(width)}"
    rows = engine.rows(
        f"SELECT b, count(*), min(c0), max(c0) FROM (SELECT "
        f"LEAST(CAST(floor({position}) AS BIGINT), {QUANTILE_BUCKETS - 1}) AS b, c0 FROM {numbers.relation} "
        f"WHERE c0 >= {_double(span.low)} AND c0 <= {_double(span.high)}) AS bucketed GROUP BY b ORDER BY b")
    spans, below = [], span.below
    for _, rows_in, low, high in rows:
        spans.append(_Span(float(low), float(high), below, int(rows_in)))
        below += int(rows_in)
    return spans


def _fetch_ranks(engine: Engine, numbers: _Numbers, span: _Span, ranks: set[int]) -> dict[int, float]:
    """The values at `ranks` inside a small span: its distinct values with their counts, walked in order."""
    if span.low == span.high:
        return dict.fromkeys(ranks, span.low)
    found, position = {}, span.below
    for value, rows_in in engine.rows(
            f"SELECT c0, count(*) FROM {numbers.relation} WHERE c0 >= {_double(span.low)} "
            f"AND c0 <= {_double(span.high)} GROUP BY c0 ORDER BY c0"):
        found.update({r: float(value) for r in ranks if position <= r < position + int(rows_in)})
        position += int(rows_in)
    return found


def _order_statistics(engine: Engine, numbers: _Numbers, ranks: set[int]) -> dict[int, float]:
    """The values at 0-based `ranks` of the sorted present numbers, exactly: ranges holding a wanted rank
    are split into buckets until they hold at most QUANTILE_FETCH_ROWS values, which are then read."""
    found = {r: float("-inf") for r in ranks if r < numbers.negative_infinite}
    found |= {r: float("inf") for r in ranks if r >= numbers.count - numbers.positive_infinite}
    pending: dict[_Span, set[int]] = {}
    if numbers.finite is not None and (finite_ranks := ranks - found.keys()):
        pending[numbers.finite] = finite_ranks
    while pending:
        span, wanted = pending.popitem()
        if span.rows <= QUANTILE_FETCH_ROWS or span.low == span.high \
                or (span.high - span.low) / QUANTILE_BUCKETS == 0:  # too narrow to split: few distinct values
            found |= _fetch_ranks(engine, numbers, span, wanted)
            continue
        for bucket in _bucket_spans(engine, numbers, span):
            inside = {r for r in wanted if bucket.below <= r < bucket.below + bucket.rows}
            if inside:
                pending.setdefault(bucket, set()).update(inside)
    return found


def _quantile_ranks(q: float, n: int) -> tuple[int, int, float]:
    """numpy's linear method (its default): the ranks either side of the virtual index, and the weight."""
    virtual = n * q + (1 + q * (1 - 1 - 1)) - 1  # numpy's virtual index with alpha = beta = 1, same rounding
    if virtual >= n - 1:
        return n - 1, n - 1, virtual + 1  # numpy's weight against its index -1 (the last value either side)
    previous = max(math.floor(virtual), 0)
    return previous, previous + 1, virtual - previous


def _lerp(a: float, b: float, t: float) -> float:
    """numpy's interpolation between two values, rounding as it does."""
    diff = b - a
    return b - diff * (1 - t) if t >= 0.5 else a + diff * t


def _quantiles(engine: Engine, numbers: _Numbers, qs: Sequence[float]) -> list[float]:
    """Quantiles of the present numbers, equal to `np.percentile(values, 100 * q)` (linear interpolation)."""
    ranks = {(q, *_quantile_ranks(q, numbers.count)) for q in qs}
    values = _order_statistics(engine, numbers, {r for _, a, b, _ in ranks for r in (a, b)})
    by_q = {q: _lerp(values[a], values[b], t) for q, a, b, t in ranks}
    return [by_q[q] for q in qs]


def _fences(engine: Engine, relation: str, column: _Column,
            multiplier: float) -> tuple[float, float, float, float] | None:
    """(min, max, lower fence, upper fence) of a column's numbers, or None when it has none."""
    numbers = _numbers(engine, _select([column.number], relation, "n"))
    if not numbers.count:
        return None
    q1, q3 = _quantiles(engine, numbers, (0.25, 0.75))
    iqr = q3 - q1  # Tukey's fences, as bronze_entity caps them
    return numbers.low, numbers.high, q1 - multiplier * iqr, q3 + multiplier * iqr


def _outside(x: str, lower: float, upper: float) -> str:
    """SQL for a value beyond the fences; a NaN fence keeps nothing out (as numpy compares)."""
    sides = [f"{x} < {_double(lower)}" if not math.isnan(lower) else "",
             f"{x} > {_double(upper)}" if not math.isnan(upper) else ""]
    return " OR ".join(s for s in sides if s) or "1 = 0"


def _add_numeric_stats(engine: Engine, relation: str, columns: list[_Column], profiles: dict[str, ColumnProfile],
                       multiplier: float) -> None:
    """min, max and the share of numbers beyond the IQR fences, for each numeric column."""
    fenced = {c.name: f for c in columns if (f := _fences(engine, relation, c, multiplier)) is not None}
    measured = [c for c in columns if c.name in fenced]
    if not measured:
        return
    parts = [f"count(c{i}), sum(CASE WHEN {_outside(f'c{i}', *fenced[c.name][2:])} THEN 1 ELSE 0 END)"
             for i, c in enumerate(measured)]
    row = engine.rows(f"SELECT {', '.join(parts)} FROM {_select([c.number for c in measured], relation, 'n')}")[0]
    for i, column in enumerate(measured):
        profile = profiles[column.name]
        profile.min, profile.max = fenced[column.name][:2]
        profile.outlier_rate = _int(row[2 * i + 1]) / _int(row[2 * i])


def _as_utc(moment: datetime | str) -> pd.Timestamp:
    """A moment in UTC; naive moments (and an engine's text of a timestamp without offset) are UTC."""
    stamp = pd.Timestamp(moment)
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


def _add_datetime_stats(engine: Engine, relation: str, columns: list[_Column], profiles: dict[str, ColumnProfile],
                        reference: pd.Timestamp | None) -> None:
    """min, max, and the shares in the future (after `reference`) and in the far past, per datetime column."""
    if not columns:
        return
    d = engine.dialect
    far_past = reference - pd.DateOffset(years=FAR_PAST_YEARS) if reference is not None else EPOCH_PLACEHOLDER_LIMIT
    parts = []
    for t in (f"c{i}" for i in range(len(columns))):
        past = f"sum(CASE WHEN {t} < {d.timestamp(far_past)} THEN 1 ELSE 0 END)"
        later = f"sum(CASE WHEN {t} > {d.timestamp(reference)} THEN 1 ELSE 0 END)" if reference is not None else "0"
        parts.append(f"{d.as_string(f'min({t})')}, {d.as_string(f'max({t})')}, count({t}), {past}, {later}")
    row = engine.rows(f"SELECT {', '.join(parts)} FROM {_select([c.stamp for c in columns], relation, 't')}")[0]
    for i, column in enumerate(columns):
        low, high, count, past, later = row[5 * i: 5 * i + 5]
        if not count:
            continue
        profile = profiles[column.name]
        # as text: every engine prints a UTC timestamp the same way, and text keeps the microseconds
        profile.min, profile.max = _as_utc(low).isoformat(), _as_utc(high).isoformat()
        profile.far_past_rate = _int(past) / count
        profile.future_rate = _int(later) / count if reference is not None else None


def _duplicate_rows(engine: Engine, relation: str, columns: list[_Column], rows: int) -> int:
    """Rows identical to an earlier row, exactly. Rows are hashed: when no two rows share a hash no two
    are identical (the usual case, one pass); otherwise only the rows sharing a hash are compared value
    by value, since a hash can collide."""
    if rows == 0:
        return 0
    d = engine.dialect
    names = [f"c{i}" for i in range(len(columns))]
    hashed = (f"(SELECT {', '.join(names)}, {d.row_hash(names)} AS h "
              f"FROM {_select([c.value for c in columns], relation, 'v')}) AS hashed")
    hashes = _int(engine.scalar(f"SELECT count(DISTINCT h) FROM {hashed}"))
    if hashes == rows:
        return 0
    repeated, repeated_rows = engine.rows(
        f"SELECT count(DISTINCT h), count(*) FROM (SELECT DISTINCT h, {', '.join(names)} FROM {hashed} "
        f"WHERE h IN (SELECT h FROM {hashed} GROUP BY h HAVING count(*) > 1)) AS repeated")[0]
    # each hash stands for one distinct row, except a repeated hash, which stands for its distinct rows
    return rows - (hashes - _int(repeated) + _int(repeated_rows))


def _rows_per_key(engine: Engine, relation: str, column: _Column) -> tuple[int, float, int] | None:
    """(min, median, max) of the number of rows per distinct value of `column`, or None without values."""
    per_key = (f"(SELECT CAST(count(*) AS DOUBLE) AS c0 FROM (SELECT {column.value} AS k FROM {relation}) AS keys "
               f"WHERE k IS NOT NULL GROUP BY k) AS per_key")
    numbers = _numbers(engine, per_key)
    if not numbers.count:
        return None
    middle = numbers.count // 2
    ranks = {middle} if numbers.count % 2 else {middle - 1, middle}
    values = _order_statistics(engine, numbers, ranks)
    median = sum(values[r] for r in sorted(ranks)) / len(ranks)  # np.median: the mean of the middle two
    return int(numbers.low), median, int(numbers.high)


# --------------------------------------------------------------------------------------------------
# one dataset


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


def _column_profile(name: str, column_type: ColumnType, sample: pd.Series, counts: _Counts,
                    dtype: str) -> ColumnProfile:
    """The profile of one column from its counts and its sample (statistics are added by kind)."""
    rows, present, distinct = counts.rows, counts.present[name], counts.distinct[name]
    profile = ColumnProfile(
        name=name,
        type=column_type,
        dtype=dtype,
        null_rate=1 - present / rows if rows else 0.0,
        cardinality=distinct,
        unique_ratio=distinct / present if present else 0.0,
        examples=[_plain(v) for v in pd.unique(_hashable(sample.dropna()))[:3]],
    )
    if column_type not in ("numeric", "datetime", "binary") and _is_text_like(sample):
        strings, weights = _distinct_strings(sample)
        if not strings.empty:
            profile.mean_words = _mean_words(strings, weights)
    return profile


def _best_first(names: list[str], columns: dict[str, ColumnProfile], order: list[str]) -> list[str]:
    return sorted(names, key=lambda c: (columns[c].null_rate, order.index(c)))


@dataclass(frozen=True)
class _Grain:
    granularity: Literal["entity", "event"]
    key_candidates: list[str]
    timestamp_column: str | None
    timestamp_candidates: list[str]


def _grain(columns: dict[str, ColumnProfile], rows: int, repeating_numbers: dict[str, dict] | None = None) -> _Grain:
    """Event-level with a repeating identifier (or, without a unique identifier, repeating whole numbers) and a
    datetime; else entity-level by the most unique identifier (or a unique column of whole numbers)."""
    order = list(columns)
    identifiers = [c for c in order if columns[c].type == "identifier"]
    repeating = [c for c in identifiers if columns[c].unique_ratio < NEARLY_UNIQUE]
    nearly_unique = [c for c in identifiers if c not in repeating]
    numbers = [c for c in (repeating_numbers or {}) if c in columns and columns[c].type != "identifier"]
    datetimes = sorted(
        (c for c in order if columns[c].type == "datetime"),
        key=lambda c: (-columns[c].cardinality, order.index(c)),
    )
    exact = [c for c in nearly_unique if columns[c].cardinality == rows]
    if datetimes and (repeating or (numbers and not exact)):
        return _Grain("event", _best_first(repeating, columns, order) + numbers, datetimes[0], datetimes)
    key_candidates = exact + _best_first([c for c in nearly_unique if c not in exact], columns, order)
    if not key_candidates:
        key_candidates = _best_first(repeating, columns, order)
    return _Grain("entity", key_candidates, None, datetimes)


def regrain(profile: DatasetProfile) -> DatasetProfile:
    """The profile's grain, key candidates and time column derived again from its (possibly reviewed) column
    types: a person who types a repeating integer `identifier` turns its table into an event log."""
    from dataclasses import replace

    grain = _grain(profile.columns, profile.rows, profile.repeating_numbers)
    return replace(profile, granularity=grain.granularity, key_candidates=grain.key_candidates,
                   entity_key=grain.key_candidates[0] if grain.key_candidates else None,
                   timestamp_column=grain.timestamp_column, timestamp_candidates=grain.timestamp_candidates,
                   time_span=_time_span(profile.columns[grain.timestamp_column]) if grain.timestamp_column else None,
                   target_candidates=([c for c in profile.columns if profile.columns[c].type == "binary"
                                       and c != (grain.key_candidates or [None])[0]]
                                      if grain.granularity == "entity" else []))


def _repeating_numbers(engine: Engine, relation: str, sql_columns: list[_Column], types: dict[str, ColumnType],
                       present: dict[str, int]) -> dict[str, dict]:
    """Whole-number columns repeating like a key, in a table with a datetime (see the module docstring)."""
    if "datetime" not in types.values():
        return {}
    numeric = [c for c in sql_columns if types[c.name] == "numeric"]
    found = {}
    for name, evidence in _integer_evidence(engine, relation, numeric).items():
        if not evidence.whole or evidence.distinct < MIN_INTEGER_KEYS:
            continue
        rows_per_value = present[name] / evidence.distinct
        if rows_per_value >= REPEATING_NUMBER_ROWS:
            found[name] = {"distinct": evidence.distinct, "rows_per_value": rows_per_value}
    order = [c.name for c in sql_columns]
    return dict(sorted(found.items(), key=lambda kv: (-kv[1]["distinct"], order.index(kv[0]))))


def _time_span(column: ColumnProfile) -> dict | None:
    if column.min is None:
        return None
    days = (pd.Timestamp(column.max) - pd.Timestamp(column.min)).total_seconds() / 86_400
    return {"start": column.min, "end": column.max, "days": days}


def profile_relation(
    engine: Engine,
    relation: str,
    name: str,
    path: str | Path,
    *,
    reference_time: datetime | None = None,
    outlier_iqr_multiplier: float = 3.0,
    sample_rows: int = 200_000,
    seed: int = 0,
) -> DatasetProfile:
    """Profile a relation on its engine: column types from a bounded deterministic sample, every count and
    statistic exactly from every row in SQL (see the module docstring). Python holds the sample only.

    `reference_time` (naive = UTC) is the moment after which dates count as "in the future"; without
    it no future share is computed (there is no wall clock) and "far past" means before 1971.
    """
    sql_columns = _sql_columns(engine, relation)
    counts = _counts(engine, relation, sql_columns)
    sample_table = sample_relation(engine, relation, sample_rows=sample_rows, seed=seed, rows=counts.rows)
    sample = sample_table.to_pandas()
    dtypes = _pandas_dtypes(sample_table.schema, counts)
    types: dict[str, ColumnType] = {c.name: infer_column_type(sample[c.name]) for c in sql_columns}
    if counts.rows > sample_rows:
        numeric = [c for c in sql_columns if types[c.name] == "numeric"]
        for column, evidence in _integer_evidence(engine, relation, numeric).items():
            types[column] = _type_of_every_number(evidence)
    columns = {c.name: _column_profile(c.name, types[c.name], sample[c.name], counts, dtypes[c.name])
               for c in sql_columns}
    _add_numeric_stats(engine, relation, [c for c in sql_columns if types[c.name] == "numeric"], columns,
                       outlier_iqr_multiplier)
    _add_datetime_stats(engine, relation, [c for c in sql_columns if types[c.name] == "datetime"], columns,
                        _as_utc(reference_time) if reference_time is not None else None)

    repeating_numbers = _repeating_numbers(engine, relation, sql_columns, types, counts.present)
    grain = _grain(columns, counts.rows, repeating_numbers)
    entity_key = grain.key_candidates[0] if grain.key_candidates else None
    duplicate_keys, events_per_entity = 0, None
    if entity_key is not None and grain.granularity == "entity":
        duplicate_keys = counts.present[entity_key] - counts.distinct[entity_key]
    elif entity_key is not None:
        per_key = _rows_per_key(engine, relation, next(c for c in sql_columns if c.name == entity_key))
        if per_key is not None:
            low, median, high = per_key
            mean = counts.present[entity_key] / counts.distinct[entity_key]  # exact: rows with a key per key
            events_per_entity = {"min": low, "median": median, "mean": mean, "max": high}

    return DatasetProfile(
        name=name,
        path=str(path),
        rows=counts.rows,
        granularity=grain.granularity,
        entity_key=entity_key,
        key_candidates=grain.key_candidates,
        timestamp_column=grain.timestamp_column,
        timestamp_candidates=grain.timestamp_candidates,
        target_candidates=(
            [c for c in columns if columns[c].type == "binary" and c != entity_key]
            if grain.granularity == "entity" else []
        ),
        duplicate_rows=_duplicate_rows(engine, relation, sql_columns, counts.rows),
        duplicate_keys=duplicate_keys,
        columns=columns,
        events_per_entity=events_per_entity,
        time_span=_time_span(columns[grain.timestamp_column]) if grain.timestamp_column else None,
        repeating_numbers=repeating_numbers,
    )


def profile_frame(
    engine: Engine,
    frame: pd.DataFrame,
    name: str,
    path: str | Path,
    *,
    reference_time: datetime | None = None,
    outlier_iqr_multiplier: float = 3.0,
    sample_rows: int = 200_000,
    seed: int = 0,
) -> DatasetProfile:
    """Profile an in-memory frame (tests, notebooks) with the same SQL as a stored table; each column's
    `dtype` is the frame's own."""
    with engine.registered(FRAME_RELATION, frame) as relation:
        profile = profile_relation(engine, relation, name, path, reference_time=reference_time,
                                   outlier_iqr_multiplier=outlier_iqr_multiplier, sample_rows=sample_rows, seed=seed)
    for column, series in frame.items():
        profile.columns[str(column)].dtype = str(series.dtype)
    return profile


# --------------------------------------------------------------------------------------------------
# across datasets


def _key_texts(engine: Engine, relation: str, columns: list[str]) -> dict[str, str]:
    """SQL for each column's keys as text, as raw compares them: 17, 17.0 and " 17 " are all "17".
    A float column is read as integers when every one of its numbers is whole (a gap made it float)."""
    d = engine.dialect
    kinds = engine.column_kinds(relation)
    floats = [c for c in columns if kinds[c] == "float"]
    whole: set[str] = set()
    if floats:
        x = [d.nan_as_null(d.ident(c)) for c in floats]
        parts = [f"sum(CASE WHEN c{i} IS NOT NULL AND NOT (c{i} = floor(c{i}) AND abs(c{i}) <= 9.2E18) "
                 f"THEN 1 ELSE 0 END)" for i in range(len(floats))]
        row = engine.rows(f"SELECT {', '.join(parts)} FROM {_select(x, relation, 'f')}")[0]
        whole = {c for c, broken in zip(floats, row) if not broken}
    texts = {}
    for column in columns:
        c = d.ident(column)
        if kinds[column] == "integer":
            texts[column] = d.as_string(c)
        elif column in whole:
            texts[column] = d.as_string(f"CAST({d.nan_as_null(c)} AS BIGINT)")
        elif kinds[column] == "float":
            texts[column] = d.as_string(d.nan_as_null(c))
        else:
            texts[column] = f"trim({d.as_string(c)})"
    return texts


@dataclass(frozen=True)
class _Overlap:
    """Distinct keys and rows with a key on each side, and what the other side shares of them."""

    left_keys: int
    left_rows: int
    right_keys: int
    right_rows: int
    shared_keys: int
    right_rows_shared: int


def _overlap(engine: Engine, left: tuple[str, str], right: tuple[str, str]) -> _Overlap:
    """Compare the distinct keys of two columns in one join of their (key, rows) groups."""
    (left_relation, left_key), (right_relation, right_key) = left, right

    def per_key(relation: str, key: str, alias: str) -> str:
        return (f"(SELECT c0 AS k, count(*) AS n FROM {_select([key], relation, alias)} "
                f"WHERE c0 IS NOT NULL GROUP BY c0)")

    row = engine.rows(
        f"SELECT count(l.k), sum(l.n), count(r.k), sum(r.n), "
        f"sum(CASE WHEN l.k IS NOT NULL AND r.k IS NOT NULL THEN 1 ELSE 0 END), "
        f"sum(CASE WHEN l.k IS NOT NULL THEN r.n ELSE 0 END) "
        f"FROM {per_key(left_relation, left_key, 'a')} AS l "
        f"FULL OUTER JOIN {per_key(right_relation, right_key, 'b')} AS r ON l.k = r.k")[0]
    return _Overlap(*(_int(v) for v in row))


Cardinality = Literal["one_to_one", "one_to_many", "many_to_one", "many_to_many"]
_CARDINALITY: dict[tuple[bool, bool], Cardinality] = {
    (True, True): "one_to_one", (True, False): "one_to_many",
    (False, True): "many_to_one", (False, False): "many_to_many",
}


def profile_relationships(
    engine: Engine, relations: dict[str, str], profiles: dict[str, DatasetProfile]
) -> list[Relationship]:
    """Which key of one dataset matches an identifier column of another, how well, and how many to how many.

    Each pair (key candidate of one dataset, identifier column of the other) whose values overlap is
    measured; `left_match_rate` is the share of the left column's distinct values found on the right,
    `right_match_rate` the share of the right column's rows whose value is found on the left. The
    entity-level dataset is put on the left when there is one, so entity -> events reads one_to_many.
    Pairs matching at most half on both sides are dropped. Computed in SQL on distinct keys;
    `relations` names each dataset's relation on `engine`.
    """
    names = [n for n in relations if n in profiles]
    # identifiers, and whole numbers repeating like a key: a key joins whatever its type
    identifiers = {n: [c for c, col in profiles[n].columns.items()
                       if col.type == "identifier" or c in profiles[n].repeating_numbers] for n in names}
    keyed = {n: sorted(set(identifiers[n]) | set(profiles[n].key_candidates)) for n in names}
    texts = {n: _key_texts(engine, relations[n], keyed[n]) for n in names if keyed[n]}
    found: dict[tuple[str, str, str, str], Relationship] = {}
    for a, b in combinations(names, 2):
        if profiles[b].granularity == "entity" and profiles[a].granularity == "event":
            a, b = b, a
        pairs = {(key, other) for key in profiles[a].key_candidates for other in identifiers[b]}
        pairs |= {(other, key) for key in profiles[b].key_candidates for other in identifiers[a]}
        for left_col, right_col in sorted(pairs):
            overlap = _overlap(engine, (relations[a], texts[a][left_col]), (relations[b], texts[b][right_col]))
            if not overlap.shared_keys:
                continue
            left_rate = overlap.shared_keys / overlap.left_keys
            right_rate = overlap.right_rows_shared / overlap.right_rows
            if max(left_rate, right_rate) <= 0.5:
                continue
            cardinality = _CARDINALITY[overlap.left_keys == overlap.left_rows, overlap.right_keys == overlap.right_rows]
            found[a, left_col, b, right_col] = Relationship(a, left_col, b, right_col, left_rate, right_rate,
                                                            cardinality)
    return [found[k] for k in sorted(found)]
