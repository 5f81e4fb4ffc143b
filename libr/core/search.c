/* Searching the current file: "/ text", "/x hexpairs[:mask]" and "/w text" (wide), as
 * radare2 prints them, over the range that search.in, search.from and search.to describe.
 *
 * The engine is a chunked scanner: the range is read CHUNK bytes at a time through
 * rap_io_read_at (which pipelines a rap:// chunk), and the tail of each chunk is carried
 * into the next so a match across the boundary is found whole. Unmasked patterns are found
 * with memmem; a masked one by memmem on its longest fully significant run, each candidate
 * then checked under the mask.
 *
 * Behaviour a user can observe, taken from radare2 6.2.1 (test/vectors/r2/search-hash.txt):
 * - Each search of a session gets the next number N, whether it finds anything or not;
 *   its hits are named hitN_0, hitN_1, ...; a search without hits prints nothing.
 * - Hits do not overlap (radare2's search.overlap=false) and lie wholly inside the range.
 * - A text hit shows 16 bytes before it (fewer near address 0), its own bytes and 16 after,
 *   each byte that is not printable ASCII left out (so past the end of the file, where the
 *   bytes read as 0xff, nothing shows). A byte hit shows the bytes found, in hex.
 * - search.in=io.maps (the default) or file: the whole file, narrowed by search.from and
 *   search.to when they are set; range: search.from (unset: the position) to search.to
 *   (unset: the end); block: the block at the position. search.to is exclusive.
 * - search.maxhits (0: no limit) ends a search after that many hits. */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "core_private.h"

/* As transfer.c: large enough that a rap:// chunk fills the client's pipeline. */
#define CHUNK (1u << 20)
/* Bytes of context a text hit shows on each side. */
#define CONTEXT 16u
/* A search that ends within a second shows no progress bar. */
#define BAR_DELAY_NS 1000000000LL
/* search.from and search.to when unset (radare2 shows -1 as 0xffffffffffffffff). */
#define UNSET UINT64_MAX

/* ---- patterns ----------------------------------------------------------------------------- */

void rap__pattern_free(struct rap__pattern *p)
{
	rap__free(p->bytes);
	rap__free(p->mask);
	memset(p, 0, sizeof(*p));
}

/* Chooses the anchor (the longest run of fully significant bytes) and drops a mask that
 * lets every bit through. */
static void pattern_prepare(struct rap__pattern *p)
{
	p->anchor_off = p->anchor_len = 0;
	if (!p->mask) {
		p->anchor_len = p->len;
		return;
	}
	size_t run = 0;
	for (size_t i = 0; i < p->len; i++) {
		p->bytes[i] &= p->mask[i];
		run = p->mask[i] == 0xff ? run + 1 : 0;
		if (run > p->anchor_len) {
			p->anchor_len = run;
			p->anchor_off = i + 1 - run;
		}
	}
	if (p->anchor_len == p->len) {
		rap__free(p->mask);
		p->mask = NULL;
	}
}

/* Appends code point cp as UTF-16LE. */
static size_t put_utf16(uint8_t *d, uint32_t cp)
{
	if (cp < 0x10000) {
		d[0] = (uint8_t)cp;
		d[1] = (uint8_t)(cp >> 8);
		return 2;
	}
	cp -= 0x10000;
	uint32_t hi = 0xd800 | (cp >> 10), lo = 0xdc00 | (cp & 0x3ff);
	d[0] = (uint8_t)hi;
	d[1] = (uint8_t)(hi >> 8);
	d[2] = (uint8_t)lo;
	d[3] = (uint8_t)(lo >> 8);
	return 4;
}

/* Decodes one UTF-8 sequence at s (n bytes left); a byte that does not start a valid,
 * shortest-form sequence stands for itself. Returns the bytes used. */
static size_t get_utf8(const uint8_t *s, size_t n, uint32_t *cp)
{
	size_t need;
	uint32_t v;
	if (s[0] >= 0xc2 && s[0] < 0xe0) {
		need = 2;
		v = s[0] & 0x1fu;
	} else if (s[0] >= 0xe0 && s[0] < 0xf0) {
		need = 3;
		v = s[0] & 0x0fu;
	} else if (s[0] >= 0xf0 && s[0] < 0xf5) {
		need = 4;
		v = s[0] & 0x07u;
	} else {
		*cp = s[0]; /* ASCII, or a byte that starts no sequence */
		return 1;
	}
	*cp = s[0];
	if (need > n)
		return 1;
	for (size_t i = 1; i < need; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 1;
		v = v << 6 | (s[i] & 0x3fu);
	}
	static const uint32_t min[5] = { 0, 0, 0x80, 0x800, 0x10000 };
	if (v < min[need] || v > 0x10ffff || (v >= 0xd800 && v < 0xe000))
		return 1;
	*cp = v;
	return need;
}

int rap__pattern_text(struct rap__pattern *p, const uint8_t *text, size_t len, bool wide)
{
	memset(p, 0, sizeof(*p));
	if (!len)
		return RAP_EINVAL;
	/* UTF-16 takes at most 2 bytes for each byte of UTF-8 (4 for a 4-byte sequence). */
	size_t cap = wide ? len * 2 : len;
	if (cap > RAP__SEARCH_PATTERN_MAX * 2)
		return RAP_EINVAL;
	p->bytes = rap__malloc(cap);
	if (!p->bytes)
		return RAP_ENOMEM;
	if (wide) {
		for (size_t i = 0; i < len;) {
			uint32_t cp;
			i += get_utf8(text + i, len - i, &cp);
			p->len += put_utf16(p->bytes + p->len, cp);
		}
	} else {
		memcpy(p->bytes, text, len);
		p->len = len;
	}
	if (p->len > RAP__SEARCH_PATTERN_MAX) {
		rap__pattern_free(p);
		return RAP_EINVAL;
	}
	p->text = true;
	pattern_prepare(p);
	return 0;
}

/* A hex digit's value; 16 for '.', a nibble that may be anything. */
static int nibble(char ch)
{
	return ch == '.' ? 16 : rap__hexval(ch);
}

/* Parses hex pairs from s up to end into val (and, with dots allowed, the nibbles they
 * leave open into care). Returns the byte count or -1 with *why set. */
static long parse_pairs(const char *s, const char *end, uint8_t *val, uint8_t *care, bool dots, const char **why)
{
	long n = 0;
	int half = -1, halfcare = 0;
	for (; s < end; s++) {
		if (*s == ' ' || *s == '\t')
			continue;
		int v = nibble(*s);
		if (v < 0 || (v == 16 && !dots)) {
			*why = dots ? "expected hex pairs, '.' for a nibble that may be anything"
				    : "the mask must be hex pairs";
			return -1;
		}
		int c = v == 16 ? 0 : 0xf;
		v &= 0xf;
		if (half < 0) {
			half = v;
			halfcare = c;
			continue;
		}
		if (n == RAP__SEARCH_PATTERN_MAX) {
			*why = "longer than 4096 bytes";
			return -1;
		}
		val[n] = (uint8_t)(half << 4 | v);
		if (care)
			care[n] = (uint8_t)(halfcare << 4 | c);
		n++;
		half = -1;
	}
	if (half >= 0) {
		*why = "odd number of hex digits";
		return -1;
	}
	return n;
}

int rap__pattern_hex(struct rap__pattern *p, const char *spec, const char **why)
{
	memset(p, 0, sizeof(*p));
	*why = "";
	const char *colon = strchr(spec, ':');
	const char *end = colon ? colon : spec + strlen(spec);
	/* Every hex pair takes at least two characters. */
	size_t cap = (size_t)(end - spec) / 2 + 1;
	if (cap > RAP__SEARCH_PATTERN_MAX + 1)
		cap = RAP__SEARCH_PATTERN_MAX + 1;
	uint8_t *val = rap__malloc(cap), *care = rap__malloc(cap), *mask = NULL;
	int rc = RAP_ENOMEM;
	if (!val || !care)
		goto fail;
	rc = RAP_EINVAL;
	long n = parse_pairs(spec, end, val, care, true, why);
	if (n < 0)
		goto fail;
	if (n == 0) {
		*why = "no bytes to search for";
		goto fail;
	}
	if (colon) {
		const char *ms = colon + 1;
		size_t mcap = strlen(ms) / 2 + 1;
		uint8_t *tmp = rap__malloc(mcap);
		mask = rap__malloc((size_t)n);
		if (!tmp || !mask) {
			rap__free(tmp);
			rc = RAP_ENOMEM;
			goto fail;
		}
		long m = parse_pairs(ms, ms + strlen(ms), tmp, NULL, false, why);
		if (m > n)
			*why = "the mask is longer than the bytes";
		else if (m == 0)
			*why = "empty mask";
		if (m <= 0 || m > n) {
			rap__free(tmp);
			goto fail;
		}
		/* Bytes past a shorter mask must match exactly. */
		for (long i = 0; i < n; i++)
			mask[i] = (uint8_t)((i < m ? tmp[i] : 0xff) & care[i]);
		rap__free(tmp);
	} else {
		mask = care;
		care = NULL;
	}
	p->bytes = val;
	p->mask = mask;
	p->len = (size_t)n;
	rap__free(care);
	pattern_prepare(p);
	return 0;
fail:
	rap__free(val);
	rap__free(care);
	rap__free(mask);
	return rc;
}

static bool masked_equal(const struct rap__pattern *p, const uint8_t *at)
{
	for (size_t i = 0; i < p->len; i++)
		if ((at[i] & p->mask[i]) != p->bytes[i])
			return false;
	return true;
}

size_t rap__pattern_find(const struct rap__pattern *p, const uint8_t *buf, size_t len, size_t from)
{
	if (p->len > len || from > len - p->len)
		return SIZE_MAX;
	size_t last = len - p->len; /* the last offset a match may start at */
	if (!p->mask) {
		const uint8_t *m = memmem(buf + from, len - from, p->bytes, p->len);
		return m ? (size_t)(m - buf) : SIZE_MAX;
	}
	if (p->anchor_len) {
		size_t a = p->anchor_off;
		for (size_t i = from; i <= last;) {
			const uint8_t *m = memmem(buf + i + a, last - i + p->anchor_len, p->bytes + a, p->anchor_len);
			if (!m)
				return SIZE_MAX;
			size_t s = (size_t)(m - buf) - a;
			if (masked_equal(p, buf + s))
				return s;
			i = s + 1;
		}
		return SIZE_MAX;
	}
	/* No byte is wholly significant: test the first one that has significant bits. */
	size_t k = 0;
	while (k < p->len && !p->mask[k])
		k++;
	if (k == p->len)
		return from; /* the mask lets anything through */
	for (size_t i = from; i <= last; i++)
		if ((buf[i + k] & p->mask[k]) == p->bytes[k] && masked_equal(p, buf + i))
			return i;
	return SIZE_MAX;
}

/* ---- the chunked scanner ----------------------------------------------------------------- */

/* Reads up to len bytes at off; *eof when the data ends before len. Returns the count read
 * or a negative error. */
static ssize_t read_chunk(struct rap_core *c, uint64_t off, uint8_t *buf, size_t len, bool *eof)
{
	size_t got;
	int rc = rap_io_read_full(c->io, c->fd, off, buf, len, &got);
	if (rc < 0)
		return rc;
	if (got < len)
		*eof = true;
	return (ssize_t)got;
}

int rap__search_scan(struct rap_core *c, const struct rap__pattern *p, uint64_t from, uint64_t to,
		     size_t chunk, rap__search_hit_fn fn, void *ctx, uint64_t *scanned)
{
	*scanned = 0;
	if (c->fd < 0)
		return RAP_EBADFD;
	if (from >= to || !p->len)
		return 0;
	/* The carried tail: what a match across the boundary needs, and the context a hit
	 * right after the boundary shows before it. */
	size_t carry = p->len - 1 + CONTEXT;
	uint64_t size;
	bool sized = rap_io_size(c->io, c->fd, &size) == 0;
	bool known = sized && to != UINT64_MAX;
	/* A range (or a file) smaller than a chunk gets a buffer its size, not a chunk's. */
	uint64_t span = to - from;
	if (sized && size > from && size - from < span)
		span = size - from;
	if (span < chunk)
		chunk = (size_t)span;
	uint8_t *buf = rap__malloc(chunk + carry);
	if (!buf) {
		rap__core_errorf(c, "out of memory");
		return RAP_ENOMEM;
	}
	struct rap__progress bar;
	rap__progress_start(&bar, c, to - from, known, BAR_DELAY_NS);
	uint64_t pos = from; /* address of buf[0] */
	size_t have = 0;     /* bytes in buf */
	uint64_t next = from; /* the first start address not examined yet */
	bool eof = false;
	int rc = 0;
	while (!eof && pos + have < to) {
		if (rap__core_output_over(c)) {
			rc = RAP_ETOOBIG;
			break;
		}
		if (rap__core_interrupted(c)) {
			rap__progress_clear(&bar);
			fflush(c->out);
			if (known)
				rap__core_errorf(c, "interrupted at 0x%08" PRIx64 " after 0x%" PRIx64 " of 0x%" PRIx64 " bytes",
						 pos + have, pos + have - from, to - from);
			else
				rap__core_errorf(c, "interrupted at 0x%08" PRIx64 " after 0x%" PRIx64 " bytes", pos + have,
						 pos + have - from);
			rc = -EINTR;
			break;
		}
		uint64_t left = to - (pos + have);
		ssize_t got = read_chunk(c, pos + have, buf + have, left < chunk ? (size_t)left : chunk, &eof);
		if (got < 0) {
			rap__progress_clear(&bar);
			fflush(c->out);
			rap__core_errorf(c, "cannot read at 0x%08" PRIx64 ": %s", pos + have, rap_strerror((int)got));
			rc = (int)got;
			break;
		}
		have += (size_t)got;
		while (next + p->len <= pos + have) {
			size_t i = rap__pattern_find(p, buf, have, (size_t)(next - pos));
			if (i == SIZE_MAX) {
				next = pos + have - p->len + 1;
				break;
			}
			rap__progress_clear(&bar);
			rc = fn(ctx, pos + i, buf, have, pos);
			next = pos + i + p->len;
			if (rc)
				break;
		}
		*scanned = pos + have - from;
		if (rc)
			break;
		rap__progress_update(&bar, *scanned);
		size_t keep = have < carry ? have : carry;
		memmove(buf, buf + have - keep, keep);
		pos += have - keep;
		have = keep;
	}
	rap__progress_clear(&bar);
	rap__free(buf);
	return rc < 0 ? rc : 0;
}

/* ---- the command ----------------------------------------------------------------------- */

struct search_job {
	struct rap_core *c;
	const struct rap__pattern *p;
	unsigned search;
	uint64_t hits, maxhits;
	uint8_t *ctxbuf; /* CONTEXT + len + CONTEXT bytes, for a text hit's preview */
	char *preview;
};

/* Copies the bytes at [addr, addr + len) from the window when it holds them, else reads
 * them (bytes past the end of the data read as 0xff, as radare2's do). */
static int window_bytes(struct search_job *j, uint64_t addr, size_t len, uint8_t *dst, const uint8_t *win,
			size_t winlen, uint64_t winaddr)
{
	if (addr >= winaddr && addr - winaddr <= winlen && winlen - (addr - winaddr) >= len) {
		memcpy(dst, win + (addr - winaddr), len);
		return 0;
	}
	return rap__core_read(j->c, addr, dst, len);
}

/* Appends the printable ASCII bytes of src to dst; returns the new end. */
static char *printable(char *dst, const uint8_t *src, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (src[i] >= 0x20 && src[i] <= 0x7e)
			*dst++ = (char)src[i];
	return dst;
}

static int on_hit(void *ctx, uint64_t addr, const uint8_t *win, size_t winlen, uint64_t winaddr)
{
	struct search_job *j = ctx;
	size_t len = j->p->len;
	struct rap__record r = {
		.addr = addr, .len = len, .search = j->search, .index = j->hits,
	};
	if (j->p->text) {
		size_t pre = addr < CONTEXT ? (size_t)addr : CONTEXT;
		/* Context past the end of the address space reads as nothing. */
		size_t post = UINT64_MAX - addr - (len - 1) < CONTEXT ? (size_t)(UINT64_MAX - addr - (len - 1)) : CONTEXT;
		int rc = window_bytes(j, addr - pre, pre + len + post, j->ctxbuf, win, winlen, winaddr);
		if (rc < 0) {
			rap__core_errorf(j->c, "cannot read at 0x%08" PRIx64 ": %s", addr - pre, rap_strerror(rc));
			return rc;
		}
		char *end = printable(j->preview, j->ctxbuf, pre + len + post);
		*end = '\0';
		r.kind = RAP__RECORD_TEXT_HIT;
		r.text = j->preview;
	} else {
		r.kind = RAP__RECORD_BYTES_HIT;
		r.bytes = win + (addr - winaddr);
		r.nbytes = len;
	}
	rap__record_print(j->c->out, &r);
	j->hits++;
	if (j->maxhits && j->hits >= j->maxhits)
		return 1;
	return rap__core_output_over(j->c) ? RAP_ETOOBIG : 0;
}

bool rap__search_in_valid(const char *value)
{
	static const char *const modes[] = { "io.maps", "file", "block", "range" };
	for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++)
		if (!strcmp(value, modes[i]))
			return true;
	return false;
}

static uint64_t var_u64(const struct rap_core *c, const char *key)
{
	const char *v = rap_core_config_get(c, key);
	return v ? strtoull(v, NULL, 0) : 0;
}

/* The range search.in, search.from and search.to describe, clamped to the file. */
static void search_range(struct rap_core *c, uint64_t *from, uint64_t *to)
{
	const char *in = rap_core_config_get(c, "search.in");
	uint64_t sfrom = var_u64(c, "search.from"), sto = var_u64(c, "search.to");
	uint64_t size = UINT64_MAX;
	if (rap_io_size(c->io, c->fd, &size) < 0)
		size = UINT64_MAX; /* a stream: up to where its data ends */
	if (in && !strcmp(in, "range")) {
		*from = sfrom == UNSET ? c->off : sfrom;
		*to = sto == UNSET ? size : sto;
	} else if (in && !strcmp(in, "block")) {
		*from = c->off;
		*to = c->off + c->blocksize < c->off ? UINT64_MAX : c->off + c->blocksize;
	} else {
		*from = sfrom == UNSET ? 0 : sfrom;
		*to = sto == UNSET ? size : sto;
	}
	if (*to > size)
		*to = size;
}

static void usage(struct rap_core *c, const char *name)
{
	rap__core_errorf(c, "usage: %s %s (see '/?')", name, !strcmp(name, "/x") ? "hexpairs[:mask]" : "text");
}

int rap__core_cmd_search(struct rap_core *c, const char *name, char *args)
{
	if (!*args) {
		usage(c, name);
		return RAP_EINVAL;
	}
	if (c->fd < 0) {
		rap__core_errorf(c, "no file is open (open one with 'o URI')");
		return RAP_EBADFD;
	}
	struct rap__pattern p;
	int rc;
	if (!strcmp(name, "/x")) {
		const char *why;
		rc = rap__pattern_hex(&p, args, &why);
		if (rc == RAP_EINVAL)
			rap__core_errorf(c, "invalid hex pattern '%s': %s", args, why);
	} else {
		/* "\x00", "\n" and the other escapes of "w". */
		size_t n = rap__core_unescape(args);
		rc = rap__pattern_text(&p, (const uint8_t *)args, n, !strcmp(name, "/w"));
		if (rc == RAP_EINVAL)
			rap__core_errorf(c, "the text to search for is longer than %u bytes", RAP__SEARCH_PATTERN_MAX);
	}
	if (rc == RAP_ENOMEM)
		rap__core_errorf(c, "out of memory");
	if (rc < 0)
		return rc;
	struct search_job j = {
		.c = c,
		.p = &p,
		.search = c->searches++,
		.maxhits = var_u64(c, "search.maxhits"),
		.ctxbuf = rap__malloc(p.len + 2 * CONTEXT),
		.preview = rap__malloc(p.len + 2 * CONTEXT + 1),
	};
	if (!j.ctxbuf || !j.preview) {
		rap__core_errorf(c, "out of memory");
		rc = RAP_ENOMEM;
	} else {
		uint64_t from, to, scanned;
		search_range(c, &from, &to);
		rc = rap__search_scan(c, &p, from, to, CHUNK, on_hit, &j, &scanned);
	}
	rap__free(j.ctxbuf);
	rap__free(j.preview);
	rap__pattern_free(&p);
	return rc;
}
