#!/usr/bin/env bash
# Install bubblewrap, the sandbox each graded notebook runs in (no network, read-only system).
# Without it grading still works, unsandboxed, and says so in every status.
set -euo pipefail
if command -v bwrap >/dev/null; then
  exit 0
fi
"$(dirname "$0")/apt-install.sh" bubblewrap || echo "WARNING: bubblewrap is missing: run 'sudo apt-get" \
  "install bubblewrap', or graded notebooks run unsandboxed." >&2
