from __future__ import annotations

from typing import Any

from chalice import Blueprint, Response

from chalicelib.core.errors import ConflictError, InvalidInputError, NotFoundError, PermissionDeniedError
from chalicelib.http import Api, ApiRequest, json_reply
from chalicelib.trust import schemas
from chalicelib.wiring import container

bp = Blueprint(__name__)
api = Api(bp, tag="trust")


# --- reviews ---------------------------------------------------------------------------
@api.route("/marketplace/plugins/{name}/reviews", query=("sort", "page", "limit"),
           raises=(InvalidInputError, NotFoundError),
           summary="A listed plugin's reviews (sort: helpful, newest, rating_high, rating_low) with the "
                   "average, count and star distribution")
def list_reviews(req: ApiRequest, name: str) -> dict[str, Any]:
    return container().reviews.list(name, schemas.parse_review_query(req.query))


@api.route("/marketplace/plugins/{name}/reviews", methods=("PUT",), auth="user", body=schemas.REVIEW,
           status=(201, 200), raises=(NotFoundError, PermissionDeniedError, ConflictError),
           summary="Write (201) or edit (200) your review: 1-5 stars and a comment; needs at least 3 "
                   "successful calls to the plugin")
def put_review(req: ApiRequest, name: str) -> Response:
    body = req.json(schemas.REVIEW)
    review, created = container().reviews.put(req.caller, name, stars=body["stars"], comment=body.get("comment", ""))
    return json_reply(review, 201 if created else 200)


@api.route("/marketplace/plugins/{name}/reviews", methods=("DELETE",), auth="user",
           raises=(NotFoundError, ConflictError),
           summary="Delete your review of a plugin")
def delete_review(req: ApiRequest, name: str) -> dict[str, Any]:
    return container().reviews.delete(req.caller, name)


@api.route("/marketplace/plugins/{name}/reviews/{review_id}/helpful", methods=("POST",), auth="user",
           raises=(NotFoundError, PermissionDeniedError),
           summary="Mark a review helpful: once per user, never your own (a repeat answers 200 with "
                   "already_voted true)")
def vote_helpful(req: ApiRequest, name: str, review_id: str) -> dict[str, Any]:
    return container().reviews.vote_helpful(req.caller, name, review_id)


@api.route("/developer/plugins/{name}/reviews/{review_id}/reply", methods=("PUT",), auth="developer",
           body=schemas.REPLY, raises=(NotFoundError, PermissionDeniedError, InvalidInputError),
           summary="Reply to a review of your plugin (or edit your reply)")
def reply(req: ApiRequest, name: str, review_id: str) -> dict[str, Any]:
    return container().reviews.reply(req.caller, name, review_id, req.json(schemas.REPLY)["text"])


# --- certification ------------------------------------------------------------------------
@api.route("/developer/plugins/{name}/certification", auth="developer", raises=(NotFoundError, PermissionDeniedError),
           summary="Your plugin's certification tier, revenue share, and each tier's criteria as measured "
                   "over the last 30 days")
def certification(req: ApiRequest, name: str) -> dict[str, Any]:
    return container().certification.status(req.caller, name)


@api.route("/admin/plugins/{name}/certification", methods=("POST",), auth="admin", body=schemas.CERTIFY,
           raises=(NotFoundError, ConflictError),
           summary="Set a plugin's tier (listed, verified, premier) and with it the revenue share; verified "
                   "and premier only when every criterion is met")
def certify(req: ApiRequest, name: str) -> dict[str, Any]:
    body = req.json(schemas.CERTIFY)
    return container().certification.grant(req.caller, name, body["tier"], body["reason"])
