"""The Temporal console decodes a signed-in user's payloads, tried in real Chromium as a user would.

Signing in to the web app sets an HttpOnly session cookie scoped to the codec endpoint. The user follows the task's
console link to its workflow in the Temporal dev server's console (UI 2.54, on 8233, which
`scripts/ensure_temporal.sh` starts), points its Data Encoder at `<api>/api/v1/codec/` with "Include cross-origin
credentials" on, and the agent step's input shows the prompt in plaintext: the browser sent the cookie cross-origin
(same site), and CORS let the console read the answer. Another user's workflow, in the same console, stays
ciphertext: the codec refuses it.
"""

from __future__ import annotations

import uuid
from pathlib import Path

from tests.support.stack import Stack
from tests.web.conftest import make_user
from tests.web.pages import TIMEOUT, sign_in, solo_team, wait_state


def _configure_codec(console, endpoint: str) -> None:  # type: ignore[no-untyped-def]
    """The console's Data Encoder dialog: this browser's endpoint, with cross-origin credentials."""
    console.get_by_test_id("data-encoder-status").click()
    console.get_by_test_id("use-local-endpoint-input").check()
    console.locator("#data-encoder-endpoint-input").fill(endpoint)
    switch = console.locator("#pass-access-credentials")
    console.locator("label", has=switch).click()  # the switch's own input is visually hidden
    assert switch.is_checked()
    console.get_by_test_id("confirm-modal-button").filter(has_text="Apply").click()


def _open_agent_step(console) -> None:  # type: ignore[no-untyped-def]
    """Event History, then the scheduled agent step: its input holds the turn's prompt."""
    console.get_by_role("link", name="Event History").or_(console.get_by_text("Event History")).first.click()
    console.locator("tr", has_text="run_agent_step").filter(has_text="Activity Task Scheduled").first.click()


def test_the_console_shows_the_signed_in_users_prompt_and_not_another_users(  # type: ignore[no-untyped-def]
    browser, web_stack: Stack, model, screenshots: Path
) -> None:
    owner, other = make_user(web_stack), make_user(web_stack)
    model.script([{"match": "*", "text": "an answer"}])
    prompt = f"plaintext prompt {uuid.uuid4().hex[:8]}"
    hidden = f"someone else's prompt {uuid.uuid4().hex[:8]}"
    mine = web_stack.create_task(solo_team(web_stack, model, owner[2]), prompt, headers=owner[2])
    theirs = web_stack.create_task(solo_team(web_stack, model, other[2]), hidden, headers=other[2])
    for task in (mine, theirs):
        assert web_stack.wait_state(task["id"], {"COMPLETED"}, timeout=120)["state"] == "COMPLETED"
    their_console_url = web_stack.task(theirs["id"], headers=other[2])["consoleUrl"]

    context, page = sign_in(browser, web_stack, owner[0], owner[1], width=1400, height=900)
    try:
        session = {c["name"]: c for c in context.cookies()}["wegent_session"]
        assert session["httpOnly"] and session["path"] == "/api/v1/codec" and session["sameSite"] == "Lax"
        assert "wegent_session" not in page.evaluate("document.cookie")  # no script can read it

        page.goto(f"{web_stack.url}/tasks/{mine['id']}")
        wait_state(page, "COMPLETED", web_stack)
        with context.expect_page() as opened:
            page.get_by_test_id("console-link").click()
        console = opened.value
        console.set_default_timeout(TIMEOUT)
        console.wait_for_load_state()
        _configure_codec(console, f"{web_stack.url}/api/v1/codec/")
        with console.expect_response(lambda r: "/api/v1/codec/decode" in r.url) as decoded:
            console.reload()
        assert decoded.value.status == 200
        _open_agent_step(console)
        console.get_by_text(prompt).first.wait_for()  # decoded by Wegent's codec for its owner
        console.screenshot(path=screenshots / "console-decoded.png")

        # Another user's workflow in the same console: the codec refuses, the payloads stay ciphertext.
        answers: list[int] = []
        console.on("response", lambda r: answers.append(r.status) if "/api/v1/codec/decode" in r.url else None)
        console.goto(their_console_url)
        _open_agent_step(console)
        console.wait_for_timeout(2000)  # the step's payloads went to the codec too
        assert 403 in answers, answers
        assert hidden not in console.content()
        console.screenshot(path=screenshots / "console-other-user.png")
    finally:
        context.close()
