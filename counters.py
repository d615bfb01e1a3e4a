"""What the web processes count as requests pass, for /metrics (monitoring/metrics.py, which
adds them up at a scrape): webhook latency by route and the apologies served.

Here, apart from the /metrics view, so a voice webhook (ivr/webhooks.py) counts an apology
without importing monitoring, which reads ivr's steps for its labels (issue 19).  Only
prometheus_client: under gunicorn each worker keeps its values in PROMETHEUS_MULTIPROC_DIR.
"""

from __future__ import annotations

from prometheus_client import Counter, Histogram

# A webhook must answer well inside Twilio's 15 s; the target is 100 ms at p99.
WEBHOOK_SECONDS = Histogram(
    "hotline_webhook_duration_seconds",
    "Time to answer a webhook, by route",
    ["route"],
    buckets=(0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 1, 2.5, 5, 15),
)
APOLOGIES = Counter("hotline_apologies_total", "Callers who heard the apology (something broke in a webhook)")


def apology_served() -> None:
    APOLOGIES.inc()
