"""gunicorn's settings for the hotline, read by gunicorn from the working directory
(`gunicorn 'app:create_app()'` in the project folder; command-line flags still win).

Why each one (measured with bash bench/webhooks.sh, figures in bench/README.md):
- preload_app: the app (Flask, SQLAlchemy's mappers, the flows, Babel's data) is
  imported once in the master and shared copy-on-write by the workers; a worker that
  dies is replaced in milliseconds instead of re-importing everything.  create_app
  opens no connection (engine, Redis and the directory are created on first use), so
  no socket is shared across the fork.
- when_ready: Babel's locale data (4.5 MiB a worker, bench/results/memory.md) and the
  twilio REST client's resource modules (1 to 2.5 s to import on first use, which a caller
  would wait: extensions.warm_rest_client) are loaded in the master, once, and shared.
- gc.freeze() before each fork: the objects built at import move to the permanent
  generation, so the collector never walks them again (less CPU per request, and no
  copy-on-write of the shared pages by the collector touching their headers).
- a larger first-generation threshold: a webhook allocates a few thousand objects
  (form parsing, TwiML, ORM rows) that die with the request; collecting every 700
  allocations ran the collector several times per request.
- Prometheus' multiprocess mode (monitoring/metrics.py): each worker writes its figures
  to files in PROMETHEUS_MULTIPROC_DIR and a scrape adds up every worker's, whichever
  worker answers it.  The variable must be set before prometheus_client is imported,
  so here, before the app is loaded (deploy/hotline-web.service sets it to a runtime
  directory; otherwise a temporary one is made and removed at exit).  The directory is
  emptied at start (figures of an earlier run would be added in), and child_exit lets
  prometheus_client forget a dead worker's live gauges.
"""

import gc
import os
import shutil
import tempfile
from pathlib import Path

_made_metrics_dir = None
if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    _made_metrics_dir = os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="hotline-metrics-")

preload_app = True
# gthread: a thread per request in flight, and idle keep-alive connections in a poller.
# The live push (queueing/push.py: the consoles' and wallboards' server-sent events)
# holds one thread per open stream, asleep until the ACD's agent log changes; the push
# module refuses streams beyond HOTLINE_STREAMS_PER_PROCESS (default 60, a 503 the page
# answers by polling), so 4 threads always remain for the webhooks and pages.  One web
# process therefore carries 60 agents' consoles (bench/push.py measures the delay with
# them all connected, figures in bench/README.md); more agents: more workers (-w).
# Not gevent: psycopg, SQLAlchemy's pool and RQ would need monkey-patching for it.
worker_class = "gthread"
threads = 4 + int(os.environ.get("HOTLINE_STREAMS_PER_PROCESS", "60"))


def on_starting(server):
    # Before the first fork; the preloaded app wrote nothing but zeros for the master.
    # Only prometheus_client's own files (<kind>_<pid>.db), whatever else shares the folder.
    for kind in ("counter", "gauge", "histogram", "summary"):
        for stale in Path(os.environ["PROMETHEUS_MULTIPROC_DIR"]).glob(f"{kind}_*.db"):
            stale.unlink()


def child_exit(server, worker):
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def on_exit(server):
    if _made_metrics_dir:
        shutil.rmtree(_made_metrics_dir, ignore_errors=True)


def when_ready(server):
    # After the app is loaded (preload_app), before the first fork: data every worker would
    # otherwise load for itself on first use is loaded once and shared.
    from extensions import warm_rest_client
    from wording import speaking

    speaking.warm()
    warm_rest_client()  # the first caller put through to an agent would wait for these imports


def pre_fork(server, worker):
    gc.freeze()


def post_fork(server, worker):
    gc.set_threshold(50_000, 20, 20)
    if os.environ.get("HOTLINE_TRACEMALLOC"):  # bench/load.py --tracemalloc: what grows in a worker
        from bench import memtrace

        memtrace.start_in_worker()


# Idle keep-alive connections stay open longer than a caller listens to a prompt: with
# gunicorn's default of 2 s, the carrier reused a connection at the moment the worker
# closed it and the webhook failed (bench/load.py: connection failures, Twilio's 11205).
# gthread keeps idle connections in its poller, not in a thread.
keepalive = 75
