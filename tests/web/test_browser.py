"""The web app's chat in real Chromium against a real stack (API + worker + Temporal + MariaDB + Redis) and the
scripted model server: sign in, chat with a team and watch it stream, stop, reconnect, approve, retry, the live
task list, languages, isolation between users, and a phone-sized layout. Screenshots are written for a reviewer.
"""

from __future__ import annotations

import time
import uuid
from pathlib import Path

from tests.e2e.teams import team_yaml
from tests.support.stack import Stack
from tests.web.conftest import make_user
from tests.web.pages import LONG_ANSWER, TIMEOUT, sign_in, solo_team, start_chat, wait_state


def test_sign_in_then_a_new_chat_streams_and_equals_the_stored_answer(  # type: ignore[no-untyped-def]
    browser, web_stack: Stack, model, user, screenshots: Path
) -> None:
    username, password, headers = user
    model.script([{"match": "*", "text": LONG_ANSWER, "chunk_size": 7, "chunk_delay": 0.05}])
    team = solo_team(web_stack, model, headers)
    context, page = sign_in(browser, web_stack, username, password)
    try:
        page.screenshot(path=screenshots / "new-chat.png")
        task_id = start_chat(page, team, "tell me a story")
        answer = page.locator("[data-role=assistant] [data-testid=answer]")
        # Watch it stream: some text shows before the whole answer is there.
        partial_seen = False
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            text = answer.inner_text().strip() if answer.count() else ""
            if text and text != LONG_ANSWER:
                partial_seen = True
                page.screenshot(path=screenshots / "chat-streaming.png")
                break
            time.sleep(0.05)
        assert partial_seen, "the answer never showed partially: it did not stream"
        wait_state(page, "COMPLETED", web_stack)
        stored = web_stack.task(task_id, headers=headers)
        assert stored["state"] == "COMPLETED"
        assert answer.inner_text().strip() == stored["messages"][-1]["content"] == LONG_ANSWER
        assert page.get_by_test_id("bot-name").inner_text().endswith("-chat")
        user_text = page.locator("[data-role=user]").first.inner_text()
        assert "tell me a story" in user_text
        # The sidebar lists it with its state, and the console link is the task's workflow.
        item = page.locator(f"[data-testid=task-item][data-task-id='{task_id}']")
        item.locator("[data-state=COMPLETED]").wait_for()
        assert page.get_by_test_id("console-link").get_attribute("href") == stored["consoleUrl"]
        page.screenshot(path=screenshots / "chat-completed.png")
        # The usage page counts it under its team.
        page.get_by_test_id("sections").get_by_text("Usage").click()
        row = page.get_by_test_id("usage-by-team").locator("tr").filter(has_text=team)
        row.wait_for()
        usage = stored["usage"]
        assert str(usage["inputTokens"] + usage["outputTokens"]) in row.inner_text()
        chart = page.get_by_test_id("usage-chart")  # the chart library, loaded with the page's first chart
        chart.locator(".recharts-bar-rectangle").first.wait_for()
        chart.locator("text").filter(has_text=team).first.wait_for()  # the team labels its bar
        page.screenshot(path=screenshots / "usage.png")
    finally:
        context.close()


def test_stop_mid_stream_keeps_the_partial_text(browser, web_stack: Stack, model, user) -> None:  # type: ignore[no-untyped-def]
    username, password, headers = user
    # About 12 s of answer: Stop must land mid-stream even when a loaded CI machine is seconds behind (at 0.3 s
    # a chunk the whole 3.6 s answer was once out before the Stop reached the agent).
    model.script([{"match": "*", "text": LONG_ANSWER, "chunk_size": 5, "chunk_delay": 1.0}])
    team = solo_team(web_stack, model, headers)
    context, page = sign_in(browser, web_stack, username, password)
    try:
        task_id = start_chat(page, team, "a slow story")
        answer = page.locator("[data-role=assistant] [data-testid=answer]")
        answer.wait_for()
        assert page.get_by_test_id("composer-reason").is_visible()  # disabled, with the reason, while running
        page.get_by_test_id("stop").click()
        wait_state(page, "CANCELLED", web_stack)
        stored = web_stack.wait_state(task_id, {"CANCELLED"})
        assert stored["state"] == "CANCELLED"
        shown = answer.inner_text().strip()
        assert shown and LONG_ANSWER.startswith(shown) and shown != LONG_ANSWER
    finally:
        context.close()


def test_a_lost_status_event_still_ends_the_task_on_the_page(browser, web_stack: Stack, model, user) -> None:  # type: ignore[no-untyped-def]
    """The live view is best effort (a task:status published while the API's bus listener reconnects is lost):
    with the page deaf to task:status from mid-answer on, it still shows the task's end, which it reads from the
    server when no new state follows the answer's end, and so does the task list beside it."""
    username, password, headers = user
    # About 3 s of answer: the list's last re-read after the RUNNING it heard (1.5 s) is over before the end.
    model.script([{"match": "*", "text": "answered to a deaf page", "chunk_size": 4, "chunk_delay": 0.5}])
    team = solo_team(web_stack, model, headers)
    context, page = sign_in(browser, web_stack, username, password)
    try:
        task_id = start_chat(page, team, "are you there")
        page.locator("[data-role=assistant] [data-testid=answer]").wait_for()
        page.evaluate("window.__wegentSocket.off('task:status')")  # every listener: the thread's and the list's
        wait_state(page, "COMPLETED", web_stack)
        assert web_stack.task(task_id, headers=headers)["state"] == "COMPLETED"
        assert page.evaluate("window.__wegentSocket.listeners('task:status').length") == 0  # still deaf
        assert page.get_by_test_id("stop").count() == 0  # no Stop left for a task that has ended
        page.locator(f"[data-testid=task-item][data-task-id='{task_id}'] [data-state=COMPLETED]").wait_for()
    finally:
        context.close()


def test_a_task_created_through_rest_appears_in_the_sidebar_live(  # type: ignore[no-untyped-def]
    browser, web_stack: Stack, model, user
) -> None:
    username, password, headers = user
    model.script([{"match": "*", "text": "done quickly"}])
    team = solo_team(web_stack, model, headers)
    context, page = sign_in(browser, web_stack, username, password)
    try:
        page.get_by_test_id("task-sidebar").wait_for()
        page.wait_for_timeout(500)  # the socket is connected and the list loaded
        created = web_stack.create_task(team, "made over REST", headers=headers)
        item = page.locator(f"[data-testid=task-item][data-task-id='{created['id']}']")
        item.wait_for(timeout=15_000)  # no reload: the user's room pushed it
        assert "made over REST" in item.inner_text()
        item.locator("[data-state=COMPLETED]").wait_for(timeout=TIMEOUT)
    finally:
        context.close()


def test_switching_to_chinese_shows_chinese_and_is_kept(browser, web_stack: Stack, user, screenshots: Path) -> None:  # type: ignore[no-untyped-def]
    username, password, _ = user
    context, page = sign_in(browser, web_stack, username, password)
    try:
        assert page.get_by_test_id("new-chat").inner_text().strip() == "New chat"
        page.get_by_test_id("language-switch").click()
        page.locator(".ant-select-item-option").filter(has_text="简体中文").click()
        page.get_by_text("开始新对话").wait_for()
        page.keyboard.press("Escape")
        assert page.get_by_test_id("new-chat").inner_text().replace(" ", "") == "新建对话"
        assert page.evaluate("document.documentElement.lang") == "zh-CN"
        page.screenshot(path=screenshots / "zh-CN.png")
        page.reload()
        page.get_by_text("开始新对话").wait_for()  # kept across visits
    finally:
        context.close()


def test_a_second_user_sees_none_of_the_first_users_tasks(browser, web_stack: Stack, model) -> None:  # type: ignore[no-untyped-def]
    first = make_user(web_stack)
    second = make_user(web_stack)
    model.script([{"match": "*", "text": "private answer"}])
    team = solo_team(web_stack, model, first[2])
    task = web_stack.create_task(team, "first user's secret", headers=first[2])
    context, page = sign_in(browser, web_stack, second[0], second[1])
    try:
        page.get_by_text("No tasks yet").wait_for()
        assert page.get_by_test_id("task-item").count() == 0
        page.goto(f"{web_stack.url}/tasks/{task['id']}")
        page.get_by_text("This task does not exist or you cannot see it.").wait_for()
        assert "secret" not in page.content()
    finally:
        context.close()


def test_phone_width_layout_uses_a_drawer(browser, web_stack: Stack, model, user, screenshots: Path) -> None:  # type: ignore[no-untyped-def]
    username, password, headers = user
    model.script([{"match": "*", "text": "A **short** answer:\n\n- one\n- two"}])
    team = solo_team(web_stack, model, headers)
    task = web_stack.create_task(team, "phone check", headers=headers)
    web_stack.wait_state(task["id"], {"COMPLETED"})
    context, page = sign_in(browser, web_stack, username, password, width=390, height=844)
    try:
        assert not page.get_by_test_id("task-sidebar").is_visible()  # no sidebar column on a phone
        page.goto(f"{web_stack.url}/tasks/{task['id']}")
        wait_state(page, "COMPLETED", web_stack)
        page.locator("[data-testid=answer] strong").wait_for()  # markdown rendered
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, f"the page scrolls sideways at 390 px ({width} px wide)"
        page.screenshot(path=screenshots / "phone-390-thread.png")
        page.get_by_test_id("open-drawer").click()
        page.locator(f".ant-drawer [data-task-id='{task['id']}']").wait_for()
        page.wait_for_timeout(600)  # the drawer's slide-in animation
        page.screenshot(path=screenshots / "phone-390-drawer.png")
    finally:
        context.close()


def test_a_dropped_connection_mid_stream_ends_with_the_complete_text_once(  # type: ignore[no-untyped-def]
    browser, web_stack: Stack, model, user
) -> None:
    username, password, headers = user
    model.script([{"match": "*", "text": LONG_ANSWER, "chunk_size": 5, "chunk_delay": 0.08}])
    team = solo_team(web_stack, model, headers)
    context, page = sign_in(browser, web_stack, username, password)
    try:
        task_id = start_chat(page, team, "stream while I drop")
        answer = page.locator("[data-role=assistant] [data-testid=answer]")
        answer.wait_for()
        # Drop the transport twice mid-stream: the client reconnects, joins again and resumes from its offsets.
        for _ in range(2):
            page.evaluate("window.__wegentSocket.io.engine.close()")
            page.get_by_test_id("live-banner").wait_for(timeout=10_000)
            page.get_by_test_id("live-banner").wait_for(state="detached", timeout=15_000)
            page.wait_for_timeout(400)
        wait_state(page, "COMPLETED", web_stack)
        stored = web_stack.task(task_id, headers=headers)
        assert answer.inner_text().strip() == stored["messages"][-1]["content"] == LONG_ANSWER
        # A reload mid-way is the other way to lose the socket: the thread comes back from the stored history.
        page.reload()
        wait_state(page, "COMPLETED", web_stack)
        assert page.locator("[data-role=assistant] [data-testid=answer]").inner_text().strip() == LONG_ANSWER
    finally:
        context.close()


def test_pipeline_approval_with_an_edited_handoff_then_a_rejection(  # type: ignore[no-untyped-def]
    browser, web_stack: Stack, model, user, screenshots: Path
) -> None:
    username, password, headers = user
    prefix = "p" + uuid.uuid4().hex[:8]
    web_stack.apply(
        team_yaml(
            prefix,
            model.openai_base_url,
            [{"bot": "draft", "requireConfirmation": True}, {"bot": "final", "contextPassing": "previous"}],
        ),
        headers=headers,
    )
    model.script([{"match": "write a haiku", "text": "draft v1", "times": 1}])
    context, page = sign_in(browser, web_stack, username, password)
    try:
        task_id = start_chat(page, f"{prefix}-team", "write a haiku")
        wait_state(page, "PENDING_CONFIRMATION", web_stack)
        handoff = page.get_by_test_id("handoff")
        assert handoff.input_value() == "draft v1"
        assert page.get_by_test_id("bot-label").first.inner_text() == "Stage 1"  # the pipeline stage of the answer
        assert page.get_by_test_id("composer-reason").is_visible()
        handoff.fill("EDITED DRAFT")
        page.screenshot(path=screenshots / "pipeline-approval.png")
        page.get_by_test_id("approve").click()
        wait_state(page, "COMPLETED", web_stack)
        assert model.requests()[-1].messages[-1]["content"] == "EDITED DRAFT"  # the next stage got the edit
        answers = page.locator("[data-role=assistant] [data-testid=answer]")
        answers.nth(1).get_by_text("echo: EDITED DRAFT").wait_for()
        assert web_stack.task(task_id, headers=headers)["messages"][-1]["content"] == "echo: EDITED DRAFT"

        # Reject ends the next one, with the reason.
        page.get_by_test_id("new-chat").click()
        second = start_chat(page, f"{prefix}-team", "write a limerick")
        wait_state(page, "PENDING_CONFIRMATION", web_stack)
        page.get_by_test_id("reject-reason").fill("off topic")
        page.get_by_test_id("reject").click()
        wait_state(page, "CANCELLED", web_stack)
        assert "off topic" in web_stack.task(second, headers=headers)["error"]
    finally:
        context.close()


def test_retry_a_failed_task_on_another_model(browser, web_stack: Stack, model, user) -> None:  # type: ignore[no-untyped-def]
    username, password, headers = user
    model.script([{"match": "*", "status": 401, "error_message": "invalid api key", "times": 1}])
    team = solo_team(web_stack, model, headers)
    other = f"{team}-other"
    web_stack.apply(
        f"kind: Model\nmetadata:\n  name: {other}\nspec:\n  provider: openai\n  baseUrl: {model.openai_base_url}\n"
        "  model: other-model\n  apiKey: sk-test\n",
        headers=headers,
    )
    context, page = sign_in(browser, web_stack, username, password)
    try:
        task_id = start_chat(page, team, "fail then work")
        wait_state(page, "FAILED", web_stack)
        page.get_by_label("Model for the retry").click()
        page.locator(".ant-select-item-option").filter(has_text=other).click()
        page.get_by_test_id("retry").click()
        wait_state(page, "COMPLETED", web_stack)
        stored = web_stack.task(task_id, headers=headers)
        assert stored["messages"][-1]["content"] == "echo: fail then work"
        assert model.requests()[-1].model == "other-model"  # the retry ran on the Model picked
        page.locator("[data-role=assistant] [data-testid=answer]").last.get_by_text("echo: fail then work").wait_for()
        page.get_by_test_id("timeline").click()
        assert page.get_by_test_id("timeline-step").count() >= 1
    finally:
        context.close()


def test_a_follow_up_streams_a_second_turn_in_the_same_thread(browser, web_stack: Stack, model, user) -> None:  # type: ignore[no-untyped-def]
    username, password, headers = user
    model.script([{"match": "first", "text": "first answer"}, {"match": "second", "text": "second answer"}])
    team = solo_team(web_stack, model, headers)
    context, page = sign_in(browser, web_stack, username, password)
    try:
        task_id = start_chat(page, team, "the first question")
        wait_state(page, "COMPLETED", web_stack)
        box = page.locator("[data-testid=composer] textarea")
        box.fill("the second question")
        box.press("Enter")
        answers = page.locator("[data-role=assistant] [data-testid=answer]")
        answers.nth(1).get_by_text("second answer").wait_for()
        wait_state(page, "COMPLETED", web_stack)
        assert [a.strip() for a in answers.all_inner_texts()] == ["first answer", "second answer"]
        users = page.locator("[data-role=user]").all_inner_texts()
        assert len(users) == 2 and "the second question" in users[1]
        stored = web_stack.task(task_id, headers=headers)
        assert stored["turn"] == 2 and stored["messages"][-1]["content"] == "second answer"
    finally:
        context.close()
