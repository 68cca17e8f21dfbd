"""Alert channels: ``log``, ``webhook`` (HTTP POST of the alert JSON) and ``email`` (SMTP, STARTTLS optional).

Channels are plugins: a distribution registers a class under the entry-point group
``resilience.alert_channels`` (the entry point's name is the channel ``type``), exactly as the built-ins do::

    [project.entry-points."resilience.alert_channels"]
    pager = "my_pager:PagerChannel"

The class needs ``from_config(name, configuration) -> channel`` (a classmethod); a channel has a ``name`` and
``send(alert)``, which raises when the alert did not get through (the monitor then tries again next tick).
The webhook and email channels send through a :class:`~resilience_core.recovery.runtime.Runtime` of their
own, so a refused connection, a reset or a 5xx answer is retried with backoff before ``send`` gives up.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from resilience_core.errors import ConfigError
from resilience_core.monitor.store import Alert

if TYPE_CHECKING:
    from resilience_core.recovery.runtime import Runtime

__all__ = [
    "ENTRY_POINT_GROUP",
    "AlertChannel",
    "EmailChannel",
    "LogChannel",
    "WebhookChannel",
    "channel_types",
    "make_channel",
]

ENTRY_POINT_GROUP = "resilience.alert_channels"

_log = logging.getLogger("resilience_core.monitor.alerts")


@runtime_checkable
class AlertChannel(Protocol):
    """Where alerts go. ``send`` raises when the alert did not get through."""

    name: str

    def send(self, alert: Alert) -> None: ...


def _option(
    name: str,
    configuration: Mapping[str, Any],
    key: str,
    kind: type | tuple[type, ...],
    default: Any = None,
    *,
    required: bool = False,
) -> Any:
    value = configuration.get(key, default)
    if value is None and not required:
        return None
    if value is None or (isinstance(value, bool) and kind is not bool) or not isinstance(value, kind):
        names = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
        raise ConfigError(
            f"alert_channels[{name!r}].configuration.{key}={value!r} must be {names}; "
            f"fix: set configuration.{key} in the channel {name!r}",
            field=f"alert_channels.{name}.configuration.{key}",
            value=value,
            source="monitoring config",
            allowed=names,
        )
    return value


def _runtime(configuration: Mapping[str, Any], name: str, extra_rules: Sequence[Any] = ()) -> Runtime:
    from resilience_core.config.reliability import ReliabilityConfig
    from resilience_core.recovery.categorize import Categorizer
    from resilience_core.recovery.runtime import Runtime

    retries = _option(name, configuration, "retries", int, 3)
    delay = _option(name, configuration, "retry_delay_seconds", (int, float), 1.0)
    config = ReliabilityConfig.from_mapping(
        {
            "retry": {
                "max_retries": retries,
                "base_delay_seconds": float(delay),
                "max_delay_seconds": max(float(delay) * 8, 1.0),
            }
        },
        source=f"alert_channels[{name!r}]",
        env={},
    )
    categorizer = Categorizer()
    for rule in extra_rules:
        categorizer.add_rule(rule)
    return Runtime(config=config, categorizer=categorizer)


class LogChannel:
    """Writes each alert as one log record on ``resilience_core.monitor.alerts`` (``log_level``, default ERROR
    for critical and WARNING for warning)."""

    def __init__(
        self, name: str = "log", *, log_level: str | None = None, logger: logging.Logger | None = None
    ) -> None:
        self.name = name
        self.log_level = log_level
        self.logger = logger or _log

    @classmethod
    def from_config(cls, name: str, configuration: Mapping[str, Any]) -> LogChannel:
        """``configuration``: ``log_level`` (optional)."""
        level = _option(name, configuration, "log_level", str)
        if level is not None and level.upper() not in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"):
            raise ConfigError(
                f"alert_channels[{name!r}].configuration.log_level={level!r} must be "
                "DEBUG, INFO, WARNING, ERROR or CRITICAL",
                field=f"alert_channels.{name}.configuration.log_level",
                value=level,
                source="monitoring config",
                allowed="DEBUG, INFO, WARNING, ERROR, CRITICAL",
            )
        return cls(name, log_level=level)

    def send(self, alert: Alert) -> None:
        """Log the alert with its fields as ``extra``."""
        level = self.log_level or ("ERROR" if alert.level == "critical" else "WARNING")
        self.logger.log(
            getattr(logging, level.upper()),
            "alert %s: %s",
            alert.level,
            alert.message,
            extra={"alert": alert.to_dict()},
        )


class WebhookChannel:
    """POSTs ``{"text": message, "alert": {...}}`` as JSON to ``url`` (Slack-compatible ``text``).

    ``timeout_s`` bounds each request; failures (refused, reset, timeout, HTTP 5xx/429) are retried by the
    channel's runtime (``retries``, ``retry_delay_seconds``). A 4xx other than 429 is not retried.
    """

    def __init__(
        self,
        name: str,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        method: str = "POST",
        timeout_s: float = 10.0,
        runtime: Runtime | None = None,
    ) -> None:
        if not url.startswith(("http://", "https://")):
            raise ConfigError(
                f"alert_channels[{name!r}].configuration.url={url!r} must be an http:// or https:// URL",
                field=f"alert_channels.{name}.configuration.url",
                value=url,
                source="monitoring config",
                allowed="an http(s) URL",
            )
        self.name = name
        self.url = url
        self.headers = {"Content-Type": "application/json", **dict(headers or {})}
        self.method = method
        self.timeout_s = timeout_s
        self.runtime = runtime if runtime is not None else _runtime({}, name)

    @classmethod
    def from_config(cls, name: str, configuration: Mapping[str, Any]) -> WebhookChannel:
        """``configuration``: ``url``, ``method``, ``headers``, ``timeout_seconds``, ``retries``,
        ``retry_delay_seconds``."""
        headers = _option(name, configuration, "headers", dict, {})
        return cls(
            name,
            _option(name, configuration, "url", str, required=True),
            headers={str(k): str(v) for k, v in headers.items()},
            method=_option(name, configuration, "method", str, "POST").upper(),
            timeout_s=float(_option(name, configuration, "timeout_seconds", (int, float), 10.0)),
            runtime=_runtime(configuration, name),
        )

    def body(self, alert: Alert) -> bytes:
        """The JSON body sent for ``alert``."""
        text = f"[{alert.level.upper()}] {alert.message}"
        return json.dumps({"text": text, "alert": alert.to_dict()}, sort_keys=True).encode("utf-8")

    def _post(self, body: bytes) -> int:
        import urllib.request

        request = urllib.request.Request(self.url, data=body, headers=self.headers, method=self.method)  # noqa: S310 -- scheme checked in __init__
        with urllib.request.urlopen(request, timeout=self.timeout_s) as response:  # noqa: S310 -- scheme checked in __init__
            response.read()
            return int(response.status)

    def send(self, alert: Alert) -> None:
        """POST the alert; raises :class:`~resilience_core.errors.RecoveryFailed` when every attempt failed."""
        self.runtime.run(self._post, self.body(alert), operation="alert_delivery")


class EmailChannel:
    """Sends each alert as an email over SMTP (``starttls`` upgrades the connection; ``username`` logs in)."""

    def __init__(
        self,
        name: str,
        *,
        smtp_server: str,
        smtp_port: int = 587,
        from_email: str,
        to_emails: Sequence[str],
        username: str | None = None,
        password: str | None = None,
        starttls: bool = False,
        tls_ca_file: str | None = None,
        timeout_s: float = 30.0,
        runtime: Runtime | None = None,
    ) -> None:
        if not to_emails:
            raise ConfigError(
                f"alert_channels[{name!r}].configuration.to_emails is empty; fix: list at least one address",
                field=f"alert_channels.{name}.configuration.to_emails",
                value=list(to_emails),
                source="monitoring config",
                allowed="a non-empty list of addresses",
            )
        self.name = name
        self.smtp_server = smtp_server
        self.smtp_port = smtp_port
        self.from_email = from_email
        self.to_emails = tuple(to_emails)
        self.username = username
        self.password = password
        self.starttls = starttls
        self.tls_ca_file = tls_ca_file
        self.timeout_s = timeout_s
        self.runtime = runtime if runtime is not None else _runtime({}, name, _smtp_rules())

    @classmethod
    def from_config(cls, name: str, configuration: Mapping[str, Any]) -> EmailChannel:
        """``configuration``: the seed's ``smtp_server``, ``smtp_port``, ``username``, ``password`` (or
        ``password_env``, the variable holding it), ``from_email``, ``to_emails``; plus ``starttls``,
        ``tls_ca_file``, ``timeout_seconds``, ``retries``, ``retry_delay_seconds``."""
        password = _option(name, configuration, "password", str)
        env_name = _option(name, configuration, "password_env", str)
        if password is None and env_name:
            password = os.environ.get(env_name)
        to_emails = _option(name, configuration, "to_emails", list, required=True)
        return cls(
            name,
            smtp_server=_option(name, configuration, "smtp_server", str, required=True),
            smtp_port=_option(name, configuration, "smtp_port", int, 587),
            from_email=_option(name, configuration, "from_email", str, required=True),
            to_emails=[str(a) for a in to_emails],
            username=_option(name, configuration, "username", str),
            password=password,
            starttls=bool(_option(name, configuration, "starttls", bool, False)),
            tls_ca_file=_option(name, configuration, "tls_ca_file", str),
            timeout_s=float(_option(name, configuration, "timeout_seconds", (int, float), 30.0)),
            runtime=_runtime(configuration, name, _smtp_rules()),
        )

    def message(self, alert: Alert) -> Any:
        """The :class:`email.message.EmailMessage` sent for ``alert``."""
        from email.message import EmailMessage

        mail = EmailMessage()
        mail["Subject"] = f"[{alert.level.upper()}] {alert.rule}: {alert.message}"[:200]
        mail["From"] = self.from_email
        mail["To"] = ", ".join(self.to_emails)
        mail["X-Resilience-Alert-Id"] = alert.id
        mail.set_content(json.dumps(alert.to_dict(), indent=2, sort_keys=True))
        return mail

    def _deliver(self, mail: Any) -> None:
        import smtplib
        import ssl

        with smtplib.SMTP(self.smtp_server, self.smtp_port, timeout=self.timeout_s) as smtp:
            if self.starttls:
                smtp.starttls(context=ssl.create_default_context(cafile=self.tls_ca_file))
            if self.username:
                smtp.login(self.username, self.password or "")
            smtp.send_message(mail)

    def send(self, alert: Alert) -> None:
        """Send the email; raises :class:`~resilience_core.errors.RecoveryFailed` when every attempt failed."""
        self.runtime.run(self._deliver, self.message(alert), operation="alert_delivery")


def _smtp_rules() -> list[Any]:
    from resilience_core.recovery.matching import Rule
    from resilience_core.recovery.taxonomy import FailureType

    # A dropped or refused SMTP session is a network failure worth retrying; a refused recipient is not.
    return [
        Rule(
            FailureType.NETWORK_CONNECTIVITY_LOSS,
            types=("smtplib.SMTPServerDisconnected", "smtplib.SMTPConnectError"),
            name="smtp-connection",
            priority=80,
            retryable=True,
        )
    ]


_BUILTIN: Mapping[str, Callable[[str, Mapping[str, Any]], AlertChannel]] = {
    "log": LogChannel.from_config,
    "webhook": WebhookChannel.from_config,
    "email": EmailChannel.from_config,
}


def channel_types() -> dict[str, Callable[[str, Mapping[str, Any]], AlertChannel]]:
    """Every channel type by name: the entry points of ``resilience.alert_channels`` (built-ins included)."""
    from importlib.metadata import entry_points

    found: dict[str, Callable[[str, Mapping[str, Any]], AlertChannel]] = dict(
        _BUILTIN
    )  # a source checkout has no metadata
    for point in entry_points(group=ENTRY_POINT_GROUP):
        if point.name in _BUILTIN and point.value.startswith("resilience_core."):
            continue
        factory = point.load()
        found[point.name] = getattr(factory, "from_config", factory)
    return found


def make_channel(spec: Mapping[str, Any], *, index: int = 0) -> AlertChannel | None:
    """The channel a seed-shaped spec (``name``, ``type``, ``enabled``, ``configuration``) describes; None when
    ``enabled`` is false."""
    if not isinstance(spec, Mapping):
        raise ConfigError(
            f"alert_channels[{index}]={spec!r} must be a table with name, type, enabled, configuration",
            field=f"alert_channels[{index}]",
            value=spec,
            source="monitoring config",
            allowed="a table",
        )
    name = spec.get("name") or spec.get("type")
    kind = spec.get("type")
    types = channel_types()
    if not isinstance(kind, str) or kind not in types:
        raise ConfigError(
            f"alert_channels[{index}].type={kind!r} is not a channel type; known: {', '.join(sorted(types))} "
            f"(plugins register under the entry-point group {ENTRY_POINT_GROUP!r})",
            field=f"alert_channels[{index}].type",
            value=kind,
            source="monitoring config",
            allowed=", ".join(sorted(types)),
        )
    if spec.get("enabled", True) is False:
        return None
    configuration = spec.get("configuration", {})
    if not isinstance(configuration, Mapping):
        raise ConfigError(
            f"alert_channels[{index}].configuration must be a table",
            field=f"alert_channels[{index}].configuration",
            value=configuration,
            source="monitoring config",
            allowed="a table",
        )
    return types[kind](str(name), configuration)
