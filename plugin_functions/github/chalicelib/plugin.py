"""GitHub: a stateful mock of the GitHub REST API v3 that PyGithub talks to unchanged.

Covered: the authenticated user and ``/users/{login}``, repositories (create, get,
list), issues (create, list by state, get, edit/close, comments), pull requests
(create, list, get, edit) and ``/rate_limit``.

What makes the official SDK work against it:

* JSON shapes close to GitHub's (ids, numbers, ``url``/``html_url``, ``user``,
  ISO-8601 ``...Z`` timestamps), with every ``url`` absolute and pointing back at the
  gateway, because PyGithub follows ``url`` fields (``issue.create_comment`` POSTs to
  ``issue.url + "/comments"``) and refuses URLs on another host or path prefix.
* ``Link`` pagination exactly as GitHub writes it (``<...?page=2&per_page=30>;
  rel="next", <...>; rel="last"``, plus ``prev``/``first`` after page one).
* ``X-RateLimit-*`` headers on every answer and ``GET /rate_limit``.
* Errors as ``{"message", "documentation_url", "status"}`` (``errors`` for 422), so
  PyGithub raises ``UnknownObjectException`` for 404 and ``GithubException`` otherwise.

The marketplace user is the GitHub user: the login is derived from the stable
marketplace user id (``usr_abc`` -> ``usr-abc``). State is the SDK's storage, already
scoped per plugin, user and live/sandbox, so a user can only ever see their own
account; other logins answer 404 like a user that does not exist.
"""
from __future__ import annotations

import hashlib
import math
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

from mocklib_plugin_sdk import (BadRequestError, ConflictError, MethodNotAllowedError, NotFoundError, Plugin,
                                Request, Response, endpoint)

API_PREFIX = "/plugins/github/v1"
DOCS = "https://docs.github.com/rest"
RATE_LIMIT = 5000  # GitHub's core limit for a personal access token, per hour
RATE_WINDOW_S = 3600
MAX_PER_PAGE = 100
DEFAULT_PER_PAGE = 30
REPO_NAME = re.compile(r"^[A-Za-z0-9._-]{1,100}$")


class GitHubError(Exception):
    """An answer in GitHub's error shape."""

    def __init__(self, status: int, message: str, *, doc: str = "", errors: list[dict[str, Any]] | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.doc = doc
        self.errors = errors

    def response(self) -> Response:
        body: dict[str, Any] = {"message": self.message}
        if self.errors is not None:
            body["errors"] = self.errors
        body["documentation_url"] = f"{DOCS}{self.doc}" if self.doc else DOCS
        body["status"] = str(self.status)
        return Response.json(body, status=self.status)


def not_found(doc: str = "") -> GitHubError:
    return GitHubError(404, "Not Found", doc=doc)


def validation_failed(resource: str, field: str, code: str = "missing_field", message: str | None = None,
                      *, doc: str = "") -> GitHubError:
    error: dict[str, Any] = {"resource": resource, "code": code, "field": field}
    if message:
        error["message"] = message
    return GitHubError(422, "Validation Failed", doc=doc, errors=[error])


@dataclass(frozen=True)
class Ctx:
    """Per-request rendering context: who is calling and where the API lives."""

    base: str  # absolute API base, e.g. http://127.0.0.1:8000/plugins/github/v1
    html: str  # html_url prefix
    login: str
    user_num: int

    def repo_url(self, name: str) -> str:
        return f"{self.base}/repos/{self.login}/{quote(name)}"


def login_for(user_id: str) -> str:
    """A GitHub-valid login (alphanumerics and single hyphens, <= 39) from the marketplace user id."""
    login = re.sub(r"[^A-Za-z0-9]+", "-", user_id).strip("-")[:39].strip("-")
    return login or "mf-user"


def number_for(text: str) -> int:
    return int(hashlib.sha256(text.encode()).hexdigest()[:10], 16) % 1_000_000_000 + 1


def fake_sha(*parts: str) -> str:
    return hashlib.sha1(":".join(parts).encode(), usedforsecurity=False).hexdigest()  # an id, like git's


def node_id(kind: str, number: int) -> str:
    return f"{kind}_kwDO{number:012X}"


class GitHubPlugin(Plugin):
    # --- plumbing -------------------------------------------------------------------------
    def handle_request(self, request: Request) -> Response:
        counted = request.path.rstrip("/") != "/rate_limit"
        try:
            if not request.authenticated or not request.user_id:
                raise GitHubError(401, "Requires authentication")
            response = super().handle_request(request)
        except GitHubError as exc:
            response = exc.response()
        except (NotFoundError, MethodNotAllowedError):
            # GitHub answers 404 for unknown routes and for wrong methods alike.
            response = not_found().response()
        except BadRequestError:
            response = GitHubError(400, "Problems parsing JSON").response()
        if request.user_id:
            state = self._rate_state(count=counted)
            response.headers.update(self._rate_headers(state))
        response.headers.setdefault("X-GitHub-Media-Type", "github.v3; format=json")
        response.headers.setdefault("X-GitHub-Api-Version-Selected", "2022-11-28")
        response.headers.setdefault("X-OAuth-Scopes", "repo, user")
        if request.request_id:
            response.headers.setdefault("X-GitHub-Request-Id", request.request_id)
        return response

    def _ctx(self, request: Request) -> Ctx:
        base = str(request.config.get("api_base_url") or "").rstrip("/")
        if not base:
            host = request.headers.get("x-forwarded-host") or request.headers.get("host") or "localhost"
            proto = (request.headers.get("x-forwarded-proto") or "http").split(",")[0].strip()
            base = f"{proto}://{host.split(',')[0].strip()}{API_PREFIX}"
        html = str(request.config.get("html_base_url") or "https://github.com").rstrip("/")
        return Ctx(base=base, html=html, login=login_for(request.user_id), user_num=number_for(request.user_id))

    def _now(self) -> str:
        return self.sdk.now().strftime("%Y-%m-%dT%H:%M:%SZ")

    def _next_id(self) -> int:
        seq = self.sdk.storage.get("seq", "ids", {"next": 1})
        value = int(seq["next"])
        self.sdk.storage.put("seq", "ids", {"next": value + 1})
        return value

    @staticmethod
    def _body(request: Request) -> dict[str, Any]:
        data = request.json()
        if not isinstance(data, dict):
            raise GitHubError(400, "Problems parsing JSON")
        return data

    # --- rate limit -----------------------------------------------------------------------
    def _rate_state(self, *, count: bool) -> dict[str, int]:
        now_s = int(self.sdk.now().timestamp())
        state = self.sdk.storage.get("ratelimit", "core")
        if state is None or int(state["reset"]) <= now_s:
            state = {"reset": now_s + RATE_WINDOW_S, "used": 0}
        if count:
            state["used"] = int(state["used"]) + 1
            self.sdk.storage.put("ratelimit", "core", state)
        return state

    @staticmethod
    def _rate_json(state: dict[str, int], limit: int = RATE_LIMIT) -> dict[str, int]:
        used = min(int(state["used"]), limit)
        return {"limit": limit, "used": used, "remaining": limit - used, "reset": int(state["reset"])}

    def _rate_headers(self, state: dict[str, int]) -> dict[str, str]:
        rate = self._rate_json(state)
        return {"X-RateLimit-Limit": str(rate["limit"]), "X-RateLimit-Remaining": str(rate["remaining"]),
                "X-RateLimit-Reset": str(rate["reset"]), "X-RateLimit-Used": str(rate["used"]),
                "X-RateLimit-Resource": "core"}

    @endpoint("GET", "/rate_limit")
    def rate_limit(self, request: Request) -> Response:
        state = self._rate_state(count=False)
        core = self._rate_json(state)
        idle = {"used": 0, "reset": int(state["reset"])}
        resources = {
            "core": core,
            "search": self._rate_json(idle, 30),
            "graphql": self._rate_json(idle, 5000),
            "integration_manifest": self._rate_json(idle, 5000),
            "code_search": self._rate_json(idle, 10),
        }
        return Response.json({"resources": resources, "rate": core})

    # --- pagination -----------------------------------------------------------------------
    def _page(self, ctx: Ctx, request: Request, items: list[Any]) -> tuple[list[Any], dict[str, str]]:
        def as_int(name: str, default: int) -> int:
            try:
                return int(request.query.get(name, default))
            except ValueError:
                return default

        per_page = min(max(as_int("per_page", DEFAULT_PER_PAGE), 1), MAX_PER_PAGE)
        page = max(as_int("page", 1), 1)
        last = max(1, math.ceil(len(items) / per_page))
        chunk = items[(page - 1) * per_page: page * per_page]
        kept = [(k, v) for k, v in request.query.pairs() if k not in ("page", "per_page")]

        def link(target: int, rel: str) -> str:
            query = urlencode(kept + [("page", str(target)), ("per_page", str(per_page))])
            return f'<{ctx.base}{request.path}?{query}>; rel="{rel}"'

        links = []
        if page > 1:
            links.append(link(min(page - 1, last), "prev"))
        if page < last:
            links.append(link(page + 1, "next"))
            links.append(link(last, "last"))
        if page > 1:
            links.append(link(1, "first"))
        return chunk, ({"Link": ", ".join(links)} if links else {})

    def _list(self, ctx: Ctx, request: Request, items: list[Any]) -> Response:
        chunk, headers = self._page(ctx, request, items)
        return Response.json(chunk, headers=headers)

    # --- users ----------------------------------------------------------------------------
    def _user_simple(self, ctx: Ctx) -> dict[str, Any]:
        url = f"{ctx.base}/users/{ctx.login}"
        return {
            "login": ctx.login, "id": ctx.user_num, "node_id": node_id("U", ctx.user_num),
            "avatar_url": f"https://avatars.githubusercontent.com/u/{ctx.user_num}?v=4", "gravatar_id": "",
            "url": url, "html_url": f"{ctx.html}/{ctx.login}",
            "followers_url": f"{url}/followers", "following_url": f"{url}/following{{/other_user}}",
            "gists_url": f"{url}/gists{{/gist_id}}", "starred_url": f"{url}/starred{{/owner}}{{/repo}}",
            "subscriptions_url": f"{url}/subscriptions", "organizations_url": f"{url}/orgs",
            "repos_url": f"{url}/repos", "events_url": f"{url}/events{{/privacy}}",
            "received_events_url": f"{url}/received_events", "type": "User", "user_view_type": "public",
            "site_admin": False,
        }

    def _profile(self) -> dict[str, Any]:
        profile = self.sdk.storage.get("profile", "me")
        if profile is None:
            profile = {"created_at": self._now()}
            self.sdk.storage.put("profile", "me", profile)
        return profile

    def _user_full(self, ctx: Ctx, *, private: bool) -> dict[str, Any]:
        profile = self._profile()
        repos = [repo for _, repo in self.sdk.storage.items("repos", limit=None)]
        public = sum(1 for r in repos if not r["private"])
        user = self._user_simple(ctx) | {
            "name": ctx.login, "company": None, "blog": "", "location": None, "email": None,
            "hireable": None, "bio": None, "twitter_username": None, "public_repos": public,
            "public_gists": 0, "followers": 0, "following": 0,
            "created_at": profile["created_at"], "updated_at": profile["created_at"],
        }
        if private:
            user |= {"private_gists": 0, "total_private_repos": len(repos) - public,
                     "owned_private_repos": len(repos) - public, "disk_usage": 0, "collaborators": 0,
                     "two_factor_authentication": False, "user_view_type": "private",
                     "plan": {"name": "free", "space": 976562499, "private_repos": 10000, "collaborators": 0}}
        return user

    @endpoint("GET", "/user")
    def get_authenticated_user(self, request: Request) -> Response:
        return Response.json(self._user_full(self._ctx(request), private=True))

    def _require_self(self, ctx: Ctx, login: str, doc: str) -> None:
        if login.lower() != ctx.login.lower():
            raise not_found(doc)

    @endpoint("GET", "/users/{username}")
    def get_user(self, request: Request, username: str) -> Response:
        ctx = self._ctx(request)
        self._require_self(ctx, username, "/users/users#get-a-user")
        return Response.json(self._user_full(ctx, private=False))

    # --- repositories ---------------------------------------------------------------------
    def _repo_json(self, ctx: Ctx, repo: dict[str, Any]) -> dict[str, Any]:
        url = ctx.repo_url(repo["name"])
        full_name = f"{ctx.login}/{repo['name']}"
        html = f"{ctx.html}/{full_name}"
        return {
            "id": repo["id"], "node_id": node_id("R", repo["id"]), "name": repo["name"], "full_name": full_name,
            "private": repo["private"], "owner": self._user_simple(ctx), "html_url": html,
            "description": repo["description"], "fork": False, "url": url,
            "forks_url": f"{url}/forks", "keys_url": f"{url}/keys{{/key_id}}",
            "collaborators_url": f"{url}/collaborators{{/collaborator}}", "teams_url": f"{url}/teams",
            "hooks_url": f"{url}/hooks", "issue_events_url": f"{url}/issues/events{{/number}}",
            "events_url": f"{url}/events", "assignees_url": f"{url}/assignees{{/user}}",
            "branches_url": f"{url}/branches{{/branch}}", "tags_url": f"{url}/tags",
            "blobs_url": f"{url}/git/blobs{{/sha}}", "git_tags_url": f"{url}/git/tags{{/sha}}",
            "git_refs_url": f"{url}/git/refs{{/sha}}", "trees_url": f"{url}/git/trees{{/sha}}",
            "statuses_url": f"{url}/statuses/{{sha}}", "languages_url": f"{url}/languages",
            "stargazers_url": f"{url}/stargazers", "contributors_url": f"{url}/contributors",
            "subscribers_url": f"{url}/subscribers", "subscription_url": f"{url}/subscription",
            "commits_url": f"{url}/commits{{/sha}}", "git_commits_url": f"{url}/git/commits{{/sha}}",
            "comments_url": f"{url}/comments{{/number}}",
            "issue_comment_url": f"{url}/issues/comments{{/number}}",
            "contents_url": f"{url}/contents/{{+path}}", "compare_url": f"{url}/compare/{{base}}...{{head}}",
            "merges_url": f"{url}/merges", "archive_url": f"{url}/{{archive_format}}{{/ref}}",
            "downloads_url": f"{url}/downloads", "issues_url": f"{url}/issues{{/number}}",
            "pulls_url": f"{url}/pulls{{/number}}", "milestones_url": f"{url}/milestones{{/number}}",
            "notifications_url": f"{url}/notifications{{?since,all,participating}}",
            "labels_url": f"{url}/labels{{/name}}", "releases_url": f"{url}/releases{{/id}}",
            "deployments_url": f"{url}/deployments",
            "created_at": repo["created_at"], "updated_at": repo["updated_at"], "pushed_at": repo["pushed_at"],
            "git_url": f"git://github.com/{full_name}.git", "ssh_url": f"git@github.com:{full_name}.git",
            "clone_url": f"{html}.git", "svn_url": html, "homepage": repo["homepage"], "size": 0,
            "stargazers_count": 0, "watchers_count": 0, "language": None, "has_issues": repo["has_issues"],
            "has_projects": True, "has_downloads": True, "has_wiki": True, "has_pages": False,
            "has_discussions": False, "forks_count": 0, "mirror_url": None, "archived": False,
            "disabled": False, "open_issues_count": repo["open_issues"], "license": None,
            "allow_forking": True, "is_template": False, "web_commit_signoff_required": False,
            "topics": [], "visibility": "private" if repo["private"] else "public", "forks": 0,
            "open_issues": repo["open_issues"], "watchers": 0, "default_branch": repo["default_branch"],
            "permissions": {"admin": True, "maintain": True, "push": True, "triage": True, "pull": True},
        }

    def _full_repo_json(self, ctx: Ctx, repo: dict[str, Any]) -> dict[str, Any]:
        """A single repository (GitHub's full-repository): the list shape plus its network counts."""
        return self._repo_json(ctx, repo) | {"network_count": 0, "subscribers_count": 0}

    def _repo(self, ctx: Ctx, owner: str, name: str) -> dict[str, Any]:
        doc = "/repos/repos#get-a-repository"
        self._require_self(ctx, owner, doc)
        repo = self.sdk.storage.get("repos", name.lower())
        if repo is None:
            raise not_found(doc)
        return repo

    def _save_repo(self, repo: dict[str, Any]) -> None:
        self.sdk.storage.put("repos", repo["name"].lower(), repo)

    @endpoint("POST", "/user/repos")
    def create_repo(self, request: Request) -> Response:
        ctx = self._ctx(request)
        doc = "/repos/repos#create-a-repository-for-the-authenticated-user"
        data = self._body(request)
        name = data.get("name")
        if not isinstance(name, str) or not name.strip():
            raise validation_failed("Repository", "name", doc=doc)
        name = re.sub(r"[^A-Za-z0-9._-]", "-", name.strip())
        if not REPO_NAME.match(name) or name in (".", ".."):
            raise validation_failed("Repository", "name", "custom", "name is invalid", doc=doc)
        if self.sdk.storage.get("repos", name.lower()) is not None:
            raise validation_failed("Repository", "name", "custom", "name already exists on this account", doc=doc)
        now = self._now()
        repo = {
            "id": self._next_id(), "name": name, "description": data.get("description"),
            "homepage": data.get("homepage"), "private": bool(data.get("private", False)),
            "has_issues": bool(data.get("has_issues", True)), "default_branch": "main",
            "created_at": now, "updated_at": now, "pushed_at": now, "open_issues": 0, "next_number": 1,
        }
        try:
            self.sdk.storage.put("repos", name.lower(), repo, if_absent=True)
        except ConflictError:
            raise validation_failed("Repository", "name", "custom", "name already exists on this account",
                                    doc=doc) from None
        return Response.json(self._full_repo_json(ctx, repo), status=201,
                             headers={"Location": ctx.repo_url(name)})

    @endpoint("GET", "/repos/{owner}/{repo}")
    def get_repo(self, request: Request, owner: str, repo: str) -> Response:
        ctx = self._ctx(request)
        return Response.json(self._full_repo_json(ctx, self._repo(ctx, owner, repo)))

    @staticmethod
    def _sorted(items: list[dict[str, Any]], request: Request, default_sort: str,
                keys: dict[str, str]) -> list[dict[str, Any]]:
        sort = request.query.get("sort", default_sort)
        key = keys.get(sort, keys[default_sort])
        default_direction = "asc" if sort in ("full_name", "name") else "desc"
        direction = request.query.get("direction", default_direction)
        return sorted(items, key=lambda item: (item[key], item["id"]), reverse=direction != "asc")

    def _repo_list(self, ctx: Ctx, request: Request, *, public_only: bool) -> Response:
        repos = [repo for _, repo in self.sdk.storage.items("repos", limit=None)]
        visibility = request.query.get("visibility", "all")
        if public_only or visibility == "public":
            repos = [r for r in repos if not r["private"]]
        elif visibility == "private":
            repos = [r for r in repos if r["private"]]
        for repo in repos:
            repo["full_name_key"] = repo["name"].lower()
        repos = self._sorted(repos, request, "full_name",
                             {"full_name": "full_name_key", "created": "created_at",
                              "updated": "updated_at", "pushed": "pushed_at"})
        return self._list(ctx, request, [self._repo_json(ctx, r) for r in repos])

    @endpoint("GET", "/user/repos")
    def list_my_repos(self, request: Request) -> Response:
        return self._repo_list(self._ctx(request), request, public_only=False)

    @endpoint("GET", "/users/{username}/repos")
    def list_user_repos(self, request: Request, username: str) -> Response:
        ctx = self._ctx(request)
        self._require_self(ctx, username, "/repos/repos#list-repositories-for-a-user")
        return self._repo_list(ctx, request, public_only=True)

    # --- issues and pull requests (one numbering, one record, as on GitHub) ----------------
    @staticmethod
    def _issues_collection(repo: dict[str, Any]) -> str:
        return f"issues.{repo['id']}"

    def _issue(self, repo: dict[str, Any], number: str, doc: str) -> dict[str, Any]:
        if not number.isdigit():
            raise not_found(doc)
        issue = self.sdk.storage.get(self._issues_collection(repo), f"{int(number):010d}")
        if issue is None:
            raise not_found(doc)
        return issue

    def _save_issue(self, repo: dict[str, Any], issue: dict[str, Any]) -> None:
        self.sdk.storage.put(self._issues_collection(repo), f"{issue['number']:010d}", issue)

    def _issue_json(self, ctx: Ctx, repo: dict[str, Any], issue: dict[str, Any]) -> dict[str, Any]:
        repo_url = ctx.repo_url(repo["name"])
        url = f"{repo_url}/issues/{issue['number']}"
        kind = "pull" if issue.get("pull") else "issues"
        data: dict[str, Any] = {
            "url": url, "repository_url": repo_url, "labels_url": f"{url}/labels{{/name}}",
            "comments_url": f"{url}/comments", "events_url": f"{url}/events",
            "html_url": f"{ctx.html}/{ctx.login}/{repo['name']}/{kind}/{issue['number']}",
            "id": issue["id"], "node_id": node_id("I", issue["id"]), "number": issue["number"],
            "title": issue["title"], "user": self._user_simple(ctx), "labels": [], "state": issue["state"],
            "locked": False, "assignee": None, "assignees": [], "milestone": None,
            "comments": issue["comments"], "created_at": issue["created_at"], "updated_at": issue["updated_at"],
            "closed_at": issue["closed_at"], "author_association": "OWNER", "active_lock_reason": None,
            "body": issue["body"], "closed_by": self._user_simple(ctx) if issue["state"] == "closed" else None,
            "state_reason": issue["state_reason"],
            "reactions": {"url": f"{url}/reactions", "total_count": 0, "+1": 0, "-1": 0, "laugh": 0,
                          "hooray": 0, "confused": 0, "heart": 0, "rocket": 0, "eyes": 0},
            "timeline_url": f"{url}/timeline",
        }
        if issue.get("pull"):
            pull_url = f"{repo_url}/pulls/{issue['number']}"
            data["draft"] = issue["pull"]["draft"]
            data["pull_request"] = {"url": pull_url, "html_url": data["html_url"],
                                    "diff_url": f"{data['html_url']}.diff", "patch_url": f"{data['html_url']}.patch",
                                    "merged_at": None}
        return data

    def _pull_json(self, ctx: Ctx, repo: dict[str, Any], issue: dict[str, Any]) -> dict[str, Any]:
        repo_url = ctx.repo_url(repo["name"])
        url = f"{repo_url}/pulls/{issue['number']}"
        issue_url = f"{repo_url}/issues/{issue['number']}"
        html = f"{ctx.html}/{ctx.login}/{repo['name']}/pull/{issue['number']}"
        pull = issue["pull"]
        repo_json = self._repo_json(ctx, repo)

        def branch(ref: str) -> dict[str, Any]:
            return {"label": f"{ctx.login}:{ref}", "ref": ref, "sha": fake_sha(str(repo["id"]), ref),
                    "user": self._user_simple(ctx), "repo": repo_json}

        return {
            "url": url, "id": issue["id"], "node_id": node_id("PR", issue["id"]), "html_url": html,
            "diff_url": f"{html}.diff", "patch_url": f"{html}.patch", "issue_url": issue_url,
            "number": issue["number"], "state": issue["state"], "locked": False, "title": issue["title"],
            "user": self._user_simple(ctx), "body": issue["body"], "created_at": issue["created_at"],
            "updated_at": issue["updated_at"], "closed_at": issue["closed_at"], "merged_at": None,
            "merge_commit_sha": None, "assignee": None, "assignees": [], "requested_reviewers": [],
            "requested_teams": [], "labels": [], "milestone": None, "draft": pull["draft"],
            "commits_url": f"{url}/commits", "review_comments_url": f"{url}/comments",
            "review_comment_url": f"{repo_url}/pulls/comments{{/number}}", "comments_url": f"{issue_url}/comments",
            "statuses_url": f"{repo_url}/statuses/{fake_sha(str(repo['id']), pull['head'])}",
            "head": branch(pull["head"]), "base": branch(pull["base"]),
            "_links": {"self": {"href": url}, "html": {"href": html}, "issue": {"href": issue_url},
                       "comments": {"href": f"{issue_url}/comments"},
                       "review_comments": {"href": f"{url}/comments"},
                       "commits": {"href": f"{url}/commits"},
                       "review_comment": {"href": f"{repo_url}/pulls/comments{{/number}}"},
                       "statuses": {"href": f"{repo_url}/statuses/{fake_sha(str(repo['id']), pull['head'])}"}},
            "author_association": "OWNER", "auto_merge": None, "active_lock_reason": None,
            "merged": False, "mergeable": True, "rebaseable": True, "mergeable_state": "clean",
            "merged_by": None, "comments": issue["comments"], "review_comments": 0,
            "maintainer_can_modify": False, "commits": 1, "additions": 0, "deletions": 0, "changed_files": 0,
        }

    def _new_issue(self, repo: dict[str, Any], data: dict[str, Any], resource: str, doc: str,
                   pull: dict[str, Any] | None = None) -> dict[str, Any]:
        title = data.get("title")
        if isinstance(title, int) and not isinstance(title, bool):
            title = str(title)  # GitHub accepts numbers as titles
        if not isinstance(title, str) or not title.strip():
            raise validation_failed(resource, "title", doc=doc)
        body = data.get("body")
        if body is not None and not isinstance(body, str):
            raise validation_failed(resource, "body", "invalid", doc=doc)
        now = self._now()
        issue = {"id": self._next_id(), "number": int(repo["next_number"]), "title": title, "body": body,
                 "state": "open", "state_reason": None, "comments": 0, "created_at": now, "updated_at": now,
                 "closed_at": None, "pull": pull}
        repo["next_number"] = issue["number"] + 1
        repo["open_issues"] = int(repo["open_issues"]) + 1
        repo["updated_at"] = now
        self._save_issue(repo, issue)
        self._save_repo(repo)
        return issue

    def _edit(self, repo: dict[str, Any], issue: dict[str, Any], data: dict[str, Any], resource: str,
              doc: str) -> None:
        for field in ("title", "body"):
            if field in data:
                value = data[field]
                if field == "title" and (not isinstance(value, str) or not value.strip()):
                    raise validation_failed(resource, "title", "invalid", doc=doc)
                if field == "body" and value is not None and not isinstance(value, str):
                    raise validation_failed(resource, "body", "invalid", doc=doc)
                issue[field] = value
        now = self._now()
        if "state" in data:
            state = data["state"]
            if state not in ("open", "closed"):
                raise validation_failed(resource, "state", "invalid", doc=doc)
            if state != issue["state"]:
                issue["state"] = state
                if state == "closed":
                    issue["closed_at"] = now
                    issue["state_reason"] = data.get("state_reason") or "completed"
                    repo["open_issues"] = max(0, int(repo["open_issues"]) - 1)
                else:
                    issue["closed_at"] = None
                    issue["state_reason"] = "reopened"
                    repo["open_issues"] = int(repo["open_issues"]) + 1
                self._save_repo(repo)
        elif "state_reason" in data and issue["state"] == "closed":
            issue["state_reason"] = data["state_reason"]
        if issue.get("pull") and isinstance(data.get("base"), str) and data["base"].strip():
            issue["pull"]["base"] = data["base"].strip()
        issue["updated_at"] = now
        self._save_issue(repo, issue)

    def _filtered(self, repo: dict[str, Any], request: Request, *, pulls_only: bool) -> list[dict[str, Any]]:
        state = request.query.get("state", "open")
        if state not in ("open", "closed", "all"):
            raise validation_failed("Issue", "state", "invalid")
        issues = [issue for _, issue in self.sdk.storage.items(self._issues_collection(repo), limit=None)]
        if pulls_only:
            issues = [i for i in issues if i.get("pull")]
            head = request.query.get("head")
            base = request.query.get("base")
            if head:
                issues = [i for i in issues if head.split(":")[-1] == i["pull"]["head"]]
            if base:
                issues = [i for i in issues if base == i["pull"]["base"]]
        if state != "all":
            issues = [i for i in issues if i["state"] == state]
        return self._sorted(issues, request, "created", {"created": "created_at", "updated": "updated_at",
                                                         "comments": "comments"})

    @endpoint("POST", "/repos/{owner}/{repo}/issues")
    def create_issue(self, request: Request, owner: str, repo: str) -> Response:
        ctx = self._ctx(request)
        record = self._repo(ctx, owner, repo)
        issue = self._new_issue(record, self._body(request), "Issue", "/issues/issues#create-an-issue")
        body = self._issue_json(ctx, record, issue)
        return Response.json(body, status=201, headers={"Location": body["url"]})

    @endpoint("GET", "/repos/{owner}/{repo}/issues")
    def list_issues(self, request: Request, owner: str, repo: str) -> Response:
        ctx = self._ctx(request)
        record = self._repo(ctx, owner, repo)
        issues = self._filtered(record, request, pulls_only=False)
        return self._list(ctx, request, [self._issue_json(ctx, record, i) for i in issues])

    @endpoint("GET", "/repos/{owner}/{repo}/issues/{issue_number}")
    def get_issue(self, request: Request, owner: str, repo: str, issue_number: str) -> Response:
        ctx = self._ctx(request)
        record = self._repo(ctx, owner, repo)
        issue = self._issue(record, issue_number, "/issues/issues#get-an-issue")
        return Response.json(self._issue_json(ctx, record, issue))

    @endpoint("PATCH", "/repos/{owner}/{repo}/issues/{issue_number}")
    def edit_issue(self, request: Request, owner: str, repo: str, issue_number: str) -> Response:
        ctx = self._ctx(request)
        doc = "/issues/issues#update-an-issue"
        record = self._repo(ctx, owner, repo)
        issue = self._issue(record, issue_number, doc)
        self._edit(record, issue, self._body(request), "Issue", doc)
        return Response.json(self._issue_json(ctx, record, issue))

    # --- comments -------------------------------------------------------------------------
    @staticmethod
    def _comments_collection(repo: dict[str, Any]) -> str:
        return f"comments.{repo['id']}"

    def _comment_json(self, ctx: Ctx, repo: dict[str, Any], comment: dict[str, Any]) -> dict[str, Any]:
        repo_url = ctx.repo_url(repo["name"])
        url = f"{repo_url}/issues/comments/{comment['id']}"
        return {
            "url": url, "html_url": f"{ctx.html}/{ctx.login}/{repo['name']}/issues/{comment['issue_number']}"
                                    f"#issuecomment-{comment['id']}",
            "issue_url": f"{repo_url}/issues/{comment['issue_number']}", "id": comment["id"],
            "node_id": node_id("IC", comment["id"]), "user": self._user_simple(ctx),
            "created_at": comment["created_at"], "updated_at": comment["updated_at"],
            "author_association": "OWNER", "body": comment["body"],
            "reactions": {"url": f"{url}/reactions", "total_count": 0, "+1": 0, "-1": 0, "laugh": 0,
                          "hooray": 0, "confused": 0, "heart": 0, "rocket": 0, "eyes": 0},
            "performed_via_github_app": None,
        }

    @endpoint("POST", "/repos/{owner}/{repo}/issues/{issue_number}/comments")
    def create_comment(self, request: Request, owner: str, repo: str, issue_number: str) -> Response:
        ctx = self._ctx(request)
        doc = "/issues/comments#create-an-issue-comment"
        record = self._repo(ctx, owner, repo)
        issue = self._issue(record, issue_number, doc)
        data = self._body(request)
        body = data.get("body")
        if not isinstance(body, str) or not body.strip():
            raise validation_failed("IssueComment", "body", doc=doc)
        now = self._now()
        comment = {"id": self._next_id(), "issue_number": issue["number"], "body": body,
                   "created_at": now, "updated_at": now}
        self.sdk.storage.put(self._comments_collection(record), f"{comment['id']:012d}", comment)
        issue["comments"] = int(issue["comments"]) + 1
        issue["updated_at"] = now
        self._save_issue(record, issue)
        rendered = self._comment_json(ctx, record, comment)
        return Response.json(rendered, status=201, headers={"Location": rendered["url"]})

    @endpoint("GET", "/repos/{owner}/{repo}/issues/{issue_number}/comments")
    def list_comments(self, request: Request, owner: str, repo: str, issue_number: str) -> Response:
        ctx = self._ctx(request)
        record = self._repo(ctx, owner, repo)
        issue = self._issue(record, issue_number, "/issues/comments#list-issue-comments")
        comments = [c for _, c in self.sdk.storage.items(self._comments_collection(record),
                                                          {"issue_number": issue["number"]}, limit=None)]
        return self._list(ctx, request, [self._comment_json(ctx, record, c) for c in comments])

    @endpoint("GET", "/repos/{owner}/{repo}/issues/comments/{comment_id}")
    def get_comment(self, request: Request, owner: str, repo: str, comment_id: str) -> Response:
        ctx = self._ctx(request)
        doc = "/issues/comments#get-an-issue-comment"
        record = self._repo(ctx, owner, repo)
        comment = (self.sdk.storage.get(self._comments_collection(record), f"{int(comment_id):012d}")
                   if comment_id.isdigit() else None)
        if comment is None:
            raise not_found(doc)
        return Response.json(self._comment_json(ctx, record, comment))

    # --- pull requests --------------------------------------------------------------------
    def _pull(self, record: dict[str, Any], number: str, doc: str) -> dict[str, Any]:
        issue = self._issue(record, number, doc)
        if not issue.get("pull"):
            raise not_found(doc)
        return issue

    @endpoint("POST", "/repos/{owner}/{repo}/pulls")
    def create_pull(self, request: Request, owner: str, repo: str) -> Response:
        ctx = self._ctx(request)
        doc = "/pulls/pulls#create-a-pull-request"
        record = self._repo(ctx, owner, repo)
        data = self._body(request)
        refs = {}
        for field in ("head", "base"):
            value = data.get(field)
            if not isinstance(value, str) or not value.strip():
                raise validation_failed("PullRequest", field, doc=doc)
            refs[field] = value.strip().split(":")[-1]
        if refs["head"] == refs["base"]:
            raise GitHubError(422, "Validation Failed", doc=doc, errors=[
                {"resource": "PullRequest", "code": "custom",
                 "message": f"No commits between {refs['base']} and {refs['head']}"}])
        issue = self._new_issue(record, data, "PullRequest", doc,
                                pull={**refs, "draft": bool(data.get("draft", False))})
        body = self._pull_json(ctx, record, issue)
        return Response.json(body, status=201, headers={"Location": body["url"]})

    @endpoint("GET", "/repos/{owner}/{repo}/pulls")
    def list_pulls(self, request: Request, owner: str, repo: str) -> Response:
        ctx = self._ctx(request)
        record = self._repo(ctx, owner, repo)
        pulls = self._filtered(record, request, pulls_only=True)
        return self._list(ctx, request, [self._pull_json(ctx, record, p) for p in pulls])

    @endpoint("GET", "/repos/{owner}/{repo}/pulls/{pull_number}")
    def get_pull(self, request: Request, owner: str, repo: str, pull_number: str) -> Response:
        ctx = self._ctx(request)
        record = self._repo(ctx, owner, repo)
        return Response.json(self._pull_json(ctx, record, self._pull(record, pull_number,
                                                                     "/pulls/pulls#get-a-pull-request")))

    @endpoint("PATCH", "/repos/{owner}/{repo}/pulls/{pull_number}")
    def edit_pull(self, request: Request, owner: str, repo: str, pull_number: str) -> Response:
        ctx = self._ctx(request)
        doc = "/pulls/pulls#update-a-pull-request"
        record = self._repo(ctx, owner, repo)
        issue = self._pull(record, pull_number, doc)
        self._edit(record, issue, self._body(request), "PullRequest", doc)
        return Response.json(self._pull_json(ctx, record, issue))
