"""Operator tools (never deployed): ``python -m ops.kyc`` / ``./scripts/kyc``."""
