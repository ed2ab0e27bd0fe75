"""Entra ID's token endpoint as azure-identity reaches it (through MSAL) for a service principal
with a certificate (EnvironmentCredential with `AZURE_CLIENT_CERTIFICATE_PATH`) or a workload
identity (WorkloadIdentityCredential with `AZURE_FEDERATED_TOKEN_FILE`): MSAL reads
`https://login.microsoftonline.com/<tenant>/v2.0/.well-known/openid-configuration`, then POSTs the
client-credentials grant to its `token_endpoint` with a `client_assertion`: a JWT the client signs
with its certificate's key (`x5t`/`x5t#S256` thumbprint header, audience the token endpoint, issuer
and subject the client id:
https://learn.microsoft.com/entra/identity-platform/certificate-credentials), or the federated token
itself (https://learn.microsoft.com/entra/workload-id/workload-identity-federation). Errors as Entra
answers them: 400/401 `{"error": "invalid_client", "error_description": "AADSTS..."}`
(https://learn.microsoft.com/entra/identity-platform/v2-oauth2-client-creds-grant-flow).

The real host cannot be reached here and azure-identity names it itself (the plugin's cloud
authority; MSAL would ask login.microsoftonline.com's instance discovery about any other host), so
the emulator is an HTTPS proxy (`HTTPS_PROXY`): a CONNECT to that host is answered by the emulator,
with a certificate for the host from a test CA (trustme) that the client trusts through
`REQUESTS_CA_BUNDLE`.
"""

from __future__ import annotations

import secrets
import socketserver
import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

import jwt
import trustme
from cryptography import x509

from tests.emulators.identity import send_json

HOST = "login.microsoftonline.com"
JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


class EntraID:
    """Issues tokens to registered clients: `certificates` (client id -> PEM certificate) or
    `federated` (client id -> the federated token it must present). `grants` records (client id,
    outcome)."""

    def __init__(self, ca: trustme.CA) -> None:
        self.certificates: dict[str, bytes] = {}
        self.federated: dict[str, str] = {}
        self.grants: list[tuple[str, str]] = []
        self.issued: list[str] = []
        self.tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ca.issue_cert(HOST).configure_cert(self.tls)
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.proxy = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def openid(self, tenant: str) -> dict:
        base = f"https://{HOST}/{tenant}"
        return {
            "issuer": f"{base}/v2.0",
            "token_endpoint": f"{base}/oauth2/v2.0/token",
            "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
            "tenant_region_scope": "EU",
        }

    def token(self, tenant: str, form: dict[str, str]) -> tuple[int, dict]:
        client = form.get("client_id", "")
        why = self._refusal(tenant, client, form)
        self.grants.append((client, why or "ok"))
        if why:
            return 401, {"error": "invalid_client", "error_description": why}
        token = f"entra-{secrets.token_hex(12)}"
        self.issued.append(token)
        return 200, {
            "token_type": "Bearer",
            "expires_in": 3599,
            "ext_expires_in": 3599,
            "access_token": token,
        }

    def _refusal(self, tenant: str, client: str, form: dict[str, str]) -> str | None:
        if (
            form.get("grant_type") != "client_credentials"
            or form.get("client_assertion_type") != JWT_BEARER
        ):
            return "AADSTS7000218: The request body must contain client_assertion or client_secret."
        assertion = form.get("client_assertion", "")
        if client in self.federated:
            ok = secrets.compare_digest(assertion, self.federated[client])
            return None if ok else "AADSTS700213: No matching federated identity record found."
        if client not in self.certificates:
            return f"AADSTS700016: Application with identifier '{client}' was not found."
        key = x509.load_pem_x509_certificate(self.certificates[client]).public_key()
        try:
            claims = jwt.decode(
                assertion,
                key,
                algorithms=["PS256", "RS256"],
                audience=self.openid(tenant)["token_endpoint"],
            )
        except jwt.PyJWTError as exc:
            return f"AADSTS700027: Client assertion contains an invalid signature. ({exc})"
        if claims.get("iss") != client or claims.get("sub") != client:
            return "AADSTS700023: Client assertion audience claim does not match."
        return None

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        entra = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_CONNECT(self) -> None:
                if self.path.split(":")[0] != HOST:
                    self._send(502, {"error": f"this proxy only reaches {HOST}"})
                    return
                self.send_response(200, "Connection established")
                self.end_headers()
                self.wfile.flush()
                self.connection = entra.tls.wrap_socket(self.connection, server_side=True)
                self.rfile = self.connection.makefile("rb")
                self.wfile = socketserver._SocketWriter(self.connection)
                # (a CONNECT in HTTP/1.0, as urllib3 sends it, would close)
                self.close_connection = False

            def do_GET(self) -> None:
                tenant, _, rest = self.path.split("?")[0].lstrip("/").partition("/")
                if rest == "v2.0/.well-known/openid-configuration":
                    self._send(200, entra.openid(tenant))
                elif rest == "discovery/instance":  # MSAL asks it after an error answer
                    self._send(
                        200,
                        {
                            "api-version": "1.1",
                            "tenant_discovery_endpoint": f"https://{HOST}/{tenant}/v2.0/.well-known/openid-configuration",
                            "metadata": [{"preferred_network": HOST, "aliases": [HOST]}],
                        },
                    )
                else:
                    self._send(404, {"error": "not_found"})

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0))).decode()
                tenant, _, rest = self.path.lstrip("/").partition("/")
                if rest != "oauth2/v2.0/token":
                    self._send(404, {"error": "not_found"})
                    return
                self._send(*entra.token(tenant, {k: v[0] for k, v in parse_qs(body).items()}))

            def _send(self, status: int, body: dict) -> None:
                send_json(self, status, body)

            def log_message(self, *args) -> None:
                pass

        return Handler
