/*
 * ds_country: codes, record paths, layout detection, IPv4 clients in
 * IPv6 form. Records here are fakes behind ds_country_value_pt; the
 * integration tests read real MMDB files.
 */

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include <arpa/inet.h>

#include "ds_country.h"


/* a fake record: "a.b=value" pairs, NULL-terminated */
typedef struct {
    const char  *kv[8];
} fake_record_t;


static const char *
fake_value(void *data, size_t record, const ds_country_path_t *path,
    size_t *len)
{
    char            key[DS_COUNTRY_PATH_LEN + 1];
    size_t          i, klen;
    fake_record_t  *r;

    r = (fake_record_t *) data + record;
    ds_country_path_text(path, key, sizeof(key));
    klen = strlen(key);

    for (i = 0; r->kv[i]; i++) {
        if (strncmp(r->kv[i], key, klen) == 0 && r->kv[i][klen] == '=') {
            *len = strlen(r->kv[i] + klen + 1);
            return r->kv[i] + klen + 1;
        }
    }

    return NULL;
}


static void
test_code(void **state)
{
    char  cc[3];

    (void) state;

    assert_int_equal(ds_country_code("US", 2, cc), 2);
    assert_string_equal(cc, "US");
    assert_int_equal(ds_country_code("de", 2, cc), 2);
    assert_string_equal(cc, "DE");
    assert_int_equal(ds_country_code("dE", 2, cc), 2);
    assert_string_equal(cc, "DE");

    /* names, numbers and lengths other than 2 are not codes */
    assert_int_equal(ds_country_code("Germany", 7, cc), 0);
    assert_string_equal(cc, "");
    assert_int_equal(ds_country_code("USA", 3, cc), 0);
    assert_int_equal(ds_country_code("U", 1, cc), 0);
    assert_int_equal(ds_country_code("", 0, cc), 0);
    assert_int_equal(ds_country_code("A1", 2, cc), 0);
    assert_string_equal(cc, "");
    assert_int_equal(ds_country_code("U\0", 2, cc), 0);
    assert_int_equal(ds_country_code("\xc3\x9c", 2, cc), 0);
    assert_int_equal(ds_country_code(NULL, 2, cc), 0);

    assert_int_equal(ds_country_code_valid("GB", 2), 1);
    assert_int_equal(ds_country_code_valid("UK", 2), 0);
}


static int
v4(const char *text, char *out)
{
    unsigned char  a6[16], a4[4];

    assert_int_equal(inet_pton(AF_INET6, text, a6), 1);

    if (!ds_country_v4(a6, a4)) {
        return 0;
    }

    assert_non_null(inet_ntop(AF_INET, a4, out, INET_ADDRSTRLEN));
    return 1;
}


static void
test_v4(void **state)
{
    char  out[INET_ADDRSTRLEN];

    (void) state;

    assert_true(v4("::ffff:198.51.100.7", out));
    assert_string_equal(out, "198.51.100.7");
    assert_true(v4("::ffff:0.0.0.0", out));
    assert_string_equal(out, "0.0.0.0");

    /* 6to4: bits 16..48 are the IPv4 address, the rest is the site's */
    assert_true(v4("2002:c633:6407::", out));
    assert_string_equal(out, "198.51.100.7");
    assert_true(v4("2002:cb00:7109:5:1:2:3:4", out));
    assert_string_equal(out, "203.0.113.9");

    /* anything else stays IPv6 */
    assert_false(v4("::1", out));
    assert_false(v4("::", out));
    assert_false(v4("::198.51.100.7", out));        /* IPv4-compatible */
    assert_false(v4("::fffe:198.51.100.7", out));
    assert_false(v4("0:0:0:0:1:ffff:c633:6407", out));
    assert_false(v4("2001:db8:2::17", out));
    assert_false(v4("2003:c633:6407::", out));
    assert_false(v4("2102:c633:6407::", out));
    assert_false(v4("64:ff9b::c633:6407", out));    /* NAT64: not ours */
}


static const char *
parse(const char *text, char *buf, ds_country_path_t *path)
{
    const char  *err;

    strcpy(buf, text);
    err = NULL;

    if (ds_country_path_parse(buf, path, &err) != 0) {
        assert_non_null(err);
        return err;
    }

    return NULL;
}


static void
test_path_parse(void **state)
{
    char                buf[256], text[DS_COUNTRY_PATH_LEN];
    ds_country_path_t   p;

    (void) state;

    assert_null(parse("country.iso_code", buf, &p));
    assert_string_equal(p.keys[0], "country");
    assert_string_equal(p.keys[1], "iso_code");
    assert_null(p.keys[2]);
    assert_string_equal(ds_country_path_text(&p, text, sizeof(text)),
                        "country.iso_code");

    assert_null(parse("country_code", buf, &p));
    assert_string_equal(p.keys[0], "country_code");
    assert_null(p.keys[1]);

    /* array indices are keys too (libmaxminddb reads them as such) */
    assert_null(parse("subdivisions.0.iso_code", buf, &p));
    assert_string_equal(p.keys[1], "0");

    assert_null(parse("a.b.c.d.e.f.g.h", buf, &p));
    assert_string_equal(p.keys[7], "h");
    assert_null(p.keys[8]);

    assert_string_equal(parse("", buf, &p), "is empty");
    assert_non_null(strstr(parse("a..b", buf, &p), "empty key"));
    assert_non_null(strstr(parse(".a", buf, &p), "empty key"));
    assert_non_null(strstr(parse("a.", buf, &p), "empty key"));
    assert_non_null(strstr(parse(".", buf, &p), "empty key"));
    assert_string_equal(parse("a.b.c.d.e.f.g.h.i", buf, &p),
                        "has too many keys");
    assert_non_null(strstr(parse("country iso_code", buf, &p), "space"));
    assert_non_null(strstr(parse("country\t", buf, &p), "control"));

    memset(buf, 'a', DS_COUNTRY_PATH_LEN);
    buf[DS_COUNTRY_PATH_LEN] = '\0';
    assert_int_equal(ds_country_path_parse(buf, &p, &(const char *) {0}),
                     -1);

    /* the text form truncates, always terminated */
    assert_null(parse("country.iso_code", buf, &p));
    assert_string_equal(ds_country_path_text(&p, text, 8), "country");
    assert_string_equal(ds_country_path_text(&p, text, 10), "country.i");
}


static const ds_country_layout_t *
layout(const char *name)
{
    size_t                      i, n;
    const ds_country_layout_t  *l;

    l = ds_country_layouts(&n);

    for (i = 0; i < n; i++) {
        if (strcmp(l[i].name, name) == 0) {
            return &l[i];
        }
    }

    fail_msg("no layout %s", name);
    return NULL;
}


static void
test_lookup_order(void **state)
{
    char                        cc[3];
    const ds_country_layout_t  *g;
    fake_record_t               r[] = {
        { { "country.iso_code=de", "registered_country.iso_code=FR",
            NULL } },
        /* MaxMind's anonymous proxies: only the registered country */
        { { "registered_country.iso_code=FR", NULL } },
        { { "continent.code=EU", NULL } },
        { { "country.iso_code=Germany", "registered_country.iso_code=AT",
            NULL } },
    };

    (void) state;

    g = layout("geoip2");
    assert_int_equal(ds_country_lookup(g->paths, g->npaths, fake_value, r,
                                       0, cc), 2);
    assert_string_equal(cc, "DE");
    assert_int_equal(ds_country_lookup(g->paths, g->npaths, fake_value, r,
                                       1, cc), 2);
    assert_string_equal(cc, "FR");
    assert_int_equal(ds_country_lookup(g->paths, g->npaths, fake_value, r,
                                       2, cc), 0);
    assert_string_equal(cc, "");
    /* a path whose value is no code falls through to the next */
    assert_int_equal(ds_country_lookup(g->paths, g->npaths, fake_value, r,
                                       3, cc), 2);
    assert_string_equal(cc, "AT");

    assert_int_equal(ds_country_hits(g->paths, g->npaths, fake_value, r,
                                     4), 3);
    assert_int_equal(ds_country_hits(g->paths, 1, fake_value, r, 4), 1);
    assert_int_equal(ds_country_hits(g->paths, g->npaths, fake_value, r,
                                     0), 0);
}


static const char *
detect(const char *type, fake_record_t *r, size_t n, size_t *hits)
{
    const ds_country_layout_t  *l;

    l = ds_country_detect(type, fake_value, r, n, hits);

    return l ? l->name : NULL;
}


static void
test_detect(void **state)
{
    size_t         hits;
    fake_record_t  geoip2[] = {
        { { "country.iso_code=US", "registered_country.iso_code=US",
            "continent.code=NA", NULL } },
        { { "registered_country.iso_code=DE", NULL } },
    };
    fake_record_t  ipinfo[] = {
        { { "country=US", "country_name=United States", "continent=NA",
            NULL } },
        { { "country=DE", "country_name=Germany", "continent=EU", NULL } },
    };
    fake_record_t  lite[] = {
        { { "country_code=US", "country=United States",
            "continent_code=NA", NULL } },
    };
    fake_record_t  ipldb[] = {
        { { "country_code=US", NULL } },
        { { "country_code=DE", NULL } },
        { { "country_code=ZZZ", NULL } },
    };
    fake_record_t  asn[] = {
        { { "autonomous_system_organization=EX", NULL } },
        { { "continent=EU", NULL } },
    };
    fake_record_t  mixed[] = {
        { { "country.iso_code=US", NULL } },
        { { "country_code=DE", NULL } },
        { { "country_code=FR", NULL } },
    };

    (void) state;

    /* what the records hold decides; the name only breaks ties */
    assert_string_equal(detect("GeoLite2-Country", geoip2, 2, &hits),
                        "geoip2");
    assert_int_equal(hits, 2);
    assert_string_equal(detect(NULL, geoip2, 2, &hits), "geoip2");
    assert_string_equal(detect("DBIP-Country-Lite", geoip2, 2, &hits),
                        "dbip");
    assert_string_equal(detect("dbip-country-lite", geoip2, 2, &hits),
                        "dbip");
    assert_string_equal(detect("GeoIP2-City", geoip2, 2, &hits),
                        "geoip2");

    assert_string_equal(detect("ipinfo country.mmdb", ipinfo, 2, &hits),
                        "ipinfo");
    assert_int_equal(hits, 2);
    /* IPinfo without its name: still only "country" holds codes */
    assert_string_equal(detect("", ipinfo, 2, &hits), "ipinfo");

    /* IPinfo Lite: "country" is the name, country_code the code */
    assert_string_equal(detect("ipinfo ipinfo_lite.mmdb", lite, 1, &hits),
                        "ipinfo");
    assert_string_equal(detect("whatever", lite, 1, &hits),
                        "ip-location-db");

    assert_string_equal(detect("country ipvAll", ipldb, 3, &hits),
                        "ip-location-db");
    assert_int_equal(hits, 2);
    assert_string_equal(detect("country ipv4", ipldb, 3, &hits),
                        "ip-location-db");
    /* a misleading name loses to the records */
    assert_string_equal(detect("GeoLite2-Country", ipldb, 3, &hits),
                        "ip-location-db");

    /* no code anywhere: nothing, even with a promising name */
    assert_null(detect("GeoLite2-Country", asn, 2, &hits));
    assert_int_equal(hits, 0);
    assert_null(detect("GeoLite2-Country", asn, 0, &hits));

    /* more records with codes wins */
    assert_string_equal(detect("GeoLite2-Country", mixed, 3, &hits),
                        "ip-location-db");
    assert_int_equal(hits, 2);
}


static void
test_layouts(void **state)
{
    size_t                      i, j, n;
    const ds_country_layout_t  *l;

    (void) state;

    l = ds_country_layouts(&n);
    assert_true(n >= 4);

    for (i = 0; i < n; i++) {
        assert_true(l[i].npaths >= 1 && l[i].npaths <= DS_COUNTRY_PATHS);

        for (j = 0; j < l[i].npaths; j++) {
            assert_non_null(l[i].paths[j].keys[0]);
        }
    }

    /* MaxMind first: today's configurations keep their meaning */
    assert_string_equal(l[0].name, "geoip2");
    assert_string_equal(l[0].paths[0].keys[0], "country");
    assert_string_equal(l[0].paths[0].keys[1], "iso_code");
    assert_string_equal(l[0].paths[1].keys[0], "registered_country");
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_code),
        cmocka_unit_test(test_v4),
        cmocka_unit_test(test_path_parse),
        cmocka_unit_test(test_lookup_order),
        cmocka_unit_test(test_detect),
        cmocka_unit_test(test_layouts),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
