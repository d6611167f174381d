"""The composition root: wires the gateway (app) and the worker (workers) into one process for the embedded
default. `app` and `workers` never import each other; only this package imports both."""
