"""The local servers a developer runs (./scripts/dev) and what another web page can make them do.

A page the developer visits can send "simple" cross-site requests to http://127.0.0.1:<port> without a CORS preflight
(``fetch(url, {method: "POST", mode: "no-cors", body: "..."})`` sends ``Content-Type: text/plain`` and an ``Origin``
header), and, through DNS rebinding, read answers from those ports under its own host name (the request then
carries ``Host: <attacker's name>:<port>``). The operator console defends against both (docs/security.md, "another
web page driving the operator console"); the gateway and the sandbox's control API do not.
"""

from __future__ import annotations

import http.client
from collections.abc import Iterator
from email.message import Message
from pathlib import Path
from urllib.parse import urlencode, urlsplit

import pytest

from shared import jsonutil
from shared.signing import Credentials, sign_acs3_request
from tests.sandbox.helpers import AK, SECRET, VERSION, check, complete, init_params, initialize, v3_request
from tests.test_fc_invoke import stack
from tools.devstack.demo import DemoApp
from tools.devstack.dev import DevStack
from tools.devstack.gateway import Gateway, Route
from tools.sandbox import SandboxConfig, SandboxServer

__all__ = ["stack"]  # the fixture

CROSS_SITE = {
    "Origin": "https://attacker.example",
    "Sec-Fetch-Site": "cross-site",
    "Content-Type": "text/plain;charset=UTF-8",
}


def _request(port: int, method: str, target: str, body: bytes = b"", headers: dict[str, str] | None = None,
             host: str | None = None) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.putrequest(method, target, skip_host=host is not None, skip_accept_encoding=True)
        if host is not None:
            conn.putheader("Host", host)
        for name, value in (headers or {}).items():
            conn.putheader(name, value)
        conn.putheader("Content-Length", str(len(body)))
        conn.endheaders(body)
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


@pytest.fixture
def sandbox() -> Iterator[SandboxServer]:
    server = SandboxServer(SandboxConfig(port=0))
    server.start()
    yield server
    server.stop()


@pytest.fixture
def demo_gateway(tmp_path: Path) -> Iterator[Gateway]:
    (tmp_path / "functions").mkdir()
    demo = DemoApp(jwt_secret="j" * 48, webhook_secret="whsec_" + "A" * 32)
    gateway = Gateway(tmp_path / "functions", routes=(), extra_handlers={"/": demo}, port=0).start()
    gateway.demo = demo  # type: ignore[attr-defined]
    yield gateway
    gateway.stop()


# --- the sandbox's control API ------------------------------------------------------------------------------


def test_sandbox_control_api_refuses_a_cross_site_reset(sandbox: SandboxServer) -> None:
    """A page on another site wipes every transaction of the developer's sandbox with one no-cors POST."""
    tid = initialize(sandbox)
    complete(sandbox, tid, "pass")

    status, _ = _request(sandbox.port, "POST", "/_sandbox/reset", b"", CROSS_SITE)

    assert status == 403, f"a cross-site POST /_sandbox/reset was answered {status}"
    assert check(sandbox, tid).body["Code"] == "Success"


def test_sandbox_control_api_refuses_a_cross_site_fault_plan(sandbox: SandboxServer) -> None:
    """A text/plain body is parsed as JSON: another site can make every CheckResult fail (or drop every callback)."""
    plan = {"operations": {"CheckResult": {"errorRates": {"InternalError": 1.0}}}, "callbacks": {"dropRate": 1.0}}

    status, _ = _request(sandbox.port, "POST", "/_sandbox/faults", jsonutil.dumps(plan), CROSS_SITE)

    assert status == 403, f"a cross-site POST /_sandbox/faults was answered {status}"
    tid = initialize(sandbox)
    complete(sandbox, tid, "pass")
    assert check(sandbox, tid).body["Code"] == "Success"


def test_sandbox_answers_only_its_own_host(sandbox: SandboxServer) -> None:
    """DNS rebinding: a page at http://rebind.attacker.example:<port> reads the control API (transactions with their
    merchant user ids, callback URLs and callback tokens in ``parameters``)."""
    initialize(sandbox, CallbackToken="secret-callback-token", CallbackUrl="http://127.0.0.1:1/callback")

    status, body = _request(sandbox.port, "GET", f"/_sandbox/transactions/{_first_id(sandbox)}",
                            host=f"rebind.attacker.example:{sandbox.port}")

    assert status in (400, 403, 421), f"answered {status} to a foreign Host: {body[:200]!r}"


def test_sandbox_control_api_answers_only_on_loopback_not_through_its_tunnel() -> None:
    """SANDBOX_PUBLIC_URL (a tunnel) is for the verification pages a phone opens; through it anyone could complete
    flows, plan faults and read callback tokens, or start flows whose callback the sandbox sends anywhere."""
    server = SandboxServer(SandboxConfig(port=0, public_base_url="https://sandbox.tunnel.example"))
    server.start()
    try:
        answer = v3_request(server, "Initialize", init_params(CallbackToken="secret-callback-token",
                                                             CallbackUrl="http://127.0.0.1:1/callback"))
        page = urlsplit(answer.body["Result"]["TransactionUrl"])
        status, body = _request(server.port, "GET", "/_sandbox/transactions", host="sandbox.tunnel.example")
        assert status == 404 and b"secret-callback-token" not in body
        status, _ = _request(server.port, "POST", "/_sandbox/reset", b"{}", host="sandbox.tunnel.example")
        assert status == 404 and _first_id(server)  # nothing was reset
        status, _ = _request(server.port, "GET", page.path, host=page.netloc)
        assert (page.netloc, status) == ("sandbox.tunnel.example", 200)  # the verification page is served
        # The vendor API too stays on loopback: signed with the sandbox's well-known key, it would call back any
        # address the caller names (review bc).
        params = init_params(CallbackUrl="https://192.168.1.1/admin/reboot")
        signed = sign_acs3_request(credentials=Credentials(AK, SECRET, None), method="POST", host=page.netloc,
                                   action="Initialize", version=VERSION, query=params, body=b"")
        headers = {k: v for k, v in signed.items() if k.lower() != "host"}
        status, _ = _request(server.port, "POST", "/?" + urlencode(params), headers=headers, host=page.netloc)
        assert status == 404
    finally:
        server.stop()


def _first_id(sandbox: SandboxServer) -> str:
    status, body = _request(sandbox.port, "GET", "/_sandbox/transactions")
    assert status == 200
    return str(jsonutil.loads(body)["transactions"][0]["transactionId"])


# --- the gateway (demo merchant) ------------------------------------------------------------------------------


def test_gateway_answers_only_its_own_host(demo_gateway: Gateway) -> None:
    """DNS rebinding: under the attacker's host name the gateway mints a demo JWT for any user id, signed with the
    stack's KYC_JWT_SECRET, which then reads and starts verifications through /verifications."""
    status, body = _request(demo_gateway.port, "GET", "/demo/token?user=someone-else",
                            host=f"rebind.attacker.example:{demo_gateway.port}")

    assert status in (400, 403, 421), f"answered {status} to a foreign Host: {body[:80]!r}"



# --- the rule both servers follow (tools.serving) -------------------------------------------------------------


@pytest.mark.parametrize("host", ["127.0.0.1:9000", "localhost:9000", "LOCALHOST:9000", "[::1]:9000",
                                  "abc.tunnel.example"])  # fmt: skip
def test_a_loopback_server_answers_its_own_names_and_its_tunnels(host: str) -> None:
    from tools.serving import answers_host, host_of

    assert answers_host(host, "127.0.0.1", 9000, also=[host_of("https://abc.tunnel.example/")])


@pytest.mark.parametrize("host", ["rebind.attacker.example:9000", "127.0.0.1:9001", "", None])
def test_a_loopback_server_refuses_any_other_name(host: str | None) -> None:
    from tools.serving import answers_host

    assert not answers_host(host, "127.0.0.1", 9000)


def test_a_server_exposed_on_purpose_answers_any_name() -> None:
    from tools.serving import answers_host

    assert answers_host("192.168.1.20:9000", "0.0.0.0", 9000)


TUNNEL = "abc.tunnel.example"


@pytest.fixture
def tunnelled_gateway(tmp_path: Path) -> Iterator[Gateway]:
    """./scripts/dev with KYC_PUBLIC_URL a tunnel (README, "Against the real vendor"): one function routed at
    /callback, the demo app at "/" (tools/devstack/dev.py)."""
    function = tmp_path / "functions" / "echo"
    function.mkdir(parents=True)
    (function / "index.py").write_text(
        "def handler(event, context):\n    return {'statusCode': 200, 'body': 'from the function'}\n"
    )
    demo = DemoApp(jwt_secret="j" * 48, webhook_secret="whsec_" + "A" * 32)
    gateway = Gateway(tmp_path / "functions", routes=(Route("/callback", "echo"),), extra_handlers={"/": demo},
                      port=0, public_url=f"https://{TUNNEL}").start()  # fmt: skip
    yield gateway
    gateway.stop()


def test_the_gateway_serves_a_functions_route_through_its_tunnel(tunnelled_gateway: Gateway) -> None:
    status, body = _request(tunnelled_gateway.port, "GET", "/callback/x?callbackToken=t", host=TUNNEL)

    assert (status, body) == (200, b"from the function")


@pytest.mark.parametrize("target", ["/demo/token?user=someone-else", "/demo/webhooks", "/", "/2023-03-30/functions",
                                    "/2016-08-15/proxy"])
def test_the_gateway_serves_the_demo_app_and_the_fc_apis_only_on_loopback_not_through_its_tunnel(
    tunnelled_gateway: Gateway, target: str
) -> None:
    """Anyone on the internet reaches the tunnel: through it the demo app would mint a JWT for any user id (billed
    Initialize calls on the developer's real account, one rate limit per minted user) and list the webhooks it
    received."""
    status, body = _request(tunnelled_gateway.port, "GET", target, host=TUNNEL)

    assert status == 404, f"{target} answered {status} through the tunnel: {body[:80]!r}"
    assert jsonutil.loads(body)["error"]["code"] == "NotFound"


def test_the_gateway_still_serves_the_demo_app_on_loopback_when_it_has_a_tunnel(tunnelled_gateway: Gateway) -> None:
    status, body = _request(tunnelled_gateway.port, "GET", "/demo/token?user=me",
                            host=f"127.0.0.1:{tunnelled_gateway.port}")

    assert status == 200 and "token" in jsonutil.loads(body)


def _headers(**named: str) -> Message:
    headers = Message()
    for name, value in named.items():
        headers[name.replace("_", "-")] = value
    return headers


def test_a_public_url_on_loopback_is_not_a_tunnel() -> None:
    """The local default, KYC_PUBLIC_URL=http://127.0.0.1:9000: the developer's own names are never "the tunnel"."""
    from tools.serving import host_of, through_tunnel

    assert not through_tunnel(_headers(Host="127.0.0.1:9000"), "127.0.0.1", 9000,
                              also=[host_of("http://127.0.0.1:9000")])  # fmt: skip
    assert through_tunnel(_headers(Host=f"{TUNNEL}:443"), "127.0.0.1", 9000, also=[host_of(f"https://{TUNNEL}")])


@pytest.mark.parametrize("proxy_header", ["X-Forwarded-For", "X-Forwarded-Host", "Forwarded", "X-Real-IP", "Via",
                                          "X-Forwarded-Proto"])
def test_a_request_a_proxy_forwarded_came_through_a_tunnel_whatever_its_host(proxy_header: str) -> None:
    """A tunnel that rewrites Host to the local address (ngrok --host-header=rewrite, cloudflared's httpHostHeader)
    still adds the forwarding headers."""
    from tools.serving import through_tunnel

    assert through_tunnel(_headers(Host="127.0.0.1:9000", **{proxy_header: "203.0.113.9"}), "127.0.0.1", 9000)


def test_the_gateway_serves_only_the_functions_to_a_tunnel_that_rewrites_the_host(tunnelled_gateway: Gateway) -> None:
    forwarded = {"X-Forwarded-Host": TUNNEL, "X-Forwarded-For": "203.0.113.9", "X-Forwarded-Proto": "https"}
    local = f"127.0.0.1:{tunnelled_gateway.port}"

    assert _request(tunnelled_gateway.port, "GET", "/demo/token?user=someone-else", headers=forwarded,
                    host=local)[0] == 404  # fmt: skip
    assert _request(tunnelled_gateway.port, "GET", "/callback/x", headers=forwarded, host=local)[0] == 200


@pytest.mark.parametrize(
    ("host_header", "port", "public_url"),
    [
        ("127.0.0.1", 80, None),  # ./scripts/dev --port 80: curl leaves the default port out of Host
        ("localhost", 80, None),
        ("abc.tunnel.example", 9000, "https://abc.tunnel.example:443"),  # a tunnel written with its default port
        ("abc.tunnel.example:443", 9000, "https://abc.tunnel.example"),  # a client that writes it
        ("abc.tunnel.example:80", 9000, "http://abc.tunnel.example"),
    ],
)
def test_a_host_with_or_without_its_default_port_is_the_same_host(
    host_header: str, port: int, public_url: str | None
) -> None:
    from tools.serving import answers_host, host_of

    also = [h for h in [host_of(public_url)] if h]
    assert answers_host(host_header, "127.0.0.1", port, also=also)


def test_the_demo_page_opened_at_localhost_can_start_a_verification(stack: DevStack) -> None:
    """The gateway answers at localhost as at 127.0.0.1, so the demo page's returnUrl (location.origin + "/") and
    its origin are allowed under either name."""
    import http.client

    assert stack.gateway is not None
    port = stack.gateway.port
    body = {"docType": "01000000", "metaInfo": "{}", "returnUrl": f"http://localhost:{port}/"}
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("POST", "/verifications", body=jsonutil.dumps(body),
                 headers={"Host": f"localhost:{port}", "Origin": f"http://localhost:{port}",
                          "Authorization": f"Bearer {stack.demo_token()}", "Content-Type": "application/json"})
    response = conn.getresponse()
    answer = response.read()
    conn.close()
    assert response.status == 201, answer
    assert response.getheader("access-control-allow-origin") == f"http://localhost:{port}"


# --- the icon a browser asks for -----------------------------------------------------------------------------


def test_the_sandbox_answers_a_browser_s_icon_request_with_no_content(sandbox: SandboxServer) -> None:
    """Every page load asks for /favicon.ico: a 404 there shows as an error in the developer's console."""
    assert _request(sandbox.port, "GET", "/favicon.ico") == (204, b"")


def test_the_gateway_answers_a_browser_s_icon_request_with_no_content(demo_gateway: Gateway) -> None:
    """Before the demo's catch-all route, which answers 404 to a path it does not serve."""
    assert _request(demo_gateway.port, "GET", "/favicon.ico") == (204, b"")
    assert _request(demo_gateway.port, "GET", "/no-such-page")[0] == 404
