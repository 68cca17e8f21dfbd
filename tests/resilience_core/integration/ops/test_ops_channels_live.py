"""Alert channels against real servers on loopback: an HTTP receiver whose first POST fails, a real SMTP server
(aiosmtpd, plain and STARTTLS), and a pushgateway-compatible receiver."""

from __future__ import annotations

import contextlib
import json
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from resilience_core.errors import RecoveryFailed
from resilience_core.monitor import MetricsStore, Monitor, Sample, ThresholdRule, make_channel, push
from resilience_core.monitor.store import Alert


class Receiver(ThreadingHTTPServer):
    """Records every request; answers 500 to the first ``fail_first`` of them."""

    daemon_threads = True

    def __init__(self, fail_first: int = 0) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.fail_first = fail_first
        self.requests: list[dict[str, Any]] = []
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Handler(BaseHTTPRequestHandler):
    server: Receiver

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass

    def _record(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        with self.server.lock:
            self.server.requests.append(
                {"method": self.command, "path": self.path, "headers": dict(self.headers), "body": body}
            )
            failing = self.server.fail_first > 0
            self.server.fail_first -= 1
        self.send_response(500 if failing else 200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_POST = do_PUT = _record


@contextlib.contextmanager
def receiver(fail_first: int = 0) -> Iterator[Receiver]:
    server = Receiver(fail_first)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def _alert(level: str = "critical") -> Alert:
    return Alert(
        "a1b2",
        "disk_usage_percent",
        "disk_usage_percent",
        "disk_usage_percent",
        level,
        99.0,
        95.0,
        "disk full",
        {"path": "/data"},
        "host-1",
        time.time(),
        None,
    )


def test_webhook_delivers_the_alert_json_when_the_first_post_fails() -> None:
    """The receiver answers 500 once; the channel's runtime retries and the second POST carries the alert."""
    with receiver(fail_first=1) as server:
        channel = make_channel(
            {
                "name": "slack",
                "type": "webhook",
                "configuration": {
                    "url": server.url + "/hook",
                    "retries": 3,
                    "retry_delay_seconds": 0.05,
                    "headers": {"X-Token": "t"},
                },
            }
        )
        assert channel is not None
        channel.send(_alert())
    assert len(server.requests) == 2
    body = json.loads(server.requests[-1]["body"])
    assert body["alert"]["id"] == "a1b2"
    assert body["alert"]["tags"] == {"path": "/data"}
    assert body["text"].startswith("[CRITICAL]")
    assert server.requests[-1]["headers"]["X-Token"] == "t"
    assert server.requests[0]["body"] == server.requests[1]["body"]


def test_webhook_gives_up_after_its_retries() -> None:
    """A receiver that always fails: send raises RecoveryFailed after 1 + retries POSTs, none more."""
    with receiver(fail_first=100) as server:
        channel = make_channel(
            {
                "name": "w",
                "type": "webhook",
                "configuration": {"url": server.url, "retries": 2, "retry_delay_seconds": 0.01},
            }
        )
        assert channel is not None
        with pytest.raises(RecoveryFailed):
            channel.send(_alert())
    assert len(server.requests) == 3


def test_monitor_delivers_through_a_webhook_that_is_down_at_first(tmp_path: Path) -> None:
    """End to end: a breach raises an alert; the receiver fails every try of the first tick, the next tick delivers."""
    with receiver(fail_first=2) as server:
        channel = make_channel(
            {
                "name": "w",
                "type": "webhook",
                "configuration": {"url": server.url, "retries": 1, "retry_delay_seconds": 0.01},
            }
        )
        assert channel is not None
        now = time.time()
        monitor = Monitor(
            MetricsStore(tmp_path / "m.db"),
            [lambda t: [Sample("disk_usage_percent", 99.0, ts=t)]],
            [ThresholdRule("disk_usage_percent", critical=95)],
            [channel],
        )
        first = monitor.tick(now=now)
        second = monitor.tick(now=now + 1)
    assert len(first.raised) == 1
    assert len(first.failed_deliveries) == 1
    assert second.raised == ()
    assert len(second.delivered) == 1
    ids = [json.loads(r["body"])["alert"]["id"] for r in server.requests]
    assert ids == [first.raised[0].id] * 3


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class _Mailbox:
    def __init__(self) -> None:
        self.envelopes: list[Any] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.envelopes.append(envelope)
        return "250 OK"


@contextlib.contextmanager
def smtp_server(tls: ssl.SSLContext | None = None) -> Iterator[tuple[_Mailbox, int]]:
    from aiosmtpd.controller import Controller

    mailbox = _Mailbox()
    for _ in range(5):  # aiosmtpd needs a fixed port; another process may take the one we picked
        port = _free_port()
        options: dict[str, Any] = {"tls_context": tls, "require_starttls": True} if tls else {}
        controller = Controller(mailbox, hostname="127.0.0.1", port=port, **options)
        try:
            controller.start()
        except (OSError, RuntimeError):
            continue
        break
    else:
        pytest.fail("no free port for the SMTP server after 5 tries")
    try:
        yield mailbox, port
    finally:
        controller.stop()


def test_email_reaches_a_real_smtp_server() -> None:
    """aiosmtpd on loopback receives the alert email: subject, recipients and the alert JSON body."""
    with smtp_server() as (mailbox, port):
        channel = make_channel(
            {
                "name": "email",
                "type": "email",
                "configuration": {
                    "smtp_server": "127.0.0.1",
                    "smtp_port": port,
                    "from_email": "alerts@example.com",
                    "to_emails": ["ops@example.com", "oncall@example.com"],
                    "timeout_seconds": 10,
                },
            }
        )
        assert channel is not None
        channel.send(_alert())
    (envelope,) = mailbox.envelopes
    assert envelope.rcpt_tos == ["ops@example.com", "oncall@example.com"]
    text = envelope.content.decode()
    assert "Subject: [CRITICAL] disk_usage_percent: disk full" in text
    assert "X-Resilience-Alert-Id: a1b2" in text
    assert '"threshold": 95.0' in text


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (openssl), so STARTTLS verifies for real."""
    root = tmp_path_factory.mktemp("tls")
    cert, key = root / "cert.pem", root / "key.pem"
    result = subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            str(key),
            "-out",
            str(cert),
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
        ],
        capture_output=True,
        check=False,
    )
    if result.returncode != 0:
        pytest.skip(f"openssl could not make a test certificate: {result.stderr.decode()[-200:]}")
    return cert, key


def test_email_with_starttls(certificate: tuple[Path, Path]) -> None:
    """A server that requires STARTTLS: the channel upgrades, verifies the certificate, and delivers."""
    cert, key = certificate
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_tls.load_cert_chain(cert, key)
    with smtp_server(server_tls) as (mailbox, port):
        plain = make_channel(
            {
                "name": "plain",
                "type": "email",
                "configuration": {
                    "smtp_server": "127.0.0.1",
                    "smtp_port": port,
                    "from_email": "a@example.com",
                    "to_emails": ["b@example.com"],
                    "retries": 0,
                },
            }
        )
        assert plain is not None
        with pytest.raises(RecoveryFailed):
            plain.send(_alert())  # the server refuses mail before STARTTLS
        secure = make_channel(
            {
                "name": "secure",
                "type": "email",
                "configuration": {
                    "smtp_server": "127.0.0.1",
                    "smtp_port": port,
                    "from_email": "a@example.com",
                    "to_emails": ["b@example.com"],
                    "starttls": True,
                    "tls_ca_file": str(cert),
                },
            }
        )
        assert secure is not None
        secure.send(_alert("warning"))
    (envelope,) = mailbox.envelopes
    assert "[WARNING]" in envelope.content.decode()


def test_pushgateway_push_sends_the_gauges(tmp_path: Path) -> None:
    """push() PUTs the text exposition of the store's newest samples to /metrics/job/<job>."""
    store = MetricsStore(tmp_path / "m.db")
    store.write([Sample("disk_usage_percent", 42.5, "percent", time.time(), {"path": "/data"})])
    with receiver() as server:
        push(store, server.url, job="installer")
    (request,) = server.requests
    assert request["method"] == "PUT"
    assert request["path"] == "/metrics/job/installer"
    assert 'resilience_disk_usage_percent{path="/data"} 42.5' in request["body"].decode()
