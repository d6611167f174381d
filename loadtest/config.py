"""The command line and the run's configuration, with defaults from the environment and .data/services.env."""

from __future__ import annotations

import argparse
import os
import uuid
from dataclasses import dataclass
from pathlib import Path

from ingest.settings import Settings
from loadtest.plan import CHANNELS, DEFAULT_MIX, PROFILES, PlanSpec
from loadtest.texts import URGENCY_CORPUS_DIR

REPO_ROOT = Path(__file__).resolve().parent.parent
SERVICES_ENV = REPO_ROOT / ".data" / "services.env"
DEFAULT_TARGET = "http://127.0.0.1:8000"
DEFAULT_GROUP = str(Settings.model_fields["consumer_group"].default)


@dataclass(frozen=True)
class RunConfig:
    """Everything a run needs."""

    spec: PlanSpec
    target: str = DEFAULT_TARGET
    run_id: str = "lt"
    report: Path = Path("loadtest-report.json")
    concurrency: int = 256
    max_backlog: int = 20_000
    duration_s: float | None = None  # None: the plan's span plus the retry delays
    max_requests: int | None = None
    timeout_s: float = 10.0
    kafka: str | None = None
    topic_prefix: str = ""
    database_url: str | None = None
    drain_timeout_s: float = 120.0
    stall_s: float = 20.0
    ready_timeout_s: float = 30.0
    corpus: Path | None = None
    urgent_corpus: Path = URGENCY_CORPUS_DIR
    incident: str | None = None
    progress: bool = True
    html: bool = True
    api_keys: str = ""
    signing_secrets: str = ""
    brief: bool = False
    downstream_key: str = ""
    brief_timeout_s: float = 120.0
    max_error_share: float = 0.01
    consumer_group: str = DEFAULT_GROUP
    worker_metrics: tuple[str, ...] = ()
    watch_server: bool = True


def service_address(name: str, env_file: Path = SERVICES_ENV) -> str | None:
    """`name` from the environment, else from the services file `scripts/services.sh` writes."""
    if os.environ.get(name):
        return os.environ[name]
    if env_file.exists():
        for line in env_file.read_text().splitlines():
            key, _, value = line.partition("=")
            if key.strip() == name and value.strip():
                return value.strip()
    return None


def default_target(env_file: Path = SERVICES_ENV) -> str:
    """The gateway to load: $JIESU_GATEWAY_URL (or the line `make run` / `make up` write into the services
    file), else the address the gateway itself would listen on ($HOST / $PORT, as app/ reads them)."""
    if url := service_address("JIESU_GATEWAY_URL", env_file):
        return url
    host = os.environ.get("HOST") or os.environ.get("JIESU_HOST") or "127.0.0.1"
    port = os.environ.get("PORT") or os.environ.get("JIESU_PORT") or "8000"
    if host in ("0.0.0.0", "::", ""):  # listening everywhere: this machine is reached on loopback
        host = "127.0.0.1"
    return f"http://{host}:{port}"


def parse_mix(text: str) -> tuple[float, ...]:
    """`wechat=55,phone=30,web=15` (any order, any positive scale) → weights in CHANNELS order."""
    weights = dict.fromkeys(CHANNELS, 0.0)
    for part in text.split(","):
        name, sep, value = part.partition("=")
        name = name.strip()
        if not sep or name not in weights:
            raise argparse.ArgumentTypeError(f"bad channel mix {part!r}: use e.g. wechat=55,phone=30,web=15")
        try:
            weights[name] = float(value)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(f"bad weight {value!r} for {name}") from exc
    if min(weights.values()) < 0 or sum(weights.values()) <= 0:
        raise argparse.ArgumentTypeError("channel weights must be >= 0 and not all 0")
    return tuple(weights[c] for c in CHANNELS)


def parse_clock(text: str) -> float:
    """`HH:MM` → seconds since midnight."""
    hours, _, minutes = text.partition(":")
    try:
        value = int(hours) * 3600 + int(minutes or 0) * 60
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"bad time {text!r}: use HH:MM") from exc
    if not 0 <= value < 24 * 3600:
        raise argparse.ArgumentTypeError(f"time {text!r} is not within the day")
    return float(value)


def parse_window(text: str) -> tuple[float, float]:
    """`HH:MM-HH:MM` → (start, end) seconds since midnight; `24:00` may end it."""
    first, sep, second = text.partition("-")
    if not sep:
        raise argparse.ArgumentTypeError(f"bad window {text!r}: use HH:MM-HH:MM")
    end = 24 * 3600.0 if second.strip() in ("24:00", "24") else parse_clock(second)
    start = parse_clock(first)
    if end <= start:
        raise argparse.ArgumentTypeError(f"window {text!r} ends before it starts")
    return start, end


def _share(text: str) -> float:
    value = float(text)
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"{text} is not a share within [0, 1]")
    return value


def _brief_options(c: argparse._ArgumentGroup) -> None:
    """The check of the hourly brief after the run (issue 17; loadtest/brief_check.py)."""
    c.add_argument(
        "--brief",
        action="store_true",
        help="after the drain, check the hourly brief of the burst's hour and list the run's alerts "
        "(needs the reports worker, python -m workers.rollups; loadtest/brief_check.py)",
    )
    c.add_argument(
        "--downstream-key",
        default=os.environ.get("JIESU_LOADTEST_DOWNSTREAM_KEY", ""),
        help="a downstream key of the report routes; env JIESU_LOADTEST_DOWNSTREAM_KEY",
    )
    c.add_argument(
        "--brief-timeout", type=float, default=120.0, help="longest wait for the rollups to count the run, s"
    )


def build_parser() -> argparse.ArgumentParser:
    """The `python -m loadtest` argument parser."""
    p = argparse.ArgumentParser(
        prog="python -m loadtest",
        description="Surge-day simulator: open-loop load on the gateway, HDR latency corrected for "
        "coordinated omission, end-to-end latency, and reconciliation of every accepted ticket.",
    )
    g = p.add_argument_group("profile")
    g.add_argument("--profile", choices=PROFILES, default="constant", help="default: constant")
    g.add_argument("--scale", type=float, default=1.0, help="multiply the profile's message counts")
    g.add_argument("--messages", type=int, help="number of messages (overrides the profile's total × scale)")
    speed = g.add_mutually_exclusive_group()
    speed.add_argument("--replay-minutes", type=float, help="replay the profile's 24 h in this many minutes")
    speed.add_argument("--compress", type=float, help="time compression factor (profile s per wall s)")
    g.add_argument("--rate", type=float, default=50.0, help="constant profile: messages/s (default 50)")
    g.add_argument(
        "--mix", type=parse_mix, default=DEFAULT_MIX, help="channel mix, wechat=55,phone=30,web=15"
    )
    g.add_argument("--retry-share", type=_share, default=0.03, help="messages re-sent by the client (0.03)")
    g.add_argument("--resubmit-share", type=_share, default=0.02, help="complaints sent again (0.02)")
    g.add_argument("--invalid-share", type=_share, default=0.01, help="invalid submissions (0.01)")
    g.add_argument(
        "--urgent-share",
        type=_share,
        default=0.005,
        help="labelled urgent messages from the urgency corpus, and as many of its hard negatives (0.005)",
    )
    g.add_argument(
        "--urgent-corpus",
        type=Path,
        default=URGENCY_CORPUS_DIR,
        help="directory of the labelled urgency corpus, every *.jsonl in it (corpus/urgency)",
    )
    g.add_argument("--burst-messages", type=int, help="surge-day burst size (default 12,000 × scale)")
    g.add_argument("--burst-at", type=parse_clock, default=19.5 * 3600, help="burst start HH:MM (19:30)")
    g.add_argument(
        "--window",
        type=parse_window,
        default=(0.0, 24 * 3600.0),
        help="day profiles: replay only HH:MM-HH:MM of the day (e.g. 19:00-21:00 around the burst)",
    )
    g.add_argument("--incident", choices=("heating", "water"), help="what the burst reports (by seed)")
    g.add_argument("--corpus", type=Path, help="CSV with 留言主题/留言详情 columns for everyday texts")
    g.add_argument("--seed", type=int, default=12345)
    b = p.add_argument_group("target and bounds")
    b.add_argument(
        "--target",
        default=None,
        help="gateway base URL (default: $JIESU_GATEWAY_URL or .data/services.env's, else $HOST:$PORT, "
        f"else {DEFAULT_TARGET})",
    )
    b.add_argument("--allow-remote", action="store_true", help="allow a target that is not this machine")
    b.add_argument("--duration", type=float, help="stop releasing requests after this many seconds")
    b.add_argument("--max-requests", type=int, help="send at most this many requests")
    b.add_argument("--concurrency", type=int, default=256, help="most requests in flight (256)")
    b.add_argument(
        "--loop",
        choices=("auto", "uvloop", "asyncio"),
        default="auto",
        help="the load generator's event loop (auto: uvloop where installed); it shares the CPU it measures",
    )
    b.add_argument("--max-backlog", type=int, default=20_000, help="most requests waiting (20,000)")
    b.add_argument("--timeout", type=float, default=10.0, help="per-request timeout, s (10)")
    b.add_argument("--ready-timeout", type=float, default=30.0, help="wait for /readyz this long (30)")
    b.add_argument(
        "--api-keys",
        default=os.environ.get("JIESU_LOADTEST_API_KEYS", ""),
        help="adapter keys as the gateway's JIESU_API_KEYS (name:channel:key,…); env JIESU_LOADTEST_API_KEYS",
    )
    b.add_argument(
        "--signing-secrets",
        default=os.environ.get("JIESU_LOADTEST_SIGNING_SECRETS", ""),
        help="name:secret,… for adapters that must sign; env JIESU_LOADTEST_SIGNING_SECRETS",
    )
    c = p.add_argument_group("pipeline checks")
    c.add_argument("--kafka", help="bootstrap servers for e2e latency (env / .data/services.env)")
    c.add_argument("--no-kafka", action="store_true", help="poll GET /v1/complaints/{id} instead")
    c.add_argument("--topic-prefix", default=os.environ.get("JIESU_TOPIC_PREFIX", ""))
    c.add_argument("--database-url", help="Postgres to reconcile against (env / .data/services.env)")
    c.add_argument("--no-db", action="store_true", help="skip reconciliation against Postgres")
    c.add_argument("--drain-timeout", type=float, default=120.0, help="longest wait for the drain, s (120)")
    c.add_argument("--stall", type=float, default=20.0, help="stop waiting after no progress for, s (20)")
    c.add_argument(
        "--max-error-share",
        type=_share,
        default=0.01,
        help="largest share of sent requests allowed to end in 5xx, timeout or connection error (0.01)",
    )
    _brief_options(c)
    _server_options(p.add_argument_group("the server side (the workers' lag and CPU over the run)"))
    o = p.add_argument_group("output")
    o.add_argument("--report", type=Path, help="JSON report path (HTML beside it)")
    o.add_argument("--run-id", help="prefix of every external_id (default: random)")
    o.add_argument("--no-progress", action="store_true", help="no live progress line")
    o.add_argument("--no-html", action="store_true", help="write only the JSON report")
    return p


def _server_options(g: argparse._ArgumentGroup) -> None:
    g.add_argument(
        "--consumer-group",
        default=os.environ.get("JIESU_CONSUMER_GROUP") or DEFAULT_GROUP,
        help=f"the workers' consumer group, for their lag (env JIESU_CONSUMER_GROUP, else {DEFAULT_GROUP})",
    )
    g.add_argument(
        "--worker-metrics",
        help="the workers' metrics URLs, comma-separated, for their CPU over the run (default: "
        "JIESU_WORKER_METRICS_URLS from the environment or .data/services.env, which make up writes)",
    )
    g.add_argument(
        "--no-server-watch", action="store_true", help="do not sample the workers' lag and CPU during the run"
    )


def config_from_args(args: argparse.Namespace) -> RunConfig:
    """A RunConfig from parsed arguments."""
    compression = 1.0
    if args.replay_minutes:
        compression = 24 * 60 / args.replay_minutes
    elif args.compress:
        compression = args.compress
    duration_for_constant = args.duration if args.duration is not None else 60.0
    spec = PlanSpec(
        profile=args.profile,
        messages=args.messages,
        scale=args.scale,
        compression=compression if args.profile != "constant" else 1.0,
        rate=args.rate,
        constant_duration_s=duration_for_constant,
        channel_mix=tuple(args.mix),
        retry_share=args.retry_share,
        resubmit_share=args.resubmit_share,
        invalid_share=args.invalid_share,
        urgent_share=args.urgent_share,
        burst_messages=args.burst_messages,
        burst_at_s=args.burst_at,
        window=args.window,
        seed=args.seed,
    )
    run_id = args.run_id or f"lt{uuid.uuid4().hex[:8]}"
    report = args.report or REPO_ROOT / ".data" / "loadtest" / f"{args.profile}-{run_id}.json"
    return RunConfig(
        spec=spec,
        target=args.target or default_target(),
        run_id=run_id,
        report=report,
        concurrency=args.concurrency,
        max_backlog=args.max_backlog,
        duration_s=args.duration,
        max_requests=args.max_requests,
        timeout_s=args.timeout,
        kafka=None if args.no_kafka else (args.kafka or service_address("KAFKA_BOOTSTRAP_SERVERS")),
        topic_prefix=args.topic_prefix,
        database_url=None if args.no_db else (args.database_url or service_address("DATABASE_URL")),
        drain_timeout_s=args.drain_timeout,
        stall_s=args.stall,
        ready_timeout_s=args.ready_timeout,
        corpus=args.corpus,
        urgent_corpus=args.urgent_corpus,
        incident=args.incident,
        progress=not args.no_progress,
        html=not args.no_html,
        api_keys=args.api_keys,
        signing_secrets=args.signing_secrets,
        brief=args.brief,
        downstream_key=args.downstream_key,
        brief_timeout_s=args.brief_timeout,
        max_error_share=args.max_error_share,
        consumer_group=args.consumer_group,
        worker_metrics=tuple(
            url.strip()
            for url in (args.worker_metrics or service_address("JIESU_WORKER_METRICS_URLS") or "").split(",")
            if url.strip()
        ),
        watch_server=not args.no_server_watch,
    )
