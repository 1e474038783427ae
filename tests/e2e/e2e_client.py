"""What several end-to-end modules do as a user of the site: register, make an image to upload."""

from __future__ import annotations

import io
import os

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
