/* Shared secrets and the proofs of the extension's authentication (libr/rap/auth.c): the
 * rules a secret file must meet, that no failure names its contents, the HMAC-SHA256 proofs
 * against values computed independently (Python's hmac), and the refusals of a build
 * without OpenSSL. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <rap/rap.h>

#include "common.h"
#include "rap_private.h"

#define SECRET "0123456789abcdef-secret"

static char dir[] = "/tmp/rap-test-auth-XXXXXX";

static int setup(void **state)
{
	(void)state;
	return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

/* Writes a file of n bytes with mode; returns its path (static). */
static const char *put_file(const char *name, const void *data, size_t n, mode_t mode)
{
	static char path[256];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	unlink(path);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, n), (ssize_t)n);
	assert_int_equal(fchmod(fd, mode), 0);
	close(fd);
	return path;
}

#if RAP_TEST_HAVE_OPENSSL

static void from_hex(const char *hex, uint8_t *out)
{
	for (size_t i = 0; hex[2 * i]; i++) {
		unsigned b;
		assert_int_equal(sscanf(hex + 2 * i, "%2x", &b), 1);
		out[i] = (uint8_t)b;
	}
}

static void test_available(void **state)
{
	(void)state;
	assert_true(rap_auth_available());
}

static void test_secret_new(void **state)
{
	(void)state;
	struct rap_secret *s = (struct rap_secret *)&s;
	uint8_t big[RAP_SECRET_MAX + 1] = { 0 };
	assert_int_equal(rap_secret_new(big, RAP_SECRET_MIN - 1, &s), RAP_EINVAL);
	assert_null(s);
	assert_int_equal(rap_secret_new(big, RAP_SECRET_MAX + 1, &s), RAP_EINVAL);
	assert_int_equal(rap_secret_new(NULL, 20, &s), RAP_EINVAL);
	assert_int_equal(rap_secret_new(big, 20, NULL), RAP_EINVAL);
	for (long n = 0; n < 2; n++) {
		rap__alloc_fail_nth(n);
		assert_int_equal(rap_secret_new(big, 20, &s), RAP_ENOMEM);
		assert_null(s);
	}
	rap__alloc_fail_nth(-1);
	assert_int_equal(rap_secret_new(big, RAP_SECRET_MAX, &s), 0);
	rap_secret_free(s);
	assert_int_equal(rap_secret_new(big, RAP_SECRET_MIN, &s), 0);
	rap_secret_free(s);
	rap_secret_free(NULL);
}

/* The proofs, against HMAC-SHA256 computed by Python for this key and these nonces. */
static void test_proofs(void **state)
{
	(void)state;
	struct rap_secret *s;
	assert_int_equal(rap_secret_new(SECRET, strlen(SECRET), &s), 0);
	uint8_t ns[32], nc[32], mac[32], want[32];
	for (int i = 0; i < 32; i++) {
		ns[i] = (uint8_t)i;
		nc[i] = (uint8_t)(32 + i);
	}
	assert_int_equal(rap__auth_proof(s, false, ns, nc, mac), 0);
	from_hex("5acbf182ee970176b1f9e35ea64123e4c443de9acdad8c69d6d49c0a65eb4cf4", want);
	assert_memory_equal(mac, want, 32);
	assert_int_equal(rap__auth_proof(s, true, ns, nc, mac), 0);
	from_hex("9f699956d5d59a1274f7e4d29608a9e4f1bf296bf710459851793b78dcfc8236", want);
	assert_memory_equal(mac, want, 32);
	assert_true(rap__auth_equal(mac, want, 32));
	want[31] ^= 1;
	assert_false(rap__auth_equal(mac, want, 32));
	/* Swapped nonces make another proof. */
	assert_int_equal(rap__auth_proof(s, true, nc, ns, want), 0);
	assert_false(rap__auth_equal(mac, want, 32));
	rap_secret_free(s);

	/* Two nonces are never the same. */
	uint8_t a[32], b[32];
	assert_int_equal(rap__auth_nonce(a), 0);
	assert_int_equal(rap__auth_nonce(b), 0);
	assert_memory_not_equal(a, b, 32);
}

/* Loads path expecting rc; checks the reason names the file and never the secret. */
static void load_expect(const char *path, int rc, const char *why_part)
{
	struct rap_secret *s = (struct rap_secret *)&s;
	char why[512];
	int got = rap_secret_load(path, &s, why, sizeof(why));
	if (got != rc)
		print_error("%s: %d (%s), expected %d\n", path, got, why, rc);
	assert_int_equal(got, rc);
	if (rc < 0) {
		assert_null(s);
		assert_non_null(strstr(why, path));
		assert_null(strstr(why, "0123456789abcdef"));
		if (why_part && !strstr(why, why_part))
			fail_msg("reason '%s' lacks '%s'", why, why_part);
	} else {
		assert_string_equal(why, "");
		/* The same proof as a secret made from the bytes without the newline. */
		struct rap_secret *t;
		assert_int_equal(rap_secret_new(SECRET, strlen(SECRET), &t), 0);
		uint8_t n[32] = { 1 }, m1[32], m2[32];
		assert_int_equal(rap__auth_proof(s, false, n, n, m1), 0);
		assert_int_equal(rap__auth_proof(t, false, n, n, m2), 0);
		assert_memory_equal(m1, m2, 32);
		rap_secret_free(t);
		rap_secret_free(s);
	}
}

static void test_secret_files(void **state)
{
	(void)state;
	load_expect(put_file("plain", SECRET, strlen(SECRET), 0600), 0, NULL);
	load_expect(put_file("newline", SECRET "\n", strlen(SECRET) + 1, 0600), 0, NULL);
	load_expect(put_file("crlf", SECRET "\r\n", strlen(SECRET) + 2, 0400), 0, NULL);
	/* Group or others may read (or write, or run) it: refused, whatever else is right. */
	static const mode_t loose[] = { 0640, 0604, 0620, 0602, 0610, 0601, 0644, 0666 };
	for (size_t i = 0; i < sizeof(loose) / sizeof(loose[0]); i++) {
		char want[64];
		snprintf(want, sizeof(want), "(mode %04o): chmod 600", (unsigned)loose[i]);
		load_expect(put_file("loose", SECRET, strlen(SECRET), loose[i]), RAP_EDENIED, want);
	}
	/* Sizes: too short (also once the newline is gone), empty, too long. */
	load_expect(put_file("short", "0123456789abcde\n", 16, 0600), RAP_EINVAL, "holds 15 bytes");
	load_expect(put_file("empty", "", 0, 0600), RAP_EINVAL, "holds 0 bytes");
	char *big = malloc(RAP_SECRET_MAX + 8);
	assert_non_null(big);
	memset(big, 'x', RAP_SECRET_MAX + 8);
	big[RAP_SECRET_MAX] = '\n';
	struct rap_secret *s;
	assert_int_equal(rap_secret_load(put_file("max", big, RAP_SECRET_MAX + 1, 0600), &s, NULL, 0), 0);
	rap_secret_free(s);
	load_expect(put_file("big", big, RAP_SECRET_MAX + 8, 0600), RAP_EINVAL, "holds more than");
	free(big);
	/* Not a regular file: a directory, a FIFO (the open does not wait for a writer). */
	char path[256];
	snprintf(path, sizeof(path), "%s/sub", dir);
	assert_int_equal(mkdir(path, 0700), 0);
	load_expect(path, RAP_ENOTREG, "not a regular file");
	snprintf(path, sizeof(path), "%s/fifo", dir);
	assert_int_equal(mkfifo(path, 0600), 0);
	load_expect(path, RAP_ENOTREG, "not a regular file");
	snprintf(path, sizeof(path), "%s/missing", dir);
	load_expect(path, -ENOENT, "No such file");
	/* Another user's file, even one we may read (as root). */
	if (geteuid() == 0) {
		const char *p = put_file("theirs", SECRET, strlen(SECRET), 0600);
		assert_int_equal(chown(p, 65534, 65534), 0);
		load_expect(p, RAP_EDENIED, "belongs to another user");
	}
	/* Out of memory: refused with the reason. */
	const char *p = put_file("plain", SECRET, strlen(SECRET), 0600);
	rap__alloc_fail_after(0);
	load_expect(p, RAP_ENOMEM, "out of memory");
	rap__alloc_fail_after(-1);
	assert_int_equal(rap_secret_load(NULL, &s, NULL, 0), RAP_EINVAL);
	assert_int_equal(rap_secret_load(p, NULL, NULL, 0), RAP_EINVAL);
}

#else

static void test_not_available(void **state)
{
	(void)state;
	assert_false(rap_auth_available());
	struct rap_secret *s = (struct rap_secret *)&s;
	assert_int_equal(rap_secret_new(SECRET, strlen(SECRET), &s), RAP_ENOTSUP);
	assert_null(s);
	char why[256];
	const char *p = put_file("plain", SECRET, strlen(SECRET), 0600);
	s = (struct rap_secret *)&s;
	assert_int_equal(rap_secret_load(p, &s, why, sizeof(why)), RAP_ENOTSUP);
	assert_null(s);
	assert_non_null(strstr(why, "without OpenSSL"));
	uint8_t n[32], mac[32];
	assert_int_equal(rap__auth_nonce(n), RAP_ENOTSUP);
	assert_int_equal(rap__auth_proof(NULL, false, n, n, mac), RAP_ENOTSUP);
	rap_secret_free(NULL);
}

#endif

int main(void)
{
	const struct CMUnitTest tests[] = {
#if RAP_TEST_HAVE_OPENSSL
		cmocka_unit_test(test_available),
		cmocka_unit_test(test_secret_new),
		cmocka_unit_test(test_proofs),
		cmocka_unit_test(test_secret_files),
#else
		cmocka_unit_test(test_not_available),
#endif
	};
	return cmocka_run_group_tests_name("auth", tests, setup, teardown);
}
