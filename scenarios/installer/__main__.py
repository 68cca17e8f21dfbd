"""Entry point: ``python -m scenarios.installer``."""

from __future__ import annotations

import sys

from scenarios.installer.cli import main

sys.exit(main())
