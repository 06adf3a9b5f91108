"""The per-recipient key layout in a real three-primary Redis Cluster
(issue #16): the script of one request runs in one slot (no CROSSSLOT),
on the node that owns the recipient's slot. The gateway does not follow
MOVED yet: pointed at one node, recipients whose slot is elsewhere get
the failure mode, and dsctl refuses to write on a node that is not the
slot's owner."""

import os
import subprocess

import pytest

from conftest import REDIS_TLS, Redis, dsctl, free_port, wait_for
from test_ratelimit import get, limited_policy, redis_conf

pytestmark = pytest.mark.skipif(REDIS_TLS, reason="cluster create in "
                                "plaintext only")


class ClusterRedis(Redis):
    def args(self):
        # the bus port defaults to port + 10000, beyond 65535 for the
        # high ports free_port() may give: pick it as well
        return super().args() + [
            "--cluster-port", str(free_port()),
            "--cluster-enabled", "yes",
            "--cluster-config-file",
            os.path.join(self.workdir, "nodes.conf"),
            "--cluster-node-timeout", "2000"]


@pytest.fixture
def cluster(tmp_path):
    nodes = []
    try:
        for i in range(3):
            d = tmp_path / ("node%d" % i)
            d.mkdir()
            n = ClusterRedis(str(d))
            n.start()
            nodes.append(n)
        r = subprocess.run(
            nodes[0].cli_argv() + ["--cluster", "create"]
            + ["127.0.0.1:%d" % n.port for n in nodes]
            + ["--cluster-replicas", "0", "--cluster-yes"],
            capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stdout + r.stderr
        for n in nodes:
            wait_for(lambda: "cluster_state:ok" in n.cli("CLUSTER", "INFO"),
                     timeout=20, what="cluster_state:ok")
        yield nodes
    finally:
        for n in nodes:
            n.stop()


def owner(nodes, key):
    """the primary serving key's slot: the others answer MOVED"""
    found = [n for n in nodes if "MOVED" not in n.cli("GET", key)]
    assert len(found) == 1, [n.cli("GET", key) for n in nodes]
    return found[0]


def test_one_slot_per_recipient_in_a_real_cluster(nginx, cluster, request):
    request.node.allow_log = ("MOVED",)
    fa = owner(cluster, "{fraud-analytics}")
    dp = owner(cluster, "{distribution-partner}")
    # the two recipients' slots (9729 and 749) sit on different primaries
    assert fa is not dp

    ng = nginx(policy=limited_policy({"requests": 3, "per": "hour"}),
               http_extra=redis_conf(fa))
    assert [get(ng).status_code for _ in range(4)] == [200, 200, 200, 429]
    assert fa.cli("KEYS", "*") == "ds:{fraud-analytics}:rl"
    # a recipient whose slot is on another node: failure mode (closed)
    assert get(ng, who="dist").status_code == 503

    r = dsctl("revoke", "recipient", "fraud-analytics", "--redis",
              "127.0.0.1:%d" % fa.port)
    assert r.returncode == 0, r.stderr
    wait_for(lambda: get(ng).status_code == 403, timeout=1, interval=0.05,
             what="the revocation")
    assert dsctl("unrevoke", "recipient", "fraud-analytics", "--redis",
                 "127.0.0.1:%d" % fa.port).returncode == 0
    assert dsctl("revoke", "token", "fa-1", "--recipient", "fraud-analytics",
                 "--redis", "127.0.0.1:%d" % fa.port).returncode == 0
    assert get(ng).status_code == 401

    # a node that does not own the slot answers MOVED: dsctl fails, 2
    r = dsctl("revoke", "recipient", "fraud-analytics", "--redis",
              "127.0.0.1:%d" % dp.port)
    assert r.returncode == 2
    assert "MOVED" in r.stderr
