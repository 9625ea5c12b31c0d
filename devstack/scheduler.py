"""EventBridge for the dev stack: fires the Chalice app's ``@app.schedule`` functions on time.

The schedules come from the app itself (``app.event_sources``: each ``ScheduledEventConfig``
has a ``name``, a ``handler_string`` such as ``app.payouts`` and a ``schedule_expression``,
a :class:`chalice.Cron`, :class:`chalice.Rate` or an expression string), so a new
``@app.schedule`` runs locally without touching this module. The handler is called as
Lambda calls it: ``handler(scheduled_event, context)``, with the dict EventBridge sends.

Times are UTC, like EventBridge. Cron fields understood: ``*``, ``?``, numbers, lists
(``1,15``), ranges (``1-5``), steps (``*/10``, ``0-30/5``), month (``JAN``) and weekday
(``MON``, 1 = Sunday as in AWS) names; ``L``, ``W`` and ``#`` are not (such a schedule is
logged and skipped). A rate runs every interval from the start of the stack.

A run is one line on the console; a job that raises is logged (traceback in
``<state-dir>/logs/scheduler.log``) and runs again at its next time. A job still running
at its next time is skipped for that time (never two runs of one job at once).
"""
from __future__ import annotations

import importlib
import json
import re
import threading
import time
import traceback
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from chalice import Cron, Rate

from devstack.apigw import LambdaContext

MAX_WAIT_S = 30.0  # re-read the clock at least this often (suspend, clock changes)
SUMMARY_CHARS = 200
_MONTHS = {name: i for i, name in enumerate(
    ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"), start=1)}
_WEEKDAYS = {name: i for i, name in enumerate(("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"), start=1)}
_RATE = re.compile(r"^rate\((\d+) (minute|minutes|hour|hours|day|days)\)$")
_CRON = re.compile(r"^cron\((.+)\)$")


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def expression_of(schedule: Any) -> str:
    """``cron(5 * * * ? *)`` / ``rate(1 minute)`` for a Cron, a Rate or a string."""
    if isinstance(schedule, (Cron, Rate)):
        return schedule.to_string()
    return str(schedule).strip()


# --- cron ---------------------------------------------------------------------------------
def _field(text: str, low: int, high: int, names: dict[str, int] | None = None) -> frozenset[int] | None:
    """The values a field allows, or None for any (``*``/``?``)."""
    if text in ("*", "?"):
        return None
    values: set[int] = set()

    def number(token: str) -> int:
        token = token.upper()
        if names and token in names:
            return names[token]
        if not token.isdigit():
            raise ValueError(f"unsupported cron token {token!r}")
        value = int(token)
        if not low <= value <= high:
            raise ValueError(f"{value} is outside {low}-{high}")
        return value

    for part in text.split(","):
        spec, _, step_text = part.partition("/")
        step = int(step_text) if step_text else 1
        if step < 1:
            raise ValueError(f"bad step in {part!r}")
        if spec == "*":
            first, last = low, high
        elif "-" in spec:
            a, b = spec.split("-", 1)
            first, last = number(a), number(b)
        else:
            first = number(spec)
            last = high if step_text else first
        values.update(range(first, last + 1, step))
    return frozenset(values)


@dataclass(frozen=True)
class CronSchedule:
    """``cron(minutes hours day-of-month month day-of-week year)``, evaluated in UTC."""

    minutes: frozenset[int] | None
    hours: frozenset[int] | None
    days: frozenset[int] | None
    months: frozenset[int] | None
    weekdays: frozenset[int] | None  # 1 = Sunday ... 7 = Saturday (AWS)
    years: frozenset[int] | None

    @classmethod
    def parse(cls, fields: str) -> CronSchedule:
        parts = fields.split()
        if len(parts) != 6:
            raise ValueError(f"a cron expression has 6 fields, not {len(parts)}: {fields!r}")
        return cls(_field(parts[0], 0, 59), _field(parts[1], 0, 23), _field(parts[2], 1, 31),
                   _field(parts[3], 1, 12, _MONTHS), _field(parts[4], 1, 7, _WEEKDAYS), _field(parts[5], 1970, 2199))

    def _day_ok(self, t: datetime) -> bool:
        weekday = (t.isoweekday() % 7) + 1  # Monday=1..Sunday=7 -> Sunday=1..Saturday=7
        if self.days is None and self.weekdays is None:
            return True
        if self.days is None:
            return weekday in self.weekdays  # type: ignore[operator]
        if self.weekdays is None:
            return t.day in self.days
        return t.day in self.days or weekday in self.weekdays  # both given: either (classic cron)

    def next_after(self, after: datetime) -> datetime | None:
        """The first matching minute strictly after ``after`` (None within 10 years: never)."""
        t = after.astimezone(timezone.utc).replace(second=0, microsecond=0) + timedelta(minutes=1)
        limit = t + timedelta(days=3660)
        while t < limit:
            if self.years is not None and t.year not in self.years:
                t = t.replace(year=t.year + 1, month=1, day=1, hour=0, minute=0)
            elif self.months is not None and t.month not in self.months:
                t = (t.replace(day=1, hour=0, minute=0) + timedelta(days=32)).replace(day=1)
            elif not self._day_ok(t):
                t = t.replace(hour=0, minute=0) + timedelta(days=1)
            elif self.hours is not None and t.hour not in self.hours:
                t = t.replace(minute=0) + timedelta(hours=1)
            elif self.minutes is not None and t.minute not in self.minutes:
                t += timedelta(minutes=1)
            else:
                return t
        return None


@dataclass(frozen=True)
class RateSchedule:
    interval: timedelta

    @classmethod
    def parse(cls, value: str, unit: str) -> RateSchedule:
        amount = int(value)
        if amount < 1:
            raise ValueError("a rate needs a positive value")
        return cls(timedelta(**{unit.rstrip("s") + "s": amount}))

    def next_after(self, after: datetime) -> datetime:
        return after + self.interval


def parse_schedule(expression: str) -> CronSchedule | RateSchedule:
    rate = _RATE.match(expression)
    if rate:
        return RateSchedule.parse(rate.group(1), rate.group(2))
    cron = _CRON.match(expression)
    if cron:
        return CronSchedule.parse(cron.group(1))
    raise ValueError(f"not a schedule expression: {expression!r}")


# --- jobs ---------------------------------------------------------------------------------
@dataclass
class Job:
    name: str
    expression: str
    schedule: CronSchedule | RateSchedule
    handler: Callable[[dict[str, Any], Any], Any]
    next_run: datetime | None = None
    runs: int = 0
    failures: int = 0
    last: str = ""
    thread: threading.Thread | None = field(default=None, repr=False)

    def view(self) -> dict[str, Any]:
        return {"name": self.name, "schedule": self.expression,
                "next_run": self.next_run.isoformat(timespec="seconds") if self.next_run else None}


def _handler(app: Any, source: Any) -> Callable[[dict[str, Any], Any], Any]:
    """The Lambda handler of a schedule: the wrapped function Chalice keeps in ``handler_map``
    (middleware included), else the ``handler_string`` (``app.payouts``) imported."""
    handler = getattr(app, "handler_map", {}).get(source.name)
    if handler is not None:
        return handler  # type: ignore[no-any-return]
    module_name, _, attr = source.handler_string.rpartition(".")
    return getattr(importlib.import_module(module_name or "app"), attr)  # type: ignore[no-any-return]


def scheduled_jobs(app: Any, log: Callable[[str], None]) -> list[Job]:
    """One Job per ``@app.schedule`` of ``app`` (unparseable ones are logged and left out)."""
    jobs = []
    for source in getattr(app, "event_sources", []):
        if not hasattr(source, "schedule_expression"):
            continue  # S3, SQS, SNS... event sources: nothing to fire on a clock
        expression = expression_of(source.schedule_expression)
        try:
            schedule = parse_schedule(expression)
        except ValueError as exc:
            log(f"{source.name}: {expression} is not supported locally ({exc}); not scheduled")
            continue
        jobs.append(Job(source.name, expression, schedule, _handler(app, source)))
    return jobs


def scheduled_event(job: Job, at: datetime, app_name: str, region: str = "us-east-1") -> dict[str, Any]:
    """The event EventBridge sends a scheduled Lambda."""
    return {"version": "0", "id": str(uuid.uuid4()), "detail-type": "Scheduled Event", "source": "aws.events",
            "account": "123456789012", "time": at.strftime("%Y-%m-%dT%H:%M:%SZ"), "region": region,
            "resources": [f"arn:aws:events:{region}:123456789012:rule/{app_name}-dev-{job.name}"], "detail": {}}


def summarize(result: Any) -> str:
    text = json.dumps(result, default=str, separators=(",", ":"), sort_keys=True)
    return text if len(text) <= SUMMARY_CHARS else text[:SUMMARY_CHARS - 3] + "..."


class Scheduler:
    """``Scheduler(jobs).start()`` ... ``stop()``. ``clock`` returns an aware UTC datetime."""

    def __init__(self, jobs: list[Job], *, app_name: str = "mockfactory-marketplace",
                 log: Callable[[str], None] = print, error_log: Path | None = None,
                 clock: Callable[[], datetime] = utcnow, max_wait_s: float = MAX_WAIT_S) -> None:
        self.jobs = jobs
        self.max_wait_s = max_wait_s
        self.app_name = app_name
        self.log = log
        self.error_log = error_log
        self.clock = clock
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def start(self) -> Scheduler:
        now = self.clock()
        for job in self.jobs:
            job.next_run = job.schedule.next_after(now)
        self._thread = threading.Thread(target=self._loop, name="devstack-scheduler", daemon=True)
        self._thread.start()
        return self

    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        deadline = time.monotonic() + timeout
        for job in self.jobs:  # let a running job finish before the services it uses go away
            if job.thread is not None and job.thread.is_alive():
                self.log(f"waiting for {job.name} to finish")
                job.thread.join(max(0.0, deadline - time.monotonic()))

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                now = self.clock()
                for job in self.jobs:
                    if job.next_run is not None and job.next_run <= now:
                        self.fire(job, job.next_run)
                        job.next_run = job.schedule.next_after(max(now, job.next_run))
                upcoming = [j.next_run for j in self.jobs if j.next_run is not None]
                wait = min([(t - self.clock()).total_seconds() for t in upcoming] + [self.max_wait_s])
            except Exception as exc:  # noqa: BLE001 - the loop must survive anything
                self.log(f"scheduler error: {type(exc).__name__}: {exc}")
                wait = 1.0
            self._stop.wait(max(min(0.05, self.max_wait_s), wait))

    def fire(self, job: Job, at: datetime | None = None) -> threading.Thread | None:
        """Start one run of ``job`` in its own thread (None if it is still running)."""
        at = at or self.clock()
        with self._lock:
            if job.thread is not None and job.thread.is_alive():
                self.log(f"{job.name} skipped at {at:%Y-%m-%d %H:%M}Z: the previous run is still going")
                return None
            job.thread = threading.Thread(target=self._run, args=(job, at), name=f"devstack-job-{job.name}",
                                          daemon=True)
            job.thread.start()
            return job.thread

    def _run(self, job: Job, at: datetime) -> None:
        started = time.monotonic()
        try:
            result = job.handler(scheduled_event(job, at, self.app_name), LambdaContext())
        except BaseException as exc:  # noqa: BLE001 - a job failure is a log line, never the end
            job.runs, job.failures = job.runs + 1, job.failures + 1
            job.last = f"{type(exc).__name__}: {exc}"
            where = f" (traceback in {self.error_log})" if self.error_log else ""
            line = f"{job.name} [{job.expression}] FAILED in {time.monotonic() - started:.2f}s: {job.last}"
            self.log(line[:400] + where)
            self._write_traceback(job, at)
            return
        job.runs += 1
        job.last = summarize(result)
        self.log(f"{job.name} [{job.expression}] ok in {time.monotonic() - started:.2f}s: {job.last}")

    def _write_traceback(self, job: Job, at: datetime) -> None:
        if self.error_log is None:
            return
        try:
            self.error_log.parent.mkdir(parents=True, exist_ok=True)
            with open(self.error_log, "a") as out:
                out.write(f"--- {utcnow().isoformat(timespec='seconds')} {job.name} "
                          f"(scheduled {at.isoformat(timespec='seconds')})\n{traceback.format_exc()}\n")
        except OSError:
            pass
