"""What every model input means, in words a retention team reads: the last step from a column to a sentence.

Feature names are generated (`event_windows.feature_columns`, `text`, `entity`, `silver`), so each one is
read back by the rule that made it, with the vocabulary of the run (sources, windows, the value, category
and text columns the accepted recommendations aggregate, the entity's date columns and the terms each
text component loads on):

    transactions_30d_count                 -> transactions in the last 30 days
    transactions_30d_amount_mean           -> average amount of transactions in the last 30 days
    support_tickets_7d_topic_technical_count -> support tickets with topic technical in the last 7 days
    transactions_all_time_days_since_last  -> days since the last transaction
    support_tickets_text_7d_svd_4_mean     -> support tickets in the last 7 days about cancel, refund, price
    age_was_missing                        -> no value recorded for age
    days_since_signup_date                 -> days since signup date
    plan (one-hot plan_basic, ...)         -> plan

A name matches one rule or falls back to the column name in words (`rule == "column"`), never to a code.
This module must not import dagster.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field, replace
from typing import Literal

from retention_assets.core.timeline import Window, parse_window

Kind = Literal["count", "days", "amount", "number", "flag", "category", "text"]
COMPONENT = "svd_"
MISSING_FLAG = "_was_missing"
DAYS_SINCE = "days_since_"
_STATISTICS = {"sum": "total {value} of {events}", "mean": "average {value} of {events}",
               "min": "smallest {value} of {events}", "max": "largest {value} of {events}",
               "std": "spread of {value} of {events}", "count": "{events} with a recorded {value}"}


@dataclass(frozen=True)
class FeatureMeaning:
    """One model input (a gold column; a categorical column stands for all its one-hot parts) in words."""

    feature: str
    name: str  # a noun phrase: "transactions in the last 30 days"
    kind: Kind  # how its value reads: a count, days, an amount, a yes/no flag, a category, a text score
    rule: str  # the naming rule it was read by ("column" when none matched: the column name in words)
    source: str | None = None  # the event source or entity table it comes from
    window: str | None = None  # the window name, for window aggregates
    one: str | None = None  # the name for a count of exactly one ("transaction in the last 30 days")

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class SourceVocabulary:
    """What one event source aggregates (the run plan's roles)."""

    values: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    texts: tuple[str, ...] = ()


@dataclass(frozen=True)
class Vocabulary:
    """Everything the naming rules need to read a run's feature names back."""

    windows: tuple[str, ...]
    sources: Mapping[str, SourceVocabulary] = field(default_factory=dict)
    entity: str = "customers"
    entity_texts: tuple[str, ...] = ()
    date_columns: tuple[str, ...] = ()
    categorical: tuple[str, ...] = ()
    hashed: tuple[str, ...] = ()
    terms: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # text_component_key -> top terms


def words(name: str) -> str:
    """A column or source name as words: `monthly_fee` -> `monthly fee`."""
    return " ".join(part for part in name.replace("-", "_").split("_") if part)


def singular(noun: str) -> str:
    """`support tickets` -> `support ticket` (English plurals of the usual event names)."""
    if noun.endswith("ies"):
        return noun[:-3] + "y"
    if noun.endswith(("sses", "xes", "ches", "shes")):
        return noun[:-2]
    if noun.endswith("s") and not noun.endswith("ss"):
        return noun[:-1]
    return noun


def window_phrase(window: str) -> str:
    """`30d` -> `in the last 30 days`, `24h` -> `in the last 24 hours`, `all_time` -> `ever`."""
    parsed: Window = parse_window(window)
    hours = parsed.hours
    if hours is None:
        return "ever"
    if hours % 24 == 0:
        days = hours // 24
        return "in the last day" if days == 1 else f"in the last {days} days"
    return "in the last hour" if hours == 1 else f"in the last {hours} hours"


def text_component_key(source: str, column: str, component: int) -> str:
    """The key of a text component's terms: the same for every window of one fitted text model."""
    return f"{source}.{column}.{component}"


def _about(terms: tuple[str, ...]) -> str:
    return "about " + ", ".join(terms) if terms else "on one recurring theme"


def _split_window(rest: str, windows: Iterable[str]) -> tuple[str, str] | None:
    for window in sorted(windows, key=len, reverse=True):
        if rest.startswith(f"{window}_"):
            return window, rest[len(window) + 1:]
    return None


def _event_meaning(feature: str, source: str, window: str, stat: str, roles: SourceVocabulary) -> FeatureMeaning | None:
    events = words(source)
    when = window_phrase(window)
    whole = window == "all_time"

    def meaning(name: str, kind: Kind, rule: str, one: str | None = None) -> FeatureMeaning:
        return FeatureMeaning(feature, name, kind, rule, source, window, one)

    if stat == "count":
        return meaning(f"{events} {when}", "count", "window_count", f"{singular(events)} {when}")
    if stat in ("days_since_last", "days_since_first"):
        which = "last" if stat.endswith("last") else "first"
        scope = "" if whole else f", looking back {window_phrase(window).removeprefix('in the last ')}"
        name = f"days since the {which} {singular(events)}{scope}"
        return meaning(name, "days", f"window_{stat}", "day" + name.removeprefix("days"))
    for value in sorted(roles.values, key=len, reverse=True):
        for agg, template in _STATISTICS.items():
            if stat == f"{value}_{agg}":
                kind: Kind = "count" if agg == "count" else "amount"
                one = f"{template.format(value=words(value), events=singular(events))} {when}"
                return meaning(f"{template.format(value=words(value), events=events)} {when}", kind, f"window_{agg}",
                               one if agg == "count" else None)
    for category in sorted(roles.categories, key=len, reverse=True):
        if stat.startswith(f"{category}_") and stat.endswith("_count"):
            value = stat[len(category) + 1:-len("_count")]
            what = f"with {words(category)} {words(value)} {when}"
            return meaning(f"{events} {what}", "count", "window_category", f"{singular(events)} {what}")
    return None


def _text_meaning(feature: str, source: str, column: str, rest: str, vocabulary: Vocabulary,
                  window: str | None) -> FeatureMeaning | None:
    """`<window>_svd_<i>_mean` of an event text column, or `svd_<i>` of an entity text column."""
    stem = rest.removesuffix("_mean") if window else rest
    if not stem.startswith(COMPONENT) or not stem[len(COMPONENT):].isdigit():
        return None
    terms = tuple(vocabulary.terms.get(text_component_key(source, column, int(stem[len(COMPONENT):])), ()))
    if window:
        subject = words(source) if column in ("text", "body", "message", "description") else \
            f"{words(source)} {words(column)}"
        return FeatureMeaning(feature, f"{subject} {window_phrase(window)} {_about(terms)}", "text", "text_window",
                              source, window)
    return FeatureMeaning(feature, f"{words(column)} {_about(terms)}", "text", "text_entity", source)


def describe_feature(feature: str, vocabulary: Vocabulary) -> FeatureMeaning:
    """The meaning of one model input, by the rule that generated its name (see the module docstring)."""
    for source in sorted(vocabulary.sources, key=len, reverse=True):
        if not feature.startswith(f"{source}_"):
            continue
        rest = feature[len(source) + 1:]
        roles = vocabulary.sources[source]
        split = _split_window(rest, vocabulary.windows)
        if split:
            found = _event_meaning(feature, source, *split, roles)
            if found:
                return found
        for column in sorted(roles.texts, key=len, reverse=True):
            if rest.startswith(f"{column}_"):
                text_split = _split_window(rest[len(column) + 1:], vocabulary.windows)
                if text_split:
                    found = _text_meaning(feature, source, column, text_split[1], vocabulary, text_split[0])
                    if found:
                        return found
    entity = vocabulary.entity
    for column in sorted(vocabulary.entity_texts, key=len, reverse=True):
        if feature.startswith(f"{entity}_{column}_"):
            found = _text_meaning(feature, entity, column, feature[len(entity) + len(column) + 2:], vocabulary, None)
            if found:
                return found
    if feature.endswith(MISSING_FLAG):
        column = feature.removesuffix(MISSING_FLAG)
        return FeatureMeaning(feature, f"no value recorded for {words(column)}", "flag", "missing_flag", entity)
    if feature.startswith(DAYS_SINCE) and feature.removeprefix(DAYS_SINCE) in vocabulary.date_columns:
        since = f"since {words(feature.removeprefix(DAYS_SINCE))}"
        return FeatureMeaning(feature, f"days {since}", "days", "entity_date", entity, one=f"day {since}")
    if feature in vocabulary.hashed:
        return FeatureMeaning(feature, words(feature), "category", "hashed_category", entity)
    if feature in vocabulary.categorical:
        return FeatureMeaning(feature, words(feature), "category", "category", entity)
    return FeatureMeaning(feature, words(feature), "number", "column", entity)


def describe_features(features: Iterable[str], vocabulary: Vocabulary,
                      categorical: Iterable[str] = ()) -> dict[str, FeatureMeaning]:
    """Every model input's meaning, in input order; `categorical` are the columns the model one-hot encodes."""
    categorical = set(categorical)
    vocab = replace(vocabulary, categorical=tuple(sorted({*vocabulary.categorical, *categorical})))
    return {feature: describe_feature(feature, vocab) for feature in features}


def meanings_from_dicts(items: Iterable[Mapping]) -> dict[str, FeatureMeaning]:
    return {item["feature"]: FeatureMeaning(**item) for item in items}


def run_vocabulary(settings, plan, terms: Mapping[str, tuple[str, ...]]) -> Vocabulary:
    """The vocabulary of a run: its settings (sources, windows, entity dates), its run plan (what each
    source aggregates, entity text and hashed columns) and the terms of its fitted text components."""
    from retention_assets.core.columns import FIRST_SEEN
    from retention_assets.features.gold import GoldPlan

    entity = settings.entity
    sources = {}
    for source in settings.events:
        roles = plan.event_roles(source)
        sources[source] = SourceVocabulary(tuple(roles.value), tuple(roles.category), tuple(roles.text))
    dates = [*settings.entity_date_columns, *([FIRST_SEEN] if entity.derived_from else [])]
    return Vocabulary(
        windows=tuple(settings.windows), sources=sources, entity=entity.name,
        entity_texts=tuple(r.column for r in plan.active("bronze_entity", entity.name) if r.action == "text_svd"),
        date_columns=tuple(dates), hashed=tuple(GoldPlan.from_recommendations(plan.active("gold")).hash_buckets),
        terms=dict(terms))
