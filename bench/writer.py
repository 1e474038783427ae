"""A writer that keeps creating posts through the API while faults are injected, and remembers which were
acknowledged (201 with the post's id): those must all still be there afterwards."""

from __future__ import annotations

import threading
import time
from collections import Counter
from typing import Any

import requests

REQUEST_TIMEOUT_S = 5
MAX_SECONDS = 900  # a writer nobody stops still ends


class Writer:
    """Posts as fast as one connection allows (with a short pause after a failure), in a thread."""

    def __init__(self, base_url: str, cookie: str, label: str = "chaos writer") -> None:
        self.url = base_url.rstrip("/") + "/api/posts"
        self.cookie = cookie
        self.label = label
        self.acknowledged: list[int] = []
        self.failures: Counter[str] = Counter()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=label, daemon=True)

    def _loop(self) -> None:
        session = requests.Session()
        session.headers["Cookie"] = self.cookie
        deadline = time.monotonic() + MAX_SECONDS
        sequence = 0
        while not self._stop.is_set() and time.monotonic() < deadline:
            sequence += 1
            try:
                response = session.post(self.url, json={"body": f"{self.label} #{sequence}"}, timeout=REQUEST_TIMEOUT_S)
            except requests.RequestException as error:
                self.failures[type(error).__name__] += 1
                session.close()
                session = requests.Session()
                session.headers["Cookie"] = self.cookie
                self._stop.wait(0.05)
                continue
            if response.status_code == 201:
                self.acknowledged.append(int(response.json()["post"]["id"]))
            else:
                self.failures[f"HTTP {response.status_code}"] += 1
                self._stop.wait(0.05)
        session.close()

    def __enter__(self) -> Writer:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def stop(self) -> dict[str, Any]:
        self._stop.set()
        self._thread.join(timeout=REQUEST_TIMEOUT_S + 5)
        return {"acknowledged": len(self.acknowledged), "failed_requests": dict(self.failures)}
