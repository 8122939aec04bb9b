"""Load test of the whole local stack under injected faults: ``./scripts/loadtest`` (``python -m tools.loadtest``)."""
