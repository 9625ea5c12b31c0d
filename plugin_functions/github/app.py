"""The github plugin's own Lambda: one function, ``handler``, speaking the plugin protocol.

Memory and timeout in .chalice/config.json are generated from the manifest
(``python -m infra.plugin_config github``); never edit them.
"""
from chalice import Chalice
from mocklib_plugin_sdk import make_lambda_handler

from chalicelib.plugin import GitHubPlugin

app = Chalice(app_name="mf-plugin-github-v1")
_handle = make_lambda_handler(GitHubPlugin, "manifest.json")


@app.lambda_function(name="handler")
def handler(event, context):
    return _handle(event, context)
