"""What several end-to-end modules share: a user registering, an image to upload, polling until something holds."""

from __future__ import annotations

import io
import os
import time

import pytest
import requests
from PIL import Image


def register(http: requests.Session, base_url: str, name: str) -> dict:
    response = http.post(
        f"{base_url}/api/auth/register",
        json={"username": name, "email": f"{name}@example.test", "password": "correct horse battery"},
    )
    assert response.status_code == 201, response.text
    return response.json()["user"]


def png_bytes(width: int, height: int) -> bytes:
    """A PNG of random pixels: it does not compress, so its size is about width * height * 3."""
    image = Image.frombytes("RGB", (width, height), os.urandom(width * height * 3))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", compress_level=0)
    return buffer.getvalue()


def wait_for(predicate, seconds: float, what: str):
    """Poll `predicate` until it returns something truthy; fail naming `what` after `seconds`."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    pytest.fail(f"{what} did not happen within {seconds:.0f}s")
