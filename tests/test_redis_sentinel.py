"""Redis Sentinel (REDIS_SENTINELS, REDIS_SENTINEL_SERVICE, REDIS_SENTINEL_PASSWORD): the
hotline's Redis clients, the webhooks' and RQ's, reach the master the sentinels name, and
after a failover the new one, with or without passwords (the sentinels' own, and REDIS_URL's
for the master and the replicas); a start-up with sentinels that cannot be reached or refuse
the password is refused, in Chinese and English.  Real servers of the test's own: a master,
a replica and a sentinel (redis-server --sentinel), never the machine's Redis."""

from __future__ import annotations

import shutil

import pytest
import redis

import settings as settings_module
from app import ROOT
from extensions import Hotline, sentinels, sentinels_refusal
from settings import Environment
from tests.faults import Flask, OwnRedis, Sentinel, eventually, free_port

SERVICE = "hotline-test"

pytestmark = pytest.mark.skipif(not shutil.which("redis-server"), reason="redis-server (Debian's) runs the sentinel")


SENTINEL_PASSWORD = "sentinel-secret"
REDIS_PASSWORD = "master-secret"


@pytest.fixture(params=[False, True], ids=["no-passwords", "passwords"])
def passwords(request) -> bool:
    return request.param


@pytest.fixture
def servers(tmp_path, passwords):
    password = REDIS_PASSWORD if passwords else None
    master, replica = OwnRedis(password=password).start(), OwnRedis(password=password).start()
    clients = {s.port: redis.Redis(port=s.port, password=password, decode_responses=True) for s in (master, replica)}
    clients[replica.port].replicaof("127.0.0.1", master.port)
    eventually(lambda: clients[replica.port].info("replication")["master_link_status"] == "up", "replicating")
    sentinel = Sentinel(SERVICE, master.port, tmp_path, password=SENTINEL_PASSWORD if passwords else None,
                        auth_pass=password)  # fmt: skip
    # The sentinel has found the replica through the master (it is what it promotes).
    eventually(lambda: sentinel.client.sentinel_slaves(SERVICE), "knowing the replica")
    yield master, replica, sentinel, clients
    sentinel.stop()
    for client in clients.values():
        client.close()
    master.close()
    replica.close()


def environment(sentinel: Sentinel, passwords: bool, **changes) -> Environment:
    values = {
        "redis_sentinels": f"127.0.0.1:{sentinel.port}",
        "redis_sentinel_service": SERVICE,
        "redis_url": f"redis://:{REDIS_PASSWORD}@ignored/3" if passwords else "redis://ignored/3",
        "redis_sentinel_password": SENTINEL_PASSWORD if passwords else None,
    }
    return Environment(**(values | changes))


def hotline(tmp_path, sentinel: Sentinel, passwords: bool = False) -> Hotline:
    settings = settings_module.load(ROOT / "config.yaml")
    env = environment(sentinel, passwords)
    return Hotline(settings=settings.model_copy(update={"env": env}), instance_path=tmp_path)


def test_the_hotline_reaches_the_master_the_sentinels_name_and_the_new_one_after_a_failover(
    tmp_path, servers, passwords
):
    master, replica, sentinel, clients = servers
    app = hotline(tmp_path, sentinel, passwords)
    assert sentinels_refusal(app.settings.env) is None  # start-up's check lets it start
    app.redis.set("sentinel-test", "before")
    app.queue_connection(patient=True).set("sentinel-test-rq", "before")
    # REDIS_URL's database number (and password) is used on the master the sentinel names...
    password = REDIS_PASSWORD if passwords else None
    assert (
        redis.Redis(port=master.port, db=3, password=password, decode_responses=True).get("sentinel-test") == "before"
    )
    # ... and on the replicas it names.
    replicas = sentinels(app.settings.env).slave_for(SERVICE, decode_responses=True)
    eventually(lambda: replicas.get("sentinel-test") == "before", "replicated")

    sentinel.failover()
    eventually(lambda: sentinel.master() == ("127.0.0.1", replica.port), "failed over")
    eventually(lambda: clients[replica.port].info("replication")["role"] == "master", "promoted")
    # Until the sentinel has turned the old master into a replica it still takes writes, which
    # are lost when it becomes one (Redis replicates asynchronously): the failover is over when
    # it has.
    eventually(lambda: clients[master.port].info("replication")["role"] == "slave", "demoted")

    # The clients made before the failover write to the new master: a connection to the old
    # one (now a replica, read-only) is dropped and the sentinel asked again.
    def written() -> bool:
        try:
            app.redis.set("sentinel-test", "after")
            app.queue_connection(patient=False).set("sentinel-test-rq", "after")
            return True
        except redis.exceptions.ConnectionError:
            return False  # the old master still closing its clients

    eventually(written, "written to the new master")
    promoted = redis.Redis(port=replica.port, db=3, password=password, decode_responses=True)
    assert promoted.get("sentinel-test") == "after" and promoted.get("sentinel-test-rq") == "after"
    promoted.close()


def test_sentinels_are_read_as_host_port_pairs_and_anything_else_is_refused():
    env = Environment(redis_sentinels="10.0.5.1:26379, sentinel-b.internal:26380")
    assert env.sentinel_addresses == [("10.0.5.1", 26379), ("sentinel-b.internal", 26380)]
    with pytest.raises(ValueError, match="host:port"):
        Environment(redis_sentinels="10.0.5.1")


# ---- start-up: sentinels that cannot be reached or refuse the password -------------------------


@pytest.fixture
def guarded(tmp_path):
    """A master and a sentinel, both with passwords."""
    master = OwnRedis(password=REDIS_PASSWORD).start()
    sentinel = Sentinel(SERVICE, master.port, tmp_path, password=SENTINEL_PASSWORD, auth_pass=REDIS_PASSWORD)
    yield sentinel
    sentinel.stop()
    master.close()


def test_start_up_is_refused_when_the_sentinels_refuse_the_password_or_cannot_be_reached(guarded):
    wrong = sentinels_refusal(environment(guarded, True, redis_sentinel_password="not-it"))
    assert "Redis 哨兵" in wrong and "no Redis sentinel" in wrong and "refused REDIS_SENTINEL_PASSWORD" in wrong
    missing = sentinels_refusal(environment(guarded, True, redis_sentinel_password=None))
    assert "asks for a password: set REDIS_SENTINEL_PASSWORD" in missing
    nobody = f"127.0.0.1:{free_port()}"
    unreachable = sentinels_refusal(environment(guarded, True, redis_sentinels=nobody), timeout=1)
    assert f"{nobody}: 连接不上 cannot be reached" in unreachable
    unknown = sentinels_refusal(environment(guarded, True, redis_sentinel_service="elsewhere"))
    assert "does not watch 'elsewhere'" in unknown
    master = sentinels_refusal(environment(guarded, True, redis_url="redis://:not-it@ignored/3"))
    assert "拒绝了 REDIS_URL 的密码" in master and "refused the password in REDIS_URL" in master
    # One sentinel down while another answers: that is what there are several for.
    both = f"{nobody},127.0.0.1:{guarded.port}"
    assert sentinels_refusal(environment(guarded, True, redis_sentinels=both), timeout=1) is None


def test_a_worker_started_against_sentinels_that_refuse_its_password_says_so_and_stops(guarded, tmp_path):
    environ = {
        "DATABASE_URL": f"sqlite:///{tmp_path / 'hotline.db'}",
        "REDIS_URL": f"redis://:{REDIS_PASSWORD}@ignored/3",
        "REDIS_SENTINELS": f"127.0.0.1:{guarded.port}",
        "REDIS_SENTINEL_SERVICE": SERVICE,
        "REDIS_SENTINEL_PASSWORD": "not-it",
    }
    with Flask(environ, "worker") as worker:
        eventually(lambda: not worker.alive(), "stopped", seconds=60)
        assert worker.process.returncode != 0
        said = worker.output()
    assert "Redis 哨兵都没有告诉热线主服务器在哪里" in said and "The hotline cannot start" in said
    assert "Traceback" not in said
