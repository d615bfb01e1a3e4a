"""What operations watch: /healthz and /readyz (monitoring.health) for probes and
deploy scripts, /metrics (monitoring.metrics) for Prometheus.  Registered by create_app with `monitoring.init_app(app)`; none of it
needs a login, none of it shows patient data."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    from monitoring import metrics
    from monitoring.health import bp as health

    app.register_blueprint(health)
    metrics.init_app(app)
