"""Grading: one submission per process (run_one), many in parallel (batch)."""
