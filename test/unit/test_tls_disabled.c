/* librap built without OpenSSL (-Dopenssl=disabled): every TLS call is there, fails with
 * RAP_ENOTSUP, leaves its outputs empty and says why in one fixed text; nothing crashes on
 * the NULL configs and sessions that are all such a build can have. Built instead of
 * test_tls.c in that configuration. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include <rap/tls.h>

#define NO_TLS_TEXT "TLS is not available in this build (rap was built without OpenSSL)"

static void test_not_available(void **state)
{
	(void)state;
	assert_false(rap_tls_available());
}

static void test_config_calls_refused(void **state)
{
	(void)state;
	for (int server = 0; server < 2; server++) {
		/* A stale pointer in *out must not survive: callers free what they get. */
		struct rap_tls_config *cfg = (struct rap_tls_config *)&cfg;
		assert_int_equal(rap_tls_config_new(server, &cfg), RAP_ENOTSUP);
		assert_null(cfg);
	}
	assert_int_equal(rap_tls_config_new(false, NULL), RAP_ENOTSUP);
	assert_int_equal(rap_tls_config_set_cert(NULL, "cert.pem", "key.pem"), RAP_ENOTSUP);
	assert_int_equal(rap_tls_config_set_ca(NULL, "ca.pem"), RAP_ENOTSUP);
	assert_int_equal(rap_tls_config_set_insecure(NULL, true), RAP_ENOTSUP);
	assert_int_equal(rap_tls_config_reload(NULL), RAP_ENOTSUP);
	assert_string_equal(rap_tls_config_error(NULL), NO_TLS_TEXT);
	rap_tls_config_free(NULL);
}

static void test_session_calls_refused(void **state)
{
	(void)state;
	struct rap_tls *t = (struct rap_tls *)&t;
	assert_int_equal(rap_tls_new(NULL, 0, "localhost", &t), RAP_ENOTSUP);
	assert_null(t);
	char buf[RAP_TLS_FINGERPRINT_LEN];
	assert_int_equal(rap_tls_handshake(NULL), RAP_ENOTSUP);
	assert_int_equal(rap_tls_read(NULL, buf, sizeof(buf)), RAP_ENOTSUP);
	assert_int_equal(rap_tls_write(NULL, "x", 1), RAP_ENOTSUP);
	assert_int_equal(rap_tls_shutdown(NULL), RAP_ENOTSUP);
	assert_int_equal(rap_tls_wants(NULL), 0);
	assert_false(rap_tls_pending(NULL));
	assert_string_equal(rap_tls_error(NULL), NO_TLS_TEXT);
	assert_string_equal(rap_tls_protocol(NULL), "");
	memset(buf, 'x', sizeof(buf));
	assert_int_equal(rap_tls_peer_subject(NULL, buf, sizeof(buf)), RAP_ENOTSUP);
	assert_string_equal(buf, "");
	memset(buf, 'x', sizeof(buf));
	assert_int_equal(rap_tls_peer_fingerprint(NULL, buf, sizeof(buf)), RAP_ENOTSUP);
	assert_string_equal(buf, "");
	rap_tls_free(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_not_available),
		cmocka_unit_test(test_config_calls_refused),
		cmocka_unit_test(test_session_calls_refused),
	};
	return cmocka_run_group_tests_name("tls_disabled", tests, NULL, NULL);
}
