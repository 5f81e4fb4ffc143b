/* The read cache: aligned blocks per descriptor, an LRU over the whole instance under one
 * memory bound, read-ahead per sequential stream that doubles until the link stops paying
 * for it, and write-through invalidation. What it promises is in rap/io.h ("the read
 * cache"); how it is wired into the descriptors is io.c's business (io_cache.h).
 *
 * Locking: one mutex per instance guards everything here (every descriptor's blocks, the
 * LRU, the counters). It is a leaf lock, held only while blocks are looked up, copied or
 * stored, never across a plugin call. A miss plans its request under the lock, reads
 * without it, and stores what came back only if no invalidation happened meanwhile (the
 * descriptor's generation is unchanged); reads of one descriptor are already serialised by
 * io.c (its operation lock), so two misses never race to fill the same blocks. */
#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <time.h>

#include <rap/io.h>

#include "common.h"
#include "io_cache.h"

#define BLOCK ((uint64_t)RAP_IO_CACHE_BLOCK)
#define STREAMS 4
/* A doubled request must raise the throughput by this factor for the next to double too. */
#define GROWTH_GAIN 1.05
#define BUCKETS_MIN 16u

/* One block of a descriptor's data: len bytes from index * BLOCK (fewer than BLOCK only
 * where the data ended, or, for a volatile descriptor, where a hole began). */
struct cblock {
	struct rap__io_cache_fd *owner;
	uint64_t index;
	size_t len;
	struct cblock *hnext;        /* owner's hash chain */
	struct cblock *lprev, *lnext; /* the instance's LRU, most recent first */
	uint8_t data[];
};

/* A sequential reader: where its last request began and ended, and what it measured. */
struct stream {
	bool used;
	bool saturated;  /* doubling stopped paying: requests keep their size */
	uint64_t start;  /* the last request: [start, next) */
	uint64_t next;
	uint64_t size;   /* bytes asked */
	uint64_t got;    /* bytes answered */
	uint64_t ns;     /* how long the plugin took */
	uint64_t tick;   /* last use, for replacement */
};

struct rap__io_cache_fd {
	struct rap__io_cache *cache;
	struct rap__io_cache_fd *prev, *next; /* the instance's list */
	unsigned flags;
	uint64_t gen;                   /* bumped by every invalidation */
	struct cblock **buckets;        /* owned; NULL until the first block */
	size_t nbuckets, nblocks;
	size_t bytes;                   /* memory its blocks hold */
	bool eof_known, size_known;     /* stable descriptors: where the data ends, its size */
	uint64_t eof, size;
	struct stream streams[STREAMS];
	uint64_t tick;
	struct rap_io_cache_stats st;   /* counters; the memory fields are filled when asked */
};

struct rap__io_cache {
	pthread_mutex_t lock;
	size_t max;       /* bound on used */
	size_t readahead; /* most one stream's request grows to */
	size_t used;      /* blocks and their headers, all descriptors */
	struct cblock *lru_head, *lru_tail;
	struct rap__io_cache_fd *fds;
	uint64_t (*now_ns)(void *user);
	void *clock_user;
};

/* ---- small helpers --------------------------------------------------------------------- */

static uint64_t monotonic_ns(void *user)
{
	(void)user;
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static size_t block_cost(size_t len)
{
	return sizeof(struct cblock) + len;
}

/* Whether f's reads go through the cache now. */
static bool active(const struct rap__io_cache_fd *f)
{
	return (f->flags & RAP_IO_CACHE_ON) && f->cache->max >= block_cost(BLOCK);
}

static bool is_volatile(const struct rap__io_cache_fd *f)
{
	return (f->flags & RAP_IO_CACHE_VOLATILE) != 0;
}

static size_t bucket_of(const struct rap__io_cache_fd *f, uint64_t index)
{
	/* Fibonacci hashing: consecutive blocks spread over the buckets. */
	return (size_t)((index * 0x9e3779b97f4a7c15ull) >> 32) & (f->nbuckets - 1);
}

static struct cblock *find(const struct rap__io_cache_fd *f, uint64_t index)
{
	if (!f->buckets)
		return NULL;
	for (struct cblock *b = f->buckets[bucket_of(f, index)]; b; b = b->hnext)
		if (b->index == index)
			return b;
	return NULL;
}

static void lru_unlink(struct rap__io_cache *c, struct cblock *b)
{
	if (b->lprev)
		b->lprev->lnext = b->lnext;
	else
		c->lru_head = b->lnext;
	if (b->lnext)
		b->lnext->lprev = b->lprev;
	else
		c->lru_tail = b->lprev;
	b->lprev = b->lnext = NULL;
}

static void lru_push(struct rap__io_cache *c, struct cblock *b)
{
	b->lprev = NULL;
	b->lnext = c->lru_head;
	if (c->lru_head)
		c->lru_head->lprev = b;
	else
		c->lru_tail = b;
	c->lru_head = b;
}

/* Takes b out of its owner's table and the LRU, and frees it. */
static void drop_block(struct rap__io_cache *c, struct cblock *b)
{
	struct rap__io_cache_fd *f = b->owner;
	struct cblock **p = &f->buckets[bucket_of(f, b->index)];
	while (*p != b)
		p = &(*p)->hnext;
	*p = b->hnext;
	f->nblocks--;
	f->bytes -= block_cost(b->len);
	c->used -= block_cost(b->len);
	lru_unlink(c, b);
	rap__free(b);
}

/* Doubles f's table when its chains grow long; without memory the chains just stay long. */
static void maybe_grow(struct rap__io_cache_fd *f)
{
	if (f->buckets && f->nblocks < f->nbuckets * 2)
		return;
	size_t n = f->buckets ? f->nbuckets * 2 : BUCKETS_MIN;
	struct cblock **nb = rap__calloc(n, sizeof(*nb));
	if (!nb)
		return;
	struct cblock **old = f->buckets;
	size_t oldn = f->nbuckets;
	f->buckets = nb;
	f->nbuckets = n;
	for (size_t i = 0; old && i < oldn; i++) {
		for (struct cblock *b = old[i], *next; b; b = next) {
			next = b->hnext;
			size_t k = bucket_of(f, b->index);
			b->hnext = nb[k];
			nb[k] = b;
		}
	}
	rap__free(old);
}

static void evict_to(struct rap__io_cache *c, size_t room)
{
	while (c->lru_tail && c->used > room) {
		c->lru_tail->owner->st.evictions++;
		drop_block(c, c->lru_tail);
	}
}

/* Stores len (<= BLOCK) bytes as block index of f, replacing one held there. Without
 * memory, or without a table, the block is simply not kept. */
static void store_block(struct rap__io_cache_fd *f, uint64_t index, const uint8_t *data, size_t len)
{
	struct rap__io_cache *c = f->cache;
	struct cblock *old = find(f, index);
	if (old)
		drop_block(c, old);
	if (block_cost(len) > c->max)
		return;
	evict_to(c, c->max - block_cost(len));
	maybe_grow(f);
	if (!f->buckets)
		return;
	struct cblock *b = rap__malloc(block_cost(len));
	if (!b)
		return;
	b->owner = f;
	b->index = index;
	b->len = len;
	memcpy(b->data, data, len);
	size_t k = bucket_of(f, index);
	b->hnext = f->buckets[k];
	f->buckets[k] = b;
	f->nblocks++;
	f->bytes += block_cost(len);
	c->used += block_cost(len);
	lru_push(c, b);
}

static void drop_all(struct rap__io_cache_fd *f)
{
	for (size_t i = 0; f->buckets && i < f->nbuckets; i++)
		while (f->buckets[i])
			drop_block(f->cache, f->buckets[i]);
}

/* Drops f's blocks and what it knew of its data; a miss under way keeps nothing. */
static void forget(struct rap__io_cache_fd *f)
{
	drop_all(f);
	f->eof_known = f->size_known = false;
	f->gen++;
}

static void invalidate_locked(struct rap__io_cache_fd *f)
{
	forget(f);
	f->st.invalidations++;
}

/* Drops f's blocks that overlap [off, off + len). */
static void drop_range(struct rap__io_cache_fd *f, uint64_t off, size_t len)
{
	uint64_t first = off / BLOCK;
	uint64_t last = (len - 1 > UINT64_MAX - off ? UINT64_MAX : off + len - 1) / BLOCK;
	bool any = false;
	if (last - first >= f->nblocks) {
		/* A range wider than what f holds: walk the blocks rather than the range. */
		for (size_t i = 0; f->buckets && i < f->nbuckets; i++) {
			for (struct cblock *b = f->buckets[i], *next; b; b = next) {
				next = b->hnext;
				if (b->index >= first && b->index <= last) {
					drop_block(f->cache, b);
					any = true;
				}
			}
		}
	} else {
		for (uint64_t i = first;; i++) {
			struct cblock *b = find(f, i);
			if (b) {
				drop_block(f->cache, b);
				any = true;
			}
			if (i == last)
				break;
		}
	}
	/* The block where the data ended may now go on. */
	if (f->eof_known) {
		struct cblock *b = find(f, f->eof / BLOCK);
		if (b && b->len < BLOCK) {
			drop_block(f->cache, b);
			any = true;
		}
	}
	f->eof_known = f->size_known = false;
	f->gen++;
	if (any)
		f->st.invalidations++;
}

/* ---- instance and descriptors ---------------------------------------------------------- */

int rap__io_cache_new(struct rap__io_cache **out)
{
	*out = NULL;
	struct rap__io_cache *c = rap__calloc(1, sizeof(*c));
	if (!c)
		return RAP_ENOMEM;
	int rc = pthread_mutex_init(&c->lock, NULL);
	if (rc != 0) {
		rap__free(c);
		return -rc;
	}
	c->max = RAP_IO_CACHE_MAX_DEFAULT;
	c->readahead = RAP_IO_CACHE_READAHEAD_DEFAULT;
	c->now_ns = monotonic_ns;
	*out = c;
	return 0;
}

void rap__io_cache_free(struct rap__io_cache *c)
{
	if (!c)
		return;
	pthread_mutex_destroy(&c->lock);
	rap__free(c);
}

int rap__io_cache_fd_new(struct rap__io_cache *c, struct rap__io_cache_fd **out)
{
	*out = NULL;
	struct rap__io_cache_fd *f = rap__calloc(1, sizeof(*f));
	if (!f)
		return RAP_ENOMEM;
	f->cache = c;
	pthread_mutex_lock(&c->lock);
	f->next = c->fds;
	if (c->fds)
		c->fds->prev = f;
	c->fds = f;
	pthread_mutex_unlock(&c->lock);
	*out = f;
	return 0;
}

void rap__io_cache_fd_free(struct rap__io_cache_fd *f)
{
	if (!f)
		return;
	struct rap__io_cache *c = f->cache;
	pthread_mutex_lock(&c->lock);
	drop_all(f);
	if (f->prev)
		f->prev->next = f->next;
	else
		c->fds = f->next;
	if (f->next)
		f->next->prev = f->prev;
	pthread_mutex_unlock(&c->lock);
	rap__free(f->buckets);
	rap__free(f);
}

void rap__io_cache_fd_set(struct rap__io_cache_fd *f, unsigned flags)
{
	pthread_mutex_lock(&f->cache->lock);
	if (flags != f->flags) {
		forget(f);
		f->flags = flags;
	}
	pthread_mutex_unlock(&f->cache->lock);
}

unsigned rap__io_cache_fd_flags(struct rap__io_cache_fd *f)
{
	pthread_mutex_lock(&f->cache->lock);
	unsigned flags = f->flags;
	pthread_mutex_unlock(&f->cache->lock);
	return flags;
}

/* ---- reads ----------------------------------------------------------------------------- */

/* The largest request one miss makes (the caller's range may need several), and the most
 * read-ahead may grow to: fractions of the bound, so that one request never evicts most of
 * what the others cached. */
static uint64_t request_max(const struct rap__io_cache *c)
{
	uint64_t m = (c->max / 2) / BLOCK * BLOCK;
	return m ? m : BLOCK;
}

static uint64_t readahead_max(const struct rap__io_cache *c)
{
	uint64_t m = c->readahead < c->max / 4 ? c->readahead : c->max / 4;
	return m / BLOCK * BLOCK;
}

/* The size a stream's next request grows to (before the caller's own range and the
 * limits): twice its last one until the read-ahead limit or until doubling stopped paying. */
static uint64_t grown_size(const struct stream *s, uint64_t ra)
{
	if (s->saturated)
		return s->size;
	return s->size > ra / 2 ? ra : 2 * s->size;
}

static struct stream *stream_at(struct rap__io_cache_fd *f, uint64_t start)
{
	for (int i = 0; i < STREAMS; i++)
		if (f->streams[i].used && f->streams[i].next == start)
			return &f->streams[i];
	return NULL;
}

static struct stream *stream_new(struct rap__io_cache_fd *f)
{
	struct stream *s = &f->streams[0];
	for (int i = 1; i < STREAMS && s->used; i++)
		if (!f->streams[i].used || f->streams[i].tick < s->tick)
			s = &f->streams[i];
	memset(s, 0, sizeof(*s));
	s->used = true;
	return s;
}

/* A hit in block index keeps alive the stream whose last request held it. */
static void stream_touch(struct rap__io_cache_fd *f, uint64_t index)
{
	uint64_t at = index * BLOCK;
	for (int i = 0; i < STREAMS; i++) {
		struct stream *s = &f->streams[i];
		if (s->used && at >= s->start && at < s->next) {
			s->tick = ++f->tick;
			return;
		}
	}
}

/* What a miss asks the plugin for: [start, start + size), start block-aligned. */
struct plan {
	uint64_t start;
	uint64_t size;
	struct stream *stream;
	bool sequential;
	uint64_t gen;
};

/* Plans the miss at start (block-aligned) of a caller who needs need bytes from there
 * (whole blocks): the caller's blocks, grown to the stream's next size when it continues
 * one, then cut to the limits, to the next block held, and to the end of the data. */
static void plan_miss(struct rap__io_cache_fd *f, uint64_t start, uint64_t need, struct plan *p)
{
	struct rap__io_cache *c = f->cache;
	uint64_t ra = readahead_max(c);
	uint64_t size = need;
	p->start = start;
	p->stream = stream_at(f, start);
	p->sequential = p->stream != NULL;
	if (p->stream) {
		uint64_t grown = grown_size(p->stream, ra);
		if (grown > size)
			size = grown;
	} else {
		p->stream = stream_new(f);
	}
	if (size > request_max(c))
		size = request_max(c);
	/* Up to the next block held already, and no further than the data goes. */
	for (uint64_t k = 1; k < size / BLOCK; k++) {
		if (find(f, start / BLOCK + k)) {
			size = k * BLOCK;
			break;
		}
	}
	if (f->eof_known && f->eof > start && f->eof - start < size)
		size = (f->eof - start + BLOCK - 1) / BLOCK * BLOCK;
	/* Nothing lies past 2^64 - 1. */
	if (size - 1 > UINT64_MAX - start)
		size = UINT64_MAX - start + 1;
	p->size = size;
	p->gen = f->gen;
}

/* After the request of p answered got bytes (>= 0) in ns: the stream's measurements, the
 * blocks, and the end of the data. Under the lock. */
static void complete_miss(struct rap__io_cache_fd *f, const struct plan *p, const uint8_t *data, uint64_t got,
			  uint64_t ns)
{
	struct stream *s = p->stream;
	/* A doubled request that was answered in full: did the throughput rise enough for
	 * the next to double again? (Bytes per nanosecond, compared as products.) */
	if (p->sequential && !s->saturated && got == p->size && s->got && s->ns && ns && p->size >= 2 * s->size &&
	    (double)got * (double)s->ns < GROWTH_GAIN * (double)s->got * (double)ns)
		s->saturated = true;
	s->start = p->start;
	s->next = p->start + p->size;
	s->size = p->size;
	s->got = got;
	s->ns = ns;
	s->tick = ++f->tick;
	if (p->gen != f->gen || !active(f))
		return; /* invalidated meanwhile: hand the data out, keep nothing */
	for (uint64_t at = 0; at < got; at += BLOCK) {
		size_t len = got - at < BLOCK ? (size_t)(got - at) : (size_t)BLOCK;
		store_block(f, (p->start + at) / BLOCK, data + at, len);
	}
	/* A stable plugin answers short only where its data ends (pread-like); a volatile one
	 * may have a hole there, with more behind it. */
	if (got < p->size && !is_volatile(f)) {
		f->eof_known = true;
		f->eof = p->start + got;
	}
}

/* Reads [off, off + len) from the plugin directly (counted as a request). Under the lock on
 * entry and on return; without it during the read. */
static ssize_t direct(struct rap__io_cache_fd *f, rap__io_cache_read_fn fn, void *user, uint64_t off, void *buf,
		      size_t len)
{
	pthread_mutex_unlock(&f->cache->lock);
	ssize_t n = fn(user, off, buf, len);
	pthread_mutex_lock(&f->cache->lock);
	f->st.requests++;
	if (n > 0)
		f->st.bytes += (uint64_t)n;
	return n;
}

/* done bytes were read before a direct read answered n. */
static ssize_t combine(size_t done, ssize_t n)
{
	if (n < 0)
		return done ? (ssize_t)done : n;
	return (ssize_t)(done + (size_t)n);
}

ssize_t rap__io_cache_read(struct rap__io_cache_fd *f, rap__io_cache_read_fn fn, void *user, uint64_t off,
			   void *buf, size_t len)
{
	if (!f)
		return fn(user, off, buf, len);
	struct rap__io_cache *c = f->cache;
	/* Nothing lies past 2^64 - 1 (off 0 cannot wrap: len fits in ssize_t). */
	if (off && len - 1 > UINT64_MAX - off)
		len = (size_t)(UINT64_MAX - off) + 1;
	pthread_mutex_lock(&c->lock);
	if (!active(f)) {
		pthread_mutex_unlock(&c->lock);
		return fn(user, off, buf, len);
	}
	uint8_t *dst = buf;
	size_t done = 0;
	bool missed = false;
	ssize_t ret;
	for (;;) {
		/* As far as the blocks held go. */
		while (done < len) {
			uint64_t pos = off + done;
			if (f->eof_known && pos >= f->eof)
				goto out;
			struct cblock *b = find(f, pos / BLOCK);
			if (!b)
				break;
			size_t in = (size_t)(pos % BLOCK);
			if (in >= b->len) {
				/* Past a short block: the end of a stable descriptor's data; for a
				 * volatile one a hole, after which the plugin alone can tell. */
				if (!is_volatile(f))
					goto out;
				missed = true;
				ret = combine(done, direct(f, fn, user, pos, dst + done, len - done));
				goto done_ret;
			}
			size_t n = b->len - in < len - done ? b->len - in : len - done;
			memcpy(dst + done, b->data + in, n);
			done += n;
			lru_unlink(c, b);
			lru_push(c, b);
			stream_touch(f, b->index);
		}
		if (done == len)
			goto out;

		/* A miss: one request for the missing blocks, the rest of the range, the
		 * read-ahead; straight to the plugin when another thread turned the cache off
		 * while the previous request ran. */
		missed = true;
		uint64_t pos = off + done;
		if (!active(f)) {
			ret = combine(done, direct(f, fn, user, pos, dst + done, len - done));
			goto done_ret;
		}
		uint64_t start = pos / BLOCK * BLOCK;
		uint64_t end = pos + (len - done) - 1; /* last byte wanted (len was cut not to wrap) */
		/* Whole blocks; fewer than 2^48 of them, since len < 2^63. */
		uint64_t need = (end / BLOCK - start / BLOCK + 1) * BLOCK;
		struct plan p;
		plan_miss(f, start, need, &p);
		pthread_mutex_unlock(&c->lock);
		uint8_t *tmp = rap__malloc((size_t)p.size);
		uint64_t t0 = 0, t1 = 0;
		ssize_t n = 0;
		if (tmp) {
			t0 = c->now_ns(c->clock_user);
			n = fn(user, p.start, tmp, (size_t)p.size);
			t1 = c->now_ns(c->clock_user);
		}
		pthread_mutex_lock(&c->lock);
		if (!tmp) {
			/* No memory for the request: the plugin reads into the caller's buffer. */
			ret = combine(done, direct(f, fn, user, pos, dst + done, len - done));
			goto done_ret;
		}
		f->st.requests++;
		if (n < 0) {
			/* Never cached. Read-ahead or alignment may have asked for what cannot be
			 * read: the caller's own range decides, and the stream starts over small. */
			rap__free(tmp);
			p.stream->used = false;
			if (p.start == pos && p.size == len - done)
				ret = done ? (ssize_t)done : n;
			else
				ret = combine(done, direct(f, fn, user, pos, dst + done, len - done));
			goto done_ret;
		}
		uint64_t got = (uint64_t)n > p.size ? p.size : (uint64_t)n;
		f->st.bytes += got;
		complete_miss(f, &p, tmp, got, t1 - t0);
		uint64_t at = pos - start;
		if (got <= at) {
			rap__free(tmp);
			if (!is_volatile(f))
				goto out; /* the data ends before pos */
			ret = combine(done, direct(f, fn, user, pos, dst + done, len - done));
			goto done_ret;
		}
		size_t k = got - at < len - done ? (size_t)(got - at) : len - done;
		memcpy(dst + done, tmp + at, k);
		done += k;
		rap__free(tmp);
		if (got < p.size && done < len) {
			/* Short within the range: the end of the data, or a hole. */
			if (!is_volatile(f))
				goto out;
			ret = combine(done, direct(f, fn, user, off + done, dst + done, len - done));
			goto done_ret;
		}
	}
out:
	ret = (ssize_t)done;
done_ret:
	if (missed)
		f->st.misses++;
	else
		f->st.hits++;
	pthread_mutex_unlock(&c->lock);
	return ret;
}

int rap__io_cache_size(struct rap__io_cache_fd *f, rap__io_cache_size_fn fn, void *user, uint64_t *size)
{
	if (!f)
		return fn(user, size);
	struct rap__io_cache *c = f->cache;
	pthread_mutex_lock(&c->lock);
	if (active(f) && f->size_known) {
		*size = f->size;
		pthread_mutex_unlock(&c->lock);
		return 0;
	}
	uint64_t gen = f->gen;
	pthread_mutex_unlock(&c->lock);
	uint64_t v = 0;
	int rc = fn(user, &v);
	if (rc < 0)
		return rc;
	pthread_mutex_lock(&c->lock);
	if (active(f) && gen == f->gen) {
		f->size_known = true;
		f->size = v;
	}
	pthread_mutex_unlock(&c->lock);
	*size = v;
	return rc;
}

/* ---- invalidation ---------------------------------------------------------------------- */

void rap__io_cache_wrote(struct rap__io_cache_fd *f, uint64_t off, size_t len)
{
	if (!f || !len)
		return;
	struct rap__io_cache *c = f->cache;
	pthread_mutex_lock(&c->lock);
	for (struct rap__io_cache_fd *g = c->fds; g; g = g->next) {
		if (is_volatile(g))
			invalidate_locked(g);
		else
			drop_range(g, off, len);
	}
	pthread_mutex_unlock(&c->lock);
}

void rap__io_cache_invalidate(struct rap__io_cache_fd *f)
{
	if (!f)
		return;
	pthread_mutex_lock(&f->cache->lock);
	invalidate_locked(f);
	pthread_mutex_unlock(&f->cache->lock);
}

static void invalidate_where(struct rap__io_cache *c, bool volatile_only)
{
	if (!c)
		return;
	pthread_mutex_lock(&c->lock);
	for (struct rap__io_cache_fd *g = c->fds; g; g = g->next)
		if (!volatile_only || is_volatile(g))
			invalidate_locked(g);
	pthread_mutex_unlock(&c->lock);
}

void rap__io_cache_invalidate_volatile(struct rap__io_cache *c)
{
	invalidate_where(c, true);
}

void rap__io_cache_invalidate_all(struct rap__io_cache *c)
{
	invalidate_where(c, false);
}

/* ---- settings -------------------------------------------------------------------------- */

void rap__io_cache_set_max(struct rap__io_cache *c, size_t bytes)
{
	pthread_mutex_lock(&c->lock);
	c->max = bytes;
	evict_to(c, bytes < block_cost(BLOCK) ? 0 : bytes);
	pthread_mutex_unlock(&c->lock);
}

size_t rap__io_cache_max(struct rap__io_cache *c)
{
	pthread_mutex_lock(&c->lock);
	size_t v = c->max;
	pthread_mutex_unlock(&c->lock);
	return v;
}

void rap__io_cache_set_readahead(struct rap__io_cache *c, size_t bytes)
{
	pthread_mutex_lock(&c->lock);
	c->readahead = bytes;
	pthread_mutex_unlock(&c->lock);
}

size_t rap__io_cache_readahead(struct rap__io_cache *c)
{
	pthread_mutex_lock(&c->lock);
	size_t v = c->readahead;
	pthread_mutex_unlock(&c->lock);
	return v;
}

void rap__io_cache_stats(struct rap__io_cache_fd *f, struct rap_io_cache_stats *out)
{
	struct rap__io_cache *c = f->cache;
	pthread_mutex_lock(&c->lock);
	*out = f->st;
	out->cached = f->bytes;
	out->used = c->used;
	out->max = c->max;
	/* What the next sequential miss of the latest stream asks (0 before any). */
	const struct stream *latest = NULL;
	for (int i = 0; i < STREAMS; i++)
		if (f->streams[i].used && (!latest || f->streams[i].tick > latest->tick))
			latest = &f->streams[i];
	uint64_t next = 0;
	if (latest) {
		next = grown_size(latest, readahead_max(c));
		if (next < BLOCK)
			next = BLOCK;
		if (next > request_max(c))
			next = request_max(c);
	}
	out->readahead = next > SIZE_MAX ? SIZE_MAX : (size_t)next;
	pthread_mutex_unlock(&c->lock);
}

void rap__io_cache_set_clock(struct rap__io_cache *c, uint64_t (*now_ns)(void *user), void *user)
{
	pthread_mutex_lock(&c->lock);
	c->now_ns = now_ns ? now_ns : monotonic_ns;
	c->clock_user = now_ns ? user : NULL;
	pthread_mutex_unlock(&c->lock);
}
