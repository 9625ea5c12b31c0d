"""Catalog use cases: a developer's plugins and versions, admin review, public browsing.

Plugin status: draft -> pending_review -> active -> suspended (and back to active).
Version status: draft -> pending_review -> published | rejected (rejected may be fixed and
resubmitted). A version that runs a submitted package is published only once its function is
live: pending_review -> approved (reviewed; being deployed) -> published | deploy_failed
(which, like rejected, may be submitted again). A published version never changes again.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

import semver

from chalicelib.auth.principal import Principal
from chalicelib.catalog.documents import card_fidelity
from chalicelib.catalog.index import CatalogIndex
from chalicelib.catalog.manifest import Manifest, parse_manifest
from chalicelib.catalog.model import PLUGIN_STATUSES, Plugin, Version
from chalicelib.catalog.repository import CatalogRepository
from chalicelib.catalog.schemas import SearchQuery, pagination
from chalicelib.core.clock import Clock, iso
from chalicelib.core.errors import ConflictError, InvalidInputError, NotFoundError, PermissionDeniedError


def _semver(version: str) -> semver.Version:
    return semver.Version.parse(version)


def _opt_iso(value: Any) -> str | None:
    return iso(value) if value else None


def changelog_entry(changelog: Any, version: str) -> dict[str, Any]:
    """A version's changelog as the API shows it: ``changelog`` (text), ``changes`` and ``date``
    from a manifest's list form (``[{version, date, changes}]``), or the legacy text alone."""
    if isinstance(changelog, list):
        entry = next((e for e in changelog if isinstance(e, dict) and e.get("version") == version), None)
        if entry is None:
            return {"changelog": None, "changes": [], "date": None}
        changes = [str(c) for c in entry.get("changes", [])]
        return {"changelog": "\n".join(f"- {c}" for c in changes), "changes": changes, "date": entry.get("date")}
    return {"changelog": changelog if isinstance(changelog, str) else None,
            "changes": [changelog] if isinstance(changelog, str) and changelog else [], "date": None}


def card(plugin: Plugin) -> dict[str, Any]:
    """What a catalog listing shows about a plugin."""
    return {
        "name": plugin.name, "display_name": plugin.display_name, "description": plugin.description,
        "category": plugin.category, "tags": list(plugin.tags), "icon": plugin.icon,
        "author": {"name": plugin.author_name}, "verification": plugin.verified,
        "verified": plugin.verified != "listed",
        "rating": {"average": plugin.rating_avg_x100 / 100, "count": plugin.rating_count},
        "install_count": plugin.install_count,
        "pricing": {"tier": plugin.tier, "per_call_price_micros": plugin.per_call_price_micros,
                    "free_tier_calls": plugin.free_tier_calls},
        "latest_version": plugin.latest_version, "published_at": _opt_iso(plugin.published_at),
        "calls_last_7_days": plugin.calls_7d,
        # coverage and conformance against the vendor's OpenAPI document, with its version
        "fidelity": plugin.fidelity,
    }


def version_view(version: Version, *, full: bool) -> dict[str, Any]:
    view: dict[str, Any] = {
        "version": version.version, "status": version.status,
        "published_at": _opt_iso(version.published_at),
        **changelog_entry(version.manifest.get("changelog"), version.version),
    }
    if full:
        view.update(created_at=iso(version.created_at), submitted_at=_opt_iso(version.submitted_at),
                    review_reason=version.review_reason, submission_id=version.submission_id,
                    manifest=version.manifest)
    return view


def owner_view(plugin: Plugin, versions: list[Version]) -> dict[str, Any]:
    return {**card(plugin), "status": plugin.status, "status_reason": plugin.status_reason,
            "revenue_share_bps": plugin.revenue_share_bps, "max_version": plugin.max_version,
            "created_at": iso(plugin.created_at), "updated_at": iso(plugin.updated_at),
            "versions": [version_view(v, full=True) for v in _newest_first(versions)]}


# A version in these states may take a new manifest (or package) and be submitted again.
RESUBMITTABLE = ("draft", "rejected", "deploy_failed")


def _newest_first(versions: list[Version]) -> list[Version]:
    return sorted(versions, key=lambda v: _semver(v.version), reverse=True)


def breaking_changes(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """What in ``new`` would break a client of ``old``: removed endpoints, another credential
    header, newly required configuration. Such a version needs a new major."""
    def endpoints(doc: dict[str, Any]) -> set[tuple[str, str]]:
        return {(e["method"], e["path"]) for e in doc["api"]["endpoints"]}

    def required_config(doc: dict[str, Any]) -> set[str]:
        return set(((doc.get("config") or {}).get("schema") or {}).get("required", []))

    changes = [f"endpoint {method} {path} removed" for method, path in sorted(endpoints(old) - endpoints(new))]
    if (old.get("auth") or {}).get("header") != (new.get("auth") or {}).get("header"):
        changes.append("the credential header changed")
    changes += [f"configuration '{key}' is now required" for key in sorted(required_config(new) - required_config(old))]
    return changes


class CatalogService:
    def __init__(self, repository: CatalogRepository, index: CatalogIndex, clock: Clock,
                 source_documents: Callable[[str], dict[str, Any] | None] | None = None) -> None:
        self._repo = repository
        self._index = index
        self._clock = clock
        # First-party plugins' README and fidelity, from their projects (catalog/documents.py).
        self._source_documents = source_documents

    def version_documents(self, version: Version) -> dict[str, Any] | None:
        """A version's README and fidelity: stored from its package, or a first-party plugin's own."""
        if version.submission_id or version.documents:
            return version.documents
        return self._source_documents(version.name) if self._source_documents is not None else None

    def listing_changed(self) -> None:
        """Another context changed what a card shows (rating, tier): re-read before the next search."""
        self._index.invalidate()

    # --- lookups other contexts use -----------------------------------
    def get_plugin(self, name: str) -> Plugin:
        plugin = self._repo.get_plugin(name)
        if plugin is None:
            raise NotFoundError(f"no plugin named '{name}'", code="plugin_not_found")
        return plugin

    def get_listed_plugin(self, name: str) -> Plugin:
        plugin = self._repo.get_plugin(name)
        if plugin is None or plugin.status in ("draft", "pending_review"):
            raise NotFoundError(f"no plugin named '{name}' in the marketplace", code="plugin_not_found")
        return plugin

    def get_version(self, name: str, version: str) -> Version:
        found = self._repo.get_version(name, version)
        if found is None:
            raise NotFoundError(f"plugin '{name}' has no version {version}", code="version_not_found")
        return found

    def current_pricing(self, name: str) -> dict[str, Any]:
        """The pricing of the newest published version: what new charges are rated by."""
        versions = self.published_versions(name)
        if not versions:
            raise NotFoundError(f"plugin '{name}' has no published version", code="plugin_not_found")
        return dict(versions[0].manifest["pricing"])

    def versions_with_status(self, name: str, status: str) -> list[Version]:
        return _newest_first([v for v in self._repo.list_versions(name) if v.status == status])

    def published_versions(self, name: str) -> list[Version]:
        return _newest_first([v for v in self._repo.list_versions(name) if v.status == "published"])

    # --- developer --------------------------------------------------------
    def _owned(self, principal: Principal, name: str) -> Plugin:
        plugin = self.get_plugin(name)
        if plugin.author_id != principal.user_id:
            raise PermissionDeniedError(f"plugin '{name}' belongs to another developer",
                                        code="not_plugin_owner")
        return plugin

    def create_plugin(self, principal: Principal, document: Any, *, submission_id: str | None = None,
                      documents: dict[str, Any] | None = None) -> dict[str, Any]:
        manifest = parse_manifest(document)
        now = self._clock.now()
        doc, pricing = manifest.document, manifest.pricing
        plugin = Plugin(
            name=manifest.name, author_id=principal.user_id, author_name=doc["author"]["name"],
            display_name=doc["display_name"], description=doc["description"], category=doc["category"],
            tags=tuple(doc.get("tags", ())), icon=doc.get("icon"), status="draft", status_reason=None,
            tier=pricing["tier"], per_call_price_micros=pricing["per_call_price_micros"],
            free_tier_calls=pricing["free_tier_calls"], revenue_share_bps=pricing["revenue_share_bps"],
            latest_version=None, latest_by_major={}, max_version=manifest.version, install_count=0,
            rating_sum=0, rating_count=0, verified="listed", created_at=now, published_at=None,
            updated_at=now,
        )
        version = self._new_version(manifest, submission_id, documents)
        self._repo.create_plugin(plugin, version)
        return owner_view(plugin, [version])

    def _new_version(self, manifest: Manifest, submission_id: str | None,
                     documents: dict[str, Any] | None = None) -> Version:
        return Version(name=manifest.name, version=manifest.version, major=manifest.major,
                       manifest=manifest.document, status="draft", created_at=self._clock.now(),
                       submission_id=submission_id, documents=documents)

    def _check_new_version(self, name: str, manifest: Manifest) -> None:
        """Each major line only moves forward (1.4.1 may follow 2.0.0: a fix for 1.x users); a
        new major line comes after everything so far; within a published line nothing breaks."""
        new = _semver(manifest.version)
        versions = self._repo.list_versions(name)
        existing = [_semver(v.version) for v in versions]
        line = [v for v in existing if v.major == new.major] or existing
        floor = max(line)
        if new <= floor:
            raise ConflictError(f"version {new} must be greater than {floor}", code="version_not_increasing")
        published = _newest_first([v for v in versions if v.status == "published" and v.major == new.major])
        if published and (changes := breaking_changes(published[0].manifest, manifest.document)):
            raise ConflictError(f"{'; '.join(changes)}: a breaking change needs a new major version "
                                f"({new.major + 1}.0.0), not {new}", code="breaking_change_requires_major",
                                details={"changes": changes, "compared_with": published[0].version})

    def add_version(self, principal: Principal, name: str, document: Any, *, submission_id: str | None = None,
                    documents: dict[str, Any] | None = None) -> dict[str, Any]:
        plugin = self._owned(principal, name)
        manifest = parse_manifest(document)
        if manifest.name != name:
            raise InvalidInputError(f"manifest name '{manifest.name}' does not match '{name}'",
                                    code="manifest_name_mismatch")
        self._check_new_version(name, manifest)
        version = self._new_version(manifest, submission_id, documents)
        self._repo.add_version(version, expected_max=plugin.max_version,
                               new_max=str(max(_semver(manifest.version), _semver(plugin.max_version))))
        return version_view(version, full=True)

    def plan_package(self, principal: Principal, manifest: Manifest) -> str:
        """How a submitted package's manifest would enter the catalog: "create" (a new plugin),
        "add" (a new version) or "update" (a draft or rejected version again). Raises what
        doing it would raise, so a submission is refused before its checks run."""
        if self._repo.get_plugin(manifest.name) is None:
            return "create"
        self._owned(principal, manifest.name)
        existing = self._repo.get_version(manifest.name, manifest.version)
        if existing is None:
            self._check_new_version(manifest.name, manifest)
            return "add"
        if existing.status not in RESUBMITTABLE:
            raise ConflictError(f"version {manifest.version} is already {existing.status}",
                                code="version_not_submittable")
        return "update"

    def submit_package(self, principal: Principal, document: Any, submission_id: str,
                       documents: dict[str, Any] | None = None) -> dict[str, Any]:
        """A package that passed its checks: its version enters the catalog and the review queue,
        with its ``documents`` (README and the checks' fidelity figure: catalog/documents.py)."""
        manifest = parse_manifest(document)
        plan = self.plan_package(principal, manifest)
        if plan == "create":
            self.create_plugin(principal, document, submission_id=submission_id, documents=documents)
        elif plan == "add":
            self.add_version(principal, manifest.name, document, submission_id=submission_id, documents=documents)
        else:
            self.update_version(principal, manifest.name, manifest.version, document, submission_id=submission_id,
                                documents=documents)
        return self.submit_version(principal, manifest.name, manifest.version)

    def update_version(self, principal: Principal, name: str, version: str, document: Any, *,
                       submission_id: str | None = None, documents: dict[str, Any] | None = None) -> dict[str, Any]:
        self._owned(principal, name)
        current = self.get_version(name, version)
        if current.status not in RESUBMITTABLE:
            raise ConflictError(f"version {version} is {current.status} and can no longer change",
                                code="version_immutable")
        manifest = parse_manifest(document)
        if (manifest.name, manifest.version) != (name, version):
            raise InvalidInputError("manifest name and version must match the URL", code="manifest_name_mismatch")
        updated = replace(current, manifest=manifest.document, major=manifest.major, status="draft",
                          review_reason=None, submission_id=submission_id, documents=documents)
        self._repo.save_version(updated, expected_status=current.status)
        return version_view(updated, full=True)

    def submit_version(self, principal: Principal, name: str, version: str) -> dict[str, Any]:
        plugin = self._owned(principal, name)
        current = self.get_version(name, version)
        if current.status not in RESUBMITTABLE:
            raise ConflictError(f"version {version} is already {current.status}", code="version_not_submittable")
        now = self._clock.now()
        submitted = replace(current, status="pending_review", submitted_at=now, review_reason=None)
        status = "pending_review" if plugin.status == "draft" else plugin.status
        self._repo.save_version_and_plugin(
            submitted, replace(plugin, status=status, updated_at=now),
            expected_version_status=current.status, expected_plugin_status=plugin.status)
        return version_view(submitted, full=True)

    def list_own(self, principal: Principal) -> dict[str, Any]:
        plugins = sorted(self._repo.list_by_author(principal.user_id), key=lambda p: p.name)
        return {"plugins": [{**card(p), "status": p.status, "status_reason": p.status_reason}
                            for p in plugins]}

    def get_own(self, principal: Principal, name: str) -> dict[str, Any]:
        plugin = self._owned(principal, name)
        return owner_view(plugin, self._repo.list_versions(name))

    # --- admin review -------------------------------------------------------
    def review_queue(self) -> dict[str, Any]:
        pending = sorted(self._repo.review_queue(), key=lambda v: v.submitted_at or v.created_at)
        return {"versions": [{"plugin": v.name, **version_view(v, full=True)} for v in pending]}

    def approve_version(self, admin: Principal, name: str, version: str) -> dict[str, Any]:
        """Review and publish at once: for versions whose code needs no deployment (first-party
        plugins the platform deploys itself). A submitted package goes through accept_version."""
        return self._publish(name, version, expected="pending_review", reviewer=admin.user_id)

    def accept_version(self, admin: Principal, name: str, version: str) -> dict[str, Any]:
        """Reviewed and approved; not published until its function is live (publish_version)."""
        plugin = self.get_plugin(name)
        current = self._expect(name, version, "pending_review")
        accepted = replace(current, status="approved", reviewed_by=admin.user_id)
        self._repo.save_version_and_plugin(accepted, replace(plugin, updated_at=self._clock.now()),
                                           expected_version_status="pending_review",
                                           expected_plugin_status=plugin.status)
        return {"plugin": name, "plugin_status": plugin.status, **version_view(accepted, full=False)}

    def publish_version(self, name: str, version: str) -> dict[str, Any]:
        """An approved version whose function is live enters the catalog."""
        current = self._expect(name, version, "approved")
        return self._publish(name, version, expected="approved", reviewer=current.reviewed_by)

    def version_deploy_failed(self, name: str, version: str, reason: str) -> dict[str, Any]:
        """An approved version could not be deployed: the previous one keeps serving; the
        developer may submit it again. A plugin never published goes back to draft."""
        plugin = self.get_plugin(name)
        current = self._expect(name, version, "approved")
        failed = replace(current, status="deploy_failed", review_reason=reason)
        status, status_reason = plugin.status, plugin.status_reason
        if plugin.status == "pending_review":
            status, status_reason = "draft", reason
        self._repo.save_version_and_plugin(
            failed, replace(plugin, status=status, status_reason=status_reason, updated_at=self._clock.now()),
            expected_version_status="approved", expected_plugin_status=plugin.status)
        return {"plugin": name, "plugin_status": status, **version_view(failed, full=True)}

    def retry_deployment(self, name: str, version: str) -> dict[str, Any]:
        """An admin deploys a version whose deployment failed again (it was reviewed already)."""
        current = self._expect(name, version, "deploy_failed")
        retried = replace(current, status="approved", review_reason=None)
        self._repo.save_version(retried, expected_status="deploy_failed")
        return version_view(retried, full=True)

    def _expect(self, name: str, version: str, status: str) -> Version:
        current = self.get_version(name, version)
        if current.status != status:
            raise ConflictError(f"version {version} is {current.status}, not {status.replace('_', ' ')}",
                                code="version_not_pending" if status == "pending_review" else "invalid_version_status")
        return current

    def _publish(self, name: str, version: str, *, expected: str, reviewer: str | None) -> dict[str, Any]:
        plugin = self.get_plugin(name)
        current = self._expect(name, version, expected)
        now = self._clock.now()
        approved = replace(current, status="published", published_at=now, reviewed_by=reviewer)
        published = [*self.published_versions(name), approved]
        latest = max(published, key=lambda v: _semver(v.version))
        doc, pricing = latest.manifest, latest.manifest["pricing"]
        by_major = dict(plugin.latest_by_major)
        major_key = str(approved.major)
        if major_key not in by_major or _semver(approved.version) > _semver(by_major[major_key]):
            by_major[major_key] = approved.version
        status = plugin.status if plugin.status in ("active", "suspended") else "active"
        updated = replace(
            plugin, status=status, status_reason=plugin.status_reason if status == "suspended" else None,
            display_name=doc["display_name"], description=doc["description"], category=doc["category"],
            tags=tuple(doc.get("tags", ())), icon=doc.get("icon"), author_name=doc["author"]["name"],
            tier=pricing["tier"], per_call_price_micros=pricing["per_call_price_micros"],
            free_tier_calls=pricing["free_tier_calls"], latest_version=latest.version,
            latest_by_major=by_major, published_at=plugin.published_at or now, updated_at=now,
            auth_header=(doc.get("auth") or {}).get("header"),
            fidelity=card_fidelity(self.version_documents(latest)),
        )
        self._repo.save_version_and_plugin(approved, updated, expected_version_status=expected,
                                           expected_plugin_status=plugin.status)
        self._index.invalidate()
        return {"plugin": name, "plugin_status": updated.status, **version_view(approved, full=False)}

    def reject_version(self, admin: Principal, name: str, version: str, reason: str) -> dict[str, Any]:
        plugin = self.get_plugin(name)
        current = self.get_version(name, version)
        if current.status != "pending_review":
            raise ConflictError(f"version {version} is {current.status}, not pending review",
                                code="version_not_pending")
        now = self._clock.now()
        rejected = replace(current, status="rejected", reviewed_by=admin.user_id, review_reason=reason)
        status, status_reason = plugin.status, plugin.status_reason
        if plugin.status == "pending_review":
            status, status_reason = "draft", reason
        self._repo.save_version_and_plugin(
            rejected, replace(plugin, status=status, status_reason=status_reason, updated_at=now),
            expected_version_status="pending_review", expected_plugin_status=plugin.status)
        return {"plugin": name, "plugin_status": status, **version_view(rejected, full=True)}

    def refresh_trends(self, first_day: str, last_day: str) -> int:
        """Each active plugin's calls over [first_day, last_day] (the trending order); how many moved."""
        from chalicelib.metering.repository import plugin_days

        moved = 0
        for plugin in self._repo.listing_changes(0):
            if plugin.status != "active":
                continue
            calls = sum(int(day.calls or 0) for day in plugin_days(plugin.name, first_day, last_day))
            if calls != plugin.calls_7d:
                self._repo.set_calls_7d(plugin.name, calls)
                moved += 1
        if moved:
            self._index.invalidate()
        return moved

    def by_status(self, status: str) -> dict[str, Any]:
        """Every plugin in a status, for admins (suspended ones first of all), most recently changed first."""
        if status not in PLUGIN_STATUSES:
            raise InvalidInputError(f"status must be one of {', '.join(PLUGIN_STATUSES)}", code="invalid_status")
        plugins = sorted((p for p in self._repo.listing_changes(0) if p.status == status),
                         key=lambda p: p.updated_at, reverse=True)
        return {"plugins": [{**card(p), "status": p.status, "status_reason": p.status_reason,
                             "author_id": p.author_id, "updated_at": iso(p.updated_at)} for p in plugins]}

    def suspend(self, name: str, reason: str) -> dict[str, Any]:
        """By an admin, or by the hourly job when the plugin's error rate is too high."""
        return self._set_status(name, frm="active", to="suspended", reason=reason)

    def reinstate(self, name: str) -> dict[str, Any]:
        return self._set_status(name, frm="suspended", to="active", reason=None)

    def _set_status(self, name: str, *, frm: str, to: str, reason: str | None) -> dict[str, Any]:
        plugin = self.get_plugin(name)
        if plugin.status != frm:
            raise ConflictError(f"plugin '{name}' is {plugin.status}, not {frm}", code="invalid_status_change")
        updated = replace(plugin, status=to, status_reason=reason, updated_at=self._clock.now())
        self._repo.save_plugin(updated, expected_status=frm)
        self._index.invalidate()
        return {"plugin": name, "status": to, "status_reason": reason}

    # --- public marketplace -----------------------------------------------
    def search(self, query: SearchQuery) -> dict[str, Any]:
        result = self._index.search(q=query.q, category=query.category, tags=query.tags, tier=query.tier,
                                    sort=query.sort, offset=(query.page - 1) * query.limit,
                                    limit=query.limit)
        return {"plugins": [card(p) for p in result.plugins], "pagination": pagination(query, result.total)}

    def suggest(self, prefix: str) -> dict[str, Any]:
        return {"suggestions": [{"name": p.name, "display_name": p.display_name}
                                for p in self._index.suggest(prefix[:100])]}

    def categories(self) -> dict[str, Any]:
        return {"categories": [{"name": c, "count": n} for c, n in self._index.categories().items()]}

    def public_detail(self, name: str) -> dict[str, Any]:
        plugin = self.get_listed_plugin(name)
        if plugin.status != "active":
            raise NotFoundError(f"plugin '{name}' is not available", code="plugin_not_found")
        versions = self.published_versions(name)
        latest = versions[0].manifest
        docs = self.version_documents(versions[0]) or {}
        history = latest.get("changelog")
        return {
            **card(plugin),
            # The card's figures follow the newest version's documents (a first-party plugin's may
            # have been measured again since it was published).
            "fidelity": card_fidelity(docs) if docs.get("fidelity") else plugin.fidelity,
            "api": latest["api"], "permissions": latest.get("permissions", []),
            "config": latest.get("config", {}), "auth": latest.get("auth"),
            "runtime": latest["runtime"], "license": latest.get("license"),
            "pricing_model": latest["pricing"].get("model", "usage"), "plans": latest["pricing"].get("plans", []),
            "versions": [version_view(v, full=False) for v in versions],
            "readme": docs.get("readme"), "fidelity_report": docs.get("fidelity"),
            "client": latest.get("client"),
            "changelog": [e for e in history if isinstance(e, dict)] if isinstance(history, list) else [],
        }
