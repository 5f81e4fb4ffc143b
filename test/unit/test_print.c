/* px / p8 / pr output compared with what the real radare2 printed (test/vectors/r2), and
 * checked for many lengths and start addresses. */
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include <rap/core.h>

#include "common.h"
#include "core_private.h"
#include "transcript.h"

#define SAMPLE_SIZE 131072

static uint8_t sample[SAMPLE_SIZE];
static char sample_path[] = "/tmp/rap-test-print-XXXXXX";

/* The transcripts' sample file: 16-byte records "@%08x|rap2!\n" naming their offset. */
static void make_sample(void)
{
	for (size_t o = 0; o < SAMPLE_SIZE; o += 16) {
		char rec[17];
		snprintf(rec, sizeof(rec), "@%08zx|rap2!\n", o);
		memcpy(sample + o, rec, 16);
	}
}

static int setup_all(void **state)
{
	make_sample();
	int fd = mkstemp(sample_path);
	if (fd < 0)
		return -1;
	ssize_t n = write(fd, sample, sizeof(sample));
	close(fd);
	return n == (ssize_t)sizeof(sample) ? 0 : -1;
}

static int teardown_all(void **state)
{
	unlink(sample_path);
	return 0;
}

static int setup_core(void **state)
{
	struct rap_core *c;
	if (rap_core_new(&c) < 0)
		return -1;
	if (rap_core_open(c, sample_path, RAP_PERM_R | RAP_PERM_X) < 0) {
		rap_core_free(c);
		return -1;
	}
	*state = c;
	return 0;
}

static int teardown_core(void **state)
{
	rap_core_free(*state);
	return 0;
}

/* Runs each line and returns the concatenated standard output (heap). */
static char *run(struct rap_core *c, const char *const *lines)
{
	size_t cap = 1, len = 0;
	char *all = calloc(1, 1);
	for (; *lines; lines++) {
		char *out = NULL, *err = NULL;
		int rc = rap_core_cmd_str(c, *lines, &out, &err);
		if (rc != 0)
			fail_msg("'%s' failed (%d): %s", *lines, rc, err ? err : "");
		size_t n = strlen(out);
		if (len + n + 1 > cap) {
			cap = (len + n + 1) * 2;
			all = realloc(all, cap);
		}
		memcpy(all + len, out, n + 1);
		len += n;
		free(out);
		free(err);
	}
	return all;
}

static char *run1(struct rap_core *c, const char *line)
{
	const char *lines[] = { line, NULL };
	return run(c, lines);
}

/* radare2's client stdout minus the two empty lines its own start-up "=!" replies print
 * (see the transcripts' README). */
static char *r2_stdout(const char *name)
{
	struct transcript t;
	if (transcript_load(name, &t) < 0)
		fail_msg("cannot load transcript %s from %s", name, transcript_dir());
	char *s = transcript_section(&t, "client stdout");
	transcript_free(&t);
	assert_non_null(s);
	size_t n = strlen(s);
	assert_true(n >= 2 && s[0] == '\n' && s[1] == '\n');
	memmove(s, s + 2, n - 1);
	return s;
}

static void test_seek_transcript(void **state)
{
	const char *lines[] = { "s 0x100", "px 16", "s+ 0x10", "px 16", "s 0x1fff8", "px 16", "s 0x30000", "px 4", NULL };
	char *got = run(*state, lines);
	char *want = r2_stdout("seek.txt");
	assert_string_equal(got, want);
	free(got);
	free(want);
}

static void test_open_ro_transcripts(void **state)
{
	char *got = run1(*state, "px 32");
	char *want = r2_stdout("open-ro.txt");
	assert_string_equal(got, want);
	free(want);
	want = r2_stdout("open-ro-n.txt");
	assert_string_equal(got, want);
	free(want);
	free(got);
}

static void test_write_transcript(void **state)
{
	char path[] = "/tmp/rap-test-print-rw-XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, sample, sizeof(sample)), (ssize_t)sizeof(sample));
	close(fd);
	struct rap_core *c;
	assert_int_equal(rap_core_new(&c), 0);
	assert_true(rap_core_open(c, path, RAP_PERM_RWX) >= 0);
	const char *lines[] = { "wx 41424344", "px 8", NULL };
	char *got = run(c, lines);
	char *want = r2_stdout("write.txt");
	assert_string_equal(got, want);
	free(got);
	free(want);
	rap_core_free(c);
	unlink(path);
}

/* Lines of text that follow the line starting with prefix (count of them, prefix included). */
static char *lines_from(const char *text, const char *prefix, int count)
{
	const char *p = text;
	while (p && strncmp(p, prefix, strlen(prefix)) != 0) {
		p = strchr(p, '\n');
		if (p)
			p++;
	}
	assert_non_null(p);
	const char *e = p;
	for (int i = 0; i < count && e; i++) {
		e = strchr(e, '\n');
		if (e)
			e++;
	}
	size_t n = e ? (size_t)(e - p) : strlen(p);
	char *s = malloc(n + 1);
	memcpy(s, p, n);
	s[n] = '\0';
	return s;
}

static void test_cmd_transcript(void **state)
{
	struct rap_core *c = *state;
	char *out = r2_stdout("cmd.txt");
	/* :px 16 ran on the radare2 server */
	char *want = lines_from(out, "- offset -", 2);
	char *got = run1(c, "px 16");
	assert_string_equal(got, want);
	free(got);
	free(want);
	/* :i ran on the server: same layout; the fd number and path are the server's own. */
	want = lines_from(out, "size     ", 6);
	got = run1(c, "i");
	char head[512];
	snprintf(head, sizeof(head), "fd       %d\nfile     %s\n", rap_core_current_fd(c), sample_path);
	assert_true(strncmp(got, head, strlen(head)) == 0);
	assert_string_equal(got + strlen(head), want);
	free(got);
	free(want);
	want = lines_from(out, "fd       ", 2);
	assert_string_equal(want, "fd       4\nfile     /data/files/sample.bin\n");
	free(want);
	free(out);
}

static void test_small_ops_transcript(void **state)
{
	struct rap_core *c = *state;
	char *want = r2_stdout("small-ops-pattern.txt");
	int checked = 0;
	for (char *save = NULL, *line = strtok_r(want, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		uint8_t bytes[16];
		assert_int_equal(strlen(line), 32);
		for (int i = 0; i < 16; i++) {
			unsigned v;
			sscanf(line + 2 * i, "%2x", &v);
			bytes[i] = (uint8_t)v;
		}
		uint8_t *at = memmem(sample, sizeof(sample), bytes, 16);
		assert_non_null(at);
		char cmd[64], expect[40];
		snprintf(cmd, sizeof(cmd), "p8 16 @ %zu", (size_t)(at - sample));
		snprintf(expect, sizeof(expect), "%s\n", line);
		char *got = run1(c, cmd);
		assert_string_equal(got, expect);
		free(got);
		checked++;
	}
	assert_int_equal(checked, 5);
	free(want);
}

/* eq-commands.txt is a different format: "    |" lines after each "$ command". */
static char *eq_body(const char *text, const char *marker, int count)
{
	const char *p = strstr(text, marker);
	assert_non_null(p);
	/* For an HTTP answer the body starts after the blank "\r" header line. */
	const char *blankline = strstr(p, "    |\\r\n");
	const char *nextcmd = strstr(p, "\n$ ");
	if (blankline && (!nextcmd || blankline < nextcmd))
		p = blankline + strlen("    |\\r\n");
	else
		p = strstr(p, "    |");
	char *s = calloc(1, 4096);
	size_t n = 0;
	for (int i = 0; i < count; i++) {
		p = strstr(p, "    |");
		assert_non_null(p);
		p += 5;
		const char *e = strchr(p, '\n');
		memcpy(s + n, p, (size_t)(e - p));
		n += (size_t)(e - p);
		s[n++] = '\n';
		p = e;
	}
	return s;
}

static void test_eq_commands_transcript(void **state)
{
	struct rap_core *c = *state;
	char path[4096];
	snprintf(path, sizeof(path), "%s/eq-commands.txt", transcript_dir());
	FILE *f = fopen(path, "r");
	assert_non_null(f);
	static char text[1 << 20];
	size_t n = fread(text, 1, sizeof(text) - 1, f);
	text[n] = '\0';
	fclose(f);

	char *want = eq_body(text, "cmd/px%2016", 2);
	char *got = run1(c, "px 16");
	assert_string_equal(got, want);
	free(got);
	free(want);

	want = eq_body(text, "send b'px 16\\n', shutdown(WR)", 2);
	got = run1(c, "px 16");
	assert_string_equal(got, want);
	free(got);
	free(want);

	want = eq_body(text, "send b's 0x100;px 16', shutdown(WR)", 2);
	got = run1(c, "s 0x100;px 16");
	assert_string_equal(got, want);
	free(got);
	free(want);
	assert_int_equal(rap_core_seek(c, 0), 0);

	want = eq_body(text, "cmd/p8%204%20@%200x10", 1);
	assert_string_equal(want, "40303030\n");
	got = run1(c, "p8 4 @ 0x10");
	assert_string_equal(got, want);
	free(got);
	free(want);

	want = eq_body(text, "send b'?e one\\n?e two\\n'", 2);
	got = run1(c, "?e one\n?e two\n");
	assert_string_equal(got, want);
	free(got);
	free(want);
}

/* px 10000 from a stock radare2 client: it fetched only 4096 bytes, the rest shows 0xff.
 * The transcript keeps the first 60 lines of its 628; the rest is checked by structure. */
static void test_read_10000_transcript(void **state)
{
	static uint8_t buf[10000];
	memset(buf, 0xff, sizeof(buf));
	memcpy(buf, sample, 4096);
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	rap__print_hexdump(f, 0, buf, sizeof(buf));
	fclose(f);

	char *want = r2_stdout("read-10000.txt");
	assert_true(strlen(want) > 1000);
	assert_true(strncmp(text, want, strlen(want)) == 0);
	free(want);

	int lines = 0, headers = 0;
	for (char *p = text; *p; p = strchr(p, '\n') + 1) {
		lines++;
		if (!strncmp(p, "- offset -", 10))
			headers++;
	}
	assert_int_equal(lines, 626);  /* 628 minus radare2's two start-up lines */
	assert_int_equal(headers, 1);
	assert_non_null(strstr(text, "\n0x00000ff0  4030 3030 3030 6666 307c 7261 7032 210a  @00000ff0|rap2!.\n"));
	assert_non_null(strstr(text, "\n0x00001000  ffff ffff ffff ffff ffff ffff ffff ffff  ................\n"));
	assert_non_null(strstr(text, "\n0x00002700  ffff ffff ffff ffff ffff ffff ffff ffff  ................\n"));
	assert_true(strcmp(text + len - 71, "\n0x00002700  ffff ffff ffff ffff ffff ffff ffff ffff  ................\n") == 0);
	free(text);
}

/* An independent model of one row, written from the recorded examples rather than from
 * print.c: "0x%08x" address, two spaces, 8 groups of 4 hex digits separated by spaces (a
 * missing byte is two spaces), a space, then the ASCII column. */
static void model_row(char *out, uint64_t addr, const uint8_t *b, size_t n)
{
	char hex[64] = "", ascii[17] = "";
	for (size_t i = 0; i < 16; i++) {
		char cell[4];
		if (i < n)
			snprintf(cell, sizeof(cell), "%02x", b[i]);
		else
			strcpy(cell, "  ");
		strcat(hex, cell);
		if (i % 2 == 1)
			strcat(hex, " ");
	}
	for (size_t i = 0; i < n; i++)
		ascii[i] = (b[i] >= 32 && b[i] < 127) ? (char)b[i] : '.';
	ascii[n] = '\0';
	sprintf(out, "0x%08" PRIx64 "  %s %s\n", addr, hex, ascii);
}

static void model_header(char *out, uint64_t addr)
{
	char first[32];
	int w = snprintf(first, sizeof(first), "0x%08" PRIx64, addr);
	strcpy(out, "- offset -");
	for (int i = 0; i < w - 9; i++)
		strcat(out, " ");
	strcat(out, " ");
	for (unsigned i = 0; i < 16; i++) {
		unsigned b = (unsigned)((addr + i) & 0xff);
		char cell[4];
		if (b >> 4)
			snprintf(cell, sizeof(cell), "%02X", b);
		else
			snprintf(cell, sizeof(cell), " %X", b);
		strcat(out, cell);
		if (i % 2 == 1)
			strcat(out, " ");
	}
	strcat(out, " ");
	for (unsigned i = 0; i < 16; i++) {
		char cell[2] = { "0123456789ABCDEF"[(addr + i) & 0xf], 0 };
		strcat(out, cell);
	}
	strcat(out, "\n");
}

static uint8_t expected_byte(uint64_t at)
{
	return at < SAMPLE_SIZE ? sample[at] : 0xff;
}

static void test_px_table(void **state)
{
	struct rap_core *c = *state;
	static const uint64_t lens[] = { 0, 1, 15, 16, 17, 31, 33, 255, 256, 257 };
	static const uint64_t addrs[] = {
		0, 1, 7, 0xf, 0x10, 0x11, 0x1ff, 0x1230, 0x1fff0, 0x1fff8, 0x1ffff, 0x20000, 0x20005,
		0x30000, 0xfffffff0, 0xffffffff, 0x100000000, 0x123456789a, 0xfffffffffffff000,
	};
	for (size_t a = 0; a < sizeof(addrs) / sizeof(addrs[0]); a++) {
		for (size_t l = 0; l < sizeof(lens) / sizeof(lens[0]); l++) {
			uint64_t addr = addrs[a], n = lens[l];
			char cmd[96];
			snprintf(cmd, sizeof(cmd), "px %" PRIu64 " @ 0x%" PRIx64, n, addr);
			char *got = run1(c, cmd);
			size_t cap = 128 * (n / 16 + 2);
			char *want = calloc(1, cap);
			if (n) {
				model_header(want, addr);
				for (uint64_t i = 0; i < n; i += 16) {
					uint8_t row[16];
					size_t m = n - i < 16 ? (size_t)(n - i) : 16;
					for (size_t k = 0; k < m; k++)
						row[k] = expected_byte(addr + i + k);
					model_row(want + strlen(want), addr + i, row, m);
				}
			}
			if (strcmp(got, want) != 0)
				fail_msg("%s:\n--- got\n%s--- want\n%s", cmd, got, want);
			free(want);
			free(got);

			/* p8 and pr show the same bytes */
			snprintf(cmd, sizeof(cmd), "p8 %" PRIu64 " @ 0x%" PRIx64, n, addr);
			got = run1(c, cmd);
			assert_int_equal(strlen(got), n ? 2 * n + 1 : 0);
			for (uint64_t i = 0; i < n; i++) {
				unsigned v;
				sscanf(got + 2 * i, "%2x", &v);
				assert_int_equal(v, expected_byte(addr + i));
			}
			free(got);
		}
	}
}

static void test_px_default_and_zero(void **state)
{
	struct rap_core *c = *state;
	char *got = run1(c, "px");
	/* header + 0x100 / 16 rows */
	int lines = 0;
	for (char *p = got; (p = strchr(p, '\n')); p++)
		lines++;
	assert_int_equal(lines, 17);
	free(got);
	got = run1(c, "b 0x20;px");
	assert_int_equal(strlen(got), 70 * 3);
	free(got);
	got = run1(c, "x");
	assert_int_equal(strlen(got), 70 * 3);
	free(got);
	got = run1(c, "px 0");
	assert_string_equal(got, "");
	free(got);
	got = run1(c, "p8 0;pr 0");
	assert_string_equal(got, "");
	free(got);
	/* px N does not change the block size (radare2's "i" says block 0x100 after px 16) */
	got = run1(c, "b 0x100;px 16;b");
	assert_non_null(strstr(got, "\n0x100\n"));
	free(got);
}

static void test_px_negative_length(void **state)
{
	struct rap_core *c = *state;
	char *got = run1(c, "s 0x30;px -16");
	char *want = run1(c, "px 16 @ 0x20");
	assert_string_equal(got, want);
	free(got);
	free(want);
	got = run1(c, "s");
	assert_string_equal(got, "0x30\n");
	free(got);
}

static void test_ascii_column(void **state)
{
	struct rap_core *c;
	assert_int_equal(rap_core_new(&c), 0);
	assert_true(rap_core_open(c, "malloc://256", RAP_PERM_RW) >= 0);
	uint8_t all[256];
	for (int i = 0; i < 256; i++)
		all[i] = (uint8_t)i;
	assert_int_equal(rap_io_write_at(rap_core_io(c), rap_core_current_fd(c), 0, all, 256), 256);
	char *got = run1(c, "px 256");
	char *want = calloc(1, 8192);
	model_header(want, 0);
	for (int i = 0; i < 256; i += 16)
		model_row(want + strlen(want), (uint64_t)i, all + i, 16);
	assert_string_equal(got, want);
	assert_non_null(strstr(got, "0x00000020  2021 2223 2425 2627 2829 2a2b 2c2d 2e2f   !\"#$%&'()*+,-./\n"));
	assert_non_null(strstr(got, "0x00000070  7071 7273 7475 7677 7879 7a7b 7c7d 7e7f  pqrstuvwxyz{|}~.\n"));
	free(got);
	free(want);
	got = run1(c, "pr 4 @ 0x41");
	assert_string_equal(got, "ABCD");
	free(got);
	got = run1(c, "p8 4 @ 0xfe");
	assert_string_equal(got, "feffffff\n");
	free(got);
	rap_core_free(c);
}

static void test_wide_offsets(void **state)
{
	/* Past 2^32 the address column widens and the header grows with it. */
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	uint8_t b[20] = { 0 };
	rap__print_hexdump(f, 0x100000000, b, sizeof(b));
	fclose(f);
	assert_string_equal(text,
			    "- offset -    0 1  2 3  4 5  6 7  8 9  A B  C D  E F  0123456789ABCDEF\n"
			    "0x100000000  0000 0000 0000 0000 0000 0000 0000 0000  ................\n"
			    "0x100000010  0000 0000                                ....\n");
	free(text);
}

static void test_units(void **state)
{
	static const struct {
		uint64_t n;
		const char *s;
	} cases[] = {
		{ 0, "0" }, { 1, "1" }, { 1000, "1000" }, { 1023, "1023" }, { 1024, "1K" }, { 1536, "1.5K" },
		{ 0x20000, "128K" }, { 1 << 20, "1M" }, { 1572864, "1.5M" }, { 1000000, "976.6K" },
		{ UINT64_C(3) << 29, "1.5G" }, { UINT64_C(1) << 40, "1T" }, { UINT64_C(1) << 60, "1E" },
		{ UINT64_MAX, "16.0E" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char buf[32];
		rap__print_units(buf, sizeof(buf), cases[i].n);
		assert_string_equal(buf, cases[i].s);
	}
	/* Rounding as printf's "%.1Lf" of the exact quotient (radare2's): ties to even (1.25K
	 * is 1.2K, 1.75K 1.8K), the rest to nearest, at every unit and near each edge. */
	static const uint64_t edges[] = { 1280, 1792, 1331, 1330, 10188, 1047552, 1048575, (UINT64_C(1) << 30) - 1,
					  (UINT64_C(5) << 58) + (UINT64_C(1) << 56), UINT64_MAX - 1 };
	for (size_t i = 0; i < sizeof(edges) / sizeof(edges[0]) + 2000; i++) {
		uint64_t n = i < sizeof(edges) / sizeof(edges[0]) ? edges[i]
			     : (UINT64_C(0x9e3779b97f4a7c15) * i) >> (i % 60); /* spread over every unit */
		char got[32], want[32];
		rap__print_units(got, sizeof(got), n);
		const char *unit = "KMGTPE";
		int u = -1;
		while (u < 5 && n >= UINT64_C(1) << (10 * (u + 2)))
			u++;
		if (u < 0 || n % (UINT64_C(1) << (10 * (u + 1))) == 0)
			continue; /* plain digits, or a whole number of units: above */
		snprintf(want, sizeof(want), "%.1Lf%c", (long double)n / (long double)(UINT64_C(1) << (10 * (u + 1))), unit[u]);
		if (strcmp(got, want))
			fail_msg("%" PRIu64 ": '%s', want '%s'", n, got, want);
	}
}

static void test_large_dump_in_pieces(void **state)
{
	/* Longer than one read piece: the output must equal one unbroken dump. */
	struct rap_core *c = *state;
	char *got = run1(c, "px 0x18010 @ 0x8");
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	rap__print_hexdump(f, 8, sample + 8, 0x18010);
	fclose(f);
	assert_string_equal(got, text);
	free(text);
	free(got);
	got = run1(c, "p8 0x20000");
	assert_int_equal(strlen(got), 0x40001);
	free(got);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_seek_transcript, setup_core, teardown_core),
		cmocka_unit_test_setup_teardown(test_open_ro_transcripts, setup_core, teardown_core),
		cmocka_unit_test(test_write_transcript),
		cmocka_unit_test_setup_teardown(test_cmd_transcript, setup_core, teardown_core),
		cmocka_unit_test_setup_teardown(test_small_ops_transcript, setup_core, teardown_core),
		cmocka_unit_test_setup_teardown(test_eq_commands_transcript, setup_core, teardown_core),
		cmocka_unit_test(test_read_10000_transcript),
		cmocka_unit_test_setup_teardown(test_px_table, setup_core, teardown_core),
		cmocka_unit_test_setup_teardown(test_px_default_and_zero, setup_core, teardown_core),
		cmocka_unit_test_setup_teardown(test_px_negative_length, setup_core, teardown_core),
		cmocka_unit_test(test_ascii_column),
		cmocka_unit_test(test_wide_offsets),
		cmocka_unit_test(test_units),
		cmocka_unit_test_setup_teardown(test_large_dump_in_pieces, setup_core, teardown_core),
	};
	return cmocka_run_group_tests(tests, setup_all, teardown_all);
}
