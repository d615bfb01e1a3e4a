"""Redis Sentinel (REDIS_SENTINELS, REDIS_SENTINEL_SERVICE): the hotline's Redis clients,
the webhooks' and RQ's, reach the master the sentinels name, and after a failover the new
one.  Real servers of the test's own: a master, a replica and a sentinel (redis-server
--sentinel), never the machine's Redis."""

from __future__ import annotations

import shutil

import pytest
import redis

import settings as settings_module
from app import ROOT
from extensions import Hotline
from settings import Environment
from tests.faults import OwnRedis, Sentinel, eventually

SERVICE = "hotline-test"

pytestmark = pytest.mark.skipif(not shutil.which("redis-server"), reason="redis-server (Debian's) runs the sentinel")


@pytest.fixture
def servers(tmp_path):
    master, replica = OwnRedis().start(), OwnRedis().start()
    clients = {s.port: redis.Redis(port=s.port, decode_responses=True) for s in (master, replica)}
    clients[replica.port].replicaof("127.0.0.1", master.port)
    eventually(lambda: clients[replica.port].info("replication")["master_link_status"] == "up", "replicating")
    sentinel = Sentinel(SERVICE, master.port, tmp_path)
    # The sentinel has found the replica through the master (it is what it promotes).
    eventually(lambda: sentinel.client.sentinel_slaves(SERVICE), "knowing the replica")
    yield master, replica, sentinel, clients
    sentinel.stop()
    for client in clients.values():
        client.close()
    master.close()
    replica.close()


def hotline(tmp_path, sentinel: Sentinel) -> Hotline:
    settings = settings_module.load(ROOT / "config.yaml")
    env = Environment(redis_sentinels=f"127.0.0.1:{sentinel.port}", redis_sentinel_service=SERVICE,
                      redis_url="redis://ignored/3")  # fmt: skip
    return Hotline(settings=settings.model_copy(update={"env": env}), instance_path=tmp_path)


def test_the_hotline_reaches_the_master_the_sentinels_name_and_the_new_one_after_a_failover(tmp_path, servers):
    master, replica, sentinel, clients = servers
    app = hotline(tmp_path, sentinel)
    app.redis.set("sentinel-test", "before")
    app.queue_connection(patient=True).set("sentinel-test-rq", "before")
    # REDIS_URL's database number is used on the master the sentinel names.
    assert redis.Redis(port=master.port, db=3, decode_responses=True).get("sentinel-test") == "before"

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
    promoted = redis.Redis(port=replica.port, db=3, decode_responses=True)
    assert promoted.get("sentinel-test") == "after" and promoted.get("sentinel-test-rq") == "after"
    promoted.close()


def test_sentinels_are_read_as_host_port_pairs_and_anything_else_is_refused():
    env = Environment(redis_sentinels="10.0.5.1:26379, sentinel-b.internal:26380")
    assert env.sentinel_addresses == [("10.0.5.1", 26379), ("sentinel-b.internal", 26380)]
    with pytest.raises(ValueError, match="host:port"):
        Environment(redis_sentinels="10.0.5.1")
