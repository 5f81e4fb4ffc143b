/* rapsrv --upstream: the relay's configuration (TLS towards the upstream, its secret) and
 * the sessions a relaying server makes for its clients. */
#ifndef RAPSRV_UPSTREAM_H
#define RAPSRV_UPSTREAM_H

#include <stddef.h>
#include <stdint.h>

#include <rap/relay.h>

struct rapsrv_upstream_options {
	const char *uri;         /* --upstream */
	const char *tls_ca;      /* --upstream-tls-ca: verify the upstream against these CAs */
	const char *tls_cert;    /* --upstream-tls-cert / -key: our certificate (mutual TLS) */
	const char *tls_key;
	const char *secret_file; /* --upstream-secret-file */
	size_t cache_max;        /* --upstream-cache: each session's cache bound; 0 default */
	uint64_t timeout_ms;     /* --upstream-timeout: a silent upstream's wait; 0 default */
};

struct rapsrv_upstream;

/* Reads the certificates and the secret (never logged) and checks the URI; nothing is
 * connected. log (lines as syslog levels) receives every refusal. Returns 0, or an exit
 * status: EX_USAGE (the URI), EX_CONFIG (files, or a build without TLS/OpenSSL). */
int rapsrv_upstream_new(const struct rapsrv_upstream_options *o, void (*log)(void *user, int level, const char *msg),
			void *log_user, struct rapsrv_upstream **out);
void rapsrv_upstream_free(struct rapsrv_upstream *u);

/* The relay sessions are made from (borrowed from u). */
const struct rap_relay *rapsrv_upstream_relay(const struct rapsrv_upstream *u);

/* The URI, for messages. */
const char *rapsrv_upstream_uri(const struct rapsrv_upstream *u);

#endif
