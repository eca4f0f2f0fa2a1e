"""Wegent's Temporal kernel: the client connection, the payload codec and the search attributes."""
