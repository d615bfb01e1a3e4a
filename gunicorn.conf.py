"""gunicorn's settings for the hotline, read by gunicorn from the working directory
(`gunicorn 'app:create_app()'` in the project folder; command-line flags still win).

Why each one (measured with bash bench/webhooks.sh, figures in bench/README.md):
- preload_app: the app (Flask, SQLAlchemy's mappers, the flows, Babel's data) is
  imported once in the master and shared copy-on-write by the workers; a worker that
  dies is replaced in milliseconds instead of re-importing everything.  create_app
  opens no connection (engine, Redis and the directory are created on first use), so
  no socket is shared across the fork.
- when_ready: Babel's locale data (4.5 MiB a worker, bench/results/memory.md) is loaded
  in the master, once, and shared.
- gc.freeze() before each fork: the objects built at import move to the permanent
  generation, so the collector never walks them again (less CPU per request, and no
  copy-on-write of the shared pages by the collector touching their headers).
- a larger first-generation threshold: a webhook allocates a few thousand objects
  (form parsing, TwiML, ORM rows) that die with the request; collecting every 700
  allocations ran the collector several times per request.
"""

import gc
import os

preload_app = True
worker_class = "gthread"
threads = 4


def when_ready(server):
    # After the app is loaded (preload_app), before the first fork: data every worker would
    # otherwise load for itself on first use is loaded once and shared.
    from ivr import speaking

    speaking.warm()


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
