"""The champion gate's decision rule."""

from retention_assets.model.champion import decide


def test_first_model_is_promoted():
    decision = decide(0.8, None)
    assert decision.passed and decision.promote


def test_better_challenger_passes_and_is_promoted():
    decision = decide(0.85, 0.80)
    assert decision.passed and decision.promote and "beats" in decision.reason


def test_tie_passes_without_moving_the_alias():
    decision = decide(0.80, 0.80)
    assert decision.passed and not decision.promote


def test_worse_challenger_fails_unless_within_the_tolerance():
    assert not decide(0.79, 0.80).passed
    tolerated = decide(0.79, 0.80, tolerance=0.02)
    assert tolerated.passed and not tolerated.promote


def test_a_champion_that_can_no_longer_be_served_gives_way_to_a_challenger_within_tolerance():
    from retention_assets.model.champion import keep_servable

    held = decide(0.80, 0.82, tolerance=0.05)
    assert held.passed and not held.promote
    assert keep_servable(held, "3", []) == held
    taken = keep_servable(held, "3", ["age_was_missing"])
    assert taken.promote and "age_was_missing" in taken.reason and "version 3" in taken.reason
    worse = decide(0.70, 0.82, tolerance=0.05)  # beyond the tolerance: the gate still stops it
    assert keep_servable(worse, "3", ["age_was_missing"]) == worse
