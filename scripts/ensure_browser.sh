#!/usr/bin/env bash
# The browser end-to-end tests (tests/web) drive Debian's chromium through Playwright: install it and the CJK
# fonts (without them Chinese renders as empty boxes in screenshots). Never a browser downloaded by a test tool.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

apt_install chromium fonts-noto-cjk
"$VENV/bin/python" -c "import playwright" 2>/dev/null || "$VENV/bin/pip" install -q -e "$ROOT[dev]"
