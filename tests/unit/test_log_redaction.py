"""What the shared log set-up hides: credentials under any key that names one, never a model's token counts."""

from __future__ import annotations

from wegent.logging import _redact


def redacted(**fields: object) -> dict[str, object]:
    return _redact(None, "info", dict(fields))


def test_credentials_are_hidden_whatever_their_key_or_type():
    out = redacted(api_key="sk-live", token="abc", gateway_token="g", password=1234, authorization="Bearer x")
    assert set(out.values()) == {"***"}


def test_token_counts_stay_readable():
    out = redacted(input_tokens=812, output_tokens=0, max_tokens=4096, event="agent_step.done")
    assert out == {"input_tokens": 812, "output_tokens": 0, "max_tokens": 4096, "event": "agent_step.done"}


def test_a_string_under_a_count_key_is_still_hidden():
    # Only a number is a count: a string there could be a key logged by mistake.
    assert redacted(refresh_tokens="rt-secret", input_tokens=True) == {"refresh_tokens": "***", "input_tokens": "***"}


def test_empty_values_are_left_as_they_are():
    assert redacted(api_key="", token=None) == {"api_key": "", "token": None}
