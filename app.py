"""Chalice entry point: registers the blueprints of every bounded context and the
background functions. Thin by design."""
from chalice import Chalice, Rate

from chalicelib.auth.routes import bp as auth_routes
from chalicelib.catalog.routes import bp as catalog_routes
from chalicelib.gateway.routes import bp as gateway_routes
from chalicelib.installs.routes import bp as install_routes
from chalicelib.metering.routes import bp as usage_routes
from chalicelib.platform.routes import bp as platform_routes
from chalicelib.webhooks.routes import bp as webhook_routes
from chalicelib.wiring import container

app = Chalice(app_name="mockfactory-marketplace")
app.register_blueprint(platform_routes)
app.register_blueprint(auth_routes)
app.register_blueprint(catalog_routes)
app.register_blueprint(install_routes)
app.register_blueprint(usage_routes)
app.register_blueprint(webhook_routes)
app.register_blueprint(gateway_routes)


@app.lambda_function(name="webhook_dispatcher")
def webhook_dispatcher(event, context):
    """First attempt of a webhook delivery, invoked asynchronously by the gateway."""
    container().webhooks.attempt(tuple(event["key"]))


@app.schedule(Rate(1, unit=Rate.MINUTES), name="webhook_retries")
def webhook_retries(event):
    """Retries of webhook deliveries whose backoff has passed."""
    return {"attempted": container().webhooks.retry_due()}
