/* The alert delivery loop. See ktaudit/deliver.h. */
#include "ktaudit/deliver.h"

#include <jansson.h>
#include <string.h>

#include "ktaudit/alert.h"
#include "ktaudit/sink.h"

static uint64_t fnv1a(uint64_t h, const void *p, size_t n)
{
	const unsigned char *b = p;
	size_t i;

	for (i = 0; i < n; i++) {
		h ^= b[i];
		h *= 0x100000001b3ULL;
	}
	return h;
}

uint64_t kta_deliver_backoff(const char *alert_id, const char *sink_name, uint32_t attempts)
{
	uint64_t d = KTA_DELIVER_BACKOFF_BASE, h = 0xcbf29ce484222325ULL;
	unsigned char a[4];
	uint32_t i;

	if (attempts == 0)
		attempts = 1;
	/* doubling stops at the cap, so the shift never overflows */
	for (i = 1; i < attempts && d < KTA_DELIVER_BACKOFF_MAX; i++)
		d *= 2;
	if (d > KTA_DELIVER_BACKOFF_MAX)
		d = KTA_DELIVER_BACKOFF_MAX;
	if (alert_id != NULL)
		h = fnv1a(h, alert_id, strlen(alert_id) + 1);
	if (sink_name != NULL)
		h = fnv1a(h, sink_name, strlen(sink_name) + 1);
	a[0] = (unsigned char)(attempts >> 24);
	a[1] = (unsigned char)(attempts >> 16);
	a[2] = (unsigned char)(attempts >> 8);
	a[3] = (unsigned char)attempts;
	h = fnv1a(h, a, sizeof(a));
	d -= h % (d / 4 + 1);
	return d < 1 ? 1 : d;
}

/* Parses a stored alert JSON text; *out is the alert (caller frees). */
static enum kta_status load_alert(const struct kta_state_outbox_item *it, struct kta_alert **out,
				  struct kta_error *err)
{
	json_error_t je;
	json_t *j;
	enum kta_status r;

	*out = NULL;
	j = json_loads(it->json, JSON_REJECT_DUPLICATES, &je);
	if (j == NULL)
		return kta_error_set(err, KTA_ERR_MALFORMED, "stored alert %s: bad JSON: %s",
				     it->id, je.text);
	r = kta_alert_from_json(j, out, err);
	json_decref(j);
	if (r != KTA_OK)
		return r;
	if (strcmp((*out)->id, it->id) != 0) {
		r = kta_error_set(err, KTA_ERR_MALFORMED, "stored alert %s: its JSON has id %s",
				  it->id, (*out)->id);
		kta_alert_free(*out);
		*out = NULL;
		return r;
	}
	return KTA_OK;
}

/* Records a failed attempt of item at sink s with the message in e. */
static enum kta_status mark_failed(struct kta_state *st, const struct kta_sink_config *s,
				   const struct kta_state_outbox_item *it, int64_t now,
				   const struct kta_error *e, struct kta_deliver_stats *stats,
				   struct kta_error *err)
{
	uint32_t n = it->attempts < UINT32_MAX ? it->attempts + 1 : UINT32_MAX;
	uint64_t wait = kta_deliver_backoff(it->id, s->name, n);
	int64_t next = now > INT64_MAX - (int64_t)wait ? INT64_MAX : now + (int64_t)wait;

	stats->failed++;
	stats->last = *e;
	if (stats->last.status == KTA_OK)
		stats->last.status = KTA_ERR_IO;
	if (stats->next_due == 0 || next < stats->next_due)
		stats->next_due = next;
	return kta_state_outbox_mark(st, it->id, s->name, 0, next, e->msg, now, err);
}

/* Serves one sink; returns a state failure, else KTA_OK. */
static enum kta_status serve_sink(struct kta_state *st, const struct kta_sink_config *s,
				  int64_t now, struct kta_deliver_stats *stats,
				  struct kta_error *err)
{
	struct kta_state_outbox_item *items = NULL;
	struct kta_error e;
	enum kta_status r;
	size_t n = 0, i;
	int failing = 0;

	kta_error_clear(&e);
	r = kta_state_outbox_next(st, s->name, now, KTA_DELIVER_BATCH, &items, &n, &e);
	if (r == KTA_ERR_USAGE) {
		/* not registered: this sink cannot be served, the others can */
		stats->sinks_failing++;
		stats->last = e;
		return KTA_OK;
	}
	if (r != KTA_OK) {
		if (err != NULL)
			*err = e;
		return r;
	}
	r = KTA_OK;
	for (i = 0; i < n && !failing; i++) {
		struct kta_alert *a = NULL;
		enum kta_status dr;

		kta_error_clear(&e);
		dr = load_alert(&items[i], &a, &e);
		if (dr == KTA_ERR_NOMEM) {
			r = kta_error_set(err, KTA_ERR_NOMEM, "deliver: out of memory");
			break;
		}
		if (dr != KTA_OK) {
			/* a bad stored alert is retried (and visible) but blocks nothing */
			if ((r = mark_failed(st, s, &items[i], now, &e, stats, err)) != KTA_OK)
				break;
			continue;
		}
		stats->attempted++;
		dr = kta_sink_deliver(s, a, items[i].json, strlen(items[i].json), &e);
		kta_alert_free(a);
		if (dr == KTA_OK) {
			stats->delivered++;
			r = kta_state_outbox_mark(st, items[i].id, s->name, 1, 0, NULL, now, err);
		} else {
			failing = 1;
			stats->sinks_failing++;
			r = mark_failed(st, s, &items[i], now, &e, stats, err);
		}
		if (r != KTA_OK)
			break;
	}
	kta_state_outbox_free(items, n);
	return r;
}

enum kta_status kta_deliver_pending(struct kta_state *st, const struct kta_sink_config *sinks,
				    size_t nsinks, int64_t now, struct kta_deliver_stats *stats,
				    struct kta_error *err)
{
	struct kta_deliver_stats local;
	enum kta_status r = KTA_OK;
	size_t i;

	if (stats == NULL)
		stats = &local;
	memset(stats, 0, sizeof(*stats));
	kta_error_clear(&stats->last);
	if (st == NULL || (sinks == NULL && nsinks > 0))
		return kta_error_set(err, KTA_ERR_USAGE, "deliver: missing argument");
	for (i = 0; i < nsinks; i++)
		if ((r = serve_sink(st, &sinks[i], now, stats, err)) != KTA_OK)
			break;
	return r;
}
