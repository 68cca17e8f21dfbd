"""A plain snapshot_download installer: ``python snapshot_install.py DEST`` (HF_ENDPOINT names the hub)."""

import sys

from huggingface_hub import snapshot_download

snapshot_download("wan-ai/wan-mini-vae", local_dir=sys.argv[1])
