"""An Azure managed-identity token endpoint, as App Service and Container Apps expose it to a
process (`IDENTITY_ENDPOINT` + `IDENTITY_HEADER`): azure-identity (through MSAL) asks it for a token
with `GET ?api-version=2019-08-01&resource=...` and the `X-IDENTITY-HEADER` secret. The same
endpoint answers the form of Azure ML compute (`MSI_ENDPOINT` + `MSI_SECRET`:
`api-version=2017-09-01`, the `secret` header, `clientid`; azure-identity's AzureMLCredential,
azure/identity/_credentials/azure_ml.py).
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse


def send_json(handler: BaseHTTPRequestHandler, status: int, body: dict) -> None:
    """Answer a request with a JSON body."""
    content = json.dumps(body).encode()
    handler.send_response(status)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", str(len(content)))
    handler.end_headers()
    handler.wfile.write(content)


@dataclass
class TokenRequest:
    resource: str | None
    client_id: str | None
    header_ok: bool


class IdentityEndpoint:
    """Hands out opaque bearer tokens; `refuse` answers like a host without a managed identity."""

    def __init__(self) -> None:
        self.header = secrets.token_hex(16)
        self.requests: list[TokenRequest] = []
        self.issued: list[str] = []
        self.refuse = False
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/msi/token"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def answer(self, path: str, header: str | None) -> tuple[int, dict]:
        query = parse_qs(urlparse(path).query)
        client_id = (query.get("client_id") or query.get("clientid") or [None])[0]
        req = TokenRequest(query.get("resource", [None])[0], client_id, header == self.header)
        self.requests.append(req)
        if not req.header_ok:
            return 401, {"statusCode": 401, "message": "missing or wrong X-IDENTITY-HEADER"}
        if self.refuse or not req.resource:
            return 400, {
                "statusCode": 400,
                "message": "No managed identity is assigned to this resource.",
            }
        token = f"mi-{secrets.token_hex(12)}"
        self.issued.append(token)
        return 200, {
            "access_token": token,
            "expires_on": str(int(time.time()) + 3600),
            "resource": req.resource,
            "token_type": "Bearer",
        }

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                secret = self.headers.get("X-IDENTITY-HEADER") or self.headers.get("secret")
                send_json(self, *endpoint.answer(self.path, secret))

            def log_message(self, *args) -> None:
                pass

        return Handler
