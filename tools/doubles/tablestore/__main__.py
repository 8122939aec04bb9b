"""``python -m tools.doubles.tablestore [--port N] [--instance NAME] [--region R] [--index-lag S|manual]``.

Runs the Tablestore double in the foreground. Keys come from the environment (``tools.doubles._cli``); the ready
line (JSON on stdout) carries the endpoint and the instance name.
"""

from __future__ import annotations

import argparse
import sys

from tools.doubles._cli import add_listen_arguments, key_arguments, serve
from tools.doubles.tablestore.indexes import IndexLag
from tools.doubles.tablestore.server import DEFAULT_INSTANCE, TablestoreDouble


def _lag(text: str) -> IndexLag:
    if text == "manual":
        return IndexLag(manual=True)
    try:
        seconds = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError("a number of seconds or 'manual'") from None
    if not 0 <= seconds <= 3600:
        raise argparse.ArgumentTypeError("between 0 and 3600 seconds")
    return IndexLag(seconds=seconds)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tools.doubles.tablestore", description="Tablestore wire-level double (dev only)."
    )
    add_listen_arguments(parser)
    parser.add_argument("--instance", default=DEFAULT_INSTANCE, help="the instance name requests must carry")
    parser.add_argument("--region", default=None, help="the region V4 signatures must use (default: any)")
    parser.add_argument(
        "--index-lag", type=_lag, default=IndexLag(), help="global-index lag: seconds, or 'manual' (default 0)"
    )
    args = parser.parse_args(argv)
    double = TablestoreDouble(
        **key_arguments(),
        instance=args.instance,
        region=args.region,
        index_lag=args.index_lag,
        host=args.host,
        port=args.port,
        seed=args.seed,
        verbose=args.verbose,
    )
    return serve(double, args, {"instance": double.instance})


if __name__ == "__main__":
    sys.exit(main())
