"""Urgency shared by gateway and workers: the situation catalogue, its phrase matcher, the gateway screen."""
