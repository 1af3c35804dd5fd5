/*
 * Internal: SipHash-2-4 (Aumasson and Bernstein, 2012), the keyed hash of
 * the label tables (the replay's in-memory map, the state's label buckets):
 * keyed, so a log cannot aim its labels at one slot or bucket without the
 * key. Pure, no allocation.
 */
#ifndef KTA_SIPHASH_H
#define KTA_SIPHASH_H

#include <stddef.h>
#include <stdint.h>

/* SipHash-2-4 of (in, len) under the 128-bit key (k0, k1). */
uint64_t kta_siphash24(uint64_t k0, uint64_t k1, const uint8_t *in, size_t len);

/* The little-endian 64-bit integer at p (SipHash's key and word order). */
uint64_t kta_load64le(const uint8_t *p);

#endif
