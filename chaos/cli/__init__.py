"""The ``resilience`` console script, one module per command (facade only).

``python -m chaos.cli`` runs it too.
"""

from __future__ import annotations

from chaos.cli.main import build_parser, main

__all__ = ["build_parser", "main"]
