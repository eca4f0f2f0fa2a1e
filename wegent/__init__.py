"""Shared kernel of Wegent: settings, resource schemas, event schema, crypto and the CLI.

Kept free of framework code so the API, the worker, the workflows and the executor can all import it.
"""

__version__ = "0.1.0"
