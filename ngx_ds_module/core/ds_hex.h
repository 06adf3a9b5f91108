/*
 * Hex encoding shared by the core: digests, MACs and chain ids are
 * printed in lowercase hex everywhere (policy, audit, Redis script).
 */

#ifndef DS_HEX_H
#define DS_HEX_H

#include <stddef.h>


/* out receives 2 * n lowercase digits and a NUL */
void ds_hex_encode(const unsigned char *in, size_t n, char *out);

/* 0-15 for [0-9A-Fa-f], -1 otherwise */
int ds_hex_digit(int c);

#endif /* DS_HEX_H */
