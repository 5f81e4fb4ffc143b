/* Hashing a range of the current file: "ph ALGO [len]" prints the digest of len bytes
 * (default: the block size) at the position, and "ph" alone lists the algorithms.
 *
 * The range is streamed CHUNK bytes at a time through the IO, so hashing a 2 GiB rap://
 * file needs one chunk of memory and prints one line. md5, sha1, sha256 and sha512 come
 * from OpenSSL's EVP, crc32 from zlib; a build without one of them says so when asked for
 * its algorithms, and "ph" lists only what the build has.
 *
 * Behaviour a user can observe, taken from radare2 6.2.1 (test/vectors/r2/search-hash.txt):
 * - Digests in lower-case hex, crc32 as 8 hex digits, entropy as radare2's Shannon value in
 *   bits per byte with 8 decimals.
 * - Bytes past the end of the file read as 0xff (as px shows them), so a range that runs
 *   past the end hashes like radare2's. Decided here (radare2 hashes whatever it is asked):
 *   at most FILL_MAX of a range may lie past the end of a file whose size is known, and a
 *   range may not wrap past the end of the address space. A longer one is a mistyped length
 *   (the fuzzer found "ph entropy 0x614243828486" on a 16-byte file: 100 TB of fill, hours of
 *   work) and is refused with the file's size in the message.
 * - "ph" lists its algorithms one per line, sorted by name. radare2 lists its own set
 *   (plugin families such as "crc", "sha", "xxhash"); this list is the names "ph" takes. */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#ifdef HAVE_OPENSSL
#include <openssl/evp.h>
#endif
#ifdef HAVE_ZLIB
#include <zlib.h>
#endif

#include "common.h"
#include "core_private.h"

/* As transfer.c and search.c: one rap:// chunk fills the client's pipeline. */
#define CHUNK (1u << 20)
/* The most of a range that may lie past the end of a file of known size: 64 MiB hash in well
 * under a second, and no real reason to hash more bytes that are not there. */
#ifndef FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION
#define FILL_MAX (UINT64_C(64) << 20)
#else
#define FILL_MAX (UINT64_C(1) << 20) /* libFuzzer builds: see meson.build */
#endif
/* A hash that ends within a second shows no progress bar. */
#define BAR_DELAY_NS 1000000000LL

enum kind { KIND_EVP, KIND_CRC32, KIND_ENTROPY };

/* In the order "ph" lists them: sorted by name. */
static const struct algo {
	const char *name;
	enum kind kind;
	const char *evp; /* OpenSSL's name of the digest */
} algos[] = {
	{ "crc32", KIND_CRC32, NULL },
	{ "entropy", KIND_ENTROPY, NULL },
	{ "md5", KIND_EVP, "MD5" },
	{ "sha1", KIND_EVP, "SHA1" },
	{ "sha256", KIND_EVP, "SHA256" },
	{ "sha512", KIND_EVP, "SHA512" },
};

struct rap__hash {
	const struct algo *a;
#ifdef HAVE_OPENSSL
	EVP_MD_CTX *md;
#endif
	unsigned long crc;
	uint64_t counts[256]; /* entropy: how often each byte value occurred */
	uint64_t total;
};

/* What this build lacks for a, or NULL when it has it. */
static const char *missing(const struct algo *a)
{
	switch (a->kind) {
	case KIND_EVP:
#ifdef HAVE_OPENSSL
		return NULL;
#else
		return "OpenSSL";
#endif
	case KIND_CRC32:
#ifdef HAVE_ZLIB
		return NULL;
#else
		return "zlib";
#endif
	case KIND_ENTROPY:
		return NULL;
	}
	return "?";
}

const char *rap__hash_name_at(size_t i)
{
	for (size_t k = 0; k < sizeof(algos) / sizeof(algos[0]); k++) {
		if (missing(&algos[k]))
			continue;
		if (i-- == 0)
			return algos[k].name;
	}
	return NULL;
}

int rap__hash_new(const char *name, struct rap__hash **out, const char **why)
{
	*out = NULL;
	*why = "";
	const struct algo *a = NULL;
	for (size_t k = 0; k < sizeof(algos) / sizeof(algos[0]); k++)
		if (!strcmp(algos[k].name, name))
			a = &algos[k];
	if (!a)
		return RAP_EINVAL;
	if (missing(a)) {
		*why = missing(a);
		return RAP_ENOTSUP;
	}
	struct rap__hash *h = rap__calloc(1, sizeof(*h));
	if (!h)
		return RAP_ENOMEM;
	h->a = a;
	switch (a->kind) {
	case KIND_EVP:
#ifdef HAVE_OPENSSL
	{
		const EVP_MD *md = EVP_get_digestbyname(a->evp);
		h->md = md ? EVP_MD_CTX_new() : NULL;
		if (!h->md || EVP_DigestInit_ex(h->md, md, NULL) != 1) {
			rap__hash_free(h);
			/* A provider configured without it (FIPS and md5) says so like a build. */
			if (!md) {
				*why = "OpenSSL's configured providers";
				return RAP_ENOTSUP;
			}
			return RAP_ENOMEM;
		}
	}
#endif
		break;
	case KIND_CRC32:
#ifdef HAVE_ZLIB
		h->crc = crc32(0L, Z_NULL, 0);
#endif
		break;
	case KIND_ENTROPY:
		break;
	}
	*out = h;
	return 0;
}

void rap__hash_update(struct rap__hash *h, const uint8_t *buf, size_t len)
{
	h->total += len;
	switch (h->a->kind) {
	case KIND_EVP:
#ifdef HAVE_OPENSSL
		EVP_DigestUpdate(h->md, buf, len);
#endif
		break;
	case KIND_CRC32:
#ifdef HAVE_ZLIB
		h->crc = crc32_z(h->crc, buf, len);
#endif
		break;
	case KIND_ENTROPY:
		for (size_t i = 0; i < len; i++)
			h->counts[buf[i]]++;
		break;
	}
}

/* Shannon entropy of the counted bytes in bits per byte: -sum p * log2(p). */
static double entropy(const struct rap__hash *h)
{
	if (!h->total)
		return 0.0;
	double e = 0.0, n = (double)h->total;
	for (int v = 0; v < 256; v++) {
		if (!h->counts[v])
			continue;
		double p = (double)h->counts[v] / n;
		e -= p * log2(p);
	}
	return e;
}

void rap__hash_finish(struct rap__hash *h, struct rap__digest *d)
{
	memset(d, 0, sizeof(*d));
	switch (h->a->kind) {
	case KIND_EVP:
#ifdef HAVE_OPENSSL
	{
		unsigned n = 0;
		EVP_DigestFinal_ex(h->md, d->bytes, &n);
		d->len = n;
	}
#endif
		break;
	case KIND_CRC32:
		d->bytes[0] = (uint8_t)(h->crc >> 24);
		d->bytes[1] = (uint8_t)(h->crc >> 16);
		d->bytes[2] = (uint8_t)(h->crc >> 8);
		d->bytes[3] = (uint8_t)h->crc;
		d->len = 4;
		break;
	case KIND_ENTROPY:
		snprintf(d->text, sizeof(d->text), "%.8f", entropy(h));
		break;
	}
	rap__hash_free(h);
}

void rap__hash_free(struct rap__hash *h)
{
	if (!h)
		return;
#ifdef HAVE_OPENSSL
	EVP_MD_CTX_free(h->md);
#endif
	rap__free(h);
}

/* ---- the command ----------------------------------------------------------------------- */

static int list(struct rap_core *c)
{
	for (size_t i = 0; rap__hash_name_at(i); i++) {
		struct rap__record r = { .kind = RAP__RECORD_NAME, .text = rap__hash_name_at(i) };
		rap__record_print(c->out, &r);
	}
	return 0;
}

/* Feeds len bytes at off through h, a chunk at a time. */
static int hash_range(struct rap_core *c, struct rap__hash *h, uint64_t off, uint64_t len)
{
	size_t cap = len < CHUNK ? (size_t)len : CHUNK;
	uint8_t *buf = rap__malloc(cap);
	if (!buf) {
		rap__core_errorf(c, "out of memory");
		return RAP_ENOMEM;
	}
	struct rap__progress bar;
	rap__progress_start(&bar, c, len, true, BAR_DELAY_NS);
	int rc = 0;
	for (uint64_t done = 0; done < len;) {
		if (rap__core_interrupted(c)) {
			rap__progress_clear(&bar);
			rap__core_errorf(c, "interrupted after 0x%" PRIx64 " of 0x%" PRIx64 " bytes", done, len);
			rc = -EINTR;
			break;
		}
		size_t n = len - done < cap ? (size_t)(len - done) : cap;
		rc = rap__core_read(c, off + done, buf, n);
		if (rc < 0) {
			rap__progress_clear(&bar);
			rap__core_errorf(c, "cannot read at 0x%08" PRIx64 ": %s", off + done, rap_strerror(rc));
			break;
		}
		rap__hash_update(h, buf, n);
		done += n;
		rap__progress_update(&bar, done);
	}
	rap__progress_clear(&bar);
	rap__free(buf);
	return rc;
}

/* Refuses a range that wraps past the end of the address space or lies more than FILL_MAX
 * past the end of a file whose size is known (a stream's has none: it is read until the
 * data ends). */
static int check_range(struct rap_core *c, uint64_t off, uint64_t len)
{
	if (len && len - 1 > UINT64_MAX - off) {
		rap__core_errorf(c, "the range 0x%" PRIx64 " + 0x%" PRIx64 " runs past the end of the address space",
		                 off, len);
		return RAP_EINVAL;
	}
	uint64_t size;
	if (rap_io_size(c->io, c->fd, &size) < 0)
		return 0;
	uint64_t filled = off >= size ? len : len > size - off ? len - (size - off) : 0;
	if (filled > FILL_MAX) {
		rap__core_errorf(c,
		                 "0x%" PRIx64 " bytes of the range lie past the end of the file (its size is 0x%" PRIx64
		                 "); at most 0x%" PRIx64 " may",
		                 filled, size, FILL_MAX);
		return RAP_EINVAL;
	}
	return 0;
}

int rap__core_cmd_hash(struct rap_core *c, const char *name, char *args)
{
	if (!*args)
		return list(c);
	char *algo = args, *rest = args + strcspn(args, " \t");
	if (*rest)
		*rest++ = '\0';
	rest = rap__core_trim(rest);
	struct rap__hash *h;
	const char *why;
	int rc = rap__hash_new(algo, &h, &why);
	if (rc == RAP_EINVAL) {
		rap__core_errorf(c, "unknown hash algorithm '%s' (see 'ph')", algo);
		return rc;
	}
	if (rc == RAP_ENOTSUP) {
		rap__core_errorf(c, "%s is not in this build (it needs %s; see 'ph')", algo, why);
		return rc;
	}
	if (rc < 0) {
		rap__core_errorf(c, "out of memory");
		return rc;
	}
	if (c->fd < 0) {
		rap__hash_free(h);
		rap__core_errorf(c, "no file is open (open one with 'o URI')");
		return RAP_EBADFD;
	}
	uint64_t len = c->blocksize;
	if (*rest && rap__core_eval(c, rest, &len) < 0) {
		rap__hash_free(h);
		rap__core_errorf(c, "invalid length '%s'", rest);
		return RAP_EINVAL;
	}
	rc = check_range(c, c->off, len);
	if (rc < 0) {
		rap__hash_free(h);
		return rc;
	}
	rc = hash_range(c, h, c->off, len);
	if (rc < 0) {
		rap__hash_free(h);
		return rc;
	}
	struct rap__digest d;
	rap__hash_finish(h, &d);
	struct rap__record r = {
		.kind = RAP__RECORD_DIGEST,
		.addr = c->off,
		.len = len,
		.bytes = d.bytes,
		.nbytes = d.len,
		.text = d.text[0] ? d.text : NULL,
	};
	rap__record_print(c->out, &r);
	return 0;
}
