"""``python -m tools.doubles.oss [--port N] [--bucket B]... [--region R]``: run the OSS double in the foreground.

Keys from the environment (see ``tools.doubles._cli``); prints one JSON ready line with the endpoint.
"""

from __future__ import annotations

import argparse
import sys

from tools.doubles._cli import add_listen_arguments, key_arguments, serve
from tools.doubles.oss.server import DEFAULT_KMS_KEY_ID, DEFAULT_REGION, OssDouble


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tools.doubles.oss", description="OSS wire-level double (dev only)."
    )
    add_listen_arguments(parser)
    parser.add_argument("--bucket", action="append", default=[], help="a bucket to serve (repeatable)")
    parser.add_argument("--region", default=DEFAULT_REGION, help="the region requests must be signed for")
    parser.add_argument("--kms-key-id", default=DEFAULT_KMS_KEY_ID, help="the KMS key id reported for SSE-KMS")
    parser.add_argument(
        "--allow-unencrypted", action="store_true", help="accept uploads without SSE-KMS (default: refuse them)"
    )
    args = parser.parse_args(argv)
    double = OssDouble(
        **key_arguments(),
        bucket=args.bucket or ["kyc-bucket"],
        region=args.region,
        require_kms=not args.allow_unencrypted,
        kms_key_id=args.kms_key_id,
        host=args.host,
        port=args.port,
        seed=args.seed,
        verbose=args.verbose,
    )
    return serve(double, args, {"buckets": list(double.buckets), "region": double.region})


if __name__ == "__main__":
    sys.exit(main())
