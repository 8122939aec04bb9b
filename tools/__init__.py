"""Local tools, never deployed: the vendor sandbox, the service doubles, the local stack, the operator CLI,
benchmarks, the load test.

``./scripts/*`` are the thin entry points users type; each runs ``python -m tools.<package>``.
"""
