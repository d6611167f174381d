"""The resubmission rule against the surge plan's ground truth (python -m loadtest.resubmission_check)."""

from loadtest.resubmission_check import check


def test_the_plans_resubmissions_link_to_their_own_original_or_to_none() -> None:
    outcomes = check(scale=0.01, replay_minutes=15.0, seed=7)
    assert outcomes["resubmissions"] > 100
    # About half come through another channel (another citizen key): the content key must carry them.
    assert outcomes["same_citizen_key"] < 0.7 * outcomes["resubmissions"]
    assert outcomes.get("wrong", 0) == 0 and outcomes.get("other_messages_linked", 0) == 0
    assert outcomes["linked"] >= 0.8 * outcomes["resubmissions"]
