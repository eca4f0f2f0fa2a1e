"""An answer of 20,000 chunks renders in real Chromium, exactly, and the page keeps painting meanwhile (issue 15).

The chunks are fed to the page's own socket listeners (tests/web/long_answer.py). How long frames and main-thread
tasks take is measured by benchmarks/web_app.py, not asserted here.
"""

from __future__ import annotations

from pathlib import Path

from tests.support.stack import Stack
from tests.web.conftest import make_user
from tests.web.long_answer import FEED
from tests.web.pages import sign_in, solo_team, wait_state

CHUNKS = 20_000


def test_twenty_thousand_chunks_render_exactly_while_the_page_keeps_painting(  # type: ignore[no-untyped-def]
    browser, web_stack: Stack, model, screenshots: Path
) -> None:
    username, password, headers = make_user(web_stack)
    model.script([{"match": "*", "text": "ready"}])
    team = solo_team(web_stack, model, headers)
    task = web_stack.create_task(team, "a long answer", headers=headers)
    web_stack.wait_state(task["id"], {"COMPLETED"}, timeout=120)  # a loaded machine starts executors slowly
    context, page = sign_in(browser, web_stack, username, password)
    try:
        page.goto(f"{web_stack.url}/tasks/{task['id']}")
        wait_state(page, "COMPLETED", web_stack)
        result = page.evaluate(FEED, [task["id"], CHUNKS, False, 9_000_000])
        page.screenshot(path=screenshots / "long-answer.png")
        assert result["text_ok"], "the rendered text is not the chunks in order, once each"
        assert result["frames"] > 10, "the page did not paint while the chunks came in"  # coalesced per frame
    finally:
        context.close()
