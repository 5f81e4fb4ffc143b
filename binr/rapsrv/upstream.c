/* rapsrv --upstream: loads what the relay needs towards the upstream (upstream.h). */
#include <stdio.h>
#include <stdlib.h>
#include <sysexits.h>

#include <rap/relay.h>
#include <rap/tls.h>

#include "upstream.h"

struct rapsrv_upstream {
	struct rap_tls_config *tls; /* owned; NULL: the verifying default */
	struct rap_secret *secret;  /* owned; NULL: none */
	struct rap_relay *relay;    /* owned */
	const char *uri;            /* borrowed from the options (argv) */
};

static void say(void (*log)(void *, int, const char *), void *user, const char *fmt, const char *a,
		const char *b)
{
	char msg[768];
	snprintf(msg, sizeof(msg), fmt, a, b);
	log(user, 3, msg);
}

int rapsrv_upstream_new(const struct rapsrv_upstream_options *o, void (*log)(void *user, int level, const char *msg),
			void *log_user, struct rapsrv_upstream **out)
{
	*out = NULL;
	struct rapsrv_upstream *u = calloc(1, sizeof(*u));
	if (!u) {
		say(log, log_user, "--upstream: %s%s", "out of memory", "");
		return EX_OSERR;
	}
	u->uri = o->uri;
	int status;
	if (o->tls_ca || o->tls_cert || o->tls_key) {
		if (!rap_tls_available()) {
			say(log, log_user, "--upstream-tls-*: %s%s", "this build has no TLS (rap was built without OpenSSL)", "");
			status = EX_CONFIG;
			goto fail;
		}
		if (rap_tls_config_new(false, &u->tls) < 0) {
			say(log, log_user, "--upstream: %s%s", "cannot make a TLS configuration", "");
			status = EX_OSERR;
			goto fail;
		}
		if (o->tls_ca && rap_tls_config_set_ca(u->tls, o->tls_ca) < 0) {
			say(log, log_user, "--upstream-tls-ca: %s%s", rap_tls_config_error(u->tls), "");
			status = EX_CONFIG;
			goto fail;
		}
		if ((o->tls_cert || o->tls_key) && rap_tls_config_set_cert(u->tls, o->tls_cert, o->tls_key) < 0) {
			say(log, log_user, "--upstream-tls-cert: %s%s", rap_tls_config_error(u->tls), "");
			status = EX_CONFIG;
			goto fail;
		}
	}
	if (o->secret_file) {
		char why[512];
		if (!rap_auth_available()) {
			say(log, log_user, "--upstream-secret-file: %s%s",
			    "authentication is not available in this build (rap was built without OpenSSL)", "");
			status = EX_CONFIG;
			goto fail;
		}
		if (rap_secret_load(o->secret_file, &u->secret, why, sizeof(why)) < 0) {
			say(log, log_user, "--upstream-secret-file: %s%s", why, "");
			status = EX_CONFIG;
			goto fail;
		}
	}
	struct rap_relay_config rc = {
		.uri = o->uri,
		.tls = u->tls,
		.secret = u->secret,
		.cache_max = o->cache_max,
		.connect_timeout_ms = 10000,
		.timeout_ms = (int)o->timeout_ms,
		.log = log,
		.log_user = log_user,
	};
	char why[256];
	int rc_new = rap_relay_new(&rc, &u->relay, why, sizeof(why));
	if (rc_new < 0) {
		say(log, log_user, "--upstream %s: %s", o->uri, why[0] ? why : rap_strerror(rc_new));
		status = rc_new == RAP_ENOTSUP ? EX_CONFIG : EX_USAGE;
		goto fail;
	}
	*out = u;
	return 0;
fail:
	rapsrv_upstream_free(u);
	return status;
}

void rapsrv_upstream_free(struct rapsrv_upstream *u)
{
	if (!u)
		return;
	rap_relay_free(u->relay);
	rap_secret_free(u->secret);
	rap_tls_config_free(u->tls);
	free(u);
}

const struct rap_relay *rapsrv_upstream_relay(const struct rapsrv_upstream *u)
{
	return u->relay;
}

const char *rapsrv_upstream_uri(const struct rapsrv_upstream *u)
{
	return u->uri;
}
