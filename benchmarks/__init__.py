"""Hand-run benchmarks (`.venv/bin/python benchmarks/NAME.py [--quick]`); each sets up and removes its own world."""
