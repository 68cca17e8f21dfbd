"""``resilience config template KIND``: a commented TOML template (reliability, monitoring, flags, catalog).

::

    resilience config template reliability --output reliability_config.toml
    resilience config template all --dir templates/
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

__all__ = ["register"]


def register(subparsers: Any) -> None:
    """Add ``config`` to the ``resilience`` parser."""
    config = subparsers.add_parser("config", help="configuration templates")
    actions = config.add_subparsers(dest="config_command", required=True, metavar="ACTION")
    template = actions.add_parser("template", help="write a commented template")
    template.add_argument("kind", choices=("reliability", "monitoring", "flags", "catalog", "all"))
    template.add_argument("--output", default=None, help="file to write (default: stdout)")
    template.add_argument("--dir", default=None, help="with 'all': folder for every template")
    template.set_defaults(func=_template)


_FILE_OF = {
    "reliability": "reliability_config.toml",
    "monitoring": "monitoring.toml",
    "flags": "feature_flags.toml",
    "catalog": "catalog.toml",
}


def _template(args: argparse.Namespace) -> int:
    from resilience_core.errors import ConfigError
    from resilience_core.state.atomic import atomic_write
    from resilience_core.templates import TEMPLATE_KINDS, template

    if args.kind == "all":
        if not args.dir:
            raise ConfigError(
                "template all writes one file per kind; fix: pass --dir FOLDER",
                field="dir",
                value=None,
                source="argument",
                allowed="a folder",
            )
        for kind in TEMPLATE_KINDS:
            path = atomic_write(Path(args.dir) / _FILE_OF[kind], template(kind))
            print(f"wrote {path}")
        return 0
    text = template(args.kind)
    if args.output:
        print(f"wrote {atomic_write(args.output, text)}")
    else:
        print(text, end="")
    return 0
