"""Feeding a long answer to the chat page in Chromium: the page's own socket listeners get `chat:start`, then the
chunks in bursts of 50 per macrotask as a busy socket delivers them (or, as a floor to compare with, the whole
text as one chunk), so the real StreamStore, the per-frame coalescing and React and markdown rendering all run.
Returns the frame intervals and long tasks (> 50 ms) of the main thread meanwhile, and whether the text is exact.
Used by tests/web/test_stream_perf.py (correctness) and benchmarks/web_app.py (the figures).
"""

FEED = """
async ([taskId, total, single, messageId]) => {
  const socket = window.__wegentSocket
  const emit = (event, data) => socket.listeners(event).forEach((fn) => fn(data))
  const longTasks = []
  const observer = new PerformanceObserver((list) => list.getEntries().forEach((e) => longTasks.push(e.duration)))
  observer.observe({ type: 'longtask', buffered: false })
  const frames = []
  let last = null // the first frame only starts the clock (its timestamp may precede this script)
  let running = true
  const tick = (now) => {
    if (last !== null) frames.push(now - last)
    last = now
    if (running) requestAnimationFrame(tick)
  }
  requestAnimationFrame(tick)
  const base = { task_id: taskId, message_id: messageId, turn: 1, step: 1, bot: 'bench', run_id: 'bench-run' }
  const started = performance.now()
  emit('chat:start', base)
  const word = (j) => `w${j} ` + (j % 200 === 0 ? '\\n\\n' : '')
  let expected = ''
  for (let j = 1; j <= total; j++) expected += word(j)
  if (single) emit('chat:chunk', { ...base, offset: total, content: expected })
  else for (let i = 1; i <= total; i += 50) {
    for (let j = i; j < Math.min(i + 50, total + 1); j++) emit('chat:chunk', { ...base, offset: j, content: word(j) })
    await new Promise((r) => setTimeout(r, 0))
  }
  const fed = performance.now() - started
  const node = () => document.querySelector(`[data-message-id="${messageId}"] [data-testid=answer]`)
  while (!node() || !node().innerText.includes(`w${total}`)) await new Promise((r) => setTimeout(r, 20))
  const rendered = performance.now() - started
  running = false
  observer.disconnect()
  frames.sort((a, b) => a - b)
  return {
    fed_ms: fed, rendered_ms: rendered, frames: frames.length,
    frame_p50: frames[Math.floor(frames.length / 2)], frame_p95: frames[Math.floor(frames.length * 0.95)],
    frame_max: frames[frames.length - 1], long_tasks: longTasks.length,
    long_task_max: longTasks.length ? Math.max(...longTasks) : 0,
    frame_list: frames, long_task_list: longTasks,
    text_ok: node().innerText.replace(/\\s+/g, ' ').trim() === expected.replace(/\\s+/g, ' ').trim(),
  }
}
"""
