"""Building and measuring the urgency model (the run-time model is workers/judgement/urgency/model.py)."""
