"""``python -m tools.sandbox [--host 127.0.0.1] [--port N]``: run the cloudauth-intl sandbox in the foreground."""

from __future__ import annotations

import argparse
import os
import sys

from tools.sandbox.config import DEFAULT_PORT, OCR_INFO_MODES, SandboxConfig
from tools.sandbox.server import SandboxServer
from tools.serving import stop_requested


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="./scripts/sandbox", description="Local cloudauth-intl sandbox (dev only)."
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=int(os.environ.get("KYC_SANDBOX_PORT") or DEFAULT_PORT),
                        help=f"port to listen on (default $KYC_SANDBOX_PORT, else {DEFAULT_PORT})")
    parser.add_argument("--seed", type=int, default=None, help="seed for fault injection")
    parser.add_argument("--qps", type=float, default=None, help="per-operation QPS limit (default 10)")
    parser.add_argument("--image-bytes", type=int, default=None, help="size of each placeholder JPEG")
    parser.add_argument("--ocr-info-as", choices=OCR_INFO_MODES, default=None)
    parser.add_argument("--public-url", default=None, help="base of TransactionUrl (default: the request's Host)")
    parser.add_argument("--region", default=None, help="vendor region to play (default cn-hongkong)")
    parser.add_argument("-q", "--quiet", action="store_true", help="do not log requests")
    args = parser.parse_args(argv)
    overrides: dict[str, object] = {"host": args.host, "port": args.port}
    for key, value in (
        ("seed", args.seed),
        ("qps", args.qps),
        ("image_bytes", args.image_bytes),
        ("ocr_info_as", args.ocr_info_as),
        ("public_base_url", args.public_url),
        ("region", args.region),
    ):
        if value is not None:
            overrides[key] = value
    try:
        config = SandboxConfig.from_env(None, **overrides)
    except (ValueError, TypeError) as exc:
        print(f"sandbox: invalid configuration: {exc}", file=sys.stderr)
        return 2
    server = SandboxServer(config, verbose=not args.quiet)
    try:
        server.start()
    except OSError as exc:
        print(f"sandbox: cannot listen on {args.host}:{args.port}: {exc.strerror}", file=sys.stderr)
        return 1
    stop = stop_requested()
    print(
        f"cloudauth-intl sandbox on {server.base_url} (AccessKeyId {config.access_key_id!r}; "
        f"control API {server.base_url}/_sandbox/)",
        file=sys.stderr,
        flush=True,
    )
    stop.wait()
    server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
