"""Forward-proxy mode with real clients: curl, requests, httpx, pip and huggingface_hub through HTTPS_PROXY.

Each client runs as its own process with HTTPS_PROXY/HTTP_PROXY pointing at a forward proxy and the generated
CA as its trust store, and fetches from a local TLS server (a TLS front over a plain server, the package index
or the local hub). Untoxic, it gets every byte, and the proxy's byte counter shows the body went through the
tunnel (no client bypassed the proxy for ``localhost``: no NO_PROXY is set). With a ``reset_peer`` toxic whose
``after_bytes`` falls inside the body, each client fails and the toxic's fire counter shows it acted.
"""

from __future__ import annotations

import hashlib
import http.server
import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from tls_helpers import LocalCA, TlsFront

from chaos.proxy import EmbeddedToxiproxy, ProxyHandle
from chaos.targets import HubServer, HubSpec
from chaos.targets.index import PackageIndex
from chaos.targets.wheels import IndexSpec, PackageSpec

pytestmark = pytest.mark.integration

CLIENTS = Path(__file__).with_name("forward_clients.py")
BODY_BYTES = 3_000_000
BODY = hashlib.shake_256(b"forward proxy body").digest(BODY_BYTES)
RESET_AFTER = 300_000  # inside every body below, past every TLS handshake and response head
HUB_REPO = "acme/forward-tiny"
HUB_FILE = "model-00001-of-00001.safetensors"
WHEEL = PackageSpec("forward-demo", "1.0.0", size_bytes=BODY_BYTES)


class _BlobHandler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(BODY)))
        self.end_headers()
        self.wfile.write(BODY)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002  # the stdlib's signature
        pass


class Sites:
    """The local servers: a plain blob server, and TLS fronts over it, the package index and the hub."""

    def __init__(self, folder: Path) -> None:
        self.ca = LocalCA(folder)
        self.blob = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _BlobHandler)
        threading.Thread(target=self.blob.serve_forever, daemon=True).start()
        self.index = PackageIndex(IndexSpec(packages=(WHEEL,)), root=folder / "index").start()
        spec = HubSpec.from_dict(
            {"seed": 7, "repos": [{"repo_id": HUB_REPO, "files": [{"path": HUB_FILE, "size_bytes": BODY_BYTES}]}]}
        )
        self.hub = HubServer(spec, root=folder / "hub").start()
        self.fronts = {
            "blob": TlsFront(self.ca.context, int(self.blob.server_address[1])),
            "index": TlsFront(self.ca.context, self.index.port),
            "hub": TlsFront(self.ca.context, self.hub.port),
        }

    def https(self, site: str, path: str) -> str:
        return f"https://localhost:{self.fronts[site].port}{path}"

    def close(self) -> None:
        for front in self.fronts.values():
            front.close()
        self.hub.close()
        self.index.close()
        self.blob.shutdown()
        self.blob.server_close()


@pytest.fixture(scope="module")
def sites(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sites]:
    local = Sites(tmp_path_factory.mktemp("sites"))
    yield local
    local.close()


@pytest.fixture
def forward() -> Iterator[ProxyHandle]:
    with EmbeddedToxiproxy(seed=3, start_api=False) as server:
        yield server.create_forward_proxy("egress")


def client_env(proxy: ProxyHandle, sites: Sites, tmp_path: Path) -> dict[str, str]:
    """The environment of a CI job pointed at the proxy: proxies set, NO_PROXY empty, the generated CA trusted."""
    drop = {"no_proxy", "http_proxy", "https_proxy", "all_proxy", "hf_hub_offline", "pip_index_url"}
    env = {key: value for key, value in os.environ.items() if key.lower() not in drop}
    ca = str(sites.ca.ca_file)
    env.update(proxy.proxy_env(), SSL_CERT_FILE=ca, REQUESTS_CA_BUNDLE=ca)
    env.update(sites.hub.client_env(tmp_path / "hf"))
    env["HF_ENDPOINT"] = sites.https("hub", "")
    env["PIP_CONFIG_FILE"] = os.devnull
    return env


def fetch(
    client: str, sites: Sites, proxy: ProxyHandle, tmp_path: Path, extra_env: dict[str, str] | None = None
) -> tuple[bool, str, bytes]:
    """Run one download by ``client``; (succeeded, what it said, the bytes it got)."""
    env = {**client_env(proxy, sites, tmp_path), **(extra_env or {})}
    out = tmp_path / "out.bin"
    if client == "curl":
        command = ["curl", "-sS", "-f", "--cacert", str(sites.ca.ca_file), "-o", str(out), sites.https("blob", "/b")]
    elif client == "pip":
        command = [sys.executable, "-m", "pip", "download", "--isolated", "--disable-pip-version-check", "--no-input"]
        command += ["--retries", "0", "--timeout", "30", "--no-cache-dir", "--no-deps", "--cert", str(sites.ca.ca_file)]
        command += ["--index-url", sites.https("index", "/simple/"), "-d", str(tmp_path / "wheels"), WHEEL.name]
        if _pip_resumes():
            command += ["--resume-retries", "0"]
    else:
        target = f"{HUB_REPO}/{HUB_FILE}" if client == "hf" else sites.https("blob", "/b")
        command = [sys.executable, str(CLIENTS), client, target, str(out)]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=180, check=False)
    said = (done.stdout + done.stderr).strip()
    if client == "pip":
        wheels = list((tmp_path / "wheels").glob("*.whl"))
        return done.returncode == 0, said, wheels[0].read_bytes() if wheels else b""
    if client == "curl":
        return done.returncode == 0, said, out.read_bytes() if out.exists() else b""
    result = json.loads(done.stdout.strip().splitlines()[-1]) if done.stdout.strip() else {"error": said}
    return "ok" in result, said, out.read_bytes() if "ok" in result else b""


def _pip_resumes() -> bool:
    from resilience_core.recovery.pip_resume import pip_resume_args

    return bool(pip_resume_args(0))


def expected(client: str, sites: Sites) -> bytes:
    if client == "pip":
        return next(iter(sites.index.wheels.values())).read_bytes()
    if client == "hf":
        return sites.hub.file(HUB_REPO, HUB_FILE).read_bytes()
    return BODY


ALL_CLIENTS = ["curl", "requests", "httpx", "pip", "hf"]


@pytest.mark.parametrize("client", ALL_CLIENTS)
def test_each_client_fetches_through_https_proxy(
    client: str, sites: Sites, forward: ProxyHandle, tmp_path: Path
) -> None:
    """Untoxic: every byte arrives, and at least the body's size crossed the tunnel toward the client."""
    ok, said, got = fetch(client, sites, forward, tmp_path)
    assert ok, said
    want = expected(client, sites)
    assert hashlib.sha256(got).hexdigest() == hashlib.sha256(want).hexdigest()
    assert forward.bytes_downstream > len(want) // 2, "the body did not go through the proxy"


@pytest.mark.parametrize("client", ALL_CLIENTS)
def test_reset_peer_after_bytes_resets_each_client_mid_body(
    client: str, sites: Sites, forward: ProxyHandle, tmp_path: Path
) -> None:
    """reset_peer with after_bytes inside the body: the client fails, and the toxic fired."""
    forward.add_toxic("reset_peer", name="cut", attributes={"after_bytes": RESET_AFTER})
    ok, said, _got = fetch(client, sites, forward, tmp_path)
    assert not ok, f"{client} succeeded through a reset: {said[-500:]}"
    assert forward.fired()["cut"] >= 1
    assert forward.bytes_downstream < len(expected(client, sites)), "the whole body got through"


def test_plain_http_proxy_get_is_forwarded_through_the_toxics(
    sites: Sites, forward: ProxyHandle, tmp_path: Path
) -> None:
    """HTTP_PROXY with an http:// URL: an absolute-form GET, forwarded; then reset mid-body by the toxic."""
    url = f"http://localhost:{sites.blob.server_address[1]}/b"
    env = client_env(forward, sites, tmp_path)
    out = tmp_path / "plain.bin"
    done = subprocess.run(
        [sys.executable, str(CLIENTS), "requests", url, str(out)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert json.loads(done.stdout) == {"ok": BODY_BYTES}, done.stderr
    assert out.read_bytes() == BODY
    assert forward.bytes_downstream > BODY_BYTES // 2
    forward.add_toxic("reset_peer", name="cut", attributes={"after_bytes": RESET_AFTER})
    done = subprocess.run(
        ["curl", "-sS", "-f", "-o", str(out), url], env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode != 0, done.stderr
    assert forward.fired()["cut"] == 1


@pytest.mark.parametrize("rest", [False, True], ids=["embedded", "rest"])
def test_network_faults_act_on_a_forward_proxy_by_its_name(rest: bool, sites: Sites, tmp_path: Path) -> None:
    """network.reset_peer armed on the forward proxy's name resets requests' HTTPS download, then reverts."""
    from chaos.fault import FaultContext
    from chaos.faults.network import NetworkFault

    with EmbeddedToxiproxy(seed=5) as server:
        proxy = server.create_forward_proxy("egress")
        ctx = FaultContext.for_seed(
            4,
            tmp_path,
            proxy=None if rest else server,
            toxiproxy_url=server.url if rest else None,
            target={"proxy_name": "egress"},
        )
        fault = NetworkFault.for_name("network.reset_peer")(after_bytes=RESET_AFTER)
        with fault.inject(ctx):
            ok, said, _got = fetch("requests", sites, proxy, tmp_path)
        assert not ok, said
        assert "ConnectionError" in said or "ChunkedEncodingError" in said, said
        assert fault.triggered
        assert fault.verify_reverted(ctx) == []
        assert proxy.toxics() == []
        ok, said, got = fetch("requests", sites, proxy, tmp_path)
        assert ok, said
        assert got == BODY


@pytest.mark.parametrize("client", ["curl", "requests", "httpx"])
def test_a_no_proxy_naming_localhost_makes_clients_bypass_the_proxy(
    client: str, sites: Sites, forward: ProxyHandle, tmp_path: Path
) -> None:
    """The pitfall the docs warn of: NO_PROXY=localhost (common in CI images) sends the client around the proxy."""
    bypass = {"NO_PROXY": "localhost,127.0.0.1", "no_proxy": "localhost,127.0.0.1"}
    ok, said, got = fetch(client, sites, forward, tmp_path, bypass)
    assert ok, said
    assert got == BODY
    assert forward.bytes_downstream == 0
