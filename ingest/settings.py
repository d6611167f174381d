"""One settings class, validated once, read from the environment only (`make` targets and the tests put
`.data/services.env`'s addresses into it themselves)."""

from __future__ import annotations

import ipaddress
import logging
import os
import re
import sys
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, ValidationError, field_validator
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, SettingsConfigDict

from ingest.event_loop import LoopName

REPO_ROOT = Path(__file__).resolve().parent.parent


# The ticket-signing key every checkout knows: fine on loopback, refused beyond it (Settings.open_to).
DEFAULT_TICKET_SECRET = "jiesu-dev-ticket-secret"
# The hotline's time zone: its day and hours in the reports.
DEFAULT_REPORT_TIMEZONE = "Asia/Shanghai"


class Settings(BaseSettings):
    """Runtime configuration of gateway and workers; every field is an environment variable."""

    # Every variable is JIESU_<FIELD>; the four that deployments commonly set by convention also work bare.
    model_config = SettingsConfigDict(
        env_prefix="JIESU_", env_file=None, extra="ignore", case_sensitive=False, populate_by_name=True
    )

    # Where the pipeline runs. Empty bootstrap servers = the in-process bus (embedded default).
    kafka_bootstrap_servers: str = Field(
        default="",
        validation_alias=AliasChoices("KAFKA_BOOTSTRAP_SERVERS", "JIESU_KAFKA_BOOTSTRAP_SERVERS"),
        description="Kafka bootstrap servers; empty = in-process bus",
    )
    database_url: str = Field(
        default="postgresql+asyncpg://jiesu@127.0.0.1:15432/jiesu",
        validation_alias=AliasChoices("DATABASE_URL", "JIESU_DATABASE_URL"),
        description="Postgres URL; the default is the Postgres that scripts/postgres.sh starts in .data/",
    )

    host: str = Field(
        default="127.0.0.1", validation_alias=AliasChoices("HOST", "JIESU_HOST"), description="Listen address"
    )
    port: int = Field(
        default=8000, validation_alias=AliasChoices("PORT", "JIESU_PORT"), description="Listen port"
    )
    public_base_url: str = Field(default="", description="Base of status_url links; empty = relative links")
    allow_open: bool = Field(
        default=False,
        description="Serve on an address beyond loopback without adapter keys, downstream keys or a ticket "
        "secret of your own (a trial on a private network); the gateway then warns at start-up and /readyz "
        "lists what is open. Without it such a gateway refuses to start",
    )

    # Gateway behaviour.
    produce_timeout_s: float = Field(
        default=2.0, gt=0, description="Budget for Kafka's ack before answering 503"
    )
    retry_after_s: int = Field(default=2, ge=1, description="Retry-After sent with 503")
    ticket_secret: str = Field(
        default=DEFAULT_TICKET_SECRET,
        description="Key that signs ticket ids (shared by all gateways; change in production)",
    )

    # Gateway: adapters, limits, channels (app/auth.py, app/limits.py, docs/adapters.md).
    api_keys: str = Field(
        default="",
        description="Adapter API keys, comma-separated name:channel:key (channel web, wechat or phone); "
        "empty = the gateway is open (embedded default) and says so at start-up",
    )
    signing_secrets: str = Field(
        default="",
        description="HMAC-SHA256 body-signing secrets, comma-separated name:secret; every adapter named "
        "here must sign each request (X-Jiesu-Timestamp, X-Jiesu-Nonce, X-Jiesu-Signature)",
    )
    signature_window_s: int = Field(
        default=300, ge=1, description="Largest accepted clock difference of a signed request's timestamp"
    )
    rate_limit_per_s: float = Field(
        default=1000.0,
        ge=0,
        description="Submissions per second per adapter in each gateway process (token bucket); 0 = no limit",
    )
    rate_limit_burst: int = Field(default=2000, ge=1, description="Token-bucket size of the rate limit")
    read_rate_per_s: float = Field(
        default=50.0,
        ge=0,
        description="Reads (tickets, histories, reports) per second per adapter or downstream key in each "
        "gateway process (token bucket of read_burst); 0 = no limit",
    )
    read_burst: int = Field(default=500, ge=1, description="Token-bucket size of the read rate")
    public_read_rate_per_s: float = Field(
        default=5.0,
        ge=0,
        description="Open311's public reads (GET requests, requests/{id}, tokens/{token}) per second per "
        "client address (an IPv6 address's /64) in each gateway process (token bucket of "
        "public_read_burst); 0 = no limit",
    )
    public_read_burst: int = Field(default=60, ge=1, description="Token-bucket size of the public read rate")
    invalid_rate_per_s: float = Field(
        default=5.0,
        ge=0,
        description="Invalid submissions per second an adapter may send in each gateway process before all "
        "its submissions get 429 (a bucket of invalid_burst, refilled at this rate); 0 = no limit",
    )
    invalid_burst: int = Field(
        default=300,
        ge=1,
        description="Invalid submissions an adapter may send at once (see invalid_rate_per_s)",
    )
    header_timeout_s: float = Field(
        default=10.0, gt=0, description="Seconds a client has to send a request's headers (else closed)"
    )
    body_timeout_s: float = Field(
        default=30.0, gt=0, description="Seconds a client has to send a request's body after its headers"
    )
    max_connections: int = Field(
        default=20000,
        ge=1,
        description="Open connections the gateway serves at once; requests on further ones get 503",
    )
    max_body_bytes: int = Field(default=1 << 20, ge=1024, description="Largest request body (413 above)")
    max_batch_body_bytes: int = Field(
        default=16 << 20, ge=1024, description="Largest body of POST /v1/complaints/batch (413 above)"
    )
    max_in_flight: int = Field(
        default=20000, ge=1, description="Submissions waiting for the bus at once before new ones get 503"
    )
    flood_threshold: int = Field(
        default=10,
        ge=1,
        description="Distinct submissions from one citizen within flood_window_s above which each further "
        "one is flagged for review (never dropped)",
    )
    flood_window_s: float = Field(default=600.0, gt=0, description="Window of the citizen flood flag")
    wechat_token: str = Field(
        default="", description="Token of the WeChat official-account callback; empty = callback disabled"
    )
    wechat_aes_key: str = Field(
        default="",
        pattern=r"^([A-Za-z0-9+/]{43})?$",
        description="The official account's EncodingAESKey (43 characters) for its encrypted mode "
        "(安全模式); empty = plaintext mode only",
    )
    wechat_app_id: str = Field(
        default="", max_length=64, description="The official account's AppID (encrypted mode checks it)"
    )
    wechat_max_age_s: int = Field(
        default=300,
        ge=1,
        description="Largest difference between a WeChat callback's timestamp and the gateway's clock; older "
        "(or later) callbacks are refused, and replays are remembered this long (table wechat_pushes)",
    )
    wechat_openid_per_minute: float = Field(
        default=10.0,
        ge=0,
        description="Messages a minute one WeChat user (openid) may push in each gateway process, in bursts "
        "of wechat_openid_burst; past it the user is asked to wait. 0 = no limit",
    )
    wechat_openid_burst: int = Field(default=20, ge=1, description="Burst of wechat_openid_per_minute")
    open311_jurisdiction: str = Field(
        default="12345",
        max_length=64,
        description="The Open311 jurisdiction_id this gateway serves: requests naming another get 404; "
        "requests naming none are served",
    )

    urgent_lane_enabled: bool = Field(
        default=True,
        description="Send the submissions the urgency screen flags on complaints.intake.urgent; false: every "
        "submission takes the normal lane (the workers still judge and publish urgent tickets)",
    )
    urgent_lane_rate: float = Field(
        default=50.0,
        ge=0,
        description="Submissions a second, per urgency situation and gateway process, that the screen may "
        "send on the urgent lane (0 = no limit); past it they take the normal lane, behind its backlog. A "
        "burst of one incident (thousands reporting one burst main) must not queue the lane in front of "
        "other emergencies; the lane never waits for incident grouping, so one worker keeps up with hundreds "
        "a second",
    )
    urgent_lane_burst: int = Field(
        default=50,
        ge=1,
        description="How many submissions of one situation may take the urgent lane at once",
    )

    # Worker behaviour.
    consumer_group: str = Field(default="jiesu-intake", description="Kafka consumer group of intake workers")
    batch_max_records: int = Field(
        default=500, ge=1, description="Most records taken per batch while the worker keeps up"
    )
    batch_max_records_behind: int = Field(
        default=2000,
        ge=1,
        description="Most records taken per batch while the worker is behind (its batches come back full); "
        "the limit doubles per full batch from batch_max_records up to this",
    )
    batch_timeout_ms: int = Field(default=200, ge=1, description="Longest wait to fill a batch")
    worker_lanes: Literal["normal,urgent", "normal", "urgent"] = Field(
        default="normal,urgent",
        description="The intake lanes a worker process reads. Every process reads both by default; under "
        "saturation, run one or more `urgent` workers at a higher CPU priority than `normal` ones, so urgent "
        "tickets never share an event loop (or a time slice) with the backlog",
    )
    urgent_sentinel: bool = Field(
        default=True,
        description="Whether a worker process that reads the urgent lane also runs its sentinel: the urgency "
        "model over complaints.intake at its head, which copies the urgent submissions the gateway's screen "
        "missed, or flagged past their situation's lane budget, onto the urgent lane (under a budget of its "
        "own, JIESU_URGENT_LANE_RATE per situation and process), so they do not wait behind the backlog",
    )
    urgent_batch_max_records: int = Field(
        default=50,
        ge=1,
        description="Most records taken per batch on the urgent lane (small: an urgent ticket should not "
        "wait for many others to be judged and stored with it); batches may grow to ten times this while "
        "the lane is behind",
    )
    retry_backoff_s: float = Field(default=1.0, gt=0, description="Pause after a transient failure")
    dlq_max_per_window: int = Field(
        default=1000,
        ge=1,
        description="Dead letters allowed per window before the worker stops (a bad deploy)",
    )
    dlq_window_s: float = Field(default=60.0, gt=0, description="Window of the dead-letter cap")
    worker_metrics_port: int = Field(
        default=0, ge=0, le=65535, description="Port of a worker's Prometheus metrics on HOST; 0 = off"
    )

    # Downstream systems (dispatch, dashboards, the warehouse) on the read and status API.
    downstream_keys: str = Field(
        default="", description="Downstream systems' keys, comma-separated name:key; empty = open"
    )
    personal_data_readers: str = Field(
        default="",
        description="Names (downstream systems, adapters) that read phone, ID-card and bank-card numbers in "
        "complaint texts unmasked, comma-separated; every such read is audited. Everyone else reads them "
        "masked",
    )
    events_personal_data: bool = Field(
        default=False,
        description="Publish events with the personal numbers in their texts unmasked (only when every "
        "subscriber may read them)",
    )

    # Storage maintenance (python -m workers.maintenance, and the worker's partition keeper).
    partitions_ahead: int = Field(default=3, ge=1, description="Months of partitions kept ready ahead of now")
    retention_months: int = Field(
        default=24, ge=1, description="Months kept in `tickets`; older ones are archived by `retention`"
    )
    archive_dir: str = Field(default="", description="Where `retention --to file` writes gzipped CSV")

    # Reports (docs/reports.md): the rollups, the hourly brief, the alert detector.
    report_timezone: str = Field(
        default=DEFAULT_REPORT_TIMEZONE,
        description="IANA time zone of the hotline's hours: the brief's default and the hours it publishes "
        "(a zone a whole number of hours from UTC: the rollups count UTC hours)",
    )
    report_baseline_days: int = Field(
        default=7,
        ge=1,
        le=56,
        description="Seasonal baseline of hotspots and alerts: the mean of the same hour on this many "
        "previous days (days without any ticket in that hour, e.g. before the hotline used jiesu, are left "
        "out)",
    )
    hotspot_min_count: int = Field(
        default=5,
        ge=1,
        description="Fewest tickets in a district × category hour for the brief to call it a hotspot",
    )
    hotspot_min_score: float = Field(
        default=3.0,
        gt=0,
        description="Least score of a hotspot: (observed − expected) / √(expected + 1), expected being the "
        "baseline scaled to the part of the hour elapsed",
    )
    alert_interval_s: float = Field(
        default=15.0, gt=0, le=60, description="How often the alert detector reads the rollups"
    )
    alert_min_count: int = Field(
        default=30, ge=1, description="Fewest tickets in a district × category hour for a count alert"
    )
    alert_min_ratio: float = Field(
        default=3.0, ge=1, description="A count alert needs at least this many times the expected tickets"
    )
    alert_min_score: float = Field(
        default=6.0, gt=0, description="A count alert needs at least this score (as for hotspots)"
    )
    alert_incident_growth: int = Field(
        default=40,
        ge=1,
        description="Tickets joining one incident within one hour that raise an incident alert (once per "
        "incident and hour)",
    )
    alert_incident_size: int = Field(
        default=200,
        ge=1,
        description="Size of an incident that raises an alert when first reached (once per incident)",
    )
    reports_publish: bool = Field(
        default=True,
        description="Publish each closed hour's brief on complaints.reports (the reports worker)",
    )
    report_publish_delay_s: float = Field(
        default=120.0,
        ge=0,
        description="How long after an hour closes its brief is published (late tickets still arriving)",
    )
    response_limit_hours: float = Field(
        default=2.0,
        gt=0,
        description="The response rate's time limit: a ticket responded to in time was first dispatched "
        "within this many hours of being received",
    )
    rollup_ledger_days: int = Field(
        default=14,
        ge=1,
        description="Days a counted ticket id is remembered, so a republished event is not counted twice; "
        "longer than the intake topics' retention",
    )

    topic_prefix: str = Field(default="", description="Prefix of every topic name (e.g. per environment)")
    log_level: str = Field(default="INFO", description="Logging level")
    gc_tuning: bool = Field(
        default=True,
        description="Freeze the start-up heap and collect garbage less often in the gateway and workers "
        "(ingest/gc_tuning.py); false keeps Python's defaults",
    )
    fastapi_telemetry: bool = Field(
        default=False,
        description="FastAPI's native OpenTelemetry (traces, metrics, logs to the global providers) in the "
        "gateway; off by default: the gateway exports Prometheus metrics, and FastAPI's per-request check "
        "of the providers costs CPU on every submission",
    )
    event_loop: LoopName = Field(
        default="auto",
        description="Event loop of the gateway and the workers: auto (uvloop where installed), "
        "uvloop, asyncio",
    )

    @field_validator("database_url")
    @classmethod
    def _asyncpg_driver(cls, url: str) -> str:
        """Accept plain postgresql:// URLs and use the asyncpg driver for them."""
        for plain in ("postgresql://", "postgres://"):
            if url.startswith(plain):
                return "postgresql+asyncpg://" + url[len(plain) :]
        return url

    @field_validator("log_level")
    @classmethod
    def _known_log_level(cls, value: str) -> str:
        """A level the logging module knows (DEBUG, INFO, WARNING, ERROR, CRITICAL), in any case."""
        if not isinstance(logging.getLevelName(value.upper()), int):
            raise ValueError("want one of DEBUG, INFO, WARNING, ERROR, CRITICAL")
        return value.upper()

    @field_validator("report_timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        """An IANA zone this machine's tz database knows."""
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            zone = ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"{value!r} is not an IANA time zone") from exc
        # The rollups count UTC hours: a zone half an hour off UTC would split every local hour.
        year = datetime.now(UTC).year
        for month in (1, 7):
            offset = datetime(year, month, 1, tzinfo=zone).utcoffset() or timedelta(0)
            if offset % timedelta(hours=1):
                raise ValueError(f"{value!r} is {offset} from UTC: the reports need a whole number of hours")
        return value

    @field_validator("downstream_keys")
    @classmethod
    def _downstream_keys_well_formed(cls, value: str) -> str:
        parse_downstream_keys(value)
        return value

    @field_validator("api_keys")
    @classmethod
    def _api_keys_well_formed(cls, value: str) -> str:
        """Refuse a malformed key list at start-up rather than locking every adapter out at run time."""
        parse_api_keys(value)
        return value

    @field_validator("signing_secrets")
    @classmethod
    def _signing_secrets_well_formed(cls, value: str) -> str:
        """Refuse a malformed secret list at start-up."""
        parse_signing_secrets(value)
        return value

    @property
    def open_to(self) -> list[str]:
        """What leaves the gateway open to anyone who reaches it: settings without a secret of their own."""
        gaps = []
        if not self.api_keys:
            gaps.append("JIESU_API_KEYS (anyone may submit on any channel)")
        if not self.downstream_keys:
            gaps.append("JIESU_DOWNSTREAM_KEYS (anyone may read citizens' complaints and change tickets)")
        if self.ticket_secret == DEFAULT_TICKET_SECRET:
            gaps.append("JIESU_TICKET_SECRET (still the published default)")
        return gaps

    @property
    def loopback_only(self) -> bool:
        """Whether the gateway listens only on this machine."""
        if self.host == "localhost":
            return True
        try:
            return ipaddress.ip_address(self.host).is_loopback
        except ValueError:
            return False

    @property
    def database_url_for_logs(self) -> str:
        """The database URL with its password left out: what logs and error messages may show."""
        from sqlalchemy.engine import make_url  # only where a URL is shown: most processes never need it

        return make_url(self.database_url).render_as_string(hide_password=True)

    @property
    def embedded_bus(self) -> bool:
        """True when no Kafka is configured and the in-process bus stands in for it."""
        return not self.kafka_bootstrap_servers


# Names of adapters and downstream systems, and the shortest key or secret accepted for either.
_ADAPTER_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
_ADAPTER_CHANNELS = ("web", "wechat", "phone")
MIN_SECRET_LENGTH = 16


def parse_downstream_keys(value: str) -> dict[str, str]:
    """`name:key,…` as {name: key}; ValueError naming the bad entry."""
    out: dict[str, str] = {}
    for entry in filter(None, (part.strip() for part in value.split(","))):
        name, _, key = entry.partition(":")
        if not _ADAPTER_NAME.match(name) or len(key) < MIN_SECRET_LENGTH:
            raise ValueError(
                f"downstream key {name!r}: want name:key, a key of {MIN_SECRET_LENGTH}+ characters"
            )
        if name in out or key in out.values():
            raise ValueError("downstream keys: every system needs its own name and its own key")
        out[name] = key
    return out


def parse_api_keys(value: str) -> list[tuple[str, str, str]]:
    """`name:channel:key,…` as (name, channel, key) triples; ValueError naming the bad entry."""
    out: list[tuple[str, str, str]] = []
    for entry in filter(None, (part.strip() for part in value.split(","))):
        name, _, rest = entry.partition(":")
        channel, _, key = rest.partition(":")
        if not _ADAPTER_NAME.match(name):
            raise ValueError(f"api key entry {name!r}: the name must be 1-64 of A-Z a-z 0-9 _ . -")
        if channel not in _ADAPTER_CHANNELS:
            raise ValueError(f"api key of {name!r}: channel must be one of {', '.join(_ADAPTER_CHANNELS)}")
        if len(key) < MIN_SECRET_LENGTH:
            raise ValueError(f"api key of {name!r}: a key needs at least {MIN_SECRET_LENGTH} characters")
        out.append((name, channel, key))
    if len({name for name, _, _ in out}) != len(out) or len({key for _, _, key in out}) != len(out):
        raise ValueError("api keys: every adapter needs its own name and its own key")
    return out


def parse_signing_secrets(value: str) -> dict[str, str]:
    """`name:secret,…` as {name: secret}; ValueError naming the bad entry."""
    out: dict[str, str] = {}
    for entry in filter(None, (part.strip() for part in value.split(","))):
        name, _, secret = entry.partition(":")
        if not _ADAPTER_NAME.match(name) or len(secret) < MIN_SECRET_LENGTH:
            raise ValueError(
                f"signing secret entry {name!r}: want name:secret with a secret of at least "
                f"{MIN_SECRET_LENGTH} characters"
            )
        out[name] = secret
    return out


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once."""
    return Settings()


# sysexits.h EX_CONFIG: the process was started with a configuration it cannot run with; restarting it as it
# is will not help (a supervisor can be told not to: systemd's RestartPreventExitStatus=78).
EXIT_MISCONFIGURED = 78


def _variable_of(loc: tuple[int | str, ...]) -> str:
    """The environment variable a validation error's location stands for (the one set, for a field that
    takes several names)."""
    name = str(loc[0]) if loc else "?"
    field = Settings.model_fields.get(name)
    if field is None:  # already an alias: the name pydantic read it under (PORT, DATABASE_URL, …)
        return name.upper()
    alias = field.validation_alias
    if isinstance(alias, AliasChoices):
        choices = [c for c in alias.choices if isinstance(c, str)]
        present = {key.upper() for key in os.environ}
        return next((c for c in choices if c.upper() in present), choices[0]).upper()
    return f"JIESU_{name.upper()}"


def describe_invalid(exc: ValidationError) -> str:
    """One line naming every invalid setting and what is wrong with it (never its value: it may be a key)."""
    problems = []
    for error in exc.errors(include_input=False, include_url=False):
        msg = str(error["msg"]).removeprefix("Value error, ")
        problems.append(f"{_variable_of(tuple(error['loc']))}: {msg}")
    return "invalid setting " + "; ".join(problems)


def settings_or_exit(program: str) -> Settings:
    """The process-wide settings; on an invalid one, print one line naming it on stderr and exit 78."""
    try:
        return get_settings()
    except ValidationError as exc:
        print(f"{program}: {describe_invalid(exc)}", file=sys.stderr, flush=True)
        sys.exit(EXIT_MISCONFIGURED)


def _env_names(name: str, field: FieldInfo) -> str:
    alias = field.validation_alias
    if isinstance(alias, AliasChoices):
        return " / ".join(f"`{choice}`" for choice in alias.choices if isinstance(choice, str))
    return f"`JIESU_{name.upper()}`"


def settings_table() -> str:
    """The configuration table of README.md, generated from the Settings fields."""
    lines = ["| variable | default | meaning |", "|---|---|---|"]
    for name, field in Settings.model_fields.items():
        default = field.default if field.default not in ("", None) else "(empty)"
        lines.append(f"| {_env_names(name, field)} | `{default}` | {field.description or ''} |")
    return "\n".join(lines)


if __name__ == "__main__":
    print(settings_table())
