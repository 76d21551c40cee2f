"""Benchmarks that print JSON: speed and memory figures quoted in the README."""
