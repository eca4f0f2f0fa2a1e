"""The web app's other sections in real Chromium against a real stack: resources as YAML (field errors,
conflicts, export), schedules, users for admins, and a refused token.
"""

from __future__ import annotations

import re
import time
import uuid
from pathlib import Path

import yaml

from tests.e2e.teams import team_yaml
from tests.support.stack import Stack
from tests.web.pages import TIMEOUT, keyboard_sign_in, sign_in, solo_team, tab_to, wait_state


def test_resources_apply_yaml_shows_field_errors_then_applies(  # type: ignore[no-untyped-def]
    browser, web_stack: Stack, model, user, screenshots: Path
) -> None:
    username, password, headers = user
    prefix = "r" + uuid.uuid4().hex[:8]
    valid = team_yaml(prefix, model.openai_base_url, [{"bot": "chat"}], collaboration="solo")
    broken = valid.replace(f"botRef:\n      name: {prefix}-chat", f"botRef:\n      name: {prefix}-nobody")
    assert broken != valid
    context, page = sign_in(browser, web_stack, username, password)
    try:
        page.get_by_test_id("sections").get_by_text("Resources").click()
        page.get_by_test_id("resources-page").wait_for()
        page.get_by_test_id("apply-yaml").click()
        editor = page.locator(".cm-content")
        editor.wait_for()  # CodeMirror, loaded on demand
        editor.click()
        page.keyboard.insert_text(broken)
        page.get_by_test_id("save-yaml").click()
        error = page.get_by_test_id("field-error")
        error.first.wait_for()
        assert error.count() == 1 and error.get_attribute("data-field") == "spec.members[0].botRef"
        assert f"{prefix}-nobody" in error.inner_text()
        page.screenshot(path=screenshots / "resources-field-error.png")
        # Nothing was applied (all or nothing); now the valid documents.
        team_url = f"/api/v1/namespaces/default/teams/{prefix}-team"
        assert web_stack.request("GET", team_url, headers=headers).status_code == 404
        editor.click()
        page.keyboard.press("Control+A")
        page.keyboard.insert_text(valid)
        page.get_by_test_id("save-yaml").click()
        page.get_by_test_id("apply-report").get_by_text(f"{prefix}-team").wait_for()
        assert page.locator("[data-testid=field-error]").count() == 0
        assert web_stack.request("GET", team_url, headers=headers).status_code == 200
        page.keyboard.press("Escape")
        page.locator(".ant-modal").wait_for(state="hidden")
        page.locator("[data-testid=resource-name]").filter(has_text=f"{prefix}-team").wait_for()
        page.screenshot(path=screenshots / "resources-teams.png")
        with page.expect_download() as download:
            page.get_by_test_id("export-yaml").click()
        exported = Path(download.value.path()).read_text()
        assert f"name: {prefix}-team" in exported and "kind: Team" in exported
    finally:
        context.close()


def test_schedules_page_runs_now_and_links_the_run(  # type: ignore[no-untyped-def]
    browser, web_stack: Stack, model, user, screenshots: Path
) -> None:
    username, password, headers = user
    model.script([{"match": "*", "text": "scheduled answer"}])
    team = solo_team(web_stack, model, headers)
    name = f"{team}-daily"
    doc = {
        "kind": "Schedule",
        "metadata": {"name": name},
        "spec": {"teamRef": {"name": team}, "promptTemplate": "run {{run_number}}", "interval": "24h"},
    }
    web_stack.apply(yaml.safe_dump(doc), headers=headers)
    context, page = sign_in(browser, web_stack, username, password)
    try:
        page.get_by_test_id("sections").get_by_text("Schedules").click()
        row = page.get_by_test_id("schedule-table").locator("tr").filter(has_text=name)
        row.wait_for()
        row.get_by_test_id("trigger").click()
        page.get_by_text("Started a run").wait_for()
        runs = web_stack.request("GET", "/api/v1/tasks", headers=headers).json()["items"]
        deadline = time.monotonic() + 30
        while not any(t["scheduleId"] for t in runs) and time.monotonic() < deadline:
            time.sleep(0.5)
            runs = web_stack.request("GET", "/api/v1/tasks", headers=headers).json()["items"]
        run = next(t for t in runs if t["scheduleId"])
        web_stack.wait_state(run["id"], {"COMPLETED"})
        page.reload()
        row.wait_for()
        row.locator(".ant-table-row-expand-icon").click()
        link = page.locator(f"a[href='/tasks/{run['id']}']").last
        link.wait_for()
        page.screenshot(path=screenshots / "schedules.png")
        link.click()
        wait_state(page, "COMPLETED", web_stack)
        assert "scheduled answer" in page.locator("[data-role=assistant] [data-testid=answer]").inner_text()
    finally:
        context.close()
        web_stack.request("DELETE", f"/api/v1/namespaces/default/schedules/{name}", headers=headers)


def test_admin_creates_and_disables_a_user(browser, web_stack: Stack, screenshots: Path) -> None:  # type: ignore[no-untyped-def]
    admin_password = web_stack.env["WEGENT_ADMIN_PASSWORD"]
    context, page = sign_in(browser, web_stack, web_stack.env["WEGENT_ADMIN_USERNAME"], admin_password)
    name, password = f"n{uuid.uuid4().hex[:8]}", "a-long-password-" + uuid.uuid4().hex[:6]
    try:
        page.get_by_test_id("sections").get_by_text("Users").click()
        page.get_by_test_id("create-user").click()
        page.get_by_test_id("new-username").fill(name)
        page.get_by_test_id("new-password").fill(password)
        page.get_by_test_id("submit-user").click()
        row = page.get_by_test_id("user-table").locator("tr").filter(has_text=name)
        row.wait_for()
        assert web_stack.login(name, password)  # the account works
        row.get_by_test_id("active-switch").click()
        page.get_by_text(f"Updated {name}").wait_for()
        page.screenshot(path=screenshots / "admin-users.png")
        refused = web_stack.request("POST", "/api/v1/auth/login", json={"username": name, "password": password})
        assert refused.status_code == 401
    finally:
        context.close()


def test_a_refused_token_returns_to_sign_in_with_a_message(browser, web_stack: Stack) -> None:  # type: ignore[no-untyped-def]
    context = browser.new_context(viewport={"width": 1280, "height": 800}, locale="en-US")
    page = context.new_page()
    page.set_default_timeout(TIMEOUT)
    try:
        page.goto(f"{web_stack.url}/login")
        page.evaluate("localStorage.setItem('wegent.token', 'expired.or.forged')")
        page.goto(f"{web_stack.url}/tasks/1")
        page.wait_for_url(re.compile(r"/login$"))
        page.get_by_text("Your session has expired. Please sign in again.").wait_for()
        assert page.evaluate("localStorage.getItem('wegent.token')") is None
        assert "{" not in page.locator("body").inner_text()  # no raw JSON error shown
    finally:
        context.close()


def test_editing_a_resource_with_a_stale_version_shows_a_conflict_then_saves_after_reload(  # type: ignore[no-untyped-def]
    browser, web_stack: Stack, model, user
) -> None:
    username, password, headers = user
    team = solo_team(web_stack, model, headers)
    team_url = f"/api/v1/namespaces/default/teams/{team}"
    context, page = sign_in(browser, web_stack, username, password)
    try:
        page.goto(f"{web_stack.url}/resources/teams")
        page.locator("[data-testid=resource-name]").filter(has_text=team).click()
        page.locator(".cm-content").get_by_text("collaborationModel").wait_for()
        # Someone else changes it meanwhile.
        current = web_stack.request("GET", team_url, headers=headers).json()
        current["metadata"]["displayName"] = "Changed elsewhere"
        changed = web_stack.request("PUT", team_url, headers=headers, json=current)
        assert changed.status_code == 200, changed.text
        page.get_by_test_id("save-yaml").click()
        page.get_by_test_id("conflict").wait_for()
        page.get_by_test_id("conflict").get_by_role("button").click()  # reload
        page.locator(".cm-content").get_by_text("Changed elsewhere").wait_for()
        page.get_by_test_id("save-yaml").click()
        page.get_by_text("Saved").wait_for()
    finally:
        context.close()


def test_signing_in_and_starting_a_chat_work_from_the_keyboard(browser, web_stack: Stack, model, user) -> None:  # type: ignore[no-untyped-def]
    username, password, headers = user
    model.script([{"match": "*", "text": "typed, not clicked"}])
    team = solo_team(web_stack, model, headers)
    context, page = keyboard_sign_in(browser, web_stack, username, password)
    try:
        tab_to(page, "[data-testid=team-picker]")
        page.keyboard.type(team)  # the picker searches; Enter takes the match
        page.locator(".ant-select-item-option-active").filter(has_text=team).wait_for()
        page.keyboard.press("Enter")
        tab_to(page, "[data-testid=composer] textarea")
        page.keyboard.type("from the keyboard")
        page.keyboard.press("Enter")
        page.wait_for_url(re.compile(r"/tasks/\d+$"))
        wait_state(page, "COMPLETED", web_stack)
        assert "typed, not clicked" in page.locator("[data-role=assistant] [data-testid=answer]").inner_text()
    finally:
        context.close()
