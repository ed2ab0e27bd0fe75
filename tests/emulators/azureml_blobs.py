"""Write-once run artifacts, as Azure ML keeps them: a blob-service front in front of Azurite that
refuses a second write to an existing blob of the Azure ML workspace's container.

Azure ML answers a second upload to an artifact path with "UserError: Resource Conflict: ArtifactId
ExperimentRun/dcid.<run>/<path> already exists" (lightly-ai/lightly-train#256, an MLflow autolog
upload to an Azure ML run; the azureml-mlflow plugin's run-history artifact API). Here the clients
write the blobs directly (`wasbs://` roots), so the refusal is a storage answer: 409 (the issue
quotes the message, not the status) with the storage error shape
(`x-ms-error-code`, XML body) carrying that message; the Azure SDK raises ResourceExistsError for
it. Every other request passes through unchanged (shared-key signatures do not cover the host).
"""

from __future__ import annotations

import http.client
import re
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlparse

from azure.core.exceptions import ResourceNotFoundError
from azure.storage.blob import BlobServiceClient

HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade"}
_RUN = re.compile(r"/(?P<run>[0-9a-f]{32})/artifacts/(?P<path>.+)$")


class WriteOnceBlobs:
    """Forward to Azurite on `port`; refuse overwrites of blobs in `containers` of `account`."""

    def __init__(
        self, port: int, account: str, connection_string: str, containers: set[str]
    ) -> None:
        self.port, self.account, self.containers = port, account, containers
        self.blobs = BlobServiceClient.from_connection_string(connection_string)
        self.counts: Counter = Counter()
        self.lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/{account}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def _blob(self, method: str, path: str, query: str) -> tuple[str, str] | None:
        """(container, blob) when the request creates or replaces a whole blob of a write-once
        container."""
        parts = unquote(path).lstrip("/").split("/", 2)
        if (
            method != "PUT"
            or len(parts) < 3
            or parts[0] != self.account
            or parts[1] not in self.containers
        ):
            return None
        comp = parse_qs(query).get("comp", [""])[0]
        return (parts[1], parts[2]) if comp in ("", "blocklist") else None

    def conflict(self, method: str, path: str, query: str) -> bytes | None:
        """The refusal's XML body when the write would replace an existing blob, else None."""
        target = self._blob(method, path, query)
        if target is None:
            return None
        try:
            self.blobs.get_blob_client(*target).get_blob_properties()
        except ResourceNotFoundError:
            return None
        with self.lock:
            self.counts["409 overwrite"] += 1
        m = _RUN.search(target[1])
        artifact = f"ExperimentRun/dcid.{m['run']}/{m['path']}" if m else target[1]
        return (
            f'<?xml version="1.0" '
            f'encoding="utf-8"?><Error><Code>BlobAlreadyExists</Code><Message>UserError: '
            f"Resource Conflict: ArtifactId {artifact} already exists</Message></Error>"
        ).encode()

    def _forward(self, method: str, target: str, headers: dict[str, str], body: bytes) -> tuple:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=300)
        try:
            conn.request(method, target, body=body or None, headers=headers)
            resp = conn.getresponse()
            return resp.status, resp.getheaders(), resp.read()
        finally:
            conn.close()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        front = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                path, _, query = self.path.partition("?")
                refused = front.conflict(self.command, path, query)
                if refused is not None:
                    status, headers, content = (
                        409,
                        [
                            ("x-ms-error-code", "BlobAlreadyExists"),
                            ("Content-Type", "application/xml"),
                        ],
                        refused,
                    )
                else:
                    sent = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
                    source = self.headers.get("x-ms-copy-source")
                    if (
                        source
                    ):  # Azurite copies its own blobs when the source's host is the request's
                        sent = {k: v for k, v in sent.items() if k.lower() != "host"}
                        sent["Host"] = urlparse(source).netloc
                    status, headers, content = front._forward(self.command, self.path, sent, body)
                self.send_response(status)
                head = self.command == "HEAD"  # its Content-Length is the blob's size
                dropped = HOP_BY_HOP if head else HOP_BY_HOP | {"content-length"}
                for k, v in headers:
                    if k.lower() not in dropped:
                        self.send_header(k, v)
                if not head:
                    self.send_header("Content-Length", str(len(content)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(content)

            do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = _serve

            def log_message(self, *args) -> None:
                pass

        return Handler
