"""Ratings and reviews: only from people who really used the plugin, one per user and plugin.

Rules:
* A user may review a listed (active) plugin after at least :data:`MIN_CALLS_TO_REVIEW`
  successful calls to it (answered below 500: what is billable), live or sandbox (sandbox
  calls are never billed, so their ``billable`` counter stays 0: ``calls - errors`` counts
  them alike), read from the hour counters the gateway writes synchronously on every call,
  so a review is possible right after the third call. The plugin's own developer never
  reviews it.
* One review per (plugin, user): its id is derived from both (:func:`review_id_for`), so a
  second PUT edits it, and the public API shows an author label, never a user id.
* Every create, edit and delete moves the plugin's ``rating_sum``/``rating_count`` in the same
  transaction (see ``repository``); a lost race is re-read and redone, up to
  :data:`WRITE_ATTEMPTS` times, before answering 409 ``review_conflict``.
* Helpful votes: one per user per review, never on your own review. A second vote is not an
  error: it answers 200 with ``already_voted: true`` (safe to retry).
* The plugin's developer may reply to any review of it, and edit the reply.
* The developer hears of new reviews, the reviewer of the first reply.
"""
from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from typing import Any

from pynamodb.exceptions import UpdateError

from chalicelib.auth.principal import Principal
from chalicelib.catalog.model import Plugin
from chalicelib.core.clock import Clock, iso
from chalicelib.core.dynamo import condition_failed
from chalicelib.core.errors import ConflictError, InvalidInputError, NotFoundError, PermissionDeniedError
from chalicelib.core.ids import random_token
from chalicelib.notifications.service import NotificationService
from chalicelib.trust.records import ReviewRecord
from chalicelib.trust.repository import ReviewRaced, ReviewRepository, successful_calls_up_to
from chalicelib.trust.schemas import ReviewQuery, pagination

log = logging.getLogger(__name__)

MIN_CALLS_TO_REVIEW = 3
WRITE_ATTEMPTS = 6
STARS = (1, 2, 3, 4, 5)

_SORTS: dict[str, Callable[[ReviewRecord], tuple]] = {
    "helpful": lambda r: (-int(r.helpful or 0), -r.updated_at.timestamp(), r.review_id),
    "newest": lambda r: (-r.updated_at.timestamp(), r.review_id),
    "rating_high": lambda r: (-int(r.stars), -int(r.helpful or 0), -r.updated_at.timestamp(), r.review_id),
    "rating_low": lambda r: (int(r.stars), -int(r.helpful or 0), -r.updated_at.timestamp(), r.review_id),
}


def review_id_for(plugin: str, user_id: str) -> str:
    """Deterministic, so one user has one review per plugin, and opaque, so it names no user."""
    return "rev_" + hashlib.sha256(f"{plugin}\n{user_id}".encode()).hexdigest()[:20]


def author_label(email: str) -> str:
    """``alice@example.com`` -> ``a***``: recognisable to its author, private to everyone else
    (a fixed mask, so it does not even tell the name's length)."""
    local = email.split("@", 1)[0]
    return f"{local[:1] or '?'}***"


def review_view(review: ReviewRecord) -> dict[str, Any]:
    reply = None
    if review.reply_text is not None:
        reply = {"text": review.reply_text, "created_at": iso(review.reply_at) if review.reply_at else None,
                 "updated_at": iso(review.reply_updated_at) if review.reply_updated_at else None}
    return {"review_id": review.review_id, "plugin": review.plugin, "author": review.author_label,
            "stars": int(review.stars), "comment": review.comment or "", "helpful": int(review.helpful or 0),
            "created_at": iso(review.created_at), "updated_at": iso(review.updated_at),
            "edited": int(review.version) > 1, "reply": reply}


class ReviewService:
    def __init__(self, repository: ReviewRepository, get_plugin: Callable[[str], Plugin],
                 notifications: NotificationService, email_of: Callable[[str], str], clock: Clock, *,
                 on_listing_changed: Callable[[], None] = lambda: None) -> None:
        self._repo = repository
        self._get_plugin = get_plugin
        self._notify = notifications
        self._email_of = email_of
        self._clock = clock
        self._listing_changed = on_listing_changed

    def _listed(self, name: str) -> Plugin:
        plugin = self._get_plugin(name)
        if plugin.status != "active":
            raise NotFoundError(f"no plugin named '{name}' in the marketplace", code="plugin_not_found")
        return plugin

    def _review(self, name: str, review_id: str) -> ReviewRecord:
        review = self._repo.get(name, review_id)
        if review is None:
            raise NotFoundError(f"plugin '{name}' has no review '{review_id}'", code="review_not_found")
        return review

    # --- reading ------------------------------------------------------------------------
    def list(self, name: str, query: ReviewQuery) -> dict[str, Any]:
        plugin = self._listed(name)
        reviews = sorted(self._repo.list(name), key=_SORTS[query.sort])
        distribution = {str(stars): 0 for stars in STARS}
        for review in reviews:
            distribution[str(int(review.stars))] += 1
        start = (query.page - 1) * query.limit
        return {
            "plugin": name,
            "summary": {"average": plugin.rating_avg_x100 / 100, "average_x100": plugin.rating_avg_x100,
                        "count": plugin.rating_count, "distribution": distribution},
            "sort": query.sort,
            "reviews": [review_view(r) for r in reviews[start:start + query.limit]],
            "pagination": pagination(query, len(reviews)),
        }

    # --- writing one's own review ---------------------------------------------------------
    def put(self, principal: Principal, name: str, *, stars: int, comment: str) -> tuple[dict[str, Any], bool]:
        """Create (True) or edit (False) the caller's review."""
        user_id = principal.user_id
        plugin = self._listed(name)
        if plugin.author_id == user_id:
            raise PermissionDeniedError("developers cannot review their own plugin", code="cannot_review_own_plugin")
        calls = successful_calls_up_to(name, user_id, MIN_CALLS_TO_REVIEW)
        if calls < MIN_CALLS_TO_REVIEW:
            raise PermissionDeniedError(
                f"only users of '{name}' may review it: make at least {MIN_CALLS_TO_REVIEW} successful calls "
                f"to it first ({calls} so far)", code="review_requires_usage",
                details={"required_calls": MIN_CALLS_TO_REVIEW, "calls": calls})
        review_id = review_id_for(name, user_id)
        label = author_label(self._email_of(user_id))
        stars, comment = int(stars), comment.strip()
        for _ in range(WRITE_ATTEMPTS):
            old = self._repo.get(name, review_id)
            now = self._clock.now()
            try:
                if old is None:
                    self._repo.create(ReviewRecord(
                        *ReviewRecord.key(name, review_id), plugin=name, review_id=review_id, user_id=user_id,
                        author_label=label, stars=stars, comment=comment, helpful=0, edition=random_token(12),
                        version=1, created_at=now, updated_at=now))
                else:
                    self._repo.update(old, stars=stars, comment=comment, author_label=label, now=now)
                break
            except ReviewRaced:
                continue  # another write of this review won: read it again and redo ours on top
        else:
            raise ConflictError("your review kept changing meanwhile; retry", code="review_conflict")
        self._listing_changed()
        saved = self._review(name, review_id)
        if old is None:
            self._notify.notify(plugin.author_id, f"trust.review:{name}:{review_id}:{saved.edition}",
                                "trust.review_created", f"New {stars}-star review of {name}.",
                                {"plugin": name, "review_id": review_id, "stars": stars})
        return review_view(saved), old is None

    def delete(self, principal: Principal, name: str) -> dict[str, Any]:
        self._get_plugin(name)  # a review can be taken back whatever the plugin's status
        review_id = review_id_for(name, principal.user_id)
        for _ in range(WRITE_ATTEMPTS):
            old = self._review(name, review_id)
            try:
                self._repo.delete(old)
                break
            except ReviewRaced:
                continue
        else:
            raise ConflictError("your review kept changing meanwhile; retry", code="review_conflict")
        self._listing_changed()
        try:
            self._repo.forget_votes(old)
        except Exception:  # noqa: BLE001 - leftover votes name a dead edition: harmless garbage
            log.exception("could not remove the helpful votes of %s", review_id)
        return {"plugin": name, "review_id": review_id, "deleted": True}

    # --- others' reviews --------------------------------------------------------------------
    def vote_helpful(self, principal: Principal, name: str, review_id: str) -> dict[str, Any]:
        self._listed(name)
        review = self._review(name, review_id)
        if review.user_id == principal.user_id:
            raise PermissionDeniedError("you cannot vote on your own review", code="cannot_vote_own_review")
        counted = self._repo.vote(review, principal.user_id, self._clock.now())
        return {"plugin": name, "review_id": review_id, "helpful": int(self._review(name, review_id).helpful or 0),
                "already_voted": not counted}

    def reply(self, principal: Principal, name: str, review_id: str, text: str) -> dict[str, Any]:
        plugin = self._get_plugin(name)
        if plugin.author_id != principal.user_id:
            raise PermissionDeniedError(f"plugin '{name}' belongs to another developer", code="not_plugin_owner")
        if not text.strip():
            raise InvalidInputError("a reply needs some text", code="validation_failed")
        review = self._review(name, review_id)
        try:
            self._repo.reply(review, text.strip(), self._clock.now())
        except UpdateError as exc:
            if condition_failed(exc):
                raise NotFoundError("this review was deleted meanwhile", code="review_not_found") from exc
            raise
        saved = self._review(name, review_id)
        self._notify.notify(review.user_id, f"trust.reply:{name}:{review_id}:{review.edition}",
                            "trust.review_replied", f"The developer of {name} replied to your review.",
                            {"plugin": name, "review_id": review_id})
        return review_view(saved)
