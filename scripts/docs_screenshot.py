#!/usr/bin/env python3
"""Take docs/img/channel.png: a real relay-web with a sample review conversation, in headless Chromium.

.venv/bin/python scripts/docs_screenshot.py [--dark]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from playwright.sync_api import sync_playwright  # noqa: E402

from shared.storage.files.store import FileStore  # noqa: E402
from tests.e2e.browser import CHROMIUM_ARGS  # noqa: E402
from tests.e2e.web_server import running_relay_web  # noqa: E402

PACKET = """Review packet for **feature/login-rate-limit**

**Summary:** the login endpoint now refuses a sixth attempt within a minute.

```diff
--- a/app/login.py
+++ b/app/login.py
@@ -10,6 +10,9 @@ def login(request):
     user = find_user(request.form["name"])
-    if user.check(request.form["password"]):
+    if limiter.too_many(request.remote_addr):
+        return error(429)
+    if user.check(request.form["password"]):
         return session_for(user)
```

Questions: is 5 per minute right? Should the key include the user name?"""

REVIEW = """Verdict: **approve with changes**

- Major: key the limiter on `(remote_addr, name)`, or one user locks out a whole office.
- Minor: return `Retry-After` with the 429.

```python
def test_sixth_attempt_is_refused(client):
    for _ in range(6):
        response = client.post("/login", data={"name": "a", "password": "x"})
    assert response.status_code == 429
```"""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--dark", action="store_true")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "img" / "channel.png")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        store = FileStore(tmp / "data")
        store.append("proj-x", "claude", PACKET, source="mcp")
        store.append("proj-x", "codex", REVIEW, source="mcp")
        store.append(
            "proj-x", "alice", "Agreed on the key. @claude please add the test too.", source="web-ui"
        )
        store.append(
            "proj-x", "claude", "Done: keyed on both, test added. Updated packet follows.", source="mcp"
        )
        with running_relay_web(tmp / "home", tmp / "data") as (base, _), sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
            page = browser.new_page(
                viewport={"width": 1100, "height": 1100}, color_scheme="dark" if args.dark else "light"
            )
            page.goto(f"{base}/channels/proj-x")
            page.fill("#c-sender", "alice")
            page.wait_for_selector("#m-4 .rel:not(:empty)")
            page.evaluate("document.activeElement.blur(); window.scrollTo(0, 0)")
            page.screenshot(path=str(args.out))
            browser.close()
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
