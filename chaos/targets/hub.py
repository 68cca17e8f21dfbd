"""A local Hugging Face compatible hub that real ``huggingface_hub`` downloads from.

>>> from chaos.targets import HubServer, HubSpec, model_repo
>>> spec = HubSpec(repos=(model_repo("acme/wan-mini", shards=2, shard_size_bytes=100_000),), seed=7)
>>> with HubServer(spec) as hub:  # doctest: +SKIP
...     os.environ.update(hub.client_env())  # HF_ENDPOINT etc.: set before huggingface_hub is imported
...     from huggingface_hub import hf_hub_download
...     path = hf_hub_download("acme/wan-mini", "config.json")
...     assert Path(path).read_bytes() == hub.file("acme/wan-mini", "config.json").read_bytes()

Serves the routes of :mod:`chaos.targets._hub_handler` from one port, and with ``cdn=True`` redirects LFS
files (302) to a second "CDN" port, as the real Hub does. A mirror is a second server over the same repos:
``hub.mirror()``. Binds 127.0.0.1 on a free port unless told otherwise.
"""

from __future__ import annotations

import shutil
import tempfile
import threading
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING

from chaos.errors import TargetError
from chaos.targets.hub_state import HubState, PlannedFailure, RequestRecord
from chaos.targets.repos import GeneratedFile, GeneratedHub, generate_repos
from chaos.targets.spec import HubSpec

if TYPE_CHECKING:
    from chaos.targets._hub_handler import HubHTTPServer

__all__ = ["HubServer"]


class HubServer:
    """A running local hub (and optional CDN) over the repos of a spec; a context manager.

    ``spec`` is a :class:`HubSpec` or a TOML path; ``root`` is where repos are generated (a temporary folder,
    removed on close, when None). ``cdn=True`` answers LFS resolves with a 302 to a second port;
    ``cdn_url`` overrides the redirect base (e.g. a proxy in front of the CDN port). ``token`` makes the hub
    (not the CDN) answer 401 ``GatedRepo`` to every request without ``Authorization: Bearer <token>``.
    """

    def __init__(
        self,
        spec: HubSpec | str | Path,
        *,
        root: str | Path | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        cdn: bool = False,
        cdn_port: int = 0,
        cdn_url: str | None = None,
        tree_page_size: int = 1000,
        generated: GeneratedHub | None = None,
        token: str | None = None,
    ) -> None:
        if not isinstance(spec, HubSpec):
            spec = HubSpec.from_toml(spec)
        if tree_page_size < 1:
            raise TargetError(f"tree_page_size={tree_page_size!r} must be >= 1")
        if token is not None and (not isinstance(token, str) or not token.isprintable() or " " in token or not token):
            raise TargetError("token must be a non-empty printable string without spaces, e.g. 'hf_test'")
        self._own_root = root is None and generated is None
        if generated is None:
            root_path = Path(tempfile.mkdtemp(prefix="chaos-hub-")) if root is None else Path(root)
            try:
                generated = generate_repos(spec, root_path)
            except BaseException:
                if self._own_root:  # a spec that cannot be generated leaves no empty temporary root behind
                    shutil.rmtree(root_path, ignore_errors=True)
                raise
        self.spec = spec
        self.generated = generated
        self.host = host
        self._port = port
        self._cdn = cdn
        self._cdn_port = cdn_port
        self._cdn_url = cdn_url
        self.state = HubState(generated, tree_page_size)
        self.state.required_token = token
        self._servers: list[HubHTTPServer] = []
        self._threads: list[threading.Thread] = []

    # -- lifecycle ------------------------------------------------------------------------------------------------

    def start(self) -> HubServer:
        """Bind and serve in daemon threads; after :meth:`close`, binds the same ports again."""
        if self._servers:
            return self
        from chaos.targets._hub_handler import HubHTTPServer  # http.server costs ~50 ms: load it on first start

        try:
            hub = HubHTTPServer((self.host, self._port), self.state, "hub")
            self._servers.append(hub)
            self._port = hub.server_address[1]
            if self._cdn:
                cdn = HubHTTPServer((self.host, self._cdn_port), self.state, "cdn")
                self._servers.append(cdn)
                self._cdn_port = cdn.server_address[1]
                self.state.cdn_base_url = self._cdn_url or f"http://{self._url_host}:{self._cdn_port}"
        except OSError as error:
            self._shutdown()
            raise TargetError(f"hub cannot listen on {self.host}:{self._port}: {error}; pick another port") from error
        for server in self._servers:
            thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self) -> None:
        """Stop listening and cut open connections, keeping the generated repos (``start()`` serves again)."""
        self._shutdown()

    def close(self) -> None:
        """Stop, and remove the generated repos if this server created their temporary root."""
        self._shutdown()
        if self._own_root:
            shutil.rmtree(self.generated.root, ignore_errors=True)

    def _shutdown(self) -> None:
        serving = bool(self._threads)  # shutdown() waits for serve_forever, so only call it when one runs
        for server in self._servers:
            if serving:
                server.shutdown()
            server.drop_connections()
            server.server_close()
        for thread in self._threads:
            thread.join(timeout=5)
        self._servers, self._threads = [], []

    def __enter__(self) -> HubServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def mirror(self, *, port: int = 0, cdn: bool = False, cdn_port: int = 0, cdn_url: str | None = None) -> HubServer:
        """A second, independent server over the same generated repos (same bytes, same commit shas)."""
        return HubServer(
            self.spec,
            generated=self.generated,
            host=self.host,
            port=port,
            cdn=cdn,
            cdn_port=cdn_port,
            cdn_url=cdn_url,
            tree_page_size=self.state.tree_page_size,
            token=self.state.required_token,
        )

    # -- addresses ------------------------------------------------------------------------------------------------

    @property
    def _url_host(self) -> str:
        return f"[{self.host}]" if ":" in self.host else self.host

    @property
    def port(self) -> int:
        """The hub's port (known once started)."""
        return self._port

    @property
    def url(self) -> str:
        """The endpoint for ``HF_ENDPOINT`` / ``endpoint=``, e.g. ``http://127.0.0.1:40123``."""
        if not self._servers and self._port == 0:
            raise TargetError("the hub is not started; use `with HubServer(...) as hub:` or call start()")
        return f"http://{self._url_host}:{self._port}"

    @property
    def cdn_url(self) -> str | None:
        """Where LFS resolves redirect to, or None without ``cdn=True``."""
        return self.state.cdn_base_url

    def client_env(self, hf_home: str | Path | None = None) -> dict[str, str]:
        """Environment for a huggingface_hub client process: this endpoint, Xet, telemetry and progress bars off."""
        env = {
            "HF_ENDPOINT": self.url,
            "HF_HUB_DISABLE_XET": "1",
            "HF_HUB_DISABLE_TELEMETRY": "1",
            "HF_HUB_DISABLE_PROGRESS_BARS": "1",
        }
        if hf_home is not None:
            env["HF_HOME"] = str(hf_home)
        return env

    # -- what tests check -----------------------------------------------------------------------------------------

    def file(self, repo_id: str, path: str, *, revision: str = "main", repo_type: str = "model") -> GeneratedFile:
        """The generated file (``local_path``, ``size_bytes``, ``sha256``, ``etag``, ``read_bytes()``)."""
        return self.generated.file(repo_id, path, revision=revision, repo_type=repo_type)

    def files(self, repo_id: str, *, revision: str = "main", repo_type: str = "model") -> dict[str, GeneratedFile]:
        """Every file of a repo at a revision, by path."""
        return dict(self.generated.repo(repo_id, revision, repo_type).files)

    def commit(self, repo_id: str, revision: str = "main", repo_type: str = "model") -> str:
        """The 40-hex commit sha a revision resolves to."""
        return self.generated.repo(repo_id, revision, repo_type).commit

    def wait_idle(self, timeout_s: float = 5.0) -> bool:
        """Wait until no reply is in progress (a client may hold all bytes before the server thread counts them)."""
        return self.state.wait_idle(timeout_s)

    def served_bytes(self, repo_id: str, path: str, *, repo_type: str = "model", settle_s: float = 1.0) -> int:
        """Body bytes sent for one file (hub and CDN together, all revisions) since the last reset.

        Waits up to ``settle_s`` for replies in progress, so a count read right after a download is complete.
        """
        self.state.wait_idle(settle_s)
        return self.state.served_bytes(repo_type, repo_id, path)

    def total_served_bytes(self, *, settle_s: float = 1.0) -> int:
        """Body bytes sent for every file since the last reset (waits like :meth:`served_bytes`)."""
        self.state.wait_idle(settle_s)
        return self.state.total_served_bytes()

    @property
    def requests(self) -> list[RequestRecord]:
        """Every request answered since the last reset, oldest first (waits up to 1 s for replies in progress)."""
        self.state.wait_idle(1.0)
        return self.state.records()

    def reset_counters(self) -> None:
        """Zero served-bytes counters and the request log."""
        self.state.reset()

    def corrupt_next(self, repo_id: str, path: str, *, times: int = 1, revision: str = "main") -> None:
        """Serve the next ``times`` bodies of a file with one byte flipped (same size: only a hash check sees it)."""
        self.state.arm_corruption(self.file(repo_id, path, revision=revision), times)

    def fail_next(
        self,
        status: int,
        *,
        times: int = 1,
        path_contains: str = "",
        method: str = "",
        retry_after_s: float | None = None,
    ) -> None:
        """Answer the next ``times`` requests whose path contains ``path_contains`` (and ``method``, if given)
        with ``status`` and no X-Error-Code, e.g. ``hub.fail_next(500, path_contains="/resolve/")``;
        ``retry_after_s`` adds a Retry-After header (for 429/503)."""
        if isinstance(status, bool) or not isinstance(status, int) or not 400 <= status <= 599:
            raise TargetError(f"fail_next status={status!r} must be an HTTP error status in 400..599")
        if times < 1:
            raise TargetError(f"fail_next times={times!r} must be >= 1")
        self.state.arm_failure(PlannedFailure(status, times, path_contains, method.upper(), retry_after_s))

    def throttle(self, bytes_per_s: int | None) -> None:
        """Pace every file body at about ``bytes_per_s`` (None: full speed), e.g. so a kill lands mid-file."""
        if bytes_per_s is not None and (isinstance(bytes_per_s, bool) or bytes_per_s < 1024):
            raise TargetError(f"throttle bytes_per_s={bytes_per_s!r} must be >= 1024, or None for full speed")
        self.state.throttle_bytes_per_s = bytes_per_s
