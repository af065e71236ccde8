"""The engine-specific pieces of generated SQL: one class per engine, nothing else knows the difference.

Feature, label and validation SQL is written once against `Dialect`; DuckDB runs it on the local
track and Spark SQL on the Databricks track. A function that generates SQL takes a dialect (or an
engine, which carries one) and never names an engine itself.

Both engines run their sessions in UTC, so timestamp literals and arithmetic mean the same instant.
"""

from __future__ import annotations

from datetime import datetime, timezone


class Dialect:
    """ANSI SQL as DuckDB and Spark both read it; subclasses override what differs."""

    name = "ansi"

    def ident(self, identifier: str) -> str:
        """A quoted identifier."""
        return '"' + identifier.replace('"', '""') + '"'

    def string(self, value: str) -> str:
        """A string literal."""
        return "'" + value.replace("'", "''") + "'"

    def timestamp(self, ts: datetime) -> str:
        """A UTC timestamp literal (sessions run in UTC on every engine)."""
        raise NotImplementedError

    def interval_hours(self, hours: int) -> str:
        raise NotImplementedError

    def minus_hours(self, ts_expr: str, hours: int) -> str:
        return f"({ts_expr} - {self.interval_hours(hours)})"

    def plus_hours(self, ts_expr: str, hours: int) -> str:
        return f"({ts_expr} + {self.interval_hours(hours)})"

    def epoch_seconds(self, ts_expr: str) -> str:
        raise NotImplementedError

    def days_between(self, later: str, earlier: str) -> str:
        """Fractional days from `earlier` to `later` (negative when `earlier` is later)."""
        return f"(({self.epoch_seconds(later)} - {self.epoch_seconds(earlier)}) / 86400.0)"

    @property
    def string_type(self) -> str:
        raise NotImplementedError

    @property
    def timestamp_type(self) -> str:
        """The type of a UTC instant."""
        raise NotImplementedError

    def file_row_number(self) -> str:
        """1-based record number of a row of a freshly read single source file, in file order."""
        raise NotImplementedError

    def as_string(self, expr: str) -> str:
        return f"CAST({expr} AS {self.string_type})"

    def as_double(self, expr: str) -> str:
        return f"CAST({expr} AS DOUBLE)"

    def try_double(self, expr: str) -> str:
        """The number written in a string, NULL when it is not one."""
        return f"TRY_CAST({expr} AS DOUBLE)"

    def matches(self, expr: str, pattern: str) -> str:
        """True where `expr` contains a match of the regular expression `pattern`."""
        raise NotImplementedError

    def quantile(self, expr: str, q: float) -> str:
        """The q-quantile with linear interpolation between order statistics (numpy's default)."""
        raise NotImplementedError

    def hash_bucket(self, expr: str, buckets: int) -> str:
        """A stable bucket 0..buckets-1 of a string: the first 32 bits of its MD5, the same on every
        engine, machine and run (`features.gold.hash_bucket_of` is the same function in Python)."""
        raise NotImplementedError

    def text_timestamp(self, expr: str, naive_timezone: str) -> str:
        """A string as a UTC timestamp: with an offset as written, without one read in `naive_timezone`;
        NULL when it does not parse."""
        raise NotImplementedError

    def naive_timestamp(self, expr: str, naive_timezone: str) -> str:
        """A timestamp without a time zone (or a date) read as wall time in `naive_timezone`."""
        raise NotImplementedError

    def aware_timestamp(self, expr: str) -> str:
        """A time-zone-aware timestamp, as the engine's UTC timestamp type."""
        raise NotImplementedError

    def snapshot_values(self, column: str, timestamps: list[datetime]) -> str:
        """A relation with one timestamp column holding the given values."""
        rows = ", ".join(f"({self.timestamp(ts)})" for ts in timestamps)
        return f"(SELECT * FROM (VALUES {rows}) AS s({self.ident(column)}))"

    def keyed_values(self, columns: tuple[str, str], rows: list[tuple[str, datetime]]) -> str:
        """A relation of (string, timestamp) rows, e.g. entity keys with a timestamp each."""
        body = ", ".join(f"({self.string(str(k))}, {self.timestamp(t)})" for k, t in rows)
        return f"(SELECT * FROM (VALUES {body}) AS s({self.ident(columns[0])}, {self.ident(columns[1])}))"

    def row_hash(self, exprs: list[str]) -> str:
        """A fast, deterministic hash of a row's values, for choosing seeded samples."""
        raise NotImplementedError

    def strip_whitespace(self, expr: str) -> str:
        """`expr` without the leading and trailing whitespace Python's `str.strip()` removes (tabs, line
        breaks, no-break and other Unicode spaces), not only the spaces a bare `trim` removes."""
        return f"trim(BOTH {self.string(WHITESPACE)} FROM {expr})"

    def nan_as_null(self, expr: str) -> str:
        """A DOUBLE with NaN read as missing, as pandas reads it (SQL engines treat NaN as a number)."""
        return f"(CASE WHEN isnan({expr}) THEN NULL ELSE {expr} END)"

    def hash_fraction(self, hash_expr: str) -> str:
        """Where a `row_hash` value falls in [0, 1], as a DOUBLE that never decreases as the hash grows,
        so `hash_fraction(h) < s` keeps a prefix of the rows ordered by `h` (about a share `s` of them).
        (2^64 is written 1.8446744073709552E19: an exponent makes it a DOUBLE literal on both engines.)"""
        raise NotImplementedError

    def row_position(self) -> str:
        """A number unique to each row of a relation's scan, the same on every scan of the same stored data:
        with `row_hash` it samples rows, so identical rows are drawn independently (hashing the values
        alone would keep or drop all copies of a row together). Only in a SELECT list."""
        raise NotImplementedError

WHITESPACE = ("\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007"
              "\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000")
"""Every character Python's `str.isspace()` accepts: what `str.strip()` removes."""


def _utc_text(ts: datetime) -> str:
    if ts.tzinfo is None:
        ts = ts.replace(tzinfo=timezone.utc)
    return ts.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f")


class DuckDBDialect(Dialect):
    name = "duckdb"
    string_type = "VARCHAR"
    timestamp_type = "TIMESTAMPTZ"

    def file_row_number(self) -> str:
        return "row_number() OVER ()"

    def timestamp(self, ts: datetime) -> str:
        return f"TIMESTAMPTZ '{_utc_text(ts)}+00'"

    def interval_hours(self, hours: int) -> str:
        return f"INTERVAL '{int(hours)} hours'"

    def epoch_seconds(self, ts_expr: str) -> str:
        return f"epoch({ts_expr})"

    def matches(self, expr: str, pattern: str) -> str:
        return f"regexp_matches({expr}, {self.string(pattern)})"

    def quantile(self, expr: str, q: float) -> str:
        return f"quantile_cont({expr}, {float(q)!r})"

    def hash_bucket(self, expr: str, buckets: int) -> str:
        return f"(CAST(('0x' || substr(md5({self.as_string(expr)}), 1, 8)) AS BIGINT) % {int(buckets)})"

    def text_timestamp(self, expr: str, naive_timezone: str) -> str:
        tz = self.string(naive_timezone)
        offset = self.matches(expr, r"(Z|z|[+-]\d\d(:?\d\d)?)$")
        return (f"CASE WHEN {offset} THEN TRY_CAST({expr} AS TIMESTAMPTZ) "
                f"ELSE timezone({tz}, TRY_CAST({expr} AS TIMESTAMP)) END")

    def naive_timestamp(self, expr: str, naive_timezone: str) -> str:
        return f"timezone({self.string(naive_timezone)}, CAST({expr} AS TIMESTAMP))"

    def aware_timestamp(self, expr: str) -> str:
        return f"CAST({expr} AS TIMESTAMPTZ)"

    def row_hash(self, exprs: list[str]) -> str:
        return f"hash({', '.join(exprs)})"

    def hash_fraction(self, hash_expr: str) -> str:  # hash() is a UBIGINT in [0, 2^64)
        return f"(CAST({hash_expr} AS DOUBLE) / 1.8446744073709552E19)"

    def row_position(self) -> str:  # a streaming window over the scan, in storage order
        return "row_number() OVER ()"


class SparkDialect(Dialect):
    """Spark SQL (Databricks, Spark Connect). Sessions must set spark.sql.session.timeZone=UTC."""

    name = "spark"
    string_type = "STRING"
    timestamp_type = "TIMESTAMP"

    def file_row_number(self) -> str:
        # One source file is read in partition order; ids increase within and across its partitions.
        return "row_number() OVER (ORDER BY monotonically_increasing_id())"

    def ident(self, identifier: str) -> str:
        return "`" + identifier.replace("`", "``") + "`"

    def string(self, value: str) -> str:
        return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"

    def timestamp(self, ts: datetime) -> str:
        return f"TIMESTAMP '{_utc_text(ts)}'"

    def interval_hours(self, hours: int) -> str:
        return f"INTERVAL {int(hours)} HOURS"

    def epoch_seconds(self, ts_expr: str) -> str:
        return f"(CAST({ts_expr} AS DOUBLE))"

    def try_double(self, expr: str) -> str:
        return f"try_cast({expr} AS DOUBLE)"

    def matches(self, expr: str, pattern: str) -> str:
        return f"({expr} RLIKE {self.string(pattern)})"

    def quantile(self, expr: str, q: float) -> str:
        return f"percentile({expr}, {float(q)!r})"

    def hash_bucket(self, expr: str, buckets: int) -> str:
        return f"(CAST(conv(substr(md5({self.as_string(expr)}), 1, 8), 16, 10) AS BIGINT) % {int(buckets)})"

    def text_timestamp(self, expr: str, naive_timezone: str) -> str:
        offset = self.matches(expr, r"(Z|z|[+-]\d\d(:?\d\d)?)$")
        return (f"CASE WHEN {offset} THEN try_to_timestamp({expr}) "
                f"ELSE to_utc_timestamp(try_to_timestamp({expr}), {self.string(naive_timezone)}) END")

    def naive_timestamp(self, expr: str, naive_timezone: str) -> str:
        return f"to_utc_timestamp(CAST({expr} AS TIMESTAMP), {self.string(naive_timezone)})"

    def aware_timestamp(self, expr: str) -> str:
        return f"CAST({expr} AS TIMESTAMP)"

    def row_hash(self, exprs: list[str]) -> str:
        return f"xxhash64({', '.join(exprs)})"

    def hash_fraction(self, hash_expr: str) -> str:  # xxhash64() is a signed BIGINT in [-2^63, 2^63)
        return f"(CAST({hash_expr} AS DOUBLE) / 1.8446744073709552E19 + 0.5)"

    def row_position(self) -> str:  # partition id and position within it: stable for the same files and splits
        return "monotonically_increasing_id()"


DUCKDB = DuckDBDialect()
SPARK = SparkDialect()
