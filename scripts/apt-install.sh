#!/usr/bin/env bash
# apt-install.sh PACKAGE...: install Debian packages where apt-get is present and we run as root;
# exit 1 otherwise, and the calling script says what that means for it.
set -euo pipefail
if command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
  echo "Installing $* ..."
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
else
  exit 1
fi
