#!/usr/bin/env bash
# Install Chromium, in which the tests load report.html (its JavaScript must run without errors).
# `make test` does not need it (those tests are skipped, saying why); .ci/run installs it and sets
# REQUIRE_CHROMIUM=1, so that CI fails rather than skips them.
set -euo pipefail
if command -v chromium >/dev/null || command -v chromium-browser >/dev/null || command -v google-chrome >/dev/null; then
  exit 0
fi
"$(dirname "$0")/apt-install.sh" chromium || echo "WARNING: chromium is missing: run 'sudo apt-get install" \
  "chromium', or the report's browser tests are skipped (and fail under REQUIRE_CHROMIUM=1)." >&2
