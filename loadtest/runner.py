"""One run from start to report: plan, preflight, open-loop sending, drain, reconciliation, e2e, reports."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
import time
from datetime import UTC, datetime
from typing import Any

import asyncpg
import numpy as np

from loadtest import brief_check, e2e, progress, reconcile, repeats, urgent
from loadtest.auth import parse_keys
from loadtest.bodies import Messages
from loadtest.client import GatewaySender, is_loopback, wait_ready
from loadtest.config import RunConfig
from loadtest.plan import Plan, build_plan
from loadtest.report import build, e2e_section, write_json
from loadtest.results import Recorder
from loadtest.scheduler import Bounds, LoopState, run_open_loop
from loadtest.server import ServerWatch, WatchTargets
from loadtest.stats import Latency, bucket_width
from loadtest.texts import Corpus, UrgencyCorpus

log = logging.getLogger("loadtest")
EVENTS_TOPIC = "complaints.events"


class PreflightError(RuntimeError):
    """The target is not there or not ready; nothing was sent."""


def _bounds(cfg: RunConfig, plan: Plan) -> Bounds:
    duration = cfg.duration_s if cfg.duration_s is not None else plan.span_s + 1.0
    return Bounds(
        concurrency=cfg.concurrency,
        max_backlog=cfg.max_backlog,
        duration_s=max(duration, 1e-3),
        max_requests=cfg.max_requests if cfg.max_requests is not None else plan.requests,
        request_timeout_s=cfg.timeout_s,
    )


def _cut(plan: Plan, bounds: Bounds) -> int:
    """How many of the plan's requests fall within the bounds."""
    within = int((plan.at <= bounds.duration_s).sum())
    return min(within, bounds.max_requests)


def describe(plan: Plan, bounds: Bounds, cfg: RunConfig) -> str:
    """A few lines saying what is about to happen."""
    gt = plan.ground_truth()
    kinds = ", ".join(f"{k} {v:,}" for k, v in gt["by_kind"].items())  # type: ignore[attr-defined]
    span = min(plan.span_s, bounds.duration_s)
    cut = _cut(plan, bounds)
    labelled = ", ".join(f"{k} {v:,}" for k, v in plan.labelled_counts().items())
    urgent_line = f"  labelled from the urgency corpus: {labelled}\n" if len(plan.labelled_messages()) else ""
    return (
        f"loadtest {cfg.run_id}: profile {plan.spec.profile}, {plan.messages:,} messages, "
        f"{plan.requests:,} requests ({kinds})\n{urgent_line}"
        f"  sending {cut:,} over {span:,.1f} s (compression ×{plan.spec.compression:g}, "
        f"mean {cut / max(span, 1e-9):,.1f}/s) to {cfg.target}, concurrency {bounds.concurrency}, "
        f"timeout {bounds.request_timeout_s:g} s"
    )


async def _watch(cfg: RunConfig, topic: str) -> tuple[e2e.EventsWatch | None, str | None]:
    """A started watch of `topic` under the run's prefix, or why there is none."""
    if not cfg.kafka:
        return None, f"no Kafka address: {topic} not read"
    watch = e2e.EventsWatch(cfg.kafka, f"{cfg.topic_prefix}{topic}")
    try:
        await watch.start()
    except Exception as exc:  # the run goes on without what the topic would have told; the report says why
        return None, f"could not read {watch.topic} on {cfg.kafka} ({type(exc).__name__}: {exc})"
    return watch, None


async def _start_watch(cfg: RunConfig) -> tuple[e2e.EventsWatch | None, str | None]:
    if not cfg.kafka:
        return None, "no Kafka address: e2e latency from polling a sample of tickets"
    watch, problem = await _watch(cfg, EVENTS_TOPIC)
    return watch, None if problem is None else f"{problem}; polled"


async def _start_urgent_watch(plan: Plan, cfg: RunConfig) -> tuple[e2e.EventsWatch | None, str | None]:
    """complaints.urgent is read only when there are labelled messages to time on it."""
    if not len(plan.labelled_messages()):
        return None, None
    return await _watch(cfg, urgent.URGENT_TOPIC)


async def _start_server_watch(cfg: RunConfig) -> ServerWatch | None:
    """The workers' lag and the processes' CPU, sampled from now until the drain ends."""
    if not cfg.watch_server:
        return None
    workers = [(f"worker {_port(url)}", url) for url in cfg.worker_metrics]
    server = ServerWatch(
        WatchTargets(
            kafka=cfg.kafka,
            topic_prefix=cfg.topic_prefix,
            group=cfg.consumer_group,
            metrics=(("gateway", cfg.target.rstrip("/") + "/metrics"), *workers),
            local=is_loopback(cfg.target),
        )
    )
    await server.start()
    return server


def _port(url: str) -> str:
    """`:port` of a URL (or its host when it names none), to name a worker by its metrics address."""
    host = url.split("://", 1)[-1].split("/", 1)[0]
    return host[host.rfind(":") :] if ":" in host else host


async def _drain(
    cfg: RunConfig, accepted: set[str], watch: e2e.EventsWatch | None
) -> tuple[reconcile.Stored | None, str | None]:
    """Wait for the pipeline to store (and publish) every accepted ticket; count what Postgres holds."""
    if cfg.database_url:

        def show(stored: int, of: int) -> None:
            if cfg.progress and sys.stderr.isatty():
                sys.stderr.write(f"\rdraining: {stored:,}/{of:,} stored\x1b[K")

        try:
            stored = await reconcile.drain_and_count(
                cfg.database_url,
                accepted,
                f"{cfg.run_id}-",
                timeout_s=cfg.drain_timeout_s,
                stall_s=cfg.stall_s,
                on_poll=show,
            )
        except (OSError, asyncpg.PostgresError) as exc:
            return None, f"reconciliation skipped: database error {type(exc).__name__}: {exc}"
        finally:
            progress.finish()
        if watch is not None:  # the events follow the rows closely; give them a moment to arrive
            deadline = time.monotonic() + min(10.0, cfg.stall_s)
            while time.monotonic() < deadline:
                if watch.matched(accepted) >= stored.stored:
                    break
                await asyncio.sleep(0.25)
        return stored, None
    if watch is not None:
        deadline, last, last_growth = time.monotonic() + cfg.drain_timeout_s, -1, time.monotonic()
        while time.monotonic() < deadline:
            matched = watch.matched(accepted)
            if matched >= len(accepted) or time.monotonic() - last_growth > cfg.stall_s:
                break
            if matched != last:
                last, last_growth = matched, time.monotonic()
            await asyncio.sleep(0.5)
    return None, "no database URL: reconciliation skipped"


def _reconciliation_section(
    stored: reconcile.Stored | None, accepted: int, why: str | None
) -> dict[str, Any]:
    if stored is None:
        return {
            "accepted": accepted,
            "stored": None,
            "missing": None,
            "duplicate_rows": None,
            "skipped": why,
        }
    return {
        "accepted": stored.accepted,
        "stored": stored.stored,
        "missing": stored.missing,
        "duplicate_rows": stored.duplicate_rows,
        "ticket_keys": stored.keys,
        "drained": stored.drained,
        "drain_s": stored.drain_s,
        "stored_without_202": stored.stored_without_202,
        "missing_sample": stored.missing_sample,
        "columns": stored.columns,
        "skipped": None,
    }


async def run(cfg: RunConfig) -> dict[str, Any]:
    """Run the load test `cfg` describes; return the report (also written to `cfg.report`)."""
    urgency = UrgencyCorpus.load(cfg.urgent_corpus) if cfg.spec.urgent_share > 0 else None
    plan = build_plan(cfg.spec, urgency)
    corpus = Corpus.load(cfg.corpus) if cfg.corpus else None
    messages = Messages(plan, cfg.run_id, corpus, cfg.incident)
    bounds = _bounds(cfg, plan)
    cut = _cut(plan, bounds)
    log.info(describe(plan, bounds, cfg))
    problem = await wait_ready(cfg.target, cfg.ready_timeout_s)
    if problem is not None:
        raise PreflightError(f"{cfg.target} is not ready after {cfg.ready_timeout_s:g} s: {problem}")
    watch, e2e_note = await _start_watch(cfg)
    lane, lane_note = await _start_urgent_watch(plan, cfg)
    server = await _start_server_watch(cfg)
    recorder = Recorder(plan, bucket_width(min(plan.span_s, bounds.duration_s) + cfg.timeout_s))
    state = LoopState()
    started_at = datetime.now(UTC)
    try:
        await _send(cfg, messages, bounds=bounds, recorder=recorder, state=state, cut=cut)
        accepted = recorder.accepted_ids()
        log.info(
            "sent %s requests in %.1f s; %s tickets accepted; draining",
            recorder.sent,
            recorder.last_done,
            len(accepted),
        )
        stored, why = await _drain(cfg, accepted, watch)
        if server is not None:
            await server.stop()
        e2e_part = await _e2e(cfg, watch, accepted, e2e_note)
    finally:  # the watches hold a Kafka connection each, whatever ended the run
        await _stop(watch)
        await _stop(lane)
        if server is not None:
            await server.stop()
    urgent_part = _urgent(
        plan, recorder, _epoch_of(state.started), events=watch, lane=lane, notes=[*plan.notes, lane_note]
    )
    links: dict[str, tuple[str | None, str | None]] | None = None
    source = "none"
    if stored is not None:
        links = {t: (dup, inc) for t, (n, dup, inc) in stored.rows.items() if n > 0}
        source = "postgres"
    elif watch is not None:
        links = {t: (s.duplicate_of, s.incident_id) for t, s in watch.seen.items() if t in accepted}
        source = "events"
    run_info = {
        "run_id": cfg.run_id,
        "profile": plan.spec.profile,
        "target": cfg.target,
        "started_at": started_at.isoformat(),
        "seed": plan.spec.seed,
        "scale": plan.spec.scale,
        "compression": plan.spec.compression,
        "window_start_s": plan.spec.window[0] if plan.spec.profile != "constant" else None,
        "channel_mix": dict(zip(("wechat", "phone", "web"), plan.spec.channel_mix, strict=True)),
        "retry_share": plan.spec.retry_share,
        "resubmit_share": plan.spec.resubmit_share,
        "invalid_share": plan.spec.invalid_share,
        "urgent_share": plan.spec.urgent_share,
        "urgent_corpus": _describe_corpus(cfg, urgency),
        "incident": messages.incident.label if messages.incident else None,
        "corpus": str(cfg.corpus) if cfg.corpus else None,
        "concurrency": bounds.concurrency,
        "max_backlog": bounds.max_backlog,
        "duration_bound_s": bounds.duration_s,
        "max_requests": bounds.max_requests,
        "timeout_s": bounds.request_timeout_s,
        "max_error_share": cfg.max_error_share,
        "authenticated_channels": sorted(parse_keys(cfg.api_keys, cfg.signing_secrets)),
        "kafka": cfg.kafka,
        "topic_prefix": cfg.topic_prefix,
        "database": _redact(cfg.database_url),
        "consumer_group": cfg.consumer_group,
        "worker_metrics": list(cfg.worker_metrics),
        "command": " ".join(sys.argv),
    }
    report = build(
        plan=plan,
        rec=recorder,
        state=state,
        run=run_info,
        e2e=e2e_part,
        reconciliation=_reconciliation_section(stored, len(accepted), why),
        dedupe=repeats.summarise(plan, recorder, links, source),
        cut=cut,
        urgent=urgent_part,
        server=server.section(state.started) if server is not None else None,
    )
    if cfg.brief:
        finished = brief_check.Run(
            plan,
            _epoch_of(state.started),
            time.time(),
            stored=report["reconciliation"]["stored"] or len(accepted),
            burst_incident=report["dedupe"]["burst"]["largest_incident_id"],
        )
        brief_check.attach(
            report,
            await brief_check.section(
                cfg.target, cfg.downstream_key, finished, timeout_s=cfg.brief_timeout_s
            ),
        )
    write_json(report, cfg.report)
    if cfg.html:
        from loadtest.html import write_html

        write_html(report, cfg.report.with_suffix(".html"))
    return report


async def _e2e(
    cfg: RunConfig, watch: e2e.EventsWatch | None, accepted: set[str], note: str | None
) -> dict[str, Any]:
    if watch is not None and watch.matched(accepted):
        return e2e_section(
            watch.latency(accepted), "kafka-events", watch.matched(accepted), len(accepted), watch.error
        )
    if watch is not None:
        note = f"no processed event seen on {watch.topic}" + (f" ({watch.error})" if watch.error else "")
    if not accepted:
        return e2e_section(Latency(), "none", 0, 0, note or "nothing accepted")
    lat, sample = await e2e.poll_sample(
        cfg.target, sorted(accepted), timeout_s=min(60.0, cfg.drain_timeout_s), seed=cfg.spec.seed
    )
    return e2e_section(lat, "poll-sample", lat.count, sample, note)


async def _send(
    cfg: RunConfig, messages: Messages, *, bounds: Bounds, recorder: Recorder, state: LoopState, cut: int
) -> None:
    """Send the plan open-loop, with the live progress line while it lasts."""
    plan = messages.plan
    planned = [float(x) for x in _per_second(plan, cut)]
    shower = (
        asyncio.create_task(progress.show(recorder, state, planned, cut, plan.at[cut - 1] if cut else 0.0))
        if cfg.progress
        else None
    )
    try:
        async with GatewaySender(
            cfg.target,
            messages,
            timeout_s=cfg.timeout_s,
            run_id=cfg.run_id,
            keys=parse_keys(cfg.api_keys, cfg.signing_secrets),
        ) as sender:
            await run_open_loop(plan.at, sender, bounds, recorder, state=state)
    finally:
        if shower is not None:
            shower.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await shower
            progress.finish()


async def _stop(watch: e2e.EventsWatch | None) -> None:
    if watch is not None:
        await watch.stop()


def _epoch_of(started: float) -> float:
    """The wall-clock (epoch) time of the loop's start on the monotonic clock, to compare the run's times
    with Kafka's timestamps; the two clocks run at the same rate for the length of a run."""
    return started + (time.time() - time.perf_counter())


def _urgent(
    plan: Plan,
    rec: Recorder,
    start_epoch: float,
    *,
    events: e2e.EventsWatch | None,
    lane: e2e.EventsWatch | None,
    notes: list[str | None],
) -> dict[str, Any]:
    """The report's `urgent` section from what the two watches saw."""
    if events is None:
        notes.append(f"{EVENTS_TOPIC} not read: the urgency each ticket got is unknown")
    notes += [f"{w.topic}: {w.error}" for w in (events, lane) if w is not None and w.error]
    return urgent.section(
        urgent.observe(plan, rec, start_epoch, events, lane),
        urgent.regular(plan, rec, events) if events is not None else None,
        watched_urgent=lane is not None,
        notes=[n for n in notes if n],
    )


def _describe_corpus(cfg: RunConfig, corpus: UrgencyCorpus | None) -> str | None:
    if corpus is None:
        return None
    return (
        f"{cfg.urgent_corpus}: {len(corpus.urgent):,} urgent, {len(corpus.hard_negatives):,} hard negatives "
        f"from {len(corpus.files)} file(s)"
        + (f", {corpus.skipped:,} lines skipped" if corpus.skipped else "")
    )


def _per_second(plan: Plan, cut: int) -> list[int]:
    """Planned requests in each second of the run (for the progress line's planned rate)."""
    if not cut:
        return []
    counts: list[int] = np.bincount(plan.at[:cut].astype(np.int64)).tolist()
    return counts


def _redact(url: str | None) -> str | None:
    """The database URL without its password."""
    if not url or "@" not in url:
        return url
    scheme, _, rest = url.partition("://")
    creds, _, host = rest.rpartition("@")
    user = creds.split(":", 1)[0]
    return f"{scheme}://{user}@{host}"
