/* The relay's sequential prefetch (relay_private.h): while the client takes one range of a
 * file, a thread of the session reads the next one from the upstream, so that the link
 * carries data all the time instead of idling between the client's misses.
 *
 * Two slots: one holds what the reader consumes, the other is filled behind it. A fetch
 * starts whenever a slot is free (the reader is past it) and less than a window is held
 * ahead of the reader; the window doubles with every fetch until a fetch takes longer than
 * RELAY_PREFETCH_SLOW_MS (so that anything else waiting for the connection never waits
 * long, even on a slow link) or reaches RELAY_PREFETCH_MAX.
 *
 * The session's upstream connection is used by one thread at a time: every other use
 * (relay.c, p/io_upstream.c) first waits for the fetch under way (rap__prefetch_wait).
 * Fetches start only for sequential reads of files that are not volatile, and the data
 * held is dropped on any write, command or close that could make it stale. */
#include <string.h>
#include <time.h>

#include "common.h"
#include "relay_private.h"

#define RELAY_PREFETCH_FIRST ((size_t)256 << 10)
#define RELAY_PREFETCH_SLOW_MS 250

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static bool busy(const struct pf_slot *k)
{
	return k->state == PF_QUEUED || k->state == PF_RUNNING;
}

static bool any_busy(const struct relay_prefetch *p)
{
	return busy(&p->slot[0]) || busy(&p->slot[1]);
}

static void *prefetch_main(void *arg)
{
	struct rap_relay_session *s = arg;
	struct relay_prefetch *p = &s->pf;
	pthread_mutex_lock(&p->mu);
	for (;;) {
		struct pf_slot *k = NULL;
		while (!p->quit && !k) {
			for (int i = 0; i < 2; i++)
				if (p->slot[i].state == PF_QUEUED)
					k = &p->slot[i];
			if (!k)
				pthread_cond_wait(&p->cv, &p->mu);
		}
		if (p->quit)
			break;
		k->state = PF_RUNNING;
		/* The connection is ours until DONE: every other user waits for it. */
		struct rap_client *up = s->up;
		bool ext = s->ext;
		int32_t rfd = k->rfd;
		uint64_t off = k->off;
		size_t len = k->len;
		uint8_t *buf = k->buf;
		pthread_mutex_unlock(&p->mu);
		uint64_t t0 = now_ms();
		ssize_t n = ext ? rap_client_pread(up, rfd, off, buf, len) : rap_client_read_at(up, off, buf, len);
		uint64_t took = now_ms() - t0;
		pthread_mutex_lock(&p->mu);
		k->got = n;
		k->state = PF_DONE;
		/* Grow while a fetch stays quick; a slow one (or a short one: the end) stops it. */
		if (n == (ssize_t)len && len >= p->window && took < RELAY_PREFETCH_SLOW_MS && p->window < RELAY_PREFETCH_MAX)
			p->window *= 2;
		pthread_cond_broadcast(&p->cv);
	}
	pthread_mutex_unlock(&p->mu);
	return NULL;
}

int rap__prefetch_init(struct relay_prefetch *p)
{
	memset(p, 0, sizeof(*p));
	if (pthread_mutex_init(&p->mu, NULL) != 0)
		return RAP_ENOMEM;
	if (pthread_cond_init(&p->cv, NULL) != 0) {
		pthread_mutex_destroy(&p->mu);
		return RAP_ENOMEM;
	}
	p->window = RELAY_PREFETCH_FIRST;
	return 0;
}

void rap__prefetch_fini(struct relay_prefetch *p)
{
	pthread_mutex_lock(&p->mu);
	for (int i = 0; i < 2; i++)
		if (p->slot[i].state == PF_QUEUED)
			p->slot[i].state = PF_IDLE; /* not started: nothing to finish */
	/* A fetch under way finishes first (the connection stays in step). */
	while (any_busy(p))
		pthread_cond_wait(&p->cv, &p->mu);
	p->quit = true;
	pthread_cond_broadcast(&p->cv);
	pthread_mutex_unlock(&p->mu);
	if (p->started)
		pthread_join(p->thread, NULL);
	for (int i = 0; i < 2; i++)
		rap__free(p->slot[i].buf);
	pthread_cond_destroy(&p->cv);
	pthread_mutex_destroy(&p->mu);
}

/* Under mu: adds finished fetches to the stats; a failed one is forgotten and its error
 * returned (the first), so the caller can notice a lost connection. */
static int settle(struct rap_relay_session *s)
{
	struct relay_prefetch *p = &s->pf;
	int err = 0;
	for (int i = 0; i < 2; i++) {
		struct pf_slot *k = &p->slot[i];
		if (k->state != PF_DONE || k->counted)
			continue;
		k->counted = true;
		if (k->got < 0) {
			if (!err)
				err = (int)k->got;
			k->state = PF_IDLE;
		} else {
			s->stats.read_bytes += (uint64_t)k->got;
		}
	}
	return err;
}

void rap__prefetch_wait(struct rap_relay_session *s)
{
	struct relay_prefetch *p = &s->pf;
	pthread_mutex_lock(&p->mu);
	while (any_busy(p))
		pthread_cond_wait(&p->cv, &p->mu);
	int err = settle(s);
	pthread_mutex_unlock(&p->mu);
	if (err)
		rap__relay_check(s, err);
}

void rap__prefetch_drop(struct rap_relay_session *s, int32_t rfd)
{
	rap__prefetch_wait(s);
	struct relay_prefetch *p = &s->pf;
	pthread_mutex_lock(&p->mu);
	for (int i = 0; i < 2; i++)
		if (rfd < 0 || p->slot[i].rfd == rfd)
			p->slot[i].state = PF_IDLE;
	p->window = RELAY_PREFETCH_FIRST;
	pthread_mutex_unlock(&p->mu);
}

/* The slot of rfd's data (or fetch under way) that holds off, or NULL. */
static struct pf_slot *covering(struct relay_prefetch *p, int32_t rfd, uint64_t gen, uint64_t off)
{
	for (int i = 0; i < 2; i++) {
		struct pf_slot *k = &p->slot[i];
		if (k->state == PF_IDLE || k->rfd != rfd || k->gen != gen || off < k->off)
			continue;
		uint64_t have = k->state == PF_DONE ? (uint64_t)(k->got > 0 ? k->got : 0) : k->len;
		if (off - k->off < have)
			return k;
	}
	return NULL;
}

size_t rap__prefetch_take(struct rap_relay_session *s, int32_t rfd, uint64_t gen, uint64_t off, uint8_t *buf,
			  size_t len)
{
	struct relay_prefetch *p = &s->pf;
	size_t done = 0;
	pthread_mutex_lock(&p->mu);
	while (done < len) {
		struct pf_slot *k = covering(p, rfd, gen, off + done);
		if (!k)
			break;
		if (busy(k)) {
			/* What the reader needs next is on its way. */
			pthread_cond_wait(&p->cv, &p->mu);
			continue;
		}
		size_t at = (size_t)(off + done - k->off);
		size_t n = (size_t)k->got - at;
		if (n > len - done)
			n = len - done;
		memcpy(buf + done, k->buf + at, n);
		done += n;
		s->stats.prefetch_hits++;
	}
	int err = settle(s);
	/* A failed fetch may mean a lost connection, which the check below closes: never
	 * while another fetch still uses it. */
	while (err && any_busy(p))
		pthread_cond_wait(&p->cv, &p->mu);
	pthread_mutex_unlock(&p->mu);
	if (err)
		rap__relay_check(s, err);
	return done;
}

void rap__prefetch_advance(struct rap_relay_session *s, int32_t rfd, uint64_t gen, uint64_t at, uint64_t limit)
{
	struct relay_prefetch *p = &s->pf;
	if (!s->up)
		return;
	pthread_mutex_lock(&p->mu);
	if (any_busy(p) || p->quit) {
		pthread_mutex_unlock(&p->mu);
		return; /* one fetch at a time; the next read advances again */
	}
	/* Where the data held ahead of the reader ends, and a slot it no longer needs. */
	uint64_t ahead = at;
	struct pf_slot *k;
	while ((k = covering(p, rfd, gen, ahead)) != NULL)
		ahead = k->off + (uint64_t)k->got;
	struct pf_slot *free_slot = NULL;
	for (int i = 0; i < 2 && !free_slot; i++) {
		k = &p->slot[i];
		if (k->state == PF_IDLE || k->rfd != rfd || k->gen != gen || k->off + (uint64_t)(k->got > 0 ? k->got : 0) <= at)
			free_slot = k;
	}
	size_t len = p->window;
	if (!free_slot || ahead - at >= len || ahead >= limit) {
		pthread_mutex_unlock(&p->mu);
		return;
	}
	if (limit - ahead < len)
		len = (size_t)(limit - ahead);
	if (free_slot->cap < len) {
		uint8_t *b = rap__realloc(free_slot->buf, len);
		if (!b) {
			/* Without the memory the reads are simply not prefetched. */
			pthread_mutex_unlock(&p->mu);
			return;
		}
		free_slot->buf = b;
		free_slot->cap = len;
	}
	if (!p->started) {
		if (pthread_create(&p->thread, NULL, prefetch_main, s) != 0) {
			pthread_mutex_unlock(&p->mu);
			return;
		}
		p->started = true;
	}
	free_slot->rfd = rfd;
	free_slot->gen = gen;
	free_slot->off = ahead;
	free_slot->len = len;
	free_slot->got = 0;
	free_slot->counted = false;
	free_slot->state = PF_QUEUED;
	s->stats.prefetches++;
	s->stats.reads++;
	pthread_cond_broadcast(&p->cv);
	pthread_mutex_unlock(&p->mu);
}
