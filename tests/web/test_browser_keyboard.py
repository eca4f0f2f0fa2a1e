"""The web app from the keyboard alone, in real Chromium against a real stack, beyond signing in and starting a
chat (tests/web/test_browser_sections.py): the resources page (open a resource, edit its YAML, save; apply new
YAML) and a pipeline stage waiting for confirmation (approve with an edited hand-off, reject with a reason).
No click and no `fill`: focus moves with Tab and arrow keys, text is typed, Enter acts.
"""

from __future__ import annotations

import re
import uuid

from tests.e2e.teams import team_yaml
from tests.support.stack import Stack
from tests.web.pages import keyboard_sign_in, solo_team, tab_to, wait_state


def _start_chat(page, team: str, prompt: str) -> int:  # type: ignore[no-untyped-def]
    tab_to(page, "[data-testid=team-picker]")
    page.keyboard.type(team)
    page.locator(".ant-select-item-option-active").filter(has_text=team).wait_for()
    page.keyboard.press("Enter")
    tab_to(page, "[data-testid=composer] textarea")
    page.keyboard.type(prompt)
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/tasks/\d+$"))
    return int(page.url.rsplit("/", 1)[1])


def _line_of(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines()) if line.strip().startswith(needle))


def test_resources_open_edit_and_apply_yaml_from_the_keyboard(browser, web_stack: Stack, model, user) -> None:  # type: ignore[no-untyped-def]
    username, password, headers = user
    team = solo_team(web_stack, model, headers)
    team_url = f"/api/v1/namespaces/default/teams/{team}"
    yaml_text = web_stack.request("GET", f"{team_url}?format=yaml", headers=headers).text
    context, page = keyboard_sign_in(browser, web_stack, username, password)
    try:
        # The sections are a radio group: Tab reaches the current one, an arrow key moves to the next.
        tab_to(page, "[data-testid=sections]")
        page.keyboard.press("ArrowRight")
        page.wait_for_url(re.compile(r"/resources$"))
        page.get_by_test_id("resources-page").wait_for()
        # The new page's sections keep the focus: the next arrow would move on again.
        page.wait_for_function("() => !!document.activeElement?.closest('[data-testid=sections]')")

        # Open the team: Tab to its name, Enter.
        page.locator("[data-testid=resource-name]").filter(has_text=team).wait_for()
        tab_to(page, "[data-testid=resource-name]", text=team, presses=60)
        page.keyboard.press("Enter")
        editor = page.locator(".ant-modal .cm-content")
        editor.get_by_text("collaborationModel").wait_for()
        tab_to(page, ".ant-modal .cm-content")
        # Edit a value in place: to its line, to its end, replace it.
        page.keyboard.press("Control+Home")
        for _ in range(_line_of(yaml_text, "collaborationModel:")):
            page.keyboard.press("ArrowDown")
        page.keyboard.press("End")
        for _ in range(len("solo")):
            page.keyboard.press("Backspace")
        page.keyboard.type("pipeline")
        # Tab leaves the editor (no keyboard trap) and reaches Save.
        tab_to(page, "[data-testid=save-yaml]", presses=5)
        page.keyboard.press("Enter")
        page.locator(".ant-modal").wait_for(state="hidden")
        assert web_stack.request("GET", team_url, headers=headers).json()["spec"]["collaborationModel"] == "pipeline"
        # Focus is back on what opened the editor, not lost to the page.
        page.wait_for_function(
            "(team) => document.activeElement?.closest('[data-testid=resource-name]')?.textContent.includes(team)",
            arg=team,
        )

        # Apply new YAML: the editor has the focus when it opens; Mod+Enter applies.
        tab_to(page, "[data-testid=apply-yaml]", presses=60, key="Shift+Tab")
        page.keyboard.press("Enter")
        page.locator(".ant-modal .cm-content").wait_for()
        page.wait_for_function("() => !!document.activeElement?.closest('.ant-modal .cm-content')")
        assert page.locator(".ant-modal .cm-content").inner_text().strip() == ""  # nothing left of the team's YAML
        prefix = "k" + uuid.uuid4().hex[:8]
        page.keyboard.insert_text(team_yaml(prefix, model.openai_base_url, [{"bot": "chat"}], collaboration="solo"))
        page.keyboard.press("Control+Enter")
        page.get_by_test_id("apply-report").get_by_text(f"{prefix}-team").wait_for()
        assert web_stack.request("GET", f"/api/v1/namespaces/default/teams/{prefix}-team", headers=headers).is_success
        page.keyboard.press("Escape")
        page.locator(".ant-modal").wait_for(state="hidden")
        page.locator("[data-testid=resource-name]").filter(has_text=f"{prefix}-team").wait_for()
    finally:
        context.close()


def test_a_pipeline_stage_is_approved_and_rejected_from_the_keyboard(browser, web_stack: Stack, model, user) -> None:  # type: ignore[no-untyped-def]
    username, password, headers = user
    prefix = "q" + uuid.uuid4().hex[:8]
    web_stack.apply(
        team_yaml(
            prefix,
            model.openai_base_url,
            [{"bot": "draft", "requireConfirmation": True}, {"bot": "final", "contextPassing": "previous"}],
        ),
        headers=headers,
    )
    model.script([{"match": "write a haiku", "text": "draft v1", "times": 1}])
    context, page = keyboard_sign_in(browser, web_stack, username, password)
    try:
        task_id = _start_chat(page, f"{prefix}-team", "write a haiku")
        wait_state(page, "PENDING_CONFIRMATION", web_stack)
        # The composer that had the focus is now disabled; the hand-off to approve takes the focus.
        page.wait_for_function("() => document.activeElement?.getAttribute('data-testid') === 'handoff'")
        page.keyboard.press("Control+A")
        page.keyboard.type("EDITED BY KEYBOARD")
        tab_to(page, "[data-testid=approve]", presses=5)
        page.keyboard.press("Enter")
        wait_state(page, "COMPLETED", web_stack)
        assert model.requests()[-1].messages[-1]["content"] == "EDITED BY KEYBOARD"
        assert web_stack.task(task_id, headers=headers)["messages"][-1]["content"] == "echo: EDITED BY KEYBOARD"

        # Reject the next one with a reason: Enter in the reason field rejects.
        tab_to(page, "[data-testid=new-chat]", presses=60, key="Shift+Tab")
        page.keyboard.press("Enter")
        page.get_by_test_id("new-chat-page").wait_for()
        second = _start_chat(page, f"{prefix}-team", "write a limerick")
        wait_state(page, "PENDING_CONFIRMATION", web_stack)
        page.wait_for_function("() => document.activeElement?.getAttribute('data-testid') === 'handoff'")
        tab_to(page, "[data-testid=reject-reason]", presses=3)
        page.keyboard.type("off topic")
        page.keyboard.press("Enter")
        wait_state(page, "CANCELLED", web_stack)
        assert "off topic" in web_stack.task(second, headers=headers)["error"]
    finally:
        context.close()
