"""Outgoing notifications, against a real SMTP server (aiosmtpd) and a real HTTP server."""

from __future__ import annotations

import email
import email.policy
import json
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session
from hypothesis import given
from hypothesis import strategies as st

from voxloop.errors import ConfigError
from voxloop.loop import StepDetails
from voxloop.loop.notify import (
    Notification,
    Notifier,
    SmtpSettings,
    WebhookSettings,
    parse_notify_settings,
    sign,
    verify,
)
from voxloop.workspace import Workspace

SECRET = "webhook-s3cret-value"
PASSWORD = "smtp-pa55word-value"

BREACH = Notification(
    event="deadline_breached",
    case_id="C-42",
    subject="Délai dépassé : rappeler Mme Hélène Dupré",
    text="Le cas C-42 a dépassé son échéance.\nÀ rappeler avant 18 h — priorité élevée.",
    payload={"priority": 0.91, "owner": "Zoé", "channels": ["phone"]},
)
OPENED = Notification("case_opened", "C-43", "Nouveau cas", "Un client mécontent.", {"score": 2})


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


# -- a real SMTP server -------------------------------------------------------------------------


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage
    peer: Any


class Collector:
    """aiosmtpd handler: keeps every message; refuses recipients at refused.example.

    aiosmtpd finds its hooks by these names (``handle_<SMTP verb>``)."""

    def __init__(self) -> None:
        self.messages: list[Received] = []

    async def handle_RCPT(  # noqa: N802
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if address.endswith("@refused.example"):
            return "550 5.1.1 no such mailbox"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(  # noqa: N802
        self, server: SMTP, session: Session, envelope: Envelope
    ) -> str:
        content = envelope.content
        assert isinstance(content, bytes)
        parsed = email.message_from_bytes(content, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        assert envelope.mail_from is not None
        self.messages.append(
            Received(envelope.mail_from, list(envelope.rcpt_tos), parsed, session.peer)
        )
        return "250 Message accepted for delivery"


def _authenticate(
    server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
) -> AuthResult:
    ok = isinstance(auth_data, LoginPassword) and auth_data == (b"voxloop", PASSWORD.encode())
    return AuthResult(success=ok, handled=False)  # handled=False: the server answers 535


@pytest.fixture
def smtp_server() -> Iterator[tuple[Collector, int]]:
    handler = Collector()
    port = free_port()
    controller = Controller(
        handler,
        hostname="127.0.0.1",
        port=port,
        authenticator=_authenticate,
        auth_require_tls=False,  # loopback only, in a test
    )
    controller.start()
    try:
        yield handler, port
    finally:
        controller.stop()


def test_email_reaches_the_server_with_accents(smtp_server: tuple[Collector, int]) -> None:
    handler, port = smtp_server
    smtp = SmtpSettings(
        host="127.0.0.1",
        port=port,
        sender="Voxloop <voxloop@example.org>",
        to=("cx-leads@example.org", "helene.manager@example.org"),
    )
    [delivery] = Notifier(smtp).send(BREACH)
    assert delivery.ok, delivery.error
    assert (delivery.channel, delivery.attempts, delivery.error) == ("email", 1, None)
    assert delivery.target == "cx-leads@example.org, helene.manager@example.org"
    [got] = handler.messages
    assert got.mail_from == "voxloop@example.org"
    assert got.rcpt_tos == ["cx-leads@example.org", "helene.manager@example.org"]
    assert got.message["Subject"] == BREACH.subject
    assert got.message["X-Voxloop-Event"] == "deadline_breached"
    assert got.message["X-Voxloop-Case"] == "C-42"
    assert got.message.get_content_charset() == "utf-8"
    assert got.message.get_content().replace("\r\n", "\n").rstrip("\n") == BREACH.text


def test_a_batch_uses_one_connection_and_logs_in(smtp_server: tuple[Collector, int]) -> None:
    handler, port = smtp_server
    smtp = SmtpSettings(
        host="127.0.0.1",
        port=port,
        to=("cx@example.org",),
        username="voxloop",
        password_env="VOXLOOP_SMTP_PASSWORD",
    )
    notifier = Notifier(smtp, environ={"VOXLOOP_SMTP_PASSWORD": PASSWORD})
    deliveries = notifier.send_all([BREACH, OPENED, BREACH])
    assert [d.ok for d in deliveries] == [True, True, True]
    assert [m.message["Subject"] for m in handler.messages] == [
        BREACH.subject,
        OPENED.subject,
        BREACH.subject,
    ]
    assert len({m.peer for m in handler.messages}) == 1  # one client socket for the batch


def test_email_failures_are_reported_not_raised(smtp_server: tuple[Collector, int]) -> None:
    handler, port = smtp_server
    base = SmtpSettings(host="127.0.0.1", port=port, to=("cx@example.org",), username="voxloop")

    unset = Notifier(SmtpSettings(**{**base.__dict__, "password_env": "VOXLOOP_NOPE"}), environ={})
    [d] = unset.send(BREACH)
    assert not d.ok and d.attempts == 0
    assert d.error is not None and "VOXLOOP_NOPE" in d.error

    wrong = Notifier(
        SmtpSettings(**{**base.__dict__, "password_env": "PW"}), environ={"PW": PASSWORD + "x"}
    )
    [d] = wrong.send(BREACH)
    assert not d.ok and d.status == 535
    assert d.error is not None and PASSWORD not in d.error

    some = SmtpSettings(host="127.0.0.1", port=port, to=("cx@example.org", "ghost@refused.example"))
    [d] = Notifier(some).send(BREACH)
    assert not d.ok and d.status == 550
    assert d.error is not None and "ghost@refused.example" in d.error
    assert handler.messages[-1].rcpt_tos == ["cx@example.org"]

    remote = SmtpSettings(host="smtp.example.org", to=("cx@example.org",), username="voxloop")
    [d] = Notifier(remote).send(BREACH)  # refused before connecting: no password in clear
    assert not d.ok and d.attempts == 0
    assert d.error is not None and "starttls" in d.error

    no_tls = SmtpSettings(host="127.0.0.1", port=port, to=("cx@example.org",), starttls=True)
    [d] = Notifier(no_tls).send(BREACH)  # the server offers no STARTTLS: nothing sent in clear
    assert not d.ok and d.error is not None and "STARTTLS" in d.error

    nobody = SmtpSettings(host="127.0.0.1", port=port, to=("ghost@refused.example",))
    [d] = Notifier(nobody).send(BREACH)
    assert not d.ok and d.status == 550

    down = SmtpSettings(host="127.0.0.1", port=free_port(), to=("cx@example.org",), timeout_s=2)
    deliveries = Notifier(down).send_all([BREACH, OPENED])
    assert [(d.ok, d.attempts) for d in deliveries] == [(False, 1), (False, 1)]
    assert all(d.error and "refused" in d.error.lower() for d in deliveries)


def test_email_events_filter(smtp_server: tuple[Collector, int]) -> None:
    handler, port = smtp_server
    smtp = SmtpSettings(
        host="127.0.0.1", port=port, to=("cx@example.org",), events=frozenset({"escalated"})
    )
    assert Notifier(smtp).send_all([BREACH, OPENED]) == []
    assert handler.messages == []


# -- a real HTTP server ---------------------------------------------------------------------------


@dataclass
class Hook:
    """What the receiver saw, and how it should answer."""

    fail_first: int = 0
    fail_status: int = 503
    status: int = 204
    extra_headers: dict[str, str] = field(default_factory=dict)
    hang: threading.Event | None = None
    requests: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_POST(self) -> None:
        hook = self.server.hook
        body = self.rfile.read(int(self.headers["Content-Length"]))
        with hook.lock:
            hook.requests.append(({k.lower(): v for k, v in self.headers.items()}, body))
            seen = len(hook.requests)
        if hook.hang is not None:
            hook.hang.wait(5)
        status = hook.fail_status if seen <= hook.fail_first else hook.status
        self.send_response(status)
        for name, value in hook.extra_headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _Server(ThreadingHTTPServer):
    hook: Hook


@pytest.fixture
def http_hook() -> Iterator[tuple[Hook, str]]:
    server = _Server(("127.0.0.1", 0), _Handler)
    server.hook = Hook()
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield server.hook, f"http://127.0.0.1:{server.server_address[1]}/voxloop"
    finally:
        if server.hook.hang is not None:
            server.hook.hang.set()
        server.shutdown()
        server.server_close()
        thread.join()


def test_webhook_retries_503_with_the_same_delivery_id_and_signs(
    http_hook: tuple[Hook, str],
) -> None:
    hook, url = http_hook
    hook.fail_first = 2
    waits: list[float] = []
    settings = WebhookSettings(url, secret_env="VOXLOOP_WEBHOOK_SECRET", retries=3, backoff_s=0.5)
    notifier = Notifier(
        webhooks=[settings], sleep=waits.append, environ={"VOXLOOP_WEBHOOK_SECRET": SECRET}
    )
    [d] = notifier.send(BREACH)
    assert (d.ok, d.attempts, d.status, d.error) == (True, 3, 204, None)
    assert waits == [0.5, 1.0]
    assert len(hook.requests) == 3
    ids = {headers["x-voxloop-delivery"] for headers, _ in hook.requests}
    assert ids == {d.delivery_id}
    assert len({body for _, body in hook.requests}) == 1  # serialised once
    for headers, body in hook.requests:
        assert headers["content-type"] == "application/json"
        assert headers["x-voxloop-event"] == "deadline_breached"
        timestamp = headers["x-voxloop-timestamp"]
        assert verify(
            SECRET.encode(), timestamp, body, headers["x-voxloop-signature"], tolerance_s=60
        )
        assert not verify(b"another secret", timestamp, body, headers["x-voxloop-signature"])
    document = json.loads(hook.requests[0][1])
    assert set(document) == {"event", "case_id", "sent_at", "delivery_id", "data"}
    assert document["event"] == "deadline_breached" and document["case_id"] == "C-42"
    assert document["delivery_id"] == d.delivery_id
    assert document["sent_at"].endswith("Z")
    assert document["data"] == {"priority": 0.91, "owner": "Zoé", "channels": ["phone"]}


def test_webhook_without_secret_is_unsigned(http_hook: tuple[Hook, str]) -> None:
    hook, url = http_hook
    [d] = Notifier(webhooks=[WebhookSettings(url)]).send(OPENED)
    assert d.ok
    [(headers, _)] = hook.requests
    assert "x-voxloop-signature" not in headers


def test_webhook_400_is_not_retried(http_hook: tuple[Hook, str]) -> None:
    hook, url = http_hook
    hook.status = 400
    waits: list[float] = []
    [d] = Notifier(webhooks=[WebhookSettings(url, retries=5)], sleep=waits.append).send(BREACH)
    assert (d.ok, d.attempts, d.status) == (False, 1, 400)
    assert d.error is not None and "400" in d.error
    assert len(hook.requests) == 1 and waits == []


def test_webhook_429_honours_retry_after_and_gives_up(http_hook: tuple[Hook, str]) -> None:
    hook, url = http_hook
    hook.status = 429
    hook.extra_headers = {"Retry-After": "7"}
    waits: list[float] = []
    [d] = Notifier(
        webhooks=[WebhookSettings(url, retries=2, backoff_s=1)], sleep=waits.append
    ).send(BREACH)
    assert (d.ok, d.attempts, d.status) == (False, 3, 429)
    assert waits == [7.0, 7.0]
    assert len(hook.requests) == 3


def test_webhook_redirect_is_not_followed(http_hook: tuple[Hook, str]) -> None:
    hook, url = http_hook
    hook.status = 302
    hook.extra_headers = {"Location": "http://elsewhere.example/steal?token=abc"}
    [d] = Notifier(webhooks=[WebhookSettings(url)]).send(BREACH)
    assert (d.ok, d.attempts, d.status) == (False, 1, 302)
    assert d.error is not None and "elsewhere.example" in d.error and "abc" not in d.error
    assert len(hook.requests) == 1


def test_webhook_timeout_is_retried(http_hook: tuple[Hook, str]) -> None:
    hook, url = http_hook
    hook.hang = threading.Event()
    [d] = Notifier(
        webhooks=[WebhookSettings(url, retries=1, timeout_s=0.2)], sleep=lambda _: None
    ).send(BREACH)
    assert (d.ok, d.attempts, d.status) == (False, 2, None)
    assert d.error is not None and "Timeout" in d.error


def test_unreachable_webhook_fails_after_all_attempts_without_raising() -> None:
    waits: list[float] = []
    url = f"http://user:{SECRET}@127.0.0.1:{free_port()}/hook?token={SECRET}"
    settings = WebhookSettings(url, secret_env="S", retries=2, backoff_s=0.25, timeout_s=2)
    [d] = Notifier(webhooks=[settings], sleep=waits.append, environ={"S": SECRET}).send(BREACH)
    assert (d.ok, d.attempts, d.status) == (False, 3, None)
    assert waits == [0.25, 0.5]
    assert d.error is not None
    assert SECRET not in d.error and SECRET not in d.target
    assert d.target.startswith("http://user:***@127.0.0.1:")


def test_webhook_missing_secret_is_reported(http_hook: tuple[Hook, str]) -> None:
    hook, url = http_hook
    [d] = Notifier(webhooks=[WebhookSettings(url, secret_env="VOXLOOP_NOPE")], environ={}).send(
        BREACH
    )
    assert not d.ok and d.attempts == 0
    assert d.error is not None and "VOXLOOP_NOPE" in d.error
    assert hook.requests == []


def test_events_filter_and_order(http_hook: tuple[Hook, str]) -> None:
    hook, url = http_hook
    only_breaches = WebhookSettings(url, events=frozenset({"deadline_breached"}))
    everything = WebhookSettings(url + "/all")
    deliveries = Notifier(webhooks=[only_breaches, everything]).send_all([OPENED, BREACH])
    assert [(d.event, d.target) for d in deliveries] == [
        ("case_opened", url + "/all"),
        ("deadline_breached", url),
        ("deadline_breached", url + "/all"),
    ]
    assert all(d.ok for d in deliveries)
    assert [headers["x-voxloop-event"] for headers, _ in hook.requests] == [
        "case_opened",
        "deadline_breached",
        "deadline_breached",
    ]


def test_no_channels_sends_nothing() -> None:
    assert Notifier().send(BREACH) == []


# -- loop.yaml ------------------------------------------------------------------------------------


def test_the_documented_example_parses() -> None:
    smtp, hooks = parse_notify_settings(
        {
            "email": {
                "host": "smtp.example.org",
                "port": 587,
                "sender": "voxloop@example.org",
                "to": ["cx-leads@example.org"],
                "username": "voxloop",
                "password_env": "VOXLOOP_SMTP_PASSWORD",
                "starttls": True,
                "events": ["deadline_breached", "escalated"],
            },
            "webhooks": [
                {
                    "url": "https://hooks.example.org/voxloop",
                    "secret_env": "VOXLOOP_WEBHOOK_SECRET",
                    "retries": 3,
                }
            ],
        },
        "loop.yaml",
    )
    assert smtp == SmtpSettings(
        host="smtp.example.org",
        port=587,
        sender="voxloop@example.org",
        to=("cx-leads@example.org",),
        username="voxloop",
        password_env="VOXLOOP_SMTP_PASSWORD",
        starttls=True,
        events=frozenset({"deadline_breached", "escalated"}),
    )
    assert hooks == [
        WebhookSettings("https://hooks.example.org/voxloop", "VOXLOOP_WEBHOOK_SECRET", retries=3)
    ]
    assert parse_notify_settings(None, "loop.yaml") == (None, [])


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ({"email": {"host": "h", "to": ["a@b.org"], "port": "x"}}, "notify.email.port:"),
        ({"email": {"host": "h", "to": []}}, "notify.email.to:"),
        ({"email": {"host": "h", "to": ["not an address"]}}, "notify.email.to"),
        ({"email": {"host": "h", "to": "a@b.org", "events": ["breach"]}}, "notify.email.events:"),
        ({"email": {"host": "h", "to": "a@b.org", "username": "u"}}, "password_env go together"),
        (
            {
                "email": {
                    "host": "smtp.example.org",
                    "to": "a@b.org",
                    "username": "u",
                    "password_env": "P",
                }
            },
            "unencrypted",
        ),
        ({"emails": {}}, "notify.emails: unknown setting (did you mean email?)"),
        ({"webhooks": [{"url": "ftp://x/y"}]}, "notify.webhooks[0].url:"),
        ({"webhooks": [{"url": "https://x", "retries": -1}]}, "notify.webhooks[0].retries:"),
        ({"webhooks": [{"url": "https://x", "events": []}]}, "notify.webhooks[0].events:"),
    ],
)
def test_config_errors_name_the_file_and_field(raw: dict[str, Any], expected: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_notify_settings(raw, "ws/loop.yaml")
    assert str(caught.value).startswith("ws/loop.yaml: ")
    assert expected in caught.value.message
    assert caught.value.hint


def test_config_errors_never_repeat_a_secret() -> None:
    for raw in (
        {"email": {"host": "h", "to": "a@b.org", "username": "u", "password": PASSWORD}},
        {"email": {"host": "h", "to": "a@b.org", "username": "u", "password_env": PASSWORD}},
        {"webhooks": [{"url": "https://x", "secret_env": SECRET}]},
        {"webhooks": [{"url": "https://x", "secret": SECRET}]},
    ):
        with pytest.raises(ConfigError) as caught:
            parse_notify_settings(raw, "loop.yaml")
        assert PASSWORD not in str(caught.value) and SECRET not in str(caught.value)
        assert caught.value.__cause__ is None
    with pytest.raises(ConfigError, match="password_env"):
        parse_notify_settings({"email": {"host": "h", "to": "a@b.org", "password": "x"}}, "f")


def test_config_must_be_a_mapping() -> None:
    with pytest.raises(ConfigError, match="notify: expected a mapping"):
        parse_notify_settings(["email"], "loop.yaml")  # type: ignore[arg-type]


# -- signatures -----------------------------------------------------------------------------------


@given(secret=st.binary(), timestamp=st.text(), body=st.binary())
def test_verify_accepts_what_sign_produced(secret: bytes, timestamp: str, body: bytes) -> None:
    signature = sign(secret, timestamp, body)
    assert signature.startswith("sha256=") and len(signature) == 7 + 64
    assert verify(secret, timestamp, body, signature)


@given(secret=st.binary(), timestamp=st.text(), body=st.binary(), data=st.data())
def test_any_change_breaks_the_signature(
    secret: bytes, timestamp: str, body: bytes, data: st.DataObject
) -> None:
    signature = sign(secret, timestamp, body)
    other_body = data.draw(st.binary().filter(lambda b: b != body))
    other_timestamp = data.draw(st.text().filter(lambda t: t != timestamp))
    assert not verify(secret, timestamp, other_body, signature)
    assert not verify(secret, other_timestamp, body, signature)


@given(signature=st.text())
def test_verify_never_raises_on_garbage(signature: str) -> None:
    assert verify(b"k", "1", b"{}", signature) is (signature == sign(b"k", "1", b"{}"))


def test_verify_refuses_stale_timestamps() -> None:
    signature = sign(b"k", "1000", b"{}")
    assert verify(b"k", "1000", b"{}", signature, tolerance_s=300, now=1200.0)
    assert not verify(b"k", "1000", b"{}", signature, tolerance_s=300, now=1400.0)
    odd = sign(b"k", "soon", b"{}")
    assert not verify(b"k", "soon", b"{}", odd, tolerance_s=300, now=1200.0)


# -- the closed loop sends them ------------------------------------------------------------


def test_loop_run_notifies_by_email_and_resurvey_goes_to_the_webhook(
    ws: Workspace,
    tmp_path: Path,
    smtp_server: tuple[Collector, int],
    http_hook: tuple[Hook, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    collector, port = smtp_server
    hook, url = http_hook
    monkeypatch.setenv("VOXLOOP_WEBHOOK_SECRET", SECRET)
    loop_yaml = ws.root / "loop.yaml"
    loop_yaml.write_text(
        loop_yaml.read_text(encoding="utf-8")
        + "notify:\n"
        + f"  email: {{host: 127.0.0.1, port: {port}, to: [leads@example.org],"
        + " events: [case_opened]}\n"
        + f"  webhooks:\n    - {{url: '{url}', secret_env: VOXLOOP_WEBHOOK_SECRET,"
        + " events: [resurvey]}\n",
        encoding="utf-8",
    )
    csv_path = tmp_path / "s.csv"
    csv_path.write_text(
        "response_id,customer_email,survey,score,answered_at,channel\n"
        "r1,ann@example.org,nps,2,2026-02-02 08:00:00,email\n",
        encoding="utf-8",
    )
    ws.ingest([csv_path], source="surveys")
    ws.resolve()
    at = datetime(2026, 2, 2, 9, 0, tzinfo=UTC)
    result, deliveries = ws.loop.run(at)
    assert result.opened == 1 and [d.ok for d in deliveries] == [True]
    [mail] = collector.messages
    assert mail.rcpt_tos == ["leads@example.org"]
    assert "New case C0000001: detractor" in str(mail.message["Subject"])
    case_id = "C0000001"
    for step, details in (
        ("called_back", StepDetails()),
        ("listened", StepDetails()),
        ("soothed", StepDetails()),
        ("learned", StepDetails(root_cause="interaction", theme="wait_time")),
        ("repaired", StepDetails(action="apology and a voucher", compensation=15)),
        ("closed", StepDetails()),
    ):
        ws.loop.step(case_id, step, actor="lea", details=details, at=at)
    sent = ws.loop.resurvey(webhook=True, as_of=at + timedelta(days=15))
    assert sent == {"invited": 1, "not_invited": 0, "file": None, "failed": 0}
    [(headers, body)] = hook.requests
    assert headers["x-voxloop-event"] == "resurvey"
    assert verify(
        SECRET.encode(), headers["x-voxloop-timestamp"], body, headers["x-voxloop-signature"]
    )
    payload = json.loads(body)
    assert payload["case_id"] == case_id and payload["data"]["email"] == "ann@example.org"
    # recorded on the case: nobody is invited twice
    assert ws.loop.resurvey(webhook=True, as_of=at + timedelta(days=16))["invited"] == 0
    assert len(hook.requests) == 1
