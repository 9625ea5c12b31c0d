"""Ratings and reviews through the API, with real usage made through the gateway (moto)."""
from __future__ import annotations

import json

import pytest

from chalicelib.trust.reviews import MIN_CALLS_TO_REVIEW, review_id_for
from tests.support import ECHO_PLUGIN as ECHO
from tests.support import delete, expect_error, get, make_admin, post, publish, put, sign_up

REVIEWS = "/marketplace/plugins/echo/reviews"


@pytest.fixture
def market(client, container):
    dev = sign_up(client, "developer")
    publish(client, dev["access_token"], make_admin(container), ECHO)
    return {"dev": dev["access_token"], "dev_id": dev["user"]["user_id"]}


def a_user(client, calls: int = 0, *, mode: str = "live", email: str | None = None) -> dict:
    """A signed-up user who installed echo and called it ``calls`` times with a ``mode`` key."""
    account = sign_up(client, email=email)
    token = account["access_token"]
    assert post(client, "/plugins/install", {"plugin": "echo", "accept_permissions": ECHO["permissions"]},
                token).status_code == 201
    key = post(client, "/keys", {"name": "k", "mode": mode}, token).json_body["api_key"]
    for _ in range(calls):
        response = client.http.get("/plugins/echo/v1/echo", headers={"Authorization": f"Bearer {key}"})
        assert response.status_code == 200, response.body
    return {"token": token, "key": key, "user_id": account["user"]["user_id"]}


def call_echo(client, user: dict) -> None:
    response = client.http.get("/plugins/echo/v1/echo", headers={"Authorization": f"Bearer {user['key']}"})
    assert response.status_code == 200, response.body


def card(client) -> dict:
    found = get(client, "/marketplace/plugins?q=echo").json_body["plugins"]
    return next(p for p in found if p["name"] == "echo")


def test_a_user_without_usage_cannot_review(client, market):
    user = a_user(client)
    body = expect_error(put(client, REVIEWS, {"stars": 5}, user["token"]), 403, "review_requires_usage")
    assert str(MIN_CALLS_TO_REVIEW) in body["message"]
    assert body["details"] == {"required_calls": MIN_CALLS_TO_REVIEW, "calls": 0}


def test_a_user_can_review_right_after_the_third_call(client, market):
    user = a_user(client, calls=MIN_CALLS_TO_REVIEW - 1)
    body = expect_error(put(client, REVIEWS, {"stars": 4}, user["token"]), 403, "review_requires_usage")
    assert body["details"]["calls"] == MIN_CALLS_TO_REVIEW - 1
    call_echo(client, user)
    created = put(client, REVIEWS, {"stars": 4, "comment": "  Does what it says.  "}, user["token"])
    assert created.status_code == 201, created.body
    review = created.json_body
    assert review["stars"] == 4 and review["comment"] == "Does what it says." and review["helpful"] == 0
    assert review["review_id"] == review_id_for("echo", user["user_id"])
    assert review["edited"] is False and review["reply"] is None


def test_sandbox_calls_count_as_usage_too(client, market):
    user = a_user(client, calls=MIN_CALLS_TO_REVIEW, mode="test")
    assert put(client, REVIEWS, {"stars": 3}, user["token"]).status_code == 201


def test_a_second_put_edits_the_one_review(client, market, container):
    user = a_user(client, calls=3)
    assert put(client, REVIEWS, {"stars": 5, "comment": "great"}, user["token"]).status_code == 201
    edited = put(client, REVIEWS, {"stars": 2, "comment": "broke on me"}, user["token"])
    assert edited.status_code == 200, edited.body
    assert edited.json_body["edited"] is True and edited.json_body["stars"] == 2
    plugin = container.catalog.get_plugin("echo")
    assert (plugin.rating_count, plugin.rating_sum) == (1, 2)
    listing = get(client, REVIEWS).json_body
    assert listing["summary"]["count"] == 1 and listing["summary"]["average"] == 2.0
    assert [r["comment"] for r in listing["reviews"]] == ["broke on me"]


def test_the_developer_cannot_review_their_own_plugin(client, market):
    expect_error(put(client, REVIEWS, {"stars": 5}, market["dev"]), 403, "cannot_review_own_plugin")


def test_only_listed_plugins_take_reviews(client, market):
    user = a_user(client, calls=3)
    expect_error(put(client, "/marketplace/plugins/nope/reviews", {"stars": 5}, user["token"]), 404,
                 "plugin_not_found")
    expect_error(get(client, "/marketplace/plugins/nope/reviews"), 404, "plugin_not_found")


@pytest.mark.parametrize("body", [{"stars": 0}, {"stars": 6}, {"stars": "5"}, {"stars": 4.5}, {"stars": True},
                                  {"comment": "no stars"}, {"stars": 5, "comment": "x" * 2001},
                                  {"stars": 5, "extra": 1}])
def test_invalid_reviews_are_refused(client, market, body):
    user = a_user(client, calls=3)
    expect_error(put(client, REVIEWS, body, user["token"]), 400, "validation_failed")


def test_deleting_a_review_takes_its_stars_out(client, market, container):
    first, second = a_user(client, calls=3), a_user(client, calls=3)
    put(client, REVIEWS, {"stars": 5}, first["token"])
    put(client, REVIEWS, {"stars": 2}, second["token"])
    assert card(client)["rating"] == {"average": 3.5, "count": 2}
    gone = delete(client, REVIEWS, second["token"])
    assert gone.status_code == 200 and gone.json_body["deleted"] is True
    assert card(client)["rating"] == {"average": 5.0, "count": 1}
    expect_error(delete(client, REVIEWS, second["token"]), 404, "review_not_found")
    # and it can be written again, from scratch
    assert put(client, REVIEWS, {"stars": 4}, second["token"]).status_code == 201
    plugin = container.catalog.get_plugin("echo")
    assert (plugin.rating_count, plugin.rating_sum) == (2, 9)


def test_averages_show_on_the_catalog_card_and_detail(client, market):
    for stars in (5, 4, 4):
        put(client, REVIEWS, {"stars": stars}, a_user(client, calls=3)["token"])
    assert card(client)["rating"] == {"average": 4.33, "count": 3}
    assert get(client, "/marketplace/plugins/echo").json_body["rating"] == {"average": 4.33, "count": 3}


def test_the_listing_sorts_paginates_and_never_names_users(client, market):
    users = [a_user(client, calls=3, email=f"reviewer{n}@example.com") for n in range(3)]
    for user, stars in zip(users, (3, 5, 1)):
        put(client, REVIEWS, {"stars": stars, "comment": f"{stars} stars"}, user["token"])
    voter = a_user(client)
    post(client, f"{REVIEWS}/{review_id_for('echo', users[2]['user_id'])}/helpful", None, voter["token"])

    listing = get(client, f"{REVIEWS}?sort=rating_high").json_body
    assert [r["stars"] for r in listing["reviews"]] == [5, 3, 1]
    assert listing["summary"]["distribution"] == {"1": 1, "2": 0, "3": 1, "4": 0, "5": 1}
    assert listing["summary"]["count"] == 3 and listing["summary"]["average"] == 3.0
    assert [r["stars"] for r in get(client, f"{REVIEWS}?sort=rating_low").json_body["reviews"]] == [1, 3, 5]
    assert get(client, f"{REVIEWS}?sort=helpful").json_body["reviews"][0]["stars"] == 1
    assert get(client, f"{REVIEWS}?sort=newest").json_body["reviews"][0]["stars"] == 1
    page = get(client, f"{REVIEWS}?sort=rating_high&page=2&limit=2").json_body
    assert [r["stars"] for r in page["reviews"]] == [1]
    assert page["pagination"] == {"page": 2, "limit": 2, "total": 3, "pages": 2, "has_next": False}
    assert {r["author"] for r in listing["reviews"]} == {"r***"}
    text = json.dumps(listing)
    assert not any(u["user_id"] in text for u in users) and "reviewer" not in text
    expect_error(get(client, f"{REVIEWS}?sort=best"), 400, "validation_failed")
    expect_error(get(client, f"{REVIEWS}?limit=0"), 400, "validation_failed")


def test_a_helpful_vote_counts_once_and_never_on_your_own_review(client, market):
    author, voter = a_user(client, calls=3), a_user(client)
    review_id = put(client, REVIEWS, {"stars": 5}, author["token"]).json_body["review_id"]
    path = f"{REVIEWS}/{review_id}/helpful"
    first = post(client, path, None, voter["token"])
    assert first.status_code == 200 and first.json_body == {"plugin": "echo", "review_id": review_id, "helpful": 1,
                                                            "already_voted": False}
    again = post(client, path, None, voter["token"])
    assert again.status_code == 200 and again.json_body["helpful"] == 1 and again.json_body["already_voted"] is True
    expect_error(post(client, path, None, author["token"]), 403, "cannot_vote_own_review")
    expect_error(post(client, f"{REVIEWS}/rev_nope/helpful", None, voter["token"]), 404, "review_not_found")
    # editing keeps the votes; deleting and writing again starts a new review with none
    assert put(client, REVIEWS, {"stars": 4}, author["token"]).json_body["helpful"] == 1
    delete(client, REVIEWS, author["token"])
    assert put(client, REVIEWS, {"stars": 4}, author["token"]).json_body["helpful"] == 0
    assert post(client, path, None, voter["token"]).json_body == {"plugin": "echo", "review_id": review_id,
                                                                  "helpful": 1, "already_voted": False}


def test_only_the_plugins_developer_replies_and_the_reviewer_hears_of_it(client, market, container):
    author = a_user(client, calls=3)
    review_id = put(client, REVIEWS, {"stars": 2, "comment": "slow"}, author["token"]).json_body["review_id"]
    path = f"/developer/plugins/echo/reviews/{review_id}/reply"
    other_dev = sign_up(client, "developer")["access_token"]
    expect_error(put(client, path, {"text": "not mine"}, other_dev), 403, "not_plugin_owner")
    expect_error(put(client, path, {"text": "hi"}, author["token"]), 403, "insufficient_role")
    expect_error(put(client, path, {"text": ""}, market["dev"]), 400, "validation_failed")
    expect_error(put(client, "/developer/plugins/echo/reviews/rev_nope/reply", {"text": "hi"}, market["dev"]), 404,
                 "review_not_found")

    replied = put(client, path, {"text": "Fixed in 1.0.1"}, market["dev"])
    assert replied.status_code == 200, replied.body
    first = replied.json_body["reply"]
    assert first["text"] == "Fixed in 1.0.1"
    edited = put(client, path, {"text": "Fixed in 1.0.2"}, market["dev"]).json_body["reply"]
    assert edited["text"] == "Fixed in 1.0.2" and edited["created_at"] == first["created_at"]
    assert get(client, REVIEWS).json_body["reviews"][0]["reply"]["text"] == "Fixed in 1.0.2"

    topics = [n["topic"] for n in container.notifications.list(author["user_id"])["notifications"]]
    assert topics.count("trust.review_replied") == 1  # the edit does not notify again
    dev_topics = [n["topic"] for n in container.notifications.list(market["dev_id"])["notifications"]]
    assert dev_topics.count("trust.review_created") == 1


def test_reviews_need_a_signed_in_user(client, market):
    expect_error(client.http.put(REVIEWS, body=json.dumps({"stars": 5}), headers={"Content-Type": "application/json"}),
                 401, "missing_credentials")
