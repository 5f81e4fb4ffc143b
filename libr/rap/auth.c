/* The extension's authentication (doc/protocol.md, "Authentication"): shared secrets read
 * from files with strict permissions, nonces and HMAC-SHA256 proofs through OpenSSL.
 * Without OpenSSL every call refuses with RAP_ENOTSUP, and servers and clients never offer
 * or ask for the handshake. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <rap/rap.h>

#include "common.h"
#include "rap_private.h"

#if HAVE_OPENSSL
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#endif

struct rap_secret {
	size_t len;
	uint8_t *bytes; /* heap, zeroed before it is freed */
};

static void set_why(char *why, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void set_why(char *why, size_t cap, const char *fmt, ...)
{
	if (!why || !cap)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(why, cap, fmt, ap);
	va_end(ap);
}

#if HAVE_OPENSSL

/* Labels of the two proofs: the same length, so label | nonces is unambiguous, and
 * different, so that a server's proof can never pass for a client's. */
static const char label_client[] = "rap-auth-v1 client";
static const char label_server[] = "rap-auth-v1 server";

bool rap_auth_available(void)
{
	return true;
}

int rap_secret_new(const void *bytes, size_t len, struct rap_secret **out)
{
	if (!out)
		return RAP_EINVAL;
	*out = NULL;
	if (!bytes || len < RAP_SECRET_MIN || len > RAP_SECRET_MAX)
		return RAP_EINVAL;
	struct rap_secret *s = rap__calloc(1, sizeof(*s));
	uint8_t *b = rap__malloc(len);
	if (!s || !b) {
		rap__free(s);
		rap__free(b);
		return RAP_ENOMEM;
	}
	memcpy(b, bytes, len);
	s->bytes = b;
	s->len = len;
	*out = s;
	return 0;
}

void rap_secret_free(struct rap_secret *s)
{
	if (!s)
		return;
	OPENSSL_cleanse(s->bytes, s->len);
	rap__free(s->bytes);
	rap__free(s);
}

/* Reads the whole file into buf (cap bytes); the count, or -errno. One byte more than the
 * largest secret plus its newline is asked for, so that a longer file shows as such. */
static ssize_t read_all(int fd, uint8_t *buf, size_t cap)
{
	size_t have = 0;
	while (have < cap) {
		ssize_t n = read(fd, buf + have, cap - have);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			break;
		have += (size_t)n;
	}
	return (ssize_t)have;
}

int rap_secret_load(const char *path, struct rap_secret **out, char *why, size_t whycap)
{
	if (out)
		*out = NULL;
	set_why(why, whycap, "%s", "");
	if (!path || !out)
		return RAP_EINVAL;
	/* Never blocks (a FIFO planted there), never takes a terminal. */
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0) {
		int rc = -errno;
		set_why(why, whycap, "secret file %s: %s", path, strerror(-rc));
		return rc;
	}
	struct stat st;
	int rc = 0;
	if (fstat(fd, &st) < 0) {
		rc = -errno;
		set_why(why, whycap, "secret file %s: %s", path, strerror(-rc));
	} else if (!S_ISREG(st.st_mode)) {
		rc = RAP_ENOTREG;
		set_why(why, whycap, "secret file %s is not a regular file", path);
	} else if (st.st_mode & (S_IRWXG | S_IRWXO)) {
		rc = RAP_EDENIED;
		set_why(why, whycap, "secret file %s is accessible by group or others (mode %04o): chmod 600 it",
			path, (unsigned)(st.st_mode & 07777));
	} else if (st.st_uid != geteuid() && st.st_uid != 0) {
		rc = RAP_EDENIED;
		set_why(why, whycap, "secret file %s belongs to another user (uid %u): it must be yours or root's",
			path, (unsigned)st.st_uid);
	}
	if (rc < 0) {
		close(fd);
		return rc;
	}
	uint8_t buf[RAP_SECRET_MAX + 3];
	ssize_t n = read_all(fd, buf, sizeof(buf));
	close(fd);
	if (n < 0) {
		set_why(why, whycap, "secret file %s: %s", path, strerror((int)-n));
		return (int)n;
	}
	size_t len = (size_t)n;
	if (len && buf[len - 1] == '\n') {
		len--;
		if (len && buf[len - 1] == '\r')
			len--;
	}
	if (len < RAP_SECRET_MIN || len > RAP_SECRET_MAX) {
		set_why(why, whycap, "secret file %s holds %s%zu bytes: a secret has %d to %d (e.g. head -c 32 "
			"/dev/urandom | base64 > FILE)", path, (size_t)n == sizeof(buf) ? "more than " : "",
			len, RAP_SECRET_MIN, RAP_SECRET_MAX);
		OPENSSL_cleanse(buf, sizeof(buf));
		return RAP_EINVAL;
	}
	rc = rap_secret_new(buf, len, out);
	OPENSSL_cleanse(buf, sizeof(buf));
	if (rc < 0)
		set_why(why, whycap, "secret file %s: %s", path, rap_strerror(rc));
	return rc;
}

int rap__auth_nonce(uint8_t nonce[RAP_AUTH_NONCE_LEN])
{
	return RAND_bytes(nonce, RAP_AUTH_NONCE_LEN) == 1 ? 0 : RAP_ENOTSUP;
}

int rap__auth_proof(const struct rap_secret *s, bool server, const uint8_t ns[RAP_AUTH_NONCE_LEN],
		    const uint8_t nc[RAP_AUTH_NONCE_LEN], uint8_t mac[RAP_AUTH_MAC_LEN])
{
	uint8_t msg[sizeof(label_client) - 1 + 2 * RAP_AUTH_NONCE_LEN];
	size_t ll = sizeof(label_client) - 1;
	memcpy(msg, server ? label_server : label_client, ll);
	memcpy(msg + ll, ns, RAP_AUTH_NONCE_LEN);
	memcpy(msg + ll + RAP_AUTH_NONCE_LEN, nc, RAP_AUTH_NONCE_LEN);
	size_t outlen = 0;
	unsigned char *r = EVP_Q_mac(NULL, "HMAC", NULL, "SHA256", NULL, s->bytes, s->len, msg, sizeof(msg), mac,
				     RAP_AUTH_MAC_LEN, &outlen);
	return r && outlen == RAP_AUTH_MAC_LEN ? 0 : RAP_ENOMEM;
}

bool rap__auth_equal(const uint8_t *a, const uint8_t *b, size_t n)
{
	return CRYPTO_memcmp(a, b, n) == 0;
}

void rap__cleanse(void *p, size_t n)
{
	OPENSSL_cleanse(p, n);
}

#else /* !HAVE_OPENSSL */

bool rap_auth_available(void)
{
	return false;
}

int rap_secret_new(const void *bytes, size_t len, struct rap_secret **out)
{
	(void)bytes;
	(void)len;
	if (out)
		*out = NULL;
	return RAP_ENOTSUP;
}

void rap_secret_free(struct rap_secret *s)
{
	(void)s;
}

int rap_secret_load(const char *path, struct rap_secret **out, char *why, size_t whycap)
{
	(void)path;
	if (out)
		*out = NULL;
	set_why(why, whycap, "authentication is not available in this build (rap was built without OpenSSL)");
	return RAP_ENOTSUP;
}

int rap__auth_nonce(uint8_t nonce[RAP_AUTH_NONCE_LEN])
{
	(void)nonce;
	return RAP_ENOTSUP;
}

int rap__auth_proof(const struct rap_secret *s, bool server, const uint8_t ns[RAP_AUTH_NONCE_LEN],
		    const uint8_t nc[RAP_AUTH_NONCE_LEN], uint8_t mac[RAP_AUTH_MAC_LEN])
{
	(void)s;
	(void)server;
	(void)ns;
	(void)nc;
	(void)mac;
	return RAP_ENOTSUP;
}

bool rap__auth_equal(const uint8_t *a, const uint8_t *b, size_t n)
{
	/* Never reached without a secret; constant time all the same. */
	uint8_t d = 0;
	for (size_t i = 0; i < n; i++)
		d |= (uint8_t)(a[i] ^ b[i]);
	return d == 0;
}

void rap__cleanse(void *p, size_t n)
{
	volatile uint8_t *v = p;
	while (n--)
		*v++ = 0;
}

#endif
