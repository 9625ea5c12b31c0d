from __future__ import annotations

from typing import Any

from chalice import Blueprint

from chalicelib.catalog.schemas import REASON
from chalicelib.core.errors import (ConflictError, InvalidInputError, NotFoundError, PayloadTooLargeError,
                                    PermissionDeniedError, UpstreamUnavailableError)
from chalicelib.http import Api, ApiRequest
from chalicelib.publishing.service import MAX_BODY_BYTES, REVIEW_NOTES, SUBMIT, UNDEPLOY
from chalicelib.wiring import container

bp = Blueprint(__name__)
api = Api(bp, tag="publishing")


# --- developer -----------------------------------------------------------------------------
@api.route("/developer/submissions", methods=("POST",), auth="developer", body=SUBMIT, status=202,
           max_body=MAX_BODY_BYTES, raises=(PayloadTooLargeError, InvalidInputError, PermissionDeniedError,
                                            ConflictError, UpstreamUnavailableError),  # 503 sandbox_unavailable
           summary="Submit a plugin package (zip, base64) for automated checks and review")
def submit(req: ApiRequest) -> dict[str, Any]:
    return container().publishing.submit(req.caller, req.json(SUBMIT))


@api.route("/developer/submissions", auth="developer", query=("plugin",),
           summary="Your submissions, newest first, with their checks and status")
def list_submissions(req: ApiRequest) -> dict[str, Any]:
    return container().publishing.list_own(req.caller, req.query.get("plugin"))


@api.route("/developer/submissions/{submission_id}", auth="developer", raises=(NotFoundError,),
           summary="One submission: status history, checks, quality score, reasons and the checks' log")
def get_submission(req: ApiRequest, submission_id: str) -> dict[str, Any]:
    return container().publishing.get_own(req.caller, submission_id)


@api.route("/developer/validate-manifest", methods=("POST",), auth="developer",
           raises=(InvalidInputError, PayloadTooLargeError),  # req.json without body=
           summary="Check a manifest against the marketplace's rules without submitting anything")
def validate_manifest(req: ApiRequest) -> dict[str, Any]:
    return container().publishing.validate_manifest(req.json())


# --- admin review ----------------------------------------------------------------------------
@api.route("/admin/reviews", auth="admin", summary="Versions waiting for review, oldest first, with their checks")
def review_queue(req: ApiRequest) -> dict[str, Any]:
    return container().publishing.review_queue()


@api.route("/admin/plugins/{name}/versions/{version}/approve", methods=("POST",), auth="admin", body=REVIEW_NOTES,
           raises=(NotFoundError, ConflictError),
           summary="Approve a version: deploy its package; it is published once its function is live")
def approve(req: ApiRequest, name: str, version: str) -> dict[str, Any]:
    notes = req.json(REVIEW_NOTES).get("notes") if req.raw.raw_body else None
    return container().publishing.approve(req.caller, name, version, notes)


@api.route("/admin/plugins/{name}/versions/{version}/reject", methods=("POST",), auth="admin", body=REASON,
           raises=(NotFoundError, ConflictError),
           summary="Reject a version with the reason the developer will read")
def reject(req: ApiRequest, name: str, version: str) -> dict[str, Any]:
    return container().publishing.reject(req.caller, name, version, req.json(REASON)["reason"])


@api.route("/admin/plugins/{name}/versions/{version}/undeploy", methods=("POST",), auth="admin", body=UNDEPLOY,
           raises=(NotFoundError, ConflictError, UpstreamUnavailableError),
           summary="Remove the function a suspended plugin's live version runs in (its major's stack)")
def undeploy(req: ApiRequest, name: str, version: str) -> dict[str, Any]:
    return container().publishing.undeploy(req.caller, name, version, req.json(UNDEPLOY)["reason"])


@api.route("/admin/plugins/{name}/versions/{version}/deploy", methods=("POST",), auth="admin",
           raises=(NotFoundError, ConflictError),
           summary="Deploy again a reviewed version whose deployment failed or whose function was removed")
def redeploy(req: ApiRequest, name: str, version: str) -> dict[str, Any]:
    return container().publishing.redeploy(req.caller, name, version)
