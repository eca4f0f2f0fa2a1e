"""The Schedules, Usage and Users pages from the keyboard alone, in real Chromium against a real stack: pause and
resume a schedule and backfill it through its dialog, change the usage period, and (an admin) create a user,
disable and enable them and reset their password. No click and no `fill`: focus moves with Tab and arrow keys,
text is typed, Enter or Space acts; a dialog takes the focus when it opens and gives it back when it closes.
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta

import yaml
from sqlalchemy import update

from tests.support.stack import Stack
from tests.web.pages import focused_within, keyboard_sign_in, keyboard_to_section, solo_team, tab_to


def _focus_on(page, selector: str) -> None:  # type: ignore[no-untyped-def]
    page.wait_for_function("(s) => !!document.activeElement?.closest(s)", arg=selector)


def test_a_schedule_is_paused_resumed_and_backfilled_from_the_keyboard(  # type: ignore[no-untyped-def]
    browser, web_stack: Stack, model, user
) -> None:
    username, password, headers = user
    model.script([{"match": "*", "text": "backfilled"}])
    team = solo_team(web_stack, model, headers)
    name = f"{team}-yearly"
    spec = {"teamRef": {"name": team}, "promptTemplate": "report {{date}}", "cron": "0 9 1 1 *"}
    web_stack.apply(yaml.safe_dump({"kind": "Schedule", "metadata": {"name": name}, "spec": spec}), headers=headers)

    def enabled() -> bool:
        items = web_stack.request("GET", "/api/v1/schedules", headers=headers).json()["items"]
        return next(s["enabled"] for s in items if s["name"] == name)

    context, page = keyboard_sign_in(browser, web_stack, username, password)
    try:
        keyboard_to_section(page, "/schedules", steps=2)
        page.get_by_test_id("schedule-table").locator("tr").filter(has_text=name).wait_for()

        # Pause: Tab to the schedule's own Pause (its name is in the button's accessible name), Enter.
        tab_to(page, f'[aria-label="Pause {name}"]', presses=60)
        page.keyboard.press("Enter")
        page.locator(".ant-message").get_by_text("Paused").wait_for()
        # The same button now resumes, and it still has the focus: Enter again resumes.
        _focus_on(page, f'[aria-label="Resume {name}"]')
        assert not enabled()
        page.keyboard.press("Enter")
        page.locator(".ant-message").get_by_text("Resumed").wait_for()
        _focus_on(page, f'[aria-label="Pause {name}"]')
        assert enabled()

        # Backfill: Enter opens its dialog with the focus in the range's first field; type both ends, run.
        tab_to(page, f'[aria-label="Backfill {name}"]', presses=5)
        page.keyboard.press("Enter")
        dialog = page.get_by_role("dialog", name=f"Backfill {name}")
        dialog.wait_for()
        _focus_on(page, ".ant-modal .ant-picker-range")
        # Escape closes it and the focus is back on the button; Enter opens it again.
        page.keyboard.press("Escape")
        dialog.wait_for(state="hidden")
        _focus_on(page, f'[aria-label="Backfill {name}"]')
        page.keyboard.press("Enter")
        _focus_on(page, ".ant-modal .ant-picker-range")
        today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        fields = dialog.locator(".ant-picker-range input")
        for index, when in enumerate((today - timedelta(days=2), today - timedelta(days=1))):
            # The first field has the focus; Enter on it moves the focus to the second.
            page.wait_for_function("(el) => el === document.activeElement", arg=fields.nth(index).element_handle())
            page.keyboard.type(when.strftime("%Y-%m-%d %H:%M:%S"))
            page.keyboard.press("Enter")
        assert fields.nth(1).input_value().startswith(f"{today - timedelta(days=1):%Y-%m-%d}")
        tab_to(page, "[data-testid=backfill-run]", presses=10)
        page.keyboard.press("Enter")
        page.locator(".ant-message").get_by_text("Backfill started").wait_for()
        dialog.wait_for(state="hidden")
        _focus_on(page, f'[aria-label="Backfill {name}"]')
    finally:
        context.close()
        web_stack.request("DELETE", f"/api/v1/namespaces/default/schedules/{name}", headers=headers)


def test_the_usage_period_changes_from_the_keyboard(browser, web_stack: Stack, model, user) -> None:  # type: ignore[no-untyped-def]
    from core.db.models import Task
    from core.db.session import get_sessionmaker

    username, password, headers = user
    model.script([{"match": "*", "text": "counted"}])
    team = solo_team(web_stack, model, headers)
    old, recent = (web_stack.create_task(team, prompt, headers=headers)["id"] for prompt in ("old one", "recent one"))
    for task_id in (old, recent):
        web_stack.wait_state(task_id, {"COMPLETED"})
    with get_sessionmaker()() as db:  # the first task ran ten days ago
        db.execute(update(Task).where(Task.id == old).values(created_at=datetime.now(UTC) - timedelta(days=10)))
        db.commit()

    def tasks_shown(period: str) -> str:
        report = page.locator(f"[data-testid=usage-report][data-period='{period}']")
        report.wait_for()
        row = report.get_by_test_id("usage-by-team").locator("tr").filter(has_text=team)
        return row.locator("td").nth(1).inner_text().strip()

    context, page = keyboard_sign_in(browser, web_stack, username, password)
    try:
        keyboard_to_section(page, "/usage", steps=3)
        assert tasks_shown("all") == "2"
        # The period is a radio group: Tab reaches the chosen one (all time), the arrow keys choose another.
        tab_to(page, "[data-testid=usage-period]", presses=60)
        assert focused_within(page, "[data-testid=usage-period]", "All time")
        page.keyboard.press("ArrowRight")
        assert tasks_shown("30d") == "2"
        page.keyboard.press("ArrowRight")
        assert tasks_shown("7d") == "1"  # the ten-day-old task is no longer counted
        assert focused_within(page, "[data-testid=usage-period]", "Last 7 days")  # the next arrow goes on
        page.wait_for_url(re.compile(r"/usage\?period=7d$"))
        # The period is in the address: a reload (or a shared link) shows the same.
        page.reload()
        assert tasks_shown("7d") == "1"
    finally:
        context.close()


def test_an_admin_creates_disables_enables_and_resets_a_user_from_the_keyboard(  # type: ignore[no-untyped-def]
    browser, web_stack: Stack
) -> None:
    name, password = f"k{uuid.uuid4().hex[:8]}", "a-long-password-" + uuid.uuid4().hex[:6]
    new_password = "reset-by-keys-" + uuid.uuid4().hex[:8]

    def can_sign_in(secret: str) -> bool:
        response = web_stack.request("POST", "/api/v1/auth/login", json={"username": name, "password": secret})
        return response.status_code == 200

    context, page = keyboard_sign_in(
        browser, web_stack, web_stack.env["WEGENT_ADMIN_USERNAME"], web_stack.env["WEGENT_ADMIN_PASSWORD"]
    )
    try:
        keyboard_to_section(page, "/admin", steps=4)
        # New user: the dialog takes the focus into its first field; Enter in the form creates the user.
        tab_to(page, "[data-testid=create-user]", presses=60)
        page.keyboard.press("Enter")
        _focus_on(page, "[data-testid=new-username]")
        page.keyboard.type(name)
        tab_to(page, "[data-testid=new-password]", presses=3)
        page.keyboard.type(password)
        page.keyboard.press("Enter")
        page.get_by_test_id("user-table").locator("tr").filter(has_text=name).wait_for()
        _focus_on(page, "[data-testid=create-user]")  # back where the dialog was opened from
        assert can_sign_in(password)

        # Disable, then enable: Tab to the user's own switch, Space toggles it and the focus stays.
        switch = f'[role=switch][aria-label="Active: {name} can sign in"]'
        tab_to(page, switch, presses=80)
        page.keyboard.press("Space")
        page.locator(f"{switch}[aria-checked=false]").wait_for()
        page.get_by_text(f"Updated {name}").first.wait_for()
        assert not can_sign_in(password)
        _focus_on(page, switch)
        page.keyboard.press("Space")
        page.locator(f"{switch}[aria-checked=true]").wait_for()
        assert can_sign_in(password)

        # Reset the password: the dialog's field has the focus, Enter saves, the focus returns to the button.
        reset = f'[aria-label="Reset password of {name}"]'
        tab_to(page, reset, presses=5)
        page.keyboard.press("Enter")
        _focus_on(page, "[data-testid=reset-password]")
        page.keyboard.type(new_password)
        page.keyboard.press("Enter")
        page.get_by_role("dialog").wait_for(state="hidden")
        _focus_on(page, reset)
        assert can_sign_in(new_password) and not can_sign_in(password)
    finally:
        context.close()
