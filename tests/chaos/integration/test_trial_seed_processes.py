"""Trial seeds do not depend on the interpreter's hash seed."""

from __future__ import annotations

import os
import subprocess
import sys

from chaos.trials import trial_seed


def test_trial_seed_is_stable_across_processes() -> None:
    """trial_seed does not depend on PYTHONHASHSEED: two interpreters derive the same value."""
    code = "from chaos.trials import trial_seed; print(trial_seed(42, 'a.py::test_x', 3))"
    values = {
        subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "PYTHONHASHSEED": hash_seed},
        ).stdout.strip()
        for hash_seed in ("1", "2")
    }
    assert values == {str(trial_seed(42, "a.py::test_x", 3))}
