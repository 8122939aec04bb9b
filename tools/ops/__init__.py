"""Operator tools (never deployed): ``python -m tools.ops.kyc`` / ``./scripts/kyc``."""
