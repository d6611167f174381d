"""`python -m loadtest.bench` (`make bench`): every stage's throughput measured side by side in one run."""
