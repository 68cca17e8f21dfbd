"""`resilience proxy serve` as a subprocess: loads a populate file, serves the API, stops on SIGTERM."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

from proxy_helpers import Api, EchoServer, connect, recv_exactly


def test_serve_loads_config_and_serves(tmp_path: Path, echo: EchoServer) -> None:
    """The server loads --config, answers the API, forwards through the configured proxy, dies of SIGTERM."""
    config = tmp_path / "populate.json"
    config.write_text(json.dumps([{"name": "echo", "upstream": echo.address, "listen": "127.0.0.1:0"}]))
    process = subprocess.Popen(
        [sys.executable, "-m", "chaos.cli", "proxy", "serve", "--port", "0", "--config", str(config), "--seed", "4"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        banner = process.stdout.readline()
        assert "toxiproxy API listening on http://127.0.0.1:" in banner
        port = int(banner.split("http://127.0.0.1:")[1].split()[0])
        api = Api("127.0.0.1", port)
        proxy = api("GET", "/proxies/echo").json()
        with connect(int(proxy["listen"].rsplit(":", 1)[1])) as sock:
            sock.sendall(b"via cli")
            assert recv_exactly(sock, 7) == b"via cli"
        assert api("GET", "/version").status == 200
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == -signal.SIGTERM


def test_config_that_cannot_bind_exits_2(tmp_path: Path) -> None:
    """A config whose listen address cannot be bound exits 2 with one line naming the config."""
    config = tmp_path / "populate.json"
    config.write_text(json.dumps([{"name": "bad", "upstream": "127.0.0.1:1", "listen": "nohost.invalid:x:1"}]))
    result = subprocess.run(
        [sys.executable, "-m", "chaos.cli", "proxy", "serve", "--port", "0", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "--config" in lines[0]
    assert "too many colons" in lines[0]


def test_serve_forward_runs_a_forward_proxy_with_its_allow_list(echo: EchoServer) -> None:
    """--forward adds the proxy 'forward' (upstream "connect"), with --allow's patterns; it tunnels CONNECT."""
    command = [sys.executable, "-m", "chaos.cli", "proxy", "serve", "--port", "0", "--forward", "127.0.0.1:0"]
    command += ["--allow", "pypi.org:443", "--allow", "*.hf.co:443"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        port = int(process.stdout.readline().split("http://127.0.0.1:")[1].split()[0])
        banner = process.stdout.readline()
        assert banner.startswith("forward proxy 'forward' listening on http://127.0.0.1:")
        forward_port = int(banner.split("HTTPS_PROXY=http://127.0.0.1:")[1].rstrip(")\n"))
        api = Api("127.0.0.1", port)
        assert api("GET", "/proxies/forward").json()["upstream"] == "connect"
        assert api("GET", "/proxies/forward/forward").json()["allow"] == ["pypi.org:443", "*.hf.co:443"]
        with connect(forward_port) as sock:
            sock.sendall(f"CONNECT {echo.address} HTTP/1.1\r\n\r\nvia forward".encode())
            assert recv_exactly(sock, 50) == b"HTTP/1.1 200 Connection established\r\n\r\nvia forward"
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == -signal.SIGTERM
