"""Tell people about cases: e-mail over SMTP and outgoing webhooks, signed and retried.

:class:`Notifier` sends :class:`Notification` objects and never raises for a failed delivery:
each attempt is reported as a :class:`Delivery` (``ok``, ``attempts``, ``status``, ``error``).
Deliveries that an ``events`` filter skips are not reported at all.

Webhooks receive ``POST`` with a JSON body
``{"event", "case_id", "sent_at", "delivery_id", "data"}`` and the headers
``X-Voxloop-Event``, ``X-Voxloop-Delivery`` (the same on every retry, to de-duplicate),
``X-Voxloop-Timestamp`` (Unix seconds of this attempt) and, when a secret is configured,
``X-Voxloop-Signature: sha256=<hex>``, the HMAC-SHA256 of ``f"{timestamp}.".encode() + body``.
A receiver checks it with :func:`verify` (or the same three lines in its own language), and
refuses old timestamps to stop replays::

    >>> body, timestamp = b'{"event":"escalated"}', "1767225600"
    >>> signature = sign(b"s3cret", timestamp, body)
    >>> verify(b"s3cret", timestamp, body, signature)
    True
    >>> verify(b"s3cret", timestamp, body, signature, tolerance_s=300, now=1767225900.0)
    True
    >>> verify(b"s3cret", timestamp, body + b" ", signature)
    False

Secrets (the SMTP password, the webhook HMAC secret) never appear in ``loop.yaml``: it names
the environment variables that hold them, read when a batch is sent.
"""

from __future__ import annotations

import difflib
import hashlib
import hmac
import json
import os
import re
import smtplib
import ssl
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from email.message import EmailMessage
from email.utils import formatdate, make_msgid, parseaddr
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from voxloop.errors import ConfigError

EVENTS = ("case_opened", "deadline_warning", "deadline_breached", "escalated", "resurvey")
"""The events the closed loop emits; ``events:`` filters in ``loop.yaml`` choose among them."""

_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_MAX_RETRY_AFTER_S = 60.0
_LOOPBACK = frozenset({"localhost", "127.0.0.1", "::1"})


# -- what is sent, where, and what happened ------------------------------------------------------


@dataclass(frozen=True)
class Notification:
    """One thing to tell: ``subject`` and ``text`` for people, ``payload`` for machines."""

    event: str
    case_id: str | None
    subject: str
    text: str
    payload: Mapping[str, Any] = field(default_factory=dict)
    recipients: tuple[str, ...] = ()  # e-mail addresses besides notify.email.to (a lead's)


@dataclass(frozen=True)
class SmtpSettings:
    """Where e-mail goes. ``password_env`` is the NAME of the variable holding the password."""

    host: str
    port: int = 25
    sender: str = "voxloop@localhost"
    to: tuple[str, ...] = ()
    username: str | None = None
    password_env: str | None = None
    starttls: bool = False
    timeout_s: float = 10.0
    events: frozenset[str] | None = None  # None = every event
    ssl: bool = False  # implicit TLS from the first byte (SMTPS, usually port 465)


@dataclass(frozen=True)
class WebhookSettings:
    """One receiver. ``secret_env`` is the NAME of the variable holding the HMAC secret."""

    url: str
    secret_env: str | None = None
    retries: int = 3
    backoff_s: float = 0.5
    timeout_s: float = 5.0
    events: frozenset[str] | None = None  # None = every event


@dataclass(frozen=True)
class Delivery:
    """What happened to one notification on one channel; ``error`` is safe to show."""

    channel: str  # "email" or "webhook"
    target: str  # recipients, or the URL with any password and query values masked
    event: str
    case_id: str | None
    ok: bool
    attempts: int
    status: int | None  # last HTTP status, or the SMTP reply code of a failure
    error: str | None
    delivery_id: str | None = None  # webhooks: the X-Voxloop-Delivery header


# -- signatures -----------------------------------------------------------------------------------


def sign(secret: bytes, timestamp: str, body: bytes) -> str:
    """``sha256=<hex>`` of HMAC-SHA256 over ``f"{timestamp}.".encode() + body``."""
    digest = hmac.new(secret, f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def verify(
    secret: bytes,
    timestamp: str,
    body: bytes,
    signature: str,
    *,
    tolerance_s: float | None = None,
    now: float | None = None,
) -> bool:
    """Whether ``signature`` is :func:`sign` of this timestamp and body (constant-time).

    With ``tolerance_s``, also refuse a timestamp that is not Unix seconds within that many
    seconds of ``now`` (default: the current time), so a captured request cannot be replayed.
    """
    expected = sign(secret, timestamp, body).encode("ascii")
    if not hmac.compare_digest(expected, signature.encode("utf-8", "replace")):
        return False
    if tolerance_s is None:
        return True
    if not timestamp.isascii() or not timestamp.isdigit():
        return False
    current = time.time() if now is None else now
    return abs(current - int(timestamp)) <= tolerance_s


# -- loop.yaml: the notify section -----------------------------------------------------------------

_EXPECTED = {
    "host": "the SMTP server's host name, e.g. smtp.example.org",
    "port": "a port number from 1 to 65535 (25, 587 with starttls, 465 with ssl)",
    "sender": "one address, e.g. voxloop@example.org",
    "to": "a list of addresses, e.g. [cx-leads@example.org]",
    "username": "the SMTP login",
    "password_env": "the NAME of an environment variable holding the password (not the password)",
    "secret_env": "the NAME of an environment variable holding the secret (not the secret)",
    "events": f"a list of events among {', '.join(EVENTS)}",
    "url": "an http:// or https:// address",
    "retries": "a whole number of retries, 0 or more",
    "backoff_s": "seconds before the first retry (doubled each time), 0 or more",
    "timeout_s": "seconds, more than 0",
    "starttls": "true or false",
    "ssl": "true or false",
}
_HIDDEN = {"password", "secret", "password_env", "secret_env"}  # never echo what was written


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)

    @field_validator("events", mode="after", check_fields=False)
    @classmethod
    def _known_events(cls, value: list[str] | None) -> list[str] | None:
        if value is None:
            return None
        if not value:
            raise ValueError("an empty list would send nothing; remove events to send all")
        unknown = sorted(set(value) - set(EVENTS))
        if unknown:
            raise ValueError(f"unknown event(s) {', '.join(map(repr, unknown))}")
        return value

    @field_validator("password_env", "secret_env", mode="after", check_fields=False)
    @classmethod
    def _env_name(cls, value: str | None) -> str | None:
        if value is not None and not _ENV_NAME.fullmatch(value):
            raise ValueError("not a variable name (letters, digits and _)")
        return value


_CLEARTEXT = (
    "the password would cross the network unencrypted: "
    "set starttls: true (port 587) or ssl: true (port 465)"
)


def _cleartext_login(host: str, username: str | None, starttls: bool, ssl: bool) -> bool:
    """Logging in without TLS is only acceptable to a relay on this machine."""
    return username is not None and not (starttls or ssl) and host not in _LOOPBACK


def _address(value: str) -> str:
    if "@" not in parseaddr(value)[1] or "\n" in value or "\r" in value:
        raise ValueError(f"{value!r} is not an e-mail address")
    return value


class _EmailSpec(_Spec):
    host: str = Field(min_length=1)
    port: int = Field(default=25, ge=1, le=65535)
    sender: str = "voxloop@localhost"
    to: list[str] = Field(min_length=1)
    username: str | None = None
    password_env: str | None = None
    starttls: bool = False
    ssl: bool = False
    timeout_s: float = Field(default=10.0, gt=0)
    events: list[str] | None = None

    @field_validator("to", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    @field_validator("sender")
    @classmethod
    def _sender(cls, value: str) -> str:
        return _address(value)

    @field_validator("to")
    @classmethod
    def _recipients(cls, value: list[str]) -> list[str]:
        return [_address(v) for v in value]

    @model_validator(mode="after")
    def _coherent(self) -> _EmailSpec:
        if (self.username is None) != (self.password_env is None):
            raise ValueError("username and password_env go together: give both or neither")
        if self.starttls and self.ssl:
            raise ValueError("starttls and ssl exclude each other: starttls on 587, ssl on 465")
        if _cleartext_login(self.host, self.username, self.starttls, self.ssl):
            raise ValueError(_CLEARTEXT)
        return self


class _WebhookSpec(_Spec):
    url: str
    secret_env: str | None = None
    retries: int = Field(default=3, ge=0, le=20)
    backoff_s: float = Field(default=0.5, ge=0)
    timeout_s: float = Field(default=5.0, gt=0)
    events: list[str] | None = None

    @field_validator("url")
    @classmethod
    def _http(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("needs the scheme http or https and a host")
        return value


class _NotifySpec(_Spec):
    email: _EmailSpec | None = None
    webhooks: list[_WebhookSpec] = Field(default_factory=list)


def _field_path(loc: tuple[int | str, ...]) -> str:
    path = "notify"
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else f".{part}"
    return path


def _known_keys(loc: tuple[int | str, ...]) -> list[str]:
    model: type[BaseModel] = _NotifySpec
    if len(loc) > 1 and loc[0] == "email":
        model = _EmailSpec
    elif len(loc) > 2 and loc[0] == "webhooks":
        model = _WebhookSpec
    return list(model.model_fields)


def _config_error(where: str, exc: ValidationError) -> ConfigError:
    problems, hints = [], []
    for err in exc.errors():
        loc = tuple(p for p in err["loc"] if not str(p).startswith("function-"))
        name = next((str(p) for p in reversed(loc) if isinstance(p, str)), "")
        message = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            known = _known_keys(loc)
            close = difflib.get_close_matches(name, known, n=1)
            message = "unknown setting" + (f" (did you mean {close[0]}?)" if close else "")
            message += f"; valid here: {', '.join(known)}"
            if name in ("password", "secret"):
                hints.append(f"put the {name} in an environment variable and give its name in")
                hints[-1] += f" {name}_env, e.g. {name}_env: VOXLOOP_SMTP_{name.upper()}"
        elif err["type"] != "value_error" and name not in _HIDDEN and "input" in err:
            got = err["input"]
            if isinstance(got, str | int | float | bool) or got is None:
                message += f" (got {got!r})"
        expected = _EXPECTED.get(name)
        problems.append(
            f"{_field_path(loc)}: {message}" + (f"; expected {expected}" if expected else "")
        )
    email, hook = ", ".join(_EmailSpec.model_fields), ", ".join(_WebhookSpec.model_fields)
    section = f"email: {{{email}}} and webhooks: [{{{hook}}}, ...]"
    hints.append(f"fix {where}; the notify section takes {section}")
    return ConfigError(f"{where}: " + "; ".join(problems), hint="; ".join(hints))


def parse_notify_settings(
    raw: Mapping[str, Any] | None, where: str
) -> tuple[SmtpSettings | None, list[WebhookSettings]]:
    """Read the value of the ``notify:`` key of ``loop.yaml`` (``None`` when it is absent).

    Raises :class:`~voxloop.errors.ConfigError` naming ``where``, the field, what was expected
    and what to do; what was written in a secret's place is never repeated.
    """
    if raw is None:
        return None, []
    if not isinstance(raw, Mapping):
        raise ConfigError(
            f"{where}: notify: expected a mapping with email and/or webhooks, "
            f"got {type(raw).__name__}",
            hint="see the notify example in the loop.yaml template",
        )
    try:
        spec = _NotifySpec.model_validate(dict(raw))
    except ValidationError as exc:
        raise _config_error(where, exc) from None  # the pydantic error may hold a secret
    smtp = None
    if spec.email is not None:
        e = spec.email
        smtp = SmtpSettings(
            host=e.host,
            port=e.port,
            sender=e.sender,
            to=tuple(e.to),
            username=e.username,
            password_env=e.password_env,
            starttls=e.starttls,
            timeout_s=e.timeout_s,
            events=None if e.events is None else frozenset(e.events),
            ssl=e.ssl,
        )
    hooks = [
        WebhookSettings(
            url=w.url,
            secret_env=w.secret_env,
            retries=w.retries,
            backoff_s=w.backoff_s,
            timeout_s=w.timeout_s,
            events=None if w.events is None else frozenset(w.events),
        )
        for w in spec.webhooks
    ]
    return smtp, hooks


# -- sending ---------------------------------------------------------------------------------------


def _masked_url(url: str) -> str:
    """The URL without its password or query values, for reports and logs."""
    parts = urlsplit(url)
    netloc = parts.netloc
    if parts.password is not None:
        netloc = netloc.replace(f":{parts.password}@", ":***@", 1)
    query = "&".join(f"{kv.split('=', 1)[0]}=***" for kv in parts.query.split("&") if kv)
    return urlunsplit((parts.scheme, netloc, parts.path, query, ""))


def _scrub(text: str, secrets: Iterable[str | None]) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def _json_default(value: Any) -> Any:
    if isinstance(value, Mapping):
        return dict(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, set | frozenset):
        return sorted(value, key=str)
    raise TypeError(f"{type(value).__name__} is not JSON-serialisable")


def _wants(events: frozenset[str] | None, notification: Notification) -> bool:
    return events is None or notification.event in events


def _recipients(smtp: SmtpSettings, n: Notification) -> list[str]:
    return list(dict.fromkeys([*smtp.to, *n.recipients]))


class Notifier:
    """Send notifications by e-mail and to webhooks; failures are reported, never raised.

    ``environ`` (default: the process environment) is where the variables named by
    ``password_env`` and ``secret_env`` are looked up; ``sleep`` waits between retries.
    """

    def __init__(
        self,
        smtp: SmtpSettings | None = None,
        webhooks: Sequence[WebhookSettings] = (),
        *,
        sleep: Callable[[float], None] = time.sleep,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        self.smtp = smtp
        self.webhooks = tuple(webhooks)
        self._sleep = sleep
        self._environ = os.environ if environ is None else environ

    def send(self, notification: Notification) -> list[Delivery]:
        """Deliver one notification on every channel whose ``events`` accept it."""
        return self.send_all([notification])

    def send_all(self, notifications: Iterable[Notification]) -> list[Delivery]:
        """Deliver a batch over one SMTP connection; results follow the notifications' order,
        e-mail first, then the webhooks in their configured order."""
        batch = list(notifications)
        emails: dict[int, Delivery] = {}
        if self.smtp is not None:
            emails = self._send_emails(self.smtp, batch)
        hooks: dict[int, list[Delivery]] = {}
        if any(_wants(w.events, n) for w in self.webhooks for n in batch):
            with httpx.Client(follow_redirects=False) as client:
                for i, n in enumerate(batch):
                    hooks[i] = [
                        self._post(client, w, n) for w in self.webhooks if _wants(w.events, n)
                    ]
        out: list[Delivery] = []
        for i in range(len(batch)):
            if i in emails:
                out.append(emails[i])
            out.extend(hooks.get(i, []))
        return out

    # -- e-mail --

    def _send_emails(self, smtp: SmtpSettings, batch: list[Notification]) -> dict[int, Delivery]:
        todo = {i: n for i, n in enumerate(batch) if _wants(smtp.events, n)}
        target = ", ".join(smtp.to)

        def report(n: Notification, attempts: int, error: str | None, code: int | None) -> Delivery:
            ok = error is None
            return Delivery("email", target, n.event, n.case_id, ok, attempts, code, error)

        if not todo:
            return {}
        password, problem = self._password(smtp)
        if problem is not None:
            return {i: report(n, 0, problem, None) for i, n in todo.items()}
        results: dict[int, Delivery] = {}
        try:
            with self._connect(smtp) as server:
                if smtp.username is not None and password is not None:
                    server.login(smtp.username, password)
                for i, n in todo.items():
                    results[i] = self._send_one(server, smtp, n, report, password)
        except (smtplib.SMTPException, OSError) as exc:
            code = exc.smtp_code if isinstance(exc, smtplib.SMTPResponseException) else None
            error = f"{smtp.host}:{smtp.port}: " + _scrub(_describe(exc), [password])
            for i, n in todo.items():
                results.setdefault(i, report(n, 1, error, code))
        return results

    def _password(self, smtp: SmtpSettings) -> tuple[str | None, str | None]:
        """The SMTP password (if any), or why nothing can be sent."""
        if _cleartext_login(smtp.host, smtp.username, smtp.starttls, smtp.ssl):
            return None, f"notify.email: {_CLEARTEXT}"
        if smtp.password_env is None:
            return None, None
        password = self._environ.get(smtp.password_env)
        if password:
            return password, None
        return None, (
            f"the environment variable {smtp.password_env} (notify.email.password_env) is not "
            "set: set it to the password of the SMTP account"
        )

    def _send_one(
        self,
        server: smtplib.SMTP,
        smtp: SmtpSettings,
        n: Notification,
        report: Callable[[Notification, int, str | None, int | None], Delivery],
        password: str | None,
    ) -> Delivery:
        """One message on an open connection; a refusal of this message only is reported here,
        a broken connection propagates to fail the rest of the batch."""
        if not _recipients(smtp, n):
            return report(n, 0, "no recipients: add addresses to notify.email.to", None)
        try:
            refused = server.send_message(self._message(smtp, n))
        except smtplib.SMTPRecipientsRefused as exc:
            refused = exc.recipients
        except smtplib.SMTPDataError as exc:
            return report(n, 1, _scrub(_describe(exc), [password]), exc.smtp_code)
        if not refused:
            return report(n, 1, None, None)
        who = ", ".join(
            f"{address} ({code} {reply.decode(errors='replace')})"
            for address, (code, reply) in refused.items()
        )
        first_code = next(iter(refused.values()))[0]
        return report(n, 1, f"refused by the server for {who}", first_code)

    @staticmethod
    def _connect(smtp: SmtpSettings) -> smtplib.SMTP:
        context = ssl.create_default_context()
        if smtp.ssl:
            return smtplib.SMTP_SSL(smtp.host, smtp.port, timeout=smtp.timeout_s, context=context)
        server = smtplib.SMTP(smtp.host, smtp.port, timeout=smtp.timeout_s)
        try:
            if smtp.starttls:
                server.starttls(context=context)
        except BaseException:
            server.close()
            raise
        return server

    @staticmethod
    def _message(smtp: SmtpSettings, n: Notification) -> EmailMessage:
        msg = EmailMessage()
        msg["From"] = smtp.sender
        msg["To"] = ", ".join(_recipients(smtp, n))
        msg["Subject"] = " ".join(n.subject.split())  # one line: no header injection
        msg["Date"] = formatdate(localtime=False, usegmt=True)
        msg["Message-ID"] = make_msgid(domain=parseaddr(smtp.sender)[1].rpartition("@")[2] or None)
        msg["X-Voxloop-Event"] = n.event
        if n.case_id is not None:
            msg["X-Voxloop-Case"] = " ".join(n.case_id.split())
        msg.set_content(n.text, charset="utf-8")
        return msg

    # -- webhooks --

    def _post(self, client: httpx.Client, hook: WebhookSettings, n: Notification) -> Delivery:
        target = _masked_url(hook.url)
        delivery_id = str(uuid.uuid4())
        secret = None if hook.secret_env is None else self._environ.get(hook.secret_env)

        def report(ok: bool, attempts: int, status: int | None, error: str | None) -> Delivery:
            if error is not None:
                error = _scrub(error.replace(hook.url, target), [secret])
            return Delivery(
                "webhook", target, n.event, n.case_id, ok, attempts, status, error, delivery_id
            )

        if hook.secret_env is not None and not secret:
            unset = f"the environment variable {hook.secret_env} (secret_env of the webhook "
            unset += f"{target}) is not set: set it to the secret shared with the receiver"
            return report(False, 0, None, unset)
        try:
            body = _body(n, delivery_id)
        except (TypeError, ValueError) as exc:
            return report(False, 0, None, f"the payload cannot be sent as JSON: {exc}")
        status: int | None = None
        error: str | None = None
        for attempt in range(1, hook.retries + 2):
            timestamp = str(int(time.time()))
            headers = {
                "Content-Type": "application/json",
                "User-Agent": "voxloop-webhooks",
                "X-Voxloop-Event": n.event,
                "X-Voxloop-Delivery": delivery_id,
                "X-Voxloop-Timestamp": timestamp,
            }
            if secret:
                headers["X-Voxloop-Signature"] = sign(secret.encode(), timestamp, body)
            wait = hook.backoff_s * 2 ** (attempt - 1)
            try:
                response = client.post(
                    hook.url, content=body, headers=headers, timeout=hook.timeout_s
                )
            except httpx.UnsupportedProtocol as exc:  # retrying cannot help
                return report(False, attempt, None, _describe(exc))
            except httpx.TransportError as exc:  # connection refused, timeout, reset: retry
                status, error = None, _describe(exc)
            except (httpx.HTTPError, httpx.InvalidURL) as exc:
                return report(False, attempt, None, _describe(exc))
            else:
                status = response.status_code
                error = f"HTTP {status} {response.reason_phrase}".rstrip()
                if response.is_success:
                    return report(True, attempt, status, None)
                if response.is_redirect:
                    moved = _masked_url(response.headers.get("location", ""))
                    error += f": redirected to {moved}, not followed; put that address in loop.yaml"
                    return report(False, attempt, status, error)
                if status != 429 and status < 500:
                    return report(False, attempt, status, error)
                wait = max(wait, _retry_after(response))
            if attempt <= hook.retries:
                self._sleep(wait)
        return report(False, hook.retries + 1, status, error)


def _body(n: Notification, delivery_id: str) -> bytes:
    """The JSON document, serialised once for all the attempts of one delivery."""
    sent_at = datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    document = {
        "event": n.event,
        "case_id": n.case_id,
        "sent_at": sent_at,
        "delivery_id": delivery_id,
        "data": n.payload,
    }
    return json.dumps(document, ensure_ascii=False, default=_json_default).encode("utf-8")


def _retry_after(response: httpx.Response) -> float:
    """Seconds the server asked us to wait (``Retry-After`` in seconds), at most a minute."""
    value = response.headers.get("retry-after", "")
    return min(float(value), _MAX_RETRY_AFTER_S) if value.isdigit() else 0.0


__all__ = [
    "EVENTS",
    "Delivery",
    "Notification",
    "Notifier",
    "SmtpSettings",
    "WebhookSettings",
    "parse_notify_settings",
    "sign",
    "verify",
]
