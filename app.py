"""Chalice entry point: registers the blueprints of every bounded context and the
background functions. Thin by design."""
from chalice import Chalice, Cron, Rate

from chalicelib.audit.routes import bp as audit_routes
from chalicelib.auth.routes import bp as auth_routes
from chalicelib.billing.routes import bp as billing_routes
from chalicelib.catalog.routes import bp as catalog_routes
from chalicelib.gateway.routes import bp as gateway_routes
from chalicelib.installs.routes import bp as install_routes
from chalicelib.licensing.routes import bp as licensing_routes
from chalicelib.metering.routes import bp as usage_routes
from chalicelib.notifications.routes import bp as notification_routes
from chalicelib.payouts.routes import bp as payout_routes
from chalicelib.platform.routes import bp as platform_routes
from chalicelib.publishing.routes import bp as publishing_routes
from chalicelib.revenue.routes import bp as ledger_routes
from chalicelib.trust.routes import bp as trust_routes
from chalicelib.webhooks.routes import bp as webhook_routes
from chalicelib.http import binary_bodies, http_middleware
from chalicelib.wiring import container

app = Chalice(app_name="mockfactory-marketplace")
binary_bodies(app)
app.register_middleware(http_middleware, "http")
app.register_blueprint(platform_routes)
app.register_blueprint(auth_routes)
app.register_blueprint(catalog_routes)
app.register_blueprint(install_routes)
app.register_blueprint(usage_routes)
app.register_blueprint(webhook_routes)
app.register_blueprint(billing_routes)
app.register_blueprint(payout_routes)
app.register_blueprint(notification_routes)
app.register_blueprint(licensing_routes)
app.register_blueprint(publishing_routes)
app.register_blueprint(trust_routes)
app.register_blueprint(audit_routes)
app.register_blueprint(ledger_routes)
app.register_blueprint(gateway_routes)


@app.lambda_function(name="webhook_dispatcher")
def webhook_dispatcher(event, context):
    """First attempt of a webhook delivery, invoked asynchronously by the gateway."""
    container().webhooks.attempt(tuple(event["key"]))


@app.lambda_function(name="submission_checks")
def submission_checks(event, context):
    """A submitted package's automated checks, invoked asynchronously on submission. Its own role
    (.chalice/policy-checks-<stage>.json): no table, no secret; it never builds the container."""
    from chalicelib.publishing import checks_function

    return checks_function.run(event)


@app.schedule(Rate(1, unit=Rate.MINUTES), name="webhook_retries")
def webhook_retries(event):
    """Retries of webhook deliveries whose backoff has passed."""
    return {"attempted": container().webhooks.retry_due()}


@app.schedule(Rate(1, unit=Rate.MINUTES), name="plugin_pipeline")
def plugin_pipeline(event):
    """The checks function's results collected; approved plugin deployments followed until live."""
    return container().publishing.run_pipeline()


@app.schedule(Cron(5, "*", "*", "*", "?", "*"), name="hourly_aggregation")
def hourly_aggregation(event):
    """Hour counters -> monthly, period and daily totals (rated into the ledger); auto-disable; payment
    graces; dunning of failed usage invoices; payouts still pending retried."""
    from chalicelib import jobs  # here, not at the top: the API's cold start never needs the jobs

    return jobs.hourly(container())


@app.schedule(Cron(0, 3, "*", "*", "?", "*"), name="ledger_check")
def ledger_check(event):
    """03:00 UTC daily: prove the ledger's invariants; a failure alerts the admins."""
    from chalicelib import jobs

    return jobs.ledger_check(container())


@app.schedule(Cron(0, 0, "1,15", "*", "?", "*"), name="payouts")
def payouts(event):
    """00:00 UTC on the 1st and the 15th: settle the closed period and pay developers."""
    from chalicelib import jobs

    return jobs.payouts(container())


@app.schedule(Cron(0, 2, 1, "*", "?", "*"), name="usage_invoices")
def usage_invoices(event):
    """02:00 UTC on the 1st: close last month (its per-call charges invoiced, late ones of earlier months too)."""
    from chalicelib import jobs

    return jobs.invoices(container())
