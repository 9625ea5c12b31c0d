"""``init_project``: a new plugin project that works, is tested and passes every
publishing check (``mocklib_plugin_sdk.checks``) with a score of 100 as written.

The project is a Chalice project like the marketplace's reference plugins
(``plugin_functions/echo``): the plugin and its manifest live in ``chalicelib/``
(Chalice ships only ``app.py``, ``chalicelib/`` and ``vendor/``), ``app.py``
exposes one Lambda function called ``handler``, and ``tests/`` uses the SDK's
pytest fixtures. The example plugin is a small ``items`` resource stored per
user, which shows routing, validation, errors and storage.
"""
from __future__ import annotations

import json
import re
from pathlib import Path
from string import Template
from typing import Any

from .manifest import NAME_PATTERN

PROJECT_NAME = re.compile(r"^[a-z0-9-]+$")
NAME_LENGTH = (3, 40)
LANGUAGES = ("python",)
RUNTIME = {"language": "python", "version": "3.11", "memory_limit_mb": 128, "timeout_seconds": 10}


def class_name_for(name: str) -> str:
    """``weather-api`` -> ``WeatherApiPlugin``."""
    camel = "".join(part[:1].upper() + part[1:] for part in name.split("-") if part)
    if not camel[:1].isalpha():
        camel = "Plugin" + camel
    return f"{camel}Plugin"


def check_project_name(name: str) -> None:
    if not isinstance(name, str) or not PROJECT_NAME.match(name):
        raise ValueError(f"plugin name {name!r} must match ^[a-z0-9-]+$ (lower-case letters, digits, '-')")
    if not NAME_LENGTH[0] <= len(name) <= NAME_LENGTH[1]:
        raise ValueError(f"plugin name {name!r} must be {NAME_LENGTH[0]} to {NAME_LENGTH[1]} characters long")
    if not NAME_PATTERN.match(name):
        raise ValueError(f"plugin name {name!r} must start and end with a letter or digit")


def _manifest(name: str, display_name: str, author: str, class_name: str) -> dict[str, Any]:
    return {
        "name": name,
        "display_name": display_name,
        "version": "1.0.0",
        "author": {"name": author},
        "description": f"{display_name}: a small items API that stores items per user.",
        "category": "devops",
        "tags": ["items", "example"],
        "license": "MIT",
        "pricing": {"tier": "standard", "free_tier_calls": 1000},
        "api": {
            "base_path": f"/plugins/{name}/v1",
            "endpoints": [
                {"method": "POST", "path": "/items", "description": "Create an item"},
                {"method": "GET", "path": "/items", "description": "List the caller's items"},
                {"method": "GET", "path": "/items/{item_id}", "description": "Fetch one item"},
                {"method": "DELETE", "path": "/items/{item_id}", "description": "Delete one item"},
            ],
        },
        "runtime": {**RUNTIME, "handler": f"plugin:{class_name}"},
        "dependencies": {"mockfactory_apis": ["storage", "logger"]},
        "permissions": ["storage:read", "storage:write"],
    }


def _chalice_config(name: str) -> dict[str, Any]:
    function = {"handler": {"lambda_memory_size": RUNTIME["memory_limit_mb"],
                            "lambda_timeout": RUNTIME["timeout_seconds"]}}
    return {
        "version": "2.0",
        "app_name": f"mf-plugin-{name}-v1",
        "stages": {stage: {"lambda_functions": json.loads(json.dumps(function))} for stage in ("dev", "prod")},
    }


PLUGIN_PY = Template('''"""$display_name: a small ``items`` resource, stored per user.

Every call arrives for one marketplace user (live or sandbox); ``self.sdk.storage``
is scoped to that user, so one user never sees another's items.
"""
from __future__ import annotations

from typing import Any

from mocklib_plugin_sdk import NotFoundError, Plugin, Request, Response, endpoint

ITEMS = "items"
ITEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["name"],
    "additionalProperties": False,
    "properties": {
        "name": {"type": "string", "minLength": 1, "maxLength": 200},
        "data": {"type": "object"},
    },
}


class $class_name(Plugin):
    @endpoint("POST", "/items")
    def create_item(self, request: Request) -> Response:
        body = self.sdk.validate_json(request.json(), ITEM_SCHEMA)  # a 400 listing every problem
        item = {
            "id": self.sdk.generate_id("item_"),
            "name": body["name"],
            "data": body.get("data", {}),
            "created_at": self.sdk.now().isoformat(),
        }
        self.sdk.storage.put(ITEMS, item["id"], item)
        self.sdk.logger.info("item created", item_id=item["id"])
        return Response.json(item, status=201)

    @endpoint("GET", "/items")
    def list_items(self, request: Request) -> Response:
        items = [value for _, value in self.sdk.storage.items(ITEMS, limit=100)]
        return Response.json({"items": items})

    @endpoint("GET", "/items/{item_id}")
    def get_item(self, request: Request, item_id: str) -> Response:
        item = self.sdk.storage.get(ITEMS, item_id)
        if item is None:
            raise NotFoundError(f"no item {item_id!r}")
        return Response.json(item)

    @endpoint("DELETE", "/items/{item_id}")
    def delete_item(self, request: Request, item_id: str) -> Response:
        if not self.sdk.storage.delete(ITEMS, item_id):
            raise NotFoundError(f"no item {item_id!r}")
        return Response(204)
''')

APP_PY = Template('''"""The plugin's own Lambda: one function, ``handler``, speaking the plugin protocol.

Chalice ships only app.py, chalicelib/ and vendor/, so the plugin code and its
manifest live in chalicelib/. Keep memory and timeout in .chalice/config.json
equal to ``runtime`` in chalicelib/manifest.json.
"""
from chalice import Chalice
from mocklib_plugin_sdk import make_lambda_handler

from chalicelib.plugin import $class_name

app = Chalice(app_name="mf-plugin-$name-v1")
_handle = make_lambda_handler($class_name, "manifest.json")


@app.lambda_function(name="handler")
def handler(event, context):
    return _handle(event, context)
''')

CONFTEST_PY = '''"""The SDK's fixtures: ``call``, ``host``, ``store``, ``manifest``, ``plugin_dir``."""
pytest_plugins = ["mocklib_plugin_sdk.testing"]
'''

TEST_PY = Template('''"""$display_name through the SDK's PluginHost: in-memory storage, no network."""
from __future__ import annotations


def test_created_items_can_be_fetched(call):
    created = call("POST", "/items", body=b'{"name": "first", "data": {"size": 3}}',
                   headers={"Content-Type": "application/json"})

    assert created.status == 201
    item = created.json()
    assert item["name"] == "first" and item["data"] == {"size": 3}
    fetched = call("GET", f"/items/{item['id']}")
    assert fetched.status == 200
    assert fetched.json() == item


def test_items_are_listed_per_user(call):
    call("POST", "/items", body=b'{"name": "a"}', user="usr_a")
    call("POST", "/items", body=b'{"name": "b"}', user="usr_a")
    call("POST", "/items", body=b'{"name": "c"}', user="usr_b")

    assert sorted(i["name"] for i in call("GET", "/items", user="usr_a").json()["items"]) == ["a", "b"]
    assert [i["name"] for i in call("GET", "/items", user="usr_b").json()["items"]] == ["c"]


def test_deleted_items_are_gone(call):
    item = call("POST", "/items", body=b'{"name": "temporary"}').json()

    assert call("DELETE", f"/items/{item['id']}").status == 204
    assert call("GET", f"/items/{item['id']}").status == 404
    assert call("DELETE", f"/items/{item['id']}").status == 404


def test_invalid_items_are_refused_with_400(call):
    result = call("POST", "/items", body=b'{"data": {}}')

    assert result.status == 400
    assert result.json()["error"]["code"] == "invalid_request"
''')

README_MD = Template('''# $display_name

$display_name is a MockFactory Marketplace plugin: a small items API that stores
items per user (live and sandbox data never mix). Created with
`mocklib-plugin init`; change it into the mock your users need.

Base path on the marketplace: `/plugins/$name/v1`.

## Endpoints

| method | path | what it does |
|---|---|---|
| POST | `/items` | Create an item from a JSON body `{"name": "...", "data": {...}}`; answers 201 with the item |
| GET | `/items` | List the caller's items (up to 100) |
| GET | `/items/{item_id}` | Fetch one item; 404 if the caller has no such item |
| DELETE | `/items/{item_id}` | Delete one item; 204, or 404 if there was none |

## Develop

```
pip install mocklib-plugin-sdk pytest
python -m pytest -q tests                        # the plugin's tests
python -m mocklib_plugin_sdk serve chalicelib    # a local HTTP server on :8080
python -m mocklib_plugin_sdk check .             # the marketplace's publishing checks
```

The manifest (`chalicelib/manifest.json`) declares the endpoints, pricing and
runtime limits; `.chalice/config.json` must keep the same memory and timeout.

## Fidelity to the vendor's API

Mocking a vendor's API? Ship its OpenAPI document in `spec/` (`spec/spec.json` declares it:
file, title, version, source, licence) and every answer your tests get through `call` is
checked against it: `python -m pytest --conformance tests`, or
`python -m mocklib_plugin_sdk fidelity . --write`. The publishing checks measure the same
coverage and conformance, and your plugin page shows them with the spec's version. The
manifest's `client.snippets` (Python, Node, curl, with `{{BASE_URL}}` and `{{API_KEY}}`) and
`changelog` are shown there too.
''')

GITIGNORE = """__pycache__/
*.pyc
.pytest_cache/
.venv/
vendor/
.chalice/deployments/
.chalice/venv/
dist/
"""


def init_project(dest: Path, name: str, language: str = "python", *, author: str = "Plugin Developer",
                 display_name: str | None = None) -> Path:
    """Write a new plugin project at ``dest`` and return ``dest``.

    ValueError for a name that is not ``^[a-z0-9-]+$`` (3 to 40 characters, no
    leading or trailing '-'), a language other than Python, or a ``dest`` that
    exists and is not empty.
    """
    if language != "python":
        raise ValueError(f"language {language!r} is not supported: only Python 3.11 plugins run on the "
                         "marketplace runtime")
    check_project_name(name)
    dest = Path(dest)
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise ValueError(f"{dest} already exists and is not empty")
    display = display_name or " ".join(part.capitalize() for part in name.split("-"))
    class_name = class_name_for(name)
    values = {"name": name, "display_name": display, "class_name": class_name}
    files = {
        "chalicelib/manifest.json": json.dumps(_manifest(name, display, author, class_name), indent=2) + "\n",
        "chalicelib/__init__.py": "",
        "chalicelib/plugin.py": PLUGIN_PY.substitute(values),
        "app.py": APP_PY.substitute(values),
        "requirements.txt": "mocklib-plugin-sdk\n",
        "tests/conftest.py": CONFTEST_PY,
        f"tests/test_{name.replace('-', '_')}.py": TEST_PY.substitute(values),
        "README.md": README_MD.substitute(values),
        ".chalice/config.json": json.dumps(_chalice_config(name), indent=2) + "\n",
        ".gitignore": GITIGNORE,
    }
    for relative, text in files.items():
        path = dest / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return dest


__all__ = ["LANGUAGES", "class_name_for", "check_project_name", "init_project"]
