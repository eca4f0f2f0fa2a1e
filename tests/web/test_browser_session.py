"""A session that ends while the app is open, in real Chromium against a real stack: the account's tokens are
revoked (an admin sets a new password, which bumps the token version) while the user is in a chat, or on the
resources page. The user is told the session expired, signs in again and is back where they were, with what they
were typing; someone else signing in instead starts afresh and sees nothing of the previous user's. A link into
the app (a chat, a resources or schedules page) opened without a session leads through the sign-in page to that
page; a sign-in link asking for an outside address, or the sign-in page itself, lands on the chat instead.
"""

from __future__ import annotations

import re
import secrets
from urllib.parse import quote

from tests.support.stack import Stack
from tests.web.conftest import make_user
from tests.web.pages import TIMEOUT, sign_in, solo_team, start_chat, wait_state

EXPIRED = "Your session has expired. Please sign in again."


def _revoke(stack: Stack, headers: dict[str, str]) -> str:
    """An admin sets a new password: every token issued so far is refused. Returns the new password."""
    user_id = stack.request("GET", "/api/v1/users/me", headers=headers).json()["id"]
    password = secrets.token_urlsafe(12)
    response = stack.request("PATCH", f"/api/v1/admin/users/{user_id}", json={"password": password})
    assert response.status_code == 200, response.text
    assert stack.request("GET", "/api/v1/users/me", headers=headers).status_code == 401
    return password


def _expired_sign_in_page(page) -> None:  # type: ignore[no-untyped-def]
    page.wait_for_url(re.compile(r"/login$"))
    notice = page.get_by_test_id("login-notice")
    notice.wait_for()
    assert notice.inner_text().strip() == EXPIRED
    body = page.locator("body").inner_text()
    assert "{" not in body and "401" not in body  # no raw error
    assert page.evaluate("localStorage.getItem('wegent.token')") is None


def _sign_in_again(page, username: str, password: str) -> None:  # type: ignore[no-untyped-def]
    page.get_by_test_id("username").fill(username)
    page.get_by_test_id("password").fill(password)
    page.get_by_test_id("sign-in").click()


def test_a_session_revoked_mid_chat_signs_in_again_back_to_the_same_chat(  # type: ignore[no-untyped-def]
    browser, web_stack: Stack, model, user
) -> None:
    username, password, headers = user
    model.script([{"match": "first", "text": "first answer"}, {"match": "second", "text": "second answer"}])
    team = solo_team(web_stack, model, headers)
    context, page = sign_in(browser, web_stack, username, password)
    try:
        task_id = start_chat(page, team, "first question")
        wait_state(page, "COMPLETED", web_stack)
        page.get_by_test_id("answer").get_by_text("first answer").wait_for()
        box = page.locator("[data-testid=composer] textarea")
        box.fill("half-written follow-")  # typing when the session ends

        new_password = _revoke(web_stack, headers)
        # The open chat's socket is dropped by the server: the app says so, with no action from the user.
        _expired_sign_in_page(page)
        assert page.get_by_test_id("username").input_value() == username  # only the password to type

        _sign_in_again(page, username, new_password)
        page.wait_for_url(re.compile(rf"/tasks/{task_id}$"))
        wait_state(page, "COMPLETED", web_stack)
        page.get_by_test_id("answer").get_by_text("first answer").wait_for()
        assert box.input_value() == "half-written follow-"  # the unsent text is still there
        # The chat is live again under the new session: a follow-up streams its answer.
        box.fill("second question")
        box.press("Enter")
        page.locator("[data-role=assistant] [data-testid=answer]").nth(1).get_by_text("second answer").wait_for()
        wait_state(page, "COMPLETED", web_stack)
    finally:
        context.close()


def test_a_session_revoked_on_the_resources_page_returns_there_after_signing_in(  # type: ignore[no-untyped-def]
    browser, web_stack: Stack, model, user
) -> None:
    username, password, headers = user
    team = solo_team(web_stack, model, headers)
    bot = team.removesuffix("-team") + "-chat"
    context, page = sign_in(browser, web_stack, username, password)
    try:
        page.goto(f"{web_stack.url}/resources/teams")
        page.locator("[data-testid=resource-name]").filter(has_text=team).wait_for()

        new_password = _revoke(web_stack, headers)
        # No live connection here: the next request is refused and the app notices then.
        page.get_by_role("tab", name="Bots").click()
        _expired_sign_in_page(page)

        _sign_in_again(page, username, new_password)
        page.wait_for_url(re.compile(r"/resources/bots$"))
        page.locator("[data-testid=resource-name]").filter(has_text=bot).wait_for()
    finally:
        context.close()


def test_someone_else_signing_in_after_an_expiry_starts_afresh(  # type: ignore[no-untyped-def]
    browser, web_stack: Stack, model, user
) -> None:
    username, password, headers = user
    model.script([{"match": "*", "text": "private answer"}])
    team = solo_team(web_stack, model, headers)
    other, other_password, _ = make_user(web_stack)
    context, page = sign_in(browser, web_stack, username, password)
    page.set_default_timeout(TIMEOUT)
    try:
        start_chat(page, team, "my secret question")
        wait_state(page, "COMPLETED", web_stack)
        _revoke(web_stack, headers)
        _expired_sign_in_page(page)

        page.get_by_test_id("username").fill("")
        _sign_in_again(page, other, other_password)
        page.get_by_test_id("new-chat-page").wait_for()
        assert page.url.rstrip("/") == web_stack.url  # not the previous user's chat
        page.locator(".task-list .ant-empty").wait_for()  # their own (empty) list, nothing cached from before
        assert page.get_by_text("my secret question").count() == 0
    finally:
        context.close()


def test_a_deep_link_opened_without_a_session_lands_on_its_page_after_signing_in(  # type: ignore[no-untyped-def]
    browser, web_stack: Stack, model, user
) -> None:
    username, password, headers = user
    model.script([{"match": "*", "text": "linked answer"}])
    team = solo_team(web_stack, model, headers)
    task_id = web_stack.create_task(team, "a linked question", headers=headers)["id"]
    web_stack.wait_state(task_id, {"COMPLETED"})
    context = browser.new_context(viewport={"width": 1280, "height": 800}, locale="en-US")
    page = context.new_page()
    page.set_default_timeout(TIMEOUT)
    try:
        # A chat's link, opened in a browser with no session: sign in, and the chat is there.
        page.goto(f"{web_stack.url}/tasks/{task_id}")
        page.wait_for_url(re.compile(r"/login\?next="))
        assert page.get_by_test_id("login-notice").count() == 0  # nothing expired: just not signed in
        _sign_in_again(page, username, password)
        page.wait_for_url(re.compile(rf"/tasks/{task_id}$"))
        wait_state(page, "COMPLETED", web_stack)
        page.get_by_test_id("answer").get_by_text("linked answer").wait_for()

        # Signing out (the user's choice) leads to a plain sign-in page: the next sign-in starts at the chat.
        page.get_by_test_id("sign-out").click()
        page.wait_for_url(re.compile(r"/login$"))

        # A resources page and the schedules page, each opened by its link (a reload of the sign-in page keeps it).
        for path, ready in (("/resources/bots", "resources-page"), ("/schedules", "schedules-page")):
            page.goto(f"{web_stack.url}{path}")
            page.wait_for_url(re.compile(r"/login\?next="))
            page.reload()
            _sign_in_again(page, username, password)
            page.wait_for_url(re.compile(rf"{path}$"))
            page.get_by_test_id(ready).wait_for()
            page.get_by_test_id("sign-out").click()
            page.wait_for_url(re.compile(r"/login$"))

        # A sign-in link naming another site (however spelled), or the sign-in page, leads only to the chat.
        for target in ("https://example.com/", "//example.com/", "/\\example.com/", "/login"):
            page.goto(f"{web_stack.url}/login?next={quote(target, safe='')}")
            _sign_in_again(page, username, password)
            page.get_by_test_id("new-chat-page").wait_for()
            assert page.url.rstrip("/") == web_stack.url, target
            page.get_by_test_id("sign-out").click()
            page.wait_for_url(re.compile(r"/login$"))
    finally:
        context.close()
