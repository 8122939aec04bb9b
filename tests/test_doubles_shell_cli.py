"""Found by review aj: `./scripts/kyc sweep` in the second shell `./scripts/dev --aliyun-doubles` tells the
operator to open (its banner: "operator CLI ... in a shell of its own: . <data dir>/aliyun-doubles.env")."""

from __future__ import annotations

import io
import os

from tests.test_kyc_doctor import doubles_stack
from tools.devstack.aliyun import ENV_FILE
from tools.devstack.dev import DevStack
from tools.ops import kyc
from tools.ops.doctor.environment import read_env_file

__all__ = ["doubles_stack"]  # the fixture


def _sourced_shell(stack: DevStack) -> dict[str, str]:
    """A fresh shell that did what the banner says: ``. <data dir>/aliyun-doubles.env``."""
    fresh = {k: v for k, v in os.environ.items() if not k.startswith(("KYC_", "CLOUDAUTH_", "ALIBABA_CLOUD_"))}
    return {**fresh, **read_env_file(stack.data_dir / ENV_FILE)}


def test_kyc_sweep_in_a_shell_that_sourced_the_doubles_env_file_sweeps_the_stack(doubles_stack: DevStack) -> None:
    """The file holds KYC_BACKEND=aliyun, the sandbox's endpoint and key, and no KYC_DELETE_VENDOR_COPY (the local
    stack's behaviour, N, is the code's default and so never written). Such a shell takes nothing from the stack
    file (its own vendor), so `_check_deployment_settings` sees "a deployment" and refuses, telling the operator to set
    s.yaml's Y: the opposite of what the stack's own sweeper runs with."""
    out, err = io.StringIO(), io.StringIO()
    code = kyc.main(["sweep"], env=_sourced_shell(doubles_stack), stdout=out, stderr=err, stdin=io.StringIO())

    assert code == 0, err.getvalue()
