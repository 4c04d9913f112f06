"""SSRF guard and bounded outbound requests."""

from __future__ import annotations

import socket
import time

import pytest

from integrations import outbound
from integrations.outbound import UnsafeTarget, target_resolve, webhook_post

from .receiver import Receiver


@pytest.fixture
def no_connect(monkeypatch):
    """Fail the test if anything tries to open a connection."""

    def refuse(*args, **kwargs):
        raise AssertionError(f"a connection was attempted: {args}")

    monkeypatch.setattr(outbound.socket, "create_connection", refuse)


def fake_dns(monkeypatch, answers: dict[str, list[str]]):
    real = socket.getaddrinfo

    def getaddrinfo(host, port, *args, **kwargs):
        if host in answers:
            return [
                (socket.AF_INET6 if ":" in a else socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port))
                for a in answers[host]
            ]
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(outbound.socket, "getaddrinfo", getaddrinfo)


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/hook",
        "http://127.1.2.3:8080/hook",
        "http://10.0.0.1/hook",
        "http://172.16.5.4/hook",
        "http://192.168.1.1/hook",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]/hook",
        "http://[::ffff:10.0.0.1]/hook",
        "http://[fe80::1]/hook",
        "http://0.0.0.0/hook",
        "http://224.0.0.1/hook",
        "http://100.64.0.1/hook",
        "http://localhost:8000/hook",
    ],
)
def test_internal_targets_are_refused(url, settings, no_connect):
    settings.WEBHOOKS_ALLOW_PRIVATE_TARGETS = False
    with pytest.raises(UnsafeTarget):
        target_resolve(url)
    result = webhook_post(url, body=b"{}", headers={})
    assert not result.ok and result.error.startswith("Refused:")


def test_a_name_resolving_to_a_private_address_is_refused(settings, monkeypatch, no_connect):
    settings.WEBHOOKS_ALLOW_PRIVATE_TARGETS = False
    fake_dns(monkeypatch, {"crm.attacker.example": ["10.1.2.3"]})
    with pytest.raises(UnsafeTarget, match="10.1.2.3"):
        target_resolve("https://crm.attacker.example/hook")
    assert "not a public address" in webhook_post("https://crm.attacker.example/hook", body=b"", headers={}).error


def test_one_private_answer_among_public_ones_is_refused(settings, monkeypatch, no_connect):
    settings.WEBHOOKS_ALLOW_PRIVATE_TARGETS = False
    fake_dns(monkeypatch, {"mixed.example": ["93.184.216.34", "169.254.169.254"]})
    with pytest.raises(UnsafeTarget, match="169.254.169.254"):
        target_resolve("https://mixed.example/hook")


def test_public_name_is_resolved_once_and_pinned(settings, monkeypatch):
    settings.WEBHOOKS_ALLOW_PRIVATE_TARGETS = False
    fake_dns(monkeypatch, {"crm.example.com": ["93.184.216.34"]})
    assert target_resolve("https://crm.example.com/hook") == ("https", "crm.example.com", 443, "93.184.216.34")


def test_other_schemes_and_credentials_are_refused(settings):
    for url in ("ftp://crm.example.com/x", "file:///etc/passwd", "https://user:pw@crm.example.com/x", "http:///x"):
        with pytest.raises(UnsafeTarget):
            outbound.url_check_syntax(url)


def test_connection_goes_to_the_checked_address_not_a_second_lookup(settings, monkeypatch):
    """DNS rebinding: the first answer is checked and used; a later, different answer is never asked for."""
    settings.WEBHOOKS_ALLOW_PRIVATE_TARGETS = True
    server = Receiver().start()
    try:
        calls = []
        real = socket.getaddrinfo

        def getaddrinfo(host, port, *args, **kwargs):
            calls.append(host)
            if host == "rebind.test":
                address = "127.0.0.1" if len(calls) == 1 else "10.9.9.9"
                return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))]
            return real(host, port, *args, **kwargs)

        monkeypatch.setattr(outbound.socket, "getaddrinfo", getaddrinfo)
        result = webhook_post(f"http://rebind.test:{server.port}/hooks?x=1", body=b"{}", headers={})
        assert result.ok, result
        assert calls.count("rebind.test") == 1  # (create_connection may "resolve" the literal 127.0.0.1)
        [got] = server.received
        assert got.headers["host"] == f"rebind.test:{server.port}" and got.path == "/hooks?x=1"
    finally:
        server.stop()


def test_redirects_are_not_followed(receiver):
    receiver.status = 302
    receiver.extra_headers = {"Location": "http://169.254.169.254/latest/meta-data/"}
    result = webhook_post(receiver.url, body=b"{}", headers={})
    assert not result.ok and result.status_code == 302
    assert len(receiver.received) == 1


def test_response_is_capped(receiver, settings):
    receiver.body = b"x" * (1024 * 1024)
    result = webhook_post(receiver.url, body=b"{}", headers={})
    assert result.ok and result.status_code == 200
    assert len(result.excerpt) == outbound.EXCERPT_CHARS

    settings.WEBHOOKS_MAX_RESPONSE_BYTES = 10
    reads = []
    real_read = outbound.http.client.HTTPResponse.read

    def spy(self, amt=None):
        data = real_read(self, amt)
        reads.append(len(data))
        return data

    import http.client

    original = http.client.HTTPResponse.read
    http.client.HTTPResponse.read = spy
    try:
        result = webhook_post(receiver.url, body=b"{}", headers={})
    finally:
        http.client.HTTPResponse.read = original
    assert result.excerpt == "x" * 10 and sum(reads) == 10


def test_slow_endpoint_times_out_quickly(receiver, settings):
    settings.WEBHOOKS_TIMEOUT_SECONDS = 0.3
    receiver.delay = 2
    started = time.monotonic()
    result = webhook_post(receiver.url, body=b"{}", headers={})
    assert time.monotonic() - started < 1.5
    assert not result.ok and result.error == "Timed out."


def test_dead_endpoint_is_a_failed_attempt_not_an_exception(settings):
    from .receiver import free_port

    settings.WEBHOOKS_ALLOW_PRIVATE_TARGETS = True
    result = webhook_post(f"http://127.0.0.1:{free_port()}/x", body=b"{}", headers={})
    assert not result.ok and result.error == "Connection refused."


def _self_signed(tmp_path, host: str):
    import datetime as dt

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(host)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / f"{host}.pem", tmp_path / f"{host}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


def test_pinned_https_verifies_the_certificate_for_the_host_name(settings, tmp_path, monkeypatch):
    """The socket goes to the checked address, TLS is still verified against the URL's host name."""
    import ssl
    import threading
    from http.server import BaseHTTPRequestHandler, HTTPServer

    cert_path, key_path = _self_signed(tmp_path, "hooks.test")
    hits = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 - http.server's name
            hits.append(self.headers["Host"])
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_context.load_cert_chain(cert_path, key_path)
    server.socket = server_context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = server.server_address[1]
    settings.WEBHOOKS_ALLOW_PRIVATE_TARGETS = True
    settings.WEBHOOKS_TIMEOUT_SECONDS = 3
    fake_dns(monkeypatch, {"hooks.test": ["127.0.0.1"], "other.test": ["127.0.0.1"]})
    try:
        # Not trusted (self-signed): refused.
        result = webhook_post(f"https://hooks.test:{port}/h", body=b"{}", headers={})
        assert not result.ok and result.error.startswith("TLS error"), result
        # Trusted, right name: delivered, with SNI/Host for the name.
        trusting = ssl.create_default_context(cafile=str(cert_path))
        monkeypatch.setattr(outbound.ssl, "create_default_context", lambda: trusting)
        result = webhook_post(f"https://hooks.test:{port}/h", body=b"{}", headers={})
        assert result.ok and result.status_code == 204, result
        assert hits == [f"hooks.test:{port}"]
        # Trusted certificate, but for another name than the URL's: refused.
        result = webhook_post(f"https://other.test:{port}/h", body=b"{}", headers={})
        assert not result.ok and result.error.startswith("TLS error"), result
        assert len(hits) == 1
    finally:
        server.shutdown()
        server.server_close()
