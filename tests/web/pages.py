"""Helpers for the browser tests: a team of the scripted model, signing in, driving the chat page."""

from __future__ import annotations

import re
import uuid

from playwright.sync_api import TimeoutError as PlaywrightTimeout

from tests.e2e.teams import team_yaml
from tests.support.stack import Stack

LONG_ANSWER = " ".join(f"word{i}" for i in range(60))
TIMEOUT = 60_000


def solo_team(stack: Stack, model, headers: dict[str, str]) -> str:  # type: ignore[no-untyped-def]
    prefix = "b" + uuid.uuid4().hex[:8]
    stack.apply(team_yaml(prefix, model.openai_base_url, [{"bot": "chat"}], collaboration="solo"), headers=headers)
    return f"{prefix}-team"


def sign_in(browser, stack: Stack, username: str, password: str, width: int = 1280, height: int = 800):  # type: ignore[no-untyped-def]
    context = browser.new_context(viewport={"width": width, "height": height}, locale="en-US")
    page = context.new_page()
    page.set_default_timeout(TIMEOUT)
    page.goto(f"{stack.url}/")
    page.wait_for_url(re.compile(r"/login$"))
    page.get_by_test_id("username").fill(username)
    page.get_by_test_id("password").fill(password)
    page.get_by_test_id("sign-in").click()
    page.get_by_test_id("new-chat-page").wait_for()
    return context, page


def keyboard_sign_in(browser, stack: Stack, username: str, password: str):  # type: ignore[no-untyped-def]
    """Sign in from the keyboard alone (Tab to each field, type, Enter)."""
    context = browser.new_context(viewport={"width": 1280, "height": 800}, locale="en-US")
    page = context.new_page()
    page.set_default_timeout(TIMEOUT)
    page.goto(f"{stack.url}/login")
    page.get_by_test_id("username").wait_for()  # the form is there before the first Tab
    tab_to(page, "[data-testid=username]")
    page.keyboard.type(username)
    tab_to(page, "[data-testid=password]")
    page.keyboard.type(password)
    page.keyboard.press("Enter")
    page.get_by_test_id("new-chat-page").wait_for()
    return context, page


def keyboard_to_section(page, path: str, steps: int) -> None:  # type: ignore[no-untyped-def]
    """From the chat, to another section with the arrow keys on the sections bar (`steps` sections along)."""
    tab_to(page, "[data-testid=sections]")
    for _ in range(steps):
        before = page.url
        page.keyboard.press("ArrowRight")
        page.wait_for_url(lambda url, before=before: url != before)
        # The new page's sections keep the focus: the next arrow moves on again.
        page.wait_for_function("() => !!document.activeElement?.closest('[data-testid=sections]')")
    page.wait_for_url(re.compile(rf"{re.escape(path)}$"))


def start_chat(page, team: str, prompt: str) -> int:  # type: ignore[no-untyped-def]
    page.get_by_test_id("team-picker").click()
    page.locator(".ant-select-item-option").filter(has_text=team).click()
    box = page.locator("[data-testid=composer] textarea")
    box.fill(prompt)
    box.press("Enter")
    page.wait_for_url(re.compile(r"/tasks/\d+$"))
    return int(page.url.rsplit("/", 1)[1])


def wait_state(page, state: str, stack: Stack | None = None) -> None:  # type: ignore[no-untyped-def]
    """Wait until the page shows its task in `state`. Given the stack, a timeout says what the page showed
    instead, what the API stored, the toasts on screen and what the stack logged about the task."""
    try:
        page.locator(f"[data-testid=task-state][data-state={state}]").wait_for()
    except PlaywrightTimeout:
        opened = re.search(r"/tasks/(\d+)$", page.url)
        if stack is None or opened is None:
            raise
        task_id = int(opened.group(1))
        shown = page.locator("[data-testid=task-state]").get_attribute("data-state", timeout=1_000)
        toasts = page.locator(".ant-message-notice").all_inner_texts()
        stored = stack.task(task_id)
        raise AssertionError(
            f"the page never showed task {task_id} {state}: it shows {shown}, the API stored {stored['state']} "
            f"({stored.get('error')}), toasts {toasts}; what the stack logged about it:\n{stack.story(task_id)}"
        ) from None


def focused_within(page, selector: str, text: str | None = None) -> bool:  # type: ignore[no-untyped-def]
    """The focused element is (inside) `selector`, and that element's text contains `text` when given."""
    return page.evaluate(
        """([s, text]) => {
            const el = document.activeElement && document.activeElement.closest(s)
            return !!el && (text === null || el.textContent.includes(text))
        }""",
        [selector, text],
    )


def tab_to(page, selector: str, presses: int = 40, key: str = "Tab", text: str | None = None) -> None:  # type: ignore[no-untyped-def]
    """Press Tab (or `key`, e.g. Shift+Tab) until the focused element is (inside) `selector` (with `text`): it is
    reachable by keyboard."""
    for _ in range(presses):
        if focused_within(page, selector, text):
            return
        page.keyboard.press(key)
    raise AssertionError(f"{selector} {text or ''} was not reached with {key}")
