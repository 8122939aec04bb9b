"""Operator CLI for cloudauth-intl: ``./scripts/kyc <command> ...`` (``python -m tools.ops.kyc``).

Configuration comes from the same environment variables as the functions (``CLOUDAUTH_*``,
``ALIBABA_CLOUD_ACCESS_KEY_ID``/``_SECRET``/``_SECURITY_TOKEN``, ``KYC_USER_ID_PEPPER``, ``KYC_BACKEND`` and its
variables). Next to a running ``./scripts/dev`` (either backend), every command completes what is not set from that
stack's file (:mod:`tools.localstack`: every variable its functions run with), and says once whose settings it uses,
or that no stack runs.

Exit codes: 0 success, 2 bad usage / validation / configuration, 1 vendor or transport errors, 141 the reader of
the output went away (``kyc list | head -1``), 130 interrupted. Times are RFC 3339 in UTC.
Add a command by writing ``configure`` and ``run`` functions and registering them in :data:`COMMANDS`.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import io
import os
import secrets
import sys
import traceback
from collections import ChainMap
from collections.abc import Callable, Mapping, MutableMapping, Sequence
from pathlib import Path
from typing import Any, NoReturn, TextIO, cast

from shared.cloudauth import CloudAuthClient, CloudAuthError, ParameterError
from shared.cloudauth.errors import TransportError
from shared.config import ConfigError
from shared.redaction import scrub_text
from shared.storage import StorageError
from tools.deployment import DeploymentError
from tools.localstack import no_stack_hint, resolve_env, write_private
from tools.serving import interruptible

from . import console, dlq, doctor, invoke, tables, transactions
from .common import (
    EXIT_OK,
    EXIT_USAGE,
    EXIT_VENDOR,
    Command,
    Context,
    OpsError,
    UsageError,
    caller_path,
    check_user,
    merchant_biz_id_arg,
    user_id_hash,
)

#: ``kyc list | head -1``: the reader went away (128 + SIGPIPE, what a shell reports for a killed writer).
EXIT_PIPE_CLOSED = 141
EXIT_INTERRUPTED = 130

__all__ = ["COMMANDS", "EXIT_OK", "EXIT_USAGE", "EXIT_VENDOR", "Command", "Context", "UsageError", "main"]

# --- check-result ------------------------------------------------------------------------------------------


def configure_check_result(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--merchant-biz-id", required=True, type=merchant_biz_id_arg)  # also names image files
    parser.add_argument("--transaction-id", required=True)
    parser.add_argument("--doc-type", type=doc_type_arg,
                        help="DocType given at Initialize (else guessed from the OCR fields)")
    parser.add_argument("--images", action="store_true", help="ask for images and write them to --images-dir")
    parser.add_argument("--images-dir", default="kyc-images", type=caller_path)


def doc_type_arg(value: str) -> str:
    """A document type of either of the vendor's tables (:mod:`shared.doctypes`): it picks how the OCR fields are
    read, so a typo would print an identity read as another document's."""
    from shared.doctypes import document_name  # noqa: PLC0415

    if document_name(value) is None:
        raise argparse.ArgumentTypeError(f"{value[:40]!r} is no document type of the vendor's tables (e.g. 01000000, a "
                                         "passport for eKYC; GLB03002 for eKYC_PRO; GET /verifications/products "
                                         "lists each product's)")
    return value


_EXTENSIONS = {"image/jpeg": ".jpg", "image/png": ".png", "image/gif": ".gif", "image/webp": ".webp"}


def run_check_result(args: argparse.Namespace, ctx: Context) -> int:
    from shared.results import ResultParseError, parse_check_result  # noqa: PLC0415

    if args.images:  # before the vendor is asked: a directory that cannot be written is the operator's to fix
        try:
            Path(args.images_dir).mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError as exc:
            raise UsageError(f"--images-dir {args.images_dir}: cannot be made ({exc.strerror})") from None
    body = ctx.client().check_result(args.merchant_biz_id, args.transaction_id, is_return_image=args.images)
    try:
        result = parse_check_result(body, doc_type=args.doc_type)
    except ResultParseError as exc:
        raise CloudAuthError(str(exc), code="ResultParseError") from None
    summary = result.summary()
    for unknown in ("docType", "productCode"):  # not in the vendor's answer, and not given: left out, never null
        if summary.get(unknown) is None:
            summary.pop(unknown, None)
    if summary.get("identity"):
        ctx.note("the answer holds the person's identity in clear: keep it out of tickets, chats and logs")
    if args.images:
        summary["images"] = write_images(result.images, Path(args.images_dir), args.merchant_biz_id, ctx)
    ctx.print_json(summary)
    return EXIT_OK


def write_images(images: Any, directory: Path, prefix: str, ctx: Context) -> list[str]:
    """Write each returned image (owner-only permissions: these are identity documents); return the paths."""
    from shared.results import ImageDecodeError  # noqa: PLC0415

    paths: list[str] = []
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    for image in images:
        try:
            data = image.data
        except ImageDecodeError:
            ctx.note(f"image {image.name} could not be decoded; skipped")
            continue
        path = directory / f"{prefix}-{image.name}{_EXTENSIONS.get(image.content_type, '.bin')}"
        try:
            write_private(path, data)
        except OSError as exc:  # a local failure after the vendor answered: never reported as a connection's
            raise OpsError(f"image {path} could not be written ({exc.strerror or type(exc).__name__}); written "
                           f"before it: {len(paths)}", "ImageNotWritten") from None
        paths.append(str(path))
    if not paths:
        ctx.note("the vendor returned no images")
    return paths


# --- initialize --------------------------------------------------------------------------------------------


def configure_initialize(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--user", required=True, help="the merchant's user id, as a frontend token's sub (stored and "
                        "sent to the vendor only as its peppered hash, as the initializer does)")
    parser.add_argument("--doc-type", help="e.g. 01000000 (passport); leave out for a product that verifies no "
                        "document (productCode=FACE_LIVENESS_PRO)")
    parser.add_argument("--meta-info", required=True, help="MetaInfo from the vendor's web SDK; @file or - for stdin")
    parser.add_argument("--return-url", help="where the browser returns (default: the first KYC_RETURN_URL_ALLOWLIST "
                        "entry); must be in KYC_RETURN_URL_ALLOWLIST")
    parser.add_argument("--field", action="append", default=[], metavar="name=value",
                        help="any other field of POST /verifications (openapi.yaml), e.g. languageConfig=en (not a "
                             "switch that decides how strict the check is: those are KYC_VENDOR_SWITCHES's)")


def _read_meta_info(value: str) -> str:
    if value == "-":
        return sys.stdin.read().strip()
    if value.startswith("@"):
        try:
            return caller_path(value[1:]).read_text(encoding="utf-8").strip()
        except OSError:
            raise UsageError(f"--meta-info file cannot be read ({caller_path(value[1:])})") from None
        except UnicodeDecodeError:
            raise UsageError("--meta-info file is not UTF-8 text") from None
    return value


def parse_fields(items: Sequence[str]) -> dict[str, str]:
    fields: dict[str, str] = {}
    for item in items:
        name, sep, value = item.partition("=")
        name = name.strip()
        if not sep or not name:
            raise UsageError("--field must be name=value")
        if name in fields:
            raise UsageError(f"--field {name} is given twice")
        fields[name] = value
    return fields


def run_initialize(args: argparse.Namespace, ctx: Context) -> int:
    """``POST /verifications`` without the HTTP hop: the initializer's own service (:class:`Verifications`) with
    its settings, so the row is stored, the rate limit applies and the user id is hashed with the same pepper."""
    from shared.handlers.initializer import STATUS_BY_CODE  # noqa: PLC0415
    from shared.verifications import Refused  # noqa: PLC0415
    from shared.wiring import build_verifications  # noqa: PLC0415

    check_user(args.user)  # before anything is opened
    body: dict[str, Any] = {**parse_fields(args.field), "metaInfo": _read_meta_info(args.meta_info)}
    if args.doc_type:
        body["docType"] = args.doc_type
    if args.return_url:
        body["returnUrl"] = args.return_url
    # The initializer's settings need KYC_JWT_SECRET to check frontend tokens; this command checks none: without
    # one, a throwaway secret that nothing is ever signed or checked with stands in (review bu).
    env: Mapping[str, str] = ctx.env
    if not env.get("KYC_JWT_SECRET"):  # ChainMap writes to its first map only: the environment is only read
        env = ChainMap({"KYC_JWT_SECRET": secrets.token_urlsafe(32)}, cast("MutableMapping[str, str]", env))
    service = build_verifications(env, client=ctx.client(), stores=ctx.stores(create=True))
    user_hash = user_id_hash(args.user, service.settings.user_id_pepper)
    try:
        started = service.start(user_hash, body)
    except Refused as refusal:
        if STATUS_BY_CODE.get(refusal.code, 500) < 429:
            raise UsageError(refusal.message, refusal.code) from None
        raise OpsError(refusal.message, refusal.code) from None
    ctx.print_json(started.view())
    return EXIT_OK


COMMANDS: dict[str, Command] = {
    "check-result": Command("fetch and summarise a verification result", configure_check_result, run_check_result),
    "initialize": Command(
        "start a verification as POST /verifications does (stored PENDING row, rate limit, hashed user id) and print"
        " its transactionUrl",
        configure_initialize,
        run_initialize,
    ),
    "status": Command("show one transaction (identity masked)", transactions.configure_status, transactions.run_status),
    "list": Command(
        "list transactions (JSON lines, creation order)", transactions.configure_list, transactions.run_list
    ),
    "refetch": Command(
        "fetch a pending transaction's result now (as the callback would)",
        transactions.configure_refetch,
        transactions.run_refetch,
    ),
    "sweep": Command("run the sweeper once and print its report", transactions.configure_sweep, transactions.run_sweep),
    "setup-tables": Command(
        "create or check the Tablestore tables and indexes (aliyun backend)",
        tables.configure_setup_tables,
        tables.run_setup_tables,
    ),
    "erase": Command(
        "erase a user's verifications: vendor copy (DeleteVerifyResult), result objects, rows;"
        " asks for confirmation (--yes when not at a terminal)",
        transactions.configure_erase,
        transactions.run_erase,
    ),
    "dlq": Command("dead letters: list | redrive | purge (purge asks for confirmation)", dlq.configure, dlq.run),
    "console": Command(
        "the operator console: a local web page (127.0.0.1) with counts, pass rate, failures, times to result,"
        " stuck and dead-lettered verifications",
        console.configure,
        console.run,
    ),
    "invoke": Command("invoke a function with an event file: FC 3.0's InvokeFunction (FC 2.0 with --service)",
                      invoke.configure, invoke.run),
    "doctor": Command("check a deployment (or ./scripts/dev): product and region, storage, each function's start, "
                      "the vendor's endpoint and credentials, KYC_PUBLIC_URL, webhooks; exit 1 on any problem",
                      doctor.configure, doctor.run),
}


class _BadUsage(Exception):
    def __init__(self, usage: str, message: str) -> None:
        super().__init__(message)
        self.usage = usage


class _Parser(argparse.ArgumentParser):
    """argparse's refusals in the shape of every other error of the tool (docs/operations.md): the usage of the
    command concerned, then ``error: InvalidUsage: <message>``; exit 2 (:func:`main`). Subcommands' parsers are of
    this class too (``add_subparsers`` makes them of the parent's)."""

    def error(self, message: str) -> NoReturn:
        raise _BadUsage(self.format_usage(), message)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="kyc", description="Operator tools for cloudauth-intl (eKYC).")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, command in COMMANDS.items():
        command.configure(sub.add_parser(name, help=command.help, description=command.help))
    return parser


def main(
    argv: Sequence[str] | None = None,
    *,
    env: Mapping[str, str] | None = None,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
    client_factory: Callable[[Mapping[str, str]], CloudAuthClient] | None = None,
    stdin: TextIO | None = None,
) -> int:
    answer_stream = stdout or sys.stdout
    ctx = Context(
        env=os.environ if env is None else env,
        stdout=cast(TextIO, _Answer(answer_stream)),  # writes and flushes: all a command does with it
        stderr=stderr or sys.stderr,
        client_factory=client_factory,
        stdin=stdin if stdin is not None else sys.stdin,
    )
    # Every command finds the local stack's settings the same way (tools.localstack); set variables always win.
    ctx.env = resolve_env(ctx.env, ctx.note)
    undecodable = _undecodable_argument(sys.argv[1:] if argv is None else argv)
    if undecodable is not None:
        ctx.stderr.write(f"error: InvalidUsage: argument {undecodable} is not valid UTF-8\n")
        return EXIT_USAGE
    try:
        args = build_parser().parse_args(argv)
    except _BadUsage as exc:
        ctx.stderr.write(f"{exc.usage}error: InvalidUsage: {exc}\n")
        return EXIT_USAGE
    except SystemExit as exc:  # --help: argparse printed it
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE

    def fail(code: str, message: str, status: int, *, stack_may_help: bool = False) -> int:
        hint = no_stack_hint(ctx.env) if stack_may_help else None
        if hint:  # a setting or a server missing, where a running ./scripts/dev would have given it: said first
            ctx.note(hint)
        # A vendor's or a server's message is theirs: it may echo a key, a token or a secret we sent (as log lines)
        ctx.stderr.write(f"error: {code}: {scrub_text(message)}\n")
        return status

    try:
        # The functions' JSON log lines go to stdout; here stdout is the command's answer, so logs go to stderr.
        with contextlib.redirect_stdout(ctx.stderr):
            status = COMMANDS[args.command].run(args, ctx)
            ctx.stdout.flush()  # a reader that went away shows up here, not as a traceback at exit
            return status
    except BrokenPipeError:
        return _reader_gone(ctx)
    except KeyboardInterrupt:
        ctx.stderr.write("interrupted\n")
        return EXIT_INTERRUPTED
    except UsageError as exc:
        return fail(exc.code, str(exc), EXIT_USAGE)
    except ConfigError as exc:
        return fail("ConfigError", str(exc), EXIT_USAGE, stack_may_help=True)
    except ParameterError as exc:
        return fail(exc.code, exc.message, EXIT_USAGE)
    except CloudAuthError as exc:
        return fail(exc.code, exc.message, EXIT_VENDOR, stack_may_help=isinstance(exc, TransportError))
    except OpsError as exc:
        return fail(exc.code, str(exc), EXIT_VENDOR)
    except StorageError as exc:
        return fail(exc.code or "StorageError", str(exc), EXIT_VENDOR, stack_may_help=True)
    except DeploymentError as exc:  # s.yaml or template.yml, read by invoke and the doctor
        return fail("InvalidDeployment", str(exc), EXIT_USAGE)
    except _AnswerNotWritten as exc:
        if answer_stream is sys.stdout:
            _discard_stdout()
        return fail("OutputFailed", str(exc), EXIT_VENDOR)
    except OSError as exc:  # a connection the adapters did not wrap: one line, never a traceback
        return fail("TransportError", f"a connection failed ({type(exc).__name__})", EXIT_VENDOR,
                    stack_may_help=True)
    except Exception as exc:  # a defect: its traceback may quote a key or a person's data, so only on request
        if ctx.env.get("KYC_DEBUG") == "1":
            traceback.print_exc(file=ctx.stderr)
        return fail("Unexpected", f"{type(exc).__name__} in {args.command}: a defect of this tool; run again with "
                                  "KYC_DEBUG=1 to see where (its traceback may show secrets or personal data)",
                    EXIT_VENDOR)
    finally:
        if ctx._client is not None:
            ctx._client.close()


def _reader_gone(ctx: Context) -> int:
    """The reader closed the pipe (``kyc list | head -1``): stop quietly, as ``cat`` does, with 128 + SIGPIPE."""
    if isinstance(ctx.stdout, _Answer) and ctx.stdout.stream is sys.stdout:
        _discard_stdout()
    return EXIT_PIPE_CLOSED


def _discard_stdout() -> None:
    """Point the process's stdout at /dev/null: what is still buffered for a closed pipe or a full disk is thrown
    away, so that the interpreter's final flush does not print a second error."""
    with contextlib.suppress(OSError, ValueError, AttributeError):  # AttributeError: no stdout at all
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())


def _undecodable_argument(argv: Sequence[str]) -> int | None:
    """The position (from 1) of the first argument that is not valid UTF-8 (Python keeps its bytes as lone
    surrogates, which fail later, deep inside a command, after a vendor call or a rate-limit slot), else None."""
    for position, argument in enumerate(argv, start=1):
        try:
            argument.encode("utf-8")
        except UnicodeEncodeError:
            return position
    return None


class _AnswerNotWritten(Exception):
    """The command's answer could not be written to its output (a full disk, a closed descriptor)."""


class _Answer(io.TextIOBase):
    """The command's output: a failed write is :class:`_AnswerNotWritten`, not taken for a failed connection
    (both are ``OSError``); a reader that went away stays ``BrokenPipeError`` (:func:`_reader_gone`)."""

    def __init__(self, stream: TextIO) -> None:
        super().__init__()
        self.stream = stream

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        try:
            return self.stream.write(text)
        except BrokenPipeError:
            raise
        except (OSError, ValueError, AttributeError) as exc:  # ValueError: closed; AttributeError: no stdout at all
            raise _AnswerNotWritten(_output_failure(exc)) from None

    def flush(self) -> None:
        try:
            self.stream.flush()
        except BrokenPipeError:
            raise
        except (OSError, ValueError, AttributeError) as exc:
            raise _AnswerNotWritten(_output_failure(exc)) from None


def _output_failure(exc: Exception) -> str:
    if isinstance(exc, UnicodeEncodeError):  # a ValueError too, but the output is open
        return f"the output's encoding ({exc.encoding}) cannot hold the answer: set PYTHONIOENCODING=utf-8"
    reason = errno.errorcode.get(exc.errno or 0, type(exc).__name__) if isinstance(exc, OSError) else "closed"
    return f"the answer could not be written to the output ({reason})"


if __name__ == "__main__":
    interruptible()  # a Ctrl-C / SIGINT stops any command, also one started as a script's background job
    raise SystemExit(main())
