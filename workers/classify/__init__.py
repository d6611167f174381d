"""Offline category / urgency / department prediction over JSON Lines (`python -m workers.classify`)."""
