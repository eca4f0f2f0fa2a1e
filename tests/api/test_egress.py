"""Issue 16, item 9: an ordinary user's Model cannot point the platform at loopback, private, link-local or
local-name endpoints unless the operator allows them (WEGENT_EGRESS_ALLOW); admins' and public Models can."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import update

BASE = "/api/v1/namespaces/default"
REFUSED = (
    "http://10.1.2.3/v1",
    "http://192.168.1.20:8080/v1",
    "http://169.254.169.254/latest/meta-data",  # the cloud metadata service
    "http://[::1]:6379/",
    "http://0.0.0.0:3306/",
    "http://metadata.google.internal/v1",
)


def _model(base_url: str) -> dict:
    name = "eg-" + uuid.uuid4().hex[:8]
    return {"kind": "Model", "metadata": {"name": name}, "spec": {"baseUrl": base_url, "model": "m", "apiKey": "k"}}


@pytest.mark.parametrize("url", REFUSED)
def test_a_users_model_may_not_point_at_internal_endpoints(client, make_user, url):
    _, user = make_user()
    doc = _model(url)
    for response in (
        client.post(f"{BASE}/models", json=doc, headers=user),
        client.post(f"{BASE}/apply", json=[doc], headers=user),
    ):
        assert response.status_code == 422, response.text
        body = response.json()
        errors = body["errors"] if "errors" in body else body["results"][0]["errors"]
        assert errors[0]["field"] == "spec.baseUrl"
        assert "WEGENT_EGRESS_ALLOW" in errors[0]["message"]
    assert client.get(f"{BASE}/models/{doc['metadata']['name']}", headers=user).status_code == 404


def test_admins_public_models_and_allowed_endpoints_are_accepted(client, admin_headers, make_user):
    _, user = make_user()
    assert client.post(f"{BASE}/models", json=_model("http://10.1.2.3/v1"), headers=admin_headers).status_code == 201
    shared = _model("http://127.0.0.1:8181/v1")
    public = client.post(f"{BASE}/models", params={"scope": "public"}, json=shared, headers=admin_headers)
    assert public.status_code == 201  # `wegent up`'s local model is such a public Model
    # Public resources show in everyone's lists: remove it, other tests count what they list.
    gone = client.delete(
        f"{BASE}/models/{shared['metadata']['name']}", params={"scope": "public"}, headers=admin_headers
    )
    assert gone.status_code == 200
    # Loopback is allowed for users in this deployment by WEGENT_EGRESS_ALLOW (see tests/conftest.py).
    assert client.post(f"{BASE}/models", json=_model("http://127.0.0.1:9/v1"), headers=user).status_code == 201
    assert client.post(f"{BASE}/models", json=_model("https://8.8.8.8/v1"), headers=user).status_code == 201


def test_the_policy_is_checked_again_when_the_model_is_used(client, make_user):
    """A name can be re-pointed after the Model was written: the worker checks before every call."""
    from core.db.models import Resource
    from core.db.session import get_sessionmaker
    from core.tasks.records import InvalidModel, model_config
    from wegent.crypto import get_keyring

    _, user = make_user()
    doc = _model("https://8.8.8.8/v1")
    created = client.post(f"{BASE}/models", json=doc, headers=user)
    assert created.status_code == 201
    with get_sessionmaker()() as db:
        row_id = db.query(Resource.id).filter_by(kind="Model", name=doc["metadata"]["name"]).scalar()
        config, _ = model_config(db, row_id, get_keyring())
        assert config.base_url == "https://8.8.8.8/v1"
        spec = {**created.json()["spec"], "baseUrl": "http://169.254.169.254/latest"}
        db.execute(update(Resource).where(Resource.id == row_id).values(spec=spec))
        db.commit()
        with pytest.raises(InvalidModel, match="169.254.169.254, which is not a public address"):
            model_config(db, row_id, get_keyring())
