"""``python -m tools.doubles.mns [--port N] [--queue NAME]... [--visibility-timeout S]``: run the MNS double.

Keys from the environment (see ``tools.doubles._cli``); prints one JSON ready line with the endpoint.
"""

from __future__ import annotations

import argparse
import sys

from tools.doubles._cli import add_listen_arguments, key_arguments, serve
from tools.doubles.mns.queues import QueueAttributes
from tools.doubles.mns.server import DEFAULT_ACCOUNT_ID, DEFAULT_REGION, MnsDouble


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tools.doubles.mns", description="MNS wire-level double (dev only)."
    )
    add_listen_arguments(parser)
    parser.add_argument("--queue", action="append", default=[], help="a queue to create (repeatable)")
    parser.add_argument("--visibility-timeout", type=int, default=60, help="the queues' VisibilityTimeout (s)")
    parser.add_argument("--polling-wait-seconds", type=int, default=0, help="the queues' PollingWaitSeconds")
    parser.add_argument("--account-id", default=DEFAULT_ACCOUNT_ID)
    parser.add_argument("--region", default=DEFAULT_REGION)
    args = parser.parse_args(argv)
    # template.yml's queues: 7 days retention, 64 KB messages, no queue-level delay
    attributes = QueueAttributes(
        visibility_timeout=args.visibility_timeout,
        maximum_message_size=65_536,
        message_retention_period=604_800,
        delay_seconds=0,
        polling_wait_seconds=args.polling_wait_seconds,
    )
    double = MnsDouble(
        **key_arguments(),
        queues={name: attributes for name in args.queue},
        account_id=args.account_id,
        region=args.region,
        host=args.host,
        port=args.port,
        seed=args.seed,
        verbose=args.verbose,
    )
    return serve(double, args, {"queues": args.queue, "accountId": double.account_id, "region": double.region})


if __name__ == "__main__":
    sys.exit(main())
