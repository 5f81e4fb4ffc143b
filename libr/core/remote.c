/* The '=' family: the table of remote hosts ("=+", "=-", "=", "=N CMD", "=<", "=:H:P CMD"),
 * "==N" sessions and remote-command mode ("=!=", "!=!"). Server commands are only recognised
 * here and handed to servers.c; the family's help texts are remote_help.c's.
 *
 * Decisions that differ from radare2 on purpose:
 * - A host whose connection is lost stays in the table, listed as "(dead: REASON)", until
 *   "=-N" removes it. Its number is never handed to another host behind the user's back,
 *   so a script that still says "=1 ..." gets an error instead of talking to someone else.
 * - A failed "=+" adds nothing (radare2 adds the host even when the OPEN failed).
 * - Progress lines ("Connected to: ...", "waiting... ok") go to the error stream, so the
 *   output stream carries only what commands print.
 * - Remote output is printed as it arrived, plus a newline only when it lacks one (radare2
 *   always adds an empty line).
 * - Blank lines do nothing in an "==" session (radare2 leaves the session on them), because
 *   piped scripts contain blank lines and running the rest locally would surprise. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <rap/core.h>
#include <rap/tls.h>

#include "common.h"
#include "core_private.h"

/* radare2's RTR_MAX_HOSTS: numbers 0 .. 254. */
#define MAX_HOSTS 255
/* A TCP connect (rap, tcp, http) gives up after this long. */
#define CONNECT_TIMEOUT_MS 10000
/* How long "=+" waits for the first answer (rap probe and OPEN, http GET). Commands have
 * no deadline: radare2 users run analyses that take minutes. */
#define HANDSHAKE_TIMEOUT_MS 30000
/* Largest reply kept in memory from any host: a hexdump of the largest block
 * (RAP__CORE_BLOCK_MAX) is about 4.4 times the data, so 256 MiB leaves room for it. */
#define REPLY_MAX (256u << 20)
#define HTTP_HEAD_MAX (64u << 10)
/* "=<" to a udp host sends the output in datagrams of this size (fits any UDP stack). */
#define UDP_CHUNK 8192
/* Stock servers take a CMD only when its length (NUL included) is below 4096. */
#define STOCK_CMD_MAX (RAP_PACKET_MAX - 2)

enum proto { PROTO_RAP, PROTO_RAPS, PROTO_TCP, PROTO_UDP, PROTO_HTTP };

static const char *const proto_names[] = { "rap", "raps", "tcp", "udp", "http" };

struct host {
	enum proto proto;
	char name[256];  /* host without brackets */
	char port[32];
	char *uri;       /* as listed by "=" */
	char *path;      /* rap: the OPENed path or NULL; http: the request prefix ("/cmd/") */
	struct rap_client *client; /* rap, raps */
	int fd;          /* tcp: the one connection not yet used; udp: the socket; else -1 */
	bool dead;       /* the connection is gone; why says why */
	char why[256];
	uint64_t stamp;  /* last use: the highest stamp is the default host */
};

enum mode { MODE_OFF, MODE_IO, MODE_HOST };

struct rap__remote {
	struct host *hosts[MAX_HOSTS];
	uint64_t clock;
	int session;      /* host of an "==" session, -1 when none */
	enum mode mode;   /* remote-command mode ("=!=") */
	int mode_host;
	bool pos_valid;   /* pos holds the remote position for the prompt */
	uint64_t pos;
	unsigned local;   /* > 0 while "=<" runs a command here: nothing is routed away */
};

/* ---- small helpers -------------------------------------------------------------------- */

static const char *skip_blanks(const char *s)
{
	while (rap__core_blank(*s))
		s++;
	return s;
}

/* Copy of s without leading and trailing blanks (heap), NULL when out of memory. */
static char *trimmed_copy(const char *s)
{
	s = skip_blanks(s);
	size_t n = strlen(s);
	while (n && rap__core_blank(s[n - 1]))
		n--;
	return rap__strndup(s, n);
}

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int oom(struct rap_core *c)
{
	rap__core_errorf(c, "out of memory");
	return RAP_ENOMEM;
}

static struct rap__remote *remote_get(struct rap_core *c)
{
	if (!c->remote) {
		c->remote = rap__calloc(1, sizeof(*c->remote));
		if (c->remote)
			c->remote->session = -1;
	}
	return c->remote;
}

/* Parses a host number at *pp (decimal digits). Returns it, MAX_HOSTS for a number too large
 * to name a host, or -1 when *pp does not start with a digit. */
static int parse_number(const char **pp)
{
	const char *p = *pp;
	if (!isdigit((unsigned char)*p))
		return -1;
	long v = 0;
	for (; isdigit((unsigned char)*p); p++)
		if (v < MAX_HOSTS)
			v = v * 10 + (*p - '0');
	*pp = p;
	return v < MAX_HOSTS ? (int)v : MAX_HOSTS;
}

/* Prints remote output as it came, ending the last line so the prompt starts on its own. */
static void print_output(struct rap_core *c, const char *out, size_t len)
{
	if (!len)
		return;
	fwrite(out, 1, len, c->out);
	if (out[len - 1] != '\n')
		fputc('\n', c->out);
}

/* Errors that mean nobody is there any more (as opposed to a refusal or a local problem). */
static bool gone_error(int rc)
{
	switch (rc) {
	case RAP_ECLOSED:
	case -ECONNREFUSED:
	case -ECONNRESET:
	case -ECONNABORTED:
	case -EPIPE:
	case -ENOTCONN:
	case -EHOSTUNREACH:
	case -ENETUNREACH:
	case -EHOSTDOWN:
		return true;
	default:
		return false;
	}
}

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

static void host_free(struct host *h)
{
	if (!h)
		return;
	rap_client_free(h->client);
	close_fd(&h->fd);
	rap__free(h->uri);
	rap__free(h->path);
	rap__free(h);
}

/* The modes that talk to host n end with it: its number may be reused by the next "=+". */
static void forget_modes(struct rap_core *c, int n)
{
	struct rap__remote *r = c->remote;
	if (r->session == n || n < 0)
		r->session = -1;
	if (r->mode == MODE_HOST && (r->mode_host == n || n < 0)) {
		r->mode = MODE_OFF;
		fprintf(c->err, "remote-command mode off: host %d was removed\n", r->mode_host);
	}
	r->pos_valid = false;
}

/* Marks host n dead after rc and says so. Returns rc. */
static int host_gone(struct rap_core *c, int n, int rc, const char *detail)
{
	struct host *h = c->remote->hosts[n];
	snprintf(h->why, sizeof(h->why), "%s%s%s", rap_strerror(rc), detail && *detail ? ": " : "",
		 detail ? detail : "");
	h->dead = true;
	rap_client_free(h->client);
	h->client = NULL;
	close_fd(&h->fd);
	rap__core_errorf(c, "host %d (%s) is gone: %s; '=-%d' removes it", n, h->uri, h->why, n);
	return rc;
}

/* Host n, or NULL after printing why it cannot be used. */
static struct host *host_usable(struct rap_core *c, int n)
{
	struct rap__remote *r = c->remote;
	struct host *h = r && n >= 0 && n < MAX_HOSTS ? r->hosts[n] : NULL;
	if (!h) {
		if (n >= 0 && n < MAX_HOSTS)
			rap__core_errorf(c, "unknown host %d (see '=' for the list)", n);
		else
			rap__core_errorf(c, "unknown host (numbers go from 0 to %d; see '=')", MAX_HOSTS - 1);
		return NULL;
	}
	if (h->dead) {
		rap__core_errorf(c, "host %d (%s) is gone (%s); '=-%d' removes it", n, h->uri, h->why, n);
		return NULL;
	}
	return h;
}

/* The host the forms without a number use: the last one used (or added). -1 when none. */
static int current_host(const struct rap__remote *r)
{
	int best = -1;
	for (int i = 0; r && i < MAX_HOSTS; i++)
		if (r->hosts[i] && (best < 0 || r->hosts[i]->stamp > r->hosts[best]->stamp))
			best = i;
	return best;
}

static int need_current(struct rap_core *c)
{
	int n = current_host(c->remote);
	if (n < 0)
		rap__core_errorf(c, "no remote host (add one with '=+ [proto://]host:port[/path]')");
	return n;
}

/* ---- connections ---------------------------------------------------------------------- */

/* Bounds a blocking exchange that has no deadline of its own: when the time is up the
 * socket is shut down from this thread, which wakes the blocked read with an end of
 * stream. Used only while "=+" waits for the first answer. */
struct watchdog {
	pthread_t thread;
	int pipe[2];
	int sock;
	int ms;
	bool running;
	bool fired;
};

static void *watchdog_main(void *arg)
{
	struct watchdog *w = arg;
	int64_t deadline = now_ms() + w->ms;
	struct pollfd pfd = { .fd = w->pipe[0], .events = POLLIN };
	for (;;) {
		int64_t left = deadline - now_ms();
		if (left <= 0) {
			w->fired = true;
			shutdown(w->sock, SHUT_RDWR);
			return NULL;
		}
		int n = poll(&pfd, 1, (int)left);
		if (n > 0 || (n < 0 && errno != EINTR))
			return NULL;
	}
}

static void watchdog_start(struct watchdog *w, int sock, int ms)
{
	memset(w, 0, sizeof(*w));
	w->sock = sock;
	w->ms = ms;
	if (sock < 0 || pipe2(w->pipe, O_CLOEXEC) < 0)
		return;
	/* Without a thread the exchange is merely unbounded, as every blocking read is. */
	if (pthread_create(&w->thread, NULL, watchdog_main, w) != 0) {
		close(w->pipe[0]);
		close(w->pipe[1]);
		return;
	}
	w->running = true;
}

/* Returns true when the deadline passed. */
static bool watchdog_stop(struct watchdog *w)
{
	if (!w->running)
		return false;
	ssize_t n;
	do
		n = write(w->pipe[1], "", 1);
	while (n < 0 && errno == EINTR);
	pthread_join(w->thread, NULL);
	close(w->pipe[0]);
	close(w->pipe[1]);
	w->running = false;
	return w->fired;
}

static void connect_error(struct rap_core *c, const char *name, const char *port, int rc, const char *detail)
{
	rap__core_errorf(c, "Cannot connect to '%s' (%s): %s%s%s", name, port, rap_strerror(rc),
			 detail && *detail ? ": " : "", detail ? detail : "");
}

/* Connects a rap client to u (rap or raps). announce prints the progress lines of "=+".
 * On failure the error has been printed. */
static int rap_connect(struct rap_core *c, const struct rap_uri *u, bool announce, struct rap_client **out)
{
	*out = NULL;
	struct rap_client *cl = NULL;
	int rc = rap_client_new(&cl);
	if (rc < 0)
		return oom(c);
	(void)rap_client_set_max_reply(cl, REPLY_MAX);
	if (u->tls) {
		struct rap_tls_config *cfg = rap_io_tls(c->io), *own = NULL;
		if (!cfg) {
			rc = rap_tls_config_new(false, &own);
			if (rc < 0) {
				rap__core_errorf(c, "raps://: %s%s", rap_strerror(rc),
						 rc == RAP_ENOTSUP ? " (this build has no TLS)" : "");
				rap_client_free(cl);
				return rc;
			}
			cfg = own;
		}
		/* No connect deadline here: the TLS connect creates its socket itself. */
		rc = rap_client_connect_tls(cl, u->host, u->port, cfg);
		rap_tls_config_free(own); /* the connection keeps its own reference */
		if (rc < 0) {
			connect_error(c, u->host, u->port, rc, rap_client_error(cl));
			rap_client_free(cl);
			return rc;
		}
	} else {
		int fd = -1;
		rc = rap_tcp_connect(u->host, u->port, CONNECT_TIMEOUT_MS, &fd);
		if (rc == 0 && (rc = rap_client_attach_fd(cl, fd)) < 0)
			close(fd);
		if (rc < 0) {
			connect_error(c, u->host, u->port, rc, NULL);
			rap_client_free(cl);
			return rc;
		}
	}
	if (announce) {
		fprintf(c->err, "Connected to: %s at port %s\n", u->host, u->port);
		fputs("waiting... ", c->err);
		fflush(c->err);
	}
	/* Both the probe and the OPEN are answered by any RAP server at once; a peer that
	 * speaks something else may never answer, hence the watchdog. */
	struct watchdog wd;
	watchdog_start(&wd, rap_client_fd(cl), HANDSHAKE_TIMEOUT_MS);
	bool opening = false;
	/* 1: our server, larger messages; 0: a stock one. The IO's secret (rapcli
	 * --secret-file) authenticates every connection. */
	rap_client_set_secret(cl, rap_io_secret(c->io));
	rc = rap_client_probe(cl);
	if (rc >= 0 && u->has_path) {
		opening = true;
		rc = rap_client_open(cl, u->path, 0); /* flags 0, as radare2's "=+" sends */
	}
	/* A deadline that passed as the answer came still cost us the socket. */
	bool late = watchdog_stop(&wd);
	if (rc < 0 || late) {
		if (announce)
			fputs("failed\n", c->err);
		if (late)
			rap__core_errorf(c, "no answer from %s:%s within %d s (is it a rap server?)", u->host, u->port,
					 HANDSHAKE_TIMEOUT_MS / 1000);
		else if (!opening && rc == RAP_EAUTH)
			rap__core_errorf(c, "%s:%s: %s", u->host, u->port, rap_client_error(cl));
		else if (!opening)
			rap__core_errorf(c, "the server at %s:%s did not answer: %s", u->host, u->port, rap_strerror(rc));
		else
			rap__core_errorf(c, "cannot open the remote file '%s' on %s:%s: %s", u->path, u->host, u->port,
					 rc == RAP_EREMOTE ? "the server refused to open it" :
					 rc == RAP_ECLOSED ? "the server hung up (stock servers do when an open fails)" :
					 rc == RAP_EINVAL ? "the path is too long for OPEN (at most 253 bytes)" :
					 rap_strerror(rc));
		rap_client_free(cl);
		return late ? RAP_ETIMEDOUT : rc;
	}
	if (announce)
		fputs("ok\n", c->err);
	*out = cl;
	return 0;
}

/* A connected UDP socket to name:port. */
static int udp_connect(const char *name, const char *port, int *fd_out)
{
	*fd_out = -1;
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_DGRAM };
	struct addrinfo *res = NULL;
	int grc = getaddrinfo(*name ? name : NULL, port, &hints, &res);
	if (grc != 0)
		return grc == EAI_MEMORY ? RAP_ENOMEM : RAP_ERESOLVE;
	int rc = RAP_ERESOLVE;
	for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
		int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
		if (fd < 0) {
			rc = -errno;
			continue;
		}
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) {
			*fd_out = fd;
			rc = 0;
			break;
		}
		rc = -errno;
		close(fd);
	}
	freeaddrinfo(res);
	return rc;
}

/* Reads from fd until the peer closes, appending to b (never past b->max). deadline < 0:
 * no deadline. done (may be NULL) is asked after every read whether the reply is already
 * complete. */
static int read_all(int fd, struct rap__buf *b, int64_t deadline,
		    bool (*done)(void *ctx, const struct rap__buf *b), void *ctx)
{
	for (;;) {
		if (done && done(ctx, b))
			return 0;
		if (deadline >= 0) {
			int64_t left = deadline - now_ms();
			if (left <= 0)
				return RAP_ETIMEDOUT;
			struct pollfd pfd = { .fd = fd, .events = POLLIN };
			int n = poll(&pfd, 1, (int)left);
			if (n < 0 && errno != EINTR)
				return -errno;
			if (n <= 0)
				continue;
		}
		if (b->len >= b->max)
			return RAP_ETOOBIG;
		size_t want = b->max - b->len < 65536 ? b->max - b->len : 65536;
		int rc = rap__buf_reserve(b, want);
		if (rc < 0)
			return rc;
		ssize_t n = read(fd, b->data + b->len, want);
		if (n > 0) {
			b->len += (size_t)n;
			continue;
		}
		if (n == 0)
			return 0;
		if (errno == EINTR)
			continue;
		return errno == ECONNRESET ? RAP_ECLOSED : -errno;
	}
}

/* ---- tcp ------------------------------------------------------------------------------- */

/* The host's unused connection when it is still fresh, else a new one. A peer that closed
 * the idle connection (or sent something on it) has made it useless. *kept tells which. */
static int tcp_take(struct host *h, int *fd_out, bool *kept)
{
	*kept = false;
	if (h->fd >= 0) {
		struct pollfd pfd = { .fd = h->fd, .events = POLLIN };
		if (poll(&pfd, 1, 0) == 0) {
			*fd_out = h->fd;
			h->fd = -1;
			*kept = true;
			return 0;
		}
		close_fd(&h->fd);
	}
	return rap_tcp_connect(h->name, h->port, CONNECT_TIMEOUT_MS, fd_out);
}

/* One command per connection, as radare2's tcp command server expects: the line, end of
 * our side, then everything until the peer closes. */
static int tcp_exchange(int fd, const char *cmd, struct rap__buf *b)
{
	int rc = rap_send_all(fd, cmd, strlen(cmd));
	if (rc == 0)
		rc = rap_send_all(fd, "\n", 1);
	if (rc == 0 && shutdown(fd, SHUT_WR) < 0)
		rc = -errno;
	if (rc == 0)
		rc = read_all(fd, b, -1, NULL, NULL);
	close(fd);
	return rc;
}

static int tcp_cmd(struct rap_core *c, int n, const char *cmd)
{
	struct host *h = c->remote->hosts[n];
	struct rap__buf b;
	rap__buf_init(&b, REPLY_MAX);
	int fd;
	bool kept;
	int rc = tcp_take(h, &fd, &kept);
	if (rc == 0) {
		rc = tcp_exchange(fd, cmd, &b);
		/* The peer may have dropped the idle connection just as we took it; a new one
		 * decides whether it is still there. */
		if (kept && gone_error(rc) && !b.len) {
			rc = rap_tcp_connect(h->name, h->port, CONNECT_TIMEOUT_MS, &fd);
			if (rc == 0)
				rc = tcp_exchange(fd, cmd, &b);
		}
	} else if (!gone_error(rc)) {
		connect_error(c, h->name, h->port, rc, NULL);
		rap__buf_free(&b);
		return rc;
	}
	if (rc == 0)
		print_output(c, (const char *)b.data, b.len);
	else if (gone_error(rc))
		host_gone(c, n, rc, NULL);
	else if (rc == RAP_ETOOBIG)
		rap__core_errorf(c, "the answer of host %d is larger than %u MiB", n, REPLY_MAX >> 20);
	else
		rap__core_errorf(c, "host %d: %s", n, rap_strerror(rc));
	rap__buf_free(&b);
	return rc;
}

/* ---- http ------------------------------------------------------------------------------ */

struct http_reply {
	int status;
	char line[160]; /* the status line, for messages */
	char *body;     /* heap */
	size_t len;
};

/* Offset of the body (just past the empty line ending the header), or 0 when the header
 * is not complete. Lines may end in CRLF or LF: radare2's server mixes them. */
static size_t http_head_end(const uint8_t *d, size_t len)
{
	for (size_t pos = 0; pos < len;) {
		const uint8_t *nl = memchr(d + pos, '\n', len - pos);
		if (!nl)
			return 0;
		size_t end = (size_t)(nl - d);
		size_t linelen = end - pos;
		if (linelen && d[end - 1] == '\r')
			linelen--;
		if (!linelen && pos)
			return end + 1;
		pos = end + 1;
	}
	return 0;
}

/* Decodes a chunked body. Returns 1 when complete (out holds it), 0 when more input is
 * needed, RAP_EPROTO when malformed, RAP_ETOOBIG past the cap. */
static int http_unchunk(const uint8_t *p, size_t len, struct rap__buf *out)
{
	size_t i = 0;
	for (;;) {
		size_t size = 0, digits = 0;
		for (; i < len && isxdigit(p[i]); i++, digits++) {
			if (size > REPLY_MAX)
				return RAP_ETOOBIG;
			int d = isdigit(p[i]) ? p[i] - '0' : tolower(p[i]) - 'a' + 10;
			size = size << 4 | (size_t)d;
		}
		const uint8_t *nl = i < len ? memchr(p + i, '\n', len - i) : NULL;
		if (!nl)
			return 0;
		if (!digits)
			return RAP_EPROTO;
		i = (size_t)(nl - p) + 1; /* chunk extensions are ignored */
		if (!size)
			return 1; /* trailers, if any, carry nothing we use */
		if (len - i < size + 1)
			return 0;
		int rc = rap__buf_append(out, p + i, size);
		if (rc < 0)
			return rc;
		i += size;
		if (p[i] == '\r')
			i++;
		if (i >= len)
			return 0;
		if (p[i] != '\n')
			return RAP_EPROTO;
		i++;
	}
}

struct http_framing {
	size_t head;      /* body offset, 0 until the header is complete */
	bool chunked;
	bool has_length;
	size_t length;
	int error;        /* malformed header */
};

static bool header_is(const char *line, size_t len, const char *name)
{
	size_t n = strlen(name);
	return len > n && line[n] == ':' && strncasecmp(line, name, n) == 0;
}

static void http_parse_head(const uint8_t *d, size_t head, struct http_framing *f)
{
	const char *p = (const char *)d, *end = p + head;
	const char *nl = memchr(p, '\n', head);
	for (p = nl + 1; p < end;) {
		nl = memchr(p, '\n', (size_t)(end - p));
		size_t len = (size_t)(nl - p);
		if (len && p[len - 1] == '\r')
			len--;
		char line[256];
		size_t keep = len < sizeof(line) - 1 ? len : sizeof(line) - 1;
		memcpy(line, p, keep);
		line[keep] = '\0';
		if (header_is(line, keep, "content-length")) {
			const char *v = skip_blanks(line + 15);
			uint64_t n = 0;
			bool ok = isdigit((unsigned char)*v);
			for (; isdigit((unsigned char)*v) && n <= REPLY_MAX; v++)
				n = n * 10 + (uint64_t)(*v - '0');
			if (*skip_blanks(v))
				ok = false;
			/* radare2's rap port answers "Content-Length: -1": read to the end then. */
			if (ok && n > REPLY_MAX)
				f->error = RAP_ETOOBIG;
			else if (ok) {
				f->has_length = true;
				f->length = (size_t)n;
			}
		} else if (header_is(line, keep, "transfer-encoding")) {
			for (char *q = line; *q; q++)
				*q = (char)tolower((unsigned char)*q);
			if (strstr(line, "chunked"))
				f->chunked = true;
		}
		p = nl + 1;
	}
}

/* Called after each read: true once the whole reply is in, so a server that keeps the
 * connection open despite "Connection: close" does not make us wait. */
static bool http_done(void *ctx, const struct rap__buf *b)
{
	struct http_framing *f = ctx;
	if (!f->head) {
		f->head = http_head_end(b->data, b->len);
		if (!f->head) {
			if (b->len > HTTP_HEAD_MAX)
				f->error = RAP_ETOOBIG;
			return f->error != 0;
		}
		http_parse_head(b->data, f->head, f);
	}
	if (f->error)
		return true;
	if (f->chunked) {
		/* Decoding is only tried once the terminating chunk may have arrived. */
		static const char last[] = "0\r\n\r\n";
		size_t n = sizeof(last) - 1;
		if (b->len - f->head < n || memcmp(b->data + b->len - n, last, n))
			return false;
		struct rap__buf tmp;
		rap__buf_init(&tmp, REPLY_MAX);
		int rc = http_unchunk(b->data + f->head, b->len - f->head, &tmp);
		rap__buf_free(&tmp);
		return rc != 0;
	}
	return f->has_length && b->len - f->head >= f->length;
}

static bool unreserved(unsigned char ch)
{
	return isalnum(ch) || ch == '-' || ch == '.' || ch == '_' || ch == '~';
}

/* GET <prefix><url-encoded cmd> on a new connection, or on fd when it is not -1 (taken
 * over and closed). Returns 0 with *rep filled, or an error (printed by the caller;
 * *detail explains a malformed reply). timeout_ms <= 0: no deadline. */
static int http_get(const struct host *h, int fd, const char *cmd, int timeout_ms, struct http_reply *rep,
		    const char **detail)
{
	memset(rep, 0, sizeof(*rep));
	*detail = NULL;
	struct rap__buf req;
	rap__buf_init(&req, 3 * strlen(cmd) + 1024 + strlen(h->path) + sizeof(h->name));
	bool v6 = strchr(h->name, ':') != NULL;
	int rc = rap__buf_printf(&req, "GET %s", h->path);
	for (const unsigned char *p = (const unsigned char *)cmd; rc == 0 && *p; p++)
		rc = unreserved(*p) ? rap__buf_append(&req, p, 1) : rap__buf_printf(&req, "%%%02X", *p);
	if (rc == 0)
		rc = rap__buf_printf(&req,
				     " HTTP/1.1\r\nHost: %s%s%s:%s\r\nUser-Agent: rap/%s\r\nAccept: */*\r\n"
				     "Connection: close\r\n\r\n",
				     v6 ? "[" : "", h->name, v6 ? "]" : "", h->port, RAP_VERSION_STRING);
	if (rc < 0) {
		rap__buf_free(&req);
		if (fd >= 0)
			close(fd);
		return rc;
	}
	if (fd < 0)
		rc = rap_tcp_connect(h->name, h->port, CONNECT_TIMEOUT_MS, &fd);
	if (rc == 0)
		rc = rap_send_all(fd, req.data, req.len);
	rap__buf_free(&req);
	struct rap__buf in;
	struct http_framing f;
	memset(&f, 0, sizeof(f));
	rap__buf_init(&in, (size_t)REPLY_MAX + HTTP_HEAD_MAX);
	if (rc == 0)
		rc = read_all(fd, &in, timeout_ms > 0 ? now_ms() + timeout_ms : -1, http_done, &f);
	if (fd >= 0)
		close(fd);
	/* A reset after a complete reply is the server's business, not an error. */
	if (rc == RAP_ECLOSED && in.len)
		rc = 0;
	if (rc < 0)
		goto out;
	http_done(&f, &in);
	const uint8_t *d = in.data;
	size_t len = in.len;
	const uint8_t *nl = len ? memchr(d, '\n', len) : NULL;
	size_t sl = nl ? (size_t)(nl - d) : 0;
	if (sl && d[sl - 1] == '\r')
		sl--;
	snprintf(rep->line, sizeof(rep->line), "%.*s", (int)(sl < 159 ? sl : 159), (const char *)d);
	int status = 0, used = 0;
	if (!nl || sscanf(rep->line, "HTTP/%*1[0-9].%*1[0-9] %3d%n", &status, &used) != 1 || status < 100 ||
	    (rep->line[used] && rep->line[used] != ' ')) {
		*detail = len ? "the reply is not HTTP" : "empty reply";
		rc = RAP_EPROTO;
		goto out;
	}
	rep->status = status;
	if (f.error) {
		rc = f.error;
		*detail = rc == RAP_ETOOBIG ? "header or body over the limit" : "malformed header";
		goto out;
	}
	if (!f.head) {
		*detail = "the header never ended";
		rc = RAP_EPROTO;
		goto out;
	}
	struct rap__buf body;
	rap__buf_init(&body, REPLY_MAX);
	if (f.chunked) {
		rc = http_unchunk(d + f.head, len - f.head, &body);
		if (rc == 0) {
			*detail = "the chunked body was cut short";
			rc = RAP_EPROTO;
		} else if (rc == RAP_EPROTO) {
			*detail = "malformed chunked body";
		}
		rc = rc == 1 ? 0 : rc;
	} else {
		size_t n = len - f.head;
		if (f.has_length) {
			if (n < f.length) {
				*detail = "the body was cut short";
				rc = RAP_EPROTO;
			}
			n = f.length;
		}
		if (rc == 0)
			rc = rap__buf_append(&body, d + f.head, n);
	}
	if (rc == 0) {
		rep->len = body.len;
		rep->body = rap__buf_steal_str(&body);
		if (!rep->body)
			rc = RAP_ENOMEM;
	}
	rap__buf_free(&body);
out:
	rap__buf_free(&in);
	return rc;
}

static int http_cmd(struct rap_core *c, int n, const char *cmd)
{
	struct host *h = c->remote->hosts[n];
	struct http_reply rep;
	const char *detail;
	int rc = http_get(h, -1, cmd, 0, &rep, &detail);
	if (rc < 0) {
		if (gone_error(rc))
			return host_gone(c, n, rc, detail);
		rap__core_errorf(c, "host %d (%s): %s%s%s", n, h->uri, rap_strerror(rc), detail ? ": " : "",
				 detail ? detail : "");
		return rc;
	}
	if (rep.status / 100 == 2) {
		print_output(c, rep.body, rep.len);
	} else {
		/* The first line of the body is usually the server's reason. */
		size_t bl = strcspn(rep.body, "\r\n");
		rap__core_errorf(c, "host %d (%s) answered '%s'%s%.*s", n, h->uri, rep.line, bl ? ": " : "",
				 (int)(bl < 200 ? bl : 200), rep.body);
		rc = RAP_EREMOTE;
	}
	rap__free(rep.body);
	return rc;
}

/* ---- udp ------------------------------------------------------------------------------- */

static int udp_send(struct rap_core *c, int n, const void *data, size_t len)
{
	struct host *h = c->remote->hosts[n];
	const uint8_t *p = data;
	while (len) {
		size_t k = len < UDP_CHUNK ? len : UDP_CHUNK;
		ssize_t w = send(h->fd, p, k, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0) {
			int rc = -errno;
			/* An earlier datagram found no listener (ICMP port unreachable). */
			if (gone_error(rc))
				return host_gone(c, n, rc, NULL);
			rap__core_errorf(c, "cannot send to host %d (%s): %s", n, h->uri, rap_strerror(rc));
			return rc;
		}
		p += k;
		len -= k;
	}
	return 0;
}

/* ---- running commands on hosts -------------------------------------------------------- */

static int rap_cmd(struct rap_core *c, int n, const char *cmd)
{
	struct host *h = c->remote->hosts[n];
	char *out = NULL;
	size_t len = 0;
	int status;
	int rc = rap_client_cmd_status(h->client, cmd, &out, &len, &status);
	if (rc == 0) {
		/* A failure over there fails here too; its output says why. */
		print_output(c, out, len);
		rap__free(out);
		return status == RAP_CMD_STATUS_FAILED ? RAP_EREMOTE : 0;
	}
	/* Only these leave the connection in step; everything else killed it. */
	if (rc == RAP_ETOOBIG) {
		if (!rap_client_extended(h->client) && strlen(cmd) > STOCK_CMD_MAX)
			rap__core_errorf(c, "command too long for host %d: stock servers take at most %d bytes",
					 n, STOCK_CMD_MAX);
		else
			rap__core_errorf(c, "the answer of host %d is larger than %u MiB", n, REPLY_MAX >> 20);
		return rc;
	}
	if (rc == RAP_ENOMEM || rc == RAP_EINVAL) {
		rap__core_errorf(c, "host %d: %s", n, rap_strerror(rc));
		return rc;
	}
	return host_gone(c, n, rc, rap_client_error(h->client));
}

/* Runs cmd on host n (which must exist) and prints what it answers. */
static int run_on_host(struct rap_core *c, int n, const char *cmd)
{
	struct host *h = host_usable(c, n);
	if (!h)
		return RAP_EBADFD;
	struct rap__remote *r = c->remote;
	h->stamp = ++r->clock;
	r->pos_valid = false;
	fflush(c->out);
	switch (h->proto) {
	case PROTO_RAP:
	case PROTO_RAPS:
		return rap_cmd(c, n, cmd);
	case PROTO_HTTP:
		return http_cmd(c, n, cmd);
	case PROTO_TCP:
		return tcp_cmd(c, n, cmd);
	case PROTO_UDP: {
		size_t len = strlen(cmd);
		char *line = rap__malloc(len + 1);
		if (!line)
			return oom(c);
		memcpy(line, cmd, len);
		line[len] = '\n';
		int rc = udp_send(c, n, line, len + 1);
		rap__free(line);
		return rc;
	}
	}
	return RAP_EINVAL;
}

/* ---- "=+", "=-", "=" ------------------------------------------------------------------- */

static int proto_of(const char *scheme)
{
	for (size_t i = 0; i < sizeof(proto_names) / sizeof(proto_names[0]); i++)
		if (!strcmp(scheme, proto_names[i]))
			return (int)i;
	return -1;
}

static int host_add(struct rap_core *c, const char *arg)
{
	struct rap__remote *r = c->remote;
	const char *p = skip_blanks(arg);
	/* "=+ =+ URI": radare2 users paste the command after typing "=+". */
	while (p[0] == '=' && p[1] == '+')
		p = skip_blanks(p + 2);
	if (*p == '?' && !p[1]) {
		rap__core_remote_help(c, RAP__HELP_EQ_ADD);
		return 0;
	}
	/* Already refused by the command policy; this is where it would connect. */
	if (c->served)
		return rap__core_refuse_network(c, "=+");
	if (!*p) {
		rap__core_errorf(c, "usage: =+ [proto://]host:port[/path] (see '=+?')");
		return RAP_EINVAL;
	}
	char *text = trimmed_copy(p);
	struct rap_uri *u = rap__malloc(sizeof(*u));
	struct host *h = rap__calloc(1, sizeof(*h));
	int rc = RAP_ENOMEM;
	if (h)
		h->fd = -1; /* before any goto fail: host_free closes it */
	if (!text || !u || !h) {
		oom(c);
		goto fail;
	}
	rc = rap_uri_parse(text, "rap", u);
	if (rc < 0 || strlen(u->host) >= sizeof(h->name) || strlen(u->port) >= sizeof(h->port)) {
		rap__core_errorf(c, "invalid address '%s' (expected [proto://]host:port[/path], IPv6 in brackets)", text);
		rc = RAP_EURI;
		goto fail;
	}
	int proto = proto_of(u->scheme);
	if (proto < 0) {
		rap__core_errorf(c, "unsupported protocol '%s' (use rap, raps, tcp, udp or http)", u->scheme);
		rc = RAP_ENOTSUP;
		goto fail;
	}
	if (u->listen) {
		rap__core_errorf(c, "'%s' has no host (to serve on a port, use '=:PORT')", text);
		rc = RAP_EURI;
		goto fail;
	}
	int slot = 0;
	while (slot < MAX_HOSTS && r->hosts[slot])
		slot++;
	if (slot == MAX_HOSTS) {
		rap__core_errorf(c, "the host table is full (%d hosts); remove one with '=-N'", MAX_HOSTS);
		rc = RAP_ENOSPC;
		goto fail;
	}
	h->proto = (enum proto)proto;
	memcpy(h->name, u->host, strlen(u->host) + 1);
	memcpy(h->port, u->port, strlen(u->port) + 1);
	/* The normalised spelling, so that "=" shows "rap://h:1" for "h:1". */
	size_t cap = sizeof(u->path) + sizeof(u->host) + 64;
	h->uri = rap__malloc(cap);
	if (!h->uri) {
		rc = oom(c);
		goto fail;
	}
	if (rap_uri_format(u, h->uri, cap) < 0)
		snprintf(h->uri, cap, "%s", text);
	rc = rap__core_os_gate(c, RAP__CORE_OS_CONNECT, h->uri);
	if (rc < 0) {
		connect_error(c, h->name, h->port, rc, NULL);
		goto fail;
	}
	switch (h->proto) {
	case PROTO_RAP:
	case PROTO_RAPS:
		if (u->has_path && !(h->path = rap__strdup(u->path))) {
			rc = oom(c);
			goto fail;
		}
		rc = rap_connect(c, u, true, &h->client);
		break;
	case PROTO_TCP:
		/* This connection is kept for the first command or the "=<" output: a
		 * one-connection-at-a-time peer (nc -l, radare2's =t) then never waits on an
		 * idle one of ours while we open another. */
		rc = rap_tcp_connect(h->name, h->port, CONNECT_TIMEOUT_MS, &h->fd);
		if (rc < 0) {
			connect_error(c, h->name, h->port, rc, NULL);
			break;
		}
		fprintf(c->err, "Connected to: %s at port %s\nwaiting... ok\n", h->name, h->port);
		break;
	case PROTO_UDP:
		rc = udp_connect(h->name, h->port, &h->fd);
		if (rc < 0) {
			connect_error(c, h->name, h->port, rc, NULL);
			break;
		}
		fprintf(c->err, "Connected to: %s at port %s\nwaiting... ok\n", h->name, h->port);
		break;
	case PROTO_HTTP: {
		/* Requests go to /PATH/CMD; radare2's servers answer under /cmd/. */
		size_t pl = u->has_path ? strlen(u->path) : 0;
		h->path = pl ? rap__malloc(pl + 3) : rap__strdup("/cmd/");
		if (!h->path) {
			rc = oom(c);
			goto fail;
		}
		if (pl)
			snprintf(h->path, pl + 3, "/%s%s", u->path, u->path[pl - 1] == '/' ? "" : "/");
		struct http_reply rep;
		const char *detail;
		int fd;
		rc = rap_tcp_connect(h->name, h->port, CONNECT_TIMEOUT_MS, &fd);
		if (rc < 0) {
			connect_error(c, h->name, h->port, rc, NULL);
			break;
		}
		fprintf(c->err, "Connected to: %s at port %s\nwaiting... ", h->name, h->port);
		fflush(c->err);
		rc = http_get(h, fd, "", HANDSHAKE_TIMEOUT_MS, &rep, &detail);
		if (rc < 0) {
			fputs("failed\n", c->err);
			rap__core_errorf(c, "no HTTP answer from %s:%s: %s%s%s", h->name, h->port, rap_strerror(rc),
					 detail ? ": " : "", detail ? detail : "");
			break;
		}
		fputs("ok\n", c->err);
		/* Any HTTP answer proves a server is there; the empty command may be refused. */
		if (rep.status / 100 != 2)
			fprintf(c->err, "warning: GET %s answered '%s'\n", h->path, rep.line);
		rap__free(rep.body);
		break;
	}
	}
	if (rc < 0)
		goto fail;
	h->stamp = ++r->clock;
	r->hosts[slot] = h;
	rap__free(u);
	rap__free(text);
	return 0;
fail:
	host_free(h);
	rap__free(u);
	rap__free(text);
	return rc;
}

static int host_remove(struct rap_core *c, const char *arg)
{
	struct rap__remote *r = c->remote;
	const char *p = skip_blanks(arg);
	if (*p == '?' && !p[1]) {
		rap__core_remote_help(c, RAP__HELP_EQ_REMOVE);
		return 0;
	}
	if (!*p) {
		for (int i = 0; i < MAX_HOSTS; i++) {
			host_free(r->hosts[i]);
			r->hosts[i] = NULL;
		}
		forget_modes(c, -1);
		return 0;
	}
	int n = parse_number(&p);
	if (n < 0 || *skip_blanks(p)) {
		rap__core_errorf(c, "usage: =-[N] (N is a host number from '=')");
		return RAP_EINVAL;
	}
	if (n >= MAX_HOSTS || !r->hosts[n]) {
		host_usable(c, n); /* prints the "unknown host" error */
		return RAP_EBADFD;
	}
	host_free(r->hosts[n]);
	r->hosts[n] = NULL;
	forget_modes(c, n);
	return 0;
}

static void json_string(FILE *f, const char *s)
{
	fputc('"', f);
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p == '"' || *p == '\\')
			fprintf(f, "\\%c", *p);
		else if (*p < 0x20)
			fprintf(f, "\\u%04x", *p);
		else
			fputc(*p, f);
	}
	fputc('"', f);
}

static int host_list(struct rap_core *c, bool json)
{
	struct rap__remote *r = c->remote;
	if (json)
		fputc('[', c->out);
	bool first = true;
	for (int i = 0; r && i < MAX_HOSTS; i++) {
		const struct host *h = r->hosts[i];
		if (!h)
			continue;
		if (!json) {
			fprintf(c->out, "%d - %s", i, h->uri);
			if (h->dead)
				fprintf(c->out, " (dead: %s)", h->why);
			fputc('\n', c->out);
			continue;
		}
		fprintf(c->out, "%s{\"fd\":%d,\"protocol\":\"%s\",\"host\":", first ? "" : ",", i, proto_names[h->proto]);
		json_string(c->out, h->name);
		fprintf(c->out, ",\"port\":%s,\"file\":", h->port);
		json_string(c->out, h->path && h->proto != PROTO_HTTP ? h->path : "");
		fprintf(c->out, ",\"uri\":");
		json_string(c->out, h->uri);
		fprintf(c->out, ",\"alive\":%s", h->dead ? "false" : "true");
		if (h->dead) {
			fprintf(c->out, ",\"error\":");
			json_string(c->out, h->why);
		}
		fputc('}', c->out);
		first = false;
	}
	if (json) {
		fputs("]\n", c->out);
		return 0;
	}
	rap__core_servers_list(c);
	return 0;
}

/* ---- "=<" ------------------------------------------------------------------------------ */

/* A FILE that appends to a capped rap__buf, so captured output is bounded and allocated
 * like everything else of the library. */
static ssize_t buf_write(void *cookie, const char *data, size_t len)
{
	return rap__buf_append(cookie, data, len) < 0 ? -1 : (ssize_t)len;
}

/* Runs cmd here and collects its raw output (NUL bytes included, so "pr" arrives intact)
 * in b. Errors go to the error stream as they happen. */
static int capture(struct rap_core *c, const char *cmd, struct rap__buf *b)
{
	cookie_io_functions_t io = { .write = buf_write };
	FILE *mem = fopencookie(b, "w", io);
	if (!mem)
		return oom(c);
	FILE *saved = c->out;
	c->out = mem;
	c->remote->local++;
	int rc = rap_core_cmd(c, cmd);
	c->remote->local--;
	c->out = saved;
	bool lost = ferror(mem);
	if (fclose(mem) != 0)
		lost = true;
	if (lost) {
		rap__core_errorf(c, "the output of '%s' is larger than %u MiB or memory ran out", cmd, REPLY_MAX >> 20);
		return RAP_ETOOBIG;
	}
	return rc;
}

static int push_output(struct rap_core *c, const char *arg)
{
	const char *p = skip_blanks(arg);
	if (*p == '?' && !p[1]) {
		rap__core_remote_help(c, RAP__HELP_EQ_PUSH);
		return 0;
	}
	const char *q = p;
	int n = parse_number(&q);
	if (n >= 0 && (rap__core_blank(*q) || !*q))
		p = skip_blanks(q);
	else
		n = need_current(c);
	if (n < 0)
		return RAP_EBADFD;
	if (!*p) {
		rap__core_errorf(c, "usage: =<[N] cmd (see '=<?')");
		return RAP_EINVAL;
	}
	struct host *h = host_usable(c, n);
	if (!h)
		return RAP_EBADFD;
	if (h->proto != PROTO_TCP && h->proto != PROTO_UDP) {
		rap__core_errorf(c, "=< needs a tcp or udp connection (host %d is %s)", n, proto_names[h->proto]);
		return RAP_ENOTSUP;
	}
	h->stamp = ++c->remote->clock;
	struct rap__buf b;
	rap__buf_init(&b, REPLY_MAX);
	int rc = capture(c, p, &b);
	if (rc == RAP_ETOOBIG || rc == RAP_ENOMEM) {
		rap__buf_free(&b);
		return rc;
	}
	const char *out = (const char *)b.data;
	size_t len = b.len;
	int src = 0;
	if (len && h->proto == PROTO_UDP) {
		src = udp_send(c, n, out, len);
	} else if (len) {
		int fd = -1;
		bool kept;
		src = tcp_take(h, &fd, &kept);
		if (src == 0) {
			src = rap_send_all(fd, out, len);
			if (kept && gone_error(src)) {
				/* Dropped while idle, as for commands: a new connection decides. */
				close(fd);
				src = rap_tcp_connect(h->name, h->port, CONNECT_TIMEOUT_MS, &fd);
				if (src == 0)
					src = rap_send_all(fd, out, len);
			}
		}
		if (src == 0)
			h->fd = fd; /* kept for the next "=<": a sink like nc -l prints one stream */
		else if (fd >= 0)
			close(fd);
		if (src < 0 && gone_error(src))
			host_gone(c, n, src, NULL);
		else if (src < 0)
			rap__core_errorf(c, "cannot send to host %d (%s): %s", n, h->uri, rap_strerror(src));
	}
	rap__buf_free(&b);
	return rc < 0 ? rc : src;
}

/* ---- "==", "=!=", "!=!" ----------------------------------------------------------------- */

static int start_session(struct rap_core *c, const char *arg)
{
	const char *p = skip_blanks(arg);
	if (*p == '?' && !p[1]) {
		rap__core_remote_help(c, RAP__HELP_EQ_SESSION);
		return 0;
	}
	int n = *p ? parse_number(&p) : need_current(c);
	if (n < 0 || *skip_blanks(p)) {
		if (*p)
			rap__core_errorf(c, "usage: ==[N] (N is a host number from '=')");
		return RAP_EINVAL;
	}
	struct host *h = host_usable(c, n);
	if (!h)
		return RAP_EBADFD;
	h->stamp = ++c->remote->clock;
	c->remote->session = n;
	return 0;
}

static bool io_has_system(struct rap_core *c)
{
	const struct rap_io_plugin *pl = c->fd >= 0 ? rap_io_fd_plugin(c->io, c->fd) : NULL;
	return pl && pl->system;
}

static int mode_on(struct rap_core *c, const char *arg)
{
	struct rap__remote *r = c->remote;
	const char *p = skip_blanks(arg);
	if (*p == '?' && !p[1]) {
		rap__core_remote_help(c, RAP__HELP_EQ_MODE);
		return 0;
	}
	if (!*p) {
		if (!io_has_system(c)) {
			rap__core_errorf(c, "the current file runs no commands (open a rap:// URI, or use '=!=N' with a host)");
			return RAP_ENOTSUP;
		}
		r->mode = MODE_IO;
		r->pos_valid = false;
		return 0;
	}
	int n = parse_number(&p);
	if (n < 0 || *skip_blanks(p)) {
		rap__core_errorf(c, "usage: =!=[N] (N is a host number from '=')");
		return RAP_EINVAL;
	}
	struct host *h = host_usable(c, n);
	if (!h)
		return RAP_EBADFD;
	h->stamp = ++r->clock;
	r->mode = MODE_HOST;
	r->mode_host = n;
	r->pos_valid = false;
	return 0;
}

static int mode_off(struct rap_core *c)
{
	if (c->remote) {
		c->remote->mode = MODE_OFF;
		c->remote->pos_valid = false;
	}
	return 0;
}

static int io_line(struct rap_core *c, const char *line)
{
	if (c->fd < 0) {
		rap__core_errorf(c, "no file is open (remote-command mode sends lines through the current file; '!=!' leaves it)");
		return RAP_EBADFD;
	}
	char *out = NULL;
	fflush(c->out);
	int rc = rap_io_system(c->io, c->fd, line, &out);
	if (rc == RAP_ENOTSUP)
		rap__core_errorf(c, "the current file runs no commands ('!=!' leaves remote-command mode)");
	else if (rc < 0 && rc != RAP_EREMOTE) /* EREMOTE: it failed there, and out says why */
		rap__core_errorf(c, "remote command failed: %s", rap_strerror(rc));
	else if (out)
		print_output(c, out, strlen(out));
	rap__free(out);
	return rc;
}

/* ---- "=:HOST:PORT CMD" ------------------------------------------------------------------ */

/* Runs cmd once on a rap server (=:HOST:PORT, =r [HOST:]PORT) or a TCP command server
 * (=t [HOST:]PORT) at addr and prints the answer. A bare port means this machine. */
int rap__core_remote_query(struct rap_core *c, const char *spelling, bool tcp, const char *addr,
			   const char *cmd)
{
	/* Already refused by the command policy; this is where it would connect. */
	if (c->served)
		return rap__core_refuse_network(c, spelling);
	bool bare_port = *addr && strspn(addr, "0123456789") == strlen(addr);
	size_t wl = strlen(addr) + sizeof("localhost:");
	char *word = rap__malloc(wl);
	struct rap_uri *u = rap__malloc(sizeof(*u));
	int rc = RAP_ENOMEM;
	if (!word || !u) {
		oom(c);
		goto out;
	}
	snprintf(word, wl, "%s%s", bare_port ? "localhost:" : "", addr);
	rc = rap_uri_parse(word, tcp ? "tcp" : "rap", u);
	if (rc == 0 && (u->listen || !*u->port ||
			(tcp ? strcmp(u->scheme, "tcp") != 0 : strcmp(u->scheme, "rap") && strcmp(u->scheme, "raps"))))
		rc = RAP_EURI;
	if (rc < 0) {
		rap__core_errorf(c, "invalid %s address '%s' (expected %s [HOST:]PORT CMD, IPv6 in brackets)",
				 tcp ? "tcp" : "rap", addr, spelling);
		rc = RAP_EURI;
		goto out;
	}
	if (!*cmd) {
		if (strcmp(spelling, "=:") == 0)
			rap__core_errorf(c, "usage: =:HOST:PORT CMD (=:PORT alone starts a server)");
		else
			rap__core_errorf(c, "usage: %s [HOST:]PORT CMD (%s PORT alone starts a server)", spelling,
					 spelling);
		rc = RAP_EINVAL;
		goto out;
	}
	rc = rap__core_os_gate(c, RAP__CORE_OS_CONNECT, word);
	if (rc < 0) {
		connect_error(c, u->host, u->port, rc, NULL);
		goto out;
	}
	fflush(c->out);
	if (tcp) {
		int fd;
		rc = rap_tcp_connect(u->host, u->port, CONNECT_TIMEOUT_MS, &fd);
		if (rc < 0) {
			connect_error(c, u->host, u->port, rc, NULL);
			goto out;
		}
		struct rap__buf b;
		rap__buf_init(&b, REPLY_MAX);
		rc = tcp_exchange(fd, cmd, &b);
		if (rc == 0)
			print_output(c, (const char *)b.data, b.len);
		else
			rap__core_errorf(c, "%s:%s: %s", u->host, u->port, rap_strerror(rc));
		rap__buf_free(&b);
		goto out;
	}
	struct rap_client *cl;
	rc = rap_connect(c, u, false, &cl);
	if (rc < 0)
		goto out;
	char *text = NULL;
	size_t len = 0;
	int status;
	rc = rap_client_cmd_status(cl, cmd, &text, &len, &status);
	if (rc == 0) {
		print_output(c, text, len);
		if (status == RAP_CMD_STATUS_FAILED)
			rc = RAP_EREMOTE;
	} else
		rap__core_errorf(c, "%s:%s: %s", u->host, u->port, rap_strerror(rc));
	rap__free(text);
	rap_client_free(cl);
out:
	rap__free(u);
	rap__free(word);
	return rc;
}

/* "=:HOST:PORT CMD". */
static int one_shot(struct rap_core *c, const char *arg)
{
	const char *p = skip_blanks(arg);
	size_t wl = strcspn(p, " \t");
	char *word = rap__strndup(p, wl);
	if (!word)
		return oom(c);
	int rc = rap__core_remote_query(c, "=:", false, word, skip_blanks(p + wl));
	rap__free(word);
	return rc;
}

/* "=:" followed by a port number, nothing, or '?' is a server command. */
static bool colon_is_server(const char *rest)
{
	rest = skip_blanks(rest);
	if (!*rest || *rest == '?')
		return true;
	size_t n = 0;
	while (isdigit((unsigned char)rest[n]))
		n++;
	return n && !*skip_blanks(rest + n);
}

/* ---- entry points --------------------------------------------------------------------- */

/* "?" alone after the command word: the help page. */
static bool just_help(const char *rest)
{
	rest = skip_blanks(rest);
	return rest[0] == '?' && !rest[1];
}

/* Follows rap__core_cmd_remote's dispatch (and rap__core_cmd_server's, which treats any text
 * ending in '?' as a help request): true only for what reaches nothing over the network. */
bool rap__core_remote_stays_local(const char *text)
{
	const char *t = skip_blanks(text);
	size_t tl = strlen(t);
	while (tl && rap__core_blank(t[tl - 1]))
		tl--;
	bool server_help = tl && t[tl - 1] == '?';
	if (t[0] == '.' && t[1] == ':')
		return server_help;
	if (!strncmp(t, "!=!", 3))
		return true; /* remote-command mode off, or its help */
	if (t[0] != '=')
		return true; /* "unknown command" */
	const char *p = t + 1;
	switch (*p) {
	case '\0': /* the host list */
	case '?':  /* help */
	case 'j':  /* the host list as JSON */
	case '-':  /* closing hosts */
		return true;
	case '+':
	case '<':
	case '=':
		return just_help(p + 1);
	case '!':
		/* "=!=N" is remote-command mode with host N; "=!=" alone goes through the current
		 * file, as "=!CMD" does: that file's own channel, no new connection. */
		return p[1] != '=' || !*skip_blanks(p + 2) || just_help(p + 2);
	case ':':
		return colon_is_server(p + 1) ? server_help : false;
	case '&':
	case 'r':
	case 't':
	case 'h':
	case 'H':
	case 'g':
		return server_help;
	default:
		/* "=N CMD", "= CMD": run on a host; anything else is "unknown command". */
		return !(isdigit((unsigned char)*p) || rap__core_blank(*p));
	}
}

int rap__core_cmd_remote(struct rap_core *c, char *text)
{
	const char *t = skip_blanks(text);
	if (t[0] == '.' && t[1] == ':')
		return rap__core_cmd_server(c, text);
	if (!remote_get(c))
		return oom(c);
	if (!strncmp(t, "!=!", 3)) {
		if (t[3] == '?') {
			rap__core_remote_help(c, RAP__HELP_EQ_MODE);
			return 0;
		}
		return mode_off(c);
	}
	if (t[0] != '=') {
		rap__core_errorf(c, "unknown command '%s' (see '=?')", t);
		return RAP_ENOTSUP;
	}
	const char *p = t + 1;
	switch (*p) {
	case '\0':
		return host_list(c, false);
	case '?':
		rap__core_remote_help(c, RAP__HELP_EQ);
		return 0;
	case 'j':
		if (!p[1])
			return host_list(c, true);
		break;
	case '+':
		return host_add(c, p + 1);
	case '-':
		return host_remove(c, p + 1);
	case '<':
		return push_output(c, p + 1);
	case '=':
		return start_session(c, p + 1);
	case '!':
		if (p[1] == '=')
			return mode_on(c, p + 2);
		if (p[1] == '?') {
			rap__core_remote_help(c, RAP__HELP_EQ_IO);
			return 0;
		}
		return io_line(c, skip_blanks(p + 1));
	case ':':
		if (colon_is_server(p + 1))
			return rap__core_cmd_server(c, text);
		return one_shot(c, p + 1);
	case '&':
	case 'r':
	case 't':
	case 'h':
	case 'H':
	case 'g':
		return rap__core_cmd_server(c, text);
	case ' ':
	case '\t': {
		int n = need_current(c);
		if (n < 0)
			return RAP_EBADFD;
		const char *cmd = skip_blanks(p);
		if (!*cmd) {
			rap__core_errorf(c, "usage: =[N] cmd (see '=?')");
			return RAP_EINVAL;
		}
		return run_on_host(c, n, cmd);
	}
	default:
		if (isdigit((unsigned char)*p)) {
			const char *q = p;
			int n = parse_number(&q);
			if (*q && !rap__core_blank(*q))
				break;
			const char *cmd = skip_blanks(q);
			/* radare2 passes NULL on and crashes here. */
			if (!*cmd) {
				rap__core_errorf(c, "usage: =%.*s cmd (run cmd on host %.*s; see '=?')",
						 (int)(q - p), p, (int)(q - p), p);
				return RAP_EINVAL;
			}
			return run_on_host(c, n, cmd);
		}
		break;
	}
	rap__core_errorf(c, "unknown command '%s' (to run it on the last host: '= %s'; see '=?')", t, t + 1);
	return RAP_ENOTSUP;
}

bool rap__core_remote_routes(const struct rap_core *c, const char *line)
{
	const struct rap__remote *r = c->remote;
	if (!r || r->local)
		return false;
	if (r->session >= 0)
		return true;
	if (r->mode == MODE_OFF)
		return false;
	const char *p = skip_blanks(line);
	if (!*p || *p == '=' || (p[0] == '!' && p[1] == '='))
		return false;
	return true;
}

int rap__core_remote_line(struct rap_core *c, const char *line)
{
	struct rap__remote *r = c->remote;
	char *text = trimmed_copy(line);
	if (!text)
		return oom(c);
	int rc = 0;
	if (r->session >= 0) {
		if (!strcmp(text, "q"))
			r->session = -1;
		else if (*text)
			rc = run_on_host(c, r->session, text);
	} else if (text[0] == 'q') {
		mode_off(c);
	} else if (r->mode == MODE_HOST) {
		rc = run_on_host(c, r->mode_host, text);
	} else if (r->mode == MODE_IO && *text) {
		r->pos_valid = false;
		rc = io_line(c, text);
	}
	rap__free(text);
	fflush(c->out);
	return rc;
}

/* The position the remote side reports for "s", cached until the next routed line. Only
 * rap hosts and files answer it cheaply (one CMD on a live connection). */
static bool remote_position(const struct rap_core *c, uint64_t *pos)
{
	struct rap__remote *r = c->remote;
	if (r->pos_valid) {
		*pos = r->pos;
		return true;
	}
	char *out = NULL;
	int rc = RAP_ENOTSUP;
	if (r->mode == MODE_HOST) {
		struct host *h = r->hosts[r->mode_host];
		if (h && !h->dead && h->client)
			rc = rap_client_cmd(h->client, "s", &out, NULL);
	} else if (r->mode == MODE_IO && c->fd >= 0) {
		rc = rap_io_system(c->io, c->fd, "s", &out);
	}
	bool ok = false;
	if (rc == 0 && out) {
		const char *s = skip_blanks(out);
		char *end;
		errno = 0;
		unsigned long long v = strtoull(s, &end, 16);
		if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X') && !errno && end > s + 2 && *skip_blanks(end) == '\0') {
			r->pos = v;
			r->pos_valid = ok = true;
			*pos = v;
		}
	}
	rap__free(out);
	return ok;
}

size_t rap__core_remote_prompt(const struct rap_core *c, char *buf, size_t cap)
{
	const struct rap__remote *r = c->remote;
	if (!r || !cap)
		return 0;
	int n;
	if (r->session >= 0) {
		n = snprintf(buf, cap, "fd:%d> ", r->session);
	} else if (r->mode != MODE_OFF) {
		uint64_t pos;
		if (!remote_position(c, &pos))
			pos = c->off;
		n = snprintf(buf, cap, "[=!0x%08" PRIx64 "]> ", pos);
	} else {
		return 0;
	}
	if (n < 0) {
		buf[0] = '\0';
		return 0;
	}
	return (size_t)n < cap ? (size_t)n : cap - 1;
}

void rap__core_remote_free(struct rap_core *c)
{
	if (!c->remote)
		return;
	for (int i = 0; i < MAX_HOSTS; i++)
		host_free(c->remote->hosts[i]);
	rap__free(c->remote);
	c->remote = NULL;
}

static void remote_free_all(struct rap_core *c)
{
	rap__core_servers_free(c);
	rap__core_remote_free(c);
}

const struct rap__core_remote_ops rap__core_remote_ops = {
	.cmd = rap__core_cmd_remote,
	.routes = rap__core_remote_routes,
	.line = rap__core_remote_line,
	.prompt = rap__core_remote_prompt,
	.free = remote_free_all,
};
