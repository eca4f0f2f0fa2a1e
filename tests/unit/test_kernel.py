"""Pure kernel logic: crypto, resource validation, references, hand-off text, secret sealing."""

from __future__ import annotations

import base64

import pytest

from core.secrets import mask, reveal, seal, without_secrets
from wegent.crypto import DecryptionError, Keyring, KeyringError
from wegent.resources import parse_interval, references, validate_document
from workflows.handoff import NO_CONTEXT_INPUT, stage_input

KEY = "k1:" + base64.b64encode(b"0" * 32).decode()


def test_aes_gcm_round_trip_and_tamper_detection():
    ring = Keyring.parse(KEY)
    token = ring.encrypt("s3cret")
    assert token.startswith("enc:v1:k1:") and "s3cret" not in token
    assert ring.decrypt(token) == "s3cret"
    tampered = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    with pytest.raises(DecryptionError):
        ring.decrypt(tampered)


@pytest.mark.parametrize("spec", ["", "nokey", "k1:notbase64!", "k1:" + base64.b64encode(b"short").decode()])
def test_bad_keyrings_are_refused(spec):
    with pytest.raises(KeyringError):
        Keyring.parse(spec)


def test_validation_names_nested_fields():
    _, _, errors = validate_document(
        {"kind": "Team", "metadata": {"name": "t"}, "spec": {"members": [{"botRef": {"name": "ok"}}, {"botRef": {}}]}}
    )
    assert [e.field for e in errors] == ["spec.members[1].botRef.name"]
    _, _, errors = validate_document(
        {
            "kind": "Team",
            "metadata": {"name": "t"},
            "spec": {"collaborationModel": "route", "members": [{"botRef": {"name": "a"}}]},
        }
    )
    assert "exactly one member with role 'leader'" in errors[0].message


def test_references_of_each_kind():
    spec = {"members": [{"botRef": {"name": "a"}}, {"botRef": {"name": "b", "namespace": "x"}}]}
    assert references("Team", spec) == [
        ("spec.members[0].botRef", "Bot", "default", "a"),
        ("spec.members[1].botRef", "Bot", "x", "b"),
    ]
    assert references("Ghost", {"systemPrompt": "x"}) == []


def test_intervals():
    assert parse_interval("90s") == 90 and parse_interval("2h") == 7200
    with pytest.raises(ValueError):
        parse_interval("soon")


def test_stage_input_follows_context_passing():
    assert stage_input("previous", "req", None) == "req"  # the first stage always gets the request
    assert stage_input("previous", "req", "out") == "out"
    assert stage_input("original", "req", "out") == "req"
    assert stage_input("none", "req", "out") == NO_CONTEXT_INPUT
    both = stage_input("both", "req", "out")
    assert "req" in both and "out" in both


def test_secrets_are_sealed_masked_kept_and_revealed():
    ring = Keyring.parse(KEY)
    stored = seal("Model", {"baseUrl": "http://x", "apiKey": "sk-1"}, None, ring)
    assert stored["apiKey"].startswith("enc:v1:")
    assert mask("Model", stored)["apiKey"] == "***"
    assert seal("Model", {"baseUrl": "http://x", "apiKey": "***"}, stored, ring)["apiKey"] == stored["apiKey"]
    assert seal("Model", {"baseUrl": "http://x", "apiKey": "sk-1"}, stored, ring)["apiKey"] == stored["apiKey"]
    assert reveal("Model", stored, ring)["apiKey"] == "sk-1"
    with pytest.raises(ValueError, match="spec.apiKey"):
        seal("Model", {"baseUrl": "http://x", "apiKey": "***"}, None, ring)


def test_a_spec_without_its_secrets_keeps_the_rest_and_leaves_the_stored_spec_alone():
    ring = Keyring.parse(KEY)
    model = seal("Model", {"baseUrl": "http://x", "model": "m", "apiKey": "sk-1"}, None, ring)
    assert without_secrets("Model", model) == {"baseUrl": "http://x", "model": "m"}
    assert model["apiKey"].startswith("enc:v1:")  # a copy: the stored spec still holds its ciphertext
    servers = {"fs": {"command": "srv", "env": {"TOKEN": "t", "HOME": "/h"}, "headers": {"Authorization": "a"}}}
    ghost = seal("Ghost", {"systemPrompt": "p", "mcpServers": servers}, None, ring)
    assert without_secrets("Ghost", ghost) == {
        "systemPrompt": "p",
        "mcpServers": {"fs": {"command": "srv", "env": {}, "headers": {}}},
    }
