"""A loopback HTTP proxy for the benchmark: adds a fixed delay to every request (a remote-like
network), optionally enforces Databricks-like rate limits by answering 429, and counts requests by
endpoint.

Run: python bench/proxy.py --target http://127.0.0.1:5000 --port 0 --delay 0.1 [--search-rate 7
--log-batch-rate 47 --other-rate 127]. It prints its port on the first line of stdout.
GET /__bench/stats returns the counters (and ?reset=1 zeroes them).
GET /__bench/timeline returns one row per request since the last reset (?reset=1): arrival and end
times (monotonic seconds, the delay included), the endpoint, the run id it names (path, query, JSON
body or, for runs/create, the answer) and the status (`bench/timeline.py` reads them).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import re
import socket
import sys
import time

from aiohttp import ClientSession, ClientTimeout, TCPConnector, web

HOP = {
    "connection",
    "keep-alive",
    "transfer-encoding",
    "te",
    "trailer",
    "upgrade",
    "proxy-authorization",
    "proxy-authenticate",
    "host",
    "content-length",
}
_ID = re.compile(r"/[0-9a-f]{32}(?=/|$)|/\d+(?=/|$)")
_RUN = re.compile(rb'run_id"?\s*[:=]\s*"?([0-9a-f]{32})|/([0-9a-f]{32})/|run_id=([0-9a-f]{32})')


def run_of(*texts: bytes | None) -> str | None:
    """The first run id named in a path, query, request body or answer."""
    for text in texts:
        m = _RUN.search(text or b"")
        if m:
            return next(g for g in m.groups() if g).decode()
    return None


def endpoint_of(method: str, path: str) -> str:
    """A request's endpoint with ids folded, e.g. 'POST /api/2.0/mlflow/runs/log-batch'."""
    if "/mlflow-artifacts/artifacts" in path:
        path = path.split("/mlflow-artifacts/artifacts")[0] + "/mlflow-artifacts/artifacts/*"
    return f"{method} {_ID.sub('/{id}', path)}"


# Databricks' documented per-workspace groups (MLflow API, "Rate limits",
# https://docs.azure.cn/zh-cn/databricks/dev-tools/api/latest/mlflow): experiment management
# (list, update, delete, restore) 7/s, search runs 7/s, log batch 47/s, all other APIs 127/s, each
# a bucket of its own, as in tests/emulators/databricks.py. Outside the REST API (the bench's own
# /__bench/ routes): no class.
_EXPERIMENTS = (
    "experiments/search",
    "experiments/list",
    "experiments/update",
    "experiments/delete",
    "experiments/restore",
    "experiments/get-by-name",
)


def rate_class(path: str) -> str | None:
    """The Databricks rate class of a request path: experiments, search, log_batch, other or
    None."""
    if not path.startswith(("/api/", "/ajax-api/")):
        return None
    rest = path.partition("/mlflow/")[2]
    if rest.startswith("runs/search"):
        return "search"
    if rest.startswith(_EXPERIMENTS):
        return "experiments"
    return "log_batch" if rest.startswith("runs/log-batch") else "other"


class Bucket:
    def __init__(self, rate: float) -> None:
        self.rate, self.capacity, self.updated = rate, max(1.0, rate), time.monotonic()
        self.tokens = self.capacity

    def take(self) -> bool:
        now = time.monotonic()
        self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        return False


class Proxy:
    def __init__(self, target: str, delay: float, rates: dict[str, float]) -> None:
        self.target = target.rstrip("/")
        self.delay = delay
        self.buckets = {k: Bucket(v) for k, v in rates.items() if v}
        self.counts: collections.Counter[str] = collections.Counter()
        self.rejected: collections.Counter[str] = collections.Counter()
        self.session: ClientSession | None = None
        self.timeline: list[dict] = []

    async def stats(self, request: web.Request) -> web.Response:
        body = {"counts": dict(self.counts), "rejected": dict(self.rejected)}
        if request.query.get("reset"):
            self.counts.clear()
            self.rejected.clear()
        return web.json_response(body)

    async def timeline_rows(self, request: web.Request) -> web.Response:
        body = list(self.timeline)
        if request.query.get("reset"):
            self.timeline.clear()
        return web.json_response(body)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        if request.path == "/__bench/stats":
            return await self.stats(request)
        if request.path == "/__bench/timeline":
            return await self.timeline_rows(request)
        row = {"t0": time.monotonic(), "ep": endpoint_of(request.method, request.path)}
        self.timeline.append(row)
        try:
            resp = await self._handle(request, row)
        finally:
            row["t1"] = time.monotonic()
        return resp

    async def _handle(self, request: web.Request, row: dict) -> web.StreamResponse:
        if self.delay:
            await asyncio.sleep(self.delay)
        cls = rate_class(request.path)
        name = endpoint_of(request.method, request.path)
        row["cls"] = cls
        if cls in self.buckets and not self.buckets[cls].take():
            self.rejected[name] += 1
            body = {
                "error_code": "REQUEST_LIMIT_EXCEEDED",
                "message": "rate limit exceeded (bench proxy)",
            }
            row["status"] = 429
            return web.json_response(body, status=429, headers={"Retry-After": "1"})
        self.counts[name] += 1
        headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP}
        data = None
        if request.body_exists:
            length = request.content_length
            if length is not None and length > (8 << 20):
                headers["Content-Length"] = str(length)
                data = request.content
            else:
                data = await request.read()
        body = data if isinstance(data, bytes) else None
        row["run"] = run_of(request.rel_url.raw_path_qs.encode(), body)
        assert self.session is not None
        async with self.session.request(
            request.method,
            self.target + request.rel_url.raw_path_qs,
            headers=headers,
            data=data,
            allow_redirects=False,
        ) as up:
            out_headers = {k: v for k, v in up.headers.items() if k.lower() not in HOP}
            resp = web.StreamResponse(status=up.status, headers=out_headers)
            if up.content_length is not None:
                resp.content_length = up.content_length
            await resp.prepare(request)
            row["status"] = up.status
            async for chunk in up.content.iter_chunked(1 << 20):
                if row.get("run") is None and name.endswith("/runs/create"):
                    row["run"] = run_of(chunk)
                await resp.write(chunk)
            await resp.write_eof()
            return resp


async def serve(args: argparse.Namespace) -> None:
    proxy = Proxy(
        args.target,
        args.delay,
        {
            "experiments": args.experiments_rate,
            "search": args.search_rate,
            "log_batch": args.log_batch_rate,
            "other": args.other_rate,
        },
    )
    proxy.session = ClientSession(
        connector=TCPConnector(limit=64), timeout=ClientTimeout(total=None), auto_decompress=False
    )
    app = web.Application(client_max_size=1 << 40)
    app.router.add_route("*", "/{tail:.*}", proxy.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    sock = socket.socket()
    sock.bind(("127.0.0.1", args.port))
    site = web.SockSite(runner, sock)
    await site.start()
    print(sock.getsockname()[1], flush=True)
    await asyncio.Event().wait()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--target", required=True)
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--delay", type=float, default=0.0)
    p.add_argument("--search-rate", type=float, default=0.0)
    p.add_argument("--experiments-rate", type=float, default=0.0)
    p.add_argument("--log-batch-rate", type=float, default=0.0)
    p.add_argument("--other-rate", type=float, default=0.0)
    args = p.parse_args()
    try:
        asyncio.run(serve(args))
    except KeyboardInterrupt:
        sys.exit(0)


if __name__ == "__main__":
    main()
