"""The project's own client (shared.cloudauth.CloudAuthClient) runs the same flow against the sandbox."""

from __future__ import annotations

import pytest

from tests.sandbox.helpers import AK, SECRET, complete
from tools.sandbox import SandboxServer


@pytest.mark.parametrize("signature_version", ["v3", "v1"])
def test_project_client_initialize_complete_check_result_delete(sandbox: SandboxServer, signature_version: str) -> None:
    from shared.cloudauth import CloudAuthClient, CloudAuthSettings, InitializeRequest

    client = CloudAuthClient(
        CloudAuthSettings(
            endpoint=sandbox.base_url, access_key_id=AK, access_key_secret=SECRET, signature_version=signature_version
        )
    )
    init = client.initialize(
        InitializeRequest(merchant_biz_id="ownclient01", meta_info='{"x":1}', merchant_user_id="u-hash",
                          return_url="https://merchant.example/back", doc_type="000000011")
    )
    assert init.transaction_url.startswith(f"{sandbox.base_url}/verify/")
    complete(sandbox, init.transaction_id, "spoof", spoofTypes=["SCREEN_REMARK"])
    body = client.check_result("ownclient01", init.transaction_id, is_return_image=False)
    assert (body["Result"]["Passed"], body["Result"]["SubCode"]) == ("N", "212")
    deleted = client.delete_verify_result(init.transaction_id, delete_after_query=True)
    assert deleted.delete_result == "Y"
