/*
 * ISO 3166-1 alpha-2 codes. A policy that says "UK" for Great Britain
 * (GB) would otherwise silently never match: the loader rejects codes
 * that are not assigned. XK (Kosovo) is user-assigned but used by the
 * MaxMind and DB-IP databases.
 */

#include <string.h>

#include "ds_policy_int.h"


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
