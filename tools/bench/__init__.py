"""Benchmarks of the functions against references measured in the same run (``./scripts/bench``).

Every judged figure is a ratio to a reference measured in the same run (machines are noisy); absolute times are
shown, never judged. See ``docs/performance.md``.
"""
