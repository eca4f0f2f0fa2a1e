"""The model SDKs' warm-up (executor/runtimes/sdk_preload.py) parses its canned answers with the installed SDKs.

Its steps swallow errors (a warm-up must never keep a sandbox from starting), so an SDK upgrade that no longer
reads them would turn the warm-up into a silent no-op; these tests say so instead.
"""

from __future__ import annotations

import asyncio

from executor.runtimes.sdk_preload import _first_answers


def test_each_sdk_parses_every_chunk_and_event_of_its_canned_answer() -> None:
    # openai: a text chunk, the finish chunk and the usage chunk; anthropic: the six events of a text message.
    assert asyncio.run(_first_answers()) == (3, 6)
