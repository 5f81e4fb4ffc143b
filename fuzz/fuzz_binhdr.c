/* Fuzz target for executable headers (libr/core/binhdr.c: ELF, PE, Mach-O). Input layout:
 *   byte 0      bit 0: the file's size is known (else UINT64_MAX, as for a stream);
 *               bits 1-3: the most bytes one read call returns (1, 3, 7, 16, 64, 512, 4096,
 *               unlimited), so that every read loop meets short reads;
 *               bit 4: reads at or past the offset in bytes 1-2 (be16, times 16) fail with EIO
 *   bytes 1-2   that offset
 *   the rest    the file
 * Checks, besides the sanitizers: the result is 0, RAP_EINVAL, RAP_ENOMEM or the injected
 * error; with a known size no read reaches past the file; one parse reads at most a bounded
 * number of bytes; a successful parse names every field (static strings), has 16, 32 or 64
 * bits and an entry offset inside the file; a failed one leaves *out cleared; and the result
 * does not depend on how the reads are cut (the same parse with unlimited reads). */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <rap/rap.h>

#include "binhdr.h"

#include "fuzz.h"

#define INPUT_MAX (128u * 1024u)
/* The header, a few small reads, and each table at most once (RAP__BINHDR_TABLE_MAX). */
#define READ_BUDGET (4u * RAP__BINHDR_TABLE_MAX + 4096u)

struct file {
	const uint8_t *p;
	size_t len;
	bool size_known;
	size_t chunk; /* 0: unlimited */
	bool fail;
	uint64_t fail_at;
	uint64_t bytes_read;
};

static int file_read(void *ctx, uint64_t off, uint8_t *buf, size_t len)
{
	struct file *f = ctx;
	CHECK(len > 0);
	if (f->size_known)
		CHECK(off <= f->len && len <= f->len - off);
	if (f->fail && off + len > f->fail_at)
		return -EIO;
	if (off >= f->len)
		return 0;
	size_t n = f->len - (size_t)off < len ? f->len - (size_t)off : len;
	if (f->chunk && n > f->chunk)
		n = f->chunk;
	memcpy(buf, f->p + off, n);
	f->bytes_read += n;
	CHECK(f->bytes_read <= READ_BUDGET);
	return (int)n;
}

static bool cleared(const struct rap__binhdr *h)
{
	static const struct rap__binhdr zero;
	return !memcmp(h, &zero, sizeof(*h));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const size_t chunks[8] = { 1, 3, 7, 16, 64, 512, 4096, 0 };
	if (size < 3 || size > INPUT_MAX)
		return 0;
	struct file f = {
		.p = data + 3,
		.len = size - 3,
		.size_known = data[0] & 1,
		.chunk = chunks[(data[0] >> 1) & 7],
		.fail = (data[0] >> 4) & 1,
		.fail_at = (uint64_t)(data[1] << 8 | data[2]) * 16,
	};
	uint64_t fsize = f.size_known ? f.len : UINT64_MAX;
	struct rap__binhdr h;
	memset(&h, 0x5a, sizeof(h));
	int rc = rap__binhdr_parse(file_read, &f, fsize, &h);
	CHECK(rc == 0 || rc == RAP_EINVAL || rc == RAP_ENOMEM || (f.fail && rc == -EIO));
	if (rc < 0) {
		CHECK(cleared(&h));
	} else {
		CHECK(h.format && h.bintype && h.bclass && h.arch && h.machine);
		CHECK(h.bits == 16 || h.bits == 32 || h.bits == 64);
		CHECK(!h.has_entry_paddr || h.has_entry);
		if (f.size_known)
			CHECK(!h.has_entry_paddr || h.entry_paddr < f.len);
	}
	if (f.fail || rc == RAP_ENOMEM)
		return 0;
	/* The same file read without cuts parses the same way. */
	struct file whole = f;
	whole.chunk = 0;
	whole.bytes_read = 0;
	struct rap__binhdr h2;
	int rc2 = rap__binhdr_parse(file_read, &whole, fsize, &h2);
	if (rc2 == RAP_ENOMEM)
		return 0;
	CHECK(rc2 == rc);
	CHECK(!memcmp(&h, &h2, sizeof(h)));
	return 0;
}
