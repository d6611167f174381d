"""The offline alert check: a surge day's burst raises an incident alert at its pace, a normal day none."""

from loadtest.alert_check import check


def test_the_burst_raises_a_growth_alert_and_a_normal_day_none() -> None:
    surge = check("surge-day", 0.005, 12345)  # 60 burst reports within the burst's half hour
    normal = check("normal-day", 0.005, 12345)
    assert surge["incident_growth_alerts"] >= 1
    assert surge["incident_growth_by_hour"] and set(surge["incident_growth_by_hour"]) <= {19, 20}
    assert normal["incident_growth_alerts"] == 0
