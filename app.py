"""Chalice entry point: registers the blueprints of every bounded context. Thin by design."""
from chalice import Chalice

from chalicelib.auth.routes import bp as auth_routes
from chalicelib.catalog.routes import bp as catalog_routes
from chalicelib.gateway.routes import bp as gateway_routes
from chalicelib.installs.routes import bp as install_routes
from chalicelib.metering.routes import bp as usage_routes
from chalicelib.platform.routes import bp as platform_routes

app = Chalice(app_name="mockfactory-marketplace")
app.register_blueprint(platform_routes)
app.register_blueprint(auth_routes)
app.register_blueprint(catalog_routes)
app.register_blueprint(install_routes)
app.register_blueprint(usage_routes)
app.register_blueprint(gateway_routes)
