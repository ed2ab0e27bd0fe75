"""A small threaded HTTP gateway in front of a real `mlflow server`, with pluggable service rules.

Databricks and Azure ML cannot run here; these gateways give a real MLflow server their observable
behaviour at the HTTP level (auth, API paths, rate limits with 429 + Retry-After, service limits,
missing APIs), so the syncer talks to them exactly as it would to the real service.
"""

from __future__ import annotations

import json
import ssl
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import requests

HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "transfer-encoding",
    "content-length",
    "content-encoding",
    "host",
    "te",
    "trailer",
    "upgrade",
    "proxy-authorization",
    "proxy-authenticate",
}


@dataclass
class Request:
    """One incoming request, as the rules see (and may rewrite) it."""

    method: str
    path: str  # without the query string
    query: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> dict:
        return json.loads(self.body or b"{}") if self.body.strip() else {}

    def set_json(self, data: dict) -> None:
        self.body = json.dumps(data).encode()


@dataclass
class Reply:
    status: int
    body: dict | bytes  # bytes: sent as they are (an empty 404, as some services answer)
    headers: dict[str, str] = field(default_factory=dict)


def error(status: int, code: str, message: str, **headers: str) -> Reply:
    return Reply(status, {"error_code": code, "message": message}, dict(headers))


class Rules:
    """Base class: look at (and possibly rewrite) a request; return a Reply to answer it instead."""

    def check(self, req: Request, gateway: Gateway) -> Reply | None:
        return None

    def rewrite(self, req: Request, content: bytes) -> bytes:
        """Rewrite the upstream server's answer before it goes back to the client."""
        return content


class Gateway:
    """Proxy every request to `upstream` after the rules have passed it."""

    def __init__(
        self, upstream: str, rules: list[Rules], tls: ssl.SSLContext | None = None
    ) -> None:
        self.upstream = upstream.rstrip("/")
        self.rules = rules
        self.counts: Counter = Counter()
        self.lock = threading.Lock()
        self.local = threading.local()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        if tls is not None:  # HTTPS, for clients that only speak it (the azureml-mlflow plugin)
            self.server.socket = tls.wrap_socket(self.server.socket, server_side=True)
        scheme = "https" if tls is not None else "http"
        self.url = f"{scheme}://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def start(self) -> Gateway:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def count(self, key: str) -> None:
        with self.lock:
            self.counts[key] += 1

    def session(self) -> requests.Session:
        if not hasattr(self.local, "session"):
            self.local.session = requests.Session()
        return self.local.session

    def upstream_json(self, method: str, path: str, **kwargs) -> dict:
        """Ask the real server directly (rules use this to look at current state)."""
        r = self.session().request(method, self.upstream + path, timeout=60, **kwargs)
        return r.json() if r.content else {}

    def handle(self, req: Request) -> tuple[int, dict[str, str], bytes]:
        self.count(f"{req.method} {req.path}")
        for rule in self.rules:
            reply = rule.check(req, self)
            if reply is not None:
                self.count(f"reply {reply.status}")
                body = (
                    reply.body if isinstance(reply.body, bytes) else json.dumps(reply.body).encode()
                )
                return reply.status, {"Content-Type": "application/json", **reply.headers}, body
        url = self.upstream + req.path + (f"?{req.query}" if req.query else "")
        headers = {
            k: v for k, v in req.headers.items() if k.lower() not in HOP_BY_HOP | {"authorization"}
        }
        r = self.session().request(
            req.method, url, data=req.body or None, headers=headers, timeout=300
        )
        self.count(f"upstream {r.status_code}")
        out = {k: v for k, v in r.headers.items() if k.lower() not in HOP_BY_HOP}
        content = r.content
        for rule in self.rules:
            content = rule.rewrite(req, content)
        return r.status_code, out, content

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        gateway = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                path, _, query = self.path.partition("?")
                req = Request(self.command, path, query, dict(self.headers.items()), body)
                try:
                    status, headers, content = gateway.handle(req)
                except Exception as exc:
                    status, headers = 502, {"Content-Type": "application/json"}
                    content = json.dumps(
                        {"error_code": "BAD_GATEWAY", "message": repr(exc)}
                    ).encode()
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(content)))
                self.end_headers()
                self.wfile.write(content)

            do_GET = do_POST = do_PATCH = do_DELETE = do_PUT = _serve

            def log_message(self, *args) -> None:
                pass

        return Handler


class Bucket:
    """The same token-bucket arithmetic a service uses: `rate` per second, bursts of `rate`."""

    def __init__(self, rate: float) -> None:
        self.rate, self.capacity = rate, max(1.0, rate)
        self.tokens, self.updated = self.capacity, time.monotonic()
        self.lock = threading.Lock()

    def take(self) -> float:
        """0 if a request may pass now, else the seconds until one may."""
        with self.lock:
            now = time.monotonic()
            self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
            self.updated = now
            if self.tokens >= 1:
                self.tokens -= 1
                return 0.0
            return (1 - self.tokens) / self.rate
