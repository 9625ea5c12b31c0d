"""DynamoDB persistence for trust: review writes joined with the plugin's rating counters,
helpful votes, tier changes, and the usage reads that decide who may review and who qualifies.

Every review change and the plugin's ``rating_sum``/``rating_count`` move in ONE
transaction, conditioned on the review as read (absent, or at the ``version`` read), so the
counters always equal the sum and count of the stored reviews, whatever races:

    A reads review v1 (4 stars)   B reads review v1 (4 stars)
    A writes v2 (5), sum += 1     B writes v2 (2), sum -= 2   <- condition version == 1 fails
                                  B reads v2 (5), writes v3 (2), sum -= 3
"""
from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime
from typing import Any

from pynamodb.exceptions import TransactWriteError
from pynamodb.transactions import TransactWrite

from chalicelib.catalog.records import PluginRecord
from chalicelib.catalog.repository import now_ms
from chalicelib.core.dynamo import failed_conditions, find, run_transaction
from chalicelib.core.errors import ConflictError, NotFoundError
from chalicelib.metering.records import LATENCY_BUCKETS_MS, UsageHourRecord, UserMonthRecord
from chalicelib.metering.repository import plugin_days
from chalicelib.trust.records import (REVIEW_PREFIX, CertificationRecord, HelpfulVoteRecord, ReviewRecord,
                                      TrustTable)

MODES = ("live", "sandbox")
_BUCKETS = tuple(f"lat{i}" for i in range(len(LATENCY_BUCKETS_MS)))


class ReviewRaced(ConflictError):
    """The review changed between read and write: read it again and redo (the service retries)."""

    code = "review_conflict"


class PluginNotListed(NotFoundError):
    code = "plugin_not_found"


class TierRaced(ConflictError):
    code = "certification_conflict"


def _raise_for(exc: TransactWriteError, plugin: str) -> None:
    failed = failed_conditions(exc)
    if failed[:1] == [True]:
        raise ReviewRaced("the review changed meanwhile; retry") from exc
    if failed[1:2] == [True]:
        raise PluginNotListed(f"plugin '{plugin}' is not listed in the marketplace") from exc
    raise exc


def _rating_update(tx: TransactWrite, plugin: str, sum_delta: int, count_delta: int, *, listed: bool) -> None:
    actions: list[Any] = [PluginRecord.rating_sum.add(sum_delta), PluginRecord.listing_ts.set(now_ms())]
    if count_delta:
        actions.append(PluginRecord.rating_count.add(count_delta))
    # New and edited ratings only for listed plugins; a review can always be taken back.
    condition = PluginRecord.status == "active" if listed else PluginRecord.pk.exists()
    tx.update(PluginRecord(*PluginRecord.key(plugin)), actions=actions, condition=condition)


class ReviewRepository:
    # --- reads -------------------------------------------------------------------------
    @staticmethod
    def get(plugin: str, review_id: str) -> ReviewRecord | None:
        return find(ReviewRecord, ReviewRecord.key(plugin, review_id))

    @staticmethod
    def list(plugin: str) -> list[ReviewRecord]:
        pk, _ = ReviewRecord.key(plugin, "")
        rows = ReviewRecord.query(pk, ReviewRecord.sk.startswith(REVIEW_PREFIX))
        return [row for row in rows if isinstance(row, ReviewRecord)]

    # --- review writes (each with the plugin's counters) ---------------------------------
    @staticmethod
    def create(review: ReviewRecord) -> None:
        def build(tx: TransactWrite) -> None:
            tx.save(review, condition=ReviewRecord.pk.does_not_exist())
            _rating_update(tx, review.plugin, int(review.stars), 1, listed=True)

        try:
            run_transaction(TrustTable, build)
        except TransactWriteError as exc:
            _raise_for(exc, review.plugin)

    @staticmethod
    def update(old: ReviewRecord, *, stars: int, comment: str, author_label: str, now: datetime) -> None:
        delta = stars - int(old.stars)

        def build(tx: TransactWrite) -> None:
            tx.update(ReviewRecord(old.pk, old.sk),
                      actions=[ReviewRecord.stars.set(stars), ReviewRecord.comment.set(comment),
                               ReviewRecord.author_label.set(author_label), ReviewRecord.updated_at.set(now),
                               ReviewRecord.version.set(int(old.version) + 1)],
                      condition=ReviewRecord.version == int(old.version))
            _rating_update(tx, old.plugin, delta, 0, listed=True)

        try:
            run_transaction(TrustTable, build)
        except TransactWriteError as exc:
            _raise_for(exc, old.plugin)

    @staticmethod
    def delete(old: ReviewRecord) -> None:
        def build(tx: TransactWrite) -> None:
            tx.delete(ReviewRecord(old.pk, old.sk), condition=ReviewRecord.version == int(old.version))
            _rating_update(tx, old.plugin, -int(old.stars), -1, listed=False)

        try:
            run_transaction(TrustTable, build)
        except TransactWriteError as exc:
            _raise_for(exc, old.plugin)

    @staticmethod
    def forget_votes(review: ReviewRecord) -> None:
        """Best effort after a delete: the votes of that edition count for nothing any more."""
        pk, prefix = HelpfulVoteRecord.key(review.plugin, review.review_id, review.edition, "")
        with HelpfulVoteRecord.batch_write() as batch:
            for vote in HelpfulVoteRecord.query(pk, HelpfulVoteRecord.sk.startswith(prefix)):
                batch.delete(vote)

    # --- votes and replies -------------------------------------------------------------
    @staticmethod
    def vote(review: ReviewRecord, voter_id: str, now: datetime) -> bool:
        """Count one helpful vote; False when this voter already voted on this review."""
        vote = HelpfulVoteRecord(*HelpfulVoteRecord.key(review.plugin, review.review_id, review.edition, voter_id),
                                 voted_at=now)

        def build(tx: TransactWrite) -> None:
            tx.save(vote, condition=HelpfulVoteRecord.pk.does_not_exist())
            tx.update(ReviewRecord(review.pk, review.sk), actions=[ReviewRecord.helpful.add(1)],
                      condition=ReviewRecord.edition == review.edition)

        try:
            run_transaction(TrustTable, build)
        except TransactWriteError as exc:
            failed = failed_conditions(exc)
            if failed[:1] == [True]:
                return False
            if failed[1:2] == [True]:
                raise NotFoundError("this review was deleted meanwhile", code="review_not_found") from exc
            raise
        return True

    @staticmethod
    def reply(review: ReviewRecord, text: str, now: datetime) -> None:
        ReviewRecord(review.pk, review.sk).update(
            actions=[ReviewRecord.reply_text.set(text), ReviewRecord.reply_updated_at.set(now),
                     ReviewRecord.reply_at.set(ReviewRecord.reply_at | now)],
            condition=ReviewRecord.edition == review.edition)


# --- usage reads -----------------------------------------------------------------------
def successful_calls_up_to(plugin: str, user_id: str, threshold: int) -> int:
    """The user's successful calls to the plugin, live and sandbox, counted only until
    ``threshold``: newest hours first, so a regular user is settled by the first page.

    Successful = answered below 500 (``calls - errors``): exactly the billable calls in live
    mode, and the calls that would be billable in sandbox mode, where nothing is billed.
    """
    seen = 0
    for mode in MODES:
        pk, _ = UsageHourRecord.key(plugin, user_id, mode, "")
        for rec in UsageHourRecord.query(pk, UsageHourRecord.sk.startswith("H#"), consistent_read=True,
                                         scan_index_forward=False, page_size=100):
            seen += int(rec.calls or 0) - int(rec.errors or 0)
            if seen >= threshold:
                return seen
    return seen


def active_users(plugin: str, days: Iterable[date]) -> int:
    """Distinct users with live calls on any of ``days`` (from the aggregated live months)."""
    by_month: dict[str, set[int]] = {}
    for day in days:
        by_month.setdefault(day.strftime("%Y-%m"), set()).add(day.day)
    users: set[str] = set()
    for month, wanted in sorted(by_month.items()):
        for rec in UserMonthRecord.by_month.query(month, UserMonthRecord.pk.startswith(f"{plugin}#")):
            if isinstance(rec, UserMonthRecord) and rec.plugin == plugin and wanted & {int(d) for d in rec.days or ()}:
                users.add(rec.user_id)
    return len(users)


def daily_totals(plugin: str, first: date, last: date) -> tuple[int, int, tuple[int, ...]]:
    """Calls, errors and the latency histogram of the plugin over [first, last] (UTC days)."""
    calls = errors = 0
    buckets = [0] * len(_BUCKETS)
    for rec in plugin_days(plugin, first.isoformat(), last.isoformat()):
        calls += int(rec.calls or 0)
        errors += int(rec.errors or 0)
        for index, name in enumerate(_BUCKETS):
            buckets[index] += int(getattr(rec, name) or 0)
    return calls, errors, tuple(buckets)


# --- tier changes ------------------------------------------------------------------------
def change_tier(plugin: str, *, expected: str, event: CertificationRecord, now: datetime) -> None:
    """The plugin's tier and share, conditioned on the tier read, with its history entry."""
    condition = PluginRecord.verified == expected
    if expected == "listed":  # the attribute's default: older items may not carry it
        condition = condition | PluginRecord.verified.does_not_exist()

    def build(tx: TransactWrite) -> None:
        tx.update(PluginRecord(*PluginRecord.key(plugin)),
                  actions=[PluginRecord.verified.set(event.to_tier),
                           PluginRecord.revenue_share_bps.set(int(event.share_bps)),
                           PluginRecord.updated_at.set(now), PluginRecord.listing_ts.set(now_ms())],
                  condition=condition & PluginRecord.pk.exists())
        tx.save(event, condition=CertificationRecord.pk.does_not_exist())

    try:
        run_transaction(TrustTable, build)
    except TransactWriteError as exc:
        if failed_conditions(exc)[:1] == [True]:
            raise TierRaced(f"the tier of '{plugin}' changed meanwhile; read it again",
                            code="certification_conflict") from exc
        raise


def tier_history(plugin: str, limit: int = 20) -> list[CertificationRecord]:
    rows = CertificationRecord.query(CertificationRecord.partition(plugin), CertificationRecord.sk.startswith("C#"),
                                     scan_index_forward=False,
                                     limit=limit)
    return [row for row in rows if isinstance(row, CertificationRecord)]
