#!/usr/bin/env python3
"""Take the viewer's screenshots in docs/img: a real relay-web with a sample review, in headless Chromium.

.venv/bin/python scripts/docs_screenshot.py [--dark]     # channel.png only, to --out
.venv/bin/python scripts/docs_screenshot.py --all        # channel, thread, search, list and phone shots
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from playwright.sync_api import sync_playwright  # noqa: E402

from shared.config import resolve_config  # noqa: E402
from shared.relay import Relay  # noqa: E402
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


def sample_store(data_dir: Path) -> None:
    """A review in proj-x: packet, verdict, discussion, as threads; one agent has read part of it."""
    store = FileStore(data_dir)
    store.append("proj-x", "claude", PACKET, source="mcp")
    store.append("proj-x", "codex", REVIEW, source="mcp", reply_to=1)
    store.append(
        "proj-x", "alice", "Agreed on the key. @claude please add the test too.", source="web-ui", reply_to=2
    )
    store.append(
        "proj-x",
        "claude",
        "Done: keyed on both, test added. Updated packet follows.",
        source="mcp",
        reply_to=3,
    )
    store.append("codex", "claude", "Packet for the login limiter is in proj-x, #1.", source="mcp")
    relay = Relay(resolve_config({"data_dir": str(data_dir)}, env={}))
    relay.fetch("proj-x", identity="codex", limit=3)  # codex has read up to #3
    relay.fetch("proj-x", identity="alice")  # alice has read everything


SHOTS = (  # (file, path, width, height)
    ("channel.png", "/channels/proj-x", 1100, 1100),
    ("thread.png", "/channels/proj-x/threads/4", 1100, 900),
    ("search.png", "/search?q=limiter", 1100, 700),
    ("channels.png", "/", 1100, 560),
    ("channel-phone.png", "/channels/proj-x", 390, 844),
)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--dark", action="store_true")
    parser.add_argument("--all", action="store_true", help="every screenshot of docs/viewer.md")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "img" / "channel.png")
    args = parser.parse_args()
    shots = SHOTS if args.all else ((args.out.name, SHOTS[0][1], 1100, 1100),)
    folder = ROOT / "docs" / "img" if args.all else args.out.parent
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        sample_store(tmp / "data")
        with running_relay_web(tmp / "home", tmp / "data") as (base, _), sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
            for name, path, width, height in shots:
                page = browser.new_page(
                    viewport={"width": width, "height": height},
                    color_scheme="dark" if args.dark else "light",
                )
                page.goto(f"{base}{path}")
                if page.locator("#c-sender").count():
                    page.fill("#c-sender", "alice")
                page.wait_for_selector("time .rel:not(:empty)")
                if "/channels/" in path and "/threads/" not in path:
                    page.wait_for_selector("#presence li")
                page.evaluate("document.activeElement.blur(); window.scrollTo(0, 0)")
                page.screenshot(path=str(folder / name))
                page.close()
                print(f"wrote {folder / name}")
            browser.close()


if __name__ == "__main__":
    main()
