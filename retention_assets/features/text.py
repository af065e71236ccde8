"""Free-text columns as numeric features: TF-IDF + truncated SVD, fitted without looking ahead.

A text column (a support ticket's body, a note on the customer) becomes a few dense components:
TF-IDF over the words (kept sparse), projected onto the leading directions of a seeded truncated
SVD. No model is downloaded and the same inputs always give the same model.

The set-based work runs on the engine, out of core; Python holds one model, its fitting sample and
one batch of texts at a time, never all events or the whole (customer x snapshot) spine:

1. Fit on the texts the model may see: for an event source those written at or before the earliest
   snapshot, so no word, weight or direction is learned from text that postdates any row's feature
   timestamp; for an entity column all of them. The fitting set is bounded: when more than
   `fit_rows` texts qualify, the `fit_rows` with the smallest seeded MD5 hash of (key, timestamp to
   the second, text) are used, a uniform sample that is the same on every engine, run and input
   order. With at most `fit_rows` texts all of them are used, so the bound changes nothing. The
   chosen texts are fitted in the canonical order (timestamp, key as text, text), so the model never
   depends on the order of the input rows.
2. Project every text in batches streamed from the engine (`Engine.batches`) and write the
   components of each event, in key order, to an intermediate table (`Engine.write_batches`).
3. Aggregate per customer and window with the project's window SQL (`window_features_sql`), so the
   window semantics (as_of - w, as_of] are exactly those of every other event feature. Missing and
   blank texts are not events: they never enter a mean. The SQL runs per slice (one snapshot, one
   range of keys) and each slice's rows are streamed into the table in the table's order: one query
   over the whole spine would hold an aggregate state per (key, snapshot, mean) and sort the whole
   result, which is what does not fit.

Column names:

* per text (`TextModel.transform`): `svd_0`, `svd_1`, ... (or any prefix)
* entity text columns: `{source}_{column}_svd_{i}` (`component_names`)
* event text columns, per window: `{source}_{column}_{window}_svd_{i}_mean`, which cannot collide
  with the source's own `{source}_{window}_...` features.

When there is nothing to learn from (no texts before the earliest snapshot, an empty column, fewer
distinct terms than n_components + 1, or fewer texts than n_components) the model has 0 components
and the column adds no features: a text column never fails a run.

Means are averages computed by the engine; a parallel engine may sum in a different order from run
to run, so repeated runs agree to floating-point rounding, while the model itself is bit-identical.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from retention_assets.core.errors import DataValidationError
from retention_assets.core.timeline import Window, ensure_utc
from retention_assets.engine.base import TIMESTAMP_KINDS, Engine, TableInfo
from retention_assets.engine.dialect import Dialect
from retention_assets.features.event_windows import (
    FEATURE_TIMESTAMP,
    EventFeatureSpec,
    feature_columns,
    snapshot_spine_sql,
    window_features_sql,
)

if TYPE_CHECKING:
    import pyarrow as pa

COMPONENT_PREFIX = "svd_"
TOP_TERMS = 4  # terms per component in the readable name of a text feature
MAX_DUPLICATES_SHOWN = 5

# Column names of the intermediate relations and tables (never seen by users).
_KEY = "__key"
_TS = "__ts"
_TEXT = "__text"
_HASH_BUCKETS = 2**32
_BLANK_PATTERN = r"^\s*$"
# Aggregate states (keys x mean features) one slice query of the event features may hold. At 1M
# customers x 3 snapshots x 56 means, 8M keeps the whole build under 0.8 GiB peak RSS (DuckDB, 2 GB
# limit) for ~10% more time than one query per snapshot (1.7 GiB); one query for all takes 2.4 GiB.
_MEANS_PER_QUERY = 8_000_000


def _clean_texts(texts: pd.Series) -> pd.Series:
    """Strings, with missing values as "" (which project to all zeros)."""
    return texts.astype(object).where(texts.notna(), "").astype(str)


def _has_text(texts: pd.Series) -> pd.Series:
    """True where a text is present and not blank."""
    return texts.notna() & (texts.astype(object).astype(str).str.strip() != "")


@dataclass
class TextModel:
    """A fitted TF-IDF + SVD projection of one text column, with what it was fitted on."""

    column: str
    vectorizer: Any  # fitted sklearn TfidfVectorizer, or None when nothing could be learned
    svd: Any  # fitted TruncatedSVD, or None when n_components == 0
    n_components: int
    fitted_rows: int
    fitted_through: str | None  # ISO timestamp: only texts at or before it were used to fit

    def transform(self, texts: pd.Series, prefix: str = COMPONENT_PREFIX) -> pd.DataFrame:
        """Components `{prefix}0..` per text (same index); missing, empty or unknown-word text -> zeros."""
        columns = [f"{prefix}{i}" for i in range(self.n_components)]
        if self.n_components == 0 or len(texts) == 0:
            return pd.DataFrame(np.zeros((len(texts), self.n_components)), index=texts.index, columns=columns)
        # TF-IDF stays sparse; only the (rows x n_components) projection is dense. A row without any
        # known word is an all-zero TF-IDF row, and TruncatedSVD does not centre, so it projects to 0.
        matrix = self.vectorizer.transform(_clean_texts(texts).tolist())
        dense = np.asarray(self.svd.transform(matrix), dtype=np.float64)
        return pd.DataFrame(dense, index=texts.index, columns=columns)

    def top_terms(self, k: int = TOP_TERMS) -> list[tuple[str, ...]]:
        """Per component, the k terms with the largest positive loadings: what a text scoring high on it
        is about (a component's value is the text's TF-IDF vector projected on these loadings)."""
        from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

        if self.n_components == 0:
            return []
        vocabulary = self.vectorizer.get_feature_names_out()
        terms = []
        for loadings in self.svd.components_:  # stop words load too, but say nothing to a reader
            order = [i for i in np.argsort(-loadings, kind="stable")
                     if loadings[i] > 0 and vocabulary[i] not in ENGLISH_STOP_WORDS]
            terms.append(tuple(str(vocabulary[i]) for i in order[:k]))
        return terms


def fit_text_model(
    texts: pd.Series,
    column: str,
    *,
    n_components: int = 8,
    max_features: int = 2000,
    min_df: int = 2,
    seed: int = 0,
    fitted_through: str | None = None,
) -> TextModel:
    """Fit TF-IDF + seeded randomized SVD on `texts` (the caller chooses which texts may be seen).

    Returns a 0-component model instead of failing when the texts cannot support `n_components`
    directions: no usable text, an empty vocabulary after `min_df`, fewer than n_components + 1
    distinct terms, or fewer texts than n_components.
    """
    if n_components < 0 or max_features < 1 or min_df < 1:
        raise ValueError(
            f"text column {column!r}: n_components must be >= 0, max_features and min_df >= 1 "
            f"(got {n_components}, {max_features}, {min_df})"
        )
    from sklearn.decomposition import TruncatedSVD
    from sklearn.feature_extraction.text import TfidfVectorizer

    docs = _clean_texts(texts[_has_text(texts)]).tolist()
    empty = TextModel(column, None, None, 0, len(docs), fitted_through)
    if n_components == 0 or len(docs) < max(min_df, n_components):
        return empty
    vectorizer = TfidfVectorizer(
        lowercase=True, strip_accents="unicode", min_df=min_df, max_features=max_features,
        sublinear_tf=True, dtype=np.float64,
    )
    try:
        matrix = vectorizer.fit_transform(docs)
    except ValueError:
        # Parameters are validated above, so this is sklearn's "empty vocabulary" / "no terms remain".
        return empty
    if matrix.shape[1] < n_components + 1:
        return TextModel(column, vectorizer, None, 0, len(docs), fitted_through)
    svd = TruncatedSVD(n_components=n_components, algorithm="randomized", n_iter=7, random_state=seed)
    svd.fit(matrix)
    return TextModel(column, vectorizer, svd, n_components, len(docs), fitted_through)


def component_names(source: str, column: str, n_components: int) -> list[str]:
    """Feature names of an entity text column, e.g. `support_tickets_text_svd_0`."""
    return [f"{source}_{column}_{COMPONENT_PREFIX}{i}" for i in range(n_components)]


# --------------------------------------------------------------------------------------------------
# reports


@dataclass(frozen=True)
class TextColumnReport:
    """What one text column's model was fitted on and which features it produced."""

    column: str
    n_components: int
    fitted_rows: int  # texts the model was fitted on
    candidate_rows: int  # texts it was allowed to see (more than fitted_rows when sampled)
    sampled: bool
    fitted_through: str | None  # ISO timestamp: only texts at or before it were seen (events only)
    features: tuple[str, ...]
    model: TextModel = field(repr=False, compare=False)

    def to_dict(self) -> dict[str, Any]:
        return {"components": self.n_components, "fitted_rows": self.fitted_rows,
                "candidate_rows": self.candidate_rows, "sampled": self.sampled,
                "fitted_through": self.fitted_through}


@dataclass(frozen=True)
class TextFeaturesReport:
    """The written feature table and, per text column, its model summary (shown as asset metadata)."""

    table: TableInfo
    columns: tuple[TextColumnReport, ...]

    def column(self, name: str) -> TextColumnReport:
        for report in self.columns:
            if report.column == name:
                return report
        raise KeyError(name)

    def to_dict(self) -> dict[str, dict[str, Any]]:
        return {report.column: report.to_dict() for report in self.columns}


def terms_table(source: str, reports: Sequence[TextColumnReport]) -> pa.Table:
    """(source, column, component, terms) of every fitted component: stored next to the features, so the
    model's readable names say what each component is about (`features.meanings`)."""
    import pyarrow as pa

    rows = [(source, report.column, i, " ".join(terms))
            for report in reports for i, terms in enumerate(report.model.top_terms())]
    return pa.table({name: [r[i] for r in rows] for i, name in enumerate(TERMS_COLUMNS)},
                    schema=pa.schema([("source", pa.string()), ("column", pa.string()), ("component", pa.int64()),
                                      ("terms", pa.string())]))


TERMS_COLUMNS = ("source", "column", "component", "terms")


def read_terms(engine: Engine, tables: Sequence[str]) -> dict[str, tuple[str, ...]]:
    """The terms of every text component in the given terms tables that exist, by `text_component_key`."""
    from retention_assets.features.meanings import text_component_key

    terms: dict[str, tuple[str, ...]] = {}
    for table in tables:
        if not engine.exists(table):
            continue
        for source, column, component, words in engine.rows(
                f"SELECT {', '.join(engine.dialect.ident(c) for c in TERMS_COLUMNS)} FROM {engine.relation(table)}"):
            terms[text_component_key(source, column, int(component))] = tuple(str(words).split())
    return terms


# --------------------------------------------------------------------------------------------------
# SQL pieces (engine-neutral: everything engine-specific comes from the dialect)


def _present(dialect: Dialect, text: str) -> str:
    """SQL: the text is neither NULL nor whitespace only.

    The engines' `\\s` is ASCII whitespace, a subset of what Python's `str.strip` removes, so this never
    drops a text that Python keeps; `_has_text` removes the remaining blank ones in Python."""
    return f"({text} IS NOT NULL AND NOT {dialect.matches(text, _BLANK_PATTERN)})"


def _event_texts_sql(dialect: Dialect, events: str, event_key: str, timestamp_column: str, column: str,
                     condition: str = "TRUE") -> str:
    """The events' (key as text, UTC timestamp, text) where a text is present and `condition` holds."""
    q = dialect.ident
    text = dialect.as_string(f"e.{q(column)}")
    return (
        f"(SELECT t.* FROM (SELECT {dialect.as_string('e.' + q(event_key))} AS {q(_KEY)}, "
        f"{dialect.aware_timestamp('e.' + q(timestamp_column))} AS {q(_TS)}, {text} AS {q(_TEXT)} "
        f"FROM {events} e WHERE e.{q(event_key)} IS NOT NULL AND e.{q(timestamp_column)} IS NOT NULL "
        f"AND {_present(dialect, text)}) t WHERE {condition})"
    )


def _sample_hash(dialect: Dialect, parts: list[str], seed: int) -> str:
    """A seeded 32-bit hash of string expressions: the first bits of their MD5, equal on every engine."""
    separator = f" || {dialect.string('|')} || "
    return dialect.hash_bucket(separator.join([dialect.string(str(int(seed))), *parts]), _HASH_BUCKETS)


def _whole_seconds(dialect: Dialect, ts: str) -> str:
    """A timestamp as text of its whole epoch seconds: the same string on every engine."""
    return dialect.as_string(f"CAST(floor({dialect.epoch_seconds(ts)}) AS BIGINT)")


def _distinct_keys_sql(dialect: Dialect, entity: str, entity_key: str) -> str:
    """Every distinct non-null key of the entity relation, as text."""
    q = dialect.ident
    return (f"SELECT DISTINCT {dialect.as_string('e.' + q(entity_key))} AS {q(entity_key)} "
            f"FROM {entity} e WHERE e.{q(entity_key)} IS NOT NULL")


def _key_bounds(engine: Engine, keys: str, entity_key: str, keys_per_query: int) -> list[str]:
    """The first key of each run of `keys_per_query` keys in key order: the lower bounds of the key ranges."""
    k = engine.dialect.ident(entity_key)
    rows = engine.rows(f"SELECT r.{k} FROM (SELECT k.{k}, row_number() OVER (ORDER BY k.{k}) AS rn FROM {keys} k) r "
                       f"WHERE (r.rn - 1) % {int(keys_per_query)} = 0 ORDER BY r.{k}")
    return [row[0] for row in rows]


@dataclass(frozen=True)
class _Slice:
    """One snapshot and one range of keys [lower, upper): the rows one query computes."""

    snapshot: datetime
    lower: str
    upper: str | None  # None: no upper bound

    def condition(self, dialect: Dialect, key_expr: str) -> str:
        condition = f"{key_expr} >= {dialect.string(self.lower)}"
        return condition if self.upper is None else f"{condition} AND {key_expr} < {dialect.string(self.upper)}"


def _slices(snapshots: list[datetime], bounds: list[str]) -> list[_Slice]:
    """Slices in the table's order: snapshot by snapshot, key range by key range."""
    ranges = list(zip(bounds, [*bounds[1:], None]))
    return [_Slice(snapshot, lower, upper) for snapshot in sorted(set(snapshots)) for lower, upper in ranges]


# --------------------------------------------------------------------------------------------------
# fitting and projecting


@dataclass(frozen=True)
class _FitSample:
    texts: pd.Series  # in canonical order
    candidates: int
    sampled: bool


def _fit_sample(engine: Engine, texts: str, *, order: list[str], hash_parts: list[str], fit_rows: int,
                seed: int) -> _FitSample:
    """At most `fit_rows` texts of the relation `texts` (all of them when there are no more), in `order`.

    Above the bound the rows with the smallest seeded hash are kept (ties broken by `order`): a
    uniform sample that does not depend on row order, run or engine; the engine keeps only the
    `fit_rows` best rows while scanning (a top-N), never the whole relation."""
    q = engine.dialect.ident
    candidates = int(engine.scalar(f"SELECT count(*) FROM {texts} t"))
    canonical = ", ".join(f"t.{q(c)}" for c in order)
    chosen = texts
    if candidates > fit_rows:
        chosen = (f"(SELECT t.* FROM {texts} t ORDER BY {_sample_hash(engine.dialect, hash_parts, seed)}, "
                  f"{canonical} LIMIT {int(fit_rows)})")
    frame = engine.frame(f"SELECT t.{q(_TEXT)} FROM {chosen} t ORDER BY {canonical}")
    return _FitSample(frame[_TEXT].reset_index(drop=True), candidates, candidates > fit_rows)


def _component_batches(engine: Engine, sql: str, model: TextModel, schema: pa.Schema, *, keep: list[str],
                       prefix: str, drop_blank: bool, batch_rows: int) -> Iterator[pa.RecordBatch]:
    """The columns `keep` of `sql`'s rows and the components of their `_TEXT`, one batch at a time.

    With `drop_blank` rows whose text is blank by Python's rule are left out (they are not events)."""
    import pyarrow as pa

    for batch in engine.batches(sql, batch_rows):
        texts = batch.column(_TEXT).to_pandas()
        if drop_blank:
            mask = _has_text(texts).to_numpy(dtype=bool)
            if not mask.all():
                batch, texts = batch.filter(pa.array(mask)), texts[mask]
        if batch.num_rows == 0:
            continue
        components = model.transform(texts.reset_index(drop=True), prefix=prefix)
        arrays = [batch.column(c) for c in keep] + [pa.array(components[c].to_numpy()) for c in components.columns]
        yield pa.RecordBatch.from_arrays([a.cast(f.type) for a, f in zip(arrays, schema)], schema=schema)


def _check_parameters(fit_rows: int, batch_rows: int) -> None:
    if fit_rows < 1 or batch_rows < 1:
        raise ValueError(f"fit_rows and batch_rows must be >= 1 (got {fit_rows}, {batch_rows})")


def _require_columns(engine: Engine, relation: str, name: str, columns: Sequence[str]) -> dict[str, str]:
    """The relation's column kinds, after checking that `columns` are among them."""
    kinds = engine.column_kinds(relation)
    missing = [c for c in columns if c not in kinds]
    if missing:
        raise ValueError(f"{name} has no column(s) {missing}; it has {list(kinds)}")
    return kinds


def _components_of(n_components: int | Mapping[str, int], column: str) -> int:
    if isinstance(n_components, Mapping):
        if column not in n_components:
            raise ValueError(f"n_components gives no count for text column {column!r}")
        return int(n_components[column])
    return int(n_components)


# --------------------------------------------------------------------------------------------------
# event sources


@dataclass(frozen=True)
class _WindowPart:
    """One text column's per-event components table and the window means computed from it."""

    table: str
    spec: EventFeatureSpec
    features: tuple[str, ...]


def _mean_features(spec: EventFeatureSpec, windows: list[Window], dialect: Dialect) -> tuple[str, ...]:
    """The window SQL's mean columns of the components (its counts and recency duplicate the source's)."""
    wanted = {f"{spec.source}_{w.name}_{v}_mean" for w in windows for v in spec.value_columns}
    return tuple(c.name for c in feature_columns(spec, windows, dialect) if c.name in wanted)


def _project_events(engine: Engine, texts: str, model: TextModel, table: str, batch_rows: int) -> None:
    """Write (key, timestamp, svd_0..) for every event with a text, streamed in batches."""
    import pyarrow as pa

    q = engine.dialect.ident
    names = [f"{COMPONENT_PREFIX}{i}" for i in range(model.n_components)]
    schema = pa.schema([(_KEY, pa.string()), (_TS, pa.timestamp("us", tz="UTC")),
                        *[(n, pa.float64()) for n in names]])
    # In key order: each slice of the window SQL then reads only the row groups of its keys and
    # aggregates keys that arrive together (the window step took half the time at 1M customers).
    columns = f"t.{q(_KEY)}, t.{q(_TS)}, t.{q(_TEXT)}"
    sql = f"SELECT {columns} FROM {texts} t ORDER BY {columns}"
    engine.write_batches(table, _component_batches(engine, sql, model, schema, keep=[_KEY, _TS],
                                                   prefix=COMPONENT_PREFIX, drop_blank=True,
                                                   batch_rows=batch_rows), schema=schema)


def _projection_bounds(dialect: Dialect, windows: list[Window], snapshots: list[datetime]) -> str:
    """SQL condition on `t.__ts` keeping only events some window of some snapshot can contain."""
    ts = f"t.{dialect.ident(_TS)}"
    condition = f"{ts} <= {dialect.timestamp(max(snapshots))}"
    hours = [w.hours for w in windows]
    if windows and None not in hours:
        condition += f" AND {ts} > {dialect.minus_hours(dialect.timestamp(min(snapshots)), max(hours))}"
    return condition


def _event_features_sql(dialect: Dialect, parts: list[_WindowPart], windows: list[Window],
                        relations: dict[str, str], spine: str, entity_key: str) -> str:
    """One row per spine row: the keys, then every part's window means, ordered by (timestamp, key)."""
    q = dialect.ident
    key, ts = q(entity_key), q(FEATURE_TIMESTAMP)
    if not parts:
        return f"SELECT s.{key}, s.{ts} FROM {spine} s ORDER BY s.{ts}, s.{key}"
    ctes, selected, joins = [], [f"p0.{key}", f"p0.{ts}"], []
    for i, part in enumerate(parts):
        window_sql = window_features_sql(part.spec, windows, dialect, events=relations[part.table], spine=spine,
                                         spine_key=entity_key)
        means = ", ".join(f"w.{q(n)}" for n in part.features)
        ctes.append(f"p{i} AS (SELECT w.{key}, w.{ts}, {means} FROM ({window_sql}) w)")
        selected += [f"p{i}.{q(n)}" for n in part.features]
        if i:
            # The window SQL returns exactly one row per spine row, so these joins are one-to-one.
            joins.append(f"LEFT JOIN p{i} ON p{i}.{key} = p0.{key} AND p{i}.{ts} = p0.{ts}")
    return (f"WITH {', '.join(ctes)}\nSELECT {', '.join(selected)}\nFROM p0 {' '.join(joins)}\n"
            f"ORDER BY p0.{ts}, p0.{key}")


def _slice_sql(dialect: Dialect, parts: list[_WindowPart], windows: list[Window], relations: dict[str, str],
               keys: str, entity_key: str, part_slice: _Slice) -> str:
    """The rows of one slice: its keys at its snapshot, from the events of its keys only."""
    q = dialect.ident
    in_range = f"(SELECT k.* FROM {keys} k WHERE {part_slice.condition(dialect, 'k.' + q(entity_key))})"
    spine = snapshot_spine_sql(dialect, in_range, entity_key, [part_slice.snapshot])
    events = {table: f"(SELECT x.* FROM {relation} x WHERE {part_slice.condition(dialect, 'x.' + q(_KEY))})"
              for table, relation in relations.items()}
    return _event_features_sql(dialect, parts, windows, events, spine, entity_key)


def _write_event_features(engine: Engine, parts: list[_WindowPart], windows: list[Window], *, entity: str,
                          entity_key: str, snapshots: list[datetime], keys_table: str, keys_per_query: int | None,
                          batch_rows: int, target: str) -> TableInfo:
    """Write the feature table slice by slice, each slice's rows streamed into `target` in order.

    One query over the whole spine would hold an aggregate state per (key, snapshot) and mean, and
    sort the whole result (2.4 GiB at 1M customers x 3 snapshots x 56 means); a slice holds at most
    about `_MEANS_PER_QUERY` states, and the slices' order is the table's order, so nothing is sorted
    globally."""
    import pyarrow as pa

    features = [name for part in parts for name in part.features]
    engine.write_table(keys_table, _distinct_keys_sql(engine.dialect, entity, entity_key))
    keys = engine.relation(keys_table)
    per_query = keys_per_query or max(1, _MEANS_PER_QUERY // max(1, len(features)))
    relations = {part.table: engine.relation(part.table) for part in parts}
    schema = pa.schema([(entity_key, pa.string()), (FEATURE_TIMESTAMP, pa.timestamp("us", tz="UTC")),
                        *[(name, pa.float64()) for name in features]])
    batches = (batch for part_slice in _slices(snapshots, _key_bounds(engine, keys, entity_key, per_query))
               for batch in engine.batches(_slice_sql(engine.dialect, parts, windows, relations, keys, entity_key,
                                                      part_slice), batch_rows))
    return engine.write_batches(target, batches, schema=schema)


def _fit_event_column(engine: Engine, events: str, *, event_key: str, timestamp_column: str, column: str,
                      earliest: datetime, n_components: int, max_features: int, fit_rows: int,
                      seed: int) -> tuple[TextModel, _FitSample]:
    """The column's model, fitted on (a bounded sample of) its texts written at or before `earliest`."""
    dialect = engine.dialect
    ts = f"t.{dialect.ident(_TS)}"
    seen = _event_texts_sql(dialect, events, event_key, timestamp_column, column,
                            condition=f"{ts} <= {dialect.timestamp(earliest)}")
    sample = _fit_sample(engine, seen, order=[_TS, _KEY, _TEXT], fit_rows=fit_rows, seed=seed,
                         hash_parts=[f"t.{dialect.ident(_KEY)}", _whole_seconds(dialect, ts),
                                     f"t.{dialect.ident(_TEXT)}"])
    model = fit_text_model(sample.texts, column, n_components=n_components, max_features=max_features, seed=seed,
                           fitted_through=earliest.isoformat())
    return model, sample


def _check_event_inputs(engine: Engine, events: str, entity: str, *, source: str, event_key: str, entity_key: str,
                        timestamp_column: str, text_columns: Sequence[str], snapshots: list[datetime],
                        fit_rows: int, batch_rows: int, keys_per_query: int | None) -> None:
    """Refuse, before any work, inputs that cannot give the documented table."""
    if not snapshots:
        raise ValueError("build_event_text_features needs at least one snapshot")
    if len(set(text_columns)) != len(text_columns):
        raise ValueError(f"text columns {list(text_columns)} name a column twice")
    _check_parameters(fit_rows, batch_rows)
    if keys_per_query is not None and keys_per_query < 1:
        raise ValueError(f"keys_per_query must be >= 1 (got {keys_per_query})")
    if text_columns:
        kinds = _require_columns(engine, events, f"events of {source}", [event_key, timestamp_column, *text_columns])
        if kinds[timestamp_column] not in TIMESTAMP_KINDS:
            raise ValueError(f"{source}.{timestamp_column} must be a timestamp column to window text by "
                             f"(it is {kinds[timestamp_column]}); type it first")
    _require_columns(engine, entity, "the entity relation", [entity_key])


def _event_text_column(engine: Engine, events: str, *, source: str, event_key: str, timestamp_column: str,
                       column: str, windows: list[Window], snapshots: list[datetime], n_components: int,
                       max_features: int, fit_rows: int, seed: int, batch_rows: int, table: str,
                       written: list[str]) -> tuple[TextColumnReport, _WindowPart | None]:
    """Fit one column's model and, if it has components, write its per-event table `table`."""
    model, sample = _fit_event_column(engine, events, event_key=event_key, timestamp_column=timestamp_column,
                                      column=column, earliest=min(snapshots), n_components=n_components,
                                      max_features=max_features, fit_rows=fit_rows, seed=seed)
    spec = EventFeatureSpec(source=f"{source}_{column}", entity_key=_KEY, timestamp_column=_TS,
                            value_columns=tuple(f"{COMPONENT_PREFIX}{c}" for c in range(model.n_components)),
                            aggregations=("mean",))
    features = _mean_features(spec, windows, engine.dialect) if model.n_components else ()
    report = TextColumnReport(column, model.n_components, model.fitted_rows, sample.candidates, sample.sampled,
                              model.fitted_through, features, model)
    if not model.n_components:
        return report, None
    written.append(table)
    texts = _event_texts_sql(engine.dialect, events, event_key, timestamp_column, column,
                             condition=_projection_bounds(engine.dialect, windows, snapshots))
    _project_events(engine, texts, model, table, batch_rows)
    return report, _WindowPart(table, spec, features)


def build_event_text_features(
    engine: Engine,
    *,
    events: str,
    entity: str,
    source: str,
    event_key: str,
    entity_key: str,
    timestamp_column: str,
    text_columns: Sequence[str],
    windows: list[Window],
    snapshots: list[datetime],
    n_components: int | Mapping[str, int] = 8,
    max_features: int = 2000,
    fit_rows: int = 200_000,
    seed: int = 0,
    batch_rows: int = 100_000,
    keys_per_query: int | None = None,
    target: str,
) -> TextFeaturesReport:
    """Write `target`: per-window means of each text column's components, per customer and snapshot.

    `events` and `entity` are SQL relations; `timestamp_column` must be a timestamp (naive values are
    UTC). The table has exactly one row per (distinct non-null `entity_key` of `entity`, as text;
    snapshot), ordered by (feature_timestamp, key), with the columns `entity_key`,
    `feature_timestamp` and `{source}_{column}_{window}_svd_{i}_mean`; a mean is null when the
    customer wrote no text in the window. `n_components` is one count or a count per column.

    Texts are projected `batch_rows` at a time; the table is computed in slices of one snapshot and
    at most `keys_per_query` keys (by default as many as keep a slice's aggregate states within
    `_MEANS_PER_QUERY`). Intermediate tables `{target}__text_*` are dropped afterwards.
    """
    _check_event_inputs(engine, events, entity, source=source, event_key=event_key, entity_key=entity_key,
                        timestamp_column=timestamp_column, text_columns=text_columns, snapshots=snapshots,
                        fit_rows=fit_rows, batch_rows=batch_rows, keys_per_query=keys_per_query)
    snapshots = [ensure_utc(s) for s in snapshots]
    written: list[str] = []  # intermediate tables, dropped even when a step fails
    try:
        parts, reports = [], []
        for i, column in enumerate(text_columns):
            report, part = _event_text_column(
                engine, events, source=source, event_key=event_key, timestamp_column=timestamp_column,
                column=column, windows=windows, snapshots=snapshots,
                n_components=_components_of(n_components, column), max_features=max_features, fit_rows=fit_rows,
                seed=seed, batch_rows=batch_rows, table=f"{target}__text_events_{i}", written=written)
            reports.append(report)
            parts.extend([part] if part else [])

        keys_table = f"{target}__text_keys"
        written.append(keys_table)
        info = _write_event_features(engine, parts, windows, entity=entity, entity_key=entity_key,
                                     snapshots=snapshots, keys_table=keys_table, keys_per_query=keys_per_query,
                                     batch_rows=batch_rows, target=target)
    finally:
        for table in written:
            engine.drop(table)
    return TextFeaturesReport(info, tuple(reports))


# --------------------------------------------------------------------------------------------------
# entity tables


def _refuse_duplicate_keys(engine: Engine, relation: str, key: str, source: str) -> None:
    """An entity table has one text per customer; a few duplicated keys are named if not."""
    k = engine.dialect.ident(key)
    rows = engine.rows(f"SELECT e.{k} FROM {relation} e GROUP BY e.{k} HAVING count(*) > 1 "
                       f"ORDER BY e.{k} LIMIT {MAX_DUPLICATES_SHOWN}")
    if rows:
        examples = sorted(str(r[0]) for r in rows)
        raise DataValidationError(source, f"duplicate keys {examples}: one text per customer is required",
                                  column=key)


def build_entity_text_features(
    engine: Engine,
    *,
    relation: str,
    key: str,
    source: str,
    column: str,
    n_components: int = 8,
    max_features: int = 2000,
    fit_rows: int = 200_000,
    seed: int = 0,
    batch_rows: int = 100_000,
    target: str,
) -> TextFeaturesReport:
    """Write `target`: one row per key of `relation` with the components `{source}_{column}_svd_{i}` of its text.

    The key keeps its type and order (nulls last); missing, blank or unknown-word text projects to
    zeros. The model is fitted on (a bounded sample of) every present text. Duplicate keys are an
    error naming a few of them.
    """
    _check_parameters(fit_rows, batch_rows)
    _require_columns(engine, relation, source, [key, column])
    _refuse_duplicate_keys(engine, relation, key, source)
    dialect, q = engine.dialect, engine.dialect.ident
    text = dialect.as_string(f"e.{q(column)}")
    texts = (f"(SELECT {dialect.as_string('e.' + q(key))} AS {q(_KEY)}, {text} AS {q(_TEXT)} "
             f"FROM {relation} e WHERE {_present(dialect, text)})")
    sample = _fit_sample(engine, texts, order=[_KEY, _TEXT], fit_rows=fit_rows, seed=seed,
                         hash_parts=[f"t.{q(_KEY)}", f"t.{q(_TEXT)}"])
    model = fit_text_model(sample.texts, column, n_components=n_components, max_features=max_features, seed=seed)
    return TextFeaturesReport(_project_entity(engine, relation, key, source, column, model, target, batch_rows),
                              (TextColumnReport(column, model.n_components, model.fitted_rows, sample.candidates,
                                                sample.sampled, None,
                                                tuple(component_names(source, column, model.n_components)),
                                                model),))


def _project_entity(engine: Engine, relation: str, key: str, source: str, column: str, model: TextModel,
                    target: str, batch_rows: int) -> TableInfo:
    """Write (key, components) for every row of the entity relation, streamed in batches."""
    import pyarrow as pa

    dialect, q = engine.dialect, engine.dialect.ident
    key_type = engine.query(f"SELECT e.{q(key)} FROM {relation} e LIMIT 0").schema.field(0).type
    names = component_names(source, column, model.n_components)
    schema = pa.schema([(key, key_type), *[(n, pa.float64()) for n in names]])
    sql = (f"SELECT e.{q(key)} AS {q(key)}, {dialect.as_string('e.' + q(column))} AS {q(_TEXT)} "
           f"FROM {relation} e ORDER BY e.{q(key)} NULLS LAST")
    batches = _component_batches(engine, sql, model, schema, keep=[key], prefix=f"{source}_{column}_{COMPONENT_PREFIX}",
                                 drop_blank=False, batch_rows=batch_rows)
    return engine.write_batches(target, batches, schema=schema)


def replace_text_with_components(engine: Engine, *, table: str, key: str, source: str, column: str,
                                 n_components: int = 8, max_features: int = 2000, fit_rows: int = 200_000,
                                 seed: int = 0) -> TextFeaturesReport:
    """Replace an entity table's free-text column by its components, in place (the table is rewritten
    atomically): the components are built by `build_entity_text_features` and joined back by key."""
    q = engine.dialect.ident
    components = f"{table}__{column}_components"
    report = build_entity_text_features(engine, relation=engine.relation(table), key=key, source=source,
                                        column=column, n_components=n_components, max_features=max_features,
                                        fit_rows=fit_rows, seed=seed, target=components)
    try:
        relation = engine.relation(table)
        kept = [f"t.{q(c)}" for c in engine.column_types(relation) if c != column]
        added = [f"c.{q(c)}" for c in report.columns[0].features] if report.columns else []
        engine.write_table(table, f"SELECT {', '.join([*kept, *added])} FROM {relation} t "
                                  f"LEFT JOIN {engine.relation(components)} c ON c.{q(key)} = t.{q(key)} "
                                  f"ORDER BY t.{q(key)}")
    finally:
        engine.drop(components)
    return report
