"""Course tooling: build student notebooks and autograders from master notebooks, and grade."""

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
