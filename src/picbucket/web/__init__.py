"""HTTP layer: blueprints that parse requests, authorize, call services, render."""
