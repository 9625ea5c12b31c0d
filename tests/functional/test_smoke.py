from tests.support import get, make_admin, manifest, post, publish, sign_up


def test_a_user_can_sign_up_publish_and_install(client, container):
    dev = sign_up(client, "developer")["access_token"]
    admin = make_admin(container)
    publish(client, dev, admin, manifest())
    user = sign_up(client)["access_token"]
    found = get(client, "/marketplace/plugins?q=ech")
    assert found.status_code == 200, found.body
    assert [p["name"] for p in found.json_body["plugins"]] == ["echo"]
    installed = post(client, "/plugins/install", {"plugin": "echo", "accept_permissions": ["storage:read", "storage:write"]}, user)
    assert installed.status_code == 201, installed.body
    assert get(client, "/plugins/installed", user).json_body["installs"][0]["version"] == "1.0.0"
