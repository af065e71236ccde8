"""Reading, typing and validating a declared source file before anything downstream sees it.

Validation runs first, on the engine, over the file as written; only a file that passes is written as
a typed table (atomically), so a bad file never replaces a good table. Problems raise
`DataValidationError` naming the file, the column and the offending rows (1-based record numbers).

Repairs that are applied, documented and counted (never silent):
- entity keys are compared as strings (an integer key 17 and the text "17" are the same customer);
- timestamps are normalised to UTC; values without an offset are read in the source's
  `naive_timestamps_timezone`;
- numbers written as text ("12.50") become floats.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from retention_assets.core.columns import FIRST_SEEN, LAST_SEEN, SOURCE_ROW
from retention_assets.core.errors import DataValidationError
from retention_assets.engine.base import NUMERIC_KINDS, Engine
from retention_assets.features.coverage import (
    KEY_NORMALIZATION_SETTING,
    KeyCoverage,
    KeyRule,
    check_key_coverage,
    normalize_key,
)


@dataclass(frozen=True)
class SourceSpec:
    """What a source must contain and how each column is typed."""

    name: str
    path: Path
    file_format: str
    entity_key: str
    timestamp_columns: tuple[str, ...] = ()  # required, every value must parse
    date_columns: tuple[str, ...] = ()  # optional values, those present must parse
    numeric_columns: tuple[str, ...] = ()  # undeclared columns kept by entity tables are typed by their values
    string_columns: tuple[str, ...] = ()
    unique_key: bool = False
    naive_timezone: str = "UTC"
    keep_other_columns: bool = False  # entity tables keep undeclared columns (typed by inference)
    exclude_columns: tuple[str, ...] = ()
    row_numbers: bool = False  # entity tables: keep each record's file position as SOURCE_ROW
    negative_values: dict[str, str] = field(default_factory=dict)  # numeric column -> "allow" | "reject"
    latest_allowed: datetime | None = None  # an explicit as-of: later events are quarantined
    future_gap_days: int | None = None  # else: events this long after the 99.9th percentile are quarantined
    reject_negative_by_default: bool = False  # event sources: negative numbers need an explicit "allow"
    settings_prefix: str = ""  # where the source is in the settings, e.g. "events.transactions"
    max_other_columns: int | None = None  # beyond this many undeclared columns, only declared ones are read
    key_normalization: str = "none"  # entity.key_normalization, the same for every source
    valid_from_column: str | None = None  # a time-versioned entity table: (key, valid_from) must be unique


@dataclass
class RawTableReport:
    """What reading produced, for the asset's metadata."""

    rows: int
    columns: dict[str, str]
    repairs: list[str] = field(default_factory=list)
    duplicate_key_rows: int = 0
    time_span: tuple[str, str] | None = None
    key_coverage: KeyCoverage | None = None  # event sources: their keys against the entity table
    negative_values: dict[str, int] = field(default_factory=dict)  # allowed negative numbers per column
    quarantine: Quarantine | None = None  # events set aside for implausible timestamps


@dataclass(frozen=True)
class Quarantine:
    """Event rows kept out of the raw table because their time lies after what the run may see."""

    rows: int
    after: str  # the bound (ISO timestamp)
    reason: str
    table: str  # where they are kept, with their file row numbers, for inspection
    examples: list[str]  # a few of the timestamps


_MAGIC = {b"PAR1": "a Parquet file", b"PK\x03\x04": "a ZIP archive (an Excel .xlsx workbook?)",
          b"\xd0\xcf\x11\xe0": "an old Excel (.xls) workbook", b"\x1f\x8b": "a gzip archive"}


def _sniff(spec: SourceSpec) -> None:
    """Name an empty file, or a file whose content is not its declared format, before reading it."""
    if not spec.path.exists():
        raise DataValidationError(spec.path, "the file does not exist")
    with spec.path.open("rb") as handle:
        head = handle.read(4)
    if not head:
        raise DataValidationError(spec.path, "the file is empty (0 bytes)")
    found = next((what for magic, what in _MAGIC.items() if head.startswith(magic)), None)
    if spec.file_format == "csv" and found:
        hint = "set file_format: parquet (or name it .parquet)" if found == "a Parquet file" else \
            "export it as CSV or Parquet"
        raise DataValidationError(spec.path, f"is declared as CSV but is {found}: {hint}")
    if spec.file_format == "parquet" and found != "a Parquet file":
        raise DataValidationError(spec.path, f"is declared as Parquet but is {found or 'not a Parquet file'} "
                                             f"(it starts with {head!r}): set file_format: csv if it is text")


def first_invalid_utf8(path: Path, chunk: int = 1 << 20) -> tuple[int, int, bytes] | None:
    """(line, byte offset, the bad bytes) of the first byte sequence that is not UTF-8, read in chunks."""
    import codecs

    decoder = codecs.getincrementaldecoder("utf-8")()
    offset, line = 0, 1
    with path.open("rb") as handle:
        while block := handle.read(chunk):
            try:
                decoder.decode(block)
            except UnicodeDecodeError as exc:
                position = exc.start
                return line + block[:position].count(b"\n"), offset + position, block[position:exc.end]
            line += block.count(b"\n")
            offset += len(block)
    pending = decoder.getstate()[0]
    if pending:  # the file ends inside a multi-byte sequence
        return line, offset - len(pending), pending
    return None


def read_error(spec: SourceSpec, exc: BaseException) -> DataValidationError:
    """What a reader error means for the user: a file that is not UTF-8 (with the line and byte of the
    first bad bytes), or the reader's first line."""
    if spec.file_format == "csv" and (bad := first_invalid_utf8(spec.path)):
        line, offset, raw = bad
        return DataValidationError(spec.path, f"is not UTF-8: line {line} (byte {offset:,}) holds {raw!r}; save "
                                              "the file as UTF-8 (it may be Latin-1 or Windows-1252)")
    first_line = str(exc).strip().splitlines()[0]
    return DataValidationError(spec.path, f"cannot be read as {spec.file_format.upper()}: {first_line}")


def _timestamp_expr(engine: Engine, column: str, kind: str, naive_tz: str) -> str:
    d = engine.dialect
    c = d.ident(column)
    if kind == "timestamp_tz":
        return d.aware_timestamp(c)
    if kind in ("timestamp", "date"):
        return d.naive_timestamp(c, naive_tz)
    if kind == "string":
        return d.text_timestamp(f"trim({c})", naive_tz)
    return f"CAST(NULL AS {d.timestamp_type})"  # unsupported physical type: every value is reported as unparseable


def _numeric_expr(engine: Engine, column: str, kind: str) -> str:
    d = engine.dialect
    c = d.ident(column)
    if kind in NUMERIC_KINDS:
        return d.as_double(c)
    if kind == "boolean":
        return d.as_double(f"CAST({c} AS INTEGER)")
    return d.try_double(f"trim({d.as_string(c)})")


def _offending_rows(engine: Engine, relation: str, condition: str, column: str, limit: int = 5) -> tuple[list[int], list]:
    d = engine.dialect
    rows = engine.rows(
        f"SELECT __row, {d.ident(column)} FROM (SELECT {d.file_row_number()} AS __row, * FROM {relation}) "
        f"WHERE {condition} ORDER BY __row LIMIT {limit}"
    )
    return [r[0] for r in rows], [r[1] for r in rows]


def _infer_numeric(engine: Engine, relation: str, kinds: dict[str, str], candidates: list[str]) -> list[str]:
    """Columns whose every present value is a number (no name-based guessing)."""
    d = engine.dialect
    numeric = [c for c in candidates if kinds[c] in NUMERIC_KINDS]
    text = [c for c in candidates if kinds[c] == "string"]
    if text:
        probes = ", ".join(
            f"count({d.ident(c)}) = count({d.try_double(f'trim({d.ident(c)})')}) AND count({d.ident(c)}) > 0"
            for c in text
        )
        flags = engine.rows(f"SELECT {probes} FROM {relation}")[0]
        numeric += [c for c, is_num in zip(text, flags) if is_num]
    return [c for c in candidates if c in numeric]


def _present(engine: Engine, column: str) -> str:
    """The value is there: not null and not blank."""
    d = engine.dialect
    c = d.ident(column)
    return f"{c} IS NOT NULL AND trim({d.as_string(c)}) <> ''"


def validate_and_write(engine: Engine, spec: SourceSpec, target: str, key_rule: KeyRule | None = None
                       ) -> RawTableReport:
    """Validate `spec.path` and, only if it passes, write it typed to the table `target` (atomically).

    With `key_rule` (event sources), the file's keys must also cover the entity table as the rule
    says (`features.coverage`), checked before anything is written. Every problem of the file's
    values is reported in one error; a file the engine cannot read raises one too."""
    import tempfile

    _sniff(spec)
    with tempfile.TemporaryDirectory(prefix="retention_narrow_") as scratch:
        try:
            read_path, narrowed = _narrowed_csv(spec, Path(scratch))
            return _validate_and_write(engine, spec, target, key_rule, read_path, narrowed)
        except (*engine.read_errors, UnicodeDecodeError) as exc:  # a file the reader cannot read as declared
            raise read_error(spec, exc) from None


def _declared(spec: SourceSpec) -> list[str]:
    return list(dict.fromkeys([spec.entity_key, *spec.timestamp_columns, *spec.date_columns,
                               *(spec.numeric_columns or ()), *spec.string_columns]))


def _narrowed_csv(spec: SourceSpec, scratch: Path) -> tuple[Path | None, int]:
    """A very wide CSV (more undeclared columns than `max_other_columns`) copied with its declared columns
    only, streamed in Python (bounded memory; an SQL engine's CSV reader parses every column of every
    row on each scan: 17 s a scan, and out of memory, for 20,004 columns x 1,000 rows). Returns the copy
    and how many columns were left out, or (None, 0) for a file read as it is. Records keep their order,
    so file row numbers stay the file's."""
    import csv

    if spec.file_format != "csv" or not spec.keep_other_columns or spec.max_other_columns is None:
        return None, 0
    with spec.path.open(newline="", encoding="utf-8-sig") as handle:
        sample = handle.read(1 << 16)
        try:
            dialect = csv.Sniffer().sniff(sample.splitlines()[0] if sample else "", delimiters=",;\t|")
        except csv.Error:
            dialect = csv.excel
        handle.seek(0)
        reader = csv.reader(handle, dialect)
        header = next(reader, [])
        declared = set(_declared(spec))
        others = [c for c in header if c not in declared and c not in spec.exclude_columns]
        if len(others) <= spec.max_other_columns:
            return None, 0
        missing = next((c for c in _declared(spec) if c not in header), None)
        if missing is not None:  # named here: the narrow copy would not show what the file does have
            raise DataValidationError(spec.path, f"the column is missing (the file has {len(header):,} columns: "
                                                 f"{', '.join(header[:10])}, ...)", column=missing)
        keep = [i for i, c in enumerate(header) if c in declared]
        target = scratch / spec.path.name
        ragged, n_ragged = [], 0
        with target.open("w", newline="", encoding="utf-8") as out:
            writer = csv.writer(out)
            writer.writerow([header[i] for i in keep])
            for number, row in enumerate(reader, start=1):
                if len(row) != len(header):
                    n_ragged += 1
                    ragged += [number] if len(ragged) < 5 else []
                    continue
                writer.writerow([row[i] for i in keep])
    if n_ragged:
        raise DataValidationError(spec.path, f"{n_ragged} row(s) do not have the header's {len(header):,} fields",
                                  rows=ragged)
    return target, len(others)


def _validate_and_write(engine: Engine, spec: SourceSpec, target: str, key_rule: KeyRule | None,
                        read_path: Path | None = None, narrowed: int = 0) -> RawTableReport:
    d = engine.dialect
    q = d.ident
    relation = engine.file_relation(read_path or spec.path, spec.file_format)
    kinds = engine.column_kinds(relation)
    declared = _declared(spec)
    for column in declared:
        if column not in kinds:
            raise DataValidationError(
                spec.path, f"the column is missing (the file has {', '.join(kinds)})", column=column
            )
    n_rows = engine.scalar(f"SELECT count(*) FROM {relation}")
    if n_rows == 0:
        only_header = " (only a header)" if spec.file_format == "csv" else ""
        raise DataValidationError(spec.path, f"the file has no data rows{only_header}")

    known = set(declared)
    others = [c for c in kinds if c not in known and c not in spec.exclude_columns] if spec.keep_other_columns else []
    skipped = narrowed
    if spec.max_other_columns is not None and len(others) > spec.max_other_columns:
        skipped, others = len(others), []  # a wide Parquet file: its declared columns only (read column by column)
    inferred = _infer_numeric(engine, relation, kinds, others)
    numeric = [*(spec.numeric_columns or ()), *inferred]
    strings = [*spec.string_columns, *(c for c in others if c not in inferred)]

    key = q(spec.entity_key)
    canonical = normalize_key(d, spec.key_normalization, d.as_string(key))  # the key as every layer compares it
    checks: list[tuple[str, str, str]] = [(f"{key} IS NULL", spec.entity_key, "the entity key is empty")]
    typed = [f"{canonical} AS {key}"]
    event_time = None
    for column in spec.timestamp_columns:
        expr = _timestamp_expr(engine, column, kinds[column], spec.naive_timezone)
        event_time = event_time or expr
        checks.append((f"{q(column)} IS NULL", column, "the timestamp is empty"))
        checks.append((f"{q(column)} IS NOT NULL AND ({expr}) IS NULL", column, "the timestamp cannot be parsed"))
        typed.append(f"{expr} AS {q(column)}")
    valid_from = None
    for column in spec.date_columns:
        expr = _timestamp_expr(engine, column, kinds[column], spec.naive_timezone)
        checks.append((f"{_present(engine, column)} AND ({expr}) IS NULL", column, "the date cannot be parsed"))
        if column == spec.valid_from_column:
            valid_from = expr
            checks.append((f"NOT ({_present(engine, column)})", column,
                           "the valid-from time is empty (entity.valid_from_column: every version needs one)"))
        typed.append(f"CASE WHEN trim({d.as_string(q(column))}) = '' THEN NULL ELSE {expr} END AS {q(column)}")
    allowed_negative = {}
    for column in numeric:
        expr = _numeric_expr(engine, column, kinds[column])
        checks.append((f"{_present(engine, column)} AND ({expr}) IS NULL", column, "the value is not a number"))
        policy = spec.negative_values.get(column, "reject" if spec.reject_negative_by_default else "allow")
        if policy == "reject":
            allow_it = f"{spec.settings_prefix}.negative_values.{column}: allow"
            problem = f"the value is negative (allowed only with {allow_it}, e.g. for refunds)"
            checks.append((f"({expr}) < 0", column, problem))
        elif column in spec.negative_values or spec.reject_negative_by_default:
            allowed_negative[column] = f"count(*) FILTER (WHERE ({expr}) < 0)"
        typed.append(f"{expr} AS {q(column)}")
    for column in strings:
        if column != spec.entity_key:
            typed.append(f"NULLIF({d.as_string(q(column))}, '') AS {q(column)}")

    counts = engine.rows(f"SELECT {', '.join(f'count(*) FILTER (WHERE {c})' for c, _, _ in checks)} FROM {relation}")[0]
    errors = []
    for (condition, column, problem), n_bad in zip(checks, counts):
        if n_bad:
            rows, values = _offending_rows(engine, relation, condition, column)
            errors.append(DataValidationError(spec.path, f"{problem} in {n_bad} row(s)", column=column, rows=rows,
                                              examples=values))
    if errors:
        raise DataValidationError.combined(errors)

    if valid_from is not None:  # a versioned entity table: each (key, valid_from) once
        pair = f"concat({canonical}, '|', {d.as_string(valid_from)})"
        repeated = engine.scalar(f"SELECT count(*) - count(DISTINCT {pair}) FROM {relation}")
        if repeated:
            rows, values = _offending_rows(
                engine, relation, f"{pair} IN (SELECT {pair} FROM {relation} GROUP BY 1 HAVING count(*) > 1)",
                spec.entity_key, limit=10)
            raise DataValidationError(
                spec.path, f"{repeated} row(s) repeat a (key, {spec.valid_from_column}) pair: a customer can have "
                "only one version valid from a given time (entity.valid_from_column); remove or merge the repeated "
                "versions", column=spec.entity_key,
                rows=rows, examples=values)
    duplicate_rows = engine.scalar(
        f"SELECT count(*) - count(DISTINCT {canonical}) FROM {relation}"
    ) if (spec.unique_key or not spec.timestamp_columns) and valid_from is None else 0  # entity tables only
    if spec.unique_key and duplicate_rows:
        rows, values = _offending_rows(
            engine, relation, f"{canonical} IN (SELECT {canonical} FROM {relation} "
            f"GROUP BY 1 HAVING count(*) > 1)", spec.entity_key, limit=10,
        )
        raise DataValidationError(
            spec.path, f"{duplicate_rows} duplicate entity key row(s) (set entity.duplicate_keys to keep_first or "
            "keep_last to de-duplicate in bronze)", column=spec.entity_key, rows=rows, examples=values,
        )

    coverage = check_key_coverage(engine, relation, spec.entity_key, spec.path, key_rule) if key_rule else None
    negatives = {}
    if allowed_negative:
        found = engine.rows(f"SELECT {', '.join(allowed_negative.values())} FROM {relation}")[0]
        negatives = {column: int(n) for column, n in zip(allowed_negative, found) if n}
    quarantine, kept = None, ""
    if event_time is not None and (spec.latest_allowed or spec.future_gap_days is not None):
        quarantine, late = _quarantine(engine, spec, relation, typed, event_time, target)
        kept = f" WHERE NOT ({late})" if quarantine else ""
    if spec.row_numbers:
        typed.append(f"{d.file_row_number()} AS {q(SOURCE_ROW)}")
    info = engine.write_table(target, f"SELECT {', '.join(typed)} FROM {relation}{kept}")
    repairs = []
    if skipped:
        repairs.append(f"{skipped:,} undeclared columns not read: more than {spec.settings_prefix}."
                       f"max_undeclared_columns ({spec.max_other_columns:,}); name the ones the model should use "
                       f"in {spec.settings_prefix}.numeric_columns or categorical_columns")
    for column in numeric:
        if kinds[column] == "string":
            repairs.append(f"{column}: numbers written as text read as DOUBLE")
    for column in (*spec.timestamp_columns, *spec.date_columns):
        if kinds[column] != "timestamp_tz":
            repairs.append(f"{column}: {kinds[column]} values normalised to UTC "
                           f"(values without an offset read as {spec.naive_timezone})")
    if kinds[spec.entity_key] != "string":
        repairs.append(f"{spec.entity_key}: {kinds[spec.entity_key]} keys compared as text")
    if spec.key_normalization != "none":
        changed = engine.scalar(f"SELECT count(*) FROM {relation} WHERE {canonical} <> {d.as_string(key)}")
        repairs.append(f"{spec.entity_key}: {changed:,} key(s) rewritten by {KEY_NORMALIZATION_SETTING}: "
                       f"{spec.key_normalization}")
    span = None
    if spec.timestamp_columns:
        ts = q(spec.timestamp_columns[0])
        lo, hi = engine.rows(f"SELECT min({ts}), max({ts}) FROM {engine.relation(target)}")[0]
        span = (lo.isoformat(), hi.isoformat())
    return RawTableReport(rows=n_rows, columns=info.columns, repairs=repairs, duplicate_key_rows=duplicate_rows,
                          time_span=span, key_coverage=coverage, negative_values=negatives, quarantine=quarantine)


def _quarantine(engine: Engine, spec: SourceSpec, relation: str, typed: list[str], event_time: str, target: str
                ) -> tuple[Quarantine | None, str]:
    """Set aside events after the run's horizon: after an explicit as-of, or (as-of 'auto') more than
    `future_gap_days` after the 99.9th percentile of the source's times (typos such as 2099 or 3000,
    which would otherwise become the as-of time). They go to `<target>__quarantine` with their file
    rows; returns what was set aside and the SQL condition selecting them."""
    d = engine.dialect
    seconds = d.epoch_seconds(event_time)
    if spec.latest_allowed is not None:
        bound = spec.latest_allowed.timestamp()
        reason = "after the explicit as-of time (timeline.as_of)"
    else:
        p999 = engine.scalar(f"SELECT {d.quantile(seconds, 0.999)} FROM {relation}")
        bound = float(p999) + spec.future_gap_days * 86400
        reason = (f"more than {spec.future_gap_days} days after 99.9% of the source's events "
                  "(timeline.future_gap_days)")
    late = f"{seconds} > {bound!r}"
    table = f"{target}__quarantine"
    rows = int(engine.scalar(f"SELECT count(*) FROM {relation} WHERE {late}"))
    if not rows:
        engine.drop(table)
        return None, late
    row = d.ident(SOURCE_ROW)  # numbered before filtering: the record's position in the file
    engine.write_table(table, f"SELECT {row}, {', '.join(typed)} FROM (SELECT {d.file_row_number()} AS {row}, * "
                              f"FROM {relation}) WHERE {late} ORDER BY {row}")
    examples = [str(v) for (v,) in engine.rows(f"SELECT DISTINCT {event_time} AS t FROM {relation} WHERE {late} "
                                                 "ORDER BY t DESC LIMIT 3")]
    after = datetime.fromtimestamp(bound, tz=timezone.utc).isoformat()
    return Quarantine(rows, after, reason, table, examples), late


def source_specs(settings) -> dict[str, SourceSpec]:
    """The validation spec of every declared source (`retention_assets.settings.Settings`), entity first."""
    entity = settings.entity
    label = settings.label
    target_cols = [label.target_column] if label.kind == "target_column" and label.target_column else []
    label_ts_cols = [label.label_timestamp_column] if label.kind == "target_column" and label.label_timestamp_column else []
    specs = {} if entity.derived_from else {
        entity.name: SourceSpec(
            name=entity.name,
            path=settings.resolve(entity.path),
            file_format=entity.file_format,
            entity_key=entity.entity_key,
            date_columns=tuple(dict.fromkeys([*entity.date_columns, *label_ts_cols,
                                              *([entity.signup_column] if entity.signup_column else []),
                                              *([entity.valid_from_column] if entity.valid_from_column else [])])),
            numeric_columns=tuple(entity.numeric_columns or ()),
            string_columns=tuple(dict.fromkeys([*(entity.categorical_columns or ()), *target_cols])),
            unique_key=entity.duplicate_keys == "error" and not entity.valid_from_column,
            valid_from_column=entity.valid_from_column,
            keep_other_columns=True,
            exclude_columns=tuple(entity.exclude_columns),
            row_numbers=True,
            settings_prefix="entity",
            max_other_columns=entity.max_undeclared_columns,
            key_normalization=entity.key_normalization,
        )
    }
    for name, event in settings.events.items():
        specs[name] = SourceSpec(
            name=name,
            path=settings.resolve(event.path),
            file_format=event.file_format,
            entity_key=event.entity_key,
            timestamp_columns=(event.timestamp_column,),
            numeric_columns=tuple(event.value_columns or ()),
            string_columns=tuple(dict.fromkeys([*(event.categorical_columns or ()), *(event.text_columns or ())])),
            naive_timezone=event.naive_timestamps_timezone,
            keep_other_columns=True,
            negative_values=dict(event.negative_values),
            reject_negative_by_default=True,
            latest_allowed=settings.timeline.as_of if settings.timeline.as_of != "auto" else None,
            future_gap_days=settings.timeline.future_gap_days,
            settings_prefix=f"events.{name}",
            key_normalization=entity.key_normalization,
        )
    return specs


def key_rules(settings, entity_table: str, engine: Engine) -> dict[str, KeyRule]:
    """Per event source, what its keys must reach against the stored entity table `entity_table`.

    The source a derived entity comes from (`entity.derived_from`) has no rule: its keys are the entity
    table by construction, so it cannot be checked against it (and is read before it)."""
    entity = settings.entity
    entity_path = (f"{entity_table} (derived from events.{entity.derived_from})" if entity.derived_from
                   else str(settings.resolve(entity.path)))
    return {
        name: KeyRule(entity=engine.relation(entity_table), entity_key=entity.entity_key,
                      entity_path=entity_path, min_matched_events=event.min_matched_events,
                      min_entities_with_events=event.min_entities_with_events, settings_prefix=f"events.{name}",
                      normalization=entity.key_normalization)
        for name, event in settings.events.items() if name != entity.derived_from
    }


def derived_entity_sql(engine: Engine, events: str, event_key: str, timestamp_column: str, key: str) -> str:
    """The customer table of an events-only source: one row per key with its first and last event time.

    `first_seen` is the key's signup (a "days since" feature as of each row, and customers first seen
    after a cutoff are not in its training rows); `last_seen` is over the whole history, i.e. future
    information to every earlier cutoff, kept for people reading the table and never a feature.
    `SOURCE_ROW` numbers the rows by (first_seen, key), which the entity layers expect of a file."""
    d = engine.dialect
    q = d.ident
    ts = q(timestamp_column)
    grouped = (f"SELECT {q(event_key)} AS {q(key)}, min({ts}) AS {q(FIRST_SEEN)}, max({ts}) AS {q(LAST_SEEN)} "
               f"FROM {events} WHERE {q(event_key)} IS NOT NULL GROUP BY {q(event_key)}")
    return (f"SELECT {q(key)}, {q(FIRST_SEEN)}, {q(LAST_SEEN)}, row_number() OVER (ORDER BY {q(FIRST_SEEN)}, "
            f"{q(key)}) AS {q(SOURCE_ROW)} FROM ({grouped}) g ORDER BY {q(SOURCE_ROW)}")


def write_derived_entity(engine: Engine, settings, target: str, events_table: str) -> RawTableReport:
    """Write the derived customer table (`derived_entity_sql`) from the validated raw event table."""
    source = settings.events[settings.entity.derived_from]
    info = engine.write_table(target, derived_entity_sql(engine, engine.relation(events_table), source.entity_key,
                                                         source.timestamp_column, settings.entity.entity_key))
    q = engine.dialect.ident
    rows, lo, hi = engine.rows(f"SELECT count(*), min({q(FIRST_SEEN)}), max({q(LAST_SEEN)}) "
                               f"FROM {engine.relation(target)}")[0]
    derivation = (f"derived from events.{settings.entity.derived_from}: one row per {source.entity_key} with "
                  f"{FIRST_SEEN} and {LAST_SEEN} (min and max {source.timestamp_column}); {LAST_SEEN} is never a "
                  "feature (it is over the whole history)")
    repairs = [derivation]
    span = (lo.isoformat(), hi.isoformat()) if lo is not None else None
    return RawTableReport(rows=int(rows), columns=info.columns, repairs=repairs, time_span=span)


def latest_timestamp(engine: Engine, table: str, column: str):
    """The latest value of a timestamp column of a stored table (None when it has no rows)."""
    return engine.scalar(f"SELECT max({engine.dialect.ident(column)}) FROM {engine.relation(table)}")


def user_columns_relation(engine: Engine, table: str) -> str:
    """A raw table as the user wrote it: without the columns the raw layer adds for itself (SOURCE_ROW)."""
    relation = engine.relation(table)
    columns = [c for c in engine.column_types(relation) if c != SOURCE_ROW]
    return f"(SELECT {', '.join(engine.dialect.ident(c) for c in columns)} FROM {relation})"


def earliest_timestamp(engine: Engine, table: str, column: str):
    """The earliest value of a timestamp column of a stored table (None when it has no rows)."""
    return engine.scalar(f"SELECT min({engine.dialect.ident(column)}) FROM {engine.relation(table)}")


def stamps_at(engine: Engine, table: str, column: str, instants: list[datetime]) -> tuple[dict[datetime, int], bool]:
    """How many rows of a stored table are stamped exactly at each of `instants`, and whether every stamp
    is a date only (midnight UTC): what the day boundary of a snapshot means for this source. One scan."""
    d = engine.dialect
    c = d.ident(column)
    seconds = d.epoch_seconds(c)
    items = [f"count(*) FILTER (WHERE {c} = {d.timestamp(t)})" for t in instants]
    items.append(f"count(*) FILTER (WHERE floor({seconds} / 86400.0) * 86400.0 <> {seconds})")
    row = engine.rows(f"SELECT {', '.join(items)} FROM {engine.relation(table)}")[0]
    return {t: int(n) for t, n in zip(instants, row)}, int(row[-1]) == 0
