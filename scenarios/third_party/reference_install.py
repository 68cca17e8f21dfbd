"""The reference installer (scenarios/installer, on resilience_core) run as a command, like the baselines.

``python reference_install.py WORKDIR`` writes WORKDIR/app.json for the hub in $HF_ENDPOINT and runs
``python -m scenarios.installer install --config WORKDIR/app.json``: models land in WORKDIR/install/models.
"""

import json
import os
import pathlib
import sys

from scenarios.installer.cli import main

workdir = pathlib.Path(sys.argv[1])
config = {
    "name": "wan-mini",
    "install_dir": "install",
    "endpoints": [os.environ["HF_ENDPOINT"]],
    "models": [{"repo_id": "wan-ai/wan-mini-vae", "revision": "main"}],
    "timeout_s": 2,
}
(workdir / "app.json").write_text(json.dumps(config))
sys.exit(main(["install", "--config", str(workdir / "app.json")]))
