/*
 * Redis Cluster's pure parts: CRC16 / key slots (against the values
 * Redis documents), MOVED / ASK parsing, the slot map.
 */

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "ds_cluster.h"
#include "ds_gcra.h"


static unsigned
slot(const char *key)
{
    return ds_cluster_key_slot(key, strlen(key));
}


static void
test_crc16(void **state)
{
    (void) state;

    /* the CRC16-CCITT (XMODEM) check value */
    assert_int_equal(ds_cluster_crc16("123456789", 9), 0x31c3);
    assert_int_equal(ds_cluster_crc16("", 0), 0);
}


static void
test_key_slot(void **state)
{
    (void) state;

    /* CLUSTER KEYSLOT examples of the Redis documentation */
    assert_int_equal(slot("somekey"), 11058);
    assert_int_equal(slot("foo{hash_tag}"), 2515);
    assert_int_equal(slot("bar{hash_tag}"), 2515);
    assert_int_equal(slot("foo"), 12182);

    /* the hash tag rules of the cluster specification */
    assert_int_equal(slot("{user1000}.following"),
                     slot("{user1000}.followers"));
    assert_int_equal(slot("foo{}{bar}"),
                     ds_cluster_crc16("foo{}{bar}", 10) & 16383);
    assert_int_equal(slot("foo{{bar}}zap"), slot("{bar"));
    assert_int_equal(slot("foo{bar}{zap}"), slot("bar"));
    assert_int_equal(slot("{"), ds_cluster_crc16("{", 1) & 16383);
}


static void
test_recipient_keys_share_a_slot(void **state)
{
    char      key[DS_GCRA_KEY_MAX];
    unsigned  s, k;

    (void) state;

    ds_gcra_limit_key(key, sizeof(key), "ds:", "fraud-analytics", NULL);
    s = slot(key);
    assert_int_equal(s, slot("fraud-analytics"));

    ds_gcra_limit_key(key, sizeof(key), "ds:", "fraud-analytics", "claims");
    assert_int_equal(slot(key), s);

    for (k = 0; k <= DS_GCRA_REVOKED_SUBJECTS; k++) {
        ds_gcra_revoked_key(key, sizeof(key), "ds:", "fraud-analytics",
                            (ds_gcra_revoked_t) k);
        assert_int_equal(slot(key), s);
    }
}


static void
test_redirect(void **state)
{
    const char             *e;
    ds_cluster_redirect_t   r;

    (void) state;

    e = "MOVED 3999 127.0.0.1:6381";
    assert_int_equal(ds_cluster_parse_redirect(e, strlen(e), &r), 1);
    assert_int_equal(r.kind, DS_CLUSTER_MOVED);
    assert_int_equal(r.slot, 3999);
    assert_string_equal(r.host, "127.0.0.1");
    assert_int_equal(r.port, 6381);

    e = "ASK 16383 redis-2.internal:7000";
    assert_int_equal(ds_cluster_parse_redirect(e, strlen(e), &r), 1);
    assert_int_equal(r.kind, DS_CLUSTER_ASK);
    assert_int_equal(r.slot, 16383);
    assert_string_equal(r.host, "redis-2.internal");
    assert_int_equal(r.port, 7000);

    /* IPv6: the port is after the last colon */
    e = "MOVED 0 ::1:6380";
    assert_int_equal(ds_cluster_parse_redirect(e, strlen(e), &r), 1);
    assert_string_equal(r.host, "::1");
    assert_int_equal(r.port, 6380);

    /* unknown endpoint: the node asked */
    e = "MOVED 7 :6380";
    assert_int_equal(ds_cluster_parse_redirect(e, strlen(e), &r), 1);
    assert_string_equal(r.host, "");

    /* other errors are not redirections */
    e = "NOSCRIPT No matching script";
    assert_int_equal(ds_cluster_parse_redirect(e, strlen(e), &r), 0);
    e = "MOVEDX 1 a:1";
    assert_int_equal(ds_cluster_parse_redirect(e, strlen(e), &r), 0);

    /* malformed ones are refused */
    e = "MOVED 16384 a:1";
    assert_int_equal(ds_cluster_parse_redirect(e, strlen(e), &r), -1);
    e = "MOVED 1 a";
    assert_int_equal(ds_cluster_parse_redirect(e, strlen(e), &r), -1);
    e = "MOVED 1 a:0";
    assert_int_equal(ds_cluster_parse_redirect(e, strlen(e), &r), -1);
    e = "MOVED 1 a:65536";
    assert_int_equal(ds_cluster_parse_redirect(e, strlen(e), &r), -1);
    e = "MOVED 1 a:1 extra";
    assert_int_equal(ds_cluster_parse_redirect(e, strlen(e), &r), -1);
    e = "MOVED x a:1";
    assert_int_equal(ds_cluster_parse_redirect(e, strlen(e), &r), -1);
    e = "MOVED 1";
    assert_int_equal(ds_cluster_parse_redirect(e, strlen(e), &r), -1);
    e = "ASK  a:1";
    assert_int_equal(ds_cluster_parse_redirect(e, strlen(e), &r), -1);
}


static void
test_map(void **state)
{
    ds_cluster_map_t         *m;
    const ds_cluster_node_t  *n;

    (void) state;

    m = malloc(sizeof(*m));
    assert_non_null(m);
    ds_cluster_map_init(m);

    assert_null(ds_cluster_map_node(m, 0));
    assert_int_equal(ds_cluster_map_complete(m), 0);

    /* what CLUSTER SLOTS says of a three-primary cluster */
    assert_int_equal(ds_cluster_map_add(m, 0, 5460, "127.0.0.1", 9, 7001),
                     0);
    assert_int_equal(ds_cluster_map_add(m, 5461, 10922, "127.0.0.1", 9,
                                        7002), 1);
    assert_int_equal(ds_cluster_map_complete(m), 0);
    assert_int_equal(ds_cluster_map_add(m, 10923, 16383, "127.0.0.1", 9,
                                        7003), 2);
    assert_int_equal(ds_cluster_map_complete(m), 1);

    n = ds_cluster_map_node(m, 5461);
    assert_non_null(n);
    assert_int_equal(n->port, 7002);
    assert_int_equal(ds_cluster_map_node(m, 16383)->port, 7003);
    assert_null(ds_cluster_map_node(m, 16384));

    /* a MOVED re-homes one slot onto a known node, no new entry */
    assert_int_equal(ds_cluster_map_moved(m, 5461, "127.0.0.1", 7001), 0);
    assert_int_equal(ds_cluster_map_node(m, 5461)->port, 7001);
    assert_int_equal(ds_cluster_map_node(m, 5462)->port, 7002);
    assert_int_equal(m->nnodes, 3);

    /* bad ranges, hosts, ports */
    assert_int_equal(ds_cluster_map_add(m, 5, 4, "h", 1, 1), -1);
    assert_int_equal(ds_cluster_map_add(m, 0, 16384, "h", 1, 1), -1);
    assert_int_equal(ds_cluster_map_add(m, 0, 0, "", 0, 1), -1);
    assert_int_equal(ds_cluster_map_add(m, 0, 0, "h", 1, 0), -1);
    assert_int_equal(ds_cluster_map_add(m, 0, 0, "h", 1, 65536), -1);
    assert_int_equal(ds_cluster_map_add(m, 0, 0, "a\0b", 3, 1), -1);
    assert_int_equal(ds_cluster_map_moved(m, 0, "", 7001), -1);
    assert_int_equal(ds_cluster_map_node(m, 0)->port, 7001);

    free(m);
}


static void
test_map_full(void **state)
{
    char               host[16];
    unsigned           i;
    ds_cluster_map_t  *m;

    (void) state;

    m = malloc(sizeof(*m));
    assert_non_null(m);
    ds_cluster_map_init(m);

    for (i = 0; i < DS_CLUSTER_NODES_MAX; i++) {
        snprintf(host, sizeof(host), "10.0.0.%u", i);
        assert_int_equal(ds_cluster_map_add(m, i, i, host, strlen(host),
                                            6379), (int) i);
    }

    assert_int_equal(ds_cluster_map_add(m, 100, 100, "10.0.1.1", 8, 6379),
                     -1);
    assert_null(ds_cluster_map_node(m, 100));

    free(m);
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_crc16),
        cmocka_unit_test(test_key_slot),
        cmocka_unit_test(test_recipient_keys_share_a_slot),
        cmocka_unit_test(test_redirect),
        cmocka_unit_test(test_map),
        cmocka_unit_test(test_map_full),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
