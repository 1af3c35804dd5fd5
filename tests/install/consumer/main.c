/*
 * A consumer of the installed libktaudit: builds the 8-leaf Merkle tree of
 * the RFC 6962 / RFC 9162 test vectors, checks its well-known root, makes
 * and verifies an inclusion proof (RFC 9162 2.1.3), shows that a tampered
 * proof is rejected, and turns an alert into its JSON form (jansson is part
 * of the public interface). Prints one line per step; exits 0 only if every
 * result is the expected one.
 */
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <ktaudit/alert.h>
#include <ktaudit/error.h>
#include <ktaudit/hash.h>
#include <ktaudit/merkle.h>

/* The leaf inputs of the RFC 6962 reference test vectors. */
static const char *const leaf_hex[8] = {
    "",
    "00",
    "10",
    "2021",
    "3031",
    "40414243",
    "5051525354555657",
    "606162636465666768696a6b6c6d6e6f",
};
static const char want_root[] = "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328";

static size_t unhex(const char *s, uint8_t *out)
{
	size_t n = strlen(s) / 2;
	for (size_t i = 0; i < n; i++) {
		unsigned int b = 0;
		if (sscanf(s + 2 * i, "%2x", &b) != 1)
			return 0;
		out[i] = (uint8_t)b;
	}
	return n;
}

static void tohex(const uint8_t in[32], char out[65])
{
	for (size_t i = 0; i < 32; i++)
		snprintf(out + 2 * i, 3, "%02x", in[i]);
}

int main(void)
{
	struct kta_error err;
	struct kta_hasher *h = NULL;
	struct kta_alert *a = NULL;
	json_t *j = NULL;
	uint8_t leaves[8][32], root[32], proof[KTA_MERKLE_MAX_PROOF][32];
	size_t proof_len = 0;
	char hex[65];
	enum kta_status st;
	int bad = 0;

	if (kta_hasher_new(&h, &err) != KTA_OK) {
		fprintf(stderr, "consumer: %s\n", err.msg);
		return 1;
	}
	for (size_t i = 0; i < 8; i++) {
		uint8_t data[16];
		size_t len = unhex(leaf_hex[i], data);
		kta_hash_leaf(h, data, len, leaves[i]);
	}
	if (kta_merkle_root(h, (const uint8_t(*)[32])leaves, 8, root, &err) != KTA_OK) {
		fprintf(stderr, "consumer: %s\n", err.msg);
		bad = 1;
		goto out;
	}
	tohex(root, hex);
	printf("root %s %s\n", hex,
	       strcmp(hex, want_root) == 0 ? "matches RFC 6962 vector" : "WRONG");
	bad |= strcmp(hex, want_root) != 0;

	if (kta_merkle_inclusion_proof(h, (const uint8_t(*)[32])leaves, 8, 5, proof,
				       KTA_MERKLE_MAX_PROOF, &proof_len, &err) != KTA_OK) {
		fprintf(stderr, "consumer: %s\n", err.msg);
		bad = 1;
		goto out;
	}
	st = kta_merkle_verify_inclusion(h, 5, 8, leaves[5], (const uint8_t(*)[32])proof, proof_len,
					 root, &err);
	printf("inclusion of leaf 5 in 8 (%zu hashes): %s\n", proof_len, kta_status_str(st));
	bad |= st != KTA_OK || proof_len != 3;

	proof[1][7] ^= 0x01;
	st = kta_merkle_verify_inclusion(h, 5, 8, leaves[5], (const uint8_t(*)[32])proof, proof_len,
					 root, &err);
	printf("tampered proof: %s (exit code %d)\n", kta_status_str(st), kta_status_exit_code(st));
	bad |= st != KTA_ERR_VERIFY;

	if (kta_alert_new(KTA_ALERT_KEY_CHANGED, "example.com/dir", 1764143000, "key changed", &a,
			  &err) != KTA_OK ||
	    (j = kta_alert_to_json(a)) == NULL) {
		fprintf(stderr, "consumer: alert: %s\n", err.msg);
		bad = 1;
		goto out;
	}
	printf("alert kind=%s severity=%s log=%s\n", json_string_value(json_object_get(j, "kind")),
	       json_string_value(json_object_get(j, "severity")),
	       json_string_value(json_object_get(j, "log")));
out:
	json_decref(j);
	kta_alert_free(a);
	kta_hasher_free(h);
	return bad;
}
