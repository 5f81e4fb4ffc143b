/* Output formats of radare2's print commands (px, p8, pr) with colours off, byte for byte.
 * The rules were read from radare2's r_print_hexdump and cmd_print and checked against the
 * outputs recorded in shared/interop/r2 (see test/unit/test_print.c). */
#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include <rap/core.h>

#include "common.h"
#include "core_private.h"

#define ROW 16

/* Bytes read and printed at a time; a multiple of ROW so pieces join into one dump. */
#define PIECE (64u * 1024u)

static const char hexdigits_upper[] = "0123456789ABCDEF";
static const char hexdigits_lower[] = "0123456789abcdef";

static bool printable(uint8_t ch)
{
	return ch >= 0x20 && ch <= 0x7e;
}

/* radare2 prints addresses as "0x%08" PRIx64, so past 4 GiB the column grows; the header is
 * padded by the width of the START address only (a dump crossing 2^32 gets a short header,
 * as in radare2). */
static int addr_width(uint64_t addr)
{
	char tmp[24];
	return snprintf(tmp, sizeof(tmp), "0x%08" PRIx64, addr);
}

void rap__print_hexdump_header(FILE *out, uint64_t addr)
{
	char line[128];
	size_t n = 0;
	memcpy(line, "- offset -", 10);
	n = 10;
	for (int pad = addr_width(addr) - 9; pad > 0; pad--)
		line[n++] = ' ';
	line[n++] = ' ';
	/* The column labels follow the low byte of the start address: the low nibble counts up,
	 * and the high nibble is shown only when it is not zero (" 0 1", "1011", "F8F9"). */
	unsigned lo = (unsigned)(addr & 0xf), hi = (unsigned)((addr >> 4) & 0xf);
	for (unsigned i = 0; i < ROW; i++) {
		unsigned high = (((i + lo) >> 4) + hi) % 16;
		line[n++] = high ? hexdigits_upper[high] : ' ';
		line[n++] = hexdigits_upper[(i + lo) % 16];
		if (i & 1)
			line[n++] = ' ';
	}
	line[n++] = ' ';
	for (unsigned i = 0; i < ROW; i++)
		line[n++] = hexdigits_upper[(i + lo) % 16];
	line[n++] = '\n';
	fwrite(line, 1, n, out);
}

/* One row: address, up to 16 bytes in pairs (a short row keeps the column width so the
 * ASCII column stays aligned), then the bytes as text with '.' for the unprintable. */
static void hexdump_row(FILE *out, uint64_t addr, const uint8_t *buf, size_t len)
{
	char line[160];
	int n = snprintf(line, sizeof(line), "0x%08" PRIx64 "  ", addr);
	for (size_t i = 0; i < ROW; i++) {
		if (i < len) {
			line[n++] = hexdigits_lower[buf[i] >> 4];
			line[n++] = hexdigits_lower[buf[i] & 0xf];
		} else {
			line[n++] = ' ';
			line[n++] = ' ';
		}
		if (i & 1)
			line[n++] = ' ';
	}
	line[n++] = ' ';
	for (size_t i = 0; i < len; i++)
		line[n++] = printable(buf[i]) ? (char)buf[i] : '.';
	line[n++] = '\n';
	fwrite(line, 1, (size_t)n, out);
}

void rap__print_hexdump_rows(FILE *out, uint64_t addr, const uint8_t *buf, size_t len)
{
	for (size_t i = 0; i < len; i += ROW)
		hexdump_row(out, addr + i, buf + i, len - i < ROW ? len - i : ROW);
}

void rap__print_hexdump(FILE *out, uint64_t addr, const uint8_t *buf, size_t len)
{
	if (!len)
		return;
	rap__print_hexdump_header(out, addr);
	rap__print_hexdump_rows(out, addr, buf, len);
}

static void hexpairs(FILE *out, const uint8_t *buf, size_t len)
{
	char tmp[512];
	size_t n = 0;
	for (size_t i = 0; i < len; i++) {
		tmp[n++] = hexdigits_lower[buf[i] >> 4];
		tmp[n++] = hexdigits_lower[buf[i] & 0xf];
		if (n == sizeof(tmp)) {
			fwrite(tmp, 1, n, out);
			n = 0;
		}
	}
	if (n)
		fwrite(tmp, 1, n, out);
}

void rap__print_hexpairs(FILE *out, const uint8_t *buf, size_t len)
{
	if (!len)
		return;
	hexpairs(out, buf, len);
	fputc('\n', out);
}

int rap__print_units(char *buf, size_t cap, uint64_t n)
{
	static const struct {
		char unit;
		unsigned shift;
	} units[] = { { 'E', 60 }, { 'P', 50 }, { 'T', 40 }, { 'G', 30 }, { 'M', 20 }, { 'K', 10 } };
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		uint64_t scale = UINT64_C(1) << units[i].shift;
		if (n < scale)
			continue;
		/* radare2 drops the decimal only when the value is a whole number of units. */
		if (n % scale == 0)
			return snprintf(buf, cap, "%" PRIu64 "%c", n / scale, units[i].unit);
		/* As printf's "%.1f" rounds the exact quotient: to the nearest tenth, a tie to
		 * the even one. In integers: no long double (software floating point on aarch64,
		 * and the small rapsrv's size). r * 10 < 2^64 since r < scale <= 2^60. */
		uint64_t r = n % scale, tenths = n / scale * 10 + r * 10 / scale, rest = r * 10 % scale;
		if (2 * rest > scale || (2 * rest == scale && tenths % 2))
			tenths++;
		return snprintf(buf, cap, "%" PRIu64 ".%u%c", tenths / 10, (unsigned)(tenths % 10), units[i].unit);
	}
	return snprintf(buf, cap, "%" PRIu64, n);
}

const char *rap__print_perm(char buf[4], int perm)
{
	buf[0] = (perm & RAP_PERM_R) ? 'r' : '-';
	buf[1] = (perm & RAP_PERM_W) ? 'w' : '-';
	buf[2] = (perm & RAP_PERM_X) ? 'x' : '-';
	buf[3] = '\0';
	return buf;
}

int rap__print_cmd(struct rap_core *c, char kind, uint64_t off, uint64_t len)
{
	if (!len)
		return 0;
	if (c->fd < 0) {
		rap__core_errorf(c, "no file is open (open one with 'o URI')");
		return RAP_EBADFD;
	}
	size_t cap = len < PIECE ? (size_t)len : PIECE;
	uint8_t *buf = rap__malloc(cap);
	if (!buf) {
		rap__core_errorf(c, "out of memory");
		return RAP_ENOMEM;
	}
	int rc = 0;
	for (uint64_t done = 0; done < len;) {
		/* A capture past its cap stops here rather than after the whole length, and so
		 * does an interrupted command (the line so far ends cleanly). */
		if (rap__core_output_over(c)) {
			rc = RAP_ETOOBIG;
			break;
		}
		if (rap__core_interrupted(c)) {
			if (kind == '8' && done)
				fputc('\n', c->out);
			fflush(c->out);
			rap__core_errorf(c, "interrupted after 0x%" PRIx64 " of 0x%" PRIx64 " bytes", done, len);
			rc = -EINTR;
			break;
		}
		size_t n = len - done < cap ? (size_t)(len - done) : cap;
		/* Near a capture's cap, pieces shrink to what still fits (a hexdump is under five
		 * times its data), so the cap is passed by a line at most, not by a whole piece. */
		size_t room = rap__core_output_room(c);
		if (room != SIZE_MAX && n > room / 5 + 16)
			n = (room / 5 + 16) & ~(size_t)15;
		rc = rap__core_read(c, off + done, buf, n);
		if (rc < 0) {
			/* Keep what was printed a complete line before the reason. */
			if (kind == '8' && done)
				fputc('\n', c->out);
			rap__core_errorf(c, "cannot read at 0x%08" PRIx64 ": %s", off + done, rap_strerror(rc));
			break;
		}
		switch (kind) {
		case 'x':
			if (!done)
				rap__print_hexdump_header(c->out, off);
			rap__print_hexdump_rows(c->out, off + done, buf, n);
			break;
		case '8':
			hexpairs(c->out, buf, n);
			if (done + n == len)
				fputc('\n', c->out);
			break;
		default:
			fwrite(buf, 1, n, c->out);
			break;
		}
		done += n;
	}
	rap__free(buf);
	return rc < 0 ? rc : 0;
}
