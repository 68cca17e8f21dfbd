#!/bin/sh
# A plain shell installer: fetch the VAE's files from $HF_ENDPOINT with curl, resuming (-C -), 5 tries each.
set -u
dest=$1
mkdir -p "$dest"
for file in config.json diffusion_pytorch_model.safetensors; do
  tries=0
  until curl -fsS --max-time 20 -C - -o "$dest/$file" "$HF_ENDPOINT/wan-ai/wan-mini-vae/resolve/main/$file"; do
    tries=$((tries + 1))
    if [ "$tries" -ge 5 ]; then echo "curl_install.sh: $file failed after $tries tries" >&2; exit 1; fi
    sleep 0.2
  done
done
