/* rapbench's search phase (search_phase.h).
 *
 * What it compares: "/x 616eb7dd004bf4df" (the pattern of radare2's own bulk-search
 * benchmark, test/vectors/r2/bulk-search-pattern.txt) run by librap-core on a local file,
 * which reads it in chunks through the IO layer and scans them, against the plainest fast
 * search there is: glibc's memmem over the whole file mapped into memory, every hit
 * counted. Both run on a warm page cache, one after the other in each round, and the hit
 * counts must agree. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include <rap/core.h>

#include "search_phase.h"

#define PATTERN "\x61\x6e\xb7\xdd\x00\x4b\xf4\xdf"
#define PATTERN_LEN 8u
#define PATTERN_CMD "/x 616eb7dd004bf4df"
#define WRITE_PIECE (4u << 20)
#define MAX_ROUNDS 99u

static void say(bool quiet, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void say(bool quiet, const char *fmt, ...)
{
	if (quiet)
		return;
	va_list ap;
	va_start(ap, fmt);
	fputs("rapbench: search: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

static double seconds_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void fail(struct search_figures *out, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void fail(struct search_figures *out, int code, const char *fmt, ...)
{
	if (out->exit)
		return;
	out->exit = code;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(out->note, sizeof out->note, fmt, ap);
	va_end(ap);
}

/* Pseudo-random bytes (xorshift64*), 8 at a time. */
static void fill(uint8_t *buf, size_t n, uint64_t *s)
{
	for (size_t i = 0; i < n; i += 8) {
		*s ^= *s >> 12;
		*s ^= *s << 25;
		*s ^= *s >> 27;
		uint64_t v = *s * 0x2545f4914f6cdd1dull;
		memcpy(buf + i, &v, n - i < 8 ? n - i : 8);
	}
}

static int write_file(int fd, uint64_t bytes)
{
	uint8_t *buf = malloc(WRITE_PIECE);
	if (!buf)
		return -ENOMEM;
	uint64_t seed = 0x9e3779b97f4a7c15ull;
	int rc = 0;
	for (uint64_t done = 0; done < bytes && rc == 0;) {
		size_t n = bytes - done < WRITE_PIECE ? (size_t)(bytes - done) : WRITE_PIECE;
		fill(buf, n, &seed);
		for (size_t w = 0; w < n;) {
			ssize_t k = pwrite(fd, buf + w, n - w, (off_t)(done + w));
			if (k < 0 && errno == EINTR)
				continue;
			if (k <= 0) {
				rc = k < 0 ? -errno : -EIO;
				break;
			}
			w += (size_t)k;
		}
		done += n;
	}
	free(buf);
	/* The pattern at the start, across the first 1 MiB boundary (where librap-core's
	 * chunks meet), in the middle and at the very end. */
	const uint64_t at[] = { 0, (1u << 20) - 3, bytes / 2 + 5, bytes - PATTERN_LEN };
	for (size_t i = 0; i < sizeof at / sizeof at[0] && rc == 0; i++)
		if (at[i] + PATTERN_LEN <= bytes && pwrite(fd, PATTERN, PATTERN_LEN, (off_t)at[i]) != PATTERN_LEN)
			rc = -EIO;
	return rc;
}

/* Non-overlapping matches, as "/x" counts them. */
static uint64_t memmem_count(const uint8_t *base, uint64_t size)
{
	uint64_t n = 0;
	const uint8_t *p = base, *end = base + size;
	while ((p = memmem(p, (size_t)(end - p), PATTERN, PATTERN_LEN))) {
		n++;
		p += PATTERN_LEN;
	}
	return n;
}

static int rap_count(struct rap_core *c, uint64_t *hits)
{
	char *text = NULL, *err = NULL;
	int rc = rap_core_cmd_str(c, PATTERN_CMD, &text, &err);
	*hits = 0;
	for (const char *p = text; p && *p; p++)
		*hits += *p == '\n';
	free(text);
	free(err);
	return rc;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

void search_phase(const char *dir, uint64_t bytes, unsigned rounds, bool quiet, struct search_figures *out)
{
	memset(out, 0, sizeof *out);
	out->ran = true;
	out->bytes = bytes;
	if (rounds > MAX_ROUNDS)
		rounds = MAX_ROUNDS;
	char path[4096];
	snprintf(path, sizeof path, "%s/rapbench-search.XXXXXX", dir);
	int fd = mkstemp(path);
	if (fd < 0) {
		fail(out, EX_OSERR, "cannot create a file in %s: %s", dir, strerror(errno));
		return;
	}
	uint8_t *map = MAP_FAILED;
	struct rap_core *c = NULL;
	say(quiet, "writing %llu bytes to %s", (unsigned long long)bytes, path);
	int rc = write_file(fd, bytes);
	if (rc < 0) {
		fail(out, EX_OSERR, "cannot write %s: %s", path, strerror(-rc));
		goto done;
	}
	map = mmap(NULL, (size_t)bytes, PROT_READ, MAP_SHARED, fd, 0);
	if (map == MAP_FAILED) {
		fail(out, EX_OSERR, "cannot map %s: %s", path, strerror(errno));
		goto done;
	}
	if ((rc = rap_core_new(&c)) < 0 || (rc = rap_core_open(c, path, RAP_PERM_R)) < 0) {
		fail(out, EX_OSERR, "librap-core cannot open %s: %s", path, rap_strerror(rc));
		goto done;
	}
	/* One untimed round of each: the page cache and the mapping are warm afterwards. */
	say(quiet, "warming up (one untimed round)");
	uint64_t want = memmem_count(map, bytes), got = 0;
	if ((rc = rap_count(c, &got)) < 0) {
		fail(out, EX_OSERR, "'%s' failed: %s", PATTERN_CMD, rap_strerror(rc));
		goto done;
	}
	double rap_t[MAX_ROUNDS], mem_t[MAX_ROUNDS];
	for (unsigned r = 0; r < rounds; r++) {
		say(quiet, "round %u/%u", r + 1, rounds);
		double t0 = seconds_now();
		uint64_t m = memmem_count(map, bytes);
		double t1 = seconds_now();
		rc = rap_count(c, &got);
		double t2 = seconds_now();
		if (rc < 0) {
			fail(out, EX_OSERR, "'%s' failed: %s", PATTERN_CMD, rap_strerror(rc));
			goto done;
		}
		if (m != want || got != want) {
			fail(out, EX_DATAERR, "hit counts differ: memmem %llu, rap %llu",
			     (unsigned long long)m, (unsigned long long)got);
			goto done;
		}
		mem_t[r] = t1 - t0;
		rap_t[r] = t2 - t1;
		out->rounds = r + 1;
	}
	qsort(rap_t, rounds, sizeof rap_t[0], cmp_double);
	qsort(mem_t, rounds, sizeof mem_t[0], cmp_double);
	out->rap_s = rap_t[rounds / 2];
	out->memmem_s = mem_t[rounds / 2];
	out->rap_hits = got;
	out->memmem_hits = want;
	if (want < (bytes >= (2u << 20) ? 4u : 1u))
		fail(out, EX_DATAERR, "only %llu hits: the planted patterns were not all found", (unsigned long long)want);
done:
	rap_core_free(c);
	if (map != MAP_FAILED)
		munmap(map, (size_t)bytes);
	close(fd);
	unlink(path);
}
