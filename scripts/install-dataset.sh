#!/usr/bin/env bash
# Make the real Fashion-MNIST available: Debian's package puts the four original .gz files in
# /usr/share/datasets/fashion-mnist. Installs it when apt-get is present and we run as root.
set -euo pipefail
dir=/usr/share/datasets/fashion-mnist
if [ -f "$dir/t10k-labels-idx1-ubyte.gz" ] || [ -n "${FASHION_MNIST_DIR:-}" ]; then
  exit 0
fi
if ! "$(dirname "$0")/apt-install.sh" dataset-fashion-mnist; then
  echo "Fashion-MNIST is missing: run 'sudo apt-get install dataset-fashion-mnist'" \
       "or set FASHION_MNIST_DIR to a folder with the four original files." >&2
  exit 1
fi
