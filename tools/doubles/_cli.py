"""What every double's CLI shares: listen options, the keys from the environment, the ready line, signals.

Keys come from the environment only (never flags): ``ALIBABA_CLOUD_ACCESS_KEY_ID``,
``ALIBABA_CLOUD_ACCESS_KEY_SECRET`` and, for an STS key, ``ALIBABA_CLOUD_SECURITY_TOKEN`` (read by
:mod:`tools.credentials`) — the variables the functions read in FC, so a local stack hands the doubles and the
functions the same environment.

Once listening, the CLI prints one JSON line on stdout (``{"service", "endpoint", "control", ...}``) so a
launcher can read the endpoint (with ``--port 0``: any free port), then serves until SIGINT/SIGTERM.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Mapping
from dataclasses import asdict
from typing import Any

from shared.config import ConfigError
from tools.credentials import KEY_ID_VARIABLE, SECRET_VARIABLE, key_from_env
from tools.doubles._server import CONTROL_PREFIX, DoubleServer
from tools.serving import stop_requested


def add_listen_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="listen address (default loopback)")
    parser.add_argument("--port", type=int, default=0, help="listen port (default 0: any free port)")
    parser.add_argument("--seed", type=int, default=None, help="seed for fault-injection rates")
    parser.add_argument("--faults", default=None, help="a fault plan (JSON) to start with")
    parser.add_argument("-v", "--verbose", action="store_true", help="log each request's method and path")


def key_arguments(environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The environment's key as a double's keyword arguments (``access_key_id``, ``access_key_secret``,
    ``security_token``); exits naming the variables when there is none."""
    try:
        key = key_from_env(os.environ if environ is None else environ)
    except ConfigError as exc:
        raise SystemExit(str(exc)) from None
    if key is None:
        raise SystemExit(f"set {KEY_ID_VARIABLE} and {SECRET_VARIABLE} (the key the double accepts)")
    return asdict(key)


def serve(double: DoubleServer, args: argparse.Namespace, extra: Mapping[str, Any] | None = None) -> int:
    """Apply ``--faults``, listen, print the ready line, serve until a signal; returns the exit status."""
    if args.faults:
        try:
            double.set_faults(json.loads(args.faults))
        except ValueError as exc:  # FaultPlanError is a ValueError, so is a JSON error
            print(f"{double.service} double: invalid --faults: {exc}", file=sys.stderr)
            return 2
    stop = stop_requested()  # before the ready line: a launcher may stop the double as soon as it has read it
    try:
        double.start()
    except OSError as exc:
        print(f"{double.service} double: cannot listen on {args.host}:{args.port}: {exc.strerror}", file=sys.stderr)
        return 1
    ready = {"service": double.service, "endpoint": double.endpoint, "control": double.base_url + CONTROL_PREFIX}
    ready.update(extra or {})
    print(json.dumps(ready, sort_keys=True), flush=True)
    stop.wait()
    double.stop()
    return 0
