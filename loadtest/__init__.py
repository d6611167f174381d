"""The surge-day simulator: realistic open-loop load on the gateway, trusted latency, proof nothing was lost.

`python -m loadtest --help` for the command line; docs/loadtest.md for the method and the report.
"""
