"""Every generated feature name reads back as words: names made by the real generators, read by the rules."""

from __future__ import annotations

import re

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from retention_assets.core.timeline import parse_windows
from retention_assets.engine.dialect import DuckDBDialect
from retention_assets.features.event_windows import EventFeatureSpec, feature_columns, slug
from retention_assets.features.meanings import (
    SourceVocabulary,
    Vocabulary,
    describe_feature,
    text_component_key,
    window_phrase,
)
from retention_assets.features.text import COMPONENT_PREFIX, component_names, fit_text_model

CODES = re.compile(r"svd_|__hash|bucket_|_was_missing|\b\d+[hd]\b|all_time|_")

VOCABULARY = Vocabulary(
    windows=("24h", "7d", "30d", "90d", "all_time"),
    sources={"transactions": SourceVocabulary(values=("amount",), categories=("event_type",)),
             "support_tickets": SourceVocabulary(categories=("topic",), texts=("text",))},
    entity="customers", entity_texts=("notes",), date_columns=("signup_date",), categorical=("plan",),
    hashed=("city",),
    terms={text_component_key("support_tickets", "text", 4): ("cancel", "refund", "price"),
           text_component_key("customers", "notes", 1): ("vip", "loyal")},
)


@pytest.mark.parametrize("feature, name, kind", [
    ("transactions_30d_count", "transactions in the last 30 days", "count"),
    ("transactions_24h_count", "transactions in the last day", "count"),
    ("transactions_all_time_count", "transactions ever", "count"),
    ("transactions_30d_amount_mean", "average amount of transactions in the last 30 days", "amount"),
    ("transactions_7d_amount_sum", "total amount of transactions in the last 7 days", "amount"),
    ("transactions_90d_amount_count", "transactions with a recorded amount in the last 90 days", "count"),
    ("transactions_30d_event_type_purchase_count", "transactions with event type purchase in the last 30 days",
     "count"),
    ("support_tickets_7d_topic_technical_count", "support tickets with topic technical in the last 7 days", "count"),
    ("transactions_all_time_days_since_last", "days since the last transaction", "days"),
    ("transactions_90d_days_since_first", "days since the first transaction, looking back 90 days", "days"),
    ("support_tickets_text_7d_svd_4_mean", "support tickets in the last 7 days about cancel, refund, price", "text"),
    ("support_tickets_text_30d_svd_2_mean", "support tickets in the last 30 days on one recurring theme", "text"),
    ("customers_notes_svd_1", "notes about vip, loyal", "text"),
    ("age_was_missing", "no value recorded for age", "flag"),
    ("days_since_signup_date", "days since signup date", "days"),
    ("plan", "plan", "category"),
    ("city", "city", "category"),
    ("monthly_fee", "monthly fee", "number"),
])
def test_each_naming_rule_reads_back_in_words(feature, name, kind):
    meaning = describe_feature(feature, VOCABULARY)
    assert (meaning.name, meaning.kind) == (name, kind)
    assert not CODES.search(meaning.name)


def test_a_count_of_one_reads_in_the_singular():
    assert describe_feature("support_tickets_7d_count", VOCABULARY).one == "support ticket in the last 7 days"
    assert describe_feature("transactions_30d_days_since_last", VOCABULARY).one == \
        "day since the last transaction, looking back 30 days"


@pytest.mark.parametrize("window, phrase", [("24h", "in the last day"), ("36h", "in the last 36 hours"),
                                            ("1h", "in the last hour"), ("365d", "in the last 365 days"),
                                            ("all_time", "ever")])
def test_window_phrases(window, phrase):
    assert window_phrase(window) == phrase


names = st.from_regex(r"[a-z]{2,8}(_[a-z]{2,8}){0,2}", fullmatch=True)


@settings(max_examples=60, deadline=None)
@given(source=names, values=st.lists(names, max_size=3, unique=True), category=names,
       category_values=st.lists(st.text(st.sampled_from("abc XYZ-1"), min_size=1, max_size=6), min_size=1,
                                max_size=3, unique_by=slug),
       windows=st.lists(st.sampled_from(["24h", "7d", "30d", "90d", "365d", "all_time"]), min_size=1,
                        unique=True))
def test_every_name_the_window_generator_makes_reads_back_by_a_rule(source, values, category, category_values,
                                                                    windows):
    """The names `event_windows.feature_columns` generates (what bronze_event writes), whatever the source,
    value and category names: each matches a window rule, never the column-name fallback, with no codes."""
    values = [v for v in values if v != category]
    spec = EventFeatureSpec(source=source, entity_key="k", timestamp_column="ts", value_columns=tuple(values),
                            categories={category: tuple(category_values)})
    try:
        columns = feature_columns(spec, parse_windows(windows), DuckDBDialect())
    except ValueError:  # the generator refuses names that collide; nothing to read back
        return
    vocabulary = Vocabulary(windows=tuple(windows),
                            sources={source: SourceVocabulary(tuple(values), (category,))})
    for column in columns:
        meaning = describe_feature(column.name, vocabulary)
        assert meaning.rule.startswith("window_"), (column.name, meaning)
        assert meaning.window == column.window
        assert not re.search(r"\b\d+[hd]\b|all_time|_", meaning.name), meaning.name


def test_text_component_names_read_back_with_the_terms_the_fitted_model_loads_on():
    texts = pd.Series(["please cancel my subscription now", "refund the last payment please",
                       "the app keeps crashing on login", "cannot reset my password", "cancel my plan today",
                       "app crashing again after the update", "refund my payment", "password reset fails"] * 5)
    model = fit_text_model(texts, "text", n_components=3, min_df=2)
    terms = model.top_terms()
    assert len(terms) == 3 and all(terms)
    stop = {"the", "my", "on", "please", "now", "again", "after"}
    assert not {t for component in terms for t in component} & (stop - {"please", "now", "again"})
    vocabulary = Vocabulary(windows=(), entity="customers", entity_texts=("text",),
                            terms={text_component_key("customers", "text", i): t for i, t in enumerate(terms)})
    for i, feature in enumerate(component_names("customers", "text", 3)):
        meaning = describe_feature(feature, vocabulary)
        assert meaning.rule == "text_entity" and COMPONENT_PREFIX not in meaning.name
        assert meaning.name == "text about " + ", ".join(terms[i])
    loadings = model.svd.components_[0]
    vocab = list(model.vectorizer.get_feature_names_out())
    assert all(loadings[vocab.index(t)] > 0 for t in terms[0])  # what a high value of the component means
