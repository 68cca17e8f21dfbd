"""``resilience init``: write a commented starter scenario file (``chaos.toml``) for an install command.

::

    resilience init --command "hf download acme/tiny-model --local-dir {workdir}/model"
    resilience init --command "./install.sh" --out ci/chaos.toml --force
"""

from __future__ import annotations

import argparse
import pathlib
import tempfile
from typing import Any

__all__ = ["register"]


def register(subparsers: Any) -> None:
    """Add ``init`` to the ``resilience`` parser."""
    init = subparsers.add_parser("init", help="write a starter scenario file (chaos.toml) for an install command")
    init.add_argument("--command", help="the install command, as you would type it (default: sh install.sh)")
    init.add_argument("--out", default="chaos.toml", help="file to write (default: chaos.toml)")
    init.add_argument("--force", action="store_true", help="overwrite an existing file")
    init.set_defaults(func=_init)


def _init(args: argparse.Namespace) -> int:
    from chaos.errors import ChaosError
    from chaos.scenario import is_scenario_file, load_scenario
    from chaos.scenario.starter import starter_text
    from resilience_core.state.atomic import atomic_write

    out = pathlib.Path(args.out)
    if not is_scenario_file(out):
        raise ChaosError(
            f"--out={args.out!r} is not named chaos*.toml, so no run would collect it; fix: --out chaos.toml"
        )
    if out.exists() and not args.force:
        raise ChaosError(f"--out={args.out!r} exists; fix: pass --force to overwrite it, or another --out")
    if not out.parent.is_dir():
        raise ChaosError(f"--out={args.out!r}: {str(out.parent)!r} is not a directory; fix: create it first")
    text = starter_text(args.command, out_name=out.name)
    with tempfile.TemporaryDirectory(prefix="chaos-init-") as scratch:
        draft = pathlib.Path(scratch, out.name)
        draft.write_text(text, encoding="utf-8")
        load_scenario(draft)  # the starter must load before it is written: a bad command is its one line
    atomic_write(out, text)
    print(f"wrote {out}: edit [hub] to serve what your installer fetches, then run: resilience run {out}")
    return 0
