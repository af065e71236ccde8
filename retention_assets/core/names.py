"""Asset names, which are also the names of the tables the assets write: defined once.

The graph is generated from the settings (one raw asset per source, one bronze_event asset per
source and window), so some names are functions of a source or window name.
"""

TIMELINE = "analysis_timeline"
RELEASE = "published_release"
MULTI_FINDINGS = "multi_dataset_findings"
RECOMMENDATIONS = "recommendations"
BRONZE_ENTITY = "bronze_entity"
SILVER = "silver_joined"
LABELS = "churn_labels"
GOLD = "gold_features"
PUBLISHED = "feast_features"
TRAINING_SET = "training_set"
ONLINE = "online_features"
MODEL = "churn_model"
CHAMPION = "champion_model"
SCORES = "churn_scores"
CAMPAIGN = "retention_campaign"
DRIFT = "feature_drift"
PERFORMANCE = "model_performance"


def raw_name(source: str) -> str:
    return f"raw_{source}"


def findings_name(source: str) -> str:
    return f"findings_{source}"


def window_name(source: str, window: str) -> str:
    return f"bronze_event_{source}_{window}"


def text_name(source: str) -> str:
    return f"bronze_text_{source}"


def text_terms_name(source: str) -> str:
    """The terms each text component of a source loads on (written with its text features)."""
    return f"{text_name(source)}_terms"


ENTITY_TERMS = f"{BRONZE_ENTITY}_terms"


def terms_tables(settings) -> list[str]:
    """Every table of text-component terms the run writes: one per event source, one for the entity."""
    return [*(text_terms_name(s) for s in settings.events), ENTITY_TERMS]



def silver_inputs(settings) -> list[str]:
    """The tables silver joins to the entity table, in column order: every window, then every text table."""
    return [window_name(s, w) for s in settings.events for w in settings.windows] + [text_name(s) for s in settings.events]
