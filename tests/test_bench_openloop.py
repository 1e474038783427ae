"""bench/openloop.py: h2load's output as figures, and real h2load runs against a loopback server (127.0.0.1 only).

The runs are short (1-2 s at 100/s) and assert no speed, only what the open loop must be: arrivals spread evenly
at the asked rate, the request as asked (method, body, content type, cookie), and failures counted as failures.
"""

from __future__ import annotations

import bisect
import contextlib
import http.server
import socket
import threading
import time
from dataclasses import dataclass

from bench import openloop, wrk

# A real run (h2load 1.52, the command line of openloop.step at 4/s for 3 s) against a server that answered
# /ok with 200, /missing with 404 and closed the connection in the middle of /cut's body, the URIs in turn.
MIXED_SUMMARY = """\
starting benchmark...
spawning thread #0: 4 total client(s). Up to 1 client(s) will be created every 250ms 12 total requests
progress: 25% of clients started
Application protocol: http/1.1
progress: 50% of clients started
progress: 75% of clients started
progress: 100% of clients started

finished in 2.75s, 2.91 req/s, 185B/s
requests: 12 total, 12 started, 8 done, 4 succeeded, 8 failed, 4 errored, 0 timeout
status codes: 8 2xx, 0 3xx, 4 4xx, 0 5xx
traffic: 512B (512) total, 184B (184) headers (space savings 0.00%), 24B (24) data
                     min         max         mean         sd        +/- sd
time for request:      271us      1.41ms       692us       436us    75.00%
time for connect:      223us       992us       576us       318us    50.00%
time to 1st byte:     1.51ms      1.67ms      1.61ms        72us    75.00%
req/s           :       1.00        1.00        1.00        0.00    50.00%
"""
MIXED_LOG = """\
1796173136239737\t200\t1405
1796173136490272\t200\t1020
1796173136740739\t200\t508
1796173136990760\t200\t1167
1796173137240388\t404\t406
1796173137491229\t404\t395
1796173137742073\t404\t271
1796173137991741\t404\t364
"""
# A real run at 5/s for 2 s (-N 1s) against a socket that accepted connections and never answered: no log rows.
SILENT_SUMMARY = """\
starting benchmark...
spawning thread #0: 5 total client(s). Up to 1 client(s) will be created every 200ms 10 total requests
progress: 20% of clients started
Application protocol: http/1.1
progress: 40% of clients started
progress: 60% of clients started
progress: 80% of clients started
progress: 100% of clients started

finished in 1.80s, 0.00 req/s, 0B/s
requests: 10 total, 5 started, 0 done, 0 succeeded, 10 failed, 10 errored, 5 timeout
status codes: 0 2xx, 0 3xx, 0 4xx, 0 5xx
traffic: 0B (0) total, 0B (0) headers (space savings 0.00%), 0B (0) data
                     min         max         mean         sd        +/- sd
time for request:        0us         0us         0us         0us     0.00%
time for connect:        0us         0us         0us         0us     0.00%
time to 1st byte:        0us         0us         0us         0us     0.00%
req/s           :       0.00        0.00        0.00        0.00     0.00%
"""


def test_a_real_run_with_2xx_4xx_and_cut_responses_is_parsed():
    # The cut responses are in h2load's "8 2xx" (their headers came) but have no log row: not succeeded, errored.
    assert openloop.parse(MIXED_SUMMARY, MIXED_LOG, 4, 3) == {
        "rate": 4,
        "seconds": 3,
        "achieved_rps": 4.6,  # 8 responses from the first start to the last end, 1.752368 s
        "responses": 8,
        "p99_ms": 1.41,  # nearest rank of 8: the slowest
        "failed": 8,  # 12 asked, 4 answered 2xx
        "statuses": {"200": 4, "404": 4},
        "transport_errors": {"errored": 4},
        "ok": False,
    }


def test_a_real_run_without_any_answer_is_parsed():
    assert openloop.parse(SILENT_SUMMARY, "", 5, 2) == {
        "rate": 5,
        "seconds": 2,
        "achieved_rps": 0.0,
        "responses": 0,
        "p99_ms": None,
        "failed": 10,
        "statuses": {},
        "transport_errors": {"errored": 10, "timeout": 5},
        "ok": False,
    }


def test_a_passing_step_needs_p99_under_the_limit_no_failure_and_the_rate():
    rows = "".join(f"{1_000_000 + i * 10_000}\t200\t{2_000}\n" for i in range(100))  # 100/s, 2 ms each
    summary = "requests: 100 total, 100 started, 100 done, 100 succeeded, 0 failed, 0 errored, 0 timeout\n"
    assert openloop.parse(summary, rows, 100, 1)["ok"] is True
    assert openloop.parse(summary, rows, 120, 1)["ok"] is False  # 100.8/s is under 90% of 120/s
    slow = rows.replace("\t2000\n", "\t100000\n")
    assert openloop.parse(summary, slow, 100, 1)["p99_ms"] == 100.0
    assert openloop.parse(summary, slow, 100, 1)["ok"] is False


def test_plan_starts_the_connections_one_request_interval_apart():
    assert openloop.plan(10) == (10, 1, 100)
    assert openloop.plan(100) == (100, 1, 10)
    assert openloop.plan(400) == (400, 2, 5)
    assert openloop.plan(3200) == (512, 16, 5)
    for rate in openloop.RATES:
        clients, per_period, period_ms = openloop.plan(rate)
        assert per_period * 1000 == rate * period_ms  # connection i starts at exactly i/rate s
        assert clients * 1000 >= rate * openloop.P99_LIMIT_MS  # no client's interval is shorter than the limit


def test_the_command_line(tmp_path):
    log_file, body_file = tmp_path / "requests.tsv", tmp_path / "body.json"
    post = wrk.Request("http://127.0.0.1:9/api/posts", "POST", '{"body": "x"}', "session=abc")
    assert openloop._argv(post, 3200, 5, log_file, body_file)[1:] == [
        "--h1", "-n", "16000", "-c", "512", "--rps", "6.25", "-r", "16", "--rate-period", "5ms", "-t", "1",
        "-N", "10s", "--log-file", str(log_file), "-d", str(body_file), "-H", "content-type: application/json",
        "-H", "cookie: session=abc", "http://127.0.0.1:9/api/posts",
    ]  # fmt: skip
    put = wrk.Request("http://127.0.0.1:9/x", "PUT")
    assert openloop._argv(put, 100, 1, log_file, None)[-3:] == ["-H", ":method: PUT", "http://127.0.0.1:9/x"]


def test_highest_rate_steps_up_until_a_step_breaks(monkeypatch):
    asked = []

    def step(_request, rate, seconds):
        asked.append(rate)
        return {"rate": rate, "seconds": seconds, "achieved_rps": rate, "p99_ms": 1.0, "failed": 0, "ok": rate < 50}

    monkeypatch.setattr(openloop, "step", step)
    messages: list[str] = []
    found = openloop.highest_rate(
        wrk.Request("http://127.0.0.1:9/"),
        seconds=1,
        rates=[10, 25, 50, 100],
        log=messages.append,
        between=lambda: asked.append("between"),
    )
    # The warm-up first (at WARMUP_RATE), unrecorded; then the steps until one breaks; `between` after each.
    assert asked == [openloop.WARMUP_RATE, "between", 10, "between", 25, "between", 50, "between"]
    assert found["max_rate_p99_under_100ms"] == 25 and [s["rate"] for s in found["steps"]] == [10, 25, 50]
    assert messages == [
        "  open loop warm-up 50/s (not recorded): p99 1.0 ms, 0 failed",
        "  open loop 10/s: achieved 10/s, p99 1.0 ms, 0 failed -> ok",
        "  open loop 25/s: achieved 25/s, p99 1.0 ms, 0 failed -> ok",
        "  open loop 50/s: achieved 50/s, p99 1.0 ms, 0 failed -> broke",
    ]


@dataclass(frozen=True)
class Arrival:
    at: float  # time.monotonic() when the request was read
    method: str
    path: str
    body: bytes
    content_type: str | None
    cookie: str | None


class _Recorder(http.server.BaseHTTPRequestHandler):
    # Keep-alive, as nginx does: h2load sends a reconnecting client's request at once, off its ticker.
    protocol_version = "HTTP/1.1"

    def _answer(self) -> None:
        at = time.monotonic()
        body = self.rfile.read(int(self.headers.get("content-length") or 0))
        headers = self.headers
        self.server.seen.append(Arrival(at, self.command, self.path, body, headers["content-type"], headers["cookie"]))
        self.send_response(404 if self.path == "/missing" else 200)
        self.send_header("content-length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    do_GET = do_POST = _answer

    def log_message(self, *_args) -> None:
        pass


class _RecordingServer(http.server.ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Recorder)
        self.seen: list[Arrival] = []


@contextlib.contextmanager
def recording_server():
    server = _RecordingServer()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", server.seen
    finally:
        server.shutdown()
        server.server_close()


def busiest(times: list[float], window: float) -> int:
    """The most arrivals in any `window` seconds (sliding; `times` sorted)."""
    return max(bisect.bisect_left(times, t + window) - i for i, t in enumerate(times))


def test_arrivals_are_spread_evenly_at_the_asked_rate():
    with recording_server() as (base, seen):
        step = openloop.step(wrk.Request(f"{base}/ok"), 100, 2)
    times = sorted(a.at for a in seen)
    assert (len(times), step["responses"], step["statuses"], step["failed"]) == (200, 200, {"200": 200}, 0)
    # 100/s puts 10 in any 100 ms; hey's synchronized tickers put all 100 of a second into a few ms.
    assert busiest(times, 0.1) <= 25
    assert 90 <= (len(times) - 1) / (times[-1] - times[0]) <= 110
    assert 90 <= step["achieved_rps"] <= 110
    assert step["clients"] == 100 and step["p99_ms"] > 0


def test_a_post_carries_its_body_content_type_and_cookie():
    with recording_server() as (base, seen):
        step = openloop.step(wrk.Request(f"{base}/api/posts", "POST", '{"body": "x"}', "session=abc"), 100, 1)
    assert (step["statuses"], step["failed"], step["transport_errors"]) == ({"200": 100}, 0, {})
    assert {(a.method, a.path, a.body, a.content_type, a.cookie) for a in seen} == {
        ("POST", "/api/posts", b'{"body": "x"}', "application/json", "session=abc")
    }


def test_non_2xx_answers_and_refused_connections_are_failures():
    with recording_server() as (base, _seen):
        missing = openloop.step(wrk.Request(f"{base}/missing"), 100, 1)
    assert (missing["statuses"], missing["failed"], missing["transport_errors"], missing["ok"]) == (
        {"404": 100},
        100,
        {},
        False,
    )
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    refused = openloop.step(wrk.Request(f"http://127.0.0.1:{port}/"), 100, 1)
    assert (refused["responses"], refused["p99_ms"], refused["failed"], refused["ok"]) == (0, None, 100, False)
    assert refused["transport_errors"] == {"errored": 100}
