"""Shared test infrastructure (fake model provider, background servers)."""
