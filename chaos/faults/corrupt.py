"""``file.corrupt``: damage real files in place, the way the field damages model weights and configs.

Every mode writes real bytes at an offset drawn from the trial's seeded ``ctx.rng``, so a replay damages the
same bytes. What is damaged (file, mode, offset, length, size and sha256 before and after) is recorded with
``ctx.note("file.corrupt", ...)``; the damage stays after the block on purpose: repairing it is the job of
the installer under test. ``verify_reverted`` only proves the fault itself left nothing behind (no watcher
thread, no temporary file).

When the damage happens (``when``):

- ``"before"``: on entering the block, to files that already exist (a corrupted cache met by the next run);
- ``"after"``: on leaving the block, also when it raised (damage found by a later verify or load);
- ``"during"``: a background watcher damages the first file that reaches ``at_bytes`` bytes while the step
  writes it (a bad sector or a torn write mid-download).

>>> fault = CorruptFile(root="/models", glob="**/*.safetensors", mode="bitflip", when="after")
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import pathlib
import random
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from chaos.errors import FaultParamError
from chaos.fault import Fault, FaultContext, FaultRegistry, Param
from chaos.hookspecs import hookimpl

__all__ = ["MODES", "CorruptFile", "Corruption", "chaos_add_faults", "corrupt_file"]

MODES = (
    "bitflip",
    "truncate",
    "zero_range",
    "append_garbage",
    "bad_json",
    "bad_safetensors_header",
    "html_instead",
    "lfs_pointer",
    "empty",
    "delete",
)

_HTML_PAGE = (
    b"<!DOCTYPE html>\n<html><head><title>502 Bad Gateway</title></head>\n"
    b"<body><h1>502 Bad Gateway</h1><p>The proxy could not reach the upstream server.</p></body></html>\n"
)
_POLL_S = 0.002  # the "during" watcher's poll period: fine enough to land inside a 10 MiB download chunk


@dataclass(frozen=True, slots=True)
class Corruption:
    """What one corruption changed: enough to reproduce it and to check a repair."""

    path: str
    mode: str
    offset: int
    length: int
    size_before: int
    size_after: int
    sha256_before: str
    sha256_after: str

    def as_note(self) -> dict[str, Any]:
        """The JSON-friendly form recorded in the journal."""
        return {
            "path": self.path,
            "mode": self.mode,
            "offset": self.offset,
            "length": self.length,
            "size_before": self.size_before,
            "size_after": self.size_after,
            "sha256_before": self.sha256_before,
            "sha256_after": self.sha256_after,
        }


def _invalid_json(original: bytes, rng: random.Random) -> bytes:
    """A prefix of ``original`` cut at a seeded point plus a tail that keeps it from parsing."""
    cut = rng.randrange(1, len(original)) if len(original) > 1 else 0
    candidate = original[:cut] + b',"'
    for tail in (b"", b"\x00{", b"}]"):
        candidate += tail
        try:
            json.loads(candidate)
        except ValueError:
            return candidate
    return b'{"'  # unreachable in practice: no JSON document ends in `,"\x00{}]`


def _bad_safetensors_header(head: bytes, size: int, rng: random.Random) -> tuple[int, bytes]:
    """Same size, broken header: the length prefix stays, a seeded run inside the JSON header becomes NULs.

    ``head`` is the 8-byte length prefix plus the header. A file too short to carry a header gets a length
    prefix larger than the file instead ("header too large"). Returns (offset, replacement bytes).
    """
    header_len = len(head) - 8
    if header_len >= 2:
        # NUL is accepted by no JSON value or string, so the header can no longer parse.
        start = 8 + rng.randrange(0, header_len - 1)
        return start, b"\x00" * min(16, 8 + header_len - start)
    return 0, (size + (1 << 40)).to_bytes(8, "little")


def _file_sha256(path: pathlib.Path) -> str:
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def _patch(path: pathlib.Path, offset: int, data: bytes, *, truncate_to: int | None = None) -> None:
    # In place (no temp file + rename): the damage lands on the inode a reader or a snapshot symlink points at.
    with path.open("r+b") as handle:
        handle.seek(offset)
        handle.write(data)
        if truncate_to is not None:
            handle.truncate(truncate_to)


def corrupt_file(
    path: pathlib.Path, mode: str, rng: random.Random, *, length_bytes: int = 4096, flips: int = 1
) -> Corruption | None:
    """Damage ``path`` in place with ``mode`` at offsets drawn from ``rng``; None when nothing could change.

    An empty file cannot be bit-flipped, truncated or zeroed: those modes return None (not triggered).
    Large files are patched with seeks, never read whole (only ``bad_json`` reads the file).

    >>> import random, tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "w.bin"; _ = p.write_bytes(bytes(64))
    >>> corrupt_file(p, "truncate", random.Random(1)).size_after < 64
    True
    """
    if mode not in MODES:
        allowed = ", ".join(MODES)
        raise FaultParamError(f"file.corrupt.mode={mode!r} must be one of {allowed}; fix: pick one of them")
    size = path.stat().st_size
    before = _file_sha256(path)
    if mode == "delete":
        path.unlink()
        return Corruption(str(path), mode, 0, size, size, 0, before, "")
    if mode in {"bitflip", "truncate", "zero_range"} and size == 0:
        return None
    offset, length = 0, 0
    if mode == "bitflip":
        bits = sorted(rng.sample(range(size * 8), min(flips, size * 8)))
        with path.open("r+b") as handle:
            for bit in bits:
                handle.seek(bit // 8)
                byte = handle.read(1)[0] ^ (1 << (bit % 8))
                handle.seek(bit // 8)
                handle.write(bytes([byte]))
        offset, length = bits[0] // 8, bits[-1] // 8 - bits[0] // 8 + 1
    elif mode == "truncate":
        offset = rng.randrange(0, size)
        length = size - offset
        os.truncate(path, offset)
    elif mode == "zero_range":
        offset = rng.randrange(0, size)
        length = min(length_bytes, size - offset)
        with path.open("rb") as handle:
            handle.seek(offset)
            current = handle.read(length)
        # Zeroing zeros would change nothing; write 0xFF there instead so the damage is real.
        _patch(path, offset, (b"\xff" if not any(current) else b"\x00") * length)
    elif mode == "append_garbage":
        offset, length = size, length_bytes
        _patch(path, size, rng.randbytes(length_bytes))
    elif mode == "bad_json":
        data = _invalid_json(path.read_bytes(), rng)
        length = len(data)
        _patch(path, 0, data, truncate_to=len(data))
    elif mode == "bad_safetensors_header":
        with path.open("rb") as handle:
            head = handle.read(8)
            header_len = int.from_bytes(head, "little") if len(head) == 8 else 0
            header = handle.read(min(header_len, 1 << 20)) if 2 <= header_len <= size - 8 else b""
        offset, patch = _bad_safetensors_header(head + header, size, rng)
        length = len(patch)
        _patch(path, offset, patch)
    else:
        if mode == "html_instead":
            data = _HTML_PAGE
        elif mode == "lfs_pointer":
            data = f"version https://git-lfs.github.com/spec/v1\noid sha256:{before}\nsize {size}\n".encode()
        else:  # "empty"
            data = b""
        length = max(len(data), size)
        _patch(path, 0, data, truncate_to=len(data))
    return Corruption(str(path), mode, offset, length, size, path.stat().st_size, before, _file_sha256(path))


class CorruptFile(Fault):
    """Corrupt files matching ``glob`` under ``root`` before, during or after the step (see the module doc)."""

    name = "file.corrupt"
    summary = "Damage files in place (bit flips, truncation, HTML/LFS-pointer instead of weights...) at seeded offsets."
    params = (
        Param("mode", str, "bitflip", "how to damage the file", choices=MODES),
        Param("root", str, "", "directory to search; empty: ctx.target['root'] or its first watch_root"),
        Param("glob", str, "**/*", "pattern of files under root (symlinks are followed, each file once)"),
        Param(
            "when",
            str,
            "after",
            "before (on enter), after (on exit) or during (at at_bytes)",
            choices=("before", "after", "during"),
        ),
        Param("at_bytes", int, 1, "during: damage a file once it has grown to this many bytes", minimum=1),
        Param("count", int, 1, "how many matching files to damage (seeded choice)", minimum=1),
        Param("length_bytes", int, 4096, "zero_range / append_garbage: bytes to zero or append", minimum=1),
        Param("flips", int, 1, "bitflip: how many bits to flip", minimum=1),
    )

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self.backend = "in-place"
        self.changes: list[Corruption] = []
        self._watcher: threading.Thread | None = None
        self._stop = threading.Event()

    def _root(self, ctx: FaultContext) -> pathlib.Path:
        root = self.values["root"] or ctx.target.get("root") or next(iter(ctx.target.get("watch_roots") or ()), "")
        if not root:
            raise FaultParamError(
                "file.corrupt.root='' and the scenario gave no target root; fix: pass root='/path/to/files'",
                fault=self.name,
                field="root",
                value="",
            )
        self.values["root"] = str(root)
        return pathlib.Path(root)

    def _matches(self, root: pathlib.Path) -> list[pathlib.Path]:
        seen: set[str] = set()
        found: list[pathlib.Path] = []
        for candidate in sorted(root.glob(self.values["glob"])):
            with contextlib.suppress(OSError):
                real = os.path.realpath(candidate)
                if candidate.is_file() and real not in seen:
                    seen.add(real)
                    found.append(candidate)
        return found

    def _damage(self, ctx: FaultContext, files: list[pathlib.Path]) -> None:
        if not files:
            return
        chosen = ctx.rng.sample(files, min(self.values["count"], len(files)))
        for path in chosen:
            change = corrupt_file(
                path, self.values["mode"], ctx.rng, length_bytes=self.values["length_bytes"], flips=self.values["flips"]
            )
            if change is not None:
                self.changes.append(change)
                self.triggered = True
                ctx.note("file.corrupt", when=self.values["when"], **change.as_note())

    def _watch(self, ctx: FaultContext, root: pathlib.Path) -> None:
        at_bytes = self.values["at_bytes"]
        while not self._stop.is_set():
            grown = []
            for path in self._matches(root) if root.exists() else []:
                with contextlib.suppress(OSError):
                    if path.stat().st_size >= at_bytes:
                        grown.append(path)
            if grown:
                with contextlib.suppress(OSError):  # the writer may rename or delete it under us: try next poll
                    self._damage(ctx, grown)
                if self.triggered:
                    return
            # Real time on purpose: the watcher races real I/O of the step, not the harness clock.
            time.sleep(_POLL_S)

    def arm(self, ctx: FaultContext) -> Iterator[None]:
        """Damage matching files at the chosen moment; the damage is left for the installer to repair."""
        root = self._root(ctx)
        when = self.values["when"]
        if when == "before":
            self._damage(ctx, self._matches(root))
        elif when == "during":
            self._stop.clear()
            self._watcher = threading.Thread(
                target=self._watch, args=(ctx, root), name="chaos-file-corrupt", daemon=True
            )
            self._watcher.start()
        try:
            yield
        finally:
            if self._watcher is not None:
                self._stop.set()
                self._watcher.join(timeout=5.0)
            if when == "after":
                self._damage(ctx, self._matches(root))
            if not self.triggered:
                ctx.note("file.corrupt.not_triggered", root=str(root), glob=self.values["glob"], when=when)

    def verify_reverted(self, ctx: FaultContext) -> list[str]:
        """The damage is the point; residue is only a watcher thread still running."""
        if self._watcher is not None and self._watcher.is_alive():
            return ["file.corrupt: the 'during' watcher thread is still running"]
        return []


@hookimpl(trylast=True)
def chaos_add_faults(registry: FaultRegistry) -> None:
    """Register ``file.corrupt``."""
    registry.register(CorruptFile)
