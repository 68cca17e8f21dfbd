"""A local package index: pypiserver, in-process, over wheels generated from an :class:`IndexSpec`.

>>> with PackageIndex(root=tmp_path) as index:  # doctest: +SKIP
...     subprocess.run([sys.executable, "-m", "pip", "install", "--index-url", index.url, "wan-app"])

pypiserver is the ``index`` extra; it is imported when the index starts, never at import time.
"""

from __future__ import annotations

import shutil
import tempfile
import threading
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from chaos.errors import TargetError
from chaos.targets.wheels import IndexSpec, PackageSpec, build_wheels

if TYPE_CHECKING:
    from wsgiref.simple_server import WSGIServer

__all__ = ["DEFAULT_PACKAGES", "IndexRequest", "PackageIndex"]

#: What an index serves when given no spec: a small app with a chain of dependencies and two utils versions.
DEFAULT_PACKAGES = IndexSpec(
    packages=(
        PackageSpec("wan-app", "1.0.0", requires=("wan-core>=1.0", "wan-utils>=0.2")),
        PackageSpec("wan-core", "1.0.0", requires=("wan-utils>=0.1",), size_bytes=64_000),
        PackageSpec("wan-utils", "0.1.0"),
        PackageSpec("wan-utils", "0.2.0"),
    ),
    source="<default packages>",
)

_WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


@dataclass(frozen=True, slots=True)
class IndexRequest:
    """One request the index answered."""

    method: str
    path: str
    status: int


class PackageIndex:
    """A running pypiserver over the wheels of ``spec``; a context manager. ``url`` ends in ``/simple/``."""

    def __init__(
        self,
        spec: IndexSpec | str | Path | None = None,
        *,
        root: str | Path | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        if spec is None:
            spec = DEFAULT_PACKAGES
        elif not isinstance(spec, IndexSpec):
            spec = IndexSpec.from_toml(spec)
        self.spec = spec
        self._own_root = root is None
        self.root = Path(tempfile.mkdtemp(prefix="chaos-index-")) if root is None else Path(root)
        self.wheels = build_wheels(spec, self.root / "packages")
        self.host = host
        self._port = port
        self._server: WSGIServer | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._requests: list[IndexRequest] = []

    def start(self) -> PackageIndex:
        """Build the pypiserver app and serve it in a daemon thread."""
        if self._server is not None:
            return self
        from chaos.targets._wsgi import make_threading_server  # wsgiref costs ~50 ms: load it on first start

        with warnings.catch_warnings():
            # pypiserver's vendored bottle imports the stdlib cgi module, deprecated since 3.11; not our users' concern
            warnings.filterwarnings("ignore", message=".*'cgi' is deprecated", category=DeprecationWarning)
            try:
                import pypiserver
            except ImportError as error:
                raise TargetError(
                    "the package index needs pypiserver: pip install 'resilience-chaos[index]'"
                ) from error
            app = pypiserver.app(roots=[self.packages_dir], disable_fallback=True)
        try:
            server = make_threading_server(self.host, self._port, self._counting(app))
        except OSError as error:
            raise TargetError(f"index cannot listen on {self.host}:{self._port}: {error}; pick another port") from error
        self._server = server
        self._port = server.server_port
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def _counting(self, app: _WSGIApp) -> _WSGIApp:
        def wrapped(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
            def recording_start(status: str, headers: list[tuple[str, str]], *exc: Any) -> Any:
                record = IndexRequest(environ.get("REQUEST_METHOD", ""), environ.get("PATH_INFO", ""), int(status[:3]))
                with self._lock:
                    self._requests.append(record)
                return start_response(status, headers, *exc)

            return app(environ, recording_start)

        return wrapped

    def stop(self) -> None:
        """Stop serving (the wheels stay; ``start()`` serves again on the same port)."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server, self._thread = None, None

    def close(self) -> None:
        """Stop, and remove the wheels if this index created their temporary root."""
        self.stop()
        if self._own_root:
            shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> PackageIndex:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    @property
    def packages_dir(self) -> Path:
        """Where the wheels lie (pypiserver's root)."""
        return self.root / "packages"

    @property
    def port(self) -> int:
        """The bound port (known once started)."""
        return self._port

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT`` (pypiserver also serves ``/packages/`` and ``/health`` under it)."""
        if self._server is None and self._port == 0:
            raise TargetError("the index is not started; use `with PackageIndex(...) as index:` or call start()")
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self._port}"

    @property
    def url(self) -> str:
        """The simple index URL for ``pip install --index-url``."""
        return f"{self.base_url}/simple/"

    def wheel(self, name: str, version: str) -> Path:
        """The built wheel of one package version."""
        try:
            return self.wheels[(name, version)]
        except KeyError:
            raise TargetError(f"the index has no {name} {version}; it has {sorted(self.wheels)}") from None

    @property
    def requests(self) -> list[IndexRequest]:
        """Every request answered so far, oldest first."""
        with self._lock:
            return list(self._requests)
