"""A local Twilio-compatible REST server for tests and benchmarks.

It answers, as Twilio does (twilio-python 9.x reads every answer):

- ``POST /2010-04-01/Accounts/{sid}/Messages.json``: creates a message (201);
- ``GET …/Messages/{MessageSid}.json``: the message, or a 404 with code 20404;
- ``GET …/Messages.json``: the account's messages, newest first, filtered by
  ``To``, ``From``, ``DateSent``, ``DateSent>`` (on or after) and ``DateSent<``
  (on or before), each a date (``2015-07-30``, whole days) or a datetime
  (``2015-07-30T20:12:31Z``, as twilio-python sends one); paged by
  ``PageSize`` (default 50) with ``next_page_uri`` carrying a ``PageToken``.

Dates are RFC 2822 (``Thu, 30 Jul 2015 20:12:31 +0000``). ``date_sent`` is set
when the message is created, unless ``queued_without_date_sent`` is on: then it
stays null while the message is ``accepted``/``queued`` (as at Twilio, where a
queued message has not been sent) and is set by ``set_status`` to a later
status; the ``DateSent`` filters leave such messages out.

It checks HTTP Basic auth against the accounts it knows, records every request
(repeated fields such as ``MediaUrl``, one per file of an MMS, in ``media_urls``),
and can be told to fail for chosen numbers (``fail_numbers = {"+1…": (400,
21211)}``), to answer slowly (``latency`` seconds), or to break the way a
network or Twilio breaks (``inject``, ``inject_lookup``: connections cut before
or after the message is created, 500/503 answers, stalls). Injections are kept
in this process and act on requests from any process, so a test can break the
server its Celery workers send to. Never used in production code paths.

It sends no status callback by itself (the default). ``report(sid, status)``
sets a message's status and POSTs Twilio's status callback for it, signed with
the account's token, to the ``StatusCallback`` the message was created with;
``report_lifecycle(sid)`` sends ``sent``, ``delivered`` and, for an RCS or
WhatsApp message, ``read``. A message sent through a Messaging Service listed in
``rcs_services`` went out over RCS (as at Twilio, which tries RCS first when the
service has an RCS sender): its callbacks name the channel (``ChannelPrefix=rcs``,
``rcs:`` addresses); a ``To`` of ``whatsapp:+1…`` is a WhatsApp message.
"""

from __future__ import annotations

import base64
import collections
import json
import random
import re
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from email.utils import format_datetime, parsedate_to_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlencode, urlparse

#: What ``inject`` can do to a create request, and ``inject_lookup`` to a GET.
CREATE_FAULTS = frozenset({"cut_before", "cut_after", "error_500", "error_503", "stall_before", "stall_after"})
LOOKUP_FAULTS = frozenset({"error_503", "cut_before"})
#: Statuses in which Twilio has not sent the message yet (``date_sent`` is null there).
NOT_SENT_YET = frozenset({"accepted", "queued", "scheduled"})
DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 1000


@dataclass
class RecordedRequest:
    method: str
    path: str
    account_sid: str
    auth: tuple[str, str] | None
    form: dict[str, str]
    at: float = field(default_factory=time.monotonic)
    query: dict[str, str] = field(default_factory=dict)
    media_urls: list[str] = field(default_factory=list)  # every MediaUrl, in order (``form`` keeps the last)


@dataclass
class Injection:
    """One active fault: ``times`` left (None: no count), or a seeded ``rate`` (None: every request)."""

    kind: str
    times: int | None = None
    rate: float | None = None
    stall: float = 0.0
    rng: random.Random = field(default_factory=random.Random)

    def take(self) -> bool:
        """Whether this request gets the fault (called under the server's lock)."""
        if self.times is not None:
            if self.times <= 0:
                return False
            self.times -= 1
            return True
        if self.rate is not None:
            return self.rng.random() < self.rate
        return True


class _Cut:
    """Close the connection without an answer."""


CUT = _Cut()


class FakeTwilio:
    def __init__(
        self,
        accounts: dict[str, str] | None = None,
        latency: float = 0.0,
        *,
        queued_without_date_sent: bool = False,
    ) -> None:
        self.accounts = dict(accounts or {})
        self.latency = latency
        self.queued_without_date_sent = queued_without_date_sent
        self.fail_numbers: dict[str, tuple[int, int]] = {}
        self.rcs_services: set[str] = set()  # Messaging Service SIDs with an RCS sender: their messages go RCS
        self._status_callbacks: dict[str, str] = {}  # sid -> the StatusCallback it was created with
        self.requests: list[RecordedRequest] = []
        self.messages: dict[str, dict] = {}  # sid -> the message's JSON, in creation order
        self._faults: list[Injection] = []
        self._lookup_faults: list[Injection] = []
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # lifecycle -----------------------------------------------------------
    def start(self, host: str = "127.0.0.1", port: int = 0) -> FakeTwilio:
        handler = _make_handler(self)
        self._server = _Server((host, port), handler)
        # A short poll: stop() returns within it (the default half second adds up over a test suite).
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
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

    # fault injection -----------------------------------------------------
    def inject(
        self, kind: str, *, times: int | None = None, rate: float | None = None, stall: float = 0.0, seed: int = 0
    ) -> None:
        """Break create requests (POST Messages.json) from now on.

        ``cut_before``: read the request, close the connection, create nothing.
        ``cut_after``: create the message, close the connection without an answer.
        ``error_500``/``error_503``: answer that status with Twilio's JSON error, create nothing.
        ``stall_before``: wait ``stall`` seconds, create nothing, close.
        ``stall_after``: create, wait ``stall`` seconds, answer 201 (a shorter client timeout sees a timeout).
        ``times``: the next N requests; ``rate``: that fraction of requests (random, seeded by ``seed``)
        until cleared; neither: every request until cleared. The first active injection that takes a
        request applies.
        """
        self._add(self._faults, CREATE_FAULTS, kind, times=times, rate=rate, stall=stall, seed=seed)

    def inject_lookup(self, kind: str, *, times: int | None = None, rate: float | None = None, seed: int = 0) -> None:
        """Break GET requests (list and fetch): ``error_503`` (Twilio's JSON error) or ``cut_before`` (no answer)."""
        self._add(self._lookup_faults, LOOKUP_FAULTS, kind, times=times, rate=rate, stall=0.0, seed=seed)

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()
            self._lookup_faults.clear()

    def _add(self, faults: list[Injection], kinds: frozenset[str], kind: str, **options) -> None:
        if kind not in kinds:
            raise ValueError(f"Unknown fault {kind!r}: one of {sorted(kinds)}")
        times, rate = options["times"], options["rate"]
        if times is not None and rate is not None:
            raise ValueError("Give times or rate, not both")
        if rate is not None and not 0.0 <= rate <= 1.0:
            raise ValueError("rate is a fraction between 0 and 1")
        injection = Injection(kind, times=times, rate=rate, stall=options["stall"], rng=random.Random(options["seed"]))
        with self._lock:
            faults.append(injection)

    def _take(self, faults: list[Injection]) -> Injection | None:
        with self._lock:
            for injection in faults:
                if injection.take():
                    if injection.times == 0:
                        faults.remove(injection)
                    return injection
        return None

    # helpers for assertions ----------------------------------------------
    def sends(self) -> list[RecordedRequest]:
        """Every create request received (whether or not it created a message)."""
        with self._lock:
            return [r for r in self.requests if r.method == "POST" and r.path.endswith("/Messages.json")]

    def lookups(self) -> list[RecordedRequest]:
        """Every GET received (list and fetch), with its query parameters in ``query``."""
        with self._lock:
            return [r for r in self.requests if r.method == "GET"]

    def created(self) -> list[dict]:
        """Every message created, in creation order (copies of their JSON)."""
        with self._lock:
            return [dict(m) for m in self.messages.values()]

    def created_count_by_to(self) -> collections.Counter:
        """How many messages were created per ``To`` number (not how many requests asked)."""
        with self._lock:
            return collections.Counter(m["to"] for m in self.messages.values())

    def set_status(self, sid: str, status: str, error_code: int | None = None) -> None:
        now = _rfc2822(_now())
        with self._lock:
            msg = self.messages[sid]
            msg.update(status=status, error_code=error_code, date_updated=now)
            if msg["date_sent"] is None and status not in NOT_SENT_YET:
                msg["date_sent"] = now

    # status callbacks -----------------------------------------------------
    def channel_of(self, sid: str) -> str:
        """The channel the message went out on: ``rcs`` through a service in ``rcs_services``, ``whatsapp`` for a
        ``whatsapp:`` address, else ``sms`` (``mms`` when it carried media)."""
        with self._lock:
            msg = dict(self.messages[sid])
        if msg["to"].startswith("whatsapp:"):
            return "whatsapp"
        if msg.get("messaging_service_sid") in self.rcs_services:
            return "rcs"
        return "mms" if int(msg.get("num_media") or 0) else "sms"

    def callback_params(self, sid: str, status: str, error_code: int | None = None) -> dict[str, str]:
        """The form Twilio would POST to the message's status callback for ``status``."""
        with self._lock:
            msg = dict(self.messages[sid])
        channel = self.channel_of(sid)
        to, sender = msg["to"], msg.get("from") or ""
        params = {
            "MessageSid": sid,
            "SmsSid": sid,
            "MessageStatus": status,
            "SmsStatus": status,
            "AccountSid": msg["account_sid"],
            "ApiVersion": "2010-04-01",
        }
        if msg.get("messaging_service_sid"):
            params["MessagingServiceSid"] = msg["messaging_service_sid"]
        if channel == "rcs":
            params["ChannelPrefix"] = "rcs"
            to, sender = f"rcs:{to}", f"rcs:fake_{msg['messaging_service_sid'][-8:].lower()}_agent"
        elif channel == "whatsapp":
            params["ChannelPrefix"] = "whatsapp"
            params["ChannelToAddress"] = to.removeprefix("whatsapp:")
        params["To"] = to
        if sender:
            params["From"] = sender
        if error_code:
            params["ErrorCode"] = str(error_code)
        return params

    def report(self, sid: str, status: str, error_code: int | None = None, *, auth_token: str | None = None) -> int:
        """Set the message's status and POST its status callback, signed as Twilio signs (the account's token, or
        ``auth_token``). Returns the HTTP status the webhook answered (0: no StatusCallback, or no answer)."""
        from twilio.request_validator import RequestValidator

        self.set_status(sid, status, error_code)
        with self._lock:
            url = self._status_callbacks.get(sid, "")
            account_sid = self.messages[sid]["account_sid"]
        token = auth_token or self.accounts.get(account_sid)
        if not url:
            return 0
        if not token:
            raise ValueError(f"No auth token to sign callbacks for {account_sid}: pass auth_token")
        params = self.callback_params(sid, status, error_code)
        request = urllib.request.Request(  # noqa: S310 - the StatusCallback the client gave (tests: loopback)
            url,
            data=urlencode(params).encode(),
            headers={
                "Content-Type": "application/x-www-form-urlencoded",
                "X-Twilio-Signature": RequestValidator(token).compute_signature(url, params),
                "User-Agent": "TwilioProxy/1.1",
            },
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310
                return answer.status
        except urllib.error.HTTPError as exc:
            return exc.code
        except OSError:
            return 0

    def report_lifecycle(self, sid: str, *, auth_token: str | None = None) -> list[int]:
        """``sent``, ``delivered`` and, when the channel reports reads (RCS, WhatsApp), ``read``: what the webhook
        answered to each."""
        statuses = ["sent", "delivered"] + (["read"] if self.channel_of(sid) in ("rcs", "whatsapp") else [])
        return [self.report(sid, status, auth_token=auth_token) for status in statuses]

    # request handling -----------------------------------------------------
    def _authorized(self, account_sid: str, auth: tuple[str, str] | None) -> bool:
        if not self.accounts:
            return auth is not None
        return auth is not None and auth[0] == account_sid and self.accounts.get(account_sid) == auth[1]

    def handle(
        self, method: str, path: str, auth, form: dict[str, str], media_urls: list[str] | None = None
    ) -> tuple[int, dict] | _Cut:
        url = urlparse(path)
        parts = [p for p in url.path.split("/") if p]
        query = {k: v[-1] for k, v in parse_qs(url.query, keep_blank_values=True).items()}
        # ['2010-04-01', 'Accounts', AC…, 'Messages.json'] or [..., 'Messages', 'SM….json']
        if len(parts) < 4 or parts[0] != "2010-04-01" or parts[1] != "Accounts":
            return 404, _error(20404, "The requested resource was not found", 404)
        account_sid = parts[2]
        with self._lock:
            self.requests.append(
                RecordedRequest(method, path, account_sid, auth, form, query=query, media_urls=list(media_urls or []))
            )
        if self.latency:
            time.sleep(self.latency)
        if not self._authorized(account_sid, auth):
            return 401, _error(20003, "Authenticate", 401)
        if method == "POST" and parts[3] == "Messages.json" and len(parts) == 4:
            return self._create_with_faults(account_sid, form, media_urls or [])
        if method == "GET" and parts[3] in ("Messages.json", "Messages") and len(parts) <= 5:
            fault = self._take(self._lookup_faults)
            if fault is not None and fault.kind == "cut_before":
                return CUT
            if fault is not None:
                return 503, _error(20503, "Service Unavailable", 503)
            if len(parts) == 4:
                return self._list(account_sid, url.path, query)
            sid = parts[4].removesuffix(".json")
            with self._lock:
                msg = self.messages.get(sid)
                msg = dict(msg) if msg is not None and msg["account_sid"] == account_sid else None
            if msg is None:
                return 404, _error(20404, f"The requested resource /Messages/{sid}.json was not found", 404)
            return 200, msg
        return 404, _error(20404, "The requested resource was not found", 404)

    def _create_with_faults(
        self, account_sid: str, form: dict[str, str], media_urls: list[str]
    ) -> tuple[int, dict] | _Cut:
        fault = self._take(self._faults)
        if fault is None:
            return self._create(account_sid, form, media_urls)
        if fault.kind == "cut_before":
            return CUT
        if fault.kind == "error_500":
            return 500, _error(20500, "Internal Server Error", 500)
        if fault.kind == "error_503":
            return 503, _error(20503, "Service Unavailable", 503)
        if fault.kind == "stall_before":
            time.sleep(fault.stall)
            return CUT
        answer = self._create(account_sid, form, media_urls)
        if fault.kind == "cut_after":
            return CUT
        time.sleep(fault.stall)  # stall_after
        return answer

    def _create(self, account_sid: str, form: dict[str, str], media_urls: list[str] = ()) -> tuple[int, dict]:
        to = form.get("To", "")
        if not to or not form.get("Body") and not form.get("MediaUrl"):
            return 400, _error(21602, "Message body is required.", 400)
        if not form.get("From") and not form.get("MessagingServiceSid"):
            return 400, _error(21603, "A 'From' or 'MessagingServiceSid' parameter is required.", 400)
        if to in self.fail_numbers:
            status, code = self.fail_numbers[to]
            return status, _error(code, f"Error {code} for {to}", status)
        sid = "SM" + uuid.uuid4().hex
        now = _rfc2822(_now())
        msg = {
            "sid": sid,
            "account_sid": account_sid,
            "to": to,
            "from": form.get("From"),
            "messaging_service_sid": form.get("MessagingServiceSid"),
            "body": form.get("Body", ""),
            "status": "accepted" if form.get("MessagingServiceSid") else "queued",
            "num_segments": "1",
            "num_media": str(len(media_urls)),
            "direction": "outbound-api",
            "api_version": "2010-04-01",
            "price": None,
            "price_unit": "USD",
            "error_code": None,
            "error_message": None,
            "date_created": now,
            "date_updated": now,
            "date_sent": None if self.queued_without_date_sent else now,
            "uri": f"/2010-04-01/Accounts/{account_sid}/Messages/{sid}.json",
            "subresource_uris": {
                "media": f"/2010-04-01/Accounts/{account_sid}/Messages/{sid}/Media.json",
                "feedback": f"/2010-04-01/Accounts/{account_sid}/Messages/{sid}/Feedback.json",
            },
        }
        with self._lock:
            self.messages[sid] = msg
            self._status_callbacks[sid] = form.get("StatusCallback", "")
        return 201, dict(msg)

    def _list(self, account_sid: str, path: str, query: dict[str, str]) -> tuple[int, dict]:
        try:
            size = min(max(int(query.get("PageSize") or DEFAULT_PAGE_SIZE), 1), MAX_PAGE_SIZE)
            page = max(int(query.get("Page") or 0), 0)
            sent_filters = [(op, _parse_date(query[name])) for name, op in _DATE_SENT if query.get(name)]
        except ValueError:
            return 400, _error(20001, "Invalid query parameter", 400)
        with self._lock:
            matching = [
                dict(m)
                for m in reversed(self.messages.values())  # newest first
                if m["account_sid"] == account_sid
                and (not query.get("To") or m["to"] == query["To"])
                and (not query.get("From") or m["from"] == query["From"])
                and all(_date_matches(m["date_sent"], op, value) for op, value in sent_filters)
            ]
        start = 0
        token = query.get("PageToken", "")
        if token.startswith("PA"):  # a cursor: the page starts after this message
            after = [i for i, m in enumerate(matching) if m["sid"] == token[2:]]
            start = after[0] + 1 if after else len(matching)
        elif page:
            start = page * size
        records = matching[start : start + size]
        filters = {k: v for k, v in query.items() if k not in ("Page", "PageSize", "PageToken")}

        def uri(**paging) -> str:
            return f"{path}?{urlencode({**filters, 'PageSize': size, **paging})}"

        more = start + size < len(matching)
        return 200, {
            "messages": records,
            "end": start + len(records) - 1 if records else start,
            "first_page_uri": uri(Page=0),
            "next_page_uri": uri(Page=page + 1, PageToken="PA" + records[-1]["sid"]) if more and records else None,
            "page": page,
            "page_size": size,
            "previous_page_uri": uri(Page=page - 1) if page else None,
            "start": start,
            "uri": f"{path}?{urlencode(query)}" if query else path,
        }


_DATE_SENT = (("DateSent", "="), ("DateSent>", ">="), ("DateSent<", "<="))
_DATE_ONLY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _now() -> datetime:
    return datetime.now(UTC)


def _rfc2822(moment: datetime) -> str:
    return format_datetime(moment.astimezone(UTC).replace(microsecond=0))


def _parse_date(value: str) -> date | datetime:
    """``2015-07-30`` (a whole day) or ``2015-07-30T20:12:31Z`` (twilio-python's form; no zone is UTC)."""
    if _DATE_ONLY.match(value):
        return date.fromisoformat(value)
    moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _date_matches(rfc2822: str | None, op: str, value: date | datetime) -> bool:
    if rfc2822 is None:  # not sent yet: no date filter takes it
        return False
    sent = parsedate_to_datetime(rfc2822).astimezone(UTC)
    if isinstance(value, datetime):
        left, right = sent, value
        if op == "=":  # the same second
            return abs(left - right) < timedelta(seconds=1)
    else:
        left, right = sent.date(), value
    return left == right if op == "=" else left >= right if op == ">=" else left <= right


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

    def handle_error(self, request, client_address) -> None:
        # A client that gave up (its timeout, a cut we made) is not an error of the server: stay quiet.
        if not isinstance(sys.exc_info()[1], ConnectionError | TimeoutError):
            super().handle_error(request, client_address)


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

        def _answer(self, answer: tuple[int, dict] | _Cut) -> None:
            if isinstance(answer, _Cut):
                # No answer: the connection closes (FIN after the whole request was read), so the client
                # sees "Remote end closed connection without response".
                self.close_connection = True
                return
            status, payload = answer
            body = json.dumps(payload).encode()
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            except (BrokenPipeError, ConnectionResetError):  # the client gave up waiting
                self.close_connection = True

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length).decode()
            fields = parse_qs(raw, keep_blank_values=True)
            form = {k: v[-1] for k, v in fields.items()}
            self._answer(fake.handle("POST", self.path, self._auth(), form, fields.get("MediaUrl", [])))

        def do_GET(self) -> None:
            self._answer(fake.handle("GET", self.path, self._auth(), {}))

    return Handler
