/* The one formatter of view records (core_private.h, "record.c"): searches and hashes
 * produce records, and this is where a record becomes the line radare2 prints for it. */
#include <inttypes.h>

#include "core_private.h"

static void hex(FILE *out, const uint8_t *bytes, size_t n)
{
	static const char digits[] = "0123456789abcdef";
	for (size_t i = 0; i < n; i++) {
		fputc(digits[bytes[i] >> 4], out);
		fputc(digits[bytes[i] & 0xf], out);
	}
}

void rap__record_print(FILE *out, const struct rap__record *r)
{
	switch (r->kind) {
	case RAP__RECORD_TEXT_HIT:
		fprintf(out, "0x%08" PRIx64 " hit%u_%" PRIu64 " \"%s\"\n", r->addr, r->search, r->index,
			r->text ? r->text : "");
		return;
	case RAP__RECORD_BYTES_HIT:
		fprintf(out, "0x%08" PRIx64 " hit%u_%" PRIu64 " ", r->addr, r->search, r->index);
		hex(out, r->bytes, r->nbytes);
		fputc('\n', out);
		return;
	case RAP__RECORD_DIGEST:
		if (r->text)
			fputs(r->text, out);
		else
			hex(out, r->bytes, r->nbytes);
		fputc('\n', out);
		return;
	case RAP__RECORD_NAME:
		fprintf(out, "%s\n", r->text ? r->text : "");
		return;
	}
}
