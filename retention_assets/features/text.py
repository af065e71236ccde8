"""Free-text columns as numeric features: TF-IDF + truncated SVD, fitted without looking ahead.

A text column (a support ticket's body, a note on the customer) becomes a few dense components:
TF-IDF over the words (kept sparse), projected onto the leading directions of a seeded truncated
SVD. No model is downloaded and the same inputs always give the same outputs.

For event sources the model is fitted only on texts written at or before the earliest snapshot, so
no word, weight or component direction is learned from text that postdates any row's feature
timestamp; every event's text is then projected and aggregated per customer and window by the
project's own window SQL (`event_features.compute_window_features`), so the window semantics
(as_of - w, as_of] are exactly those of every other event feature.

Column names:

* per text (`TextModel.transform`): `svd_0`, `svd_1`, ... (or any prefix)
* entity text columns: `{source}_{column}_svd_{i}` (`component_names`)
* event text columns, per window: `{source}_{column}_{window}_svd_{i}_mean`, which cannot collide
  with the source's own `{source}_{window}_...` features.

When there is nothing to learn from (no texts before the earliest snapshot, an empty column, fewer
distinct terms than n_components + 1, or fewer texts than n_components) the model has 0 components
and the features are just the key and feature timestamp: a text column never fails a run.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

from retention_assets.features.event_windows import FEATURE_TIMESTAMP, EventFeatureSpec, compute_window_features
from retention_assets.engine.dialect import quote
from retention_assets.core.timeline import Window, ensure_utc

COMPONENT_PREFIX = "svd_"


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


def entity_text_features(frame: pd.DataFrame, key: str, source: str, column: str, model: TextModel) -> pd.DataFrame:
    """One row per key with the components of its text (an entity table has one row per customer)."""
    duplicated = frame[key].duplicated(keep=False)
    if duplicated.any():
        examples = sorted(map(str, frame.loc[duplicated, key].unique()[:5]))
        raise ValueError(f"{source}.{key} has duplicate keys {examples}: one text per customer is required")
    components = model.transform(frame[column], prefix=f"{source}_{column}_{COMPONENT_PREFIX}")
    out = pd.concat([frame[[key]], components], axis=1)
    return out.reset_index(drop=True)


def _utc_timestamps(values: pd.Series) -> pd.Series:
    """Tz-aware UTC timestamps; naive values are taken to be UTC, strings parsed as ISO 8601."""
    if not pd.api.types.is_datetime64_any_dtype(values):
        return pd.to_datetime(values, utc=True, format="ISO8601")
    if getattr(values.dt, "tz", None) is None:
        return values.dt.tz_localize("UTC")
    return values.dt.tz_convert("UTC")


def event_text_window_features(
    con,
    events: pd.DataFrame,
    *,
    source: str,
    entity_key: str,
    timestamp_column: str,
    text_column: str,
    windows: list[Window],
    entity_keys: pd.Series,
    snapshots: list[datetime],
    n_components: int = 8,
    max_features: int = 2000,
    seed: int = 0,
) -> tuple[dict[str, pd.DataFrame], TextModel]:
    """Per-window means of the text components per customer and snapshot, and the fitted model.

    The model sees only texts at or before the earliest snapshot (the earliest training cutoff).
    Each window frame holds `entity_key`, `feature_timestamp` and `{source}_{text_column}_{window}_svd_{i}_mean`
    for every customer in `entity_keys` at every snapshot; means are null when the customer wrote
    no text in the window. `con` is a `duck.connect()` session; two relations are registered on it
    for the duration of the call.
    """
    if not snapshots:
        raise ValueError("event_text_window_features needs at least one snapshot")
    snapshots = [ensure_utc(s) for s in snapshots]
    earliest = min(snapshots)

    has_text = _has_text(events[text_column])
    usable = events.loc[has_text, [entity_key, timestamp_column, text_column]]
    stamps = _utc_timestamps(usable[timestamp_column])
    usable = usable.assign(**{timestamp_column: stamps})

    # Fit on what was written by the earliest cutoff, in a canonical order so that the model does not
    # depend on how the input rows happen to be ordered.
    seen = usable[usable[timestamp_column].notna() & (usable[timestamp_column] <= pd.Timestamp(earliest))]
    seen = seen.assign(__k=seen[entity_key].astype(str)).sort_values(
        [timestamp_column, "__k", text_column], kind="mergesort"
    )
    model = fit_text_model(
        seen[text_column], text_column, n_components=n_components, max_features=max_features, seed=seed,
        fitted_through=pd.Timestamp(earliest).isoformat(),
    )

    components = model.transform(usable[text_column])
    per_event = pd.concat(
        [pd.DataFrame({entity_key: usable[entity_key].astype(str), timestamp_column: usable[timestamp_column]}),
         components],
        axis=1,
    ).reset_index(drop=True)
    spec = EventFeatureSpec(
        source=f"{source}_{text_column}",
        entity_key=entity_key,
        timestamp_column=timestamp_column,
        value_columns=tuple(components.columns),
        aggregations=("mean",),
    )
    entity = pd.DataFrame({entity_key: entity_keys.dropna().astype(str).drop_duplicates().to_numpy(dtype=object)})
    events_name = f"__text_events__{source}__{text_column}"
    entity_name = f"__text_entity__{source}__{text_column}"
    con.register(events_name, per_event)
    con.register(entity_name, entity)
    try:
        frames, _ = compute_window_features(
            con, spec, windows, events=quote(events_name), entity=quote(entity_name),
            entity_key=entity_key, snapshots=snapshots,
        )
    finally:
        con.unregister(events_name)
        con.unregister(entity_name)
    # The shared SQL also emits count and days_since_*; those duplicate the source's own window
    # features (every text is an event of the source), so only the component means are kept.
    kept = {}
    for window, frame in frames.items():
        means = [f"{spec.source}_{window}_{c}_mean" for c in components.columns]
        kept[window] = frame[[entity_key, FEATURE_TIMESTAMP, *means]].reset_index(drop=True)
    return kept, model
