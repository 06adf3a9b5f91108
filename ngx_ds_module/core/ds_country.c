/*
 * ISO 3166-1 alpha-2 codes. A policy that says "UK" for Great Britain
 * (GB) would otherwise silently never match: the loader rejects codes
 * that are not assigned. XK (Kosovo) is user-assigned but used by the
 * MaxMind and DB-IP databases.
 *
 * Also where the geography databases people actually have keep those
 * codes (ds_country.h): a layout the shell does not know would give
 * every address "no country", silently.
 */

#include <string.h>
#include <strings.h>

#include "ds_policy_int.h"
#include "ds_country.h"


static const char  ds_countries[] =
    "ADAEAFAGAIALAMAOAQARASATAUAWAXAZ"
    "BABBBDBEBFBGBHBIBJBLBMBNBOBQBRBSBTBVBWBYBZ"
    "CACCCDCFCGCHCICKCLCMCNCOCRCUCVCWCXCYCZ"
    "DEDJDKDMDODZ"
    "ECEEEGEHERESET"
    "FIFJFKFMFOFR"
    "GAGBGDGEGFGGGHGIGLGMGNGPGQGRGSGTGUGWGY"
    "HKHMHNHRHTHU"
    "IDIEILIMINIOIQIRISIT"
    "JEJMJOJP"
    "KEKGKHKIKMKNKPKRKWKYKZ"
    "LALBLCLILKLRLSLTLULVLY"
    "MAMCMDMEMFMGMHMKMLMMMNMOMPMQMRMSMTMUMVMWMXMYMZ"
    "NANCNENFNGNINLNONPNRNUNZ"
    "OM"
    "PAPEPFPGPHPKPLPMPNPRPSPTPWPY"
    "QA"
    "RERORSRURW"
    "SASBSCSDSESGSHSISJSKSLSMSNSOSRSSSTSVSXSYSZ"
    "TCTDTFTGTHTJTKTLTMTNTOTRTTTVTWTZ"
    "UAUGUMUSUYUZ"
    "VAVCVEVGVIVNVU"
    "WFWS"
    "XK"
    "YEYT"
    "ZAZMZW";


int
ds_country_code_valid(const char *s, size_t len)
{
    size_t  i;

    if (len != 2) {
        return 0;
    }

    for (i = 0; i + 1 < sizeof(ds_countries); i += 2) {
        if (ds_countries[i] == s[0] && ds_countries[i + 1] == s[1]) {
            return 1;
        }
    }

    return 0;
}


size_t
ds_country_code(const char *s, size_t len, char cc[3])
{
    size_t  i;
    char    c;

    cc[0] = '\0';

    if (s == NULL || len != 2) {
        return 0;
    }

    for (i = 0; i < 2; i++) {
        c = s[i];

        if (c >= 'a' && c <= 'z') {
            c = (char) (c - 'a' + 'A');

        } else if (c < 'A' || c > 'Z') {
            cc[0] = '\0';
            return 0;
        }

        cc[i] = c;
    }

    cc[2] = '\0';

    return 2;
}


int
ds_country_v4(const unsigned char a6[16], unsigned char v4[4])
{
    static const unsigned char  mapped[12] = {
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff
    };

    if (memcmp(a6, mapped, sizeof(mapped)) == 0) {
        memcpy(v4, a6 + 12, 4);
        return 1;
    }

    /* 6to4 (RFC 3056): 2002:V4ADDR::/48, the site's IPv4 address */
    if (a6[0] == 0x20 && a6[1] == 0x02) {
        memcpy(v4, a6 + 2, 4);
        return 1;
    }

    return 0;
}


int
ds_country_path_parse(char *text, ds_country_path_t *path,
    const char **err)
{
    char    *p, *key;
    size_t   n, len;

    memset(path, 0, sizeof(ds_country_path_t));

    len = strlen(text);

    if (len == 0) {
        *err = "is empty";
        return -1;
    }

    if (len >= DS_COUNTRY_PATH_LEN) {
        *err = "is too long";
        return -1;
    }

    for (p = text; *p; p++) {
        if ((unsigned char) *p <= ' ' || *p == 0x7f) {
            *err = "has a space or control character";
            return -1;
        }
    }

    n = 0;
    key = text;

    for ( ;; ) {
        p = strchr(key, '.');

        if (p) {
            *p = '\0';
        }

        if (*key == '\0') {
            *err = "has an empty key (\"a..b\", a leading or trailing dot)";
            return -1;
        }

        if (n == DS_COUNTRY_PATH_KEYS) {
            *err = "has too many keys";
            return -1;
        }

        path->keys[n++] = key;

        if (p == NULL) {
            break;
        }

        key = p + 1;
    }

    path->keys[n] = NULL;

    return 0;
}


char *
ds_country_path_text(const ds_country_path_t *path, char *buf, size_t size)
{
    size_t   i, len, k;

    if (size == 0) {
        return buf;
    }

    len = 0;
    buf[0] = '\0';

    for (i = 0; path->keys[i]; i++) {
        if (i && len + 1 < size) {
            buf[len++] = '.';
        }

        k = strlen(path->keys[i]);

        if (k > size - 1 - len) {
            k = size - 1 - len;
        }

        memcpy(buf + len, path->keys[i], k);
        len += k;
    }

    buf[len] = '\0';

    return buf;
}


/*
 * MaxMind and DB-IP nest the code in a map and fall back to the
 * registered country (MaxMind's anonymous proxies, satellite links);
 * IPinfo's free "country" DB has a top-level code and its Lite DB a
 * "country_code" next to a "country" that is the name; ip-location-db
 * (npm @ip-location-db/...-mmdb) has only "country_code".
 */
static const ds_country_layout_t  ds_country_known[] = {

    { "geoip2", "MaxMind GeoIP2/GeoLite2", "GeoIP2-|GeoLite2-|GeoIP-", 2,
      { { { "country", "iso_code", NULL } },
        { { "registered_country", "iso_code", NULL } } } },

    { "dbip", "DB-IP", "DBIP-|dbip", 2,
      { { { "country", "iso_code", NULL } },
        { { "registered_country", "iso_code", NULL } } } },

    { "ip-location-db", "ip-location-db", "country ipv", 1,
      { { { "country_code", NULL } } } },

    { "ipinfo", "IPinfo", "ipinfo", 2,
      { { { "country_code", NULL } },
        { { "country", NULL } } } },
};


const ds_country_layout_t *
ds_country_layouts(size_t *n)
{
    *n = sizeof(ds_country_known) / sizeof(ds_country_known[0]);
    return ds_country_known;
}


size_t
ds_country_lookup(const ds_country_path_t *paths, size_t npaths,
    ds_country_value_pt value, void *data, size_t record, char cc[3])
{
    size_t       i, len;
    const char  *s;

    for (i = 0; i < npaths; i++) {
        len = 0;
        s = value(data, record, &paths[i], &len);

        if (ds_country_code(s, len, cc) == 2) {
            return 2;
        }
    }

    cc[0] = '\0';

    return 0;
}


size_t
ds_country_hits(const ds_country_path_t *paths, size_t npaths,
    ds_country_value_pt value, void *data, size_t nrecords)
{
    char    cc[3];
    size_t  i, hits;

    hits = 0;

    for (i = 0; i < nrecords; i++) {
        if (ds_country_lookup(paths, npaths, value, data, i, cc) == 2) {
            hits++;
        }
    }

    return hits;
}


static int
ds_country_named(const ds_country_layout_t *layout, const char *type)
{
    size_t       len;
    const char  *p, *bar;

    if (type == NULL) {
        return 0;
    }

    for (p = layout->types; *p; p = bar + 1) {
        bar = strchr(p, '|');
        len = bar ? (size_t) (bar - p) : strlen(p);

        if (len && strncasecmp(type, p, len) == 0) {
            return 1;
        }

        if (bar == NULL) {
            break;
        }
    }

    return 0;
}


const ds_country_layout_t *
ds_country_detect(const char *database_type, ds_country_value_pt value,
    void *data, size_t nrecords, size_t *hits)
{
    int                         named, best_named;
    size_t                      i, n, h, best_hits;
    const ds_country_layout_t  *layouts, *best;

    layouts = ds_country_layouts(&n);

    best = NULL;
    best_hits = 0;
    best_named = 0;

    for (i = 0; i < n; i++) {
        h = ds_country_hits(layouts[i].paths, layouts[i].npaths, value,
                            data, nrecords);
        named = ds_country_named(&layouts[i], database_type);

        if (h == 0) {
            continue;
        }

        if (h > best_hits || (h == best_hits && named && !best_named)) {
            best = &layouts[i];
            best_hits = h;
            best_named = named;
        }
    }

    *hits = best_hits;

    return best;
}
