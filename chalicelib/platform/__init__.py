"""Platform endpoints: health and the OpenAPI description of the API."""
