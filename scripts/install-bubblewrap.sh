#!/usr/bin/env bash
# Install bubblewrap, the sandbox each graded notebook runs in (no network, read-only system).
# Without it grading still works, unsandboxed, and says so in every status.
set -euo pipefail
if command -v bwrap >/dev/null; then
  exit 0
fi
if command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
  echo "Installing bubblewrap ..."
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq bubblewrap >/dev/null
else
  echo "WARNING: bubblewrap is missing: run 'sudo apt-get install bubblewrap', or graded notebooks" \
       "run unsandboxed." >&2
fi
