"""A local Twilio-compatible REST server for tests and benchmarks.

It answers ``POST /2010-04-01/Accounts/{sid}/Messages.json`` and
``GET …/Messages/{MessageSid}.json`` as Twilio does, checks HTTP Basic auth
against the accounts it knows, records every request, and can be told to fail
for chosen numbers (``fail_numbers = {"+1…": (400, 21211)}``) or to answer
slowly (``latency`` seconds). Never used in production code paths.
"""

from __future__ import annotations

import base64
import json
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse


@dataclass
class RecordedRequest:
    method: str
    path: str
    account_sid: str
    auth: tuple[str, str] | None
    form: dict[str, str]
    at: float = field(default_factory=time.monotonic)


class FakeTwilio:
    def __init__(self, accounts: dict[str, str] | None = None, latency: float = 0.0) -> None:
        self.accounts = dict(accounts or {})
        self.latency = latency
        self.fail_numbers: dict[str, tuple[int, int]] = {}
        self.requests: list[RecordedRequest] = []
        self.messages: dict[str, dict] = {}
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # lifecycle -----------------------------------------------------------
    def start(self, host: str = "127.0.0.1", port: int = 0) -> FakeTwilio:
        handler = _make_handler(self)
        self._server = _Server((host, port), handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server:
            self._server.shutdown()
            self._server.server_close()

    @property
    def base_url(self) -> str:
        assert self._server is not None
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    # helpers for assertions ----------------------------------------------
    def sends(self) -> list[RecordedRequest]:
        with self._lock:
            return [r for r in self.requests if r.method == "POST" and r.path.endswith("/Messages.json")]

    def set_status(self, sid: str, status: str, error_code: int | None = None) -> None:
        with self._lock:
            self.messages[sid].update(status=status, error_code=error_code)

    # request handling -----------------------------------------------------
    def _authorized(self, account_sid: str, auth: tuple[str, str] | None) -> bool:
        if not self.accounts:
            return auth is not None
        return auth is not None and auth[0] == account_sid and self.accounts.get(account_sid) == auth[1]

    def handle(self, method: str, path: str, auth, form: dict[str, str]) -> tuple[int, dict]:
        parts = [p for p in urlparse(path).path.split("/") if p]
        # ['2010-04-01', 'Accounts', AC…, 'Messages.json'] or [..., 'Messages', 'SM….json']
        if len(parts) < 4 or parts[0] != "2010-04-01" or parts[1] != "Accounts":
            return 404, _error(20404, "The requested resource was not found", 404)
        account_sid = parts[2]
        with self._lock:
            self.requests.append(RecordedRequest(method, path, account_sid, auth, form))
        if self.latency:
            time.sleep(self.latency)
        if not self._authorized(account_sid, auth):
            return 401, _error(20003, "Authenticate", 401)
        if method == "POST" and parts[3] == "Messages.json":
            return self._create(account_sid, form)
        if method == "GET" and parts[3] == "Messages" and len(parts) == 5:
            sid = parts[4].removesuffix(".json")
            with self._lock:
                msg = self.messages.get(sid)
            if msg is None:
                return 404, _error(20404, f"The requested resource /Messages/{sid}.json was not found", 404)
            return 200, msg
        return 404, _error(20404, "The requested resource was not found", 404)

    def _create(self, account_sid: str, form: dict[str, str]) -> tuple[int, dict]:
        to = form.get("To", "")
        if not to or not form.get("Body") and not form.get("MediaUrl"):
            return 400, _error(21602, "Message body is required.", 400)
        if not form.get("From") and not form.get("MessagingServiceSid"):
            return 400, _error(21603, "A 'From' or 'MessagingServiceSid' parameter is required.", 400)
        if to in self.fail_numbers:
            status, code = self.fail_numbers[to]
            return status, _error(code, f"Error {code} for {to}", status)
        sid = "SM" + uuid.uuid4().hex
        msg = {
            "sid": sid,
            "account_sid": account_sid,
            "to": to,
            "from": form.get("From"),
            "messaging_service_sid": form.get("MessagingServiceSid"),
            "body": form.get("Body", ""),
            "status": "accepted" if form.get("MessagingServiceSid") else "queued",
            "num_segments": "1",
            "direction": "outbound-api",
            "api_version": "2010-04-01",
            "error_code": None,
            "error_message": None,
            "uri": f"/2010-04-01/Accounts/{account_sid}/Messages/{sid}.json",
        }
        with self._lock:
            self.messages[sid] = msg
        return 201, msg


def _error(code: int, message: str, status: int) -> dict:
    return {
        "code": code,
        "message": message,
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": status,
    }


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 1024  # the listen() backlog: must be set before the socket listens


def _make_handler(fake: FakeTwilio):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # answers leave at once (no 40 ms delayed-ACK stall)

        def log_message(self, *args) -> None:  # quiet
            pass

        def _auth(self):
            header = self.headers.get("Authorization", "")
            if not header.startswith("Basic "):
                return None
            user, _, password = base64.b64decode(header[6:]).decode().partition(":")
            return user, password

        def _answer(self, status: int, payload: dict) -> None:
            body = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length).decode()
            form = {k: v[-1] for k, v in parse_qs(raw, keep_blank_values=True).items()}
            self._answer(*fake.handle("POST", self.path, self._auth(), form))

        def do_GET(self) -> None:
            self._answer(*fake.handle("GET", self.path, self._auth(), {}))

    return Handler
