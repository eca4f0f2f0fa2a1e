"""Temporal worker entry point: client, data converter, task queues, slot limits."""
