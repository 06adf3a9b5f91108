/*
 * Network allow/deny lists: CIDR parsing (v4, v6, IPv4-mapped, edge
 * prefixes, host bits), the merged index, the policy fields and their
 * messages, and network_denied in ds_decide.
 */

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <cmocka.h>

#include "ds_cidr.h"
#include "ds_policy.h"


static ds_ip_t
ip(const char *s)
{
    ds_ip_t  a;

    if (ds_ip_parse(s, &a) != 0) {
        fail_msg("bad address %s", s);
    }

    return a;
}


static ds_ip_range_t
cidr(const char *s)
{
    ds_ip_range_t  r;
    char           why[128];

    if (ds_cidr_parse(s, strlen(s), &r, why, sizeof(why)) != 0) {
        fail_msg("%s: %s", s, why);
    }

    return r;
}


/* the reason for a refused entry, "" when it parses */
static const char *
refused(const char *s)
{
    static char    why[128];
    ds_ip_range_t  r;

    why[0] = '\0';

    if (ds_cidr_parse(s, strlen(s), &r, why, sizeof(why)) == 0) {
        return "";
    }

    return why;
}


static int
in1(const char *net, const char *addr)
{
    ds_ip_range_t  r;
    ds_cidr_set_t  set;
    ds_ip_t        a;

    r = cidr(net);
    set.ranges = &r;
    set.n = 1;
    set.present = 1;
    a = ip(addr);

    return ds_cidr_contains(&set, &a);
}


static void
test_parse_v4(void **state)
{
    (void) state;

    assert_true(in1("10.0.0.0/8", "10.0.0.0"));
    assert_true(in1("10.0.0.0/8", "10.255.255.255"));
    assert_false(in1("10.0.0.0/8", "11.0.0.0"));
    assert_false(in1("10.0.0.0/8", "9.255.255.255"));

    /* /32 and an address alone are one host */
    assert_true(in1("192.0.2.7/32", "192.0.2.7"));
    assert_false(in1("192.0.2.7/32", "192.0.2.8"));
    assert_true(in1("192.0.2.7", "192.0.2.7"));
    assert_false(in1("192.0.2.7", "192.0.2.6"));

    /* IPv4 /0 is every IPv4 address, and no IPv6 one */
    assert_true(in1("0.0.0.0/0", "0.0.0.0"));
    assert_true(in1("0.0.0.0/0", "255.255.255.255"));
    assert_false(in1("0.0.0.0/0", "2001:db8::1"));
    assert_false(in1("0.0.0.0/0", "::1"));
}


static void
test_parse_v6(void **state)
{
    (void) state;

    assert_true(in1("2001:db8::/32", "2001:db8::1"));
    assert_true(in1("2001:db8::/32", "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff"));
    assert_false(in1("2001:db8::/32", "2001:db9::"));

    /* /128, an address alone, across the 64-bit halves */
    assert_true(in1("2001:db8::1/128", "2001:db8::1"));
    assert_false(in1("2001:db8::1/128", "2001:db8::2"));
    assert_true(in1("::1", "::1"));
    assert_true(in1("2001:db8:0:1::/64", "2001:db8:0:1:ffff::"));
    assert_false(in1("2001:db8:0:1::/64", "2001:db8:0:2::"));
    assert_true(in1("2001:db8::/65", "2001:db8::7fff:0:0:0"));
    assert_false(in1("2001:db8::/65", "2001:db8::8000:0:0:0"));
    assert_true(in1("2001:db8::/63", "2001:db8:0:1:ffff::"));

    /* ::/0 is everything, IPv4 included (as IPv4-mapped) */
    assert_true(in1("::/0", "::"));
    assert_true(in1("::/0", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"));
    assert_true(in1("::/0", "203.0.113.1"));
}


static void
test_mapped(void **state)
{
    (void) state;

    /* a v4 list entry admits the same client on a dual-stack socket */
    assert_true(in1("10.0.0.0/8", "::ffff:10.1.2.3"));
    assert_false(in1("10.0.0.0/8", "::ffff:11.1.2.3"));

    /* and a mapped entry is the v4 network */
    assert_true(in1("::ffff:10.0.0.0/104", "10.9.9.9"));
    assert_false(in1("::ffff:10.0.0.0/104", "11.0.0.0"));
    assert_true(in1("::ffff:192.0.2.1", "192.0.2.1"));

    /* not the deprecated IPv4-compatible ::a.b.c.d */
    assert_false(in1("10.0.0.0/8", "::10.1.2.3"));
}


static void
test_refused(void **state)
{
    (void) state;

    assert_string_equal(refused("10.1.2.3/8"),
                        "host bits set: the network is 10.0.0.0/8");
    assert_string_equal(refused("2001:db8::1/32"),
                        "host bits set: the network is 2001:db8::/32");
    assert_string_equal(refused("0.0.0.1/0"),
                        "host bits set: the network is 0.0.0.0/0");
    assert_string_equal(refused("::1/0"),
                        "host bits set: the network is ::/0");
    assert_string_equal(refused("10.0.0.0/33"),
                        "bad prefix length: must be 0 to 32");
    assert_string_equal(refused("::/129"),
                        "bad prefix length: must be 0 to 128");
    assert_string_equal(refused("10.0.0.0/"),
                        "bad prefix length: must be 0 to 32");
    assert_string_equal(refused("10.0.0.0/08"),
                        "bad prefix length: must be 0 to 32");
    assert_string_equal(refused("10.0.0.0/+8"),
                        "bad prefix length: must be 0 to 32");
    assert_string_equal(refused("10.0.0.0/8/8"),
                        "bad prefix length: must be 0 to 32");
    assert_string_equal(refused("10.0.0/8"), "not an IPv4 or IPv6 address");
    assert_string_equal(refused("010.0.0.0/8"),
                        "not an IPv4 or IPv6 address");
    assert_string_equal(refused("example.com"),
                        "not an IPv4 or IPv6 address");
    assert_string_equal(refused(""), "not an IPv4 or IPv6 address");
    assert_string_equal(refused("/8"), "not an IPv4 or IPv6 address");
    assert_string_equal(refused(" 10.0.0.0/8"),
                        "not an IPv4 or IPv6 address");
    assert_string_equal(refused("fe80::1%eth0"),
                        "not an IPv4 or IPv6 address");
    assert_string_equal(refused("10.0.0.0/0"),
                        "host bits set: the network is 0.0.0.0/0");
    assert_string_equal(refused("10.0.0.0/8"), "");
    assert_string_equal(refused("0.0.0.0/0"), "");
}


/* 1,000 scattered /32s and /24s, merged: the index answers for each */
static void
test_large_set(void **state)
{
    ds_ip_range_t  r[1200];
    ds_cidr_set_t  set, sub;
    char           s[64];
    size_t         i, n;
    ds_ip_t        a;

    (void) state;

    n = 0;

    for (i = 0; i < 1000; i++) {
        snprintf(s, sizeof(s), "10.%zu.%zu.0/24", i / 250, i % 250);
        r[n++] = cidr(s);
    }

    /* overlapping and adjacent entries merge */
    r[n++] = cidr("10.0.0.0/16");
    r[n++] = cidr("10.0.0.128/25");
    r[n++] = cidr("2001:db8::/48");
    r[n++] = cidr("2001:db8:1::/48");

    set.ranges = r;
    set.n = ds_cidr_normalize(r, n);
    set.present = 1;

    /*
     * adjacent ranges merge too: 10.0.0.0/16 and 10.1.0-249.0/24 are
     * one range, 10.2 and 10.3 one each, the two v6 /48s one
     */
    assert_int_equal(set.n, 1 + 2 + 1);

    for (i = 0; i < 1000; i++) {
        snprintf(s, sizeof(s), "10.%zu.%zu.77", i / 250, i % 250);
        a = ip(s);
        assert_true(ds_cidr_contains(&set, &a));
    }

    a = ip("10.1.250.1");
    assert_false(ds_cidr_contains(&set, &a));
    a = ip("10.0.250.1");
    assert_true(ds_cidr_contains(&set, &a));
    a = ip("10.4.0.0");
    assert_false(ds_cidr_contains(&set, &a));
    a = ip("2001:db8:1:ffff::1");
    assert_true(ds_cidr_contains(&set, &a));
    a = ip("2001:db8:2::");
    assert_false(ds_cidr_contains(&set, &a));
    a = ip("::");
    assert_false(ds_cidr_contains(&set, &a));

    /* covers: for dsctl policy diff */
    r[1100] = cidr("10.1.3.0/24");
    sub.ranges = &r[1100];
    sub.n = 1;
    assert_true(ds_cidr_covers(&set, &sub));
    r[1100] = cidr("10.1.0.0/16");
    assert_false(ds_cidr_covers(&set, &sub));
    r[1100] = cidr("2001:db8::/47");
    assert_true(ds_cidr_covers(&set, &sub));
    r[1100] = cidr("2001:db8::/46");
    assert_false(ds_cidr_covers(&set, &sub));
}


static void
test_top_of_space(void **state)
{
    ds_ip_range_t  r[2];
    ds_cidr_set_t  set;
    ds_ip_t        a;

    (void) state;

    r[0] = cidr("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff");
    r[1] = cidr("::");
    set.ranges = r;
    set.n = ds_cidr_normalize(r, 2);
    set.present = 1;

    assert_int_equal(set.n, 2);
    a = ip("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff");
    assert_true(ds_cidr_contains(&set, &a));
    a = ip("::1");
    assert_false(ds_cidr_contains(&set, &a));
}


static void
test_sockaddr(void **state)
{
    struct sockaddr_in   sin;
    struct sockaddr_in6  sin6;
    struct sockaddr      un;
    ds_ip_t              a, b;

    (void) state;

    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    inet_pton(AF_INET, "198.51.100.4", &sin.sin_addr);
    assert_int_equal(ds_ip_from_sockaddr((struct sockaddr *) &sin, &a), 0);
    b = ip("::ffff:198.51.100.4");
    assert_memory_equal(&a, &b, sizeof(a));

    memset(&sin6, 0, sizeof(sin6));
    sin6.sin6_family = AF_INET6;
    inet_pton(AF_INET6, "::ffff:198.51.100.4", &sin6.sin6_addr);
    assert_int_equal(ds_ip_from_sockaddr((struct sockaddr *) &sin6, &b), 0);
    assert_memory_equal(&a, &b, sizeof(a));

    memset(&un, 0, sizeof(un));
    un.sa_family = AF_UNIX;
    assert_int_equal(ds_ip_from_sockaddr(&un, &a), -1);
    assert_int_equal(ds_ip_from_sockaddr(NULL, &a), -1);
}


/* ------------------------------------------------------------ policy */

#define TOKEN_A  "tok-a"
#define TOKEN_B  "tok-b"

static const char  *net_policy =
    "{\"version\": 1, \"recipients\": [\n"
    " {\"id\": \"a\", \"tokens\": [{\"id\": \"a1\", \"sha256\": \"@A@\"}],\n"
    "  \"networks\": {\"allow\": [\"192.0.2.0/24\", \"2001:db8::/32\"],\n"
    "                \"deny\": [\"192.0.2.128/25\"]},\n"
    "  \"grants\": [\n"
    "   {\"share\": \"open\"},\n"
    "   {\"share\": \"narrow\", \"networks\": {\"allow\": [\"192.0.2.8\"]}},\n"
    "   {\"share\": \"dup\", \"networks\": {\"allow\": [\"192.0.2.9\"]}},\n"
    "   {\"share\": \"dup\", \"networks\": {\"allow\": [\"192.0.2.10\"]}},\n"
    "   {\"share\": \"nov6\", \"networks\": {\"deny\": [\"2000::/3\"]}}]},\n"
    " {\"id\": \"b\", \"tokens\": [{\"id\": \"b1\", \"sha256\": \"@B@\"}],\n"
    "  \"grants\": [{\"share\": \"open\"}]}\n"
    "]}\n";


static ds_policy_t *
load(const char *text, char *err)
{
    char         buf[4096], hex[65];
    const char  *at;
    size_t       n;

    snprintf(buf, sizeof(buf), "%s", text);

    while ((at = strstr(buf, "@A@")) || (at = strstr(buf, "@B@"))) {
        n = at - buf;
        ds_token_digest_hex(at[1] == 'A' ? TOKEN_A : TOKEN_B, 5, hex);
        memmove(buf + n + 64, buf + n + 3, strlen(buf + n + 3) + 1);
        memcpy(buf + n, hex, 64);
    }

    return ds_policy_load_buffer("net.json", buf, strlen(buf), err,
                                 DS_ERR_MAX);
}


static ds_reason_t
decide_at(ds_policy_t *p, const char *token, ds_op_t op, const char *share,
    const char *addr)
{
    ds_facts_t           f;
    ds_verdict_t         v;
    struct sockaddr_in   sin;
    struct sockaddr_in6  sin6;

    memset(&f, 0, sizeof(f));
    memset(&sin, 0, sizeof(sin));
    memset(&sin6, 0, sizeof(sin6));

    f.op = op;
    f.share = share;
    f.token = token;
    f.token_len = strlen(token);
    f.now_ms = 1900000000000LL;

    if (addr && inet_pton(AF_INET, addr, &sin.sin_addr) == 1) {
        sin.sin_family = AF_INET;
        f.sockaddr = (struct sockaddr *) &sin;

    } else if (addr && inet_pton(AF_INET6, addr, &sin6.sin6_addr) == 1) {
        sin6.sin6_family = AF_INET6;
        f.sockaddr = (struct sockaddr *) &sin6;
    }

    ds_decide(p, &f, &v);

    if (v.reason == DS_REASON_NETWORK_DENIED) {
        assert_int_equal(v.http_status, 403);
        assert_false(v.allow);
    }

    return v.reason;
}


static void
test_decide_networks(void **state)
{
    ds_policy_t  *p;
    char          err[DS_ERR_MAX];

    (void) state;

    p = load(net_policy, err);
    assert_non_null(p);

#define D(tok, op, share, addr)  decide_at(p, tok, op, share, addr)
#define GET  DS_OP_GET_SHARE
#define LIST DS_OP_LIST_SHARES

    /* recipient list: allow, and a deny inside it */
    assert_int_equal(D(TOKEN_A, GET, "open", "192.0.2.1"),
                     DS_REASON_ALLOWED);
    assert_int_equal(D(TOKEN_A, GET, "open", "::ffff:192.0.2.1"),
                     DS_REASON_ALLOWED);
    assert_int_equal(D(TOKEN_A, GET, "open", "2001:db8::5"),
                     DS_REASON_ALLOWED);
    assert_int_equal(D(TOKEN_A, GET, "open", "192.0.2.200"),
                     DS_REASON_NETWORK_DENIED);
    assert_int_equal(D(TOKEN_A, GET, "open", "198.51.100.1"),
                     DS_REASON_NETWORK_DENIED);

    /* before any grant: list_shares and even unknown names */
    assert_int_equal(D(TOKEN_A, LIST, NULL, "198.51.100.1"),
                     DS_REASON_NETWORK_DENIED);
    assert_int_equal(D(TOKEN_A, LIST, NULL, "192.0.2.1"),
                     DS_REASON_ALLOWED);
    assert_int_equal(D(TOKEN_A, GET, "nosuch", "198.51.100.1"),
                     DS_REASON_NETWORK_DENIED);
    assert_int_equal(D(TOKEN_A, GET, "nosuch", "192.0.2.1"),
                     DS_REASON_NOT_ENTITLED);

    /* unknown address (a unix socket, explain without --ip) */
    assert_int_equal(D(TOKEN_A, GET, "open", NULL),
                     DS_REASON_NETWORK_DENIED);

    /* grant list: both the recipient's and the grant's apply */
    assert_int_equal(D(TOKEN_A, GET, "narrow", "192.0.2.8"),
                     DS_REASON_ALLOWED);
    assert_int_equal(D(TOKEN_A, GET, "narrow", "192.0.2.9"),
                     DS_REASON_NETWORK_DENIED);
    assert_int_equal(D(TOKEN_A, GET, "narrow", "2001:db8::8"),
                     DS_REASON_NETWORK_DENIED);

    /* any matching grant may admit the address */
    assert_int_equal(D(TOKEN_A, GET, "dup", "192.0.2.9"),
                     DS_REASON_ALLOWED);
    assert_int_equal(D(TOKEN_A, GET, "dup", "192.0.2.10"),
                     DS_REASON_ALLOWED);
    assert_int_equal(D(TOKEN_A, GET, "dup", "192.0.2.11"),
                     DS_REASON_NETWORK_DENIED);

    /* a deny-only list of IPv6: IPv4 passes, the v6 range does not */
    assert_int_equal(D(TOKEN_A, GET, "nov6", "192.0.2.1"),
                     DS_REASON_ALLOWED);
    assert_int_equal(D(TOKEN_A, GET, "nov6", "2001:db8::1"),
                     DS_REASON_NETWORK_DENIED);

    /* no lists: any address, and an unknown one */
    assert_int_equal(D(TOKEN_B, GET, "open", "198.51.100.1"),
                     DS_REASON_ALLOWED);
    assert_int_equal(D(TOKEN_B, GET, "open", NULL), DS_REASON_ALLOWED);

    ds_policy_free(p);
}


static void
assert_load_error(const char *networks, const char *grant_networks,
    const char *expect)
{
    char          text[2048], err[DS_ERR_MAX], *g;
    ds_policy_t  *p;

    snprintf(text, sizeof(text),
             "{\"version\": 1, \"recipients\": [{\"id\": \"a\",%s%s\n"
             "  \"grants\": [{\"share\": \"s\"%s%s}]}]}",
             networks ? " \"networks\": " : "", networks ? networks : "",
             grant_networks ? ", \"networks\": " : "",
             grant_networks ? grant_networks : "");
    /* the comma after the recipient's networks */
    if (networks) {
        g = strstr(text, "\n  \"grants\"");
        memmove(g + 1, g, strlen(g) + 1);
        *g = ',';
    }

    p = load(text, err);

    if (p != NULL) {
        ds_policy_free(p);
        fail_msg("loaded: %s", text);
    }

    assert_string_equal(err, expect);
}


static void
test_load_errors(void **state)
{
    (void) state;

    assert_load_error("{\"allow\": [\"10.1.0.0/8\"]}", NULL,
        "net.json: $.recipients[0].networks.allow[0]: bad network "
        "\"10.1.0.0/8\": host bits set: the network is 10.0.0.0/8");
    assert_load_error(NULL, "{\"deny\": [\"10.0.0.0/8\", \"::/200\"]}",
        "net.json: $.recipients[0].grants[0].networks.deny[1]: bad "
        "network \"::/200\": bad prefix length: must be 0 to 128");
    assert_load_error(NULL, "{\"allow\": [42]}",
        "net.json: $.recipients[0].grants[0].networks.allow[0]: must be "
        "an IPv4 or IPv6 CIDR such as \"192.0.2.0/24\" or "
        "\"2001:db8::/32\"");
    assert_load_error("{\"allow\": []}", NULL,
        "net.json: $.recipients[0].networks.allow: must not be empty "
        "(omit \"allow\" instead)");
    assert_load_error("{\"alow\": [\"10.0.0.0/8\"]}", NULL,
        "net.json: $.recipients[0].networks.alow: unknown field");
    assert_load_error("[\"10.0.0.0/8\"]", NULL,
        "net.json: $.recipients[0].networks: must be an object");
    assert_load_error(NULL, "{\"allow\": \"10.0.0.0/8\"}",
        "net.json: $.recipients[0].grants[0].networks.allow: must be an "
        "array");
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_parse_v4),
        cmocka_unit_test(test_parse_v6),
        cmocka_unit_test(test_mapped),
        cmocka_unit_test(test_refused),
        cmocka_unit_test(test_large_set),
        cmocka_unit_test(test_top_of_space),
        cmocka_unit_test(test_sockaddr),
        cmocka_unit_test(test_decide_networks),
        cmocka_unit_test(test_load_errors),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
