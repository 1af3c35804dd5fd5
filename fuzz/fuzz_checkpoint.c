/*
 * libFuzzer: checkpoint verification with witness cosignatures
 * (c2sp.org/tlog-checkpoint, tlog-cosignature) under a k-of-n policy.
 *
 * The first input byte picks the mode:
 *   even: the rest is a signed note, verified as served under a fixed policy
 *         (log key "fuzz.example/log", witnesses w1..w3, quorum 2). The seed
 *         corpus holds notes signed by those keys (seed = 32 x 0x11, 0x21..).
 *   odd:  the rest is [quorum 1][cosigners 1][cosig time offset 4][max_age 2]
 *         [note text]; the harness signs the text with the log key and has
 *         the chosen witnesses cosign it, so the fuzzer reaches the policy
 *         steps behind the signatures. Invariants: an accepted checkpoint
 *         has at least `quorum` distinct cosigners, never more than cosigned
 *         it, and flipping any byte of its text makes it fail.
 */
#include "ktaudit/checkpoint.h"
#include "ktaudit/note.h"

#include "fuzz_util.h"

#define NOW 1764143000
#define NWIT 3

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct kta_skey *log_sk, *wit_sk[NWIT];
static struct kta_vkey *log_vk, *wit_vk[NWIT];

static void init_keys(void)
{
	static const char *const names[NWIT] = {"w1.example", "w2.example", "w3.example"};
	size_t i;

	if (log_sk != NULL)
		return;
	fuzz_key("fuzz.example/log", KTA_KEY_ED25519, 0x11, &log_sk, &log_vk);
	for (i = 0; i < NWIT; i++)
		fuzz_key(names[i], KTA_KEY_COSIGNATURE_V1, (uint8_t)(0x21 + i), &wit_sk[i],
			 &wit_vk[i]);
}

static void policy(struct kta_checkpoint_policy *p, size_t quorum, uint64_t max_age)
{
	memset(p, 0, sizeof(*p));
	p->log_key = log_vk;
	p->witnesses = (const struct kta_vkey *const *)wit_vk;
	p->nwitnesses = NWIT;
	p->quorum = quorum;
	p->now = NOW;
	p->max_age = max_age;
	p->max_skew = 300;
}

static void as_served(const uint8_t *data, size_t size)
{
	struct kta_checkpoint_policy p;
	struct kta_checkpoint_result res;

	policy(&p, 2, 86400);
	if (kta_checkpoint_verify(data, size, &p, &res, NULL) == KTA_OK) {
		FUZZ_CHECK(res.cp != NULL && res.cosigned >= 2);
		kta_checkpoint_result_free(&res);
	}
	/* No witnesses at all: only the log signature counts. */
	p.witnesses = NULL;
	p.nwitnesses = 0;
	p.quorum = 0;
	if (kta_checkpoint_verify(data, size, &p, &res, NULL) == KTA_OK)
		kta_checkpoint_result_free(&res);
}

static void signed_here(const uint8_t *data, size_t size)
{
	size_t quorum = (size_t)fuzz_take(&data, &size, 1) % (NWIT + 1);
	unsigned who = (unsigned)fuzz_take(&data, &size, 1);
	uint64_t off = fuzz_take(&data, &size, 4);
	uint64_t max_age = fuzz_take(&data, &size, 2);
	uint8_t *note = NULL, *next = NULL;
	size_t note_len = 0, next_len = 0, i, ncosign = 0, text_len;
	struct kta_checkpoint_policy p;
	struct kta_checkpoint_result res;
	enum kta_status r;

	if (kta_note_sign(data, size, log_sk, &note, &note_len, NULL) != KTA_OK)
		return;
	for (i = 0; i < NWIT; i++) {
		if (!(who & (1u << i)))
			continue;
		/* Times around NOW: some in the future, some too old. */
		if (kta_checkpoint_cosign(note, note_len, wit_sk[i], NOW - 100000 + off % 200000,
					  &next, &next_len, NULL) != KTA_OK)
			break;
		free(note);
		note = next;
		note_len = next_len;
		ncosign++;
	}
	policy(&p, quorum, max_age);
	r = kta_checkpoint_verify(note, note_len, &p, &res, NULL);
	if (r == KTA_OK) {
		FUZZ_CHECK(res.cosigned >= quorum && res.cosigned <= ncosign);
		kta_checkpoint_result_free(&res);
		/* Any change to the signed text must be caught. */
		text_len = size;
		for (i = 0; i < text_len; i += 1 + text_len / 8) {
			note[i] ^= 0x01;
			FUZZ_CHECK(kta_checkpoint_verify(note, note_len, &p, &res, NULL) != KTA_OK);
			note[i] ^= 0x01;
		}
	}
	free(note);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	init_keys();
	if (size == 0)
		return 0;
	if (data[0] & 1)
		signed_here(data + 1, size - 1);
	else
		as_served(data + 1, size - 1);
	return 0;
}
