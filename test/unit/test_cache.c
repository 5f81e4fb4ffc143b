/* The read cache of librap-io (rap/io.h, "the read cache") through a counting test plugin:
 * hits and misses, many tiny reads turned into few plugin reads, read-ahead growth on
 * played links (a fake clock) and its caps, random access, the memory bound and LRU
 * eviction, write-through and invalidation (writes, rap_io_system, volatile descriptors,
 * stable ones), the end of the data, holes, errors, allocation failures, threads, the cache
 * turned off; then rap:// against an in-process server, and libcore's e io.cache.size and
 * per-command invalidation. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include <rap/core.h>
#include <rap/io.h>
#include <rap/rap.h>

#include "common.h"
#include "core_private.h"
#include "debug.h"
#include "io_private.h"

#define KIB ((uint64_t)1024)
#define MIB (1024 * KIB)
#define BLK ((uint64_t)RAP_IO_CACHE_BLOCK)
#define WRITABLE (1u << 20) /* the plugin's backing store; past it, pattern bytes */
#define LOG_MAX 4096u

/* ---- a counting plugin: count://stable, count://volatile, count://off -------------------- */

static uint8_t pattern(uint64_t off)
{
	return (uint8_t)((off * 2654435761u) >> 13) ^ (uint8_t)(off >> 33);
}

static struct {
	pthread_mutex_t lock;
	uint8_t store[WRITABLE];   /* bytes below WRITABLE; pattern() above */
	uint64_t end;              /* the data ends here (exclusive) */
	uint64_t fail_from, fail_to; /* reads overlapping this range fail with -EIO */
	uint64_t hole_from, hole_to; /* reads stop at the hole and read 0 in it (as dbg://) */
	uint64_t latency_ns, ns_per_byte; /* the played link: what each read adds to the clock */
	uint64_t now;              /* the fake clock */
	uint64_t reads, read_bytes, writes, sizes, systems;
	uint64_t largest;
	uint64_t log_off[LOG_MAX], log_len[LOG_MAX];
	size_t nlog;
} cnt = { .lock = PTHREAD_MUTEX_INITIALIZER };

static uint8_t byte_at(uint64_t off)
{
	return off < WRITABLE ? cnt.store[off] : pattern(off);
}

static void cnt_reset(uint64_t end)
{
	pthread_mutex_lock(&cnt.lock);
	for (uint64_t i = 0; i < WRITABLE; i++)
		cnt.store[i] = pattern(i);
	cnt.end = end;
	cnt.fail_from = cnt.fail_to = 0;
	cnt.hole_from = cnt.hole_to = 0;
	cnt.latency_ns = 20000000; /* 20 ms and no bandwidth limit: read-ahead grows to its cap */
	cnt.ns_per_byte = 0;
	cnt.reads = cnt.read_bytes = cnt.writes = cnt.sizes = cnt.systems = 0;
	cnt.largest = 0;
	cnt.nlog = 0;
	pthread_mutex_unlock(&cnt.lock);
}

static uint64_t fake_clock(void *user)
{
	(void)user;
	pthread_mutex_lock(&cnt.lock);
	uint64_t t = cnt.now;
	pthread_mutex_unlock(&cnt.lock);
	return t;
}

static bool cnt_accepts(const char *uri)
{
	return strncmp(uri, "count://", 8) == 0;
}

static int cnt_open(struct rap_io_desc *d, const char *uri, int perm)
{
	(void)perm;
	const char *kind = uri + 8;
	if (!strcmp(kind, "stable"))
		rap_io_desc_set_cache(d, RAP_IO_CACHE_ON);
	else if (!strcmp(kind, "volatile"))
		rap_io_desc_set_cache(d, RAP_IO_CACHE_ON | RAP_IO_CACHE_VOLATILE);
	else if (strcmp(kind, "off") != 0)
		return RAP_EINVAL;
	return 0;
}

static int cnt_close(struct rap_io_desc *d)
{
	(void)d;
	return 0;
}

static ssize_t cnt_read(struct rap_io_desc *d, uint64_t off, void *buf, size_t len)
{
	(void)d;
	pthread_mutex_lock(&cnt.lock);
	if (cnt.nlog < LOG_MAX) {
		cnt.log_off[cnt.nlog] = off;
		cnt.log_len[cnt.nlog++] = len;
	}
	cnt.reads++;
	if (len > cnt.largest)
		cnt.largest = len;
	cnt.now += cnt.latency_ns + len * cnt.ns_per_byte;
	uint64_t end = cnt.end, ff = cnt.fail_from, ft = cnt.fail_to, hf = cnt.hole_from, ht = cnt.hole_to;
	pthread_mutex_unlock(&cnt.lock);
	if (ff < ft && off < ft && off + len > ff)
		return -EIO;
	if (off >= end)
		return 0;
	uint64_t n = end - off < len ? end - off : len;
	if (hf < ht && off >= hf && off < ht)
		return 0;
	if (hf < ht && off < hf && off + n > hf)
		n = hf - off;
	uint8_t *b = buf;
	pthread_mutex_lock(&cnt.lock);
	for (uint64_t i = 0; i < n; i++)
		b[i] = byte_at(off + i);
	cnt.read_bytes += n;
	pthread_mutex_unlock(&cnt.lock);
	return (ssize_t)n;
}

static ssize_t cnt_write(struct rap_io_desc *d, uint64_t off, const void *buf, size_t len)
{
	(void)d;
	if (off >= WRITABLE || len > WRITABLE - off)
		return -ENOSPC;
	pthread_mutex_lock(&cnt.lock);
	memcpy(cnt.store + off, buf, len);
	if (off + len > cnt.end)
		cnt.end = off + len;
	cnt.writes++;
	pthread_mutex_unlock(&cnt.lock);
	return (ssize_t)len;
}

static int cnt_size(struct rap_io_desc *d, uint64_t *size)
{
	(void)d;
	pthread_mutex_lock(&cnt.lock);
	cnt.sizes++;
	*size = cnt.end;
	pthread_mutex_unlock(&cnt.lock);
	return 0;
}

static int cnt_system(struct rap_io_desc *d, const char *cmd, char **out)
{
	(void)d;
	(void)cmd;
	pthread_mutex_lock(&cnt.lock);
	cnt.systems++;
	pthread_mutex_unlock(&cnt.lock);
	*out = strdup("");
	return *out ? 0 : RAP_ENOMEM;
}

static const struct rap_io_plugin cnt_plugin = {
	.abi = RAP_IO_PLUGIN_ABI,
	.name = "count",
	.desc = "Test plugin: counts what reaches it",
	.uris = "count://",
	.accepts = cnt_accepts,
	.open = cnt_open,
	.close = cnt_close,
	.read = cnt_read,
	.write = cnt_write,
	.size = cnt_size,
	.system = cnt_system,
};

/* Changes the backing store behind the descriptors' back (as another writer would). */
static void poke(uint64_t off, const char *bytes)
{
	pthread_mutex_lock(&cnt.lock);
	memcpy(cnt.store + off, bytes, strlen(bytes));
	pthread_mutex_unlock(&cnt.lock);
}

/* ---- helpers ----------------------------------------------------------------------------- */

static struct rap_io *new_io(void)
{
	struct rap_io *io = NULL;
	assert_int_equal(rap_io_new(&io), 0);
	assert_int_equal(rap_io_register(io, &cnt_plugin), 0);
	rap__io_set_cache_clock(io, fake_clock, NULL);
	return io;
}

static int open_count(struct rap_io *io, const char *kind, int perm)
{
	char uri[64];
	snprintf(uri, sizeof(uri), "count://%s", kind);
	int fd = rap_io_open(io, uri, perm);
	assert_true(fd >= 3);
	return fd;
}

/* Reads len bytes at off and checks them against the plugin's data; returns the count. */
static size_t read_check(struct rap_io *io, int fd, uint64_t off, size_t len)
{
	uint8_t *buf = malloc(len ? len : 1);
	assert_non_null(buf);
	ssize_t n = rap_io_read_at(io, fd, off, buf, len);
	if (n < 0)
		fail_msg("read of %zu at 0x%llx: %s", len, (unsigned long long)off, rap_strerror((int)n));
	uint64_t want = off >= cnt.end ? 0 : cnt.end - off < len ? cnt.end - off : len;
	if ((uint64_t)n != want)
		fail_msg("read of %zu at 0x%llx: %zd bytes, expected %llu", len, (unsigned long long)off, n,
			 (unsigned long long)want);
	for (size_t i = 0; i < (size_t)n; i++)
		if (buf[i] != byte_at(off + i))
			fail_msg("byte 0x%llx differs", (unsigned long long)(off + i));
	free(buf);
	return (size_t)n;
}

static struct rap_io_cache_stats stats(struct rap_io *io, int fd)
{
	struct rap_io_cache_stats st;
	assert_int_equal(rap_io_cache_stats(io, fd, &st), 0);
	return st;
}

/* ---- hits, misses, tiny reads ------------------------------------------------------------ */

static void test_hits_and_misses(void **state)
{
	(void)state;
	cnt_reset(4 * MIB);
	struct rap_io *io = new_io();
	int fd = open_count(io, "stable", RAP_PERM_R);
	assert_int_equal(rap_io_cache_get(io, fd), RAP_IO_CACHE_ON);
	read_check(io, fd, 10, 4);
	struct rap_io_cache_stats st = stats(io, fd);
	assert_int_equal(st.misses, 1);
	assert_int_equal(st.hits, 0);
	assert_int_equal(st.requests, 1);
	assert_int_equal(st.bytes, BLK);
	/* The plugin was asked for the aligned block, once. */
	assert_int_equal(cnt.reads, 1);
	assert_int_equal(cnt.log_off[0], 0);
	assert_int_equal(cnt.log_len[0], BLK);
	/* Anywhere in that block: a hit, no plugin read. */
	read_check(io, fd, 0, 16);
	read_check(io, fd, BLK - 100, 100);
	st = stats(io, fd);
	assert_int_equal(st.hits, 2);
	assert_int_equal(st.misses, 1);
	assert_int_equal(cnt.reads, 1);
	assert_true(st.cached >= BLK && st.cached < BLK + 1024);
	assert_int_equal(st.used, st.cached);
	assert_int_equal(st.max, RAP_IO_CACHE_MAX_DEFAULT);
	/* Across the block's end: the held part, then one request for the rest. */
	read_check(io, fd, BLK - 8, 16);
	assert_int_equal(cnt.reads, 2);
	assert_int_equal(cnt.log_off[1], BLK);
	rap_io_free(io);
}

/* What a stock radare2 client does when it opens a binary over rap://: thousands of reads of
 * a few bytes, mostly forward, some jumping back. */
static size_t tiny_reads(struct rap_io *io, int fd)
{
	size_t n = 0;
	uint64_t off = 0;
	for (int i = 0; i < 15000; i++) {
		read_check(io, fd, off, 4 + (size_t)(i % 13));
		n++;
		if (i % 100 == 99 && off > 8192) {
			read_check(io, fd, off - 8192, 8); /* a jump back */
			n++;
		}
		off += 555;
	}
	return n;
}

static void test_tiny_reads_become_few_requests(void **state)
{
	(void)state;
	cnt_reset(9 * MIB);
	struct rap_io *io = new_io();
	int fd = open_count(io, "stable", RAP_PERM_R);
	size_t n = tiny_reads(io, fd);
	assert_true(n >= 15000);
	/* 8 MiB in requests of 64 KiB, 128 KiB, ... 4 MiB: eight of them. */
	struct rap_io_cache_stats st = stats(io, fd);
	if (cnt.reads > 10)
		fail_msg("%llu plugin reads for %zu tiny ones", (unsigned long long)cnt.reads, n);
	assert_int_equal(st.requests, cnt.reads);
	assert_int_equal(st.misses, cnt.reads);
	assert_true(st.hits >= 15000);
	/* Without the cache every read is one plugin read of exactly its bytes. */
	assert_int_equal(rap_io_cache_set(io, fd, 0), RAP_IO_CACHE_ON);
	cnt.reads = 0;
	cnt.nlog = 0;
	n = tiny_reads(io, fd);
	assert_int_equal(cnt.reads, n);
	assert_int_equal(cnt.log_off[1], 555);
	assert_int_equal(cnt.log_len[1], 5);
	rap_io_free(io);
}

/* ---- read-ahead ---------------------------------------------------------------------------- */

/* Reads 16 bytes every 4 KiB from 0 to end; returns the largest request. */
static void stream_through(struct rap_io *io, int fd, uint64_t end)
{
	for (uint64_t off = 0; off < end; off += 4096)
		read_check(io, fd, off, 16);
}

static void test_readahead_grows_to_its_cap(void **state)
{
	(void)state;
	cnt_reset(64 * MIB);
	struct rap_io *io = new_io();
	int fd = open_count(io, "stable", RAP_PERM_R);
	stream_through(io, fd, 40 * MIB);
	/* Doubling while sequential, up to the default limit of 8 MiB, then steady. */
	assert_true(cnt.nlog >= 10);
	for (size_t i = 0; i < cnt.nlog; i++) {
		uint64_t want = i < 7 ? BLK << i : 8 * MIB;
		if (cnt.log_len[i] != want)
			fail_msg("request %zu: %llu bytes, expected %llu", i, (unsigned long long)cnt.log_len[i],
				 (unsigned long long)want);
		if (i && cnt.log_off[i] != cnt.log_off[i - 1] + cnt.log_len[i - 1])
			fail_msg("request %zu does not continue the previous one", i);
	}
	assert_int_equal(stats(io, fd).readahead, 8 * MIB);
	assert_true(stats(io, fd).used <= RAP_IO_CACHE_MAX_DEFAULT);

	/* A lower limit of the caller's. */
	rap_io_cache_set_readahead(io, 1 * MIB);
	assert_int_equal(rap_io_cache_readahead(io), 1 * MIB);
	int fd2 = open_count(io, "stable", RAP_PERM_R);
	cnt.nlog = 0;
	cnt.largest = 0;
	stream_through(io, fd2, 8 * MIB);
	assert_int_equal(cnt.largest, 1 * MIB);
	assert_int_equal(cnt.log_len[4], 1 * MIB);
	assert_int_equal(cnt.log_len[5], 1 * MIB);

	/* None: each miss asks for its own block. */
	rap_io_cache_set_readahead(io, 0);
	int fd3 = open_count(io, "stable", RAP_PERM_R);
	cnt.largest = 0;
	cnt.reads = 0;
	stream_through(io, fd3, 2 * MIB);
	assert_int_equal(cnt.largest, BLK);
	assert_int_equal(cnt.reads, 2 * MIB / BLK);

	/* The memory bound caps it too: a quarter of it. */
	rap_io_cache_set_readahead(io, 8 * MIB);
	rap_io_cache_set_max(io, 4 * MIB);
	int fd4 = open_count(io, "stable", RAP_PERM_R);
	cnt.largest = 0;
	for (uint64_t off = 0; off < 16 * MIB; off += 4096) {
		read_check(io, fd4, off, 16);
		assert_true(stats(io, fd4).used <= 4 * MIB);
	}
	assert_int_equal(cnt.largest, 1 * MIB);
	rap_io_free(io);
}

/* The largest request a sequential reader's requests grow to on a played link. */
static uint64_t grown_on(uint64_t latency_ns, uint64_t ns_per_byte)
{
	cnt_reset(64 * MIB);
	cnt.latency_ns = latency_ns;
	cnt.ns_per_byte = ns_per_byte;
	struct rap_io *io = new_io();
	int fd = open_count(io, "stable", RAP_PERM_R);
	stream_through(io, fd, 48 * MIB);
	/* Once it stops growing, it stays where it stopped. */
	for (size_t i = 1; i < cnt.nlog; i++)
		if (cnt.log_len[i] < cnt.log_len[i - 1] && cnt.log_off[i] + cnt.log_len[i] < 64 * MIB)
			fail_msg("request %zu shrank", i);
	uint64_t largest = cnt.largest;
	assert_int_equal(stats(io, fd).readahead, largest);
	rap_io_free(io);
	return largest;
}

static void test_readahead_stops_at_the_link(void **state)
{
	(void)state;
	/* The link, 20 ms and 100 Mbit/s (80 ns a byte): worth growing to 8 MiB. */
	assert_int_equal(grown_on(20000000, 80), 8 * MIB);
	/* 1 ms at the same rate: 256 KiB already come within 5% of the rate 128 KiB reach. */
	assert_int_equal(grown_on(1000000, 80), 256 * KIB);
	/* No latency at all: doubling gains nothing. */
	assert_int_equal(grown_on(0, 80), 128 * KIB);
	/* No measurable time (a local source): nothing to go by, it grows to its cap. */
	assert_int_equal(grown_on(0, 0), 8 * MIB);
}

static void test_random_access_does_not_balloon(void **state)
{
	(void)state;
	cnt_reset(256 * MIB);
	struct rap_io *io = new_io();
	int fd = open_count(io, "stable", RAP_PERM_R);
	/* 200 places 1 MiB apart, in a scrambled order: never where a request ended. */
	for (uint64_t i = 0; i < 200; i++) {
		uint64_t at = (i * 37 % 200) * MIB + 100;
		read_check(io, fd, at, 32);
		read_check(io, fd, at + 40, 32); /* the same block: a hit */
	}
	assert_int_equal(cnt.reads, 200);
	assert_int_equal(cnt.largest, BLK);
	struct rap_io_cache_stats st = stats(io, fd);
	assert_int_equal(st.misses, 200);
	assert_int_equal(st.hits, 200);
	assert_int_equal(st.bytes, 200 * BLK);
	rap_io_free(io);
}

/* ---- the memory bound ---------------------------------------------------------------------- */

static void test_memory_bound_and_lru(void **state)
{
	(void)state;
	cnt_reset(64 * MIB);
	struct rap_io *io = new_io();
	rap_io_cache_set_readahead(io, 0);
	rap_io_cache_set_max(io, 20 * (BLK + 256));
	assert_int_equal(rap_io_cache_max(io), 20 * (BLK + 256));
	int fd = open_count(io, "stable", RAP_PERM_R);
	int other = open_count(io, "stable", RAP_PERM_R);
	read_check(io, fd, 5, 10);     /* block 0, kept in use below */
	read_check(io, other, 5, 10);  /* another descriptor's block 0, never used again */
	for (uint64_t i = 1; i <= 100; i++) {
		read_check(io, fd, i * BLK, 10);
		read_check(io, fd, 5, 10);
		struct rap_io_cache_stats st = stats(io, fd);
		assert_true(st.used <= st.max);
	}
	struct rap_io_cache_stats st = stats(io, fd);
	assert_true(st.evictions >= 80);
	assert_int_equal(st.hits, 100); /* block 0, every time */
	/* The other descriptor's block went first: the bound is the instance's. */
	assert_int_equal(stats(io, other).evictions, 1);
	assert_int_equal(stats(io, other).cached, 0);
	uint64_t before = cnt.reads;
	read_check(io, fd, 2 * BLK, 10); /* long evicted */
	read_check(io, fd, 100 * BLK, 10); /* recent */
	assert_int_equal(cnt.reads, before + 1);
	/* Lowering the bound evicts at once; below one block nothing is kept at all. */
	rap_io_cache_set_max(io, 3 * (BLK + 256));
	assert_true(stats(io, fd).used <= 3 * (BLK + 256));
	rap_io_cache_set_max(io, BLK);
	assert_int_equal(stats(io, fd).used, 0);
	before = cnt.reads;
	read_check(io, fd, 7, 3);
	read_check(io, fd, 7, 3);
	assert_int_equal(cnt.reads, before + 2);
	assert_int_equal(cnt.log_off[cnt.nlog - 1], 7);
	assert_int_equal(cnt.log_len[cnt.nlog - 1], 3);
	/* Closing gives a descriptor's memory back. */
	rap_io_cache_set_max(io, 16 * MIB);
	read_check(io, other, 0, 10);
	assert_true(stats(io, fd).used > 0);
	assert_int_equal(rap_io_close(io, other), 0);
	assert_int_equal(stats(io, fd).used, 0);
	rap_io_free(io);
}

/* ---- coherence ------------------------------------------------------------------------------ */

static void test_write_through(void **state)
{
	(void)state;
	cnt_reset(WRITABLE);
	struct rap_io *io = new_io();
	int fd = open_count(io, "stable", RAP_PERM_RW);
	int ro = open_count(io, "stable", RAP_PERM_R);
	read_check(io, fd, 0, 16);
	read_check(io, fd, 3 * BLK, 16);
	read_check(io, ro, 0, 16);
	uint64_t before = cnt.reads;
	assert_int_equal(rap_io_write_at(io, fd, 4, "WXYZ", 4), 4);
	assert_int_equal(cnt.writes, 1);
	/* The written range is read again, here and through the other descriptor. */
	uint8_t b[8];
	assert_int_equal(rap_io_read_at(io, fd, 2, b, 8), 8);
	assert_memory_equal(b + 2, "WXYZ", 4);
	assert_int_equal(rap_io_read_at(io, ro, 2, b, 8), 8);
	assert_memory_equal(b + 2, "WXYZ", 4);
	assert_int_equal(cnt.reads, before + 2);
	/* Blocks outside it stay. */
	read_check(io, fd, 3 * BLK, 16);
	assert_int_equal(cnt.reads, before + 2);
	/* A write across blocks drops both. */
	char big[100];
	memset(big, 'q', sizeof(big));
	assert_int_equal(rap_io_write_at(io, fd, 3 * BLK - 50, big, sizeof(big)), 100);
	read_check(io, fd, 3 * BLK - 60, 120);
	assert_true(stats(io, fd).invalidations >= 2);
	rap_io_free(io);
}

static void test_end_of_data(void **state)
{
	(void)state;
	uint64_t end = 100000; /* inside the second block */
	cnt_reset(end);
	struct rap_io *io = new_io();
	int fd = open_count(io, "stable", RAP_PERM_RW);
	assert_int_equal(read_check(io, fd, end - 10, 100), 10);
	uint64_t before = cnt.reads;
	/* Past the end, and the end's block: answered without asking. */
	assert_int_equal(read_check(io, fd, end, 10), 0);
	assert_int_equal(read_check(io, fd, end + 5 * BLK, 10), 0);
	assert_int_equal(read_check(io, fd, 60000, 50000), 40000);
	assert_int_equal(read_check(io, fd, end - 1, 1), 1);
	assert_int_equal(cnt.reads, before + 1); /* only block 0 was missing */
	/* The size is asked once. */
	uint64_t size = 0;
	assert_int_equal(rap_io_size(io, fd, &size), 0);
	assert_int_equal(rap_io_size(io, fd, &size), 0);
	assert_int_equal(size, end);
	assert_int_equal(cnt.sizes, 1);
	/* A write past the end moves it: the size and the last block are asked again. */
	assert_int_equal(rap_io_write_at(io, fd, end + 2, "xyz", 3), 3);
	assert_int_equal(rap_io_size(io, fd, &size), 0);
	assert_int_equal(size, end + 5);
	assert_int_equal(cnt.sizes, 2);
	assert_int_equal(read_check(io, fd, end - 10, 100), 15);
	/* The last bytes of the address space: no wrap, no request past them. */
	cnt.end = UINT64_MAX;
	assert_int_equal(rap_io_cache_invalidate(io, fd), 0);
	assert_int_equal(read_check(io, fd, UINT64_MAX - 9, 100), 9);
	assert_int_equal(cnt.log_off[cnt.nlog - 1], UINT64_MAX - BLK + 1);
	assert_int_equal(cnt.log_len[cnt.nlog - 1], BLK);
	assert_int_equal(read_check(io, fd, UINT64_MAX - 3, 2), 2);
	rap_io_free(io);
}

static void test_stable_and_volatile(void **state)
{
	(void)state;
	cnt_reset(WRITABLE);
	struct rap_io *io = new_io();
	int st = open_count(io, "stable", RAP_PERM_R);
	int vo = open_count(io, "volatile", RAP_PERM_RW);
	assert_int_equal(rap_io_cache_get(io, vo), RAP_IO_CACHE_ON | RAP_IO_CACHE_VOLATILE);
	uint8_t a[4], b[4];
	assert_int_equal(rap_io_read_at(io, st, 0, a, 4), 4);
	assert_int_equal(rap_io_read_at(io, vo, 0, b, 4), 4);
	/* The data changes on its own: neither sees it yet. */
	poke(0, "NEW!");
	assert_int_equal(rap_io_read_at(io, st, 0, a, 4), 4);
	assert_int_equal(rap_io_read_at(io, vo, 0, b, 4), 4);
	assert_memory_not_equal(a, "NEW!", 4);
	assert_memory_not_equal(b, "NEW!", 4);
	/* What libcore does before every command: the volatile one reads afresh, the stable
	 * one keeps its blocks for the session. */
	uint64_t inv = stats(io, st).invalidations;
	rap_io_cache_invalidate_volatile(io);
	assert_int_equal(rap_io_read_at(io, st, 0, a, 4), 4);
	assert_int_equal(rap_io_read_at(io, vo, 0, b, 4), 4);
	assert_memory_not_equal(a, "NEW!", 4);
	assert_memory_equal(b, "NEW!", 4);
	assert_int_equal(stats(io, st).invalidations, inv);
	/* Until it is invalidated by name, or all are. */
	assert_int_equal(rap_io_cache_invalidate(io, st), 0);
	assert_int_equal(rap_io_read_at(io, st, 0, a, 4), 4);
	assert_memory_equal(a, "NEW!", 4);
	poke(0, "ALL!");
	rap_io_cache_invalidate_all(io);
	assert_int_equal(rap_io_read_at(io, st, 0, a, 4), 4);
	assert_memory_equal(a, "ALL!", 4);
	/* A write to a volatile descriptor drops all of its blocks, not just the range. */
	read_check(io, vo, 5 * BLK, 4);
	poke(5 * BLK, "away");
	assert_int_equal(rap_io_write_at(io, vo, 100, "w", 1), 1);
	assert_int_equal(rap_io_read_at(io, vo, 5 * BLK, b, 4), 4);
	assert_memory_equal(b, "away", 4);
	/* A command run through the plugin drops the descriptor's blocks. */
	read_check(io, st, 0, 4);
	poke(0, "CMD!");
	char *out = NULL;
	assert_int_equal(rap_io_system(io, st, "wx 00", &out), 0);
	free(out);
	assert_int_equal(rap_io_read_at(io, st, 0, a, 4), 4);
	assert_memory_equal(a, "CMD!", 4);
	/* Changing the flags drops the blocks too, and off means straight to the plugin. */
	assert_int_equal(rap_io_cache_set(io, st, RAP_IO_CACHE_ON | RAP_IO_CACHE_VOLATILE), RAP_IO_CACHE_ON);
	assert_int_equal(stats(io, st).cached, 0);
	rap_io_free(io);
}

/* A volatile plugin may read short at a hole and have data after it (dbg://). */
static void test_volatile_hole(void **state)
{
	(void)state;
	cnt_reset(4 * MIB);
	cnt.hole_from = BLK + 4096;
	cnt.hole_to = BLK + 8192;
	struct rap_io *io = new_io();
	int fd = open_count(io, "volatile", RAP_PERM_R);
	uint8_t b[64];
	/* Up to the hole, as the plugin answers. */
	assert_int_equal(rap_io_read_at(io, fd, BLK + 4096 - 10, b, 20), 10);
	assert_int_equal(rap_io_read_at(io, fd, BLK + 4096, b, 20), 0);
	/* Behind it, in the same block: the plugin still tells. */
	assert_int_equal(rap_io_read_at(io, fd, BLK + 8192 + 5, b, 4), 4);
	assert_int_equal(b[0], pattern(BLK + 8192 + 5));
	/* A stable descriptor takes a short read as the end of its data (the plugin promises
	 * that much), until the next write or invalidation. */
	int st = open_count(io, "stable", RAP_PERM_R);
	assert_int_equal(rap_io_read_at(io, st, BLK + 4096 - 10, b, 20), 10);
	assert_int_equal(rap_io_read_at(io, st, BLK + 8192 + 5, b, 4), 0);
	assert_int_equal(rap_io_read_at(io, st, 3 * MIB, b, 4), 0);
	cnt.hole_from = cnt.hole_to = 0;
	assert_int_equal(rap_io_read_at(io, st, BLK + 8192 + 5, b, 4), 0);
	assert_int_equal(rap_io_cache_invalidate(io, st), 0);
	assert_int_equal(rap_io_read_at(io, st, BLK + 8192 + 5, b, 4), 4);
	rap_io_free(io);
}

static void test_errors_are_not_cached(void **state)
{
	(void)state;
	cnt_reset(8 * MIB);
	cnt.fail_from = 2 * MIB;
	cnt.fail_to = 2 * MIB + 1;
	struct rap_io *io = new_io();
	int fd = open_count(io, "stable", RAP_PERM_R);
	uint8_t b[16];
	/* The block, then the caller's own range: both fail, nothing is kept. */
	assert_int_equal(rap_io_read_at(io, fd, 2 * MIB, b, 16), -EIO);
	assert_int_equal(rap_io_read_at(io, fd, 2 * MIB, b, 16), -EIO);
	assert_int_equal(stats(io, fd).requests, 4);
	assert_int_equal(stats(io, fd).cached, 0);
	/* Read-ahead running into the failing byte never fails a readable range; the stream
	 * that ran into it starts over with one block. */
	for (uint64_t off = 0; off < 2 * MIB - 16; off += 1000)
		read_check(io, fd, off, 16);
	assert_true(stats(io, fd).requests < 20);
	/* Bytes held before the failing one are answered, as pread answers what it read. */
	assert_int_equal(rap_io_read_at(io, fd, 2 * MIB - 8, b, 16), 8);
	/* Once it reads again, so does the cache. */
	cnt.fail_from = cnt.fail_to = 0;
	read_check(io, fd, 2 * MIB, 16);
	rap_io_free(io);
}

static void test_api_errors(void **state)
{
	(void)state;
	cnt_reset(MIB);
	struct rap_io *io = new_io();
	struct rap_io_cache_stats st;
	assert_int_equal(rap_io_cache_set(io, 3, RAP_IO_CACHE_ON), RAP_EBADFD);
	assert_int_equal(rap_io_cache_get(io, 3), RAP_EBADFD);
	assert_int_equal(rap_io_cache_invalidate(io, 3), RAP_EBADFD);
	assert_int_equal(rap_io_cache_stats(io, 3, &st), RAP_EBADFD);
	int fd = open_count(io, "off", RAP_PERM_R);
	assert_int_equal(rap_io_cache_get(io, fd), 0);
	assert_int_equal(rap_io_cache_set(io, fd, 0x4), RAP_EINVAL);
	assert_int_equal(rap_io_cache_stats(io, fd, NULL), RAP_EINVAL);
	assert_int_equal(rap_io_cache_set(io, fd, RAP_IO_CACHE_ON), 0);
	assert_int_equal(rap_io_cache_get(io, fd), RAP_IO_CACHE_ON);
	assert_int_equal(rap_io_cache_set(NULL, fd, 0), RAP_EBADFD);
	assert_int_equal(rap_io_cache_get(NULL, fd), RAP_EBADFD);
	assert_int_equal(rap_io_cache_invalidate(NULL, fd), RAP_EBADFD);
	assert_int_equal(rap_io_cache_stats(NULL, fd, &st), RAP_EBADFD);
	rap_io_cache_invalidate_volatile(NULL);
	rap_io_cache_invalidate_all(NULL);
	rap_io_cache_set_max(NULL, 1);
	rap_io_cache_set_readahead(NULL, 1);
	assert_int_equal(rap_io_cache_max(NULL), 0);
	assert_int_equal(rap_io_cache_readahead(NULL), 0);
	/* The built-in plugins: files, buffers and processes are not cached. */
	int m = rap_io_open(io, "malloc://64", RAP_PERM_RW);
	assert_int_equal(rap_io_cache_get(io, m), 0);
	assert_int_equal(rap_io_close(io, m), 0);
	assert_int_equal(rap_io_cache_get(io, m), RAP_EBADFD);
	rap_io_free(io);
}

/* Out of memory, the cache reads straight through the plugin: never an error of its own. */
static void test_allocation_failures(void **state)
{
	(void)state;
	cnt_reset(4 * MIB);
	struct rap_io *io = new_io();
	int fd = open_count(io, "stable", RAP_PERM_R);
	bool done = false;
	for (long n = 0; !done; n++) {
		assert_true(n < 1000);
		rap_io_cache_invalidate_all(io);
		rap__alloc_fail_after(n);
		for (uint64_t off = 0; off < MIB; off += 70000)
			read_check(io, fd, off, 3000);
		done = rap__alloc_failures() == 0;
		rap__alloc_fail_after(-1);
	}
	rap_io_free(io);
	/* And the instance itself. */
	done = false;
	for (long n = 0; !done; n++) {
		assert_true(n < 1000);
		struct rap_io *io2 = NULL;
		rap__alloc_fail_after(n);
		int rc = rap_io_new(&io2);
		rap__alloc_fail_after(-1);
		if (rc < 0) {
			assert_int_equal(rc, RAP_ENOMEM);
			continue;
		}
		rap_io_free(io2);
		done = true;
	}
}

/* ---- threads ----------------------------------------------------------------------------- */

struct reader {
	struct rap_io *io;
	int fd;
	uint64_t seed;
	bool sequential;
	int bad;       /* reads that came back wrong */
	uint64_t span; /* reads stay below this (0: 12 MiB) */
};

static void *reader_main(void *arg)
{
	struct reader *r = arg;
	uint8_t *buf = malloc(100000);
	if (!buf)
		return NULL;
	uint64_t x = r->seed, seq = 0;
	uint64_t span = r->span ? r->span : 12 * MIB;
	for (int i = 0; i < 2000; i++) {
		x = x * 6364136223846793005ull + 1442695040888963407ull;
		size_t len = r->sequential ? 3000 : (size_t)((x >> 8) % 100000) + 1;
		uint64_t off = r->sequential ? seq : (x >> 20) % (span - len);
		seq = (seq + 3001) % (span - 3000);
		ssize_t n = rap_io_read_at(r->io, r->fd, off, buf, len);
		if (n != (ssize_t)len) {
			r->bad++;
			continue;
		}
		for (size_t k = 0; k < len; k++) {
			if (buf[k] != pattern(off + k)) {
				r->bad++;
				break;
			}
		}
	}
	free(buf);
	return NULL;
}

static void test_concurrent_readers(void **state)
{
	(void)state;
	cnt_reset(16 * MIB);
	/* Past WRITABLE only pattern bytes: what the readers check against. */
	pthread_mutex_lock(&cnt.lock);
	for (uint64_t i = 0; i < WRITABLE; i++)
		cnt.store[i] = pattern(i);
	pthread_mutex_unlock(&cnt.lock);
	struct rap_io *io = new_io();
	int a = open_count(io, "stable", RAP_PERM_R);
	int b = open_count(io, "volatile", RAP_PERM_R);
	struct reader r[4] = {
		{ io, a, 1, false, 0, 0 }, { io, a, 2, true, 0, 0 }, { io, b, 3, false, 0, 0 }, { io, b, 4, true, 0, 0 },
	};
	pthread_t t[4];
	for (int i = 0; i < 4; i++)
		assert_int_equal(pthread_create(&t[i], NULL, reader_main, &r[i]), 0);
	/* Meanwhile: invalidations of every kind and a bound that keeps changing. */
	for (int i = 0; i < 300; i++) {
		rap_io_cache_invalidate_volatile(io);
		if (i % 3 == 0)
			rap_io_cache_invalidate_all(io);
		(void)rap_io_cache_invalidate(io, a);
		rap_io_cache_set_max(io, i % 2 ? 512 * KIB : 64 * MIB);
		struct rap_io_cache_stats st;
		assert_int_equal(rap_io_cache_stats(io, a, &st), 0);
		usleep(200);
	}
	for (int i = 0; i < 4; i++) {
		assert_int_equal(pthread_join(t[i], NULL), 0);
		assert_int_equal(r[i].bad, 0);
	}
	rap_io_free(io);
}

/* ---- rap:// against an in-process server ------------------------------------------------- */

#define REMOTE_SIZE (3u << 20)

#define REMOTE_SESSIONS 8

struct remote;

/* One client's session, served on a thread of its own. */
struct rsession {
	struct remote *srv;
	int fd;
	uint64_t pos;
	pthread_t th;
};

struct remote {
	int lfd;
	char port[16];
	pthread_t th;
	uint8_t *file;        /* written only while one session is served */
	atomic_ulong reads;   /* READ requests served */
	atomic_ulong writes;
	struct rsession sess[REMOTE_SESSIONS];
	int nsess;
};

static int r_open(void *ctx, const char *path, uint8_t perm)
{
	(void)ctx;
	(void)perm;
	return strcmp(path, "/f") == 0 || strcmp(path, "dbg:///bin/true") == 0 ? 3 : RAP_EBADFD;
}

static ssize_t r_read(void *ctx, uint8_t *buf, size_t len)
{
	struct rsession *s = ctx;
	atomic_fetch_add(&s->srv->reads, 1);
	if (s->pos >= REMOTE_SIZE)
		return 0;
	size_t n = REMOTE_SIZE - s->pos < len ? (size_t)(REMOTE_SIZE - s->pos) : len;
	memcpy(buf, s->srv->file + s->pos, n);
	return (ssize_t)n;
}

static ssize_t r_write(void *ctx, const uint8_t *buf, size_t len)
{
	struct rsession *s = ctx;
	atomic_fetch_add(&s->srv->writes, 1);
	if (s->pos >= REMOTE_SIZE || len > REMOTE_SIZE - s->pos)
		return RAP_EINVAL;
	memcpy(s->srv->file + s->pos, buf, len);
	return (ssize_t)len;
}

static int r_seek(void *ctx, int whence, uint64_t off, uint64_t *res)
{
	struct rsession *s = ctx;
	if (whence == RAP_SEEK_SET)
		s->pos = off;
	*res = whence == RAP_SEEK_END ? REMOTE_SIZE : s->pos;
	return 0;
}

static int r_close(void *ctx, int32_t fd)
{
	(void)ctx;
	(void)fd;
	return 0;
}

static int r_cmd(void *ctx, const char *cmd, char **out)
{
	(void)ctx;
	(void)cmd;
	*out = NULL;
	return 0;
}

static const struct rap_server_handler remote_handler = {
	.open = r_open, .read = r_read, .write = r_write, .seek = r_seek, .close = r_close, .cmd = r_cmd,
};

static void *session_main(void *arg)
{
	struct rsession *s = arg;
	struct rap_server_session *ss = NULL;
	if (rap_server_session_new(&remote_handler, s, &ss) == 0) {
		(void)rap_server_session_serve_fd(ss, s->fd);
		rap_server_session_free(ss);
	}
	close(s->fd);
	return NULL;
}

/* Accepts until the listener is shut down, each connection served on its own thread. */
static void *remote_main(void *arg)
{
	struct remote *s = arg;
	while (s->nsess < REMOTE_SESSIONS) {
		int c = accept(s->lfd, NULL, NULL);
		if (c < 0)
			break;
		struct rsession *r = &s->sess[s->nsess];
		r->srv = s;
		r->fd = c;
		r->pos = 0;
		if (pthread_create(&r->th, NULL, session_main, r) != 0) {
			close(c);
			break;
		}
		s->nsess++;
	}
	return NULL;
}

static void remote_start(struct remote *s)
{
	memset(s, 0, sizeof(*s));
	s->file = malloc(REMOTE_SIZE);
	assert_non_null(s->file);
	for (size_t i = 0; i < REMOTE_SIZE; i++)
		s->file[i] = pattern(i);
	s->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(s->lfd >= 0);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t alen = sizeof(a);
	assert_int_equal(bind(s->lfd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(s->lfd, 4), 0);
	assert_int_equal(getsockname(s->lfd, (struct sockaddr *)&a, &alen), 0);
	snprintf(s->port, sizeof(s->port), "%u", ntohs(a.sin_port));
	assert_int_equal(pthread_create(&s->th, NULL, remote_main, s), 0);
}

/* After the clients hung up: their sessions end, then the listener. */
static void remote_stop(struct remote *s)
{
	shutdown(s->lfd, SHUT_RDWR);
	assert_int_equal(pthread_join(s->th, NULL), 0);
	for (int i = 0; i < s->nsess; i++)
		assert_int_equal(pthread_join(s->sess[i].th, NULL), 0);
	close(s->lfd);
	free(s->file);
}

static void test_rap_plugin_is_cached(void **state)
{
	(void)state;
	struct remote s;
	remote_start(&s);
	struct rap_io *io = NULL;
	assert_int_equal(rap_io_new(&io), 0);
	/* The fake clock never moves here: no measurement stops the read-ahead early. */
	rap__io_set_cache_clock(io, fake_clock, NULL);
	char uri[64];
	snprintf(uri, sizeof(uri), "rap://127.0.0.1:%s//f", s.port);
	int fd = rap_io_open(io, uri, RAP_PERM_RW);
	assert_true(fd >= 3);
	assert_int_equal(rap_io_cache_get(io, fd), RAP_IO_CACHE_ON);
	/* 15,000 tiny forward reads over 2 MiB: a handful of requests on the wire. */
	uint8_t b[16];
	for (uint64_t i = 0; i < 15000; i++) {
		uint64_t off = i * 139;
		assert_int_equal(rap_io_read_at(io, fd, off, b, 8), 8);
		for (int k = 0; k < 8; k++)
			assert_int_equal(b[k], pattern(off + k));
	}
	unsigned long cached_reads = atomic_load(&s.reads);
	if (cached_reads > 12)
		fail_msg("%lu READ requests for 15000 reads", cached_reads);
	/* Writes go through and are read back. */
	assert_int_equal(rap_io_write_at(io, fd, 1000, "cache", 5), 5);
	assert_int_equal(rap_io_read_at(io, fd, 998, b, 8), 8);
	assert_memory_equal(b + 2, "cache", 5);
	/* The end of the file on our server: short, then nothing. */
	assert_int_equal(rap_io_read_at(io, fd, REMOTE_SIZE - 4, b, 16), 4);
	assert_int_equal(rap_io_read_at(io, fd, REMOTE_SIZE, b, 16), 0);
	/* Off: one request per read again. */
	rap_io_cache_set_max(io, 0);
	unsigned long before = atomic_load(&s.reads);
	for (uint64_t i = 0; i < 100; i++)
		assert_int_equal(rap_io_read_at(io, fd, i * 139, b, 8), 8);
	assert_int_equal(atomic_load(&s.reads) - before, 100);
	assert_int_equal(rap_io_close(io, fd), 0);
	/* A remote debugged process changes on its own: volatile. */
	snprintf(uri, sizeof(uri), "rap://127.0.0.1:%s/dbg:///bin/true", s.port);
	fd = rap_io_open(io, uri, RAP_PERM_R);
	assert_true(fd >= 3);
	assert_int_equal(rap_io_cache_get(io, fd), RAP_IO_CACHE_ON | RAP_IO_CACHE_VOLATILE);
	assert_int_equal(rap_io_close(io, fd), 0);
	/* A command-only session has no file to cache. */
	snprintf(uri, sizeof(uri), "rap://127.0.0.1:%s/", s.port);
	fd = rap_io_open(io, uri, RAP_PERM_R);
	assert_true(fd >= 3);
	assert_int_equal(rap_io_cache_get(io, fd), 0);
	rap_io_free(io);
	remote_stop(&s);
}

/* Two rap:// sessions on one instance, read from four threads at once (two per session),
 * while the bound changes and everything is invalidated: every byte right, and each
 * session's requests stay in step on its connection. */
static void test_rap_concurrent_sessions(void **state)
{
	(void)state;
	struct remote s;
	remote_start(&s);
	struct rap_io *io = NULL;
	assert_int_equal(rap_io_new(&io), 0);
	char uri[64];
	snprintf(uri, sizeof(uri), "rap://127.0.0.1:%s//f", s.port);
	int a = rap_io_open(io, uri, RAP_PERM_R);
	int b = rap_io_open(io, uri, RAP_PERM_R);
	assert_true(a >= 3 && b >= 3);
	struct reader r[4] = {
		{ io, a, 11, false, 0, REMOTE_SIZE }, { io, a, 12, true, 0, REMOTE_SIZE },
		{ io, b, 13, false, 0, REMOTE_SIZE }, { io, b, 14, true, 0, REMOTE_SIZE },
	};
	pthread_t t[4];
	for (int i = 0; i < 4; i++)
		assert_int_equal(pthread_create(&t[i], NULL, reader_main, &r[i]), 0);
	for (int i = 0; i < 100; i++) {
		rap_io_cache_invalidate_all(io);
		rap_io_cache_set_max(io, i % 2 ? 256 * KIB : 64 * MIB);
		usleep(1000);
	}
	for (int i = 0; i < 4; i++) {
		assert_int_equal(pthread_join(t[i], NULL), 0);
		assert_int_equal(r[i].bad, 0);
	}
	rap_io_free(io);
	remote_stop(&s);
	assert_int_equal(s.nsess, 2);
}

/* ---- libcore: e io.cache.size, invalidation per command ---------------------------------- */

static struct rap_core *new_core(void)
{
	struct rap_core *c = NULL;
	assert_int_equal(rap_core_new(&c), 0);
	assert_int_equal(rap_io_register(rap_core_io(c), &cnt_plugin), 0);
	rap__io_set_cache_clock(rap_core_io(c), fake_clock, NULL);
	return c;
}

static char *run(struct rap_core *c, const char *line, int want_rc)
{
	char *out = NULL, *err = NULL;
	int rc = rap_core_cmd_str(c, line, &out, &err);
	if (rc != want_rc)
		fail_msg("'%s': %d (%s), expected %d; err: %s", line, rc, rap_strerror(rc), want_rc, err ? err : "");
	if (want_rc < 0) {
		free(out);
		return err;
	}
	free(err);
	return out;
}

static void expect_out(struct rap_core *c, const char *line, const char *want)
{
	char *out = run(c, line, 0);
	assert_string_equal(out, want);
	free(out);
}

static void test_core_cache_size(void **state)
{
	(void)state;
	struct rap_core *c = new_core();
	struct rap_io *io = rap_core_io(c);
	expect_out(c, "e io.cache.size", "67108864\n");
	assert_int_equal(rap_io_cache_max(io), 64 * MIB);
	expect_out(c, "e io.cache.size=0x100000; e io.cache.size", "1048576\n");
	assert_int_equal(rap_io_cache_max(io), MIB);
	expect_out(c, "e io.cache.size=0", "");
	assert_int_equal(rap_io_cache_max(io), 0);
	char *err = run(c, "e io.cache.size=-1", RAP_EINVAL);
	assert_non_null(strstr(err, "invalid value '-1' for 'io.cache.size'"));
	free(err);
	err = run(c, "e io.cache.size=12k", RAP_EINVAL);
	free(err);
	err = run(c, "e io.cache.size=99999999999999999999", RAP_EINVAL);
	free(err);
	assert_int_equal(rap_io_cache_max(io), 0);
	/* Off: every p8 reaches the plugin with its own bytes. */
	cnt_reset(MIB);
	expect_out(c, "o count://stable", "");
	cnt.reads = 0;
	char want[32];
	snprintf(want, sizeof(want), "%02x\n%02x\n", pattern(0), pattern(1));
	expect_out(c, "p8 1; p8 1 @ 1", want);
	assert_int_equal(cnt.reads, 2);
	assert_int_equal(cnt.log_len[cnt.nlog - 1], 1);
	/* On: the block once. */
	expect_out(c, "e io.cache.size=67108864", "");
	cnt.reads = 0;
	expect_out(c, "p8 1; p8 1 @ 1", want);
	assert_int_equal(cnt.reads, 1);
	assert_int_equal(cnt.log_len[cnt.nlog - 1], BLK);
	rap_core_free(c);
}

static void test_core_served_and_shared(void **state)
{
	(void)state;
	struct rap_core *c = new_core();
	expect_out(c, "e io.cache.size=2097152", "");
	/* A core on the same IO (a server's client) cannot change the owner's bound. */
	struct rap_core *shared = NULL;
	assert_int_equal(rap__core_new_shared(c, &shared), 0);
	char *err = run(shared, "e io.cache.size=0", RAP_EDENIED);
	assert_non_null(strstr(err, "'io.cache.size' cannot be changed here"));
	free(err);
	expect_out(shared, "e io.cache.size", "2097152\n");
	assert_int_equal(rap_io_cache_max(rap_core_io(c)), 2 * MIB);
	rap_core_free(shared);
	/* Nor can a served core, even on its own IO. */
	rap_core_set_served(c);
	err = run(c, "e io.cache.size=1", RAP_EDENIED);
	free(err);
	assert_int_equal(rap_core_config_set(c, "io.cache.size", "1"), RAP_EDENIED);
	assert_int_equal(rap_io_cache_max(rap_core_io(c)), 2 * MIB);
	rap_core_free(c);
}

static void test_core_commands_invalidate_volatile(void **state)
{
	(void)state;
	cnt_reset(WRITABLE);
	poke(0, "\x11\x22\x33\x44");
	struct rap_core *c = new_core();
	struct rap_io *io = rap_core_io(c);
	char *errs = NULL;
	size_t errlen = 0;
	FILE *ef = open_memstream(&errs, &errlen);
	assert_non_null(ef);
	expect_out(c, "o count://stable", "");
	int st = rap_core_current_fd(c);
	expect_out(c, "o count://volatile", "");
	int vo = rap_core_current_fd(c);
	expect_out(c, "p8 4", "11223344\n");
	expect_out(c, "p8 4 @ 0", "11223344\n");
	uint64_t reads = cnt.reads;
	/* Behind the descriptors' back: the next command sees it on the volatile file. */
	poke(0, "\xaa\xbb\xcc\xdd");
	expect_out(c, "p8 4", "aabbccdd\n");
	assert_int_equal(cnt.reads, reads + 1);
	/* Each command of a line reads afresh. */
	uint64_t inv = stats(io, vo).invalidations;
	poke(0, "\x01\x02\x03\x04");
	expect_out(c, "p8 2; p8 2 @ 2", "0102\n0304\n");
	assert_int_equal(stats(io, vo).invalidations, inv + 2);
	/* The stable file keeps what it read for the session. */
	assert_int_equal(rap_io_cache_get(io, st), RAP_IO_CACHE_ON);
	uint8_t b[4];
	assert_int_equal(rap_io_read_at(io, st, 0, b, 4), 4);
	assert_memory_equal(b, "\x11\x22\x33\x44", 4);
	/* The debugger's commands drop the current file's blocks after they ran (here, with no
	 * process, they fail: the invalidation happens all the same). */
	inv = stats(io, vo).invalidations;
	rap_core_set_output(c, ef, ef);
	assert_int_equal(rap__core_cmd_debug(c, "d", (char[]){ "ds" }), RAP_EBADFD);
	assert_int_equal(stats(io, vo).invalidations, inv + 2);
	inv = stats(io, vo).invalidations;
	assert_int_equal(rap__core_cmd_debug(c, "d", (char[]){ "ds?" }), 0);
	assert_int_equal(stats(io, vo).invalidations, inv);
	rap_core_free(c);
	assert_int_equal(fclose(ef), 0);
	assert_non_null(strstr(errs, "'ds' needs a debugged process"));
	free(errs);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hits_and_misses),
		cmocka_unit_test(test_tiny_reads_become_few_requests),
		cmocka_unit_test(test_readahead_grows_to_its_cap),
		cmocka_unit_test(test_readahead_stops_at_the_link),
		cmocka_unit_test(test_random_access_does_not_balloon),
		cmocka_unit_test(test_memory_bound_and_lru),
		cmocka_unit_test(test_write_through),
		cmocka_unit_test(test_end_of_data),
		cmocka_unit_test(test_stable_and_volatile),
		cmocka_unit_test(test_volatile_hole),
		cmocka_unit_test(test_errors_are_not_cached),
		cmocka_unit_test(test_api_errors),
		cmocka_unit_test(test_allocation_failures),
		cmocka_unit_test(test_concurrent_readers),
		cmocka_unit_test(test_rap_plugin_is_cached),
		cmocka_unit_test(test_rap_concurrent_sessions),
		cmocka_unit_test(test_core_cache_size),
		cmocka_unit_test(test_core_served_and_shared),
		cmocka_unit_test(test_core_commands_invalidate_volatile),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
