from __future__ import annotations

from typing import Any

from chalice import Blueprint

from chalicelib.catalog import schemas
from chalicelib.catalog.manifest import MANIFEST_SCHEMA
from chalicelib.core.errors import ConflictError, InvalidInputError, NotFoundError, PermissionDeniedError
from chalicelib.http import Api, ApiRequest
from chalicelib.wiring import container

bp = Blueprint(__name__)
api = Api(bp, tag="catalog")

# A developer's version write: not their plugin, unknown plugin or version, invalid manifest,
# a version that does not increase or breaks its major line, or one no longer editable.
MANIFEST_REFUSALS = (PermissionDeniedError, NotFoundError, InvalidInputError, ConflictError)


# --- public marketplace ------------------------------------------------------
@api.route("/marketplace/plugins", summary="Search the marketplace",
           query=("q", "category", "tags", "tier", "sort", "page", "limit"), raises=(InvalidInputError,))
def search(req: ApiRequest) -> dict[str, Any]:
    return container().catalog.search(schemas.parse_search(req.query))


@api.route("/marketplace/suggest", summary="Search-as-you-type suggestions", query=("q",))
def suggest(req: ApiRequest) -> dict[str, Any]:
    return container().catalog.suggest(req.query.get("q", ""))


@api.route("/marketplace/categories", summary="Categories with their plugin counts")
def categories(req: ApiRequest) -> dict[str, Any]:
    return container().catalog.categories()


@api.route("/marketplace/plugins/{name}", raises=(NotFoundError,),
           summary="A plugin's details with its published versions")
def detail(req: ApiRequest, name: str) -> dict[str, Any]:
    return container().catalog.public_detail(name)


@api.route("/marketplace/manifest-schema", summary="The JSON Schema plugin manifests must follow")
def manifest_schema(req: ApiRequest) -> dict[str, Any]:
    return MANIFEST_SCHEMA


# --- developer -----------------------------------------------------------------
@api.route("/developer/plugins", methods=("POST",), auth="developer", body=MANIFEST_SCHEMA, status=201,
           raises=(InvalidInputError, ConflictError),
           summary="Create a plugin from its manifest (status draft)")
def create_plugin(req: ApiRequest) -> dict[str, Any]:
    return container().catalog.create_plugin(req.caller, req.json())


@api.route("/developer/plugins", auth="developer", summary="Your plugins")
def list_own(req: ApiRequest) -> dict[str, Any]:
    return container().catalog.list_own(req.caller)


@api.route("/developer/plugins/{name}", auth="developer", raises=(NotFoundError, PermissionDeniedError),
           summary="One of your plugins, with every version")
def get_own(req: ApiRequest, name: str) -> dict[str, Any]:
    return container().catalog.get_own(req.caller, name)


@api.route("/developer/plugins/{name}/versions", methods=("POST",), auth="developer", body=MANIFEST_SCHEMA,
           status=201, raises=MANIFEST_REFUSALS, summary="Add a new version (semver must increase)")
def add_version(req: ApiRequest, name: str) -> dict[str, Any]:
    return container().catalog.add_version(req.caller, name, req.json())


@api.route("/developer/plugins/{name}/versions/{version}", methods=("PUT",), auth="developer",
           body=MANIFEST_SCHEMA, raises=MANIFEST_REFUSALS,
           summary="Replace the manifest of a draft or rejected version")
def update_version(req: ApiRequest, name: str, version: str) -> dict[str, Any]:
    return container().catalog.update_version(req.caller, name, version, req.json())


@api.route("/developer/plugins/{name}/versions/{version}/submit", methods=("POST",), auth="developer",
           raises=(NotFoundError, PermissionDeniedError, ConflictError),
           summary="Submit a version for review")
def submit_version(req: ApiRequest, name: str, version: str) -> dict[str, Any]:
    return container().catalog.submit_version(req.caller, name, version)


# --- admin (the review queue and decisions are in chalicelib/publishing/routes.py) -----------------
@api.route("/admin/plugins", auth="admin", query=("status",), raises=(InvalidInputError,),
           summary="Plugins in a status (default: suspended), with the reason, most recently changed first")
def plugins_by_status(req: ApiRequest) -> dict[str, Any]:
    return container().catalog.by_status(req.query.get("status", "suspended"))


@api.route("/admin/plugins/{name}/suspend", methods=("POST",), auth="admin", body=schemas.REASON,
           raises=(NotFoundError, ConflictError),
           summary="Suspend a plugin: unlisted, calls refused")
def suspend(req: ApiRequest, name: str) -> dict[str, Any]:
    body = req.json(schemas.REASON)
    return container().catalog.suspend(name, body["reason"])


@api.route("/admin/plugins/{name}/reinstate", methods=("POST",), auth="admin", raises=(NotFoundError, ConflictError),
           summary="Re-enable a suspended plugin")
def reinstate(req: ApiRequest, name: str) -> dict[str, Any]:
    return container().catalog.reinstate(name)
