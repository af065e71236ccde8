"""Reasons on the materialized sample: planted behaviours named in words with the features table's values;
every model input readable; the same reasons in scores, the campaign, serving and the model's importances."""

from __future__ import annotations

import re
from datetime import timedelta

import pandas as pd
import pytest

from retention_assets_tests.pipeline import table

CODES = re.compile(r"svd_|__hash|bucket_|_was_missing|\b\d+[hd]\b|all_time|[a-z]_[a-z]")


def _glossary(settings, result):
    from retention_assets.model.reasons import Glossary
    from retention_assets.model.serving import GLOSSARY_ARTIFACT
    from retention_assets.model.tracking import version_run_id
    from retention_assets.profiles import build_profile

    import mlflow.artifacts

    meta = next(e for e in result.get_asset_materialization_events()
                if e.asset_key.to_user_string() == "churn_model").materialization.metadata
    tracking = build_profile(settings.data_path).tracking()
    tracking.activate()
    run_id = version_run_id(tracking, meta["mlflow_model_version"].value)
    return Glossary.from_dict(mlflow.artifacts.load_dict(f"runs:/{run_id}/{GLOSSARY_ARTIFACT}")), meta


def _reasons(frame: pd.DataFrame) -> list[tuple[str, dict]]:
    return [(key, dict(r)) for key, reasons in zip(frame["customer_id"], frame["reasons"]) for r in reasons]


def test_every_model_input_maps_to_a_readable_name_logged_with_the_model(graph):
    import joblib

    settings, result = graph
    glossary, meta = _glossary(settings, result)
    model = joblib.load(settings.data_path / "tables" / "churn_model.joblib")
    assert set(glossary.meanings) == set(model.feature_columns)
    unreadable = {f: m.name for f, m in glossary.meanings.items() if CODES.search(m.name)}
    assert not unreadable
    by_column = {f for f, m in glossary.meanings.items() if m.rule == "column"}
    assert by_column <= {"age", "monthly_fee"}  # plain entity numbers: their names are already words
    texts = [m for m in glossary.meanings.values() if m.kind == "text"]
    assert texts and all(" about " in m.name for m in texts)  # every component named by its terms
    # global importance on the model uses the same names
    shown = meta["shap_importance"].value
    top = next(line for line in shown.splitlines()[2:])
    name, feature = top.split("|")[1].strip(), top.split("|")[2].strip(" `")
    assert name == glossary.name(feature)


def test_reason_strings_hold_no_codes_and_one_hot_parts_are_one_reason(graph):
    settings, _ = graph
    scores = table(settings, "churn_scores")
    active = scores[scores["active_at_as_of"]]
    assert (active["top_reasons"].str.len() > 0).mean() > 0.9
    for text in active["top_reasons"]:
        assert not CODES.search(text), text
    reasons = _reasons(active)
    features = {r["feature"] for _, r in reasons}
    assert not {f for f in features if f.startswith(("plan_", "region_"))}
    assert {"plan", "region"} & features  # categorical columns are reasons as columns
    for key, reason in reasons:
        if reason["feature"] in ("plan", "region"):
            assert reason["text"].startswith(f"{reason['feature']} is {reason['value']}")
    per_customer = active["reasons"].map(lambda rs: [r["feature"] for r in rs])
    assert all(len(set(fs)) == len(fs) for fs in per_customer)
    # the campaign says why each customer is on it: the scores' own reasons
    campaign = table(settings, "retention_campaign").set_index("customer_id")
    assert len(campaign)
    indexed = scores.set_index("customer_id")
    assert campaign["top_reasons"].tolist() == indexed.loc[campaign.index, "top_reasons"].tolist()


def test_planted_churn_behaviour_is_named_in_words_with_the_features_tables_values(graph):
    """Customers about to churn in the sample's simulation (in their pre-churn decline, with the extra
    cancellation and billing tickets) are explained by those behaviours, with gold's own values."""
    from retention_assets.sample.generator import SAMPLE_AS_OF, _simulate
    from retention_assets_tests.conftest import SMALL_CUSTOMERS, SMALL_EVENTS_PER_CUSTOMER

    settings, result = graph
    glossary, _ = _glossary(settings, result)
    customers, _, _, truth = _simulate(SMALL_CUSTOMERS, 3, SMALL_EVENTS_PER_CUSTOMER, 1.5)
    churn = pd.Series(truth.churn_ts.to_numpy(), index=customers["customer_id"])
    about_to_churn = set(churn[(churn > SAMPLE_AS_OF) & (churn <= SAMPLE_AS_OF + timedelta(days=30))].index)
    scores = table(settings, "churn_scores")
    at_risk = scores["risk_tier"].isin(["high", "medium"]) | scores["predicted_churn"]
    flagged = scores[scores["active_at_as_of"] & at_risk & scores["customer_id"].isin(about_to_churn)]
    assert len(flagged) >= 5

    def behaviour(reason: dict) -> bool:
        meaning = glossary.meanings[reason["feature"]]
        fewer = meaning.source == "transactions" and meaning.kind == "count" and reason["direction"] == "lower"
        quiet = meaning.source == "transactions" and meaning.kind == "days" and reason["direction"] in ("higher",
                                                                                                        "unknown")
        tickets = meaning.source == "support_tickets" and re.search(r"cancellation|billing", meaning.name) \
            and reason["direction"] == "higher"
        return bool(fewer or quiet or tickets)

    named = flagged["reasons"].map(lambda rs: any(behaviour(dict(r)) for r in rs))
    assert named.mean() >= 0.7, flagged.loc[~named, "top_reasons"].head(5).tolist()
    wording = " ".join(flagged["top_reasons"])
    assert re.search(r"\d+ transactions? (with event type \w+ )?in the last \d+ days, fewer than retained", wording)
    everyone = " ".join(scores.loc[scores["active_at_as_of"] & at_risk, "top_reasons"])
    assert re.search(r"\d+ support tickets? with topic (cancellation|billing) in the last \d+ days, more than", everyone)

    gold = table(settings, "gold_features")
    scoring = gold[gold["row_role"] == "score"].set_index("customer_id")
    checked = 0
    for key, reason in _reasons(flagged):
        meaning = glossary.meanings[reason["feature"]]
        value = scoring.loc[key, reason["feature"]]
        if meaning.kind == "category":
            assert reason["value"] == str(value)
        elif pd.isna(value):
            assert reason["value"] == "none"
        else:
            decimals = len(reason["value"].partition(".")[2])  # as rounded for display
            assert float(reason["value"].replace(",", "")) == pytest.approx(float(value), abs=0.5 * 10**-decimals)
            assert str(reason["value"]) in reason["text"]
        checked += 1
    assert checked >= 3 * len(flagged) * 0.9
