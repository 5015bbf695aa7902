#!/usr/bin/env bash
# apt-install.sh PACKAGE: install one Debian package where apt-get is present and we run as root;
# exit 1 otherwise, and the calling script says what that means for it.
set -euo pipefail
if command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
  echo "Installing $1 ..."
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$1" >/dev/null
else
  exit 1
fi
