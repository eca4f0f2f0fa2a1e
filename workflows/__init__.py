"""Deterministic workflow code only: no I/O here (activities do that)."""
