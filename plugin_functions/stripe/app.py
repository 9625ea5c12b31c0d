"""The stripe plugin's own Lambda: one function, ``handler``, speaking the plugin protocol.

Chalice ships only app.py, chalicelib/ and vendor/, so the plugin code and its
manifest live in chalicelib/. Memory and timeout in .chalice/config.json are
generated from the manifest (``python -m infra.plugin_config``); never edit them.
"""
from chalice import Chalice
from mocklib_plugin_sdk import make_lambda_handler

from chalicelib.plugin import StripePlugin

app = Chalice(app_name="mf-plugin-stripe-v1")
_handle = make_lambda_handler(StripePlugin, "manifest.json")


@app.lambda_function(name="handler")
def handler(event, context):
    return _handle(event, context)
