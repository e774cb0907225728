"""A headless Chromium driven over the DevTools protocol on a pipe (--remote-debugging-pipe):
no Python dependency, no port. Every wait has a deadline; the browser is ended by its pid.

The pipe carries JSON messages, each ended by a NUL byte: we write to the browser's fd 3 and
read from its fd 4.
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
import select
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--disable-dev-shm-usage",
    "--hide-scrollbars",
    "--mute-audio",
    "--remote-debugging-pipe",
)


def find_chromium() -> str | None:
    found = os.environ.get("READINESS_CHROMIUM")
    if found:
        return found
    return next((path for name in CANDIDATES if (path := shutil.which(name))), None)


class BrowserError(Exception):
    pass


class Page:
    """One tab: navigate, evaluate, screenshot; events are kept for later inspection."""

    def __init__(self, browser: Browser, session: str) -> None:
        self._browser = browser
        self._session = session

    def send(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        return self._browser.send(method, params, session=self._session)

    def events(self, method: str) -> list[dict[str, Any]]:
        return [
            e["params"]
            for e in self._browser.events
            if e.get("method") == method and e.get("sessionId") == self._session
        ]

    def open(self, url: str, width: int, height: int = 900, mobile: bool = False) -> None:
        self.send(
            "Emulation.setDeviceMetricsOverride",
            {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": mobile},
        )
        self.send("Page.navigate", {"url": url})
        self._browser.wait_for("Page.loadEventFired", self._session)

    def evaluate(self, expression: str) -> Any:
        reply = self.send(
            "Runtime.evaluate",
            {"expression": expression, "returnByValue": True, "awaitPromise": True},
        )
        if "exceptionDetails" in reply:
            raise BrowserError(f"script failed: {reply['exceptionDetails']}")
        return reply["result"].get("value")

    def screenshot(self, path: Path, *, full_page: bool = True, max_height: int = 16000) -> None:
        params: dict[str, Any] = {"format": "png"}
        if full_page:
            size = self.send("Page.getLayoutMetrics")["cssContentSize"]
            params["captureBeyondViewport"] = True
            params["clip"] = {
                "x": 0,
                "y": 0,
                "width": size["width"],
                "height": min(size["height"], max_height),
                "scale": 1,
            }
        data = self.send("Page.captureScreenshot", params)["data"]
        path.write_bytes(base64.b64decode(data))


class Browser:
    def __init__(self, process: subprocess.Popen[bytes], write_fd: int, read_fd: int) -> None:
        self._process = process
        self._write = write_fd
        self._read = read_fd
        self._buffer = b""
        self._next_id = 0
        self.events: list[dict[str, Any]] = []
        self.timeout = 30.0

    def send(
        self, method: str, params: dict[str, Any] | None = None, session: str | None = None
    ) -> dict[str, Any]:
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params or {}}
        if session is not None:
            message["sessionId"] = session
        os.write(self._write, json.dumps(message).encode() + b"\0")
        reply = self._until(lambda m: m.get("id") == self._next_id, method)
        if "error" in reply:
            raise BrowserError(f"{method}: {reply['error']}")
        result: dict[str, Any] = reply.get("result", {})
        return result

    def wait_for(self, event: str, session: str | None = None) -> dict[str, Any]:
        for seen in self.events:
            if seen.get("method") == event and seen.get("sessionId") == session:
                self.events.remove(seen)
                return seen
        return self._until(
            lambda m: m.get("method") == event and m.get("sessionId") == session, event
        )

    def new_page(self) -> Page:
        target = self.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self.send("Target.attachToTarget", {"targetId": target, "flatten": True})[
            "sessionId"
        ]
        page = Page(self, session)
        for domain in ("Page", "Runtime", "Log", "Network"):
            page.send(f"{domain}.enable")
        return page

    def _until(self, wanted: Any, what: str) -> dict[str, Any]:
        deadline = time.monotonic() + self.timeout
        while True:
            while b"\0" in self._buffer:
                raw, _, self._buffer = self._buffer.partition(b"\0")
                message = json.loads(raw)
                if wanted(message):
                    return message  # type: ignore[no-any-return]
                if "method" in message:
                    self.events.append(message)
            left = deadline - time.monotonic()
            if left <= 0:
                raise BrowserError(f"no answer to {what} within {self.timeout:g} s")
            ready, _, _ = select.select([self._read], [], [], left)
            if ready:
                chunk = os.read(self._read, 1 << 20)
                if not chunk:
                    raise BrowserError(f"the browser closed its pipe while waiting for {what}")
                self._buffer += chunk


@contextmanager
def open_browser(executable: str) -> Iterator[Browser]:
    """Start Chromium with a throwaway profile; end it (and its children) on the way out."""
    to_browser_r, to_browser_w = _high_pipe()
    from_browser_r, from_browser_w = _high_pipe()

    def pipes_at_3_and_4() -> None:  # in the child, before exec; dup2 makes them inheritable
        os.dup2(to_browser_r, 3)
        os.dup2(from_browser_w, 4)

    with tempfile.TemporaryDirectory(prefix="readiness-chromium-") as profile:
        # close_fds=False: our other descriptors are non-inheritable anyway, and closing
        # would happen after preexec_fn and take 3 and 4 with it.
        process = subprocess.Popen(
            [executable, *FLAGS, f"--user-data-dir={profile}", "about:blank"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            close_fds=False,
            preexec_fn=pipes_at_3_and_4,
            start_new_session=True,
        )
        os.close(to_browser_r)
        os.close(from_browser_w)
        try:
            yield Browser(process, to_browser_w, from_browser_r)
        finally:
            os.close(to_browser_w)  # Chromium exits when its command pipe closes
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)
            finally:
                os.close(from_browser_r)


def _high_pipe() -> tuple[int, int]:
    """A pipe whose two ends sit above fd 9, so moving them to 3 and 4 clobbers neither."""
    low_r, low_w = os.pipe()
    try:
        return fcntl.fcntl(low_r, fcntl.F_DUPFD_CLOEXEC, 10), fcntl.fcntl(
            low_w, fcntl.F_DUPFD_CLOEXEC, 10
        )
    finally:
        os.close(low_r)
        os.close(low_w)


def main(argv: list[str] | None = None) -> int:
    """`python -m tests.reports.browser REPORT.html OUT.png [WIDTH] [MAX_HEIGHT]`: a full-page
    screenshot (how docs/report.png is made)."""
    import sys

    args = sys.argv[1:] if argv is None else argv
    executable = find_chromium()
    if len(args) < 2 or executable is None:
        print(main.__doc__, file=sys.stderr)
        return 2
    width = int(args[2]) if len(args) > 2 else 1280
    height = int(args[3]) if len(args) > 3 else 16000
    with open_browser(executable) as browser:
        page = browser.new_page()
        page.open(Path(args[0]).resolve().as_uri(), width, mobile=width < 500)
        page.screenshot(Path(args[1]), max_height=height)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
