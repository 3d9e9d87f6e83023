"""Hostile URLs: provider output links and webhook targets that point at loopback, private,
link-local or cloud-metadata addresses — written every way an address can be written, behind DNS
names that resolve there, and behind redirects from a public-looking server. All are refused before
any connection is made to them; and what a person sees about a failed job names no provider URL,
address or key.

"Public" is simulated the one way that keeps the real check in place: the test's own TLS origin on
loopback is declared public by host *and port*, every other address goes through the real rules,
and DNS answers for made-up names are faked (the outside world), nothing else."""

import datetime
import http.server
import ipaddress
import socket
import ssl
import threading

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

import apps.core.network as network
from apps.hooks import services as hook_services
from apps.hooks.models import WebhookDelivery, WebhookEndpoint
from apps.providers.fetch import FetchError, fetch_output
from tests.media.images import photo_bytes

from .conftest import client_for, tally

HOSTILE_HOSTS = [
    "127.0.0.1", "127.0.0.1:8443", "127.1", "2130706433", "0177.0.0.1", "0x7f.1", "017700000001", "0", "0.0.0.0",
    "localhost", "LOCALHOST", "10.0.0.1", "172.16.0.1", "192.168.1.1", "100.64.0.1", "169.254.169.254",
    "224.0.0.1", "255.255.255.255", "[::1]", "[::]", "[::ffff:127.0.0.1]", "[::ffff:7f00:1]", "[::ffff:169.254.169.254]",
    "[::ffff:a9fe:a9fe]", "[fe80::1]", "[fd00::1]", "[64:ff9b::7f00:1]", "[64:ff9b::a9fe:a9fe]", "[2002:7f00:1::]",
    "[2001:0:4136:e378:8000:63bf:80ff:fffe]", "user:pass@127.0.0.1", "93.184.215.14@169.254.169.254",
    "rebind.example", "mixed.example", "v6mapped.example", "metadata.example",
]
# Made-up names and what the (faked) DNS answers for them.
FAKE_DNS = {
    "rebind.example": ["127.0.0.1"], "mixed.example": ["93.184.215.14", "10.0.0.5"],
    "v6mapped.example": ["::ffff:169.254.169.254"], "metadata.example": ["169.254.169.254"],
}


@pytest.fixture
def fake_dns(monkeypatch):
    real = socket.getaddrinfo

    def getaddrinfo(host, port, *args, **kwargs):
        if host in FAKE_DNS:
            return [(socket.AF_INET6 if ":" in a else socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port))
                    for a in FAKE_DNS[host]]
        if isinstance(host, str) and host.endswith(".example"):
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)


def test_output_links_to_non_public_hosts_are_refused_before_connecting(settings, fake_dns):
    settings.PROVIDER_FETCH_ALLOW_PRIVATE = False
    for host in HOSTILE_HOSTS:
        # (had it connected, loopback port 443 would answer "ConnectError", not these)
        with pytest.raises(FetchError, match="non-public address|does not resolve|only https"):
            fetch_output(f"https://{host}/latest/meta-data/iam")
        with pytest.raises(FetchError, match="only https"):
            fetch_output(f"http://{host}/x.png")
        tally("hostile inputs: URLs", 2)


def test_webhook_targets_on_non_public_hosts_are_refused(user, settings, fake_dns):
    settings.WEBHOOKS_ALLOW_PRIVATE = False
    for host in HOSTILE_HOSTS:
        with pytest.raises(hook_services.WebhookUrlNotAllowedError):
            hook_services.webhook_endpoint_create(user=user, url=f"https://{host}/hook", events=["batch.finished"])
        tally("hostile inputs: URLs")
    assert not WebhookEndpoint.objects.exists()


def test_public_addresses_pass(settings, fake_dns):
    """The control: the same rules let public addresses through (IPv4, IPv6, NAT64 of a public one)."""
    from apps.hooks.destinations import destination_resolve

    settings.WEBHOOKS_ALLOW_PRIVATE = False
    for host in ("93.184.215.14", "[2606:2800:21f:cb07:6820:80da:af6b:8b2c]", "[64:ff9b::5db8:d70e]",
                 "[::ffff:93.184.215.14]"):
        assert destination_resolve(f"https://{host}/hook").url.startswith("https://")


def test_the_page_and_the_api_refuse_them_with_a_4xx(world, settings, fake_dns):
    settings.WEBHOOKS_ALLOW_PRIVATE = False
    page, api = client_for(world.owner), client_for()
    before = WebhookEndpoint.objects.count()
    for host in HOSTILE_HOSTS:
        url = f"https://{host}/hook"
        response = page.post("/account/webhooks/", {"url": url, "events": ["batch.finished"]})
        text = response.content.decode()
        assert response.status_code in (200, 400, 422), (host, response.status_code)
        assert "private, loopback or link-local" in text or "does not resolve" in text, host
        response = api.post("/api/v1/webhooks", {"url": url, "events": ["batch.finished"]},
                            content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {world.owner_key}")
        assert response.status_code == 422 and response.json()["code"] == "webhook_url_not_allowed", (host, response.content)
        tally("hostile inputs: URLs", 2)
    assert WebhookEndpoint.objects.count() == before


# ---------------------------------------------------------------- redirects from a "public" origin

def _certificate(tmp_path):
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "public origin")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(hours=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = tmp_path / "origin.pem", tmp_path / "origin.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


class Origin(http.server.BaseHTTPRequestHandler):
    redirects: dict = {}
    seen: list = []

    def do_GET(self):  # noqa: N802
        self.seen.append(self.path)
        if self.path == "/image.png":
            body = photo_bytes(8, 8)
            self.send_response(200)
            self.send_header("Content-Type", "image/png")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        self.send_response(302)
        self.send_header("Location", self.redirects.get(self.path, "/image.png"))
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def public_origin(tmp_path, monkeypatch, settings, fake_dns):
    """An https server on loopback that the address check is told is public — by exact host and port."""
    cert, key = _certificate(tmp_path)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Origin)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    port = server.server_address[1]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))
    real = network.public_addresses

    def public_addresses(hostname, port_):
        return ["127.0.0.1"] if (hostname, port_) == ("127.0.0.1", port) else real(hostname, port_)

    monkeypatch.setattr("apps.providers.fetch.public_addresses", public_addresses)
    settings.PROVIDER_FETCH_ALLOW_PRIVATE = False
    Origin.seen = []
    yield f"https://127.0.0.1:{port}"
    server.shutdown()


def test_a_redirect_within_the_public_origin_is_followed(public_origin):
    content, content_type = fetch_output(f"{public_origin}/hop")
    assert content_type == "image/png" and content.startswith(b"\x89PNG")


@pytest.mark.parametrize("target", [
    "https://127.0.0.1:{other}/image.png", "https://169.254.169.254/latest/meta-data/", "https://[::1]/x",
    "https://[::ffff:127.0.0.1]:{port}/image.png", "https://2130706433:{port}/image.png", "https://0x7f.1:{port}/image.png",
    "https://rebind.example:{port}/image.png", "https://10.0.0.1/x", "http://127.0.0.1:{port}/image.png",
    "file:///etc/passwd", "gopher://127.0.0.1:6379/_INFO",
])
def test_redirects_from_the_public_origin_to_private_addresses_are_refused(public_origin, target):
    port = public_origin.rsplit(":", 1)[1]
    Origin.redirects = {"/jump": target.format(port=port, other=int(port) + 1)}
    with pytest.raises(FetchError, match="non-public address|only https|only http|does not resolve"):
        fetch_output(f"{public_origin}/jump")
    tally("hostile inputs: URLs")
    assert Origin.seen == ["/jump"]  # the private target — this same server, by another name — got nothing


def test_webhook_deliveries_do_not_follow_redirects(world, settings):
    """A receiver answering 302 to the metadata service: recorded as a failed attempt, not followed."""
    settings.WEBHOOKS_ALLOW_PRIVATE = True  # the receiver is on loopback
    target_hits = []

    class Target(Origin):
        def do_POST(self):  # noqa: N802
            target_hits.append(self.path)
            self.send_response(200)
            self.end_headers()

    class Redirecting(Origin):
        def do_POST(self):  # noqa: N802
            self.send_response(307)
            self.send_header("Location", f"http://127.0.0.1:{target.server_address[1]}/stolen")
            self.send_header("Content-Length", "0")
            self.end_headers()

    target = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Target)
    receiver = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Redirecting)
    for server in (target, receiver):
        threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        endpoint = hook_services.webhook_endpoint_create(
            user=world.owner, url=f"http://127.0.0.1:{receiver.server_address[1]}/hook", events=["batch.finished"])
        delivery = hook_services.webhook_endpoint_send_test(user=world.owner, endpoint_id=endpoint.id)
        hook_services.webhook_delivery_attempt(delivery_id=delivery.pk)
    finally:
        target.shutdown()
        receiver.shutdown()
    delivery = WebhookDelivery.objects.get(pk=delivery.pk)
    assert target_hits == []
    assert delivery.last_status_code == 307 and delivery.status != "succeeded"
    tally("hostile inputs: URLs")
