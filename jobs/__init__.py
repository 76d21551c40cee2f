"""Retraining: the nightly schedule, one training at a time in a child process, the
quality gate, atomic publishing with rollback, and ``python -m jobs``."""
