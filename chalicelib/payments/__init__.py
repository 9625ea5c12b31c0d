"""The payment provider (Stripe) behind a port: billing and payouts talk to this, never to ``stripe``."""
