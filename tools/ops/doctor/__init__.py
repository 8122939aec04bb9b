"""``./scripts/kyc doctor``: does this deployment work? The first command to run after ``s deploy`` (and against
``./scripts/dev``).

It reads the environment the functions read (:mod:`.environment`: the process's, ``--env-file``, or
``--from-s-yaml``) and checks, in this order, one line per finding (``ok`` / ``problem`` with how to fix it /
``skipped`` when what a check needs already failed or does not apply):

1. ``product``, ``vendor.region`` — the product exists in the region (``shared.products``); with the VPC endpoint,
   the functions run in the vendor's region (:mod:`.vendor`);
2. ``storage.*`` — the data directory is writable (local), or the table, bucket (SSE-KMS by default) and queues exist
   (aliyun) (:mod:`.storage`);
3. ``config.<function>`` — each function's ``initialize`` succeeds with its environment (:mod:`.config`);
4. ``vendor.endpoint``, ``vendor.credentials`` — the endpoint resolves and answers TLS (HTTP for a local stand-in);
   a harmless CheckResult shows whether the vendor accepts the credentials, and names the fix when not;
5. ``public-url`` — ``KYC_PUBLIC_URL/callback/…`` reaches result_fetcher (https with the aliyun backend)
   (:mod:`.reach`);
6. ``webhook i/n`` — every subscriber passes the notifier's SSRF guard; nothing is sent.

Every check has a deadline (``--timeout``, 10 s each; :func:`.report.run_bounded`); no check writes anything but a
temporary file in the data directory (and, local backend, the SQLite files a first start creates); nothing printed
holds a secret. Exit status: 0 no problem, 1 at least one problem, 2 bad usage.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from dataclasses import replace
from functools import partial
from pathlib import Path

from shared.config import ConfigError, backend_name
from tools.deployment import S_YAML
from tools.localstack import ResolvedEnv, data_dir, resolve_env, running_stack

from ..common import EXIT_FAILED, EXIT_OK, Context, UsageError, caller_path
from . import config, reach, storage, vendor
from .environment import InputError, Inputs, from_process, from_s_yaml, read_env_file, read_outputs
from .report import Check, Finding, Options, Status, print_findings, register_secrets, run_bounded, skipped, summary

__all__ = ["configure", "run"]

NETWORK_FIX = "something on the way drops the traffic (firewall, proxy, DNS): check from this machine's network"


def configure(parser: argparse.ArgumentParser) -> None:
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--env-file", type=caller_path, metavar="FILE",
                        help="NAME=value lines on top of the environment (e.g. .kyc-data/aliyun-doubles.env, which "
                        "./scripts/dev --aliyun-doubles writes)")
    # const: a Path, which argparse passes as it is (a string const would go through caller_path too)
    source.add_argument("--from-s-yaml", nargs="?", const=S_YAML, type=caller_path, metavar="S_YAML",
                        help="each function's environment as s deploy sets it from the exported variables")
    parser.add_argument("--stack-outputs", type=caller_path, metavar="FILE",
                        help="with --from-s-yaml: the stack's outputs as JSON (an object, or ROS GetStack's Outputs)")
    parser.add_argument("--stack-output", action="append", default=[], metavar="KEY=VALUE",
                        help="with --from-s-yaml: one stack output (repeatable)")
    parser.add_argument("--timeout", type=_seconds, default=10.0, metavar="SECONDS",
                        help="deadline of each check (default 10)")
    parser.add_argument("--json", action="store_true", help="one JSON object per finding")


def _seconds(value: str) -> float:
    try:
        seconds = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError("must be a number of seconds") from None
    if not 0.1 <= seconds <= 300:
        raise argparse.ArgumentTypeError("must be between 0.1 and 300 seconds")
    return seconds


def run(args: argparse.Namespace, ctx: Context, options: Options | None = None) -> int:
    options = options or Options(timeout=args.timeout)
    inputs = _inputs(args, ctx)
    if not inputs.from_s_yaml and running_stack(data_dir(inputs.env)) is None:
        options = replace(options, no_local_stack=True)
    register_secrets(inputs.env)
    for environment in inputs.functions.values():
        register_secrets(environment)
    backend = backend_name(inputs.env)
    if not args.json:
        ctx.stdout.write(f"kyc doctor: {inputs.source}; backend {backend}; every check answers within "
                         f"{options.timeout:g} s\n")
    findings: list[Finding] = []

    def report(found: Sequence[Finding]) -> list[Finding]:
        print_findings(found, ctx.stdout, as_json=args.json)
        ctx.stdout.flush()
        findings.extend(found)
        return list(found)

    def bounded(name: str, check: Check, on_timeout: str = NETWORK_FIX) -> list[Finding]:
        return report(run_bounded(name, check, options.timeout, on_timeout=on_timeout))

    report(inputs.notes)
    env = inputs.env
    bounded("product", partial(vendor.check_products, env))
    bounded("vendor.region", partial(vendor.check_region, env, inputs.fc_region))
    for name, check in _storage_checks(inputs, options):
        bounded(name, check)
    for function in inputs.functions:
        bounded(f"config.{function}",
                partial(config.check_initialize, function, inputs.functions[function], inputs.missing_outputs),
                on_timeout="the function's start itself takes this long: report it")
    endpoint = bounded("vendor.endpoint", partial(vendor.check_endpoint, env, options))
    if any(f.status is Status.PROBLEM for f in endpoint):
        report([skipped("vendor.credentials", "the endpoint does not answer (see vendor.endpoint)")])
    else:
        bounded("vendor.credentials", partial(vendor.check_credentials, env, options, from_s_yaml=inputs.from_s_yaml))
    bounded("public-url", partial(reach.check_public_url, env, options))
    for item in reach.webhook_checks(env, options):
        if isinstance(item, Finding):
            report([item])
        else:
            bounded(*item, on_timeout="check this machine's DNS resolver")
    if not args.json:
        ctx.stdout.write(summary(findings) + "\n")
    return EXIT_FAILED if any(f.status is Status.PROBLEM for f in findings) else EXIT_OK


def _inputs(args: argparse.Namespace, ctx: Context) -> Inputs:
    if (args.stack_outputs is not None or args.stack_output) and args.from_s_yaml is None:
        raise UsageError("--stack-outputs and --stack-output go with --from-s-yaml")
    try:
        if args.from_s_yaml is not None:
            outputs = read_outputs(args.stack_outputs, args.stack_output)
            # What s deploy reads: your shell, never a running ./scripts/dev's settings (a secret you forgot to
            # export would be checked as the local stack's and pass).
            shell = ctx.env.given if isinstance(ctx.env, ResolvedEnv) else ctx.env
            return from_s_yaml(shell, outputs, Path(args.from_s_yaml))
        env = ctx.env
        if args.env_file is not None:
            # The file first, then the local stack for what both leave out: a file that chooses the aliyun backend
            # (a deployment's variables) takes nothing from a running ./scripts/dev (tools.localstack.resolve_env).
            given = env.given if isinstance(env, ResolvedEnv) else env
            env = resolve_env({**given, **read_env_file(args.env_file)}, ctx.note)
        source = "the process environment"
        if isinstance(env, ResolvedEnv) and (env.stack is not None or args.env_file is None):
            source = env.describe()  # the running stack's settings, or that none runs
        if args.env_file is not None:
            source += f" with {args.env_file}"
        return from_process(env, None, source)
    except InputError as exc:
        raise UsageError(str(exc)) from None


def _storage_checks(inputs: Inputs, options: Options) -> list[tuple[str, Check]]:
    settings = storage.storage_settings(inputs.env)
    if isinstance(settings, ConfigError):
        return [("storage", _constant(skipped("storage", f"not configured ({settings.variable}; see config)")))]
    if settings.backend == "local":
        return [("storage.data-dir", partial(storage.check_data_dir, settings))]
    checks: list[tuple[str, Check]] = [
        ("storage.table", partial(storage.check_table, settings, options)),
        ("storage.bucket", partial(storage.check_bucket, settings, options)),
    ]
    for queue in storage.QUEUE_VARIABLES:
        checks.append((f"storage.queue.{queue}", partial(storage.check_queue, settings, options, queue)))
    return checks


def _constant(finding: Finding) -> Callable[[], Finding]:
    return lambda: finding
