/* URI parsing as radare2 users write it, IPv6 literals, errors, and format round trips. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include <rap/rap.h>

struct uri_case {
	const char *text;
	const char *default_scheme;
	int rc;
	const char *scheme, *host, *port, *path;
	bool has_path, listen, tls;
	const char *formatted; /* rap_uri_format of the result; NULL = same as text */
};

#define ERR(t, d, rc) { t, d, rc, NULL, NULL, NULL, NULL, false, false, false, NULL }

static const struct uri_case cases[] = {
	/* the three path forms of protocol.md */
	{ "rap://h:9999//bin/ls", NULL, 0, "rap", "h", "9999", "/bin/ls", true, false, false, NULL },
	{ "rap://h:9999/bin/ls", NULL, 0, "rap", "h", "9999", "bin/ls", true, false, false, NULL },
	{ "rap://h:9999/dbg:///bin/ls", NULL, 0, "rap", "h", "9999", "dbg:///bin/ls", true, false, false, NULL },
	{ "rap://h:9999/malloc://4096", NULL, 0, "rap", "h", "9999", "malloc://4096", true, false, false, NULL },
	/* command-only sessions */
	{ "rap://h:9999/", NULL, 0, "rap", "h", "9999", "", false, false, false, "rap://h:9999" },
	{ "rap://h:9999", NULL, 0, "rap", "h", "9999", "", false, false, false, NULL },
	{ "rap://h:9999//", NULL, 0, "rap", "h", "9999", "/", true, false, false, NULL },
	/* listeners */
	{ "rap://:9999", NULL, 0, "rap", "", "9999", "", false, true, false, NULL },
	{ "rap://:0", NULL, 0, "rap", "", "0", "", false, true, false, NULL },
	{ "raps://:9999//etc/rap/cert.pem", NULL, 0, "raps", "", "9999", "/etc/rap/cert.pem", true, true, true, NULL },
	{ "raps://example.org:443//x", NULL, 0, "raps", "example.org", "443", "/x", true, false, true, NULL },
	/* IPv6 literals */
	{ "rap://[::1]:9999//bin/ls", NULL, 0, "rap", "::1", "9999", "/bin/ls", true, false, false, NULL },
	{ "rap://[::1]:9999/dbg:///x", NULL, 0, "rap", "::1", "9999", "dbg:///x", true, false, false, NULL },
	{ "rap://[fe80::1%eth0]:1/", NULL, 0, "rap", "fe80::1%eth0", "1", "", false, false, false, "rap://[fe80::1%eth0]:1" },
	{ "[::]:9999", "rap", 0, "rap", "::", "9999", "", false, false, false, "rap://[::]:9999" },
	/* scheme case, default scheme, bare host:port */
	{ "RAP://H:1/X", NULL, 0, "rap", "H", "1", "X", true, false, false, "rap://H:1/X" },
	{ "RapS://h:1", NULL, 0, "raps", "h", "1", "", false, false, true, "raps://h:1" },
	{ "localhost:9999", "rap", 0, "rap", "localhost", "9999", "", false, false, false, "rap://localhost:9999" },
	{ "localhost:9999//bin/ls", "tcp", 0, "tcp", "localhost", "9999", "/bin/ls", true, false, false, "tcp://localhost:9999//bin/ls" },
	{ "127.0.0.1:9999/dbg:///bin/ls", "rap", 0, "rap", "127.0.0.1", "9999", "dbg:///bin/ls", true, false, false, "rap://127.0.0.1:9999/dbg:///bin/ls" },
	{ ":9999", "RAP", 0, "rap", "", "9999", "", false, true, false, "rap://:9999" },
	{ "rap://h:9999", "tcp", 0, "rap", "h", "9999", "", false, false, false, NULL },
	/* the '=' family's schemes */
	{ "http://h/cmd/", NULL, 0, "http", "h", "80", "cmd/", true, false, false, "http://h:80/cmd/" },
	{ "http://h", NULL, 0, "http", "h", "80", "", false, false, false, "http://h:80" },
	{ "http://localhost:9090/cmd/", NULL, 0, "http", "localhost", "9090", "cmd/", true, false, false, NULL },
	{ "https://h", NULL, 0, "https", "h", "443", "", false, false, false, "https://h:443" },
	{ "tcp://h:9090/", NULL, 0, "tcp", "h", "9090", "", false, false, false, "tcp://h:9090" },
	{ "udp://h:53", NULL, 0, "udp", "h", "53", "", false, false, false, NULL },
	{ "rap://h:09999", NULL, 0, "rap", "h", "09999", "", false, false, false, NULL },
	{ "abcdefghijklmno://h:1", NULL, 0, "abcdefghijklmno", "h", "1", "", false, false, false, NULL },
	/* errors */
	ERR("rap://h", NULL, RAP_EURI),
	ERR("rap://h/bin/ls", NULL, RAP_EURI),
	ERR("rap://h:/x", NULL, RAP_EURI),
	ERR("rap://h:", NULL, RAP_EURI),
	ERR("rap://h:abc", NULL, RAP_EURI),
	ERR("rap://h:12a/x", NULL, RAP_EURI),
	ERR("rap://h:65536", NULL, RAP_EURI),
	ERR("rap://h:123456", NULL, RAP_EURI),
	ERR("rap://h:-1", NULL, RAP_EURI),
	ERR("rap://", NULL, RAP_EURI),
	ERR("rap://[::1", NULL, RAP_EURI),
	ERR("rap://[]:1", NULL, RAP_EURI),
	ERR("rap://[::1]x:1", NULL, RAP_EURI),
	ERR("rap://[::1]", NULL, RAP_EURI),
	ERR("rap://[a]b]:1", NULL, RAP_EURI),
	ERR("rap://::1:9999", NULL, RAP_EURI),
	ERR("rap://h h:1", NULL, RAP_EURI),
	ERR("rap://user@h:1", NULL, RAP_EURI),
	ERR("rap://h\t:1", NULL, RAP_EURI),
	ERR("malloc://4096", "rap", RAP_EURI),
	ERR("abcdefghijklmnop://h:1", NULL, RAP_EURI),
	ERR("h:1", NULL, RAP_EURI),
	ERR("", NULL, RAP_EURI),
	ERR("://h:1", "rap", RAP_EURI),
	ERR("h:1", "bad scheme!", RAP_EINVAL),
	ERR("h:1", "", RAP_EINVAL),
	ERR("h:1", "abcdefghijklmnopq", RAP_EINVAL),
};

/* Names the failing case: cmocka alone only reports the line. */
#define CASE_CHECK(cond)                                                           \
	do {                                                                       \
		if (!(cond)) {                                                     \
			print_error("case \"%s\": %s\n", c->text, #cond);         \
			fail();                                                    \
		}                                                                  \
	} while (0)

static void check_case(const struct uri_case *c)
{
	struct rap_uri u;
	memset(&u, 0x5a, sizeof(u));
	int rc = rap_uri_parse(c->text, c->default_scheme, &u);
	CASE_CHECK(rc == c->rc);
	if (rc < 0) {
		/* A failed parse leaves nothing half-filled behind. */
		CASE_CHECK(u.host[0] == '\0' && !u.has_path);
		return;
	}
	CASE_CHECK(strcmp(u.scheme, c->scheme) == 0);
	CASE_CHECK(strcmp(u.host, c->host) == 0);
	CASE_CHECK(strcmp(u.port, c->port) == 0);
	CASE_CHECK(strcmp(u.path, c->path) == 0);
	CASE_CHECK(u.has_path == c->has_path);
	CASE_CHECK(u.listen == c->listen);
	CASE_CHECK(u.tls == c->tls);

	char out[8192];
	ssize_t n = rap_uri_format(&u, out, sizeof(out));
	CASE_CHECK(n > 0 && (size_t)n == strlen(out));
	CASE_CHECK(strcmp(out, c->formatted ? c->formatted : c->text) == 0);

	/* The formatted text parses back to the same value. */
	struct rap_uri back;
	CASE_CHECK(rap_uri_parse(out, NULL, &back) == 0);
	CASE_CHECK(memcmp(&back, &u, sizeof(u)) == 0);
}

static void test_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		check_case(&cases[i]);
}

static void test_long_parts(void **state)
{
	(void)state;
	static char text[8400];
	struct rap_uri u;

	/* host: 255 characters fit, 256 do not */
	memset(text, 0, sizeof(text));
	memcpy(text, "rap://", 6);
	memset(text + 6, 'a', 255);
	strcat(text, ":1");
	assert_int_equal(rap_uri_parse(text, NULL, &u), 0);
	assert_int_equal(strlen(u.host), 255);
	memset(text + 6, 'a', 256);
	strcpy(text + 6 + 256, ":1");
	assert_int_equal(rap_uri_parse(text, NULL, &u), RAP_EURI);

	/* path: 4095 characters fit, 4096 do not */
	strcpy(text, "rap://h:1/");
	memset(text + 10, 'p', 4095);
	text[10 + 4095] = '\0';
	assert_int_equal(rap_uri_parse(text, NULL, &u), 0);
	assert_int_equal(strlen(u.path), 4095);
	text[10 + 4095] = 'p';
	text[10 + 4096] = '\0';
	assert_int_equal(rap_uri_parse(text, NULL, &u), RAP_EURI);

	/* bracketed host over the limit */
	strcpy(text, "rap://[");
	memset(text + 7, ':', 300);
	strcpy(text + 307, "]:1");
	assert_int_equal(rap_uri_parse(text, NULL, &u), RAP_EURI);
}

static void test_bad_arguments(void **state)
{
	(void)state;
	struct rap_uri u;
	char out[64];
	assert_int_equal(rap_uri_parse(NULL, "rap", &u), RAP_EINVAL);
	assert_int_equal(rap_uri_parse("rap://h:1", NULL, NULL), RAP_EINVAL);
	assert_int_equal(rap_uri_format(NULL, out, sizeof(out)), RAP_EINVAL);
	assert_int_equal(rap_uri_parse("rap://h:1", NULL, &u), 0);
	assert_int_equal(rap_uri_format(&u, NULL, 10), RAP_EINVAL);
	assert_int_equal(rap_uri_format(&u, NULL, 0), RAP_ENOSPC);
	struct rap_uri empty;
	memset(&empty, 0, sizeof(empty));
	assert_int_equal(rap_uri_format(&empty, out, sizeof(out)), RAP_EINVAL);
	assert_string_equal(out, "");
}

static void test_format_nospace(void **state)
{
	(void)state;
	struct rap_uri u;
	char out[64];
	const char *text = "rap://[::1]:9999//bin/ls";
	size_t len = strlen(text);
	assert_int_equal(rap_uri_parse(text, NULL, &u), 0);
	for (size_t cap = 1; cap <= len; cap++) {
		memset(out, 'X', sizeof(out));
		assert_int_equal(rap_uri_format(&u, out, cap), RAP_ENOSPC);
		/* Truncated, but always a string. */
		assert_int_equal(strlen(out), cap - 1);
		assert_memory_equal(out, text, cap - 1);
	}
	assert_int_equal(rap_uri_format(&u, out, len + 1), (ssize_t)len);
	assert_string_equal(out, text);

	/* Fields set by hand without a NUL are bounded by their arrays. */
	memset(u.scheme, 'r', sizeof(u.scheme));
	memset(u.host, 'h', sizeof(u.host));
	memset(u.port, '1', sizeof(u.port));
	memset(u.path, 'p', sizeof(u.path));
	u.has_path = true;
	static char big[8192];
	ssize_t n = rap_uri_format(&u, big, sizeof(big));
	assert_int_equal(n, 16 + 3 + 256 + 1 + 32 + 1 + 4096);
	assert_int_equal(strlen(big), (size_t)n);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_long_parts),
		cmocka_unit_test(test_bad_arguments),
		cmocka_unit_test(test_format_nospace),
	};
	return cmocka_run_group_tests_name("uri", tests, NULL, NULL);
}
