"""A new plugin developer's journey on the dev stack, as one story over real HTTP:

``mocklib plugin init`` -> ``mocklib plugin test`` -> ``mocklib plugin publish`` (package, checks in
isolation, review queue) -> an admin approves -> the plugin is in the catalog -> a user installs it
with the CLI and calls it with the client SDK; then the user reviews it.

The CLI runs as the installed ``mocklib`` console script in its own process, as a developer
would run it; each person has their own CLI config file.
"""
from __future__ import annotations

import json
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from devstack.dynamodb import free_port
from mocklib import MockFactory
from tests.e2e.stack import DevStack

MOCKLIB = str(Path(sys.executable).with_name("mocklib"))
PASSWORD = "correct horse battery"


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[DevStack]:
    started = DevStack(tmp_path / "state", free_port(), free_port(), log=tmp_path / "devstack.log").start()
    yield started
    started.kill()


class Person:
    """Somebody at a terminal: their own CLI config, and the API for what the CLI does not do."""

    def __init__(self, stack: DevStack, home: Path, role: str) -> None:
        self.api = stack.url
        self.email = f"{role}-{uuid.uuid4().hex[:8]}@example.com"
        self.env = {"PATH": str(Path(sys.executable).parent), "HOME": str(home), "NO_COLOR": "1",
                    "COLUMNS": "160", "MOCKFACTORY_API_URL": self.api,
                    "MOCKFACTORY_CONFIG": str(home / "mockfactory.json")}
        home.mkdir(parents=True)
        signed_up = requests.post(f"{self.api}/auth/signup", json={"email": self.email, "password": PASSWORD,
                                                                   "role": role}, timeout=10)
        assert signed_up.status_code == 201, signed_up.text
        self.cli("login", "--email", self.email, "--password", PASSWORD)

    def cli(self, *args: str, cwd: Path | None = None, expect: int = 0) -> str:
        done = subprocess.run([MOCKLIB, *args], env=self.env, cwd=cwd, capture_output=True, text=True, timeout=300)
        output = done.stdout + done.stderr
        assert done.returncode == expect, f"mocklib {' '.join(args)} exited {done.returncode}:\n{output}"
        assert "Traceback" not in output, output
        return output


def test_init_test_publish_approve_install_and_call(stack: DevStack, tmp_path: Path) -> None:
    developer = Person(stack, tmp_path / "developer", "developer")
    project = tmp_path / "work" / "weather-notes"
    developer.cli("plugin", "init", "--name", "weather-notes", "--language", "python", "--dir", str(project))
    assert (project / "chalicelib" / "manifest.json").is_file()
    developer.cli("plugin", "test", str(project))
    published = developer.cli("plugin", "publish", str(project))
    assert "in_review" in published

    admin = {"Authorization": f"Bearer {stack.info['admin_token']}"}
    queue = requests.get(f"{stack.url}/admin/reviews", headers=admin, timeout=10).json()["versions"]
    entry = next(v for v in queue if v["plugin"] == "weather-notes")
    assert entry["submission"]["score"] >= 80
    approved = requests.post(f"{stack.url}/admin/plugins/weather-notes/versions/1.0.0/approve",
                             json={"notes": "first review"}, headers=admin, timeout=30)
    assert approved.status_code == 200, approved.text
    assert "passed" in developer.cli("plugin", "logs", "weather-notes")  # the checks' pytest output
    assert requests.get(f"{stack.url}/marketplace/plugins/weather-notes", timeout=10).status_code == 200

    user = Person(stack, tmp_path / "user", "user")
    assert "weather-notes" in user.cli("marketplace", "search", "weather")
    user.cli("plugin", "install", "weather-notes")
    assert "weather-notes" in user.cli("plugin", "list")
    key_output = user.cli("keys", "create", "--name", "laptop", "--mode", "test")
    api_key = next(word for word in key_output.split() if word.startswith("mf_test_"))

    mf = MockFactory(api_key=api_key, api_url=stack.url)
    item = mf.weather_notes.items.create(name="umbrella")
    assert mf.weather_notes.items.get(item.id)["name"] == "umbrella"
    assert [i["id"] for i in mf.weather_notes.items.list()["items"]] == [item.id]

    # Having really used it, the user may review it; the listing shows the rating.
    token = json.loads((tmp_path / "user" / "mockfactory.json").read_text())["access_token"]
    review = requests.put(f"{stack.url}/marketplace/plugins/weather-notes/reviews",
                          json={"stars": 5, "comment": "does what it says"},
                          headers={"Authorization": f"Bearer {token}"}, timeout=10)
    assert review.status_code == 201, review.text
    card: dict[str, Any] = requests.get(f"{stack.url}/marketplace/plugins/weather-notes", timeout=10).json()
    assert card["rating"] == {"average": 5.0, "count": 1}
