"""Our own retry layer (syncer/backends/calls.py) waits at least what a server's Retry-After asks
for, where the failure carries the response (plain HTTP such as signed-URL downloads; Azure SDK
errors)."""

from __future__ import annotations

import threading
import time
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests

from syncer.backends.calls import call
from syncer.backends.classify import retry_after
from syncer.backends.endpoint import Endpoint


class Busy:
    """Answers 429 with a Retry-After header `times` times, then 200; records when each request
    came."""

    def __init__(self, header: str, times: int = 1) -> None:
        self.header, self.left, self.seen = header, times, []
        busy = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                busy.seen.append(time.monotonic())
                status = 429 if busy.left > 0 else 200
                busy.left -= 1
                self.send_response(status)
                if status == 429:
                    self.send_header("Retry-After", busy.header)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


def _get(url: str) -> str:
    resp = requests.get(url, timeout=10)
    resp.raise_for_status()
    return resp.text


@pytest.mark.parametrize("form", ["seconds", "date"])
def test_a_429_is_retried_no_sooner_than_retry_after(form):
    # at least 2 s either way (a date has whole seconds: 3-4 s from now)
    busy = Busy("2" if form == "seconds" else formatdate(time.time() + 4, usegmt=True))
    try:
        assert call(Endpoint("http://127.0.0.1:1"), "signed_get", lambda: _get(busy.url)) == "ok"
    finally:
        busy.server.shutdown()
    assert len(busy.seen) == 2
    assert (
        busy.seen[1] - busy.seen[0] >= 2.0
    )  # the exponential backoff alone would be about 0.5-1 s


def test_retry_after_is_read_from_seconds_or_a_date_and_ignored_when_absent():
    response = requests.Response()
    response.headers["Retry-After"] = "7"
    assert retry_after(requests.HTTPError(response=response)) == 7.0
    response.headers["Retry-After"] = formatdate(time.time() - 60, usegmt=True)
    assert retry_after(requests.HTTPError(response=response)) == 0.0
    assert retry_after(ValueError("no response")) is None
