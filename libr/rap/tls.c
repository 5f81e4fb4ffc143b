/* TLS sessions on OpenSSL 3 for blocking clients and a non-blocking reactor.
 *
 * Design notes:
 * - A config holds the parameters (file names, trust, mode) and one SSL_CTX built from
 *   them. Every change builds a complete new SSL_CTX and swaps it in only when it built
 *   cleanly, so a bad file never leaves a half-configured context, and reload is the same
 *   path. SSL_new() takes its own reference on the context, which is what lets
 *   established sessions outlive a reload or the config itself.
 * - Socket I/O goes through a BIO method of our own instead of BIO_s_socket(): OpenSSL's
 *   uses write(), which raises SIGPIPE on a vanished peer, and a library must neither die
 *   of it nor change the process's signal dispositions. send(MSG_NOSIGNAL) avoids both.
 * - OpenSSL's error queue is per thread and sticky: it is cleared before every SSL call
 *   and drained into the session's text after a failure, so an old error never gets
 *   blamed on a later call. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <rap/loop.h>
#include <rap/tls.h>

#include "common.h"

#if HAVE_OPENSSL

#include <arpa/inet.h>
#include <sys/socket.h>

#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/proverr.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#define ERR_TEXT_MAX 256

bool rap_tls_available(void)
{
	return true;
}

struct tls_params {
	char *cert;    /* chain file, NULL: none */
	char *key;     /* key file, NULL: the key is in cert */
	char *ca;      /* trust anchors, NULL: system store (client) / no mTLS (server) */
	bool insecure; /* client: no verification */
};

struct rap_tls_config {
	bool server;
	struct tls_params p;
	SSL_CTX *ctx; /* built on first use, replaced by setters and reload */
	char err[ERR_TEXT_MAX];
};

struct rap_tls {
	SSL *ssl;
	int fd;
	int sys_errno;      /* errno of the last failed send/recv, read back after SSL_get_error */
	int failed;         /* 0, or what every call returns after a fatal error */
	bool shutdown_sent;
	unsigned read_wants;  /* RAP_LOOP_* the pending handshake or read waits for */
	unsigned write_wants; /* same for the pending write or shutdown */
	bool server;
	bool first_byte_seen; /* server: the peer's first byte has been read */
	bool plain_peer;      /* server: it was no TLS record (0x16), e.g. a plain rap:// client */
	char err[160];
};

/* What a server sends a peer whose first byte was not a TLS handshake record: a fatal
 * unexpected_message alert (TLS 1.0 record version, as for errors before the version is
 * agreed). OpenSSL itself answers such input with silence and a reset; with an alert a
 * plain RAP client can tell it reached a TLS port (rap_client: "use raps://"). */
static const uint8_t plain_peer_alert[] = { 0x15, 0x03, 0x01, 0x00, 0x02, 0x02, 0x0a };

/* ---- error text ---------------------------------------------------------------------- */

static void set_text(char *dst, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void set_text(char *dst, size_t cap, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(dst, cap, fmt, ap);
	va_end(ap);
}

/* The root cause is the oldest queued error (later ones say "system lib" or name the
 * caller); its reason string is what a user can act on, unlike ERR_error_string()'s
 * "error:0A000086:SSL routines::" prefix. Empties the queue. */
static void queue_reason(const SSL *ssl, char *out, size_t cap)
{
	unsigned long e = ERR_get_error();
	ERR_clear_error();
	if (e == 0) {
		set_text(out, cap, "unknown TLS error");
		return;
	}
	char code[128];
	const char *r = ERR_SYSTEM_ERROR(e) ? rap_strerror(-(int)ERR_GET_REASON(e)) : ERR_reason_error_string(e);
	if (!r) {
		ERR_error_string_n(e, code, sizeof(code));
		r = code;
	}
	/* TLS 1.3 servers that require a client certificate say so with an alert the
	 * client only reads after its side of the handshake completed. */
	if (ERR_GET_LIB(e) == ERR_LIB_SSL && ERR_GET_REASON(e) == SSL_R_TLSV13_ALERT_CERTIFICATE_REQUIRED) {
		set_text(out, cap, "the server requires a client certificate");
		return;
	}
	/* "certificate verify failed" alone does not say which check: expired, unknown
	 * issuer and name mismatch need very different fixes. */
	long v = X509_V_OK;
	if (ssl && ERR_GET_LIB(e) == ERR_LIB_SSL && ERR_GET_REASON(e) == SSL_R_CERTIFICATE_VERIFY_FAILED)
		v = SSL_get_verify_result(ssl);
	if (v != X509_V_OK)
		set_text(out, cap, "%s: %s", r, X509_verify_cert_error_string(v));
	else
		set_text(out, cap, "%s", r);
}

/* For config errors, which have no session to ask about verification. */
static const char *queued(char *tmp, size_t cap)
{
	queue_reason(NULL, tmp, cap);
	return tmp;
}

/* ---- socket BIO ---------------------------------------------------------------------- */

static BIO_METHOD *sock_method;
static CRYPTO_ONCE sock_method_once = CRYPTO_ONCE_STATIC_INIT;

static int sock_write(BIO *b, const char *buf, size_t len, size_t *written)
{
	struct rap_tls *t = BIO_get_data(b);
	BIO_clear_retry_flags(b);
	for (;;) {
		ssize_t n = send(t->fd, buf, len, MSG_NOSIGNAL);
		if (n >= 0) {
			*written = (size_t)n;
			return 1;
		}
		/* Restarted here because a blocking client cannot tell a RAP_EAGAIN caused by
		 * a signal from a real timeout. */
		if (errno == EINTR)
			continue;
		t->sys_errno = errno;
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			BIO_set_retry_write(b);
		return 0;
	}
}

static int sock_read(BIO *b, char *buf, size_t len, size_t *got)
{
	struct rap_tls *t = BIO_get_data(b);
	BIO_clear_retry_flags(b);
	for (;;) {
		ssize_t n = recv(t->fd, buf, len, 0);
		if (n > 0) {
			if (t->server && !t->first_byte_seen) {
				t->first_byte_seen = true;
				t->plain_peer = (uint8_t)buf[0] != 0x16;
			}
			*got = (size_t)n;
			return 1;
		}
		if (n == 0) {
			/* OpenSSL asks BIO_eof() to tell a truncated stream from an I/O error. */
			BIO_set_flags(b, BIO_FLAGS_IN_EOF);
			t->sys_errno = 0;
			return 0;
		}
		if (errno == EINTR)
			continue;
		t->sys_errno = errno;
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			BIO_set_retry_read(b);
		return 0;
	}
}

static long sock_ctrl(BIO *b, int cmd, long num, void *ptr)
{
	struct rap_tls *t = BIO_get_data(b);
	switch (cmd) {
	case BIO_CTRL_FLUSH:
		return 1; /* nothing is buffered here */
	case BIO_CTRL_EOF:
		return BIO_test_flags(b, BIO_FLAGS_IN_EOF) != 0;
	case BIO_C_GET_FD:
		if (!t)
			return -1;
		if (ptr)
			*(int *)ptr = t->fd;
		return t->fd;
	case BIO_CTRL_GET_CLOSE:
		return BIO_NOCLOSE; /* the fd is borrowed */
	case BIO_CTRL_SET_CLOSE:
		return 1;
	default:
		return 0;
	}
}

static void make_sock_method(void)
{
	BIO_METHOD *m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK | BIO_TYPE_DESCRIPTOR,
				     "rap socket");
	if (!m)
		return;
	if (!BIO_meth_set_write_ex(m, sock_write) || !BIO_meth_set_read_ex(m, sock_read) ||
	    !BIO_meth_set_ctrl(m, sock_ctrl)) {
		BIO_meth_free(m);
		return;
	}
	sock_method = m;
}

/* ---- contexts ------------------------------------------------------------------------ */

/* Without this, OpenSSL's default callback prompts on the terminal for an encrypted key,
 * which would hang a daemon. */
static int no_passphrase(char *buf, int size, int rwflag, void *user)
{
	(void)buf;
	(void)size;
	(void)rwflag;
	(void)user;
	return 0;
}

enum key_failure { KEY_OTHER, KEY_NONE_FOUND, KEY_ENCRYPTED, KEY_MISMATCH };

/* Why loading a private key failed, from every error queued (the first one is not always
 * the telling one: OpenSSL tries several decoders, in no fixed order). A decryption
 * failure or a mismatch wins over "unsupported". The first error's text goes to text.
 * Empties the queue. */
static enum key_failure key_failure_of_queue(char *text, size_t cap)
{
	enum key_failure why = KEY_OTHER;
	unsigned long e = ERR_peek_error();
	const char *r = e ? ERR_reason_error_string(e) : NULL;
	if (r)
		set_text(text, cap, "%s", r);
	else if (e)
		ERR_error_string_n(e, text, cap);
	else
		set_text(text, cap, "unknown TLS error");
	/* Bounded by the queue, which OpenSSL keeps at 16 entries. */
	while ((e = ERR_get_error()) != 0) {
		int lib = ERR_GET_LIB(e), reason = ERR_GET_REASON(e);
		enum key_failure this = KEY_OTHER;
		if (lib == ERR_LIB_X509 && reason == X509_R_KEY_VALUES_MISMATCH)
			this = KEY_MISMATCH;
		else if ((lib == ERR_LIB_PROV && reason == PROV_R_BAD_DECRYPT) ||
			 (lib == ERR_LIB_EVP && reason == EVP_R_BAD_DECRYPT) ||
			 (lib == ERR_LIB_PEM && reason == PEM_R_BAD_DECRYPT))
			this = KEY_ENCRYPTED;
		else if (lib == ERR_LIB_OSSL_DECODER && reason == ERR_R_UNSUPPORTED)
			this = KEY_NONE_FOUND;
		if (this > why)
			why = this;
	}
	return why;
}

static int load_cert(SSL_CTX *ctx, const struct tls_params *p, char *err, size_t cap)
{
	char tmp[ERR_TEXT_MAX];
	const char *key = p->key ? p->key : p->cert;
	if (SSL_CTX_use_certificate_chain_file(ctx, p->cert) != 1) {
		set_text(err, cap, "cannot load certificate chain from %s: %s", p->cert,
			 queued(tmp, sizeof(tmp)));
		return RAP_ETLS;
	}
	if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1) {
		/* Loading already compares the key with the certificate; say so plainly, the
		 * usual cause is a key and a certificate from different renewals. */
		enum key_failure why = key_failure_of_queue(tmp, sizeof(tmp));
		if (why == KEY_MISMATCH)
			set_text(err, cap, "private key %s does not match certificate %s", key, p->cert);
		else if (why == KEY_ENCRYPTED)
			set_text(err, cap, "cannot load private key from %s: the key is encrypted, "
				 "which is not supported", key);
		else if (why == KEY_NONE_FOUND)
			set_text(err, cap, "cannot load private key from %s: no private key found", key);
		else
			set_text(err, cap, "cannot load private key from %s: %s", key, tmp);
		ERR_clear_error();
		return RAP_ETLS;
	}
	if (SSL_CTX_check_private_key(ctx) != 1) {
		set_text(err, cap, "private key %s does not match certificate %s: %s", key, p->cert,
			 queued(tmp, sizeof(tmp)));
		return RAP_ETLS;
	}
	return 0;
}

static int load_ca(SSL_CTX *ctx, bool server, const char *ca, char *err, size_t cap)
{
	char tmp[ERR_TEXT_MAX];
	if (SSL_CTX_load_verify_locations(ctx, ca, NULL) != 1) {
		set_text(err, cap, "cannot load CA certificates from %s: %s", ca,
			 queued(tmp, sizeof(tmp)));
		return RAP_ETLS;
	}
	if (server) {
		/* The names tell a client with several certificates which one to present. */
		STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(ca);
		if (!names) {
			set_text(err, cap, "cannot load CA names from %s: %s", ca,
				 queued(tmp, sizeof(tmp)));
			return RAP_ETLS;
		}
		SSL_CTX_set_client_CA_list(ctx, names);
		SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
	}
	return 0;
}

static int build_ctx(bool server, const struct tls_params *p, SSL_CTX **out, char *err, size_t cap)
{
	char tmp[ERR_TEXT_MAX];
	*out = NULL;
	ERR_clear_error();
	SSL_CTX *ctx = SSL_CTX_new(server ? TLS_server_method() : TLS_client_method());
	if (!ctx) {
		set_text(err, cap, "cannot create TLS context: %s", queued(tmp, sizeof(tmp)));
		return RAP_ENOMEM;
	}
	int rc = RAP_ETLS;
	if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1) {
		set_text(err, cap, "cannot set the minimum TLS version: %s", queued(tmp, sizeof(tmp)));
		goto fail;
	}
	/* RELEASE_BUFFERS drops the 2 x ~17 KiB record buffers while a session is idle, which
	 * is most of a session's memory on a server holding thousands of them. */
	SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
			 SSL_MODE_RELEASE_BUFFERS);
	/* TLS 1.2 renegotiation would let a client make the server redo handshakes at will
	 * and turn reads into writes mid-stream; RAP never needs it. */
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION);
	SSL_CTX_set_default_passwd_cb(ctx, no_passphrase);
	if (server) {
		/* Neither our client nor stock radare2 resumes sessions: a cache and tickets
		 * would only cost memory per connection and bytes per handshake. */
		SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
		SSL_CTX_set_num_tickets(ctx, 0);
	}
	if (p->cert && (rc = load_cert(ctx, p, err, cap)) < 0)
		goto fail;
	if (server) {
		if (p->ca && (rc = load_ca(ctx, true, p->ca, err, cap)) < 0)
			goto fail;
	} else if (p->insecure) {
		SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
	} else {
		if (p->ca) {
			if ((rc = load_ca(ctx, false, p->ca, err, cap)) < 0)
				goto fail;
		} else if (SSL_CTX_set_default_verify_paths(ctx) != 1) {
			set_text(err, cap, "cannot load the system trust store: %s",
				 queued(tmp, sizeof(tmp)));
			rc = RAP_ETLS;
			goto fail;
		}
		SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	}
	ERR_clear_error();
	*out = ctx;
	return 0;
fail:
	ERR_clear_error();
	SSL_CTX_free(ctx);
	return rc;
}

/* Builds a context from np and, only if that worked, makes np the config's parameters.
 * Takes ownership of np's strings either way (the rejected or the replaced ones are
 * freed). */
static int commit(struct rap_tls_config *cfg, struct tls_params *np)
{
	SSL_CTX *ctx;
	int rc = build_ctx(cfg->server, np, &ctx, cfg->err, sizeof(cfg->err));
	struct tls_params *drop = np;
	if (rc == 0) {
		SSL_CTX_free(cfg->ctx);
		cfg->ctx = ctx;
		struct tls_params old = cfg->p;
		cfg->p = *np;
		*np = old;
		cfg->err[0] = '\0';
	}
	/* Strings shared by both sets belong to cfg->p now. */
	if (drop->cert != cfg->p.cert)
		rap__free(drop->cert);
	if (drop->key != cfg->p.key)
		rap__free(drop->key);
	if (drop->ca != cfg->p.ca)
		rap__free(drop->ca);
	return rc;
}

static bool dup_opt(const char *s, char **out)
{
	*out = NULL;
	if (!s)
		return true;
	*out = rap__strdup(s);
	return *out != NULL;
}

int rap_tls_config_new(bool server, struct rap_tls_config **out)
{
	if (!out)
		return RAP_EINVAL;
	*out = NULL;
	if (CRYPTO_THREAD_run_once(&sock_method_once, make_sock_method) != 1 || !sock_method)
		return RAP_ENOMEM;
	struct rap_tls_config *cfg = rap__calloc(1, sizeof(*cfg));
	if (!cfg)
		return RAP_ENOMEM;
	cfg->server = server;
	*out = cfg;
	return 0;
}

void rap_tls_config_free(struct rap_tls_config *cfg)
{
	if (!cfg)
		return;
	SSL_CTX_free(cfg->ctx);
	rap__free(cfg->p.cert);
	rap__free(cfg->p.key);
	rap__free(cfg->p.ca);
	rap__free(cfg);
}

int rap_tls_config_set_cert(struct rap_tls_config *cfg, const char *chain_file, const char *key_file)
{
	if (!cfg || !chain_file || !*chain_file || (key_file && !*key_file))
		return RAP_EINVAL;
	struct tls_params np = cfg->p;
	char *cert, *key;
	if (!dup_opt(chain_file, &cert) || !dup_opt(key_file, &key)) {
		rap__free(cert);
		snprintf(cfg->err, sizeof(cfg->err), "out of memory");
		return RAP_ENOMEM;
	}
	np.cert = cert;
	np.key = key;
	return commit(cfg, &np);
}

int rap_tls_config_set_ca(struct rap_tls_config *cfg, const char *ca_file)
{
	if (!cfg || (ca_file && !*ca_file))
		return RAP_EINVAL;
	struct tls_params np = cfg->p;
	if (!dup_opt(ca_file, &np.ca)) {
		snprintf(cfg->err, sizeof(cfg->err), "out of memory");
		return RAP_ENOMEM;
	}
	return commit(cfg, &np);
}

int rap_tls_config_set_insecure(struct rap_tls_config *cfg, bool insecure)
{
	if (!cfg)
		return RAP_EINVAL;
	if (cfg->server) {
		snprintf(cfg->err, sizeof(cfg->err), "insecure mode is for clients only");
		return RAP_EINVAL;
	}
	struct tls_params np = cfg->p;
	np.insecure = insecure;
	return commit(cfg, &np);
}

int rap_tls_config_reload(struct rap_tls_config *cfg)
{
	if (!cfg)
		return RAP_EINVAL;
	struct tls_params np = cfg->p;
	return commit(cfg, &np);
}

const char *rap_tls_config_error(const struct rap_tls_config *cfg)
{
	return cfg ? cfg->err : "";
}

/* ---- sessions ------------------------------------------------------------------------ */

static bool is_ip_literal(const char *name)
{
	unsigned char addr[16];
	return inet_pton(AF_INET, name, addr) == 1 || inet_pton(AF_INET6, name, addr) == 1;
}

static int setup_client(struct rap_tls *t, const struct rap_tls_config *cfg, const char *peer_name)
{
	SSL_set_connect_state(t->ssl);
	if (!peer_name)
		return 0;
	char host[256];
	size_t n = strlen(peer_name);
	if (n >= 2 && peer_name[0] == '[' && peer_name[n - 1] == ']') {
		peer_name++;
		n -= 2;
	}
	if (n == 0 || n >= sizeof(host))
		return RAP_EINVAL;
	memcpy(host, peer_name, n);
	host[n] = '\0';
	bool ip = is_ip_literal(host);
	/* SSL_set1_host() recognises IP literals and then matches them against the
	 * certificate's IP SANs, never against DNS names. */
	if (!cfg->p.insecure && SSL_set1_host(t->ssl, host) != 1)
		return RAP_ENOMEM;
	/* RFC 6066 allows only DNS names in SNI. */
	if (!ip && SSL_set_tlsext_host_name(t->ssl, host) != 1)
		return RAP_EINVAL;
	return 0;
}

int rap_tls_new(struct rap_tls_config *cfg, int fd, const char *peer_name, struct rap_tls **out)
{
	if (!out)
		return RAP_EINVAL;
	*out = NULL;
	if (!cfg || fd < 0)
		return RAP_EINVAL;
	if (cfg->server && !cfg->p.cert) {
		snprintf(cfg->err, sizeof(cfg->err), "a TLS server needs a certificate");
		return RAP_EINVAL;
	}
	if (!cfg->server && !cfg->p.insecure && (!peer_name || !*peer_name)) {
		snprintf(cfg->err, sizeof(cfg->err), "a peer name is required to verify the server");
		return RAP_EINVAL;
	}
	if (!cfg->ctx) {
		int rc = rap_tls_config_reload(cfg);
		if (rc < 0)
			return rc;
	}
	struct rap_tls *t = rap__calloc(1, sizeof(*t));
	if (!t)
		return RAP_ENOMEM;
	t->fd = fd;
	ERR_clear_error();
	int rc = RAP_ENOMEM;
	t->ssl = SSL_new(cfg->ctx);
	if (!t->ssl)
		goto fail;
	BIO *bio = BIO_new(sock_method);
	if (!bio)
		goto fail;
	BIO_set_data(bio, t);
	BIO_set_init(bio, 1);
	SSL_set_bio(t->ssl, bio, bio); /* one reference, now owned by the SSL */
	t->server = cfg->server;
	if (cfg->server) {
		SSL_set_accept_state(t->ssl);
	} else if ((rc = setup_client(t, cfg, peer_name)) < 0) {
		if (rc == RAP_EINVAL)
			snprintf(cfg->err, sizeof(cfg->err), "invalid peer name");
		goto fail;
	}
	ERR_clear_error();
	*out = t;
	return 0;
fail:
	ERR_clear_error();
	SSL_free(t->ssl);
	rap__free(t);
	return rc;
}

void rap_tls_free(struct rap_tls *t)
{
	if (!t)
		return;
	SSL_free(t->ssl);
	rap__free(t);
}

enum op { OP_HANDSHAKE, OP_READ, OP_WRITE, OP_SHUTDOWN };

/* Maps a failed SSL call to our convention and records what it waits for. */
static int failure(struct rap_tls *t, int ret, enum op op)
{
	unsigned *wants = (op == OP_HANDSHAKE || op == OP_READ) ? &t->read_wants : &t->write_wants;
	int e = SSL_get_error(t->ssl, ret);
	*wants = 0;
	switch (e) {
	case SSL_ERROR_WANT_READ:
		*wants = RAP_LOOP_READ;
		return RAP_EAGAIN;
	case SSL_ERROR_WANT_WRITE:
		*wants = RAP_LOOP_WRITE;
		return RAP_EAGAIN;
	case SSL_ERROR_ZERO_RETURN:
		/* Reads keep answering 0 by themselves; no need to mark the session failed. */
		snprintf(t->err, sizeof(t->err), "peer closed the connection");
		return op == OP_READ ? 0 : RAP_ECLOSED;
	case SSL_ERROR_SYSCALL: {
		int se = t->sys_errno;
		ERR_clear_error();
		bool gone = se == 0 || se == EPIPE || se == ECONNRESET;
		if (gone) {
			snprintf(t->err, sizeof(t->err), "%s",
				 se ? rap_strerror(-se) : "peer closed the connection without close_notify");
			t->failed = RAP_ECLOSED; /* rap_tls_read turns it into 0 */
			return op == OP_READ ? 0 : RAP_ECLOSED;
		}
		snprintf(t->err, sizeof(t->err), "%s", rap_strerror(-se));
		t->failed = -se;
		return -se;
	}
	case SSL_ERROR_SSL:
	default: {
		unsigned long first = ERR_peek_error();
		if (ERR_GET_LIB(first) == ERR_LIB_SSL && ERR_GET_REASON(first) == SSL_R_UNEXPECTED_EOF_WHILE_READING) {
			ERR_clear_error();
			snprintf(t->err, sizeof(t->err), "peer closed the connection without close_notify");
			t->failed = RAP_ECLOSED;
			return op == OP_READ ? 0 : RAP_ECLOSED;
		}
		if (op == OP_HANDSHAKE && t->plain_peer) {
			ERR_clear_error();
			/* Best effort: the connection is being given up anyway. */
			ssize_t sent = send(t->fd, plain_peer_alert, sizeof(plain_peer_alert), MSG_NOSIGNAL | MSG_DONTWAIT);
			(void)sent;
			snprintf(t->err, sizeof(t->err),
				 "the client does not speak TLS (a plain rap:// client on a TLS port?)");
		} else {
			queue_reason(t->ssl, t->err, sizeof(t->err));
		}
		t->failed = RAP_ETLS;
		return RAP_ETLS;
	}
	}
}

int rap_tls_handshake(struct rap_tls *t)
{
	if (!t)
		return RAP_EINVAL;
	if (t->failed)
		return t->failed;
	if (SSL_is_init_finished(t->ssl)) {
		t->read_wants = 0;
		return 0;
	}
	ERR_clear_error();
	t->sys_errno = 0;
	int ret = SSL_do_handshake(t->ssl);
	if (ret == 1) {
		t->read_wants = 0;
		return 0;
	}
	return failure(t, ret, OP_HANDSHAKE);
}

ssize_t rap_tls_read(struct rap_tls *t, void *buf, size_t len)
{
	if (!t || (!buf && len))
		return RAP_EINVAL;
	if (t->failed)
		return t->failed == RAP_ECLOSED ? 0 : t->failed;
	if (len == 0)
		return 0;
	size_t got = 0;
	ERR_clear_error();
	t->sys_errno = 0;
	if (SSL_read_ex(t->ssl, buf, len, &got) == 1) {
		t->read_wants = 0;
		return (ssize_t)got;
	}
	return failure(t, 0, OP_READ);
}

ssize_t rap_tls_write(struct rap_tls *t, const void *buf, size_t len)
{
	if (!t || (!buf && len))
		return RAP_EINVAL;
	if (t->failed)
		return t->failed;
	if (t->shutdown_sent)
		return RAP_EINVAL;
	if (len == 0)
		return 0;
	size_t put = 0;
	ERR_clear_error();
	t->sys_errno = 0;
	if (SSL_write_ex(t->ssl, buf, len, &put) == 1) {
		t->write_wants = 0;
		return (ssize_t)put;
	}
	return failure(t, 0, OP_WRITE);
}

unsigned rap_tls_wants(const struct rap_tls *t)
{
	return t ? t->read_wants | t->write_wants : 0;
}

bool rap_tls_pending(const struct rap_tls *t)
{
	return t && !t->failed && SSL_pending(t->ssl) > 0;
}

int rap_tls_shutdown(struct rap_tls *t)
{
	if (!t)
		return RAP_EINVAL;
	/* OpenSSL forbids SSL_shutdown() after a fatal error, and before the handshake there
	 * is no session to close. */
	if (t->failed || t->shutdown_sent || !SSL_is_init_finished(t->ssl)) {
		t->write_wants = 0;
		return 0;
	}
	ERR_clear_error();
	t->sys_errno = 0;
	int ret = SSL_shutdown(t->ssl);
	if (ret >= 0) {
		/* 0: ours is sent and the peer's not yet seen, which we do not wait for. */
		t->shutdown_sent = true;
		t->write_wants = 0;
		return 0;
	}
	int rc = failure(t, ret, OP_SHUTDOWN);
	return rc == RAP_ECLOSED ? 0 : rc;
}

const char *rap_tls_error(const struct rap_tls *t)
{
	return t ? t->err : "";
}

ssize_t rap_tls_peer_subject(const struct rap_tls *t, char *buf, size_t cap)
{
	if (!t || !buf || cap == 0)
		return RAP_EINVAL;
	buf[0] = '\0';
	X509 *cert = SSL_get0_peer_certificate(t->ssl);
	if (!cert)
		return 0;
	ERR_clear_error();
	BIO *mem = BIO_new(BIO_s_mem());
	if (!mem)
		return RAP_ENOMEM;
	/* RFC 2253 escapes control characters (ESC_CTRL), so a hostile subject cannot forge
	 * log lines; UTF-8 stays readable (no ESC_MSB). */
	unsigned long flags = XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB;
	ssize_t rc;
	if (X509_NAME_print_ex(mem, X509_get_subject_name(cert), 0, flags) < 0) {
		rc = RAP_ENOMEM;
	} else {
		char *data;
		long n = BIO_get_mem_data(mem, &data);
		if (n < 0) {
			rc = RAP_ENOMEM;
		} else if ((size_t)n >= cap) {
			memcpy(buf, data, cap - 1);
			buf[cap - 1] = '\0';
			rc = RAP_ENOSPC;
		} else {
			memcpy(buf, data, (size_t)n);
			buf[n] = '\0';
			rc = (ssize_t)n;
		}
	}
	BIO_free(mem);
	ERR_clear_error();
	return rc;
}

ssize_t rap_tls_peer_fingerprint(const struct rap_tls *t, char *buf, size_t cap)
{
	if (!t || !buf || cap == 0)
		return RAP_EINVAL;
	buf[0] = '\0';
	X509 *cert = SSL_get0_peer_certificate(t->ssl);
	if (!cert)
		return 0;
	if (cap < RAP_TLS_FINGERPRINT_LEN)
		return RAP_ENOSPC;
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n = 0;
	ERR_clear_error();
	if (X509_digest(cert, EVP_sha256(), md, &n) != 1 || n != 32) {
		ERR_clear_error();
		return RAP_ENOMEM;
	}
	static const char hex[] = "0123456789ABCDEF";
	char *p = buf;
	for (unsigned i = 0; i < n; i++) {
		if (i)
			*p++ = ':';
		*p++ = hex[md[i] >> 4];
		*p++ = hex[md[i] & 15];
	}
	*p = '\0';
	return p - buf;
}

const char *rap_tls_protocol(const struct rap_tls *t)
{
	if (!t || !SSL_is_init_finished(t->ssl))
		return "";
	return SSL_get_version(t->ssl);
}

#else /* !HAVE_OPENSSL */

/* What rap_tls_config_error() and rap_tls_error() say in this build (see rap/tls.h). */
#define NO_TLS_TEXT "TLS is not available in this build (rap was built without OpenSSL)"

bool rap_tls_available(void)
{
	return false;
}

int rap_tls_config_new(bool server, struct rap_tls_config **out)
{
	(void)server;
	if (out)
		*out = NULL;
	return RAP_ENOTSUP;
}

void rap_tls_config_free(struct rap_tls_config *cfg)
{
	(void)cfg;
}

int rap_tls_config_set_cert(struct rap_tls_config *cfg, const char *chain_file, const char *key_file)
{
	(void)cfg;
	(void)chain_file;
	(void)key_file;
	return RAP_ENOTSUP;
}

int rap_tls_config_set_ca(struct rap_tls_config *cfg, const char *ca_file)
{
	(void)cfg;
	(void)ca_file;
	return RAP_ENOTSUP;
}

int rap_tls_config_set_insecure(struct rap_tls_config *cfg, bool insecure)
{
	(void)cfg;
	(void)insecure;
	return RAP_ENOTSUP;
}

int rap_tls_config_reload(struct rap_tls_config *cfg)
{
	(void)cfg;
	return RAP_ENOTSUP;
}

const char *rap_tls_config_error(const struct rap_tls_config *cfg)
{
	(void)cfg;
	return NO_TLS_TEXT;
}

int rap_tls_new(struct rap_tls_config *cfg, int fd, const char *peer_name, struct rap_tls **out)
{
	(void)cfg;
	(void)fd;
	(void)peer_name;
	if (out)
		*out = NULL;
	return RAP_ENOTSUP;
}

void rap_tls_free(struct rap_tls *t)
{
	(void)t;
}

int rap_tls_handshake(struct rap_tls *t)
{
	(void)t;
	return RAP_ENOTSUP;
}

ssize_t rap_tls_read(struct rap_tls *t, void *buf, size_t len)
{
	(void)t;
	(void)buf;
	(void)len;
	return RAP_ENOTSUP;
}

ssize_t rap_tls_write(struct rap_tls *t, const void *buf, size_t len)
{
	(void)t;
	(void)buf;
	(void)len;
	return RAP_ENOTSUP;
}

unsigned rap_tls_wants(const struct rap_tls *t)
{
	(void)t;
	return 0;
}

bool rap_tls_pending(const struct rap_tls *t)
{
	(void)t;
	return false;
}

int rap_tls_shutdown(struct rap_tls *t)
{
	(void)t;
	return RAP_ENOTSUP;
}

const char *rap_tls_error(const struct rap_tls *t)
{
	(void)t;
	return NO_TLS_TEXT;
}

ssize_t rap_tls_peer_subject(const struct rap_tls *t, char *buf, size_t cap)
{
	(void)t;
	if (buf && cap)
		buf[0] = '\0';
	return RAP_ENOTSUP;
}

ssize_t rap_tls_peer_fingerprint(const struct rap_tls *t, char *buf, size_t cap)
{
	(void)t;
	if (buf && cap)
		buf[0] = '\0';
	return RAP_ENOTSUP;
}

const char *rap_tls_protocol(const struct rap_tls *t)
{
	(void)t;
	return "";
}

#endif
