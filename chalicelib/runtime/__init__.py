"""Plugin runtime port: how the gateway runs a plugin function (a Lambda, or local workers)."""
