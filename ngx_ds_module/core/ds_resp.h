/*
 * Redis commands in RESP, formatted here rather than by hiredis:
 * redisAsyncCommandArgv() built them with sdscatfmt(), which cost as
 * much as the rest of the per-request Redis path (callgrind: ~7k of
 * ~20k instructions). The gateway's connection formats straight into
 * its output buffer; dsctl's client (tools/dsctl_redis.c) uses it too.
 */

#ifndef DS_RESP_H
#define DS_RESP_H

#include <stddef.h>

/*
 * "*<argc>\r\n" then "$<len>\r\n<arg>\r\n" per argument. Writes at most
 * size bytes and returns the full length: larger than size means out
 * was too small and holds nothing usable.
 */
size_t ds_resp_command(char *out, size_t size, int argc, const char **argv,
    const size_t *argvlen);

#endif /* DS_RESP_H */
