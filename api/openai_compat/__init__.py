"""The OpenAI-compatible API under `/v1`: any OpenAI client can talk to a Wegent team (see app.py)."""
