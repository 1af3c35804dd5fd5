/* SipHash-2-4 against the reference vectors of the SipHash paper (appendix
 * A; vectors.h of the reference implementation): key 00..0f, message
 * 00..(n-1). */
#include "testutil.h"

#include "siphash.h"

static void reference_vectors(void **state)
{
	/* Outputs for n = 0, 1, 7, 8, 15 (the paper's example is n = 15). */
	static const struct {
		size_t n;
		uint64_t want;
	} v[] = {
	    {0, 0x726fdb47dd0e0e31ULL}, {1, 0x74f839c593dc67fdULL},  {7, 0xab0200f58b01d137ULL},
	    {8, 0x93f5f5799a932462ULL}, {15, 0xa129ca6149be45e5ULL},
	};
	uint8_t key[16], msg[16];
	uint64_t k0, k1;
	size_t i;

	(void)state;
	for (i = 0; i < 16; i++) {
		key[i] = (uint8_t)i;
		msg[i] = (uint8_t)i;
	}
	k0 = kta_load64le(key);
	k1 = kta_load64le(key + 8);
	assert_int_equal(k0, 0x0706050403020100ULL);
	for (i = 0; i < sizeof(v) / sizeof(v[0]); i++)
		assert_int_equal(kta_siphash24(k0, k1, msg, v[i].n), v[i].want);
	/* Another key, or one flipped message bit, changes the output. */
	assert_int_not_equal(kta_siphash24(k0 ^ 1, k1, msg, 15), 0xa129ca6149be45e5ULL);
	msg[3] ^= 0x10;
	assert_int_not_equal(kta_siphash24(k0, k1, msg, 15), 0xa129ca6149be45e5ULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(reference_vectors),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
