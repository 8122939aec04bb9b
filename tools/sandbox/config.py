"""Sandbox configuration: a frozen dataclass, readable from ``SANDBOX_*`` environment variables."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from tools.credentials import SANDBOX_KEY
from tools.sandbox import catalog

OCR_INFO_MODES = ("object", "string", "mixed")
DEFAULT_PORT = 9100


@dataclass(frozen=True)
class SandboxConfig:
    host: str = "127.0.0.1"
    port: int = 0  # 0: let the OS choose (tests); the CLI defaults to ${KYC_SANDBOX_PORT:-9100}
    access_key_id: str = SANDBOX_KEY.access_key_id
    access_key_secret: str = field(default=SANDBOX_KEY.access_key_secret, repr=False)
    # STS tokens accepted with the key above; any other token is rejected (InvalidSecurityToken.Malformed).
    security_tokens: frozenset[str] = field(default_factory=frozenset, repr=False)
    qps: float = 10.0  # per operation, sliding one-second window
    qps_per_operation: Mapping[str, float] = field(default_factory=dict)
    allow_http_loopback_callbacks: bool = True
    callback_timeout: float = 5.0  # seconds, every callback request
    image_bytes: int = 150_000  # size of each placeholder JPEG (the vendor's are 100 KB - 2 MB)
    ocr_info_as: str = "mixed"  # ocrIdInfo as a JSON "object", a nested JSON "string", or "mixed" per transaction
    public_base_url: str | None = None  # base of TransactionUrl; default: http://<Host header of Initialize>
    timestamp_skew: float = 900.0  # seconds; InvalidTimeStamp.Expired beyond
    nonce_ttl: float = 900.0  # seconds a SignatureNonce is remembered
    delete_success_code: str = "200"  # the docs show Code "200" for DeleteVerifyResult
    seed: int | None = None  # makes fault injection deterministic
    # The vendor region the sandbox plays: products and document types it does not offer are refused.
    region: str = catalog.HONG_KONG
    clock: Callable[[], float] = field(default=time.time, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.ocr_info_as not in OCR_INFO_MODES:
            raise ValueError(f"ocr_info_as must be one of {', '.join(OCR_INFO_MODES)}")
        if self.image_bytes < 1024:
            raise ValueError("image_bytes must be at least 1024")
        if self.qps <= 0:
            raise ValueError("qps must be positive")
        if self.region not in catalog.REGIONS:
            raise ValueError(f"region must be one of {', '.join(sorted(catalog.REGIONS))}")

    def qps_for(self, operation: str) -> float:
        return float(self.qps_per_operation.get(operation, self.qps))

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: object) -> SandboxConfig:
        """Read ``SANDBOX_*`` variables; keyword ``overrides`` win (the CLI's --host/--port). The region is
        ``SANDBOX_REGION``, else the functions' ``CLOUDAUTH_REGION`` (so that ``./scripts/dev`` plays the region
        the functions are configured for), else China (Hong Kong)."""
        env = os.environ if env is None else env

        def get(name: str) -> str | None:
            value = (env.get(name) or "").strip()
            return value or None

        kwargs: dict[str, object] = {}
        if (v := get("SANDBOX_ACCESS_KEY_ID")) is not None:
            kwargs["access_key_id"] = v
        if (v := get("SANDBOX_ACCESS_KEY_SECRET")) is not None:
            kwargs["access_key_secret"] = v
        if (v := get("SANDBOX_SECURITY_TOKENS")) is not None:
            kwargs["security_tokens"] = frozenset(t.strip() for t in v.split(",") if t.strip())
        if (v := get("SANDBOX_QPS")) is not None:
            kwargs["qps"] = float(v)
        if (v := get("SANDBOX_IMAGE_BYTES")) is not None:
            kwargs["image_bytes"] = int(v)
        if (v := get("SANDBOX_OCR_INFO_AS")) is not None:
            kwargs["ocr_info_as"] = v
        if (v := get("SANDBOX_PUBLIC_URL")) is not None:
            kwargs["public_base_url"] = v.rstrip("/")
        if (v := get("SANDBOX_CALLBACK_TIMEOUT")) is not None:
            kwargs["callback_timeout"] = float(v)
        if (v := get("SANDBOX_SEED")) is not None:
            kwargs["seed"] = int(v)
        if (v := get("SANDBOX_REGION") or get("CLOUDAUTH_REGION")) is not None:
            kwargs["region"] = v
        if (v := get("SANDBOX_ALLOW_HTTP_LOOPBACK_CALLBACKS")) is not None:
            kwargs["allow_http_loopback_callbacks"] = v.lower() in {"1", "true", "yes", "y", "on"}
        kwargs.update(overrides)
        return cls(**kwargs)  # type: ignore[arg-type]
