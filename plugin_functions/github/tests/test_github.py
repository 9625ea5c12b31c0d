"""The github plugin, driven by the official SDK (PyGithub) through the real gateway.

PyGithub is the only client in the gateway tests: it points at ``gateway.base_url``
with the marketplace key as its token (``Authorization: token mf_live_...``). Its
client-side throttle (0.25 s between requests, 1 s between writes by default) is
turned off so the file stays fast; it changes nothing on the wire.
"""
from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

import pytest
from github import Auth, Github, GithubException, UnknownObjectException


def client(gateway, key: str | None = None, per_page: int = 30) -> Github:
    return Github(base_url=gateway.base_url, auth=Auth.Token(key or gateway.live_key), per_page=per_page,
                  seconds_between_requests=0, seconds_between_writes=0, retry=None)


def second_user_keys(gateway) -> tuple[str, str]:
    """Another marketplace user with the plugin installed, made like the fixture makes the first."""
    from chalicelib.auth.principal import Principal

    container = gateway.container
    user = container.auth.create_user(email="second-user@example.com", password="correct horse battery",
                                      role="user")
    principal = Principal(user_id=user.user_id, role="user", via="jwt")
    container.installs.install(principal, plugin="github", accept_permissions=["storage:read", "storage:write"])
    return (container.auth.create_key(principal, name="live", mode="live")["api_key"],
            container.auth.create_key(principal, name="test", mode="test")["api_key"])


def test_users_repositories_pagination_rate_limit_and_errors_through_pygithub(gateway):
    g = client(gateway, per_page=2)

    me = g.get_user()
    login = me.login
    assert re.fullmatch(r"[A-Za-z0-9]+(-[A-Za-z0-9]+)*", login)
    assert isinstance(me.id, int) and me.type == "User"
    assert me.created_at is not None and me.created_at.tzinfo is not None
    # Stable: the login is derived from the marketplace user, not from the key or its scheme
    # (Auth.Token sends "Authorization: token <key>", Auth.AppAuthToken sends "Bearer <key>").
    assert client(gateway).get_user().login == login
    bearer = Github(base_url=gateway.base_url, auth=Auth.AppAuthToken(gateway.live_key),
                    seconds_between_requests=0, seconds_between_writes=0, retry=None)
    assert bearer.get_user(login).login == login
    assert g.get_user(login).login == login

    for name in ["delta", "alpha", "echo", "charlie", "bravo"]:
        repo = me.create_repo(name, description=f"the {name} repo", private=name == "echo")
        assert (repo.name, repo.full_name, repo.owner.login) == (name, f"{login}/{name}", login)
        assert repo.url == f"{gateway.base_url}/repos/{login}/{name}"

    # PaginatedList walks the Link headers across 3 pages of 2; totalCount reads rel="last".
    repos = me.get_repos()
    assert [r.name for r in repos] == ["alpha", "bravo", "charlie", "delta", "echo"]
    assert repos.totalCount == 5
    assert [r.name for r in repos.get_page(2)] == ["echo"]
    # /users/{login}/repos lists public repositories only.
    assert [r.name for r in g.get_user(login).get_repos()] == ["alpha", "bravo", "charlie", "delta"]
    assert g.get_user(login).public_repos == 4

    fetched = g.get_repo(f"{login}/charlie")
    assert (fetched.id, fetched.description, fetched.private, fetched.default_branch) == (
        next(r.id for r in repos if r.name == "charlie"), "the charlie repo", False, "main")
    assert g.get_repo(f"{login}/ECHO").private is True  # names are case-insensitive

    # The Link header itself, exactly as GitHub writes it, pointing back at the gateway.
    headers, _ = g.requester.requestJsonAndCheck("GET", "/user/repos", parameters={"per_page": 2, "page": 2})
    base = f"{gateway.base_url}/user/repos"
    assert headers["link"] == (f'<{base}?page=1&per_page=2>; rel="prev", <{base}?page=3&per_page=2>; rel="next", '
                               f'<{base}?page=3&per_page=2>; rel="last", <{base}?page=1&per_page=2>; rel="first"')
    for name in ("x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-reset", "x-ratelimit-used"):
        assert headers[name].isdigit(), name
    assert headers["x-ratelimit-resource"] == "core"
    remaining, limit = g.rate_limiting
    assert 0 <= remaining <= limit

    core = g.get_rate_limit().resources.core
    assert core.limit == 5000 and core.used > 10 and core.remaining == core.limit - core.used
    assert g.get_rate_limit().resources.core.used == core.used  # /rate_limit is not counted

    with pytest.raises(GithubException) as duplicate:
        me.create_repo("Alpha")
    assert duplicate.value.status == 422
    assert duplicate.value.data["message"] == "Validation Failed"
    assert duplicate.value.data["errors"] == [{"resource": "Repository", "code": "custom", "field": "name",
                                               "message": "name already exists on this account"}]
    assert duplicate.value.data["documentation_url"].startswith("https://docs.github.com/")

    with pytest.raises(UnknownObjectException) as missing:
        g.get_repo(f"{login}/nope")
    assert missing.value.status == 404 and missing.value.data["message"] == "Not Found"
    with pytest.raises(UnknownObjectException):
        g.get_user("octocat")  # another account: the mock only knows its caller
    with pytest.raises(UnknownObjectException):
        g.get_repo("octocat/alpha")
    with pytest.raises(UnknownObjectException):
        g.requester.requestJsonAndCheck("GET", "/no/such/route")


def test_issues_comments_and_pull_requests_flow_through_pygithub(gateway):
    g = client(gateway, per_page=3)
    repo = g.get_user().create_repo("tracker")

    issues = [repo.create_issue(f"bug {n}", body=f"details {n}") for n in range(1, 6)]
    assert [i.number for i in issues] == [1, 2, 3, 4, 5]
    first = issues[0]
    assert (first.title, first.body, first.state, first.user.login) == ("bug 1", "details 1", "open",
                                                                        repo.owner.login)
    assert first.url == f"{repo.url}/issues/1" and first.html_url.endswith("/tracker/issues/1")
    assert first.created_at.tzinfo is not None and first.closed_at is None

    # Comments: posted to issue.url + "/comments", listed across pages.
    for n in range(4):
        first.create_comment(f"comment {n}")
    comments = first.get_comments()
    assert [c.body for c in comments] == [f"comment {n}" for n in range(4)]
    assert comments.totalCount == 4
    assert repo.get_issue(1).comments == 4
    assert repo.get_issue(1).get_comment(comments[0].id).body == "comment 0"
    assert list(repo.get_issue(2).get_comments()) == []

    # Close two, then filter by state; newest first, as GitHub sorts by default.
    first.edit(state="closed")
    repo.get_issue(3).edit(state="closed", state_reason="not_planned")
    closed = repo.get_issue(1)
    assert (closed.state, closed.state_reason) == ("closed", "completed")
    assert closed.closed_at is not None and closed.closed_by.login == repo.owner.login
    assert [i.number for i in repo.get_issues()] == [5, 4, 2]
    assert [i.number for i in repo.get_issues(state="closed")] == [3, 1]
    assert repo.get_issues(state="all").totalCount == 5
    assert [i.number for i in repo.get_issues(state="all", direction="asc")] == [1, 2, 3, 4, 5]
    assert g.get_repo(repo.full_name).open_issues_count == 3

    # Pull requests share the issue numbering and show up in the issue list.
    pull = repo.create_pull(title="Fix bug 2", body="Closes #2", head="fix-2", base="main")
    draft = repo.create_pull(title="WIP", body="", head=f"{repo.owner.login}:wip", base="main", draft=True)
    assert (pull.number, draft.number) == (6, 7)
    assert (pull.head.ref, pull.base.ref, pull.state, pull.merged, pull.draft) == ("fix-2", "main", "open",
                                                                                  False, False)
    assert pull.head.repo.full_name == repo.full_name and len(pull.head.sha) == 40
    assert pull.user.login == repo.owner.login and pull.url == f"{repo.url}/pulls/6"
    assert [p.number for p in repo.get_pulls()] == [7, 6]
    fetched = repo.get_pull(6)
    assert (fetched.title, fetched.body, fetched.draft) == ("Fix bug 2", "Closes #2", False)
    assert repo.get_pull(7).draft is True
    as_issue = repo.get_issue(6)
    assert as_issue.pull_request is not None and as_issue.as_pull_request().number == 6
    assert repo.get_issues().totalCount == 5  # 3 open issues + 2 open pull requests

    fetched.edit(state="closed")
    assert [p.number for p in repo.get_pulls(state="closed")] == [6]
    assert [p.number for p in repo.get_pulls()] == [7]

    # GitHub's validation errors for issues and pulls.
    with pytest.raises(GithubException) as same_branch:
        repo.create_pull(title="nothing", body="", head="main", base="main")
    assert same_branch.value.status == 422
    assert same_branch.value.data["errors"][0]["message"] == "No commits between main and main"
    with pytest.raises(GithubException) as no_title:
        g.requester.requestJsonAndCheck("POST", f"{repo.url}/issues", input={"body": "x"})
    assert no_title.value.status == 422
    assert no_title.value.data["errors"] == [{"resource": "Issue", "code": "missing_field", "field": "title"}]
    with pytest.raises(UnknownObjectException):
        repo.get_issue(99)
    with pytest.raises(UnknownObjectException):
        repo.get_pull(1)  # an issue, not a pull request


def test_each_user_and_each_mode_has_its_own_github_account(gateway):
    live = client(gateway)
    login = live.get_user().login
    live.get_user().create_repo("mine").create_issue("live issue")

    # The sandbox key is the same login but an empty account.
    sandbox = client(gateway, gateway.test_key)
    assert sandbox.get_user().login == login
    assert sandbox.get_user().get_repos().totalCount == 0
    with pytest.raises(UnknownObjectException):
        sandbox.get_repo(f"{login}/mine")
    sandbox.get_user().create_repo("mine")  # no clash with the live repository
    assert sandbox.get_repo(f"{login}/mine").get_issues().totalCount == 0
    assert live.get_repo(f"{login}/mine").get_issues().totalCount == 1

    other_live, other_test = second_user_keys(gateway)
    other = client(gateway, other_live)
    other_login = other.get_user().login
    assert other_login != login
    assert other.get_user().get_repos().totalCount == 0
    with pytest.raises(UnknownObjectException):
        other.get_repo(f"{login}/mine")
    with pytest.raises(UnknownObjectException):
        other.get_user(login)
    assert [r.full_name for r in other.get_user().get_repos()] == []
    assert client(gateway, other_test).get_user().login == other_login


# --- directly through the plugin host (no gateway): edge cases of the wire format -----------

def test_unparsable_json_is_a_github_400_and_wrong_methods_are_404(call):
    result = call("POST", "/user/repos", body=b"{nope", headers={"content-type": "application/json"})
    assert result.status == 400
    assert result.json()["message"] == "Problems parsing JSON"
    result = call("DELETE", "/user")
    assert (result.status, result.json()["message"]) == (404, "Not Found")
    assert result.headers["X-RateLimit-Resource"] == "core"


def test_links_use_the_configured_base_url_and_keep_other_query_parameters(call):
    config = {"api_base_url": "https://api.example.test/prod/plugins/github/v1/"}
    call("POST", "/user/repos", body=b'{"name": "r"}', config=config)
    for n in range(3):
        call("POST", "/repos/usr-test/r/issues", body=b'{"title": "t%d"}' % n, config=config)

    result = call("GET", "/repos/usr-test/r/issues", query={"state": ["all"], "per_page": ["1"], "page": ["2"]},
                  config=config)
    assert result.status == 200 and [i["number"] for i in result.json()] == [2]
    links = dict((rel, url) for url, rel in re.findall(r'<([^>]+)>; rel="(\w+)"', result.headers["Link"]))
    assert set(links) == {"prev", "next", "last", "first"}
    assert all(url.startswith("https://api.example.test/prod/plugins/github/v1/repos/usr-test/r/issues?")
               for url in links.values())
    assert parse_qs(urlsplit(links["last"]).query) == {"state": ["all"], "page": ["3"], "per_page": ["1"]}
    assert result.json()[0]["url"] == "https://api.example.test/prod/plugins/github/v1/repos/usr-test/r/issues/2"


# --- how the marketplace teaches it: the page's example ------------------------------------------
def test_the_python_example_on_the_plugin_page_creates_a_repository_and_an_issue(gateway, manifest):
    import contextlib
    import io

    code = manifest["client"]["snippets"]["python"].replace("{{BASE_URL}}", gateway.base_url)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code.replace("{{API_KEY}}", gateway.live_key), "example", "exec"), {})  # noqa: S102
    full_name, number = out.getvalue().split()
    assert number == "1" and full_name.endswith("/demo")
    assert client(gateway).get_repo(full_name).get_issue(1).title == "Bug"
