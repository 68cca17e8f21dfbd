"""``python -m chaos.cli``: the ``resilience`` console script."""

import sys

from chaos.cli.main import main

sys.exit(main())
