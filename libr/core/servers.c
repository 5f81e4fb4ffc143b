/* Servers started from the prompt: "=:PORT" (RAP), ".:PORT"/"=t PORT" (one command line
 * per connection) and "=h PORT" (HTTP), in the foreground or in the background. This file
 * reads their commands, starts, lists and stops them, and runs a foreground one; servers.h
 * lists the files that do the rest.
 *
 * Threading. A foreground server runs a rap_loop in the calling thread until SIGINT (read
 * from a signalfd, the previous signal mask restored afterwards). Background servers run
 * on a thread of their own (servers_thread.c). Either way every server works on cores made
 * with rap__core_new_shared, which see the user's open files through the core's rap_io
 * (which has its own lock) but keep their own current file, position and block size, so
 * no client ever moves the user's position.
 *
 * Policy. Commands from any of these servers run under "e srv.cmd" and "e srv.shell", read
 * when the server starts and clamped to the starting core's own level (a server is never
 * more permissive than the core that started it); every core a server runs commands on is
 * served (policy.c: no servers, no connections, no policy raised from there). What a RAP
 * client may open, write and close besides is servers_rap.c's. A client's command line stops
 * once its output passes 64 MiB (RAP, and a streamed HTTP command) or 16 MiB (TCP, HTTP). */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <rap/core.h>
#include <rap/loop.h>
#include <rap/tls.h>

#include "common.h"
#include "core_private.h"
#include "servers.h"

const char *const rap__srv_kind_name[] = { "rap", "tcp", "http", "gdb" };

const char *rap__srv_scheme(const struct rap__srv *s)
{
	return s->tls ? "https" : rap__srv_kind_name[s->kind];
}

/* ---- small helpers -------------------------------------------------------------------- */

/* Decimal 0..65535 and nothing else. */
static int parse_port(const char *s)
{
	if (!*s || strlen(s) > 5)
		return -1;
	long v = 0;
	for (const char *p = s; *p; p++) {
		if (!isdigit((unsigned char)*p))
			return -1;
		v = v * 10 + (*p - '0');
	}
	return v <= 65535 ? (int)v : -1;
}

void rap__srv_logf(struct rap__srv *s, const char *fmt, ...)
{
	if (!s->log)
		return;
	/* As text: a client's newline would forge a log line, its escape sequences reach the
	 * operator's terminal; control characters show as dots. Longer lines are cut. */
	char line[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	for (char *p = line; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '.';
	fprintf(s->log, "%s: %s\n", rap__srv_kind_name[s->kind], line);
	fflush(s->log);
}

/* Reads the "user:password" an HTTP server asks for (e http.auth) from path: a regular
 * file of this user's (or root's) that neither group nor others may read or write, its
 * first line, of at most AUTH_MAX bytes, with a colon after a non-empty user name. *out:
 * heap text (rap__free). Reports errors on c. Errors: -errno, RAP_ENOTREG, RAP_EDENIED,
 * RAP_EINVAL, RAP_ENOMEM. */
#define AUTH_MAX 255
static int load_auth(struct rap_core *c, const char *path, char **out)
{
	*out = NULL;
	int rc = rap__core_os_gate(c, RAP__CORE_OS_FILE, path);
	int fd = rc < 0 ? rc : open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0) {
		rc = rc < 0 ? rc : -errno;
		rap__core_errorf(c, "http.auth file %s: %s", path, rap_strerror(rc));
		return rc;
	}
	struct stat st;
	char buf[AUTH_MAX + 2];
	ssize_t n = 0;
	if (fstat(fd, &st) < 0) {
		rc = -errno;
		rap__core_errorf(c, "http.auth file %s: %s", path, rap_strerror(rc));
	} else if (!S_ISREG(st.st_mode)) {
		rc = RAP_ENOTREG;
		rap__core_errorf(c, "http.auth file %s is not a regular file", path);
	} else if (st.st_mode & (S_IRWXG | S_IRWXO)) {
		rc = RAP_EDENIED;
		rap__core_errorf(c, "http.auth file %s is accessible by group or others (mode %04o): chmod 600 it", path,
				 (unsigned)(st.st_mode & 07777));
	} else if (st.st_uid != geteuid() && st.st_uid != 0) {
		rc = RAP_EDENIED;
		rap__core_errorf(c, "http.auth file %s belongs to another user (uid %u)", path, (unsigned)st.st_uid);
	} else {
		/* A regular file never blocks; one read may still come short (bounded). */
		for (int i = 0; i < 8 && (size_t)n < sizeof(buf); i++) {
			ssize_t k = read(fd, buf + n, sizeof(buf) - (size_t)n);
			if (k < 0 && errno == EINTR)
				continue;
			if (k <= 0) {
				rc = k < 0 ? -errno : 0;
				break;
			}
			n += k;
		}
		if (rc < 0)
			rap__core_errorf(c, "http.auth file %s: %s", path, rap_strerror(rc));
	}
	close(fd);
	size_t len = 0;
	if (rc == 0) {
		const char *nl = memchr(buf, '\n', (size_t)n);
		len = nl ? (size_t)(nl - buf) : (size_t)n;
		if (len && buf[len - 1] == '\r')
			len--;
		const char *colon = len <= AUTH_MAX ? memchr(buf, ':', len) : NULL;
		if (!colon || colon == buf || memchr(buf, '\0', len) || memchr(buf, '\r', len)) {
			rc = RAP_EINVAL;
			rap__core_errorf(c, "http.auth file %s must hold one line user:password (at most %d bytes)", path,
					 AUTH_MAX);
		}
	}
	if (rc == 0) {
		*out = rap__strndup(buf, len);
		if (!*out) {
			rc = RAP_ENOMEM;
			rap__core_errorf(c, "out of memory");
		}
	}
	memset(buf, 0, sizeof(buf));
	return rc;
}

/* ---- a server's life ------------------------------------------------------------------ */

int rap__srv_attach(struct rap__srv *s, struct rap_loop *loop)
{
	s->loop = loop;
	if (s->kind == RAP__SRV_GDB)
		return rap__srv_gdb_attach(s);
	return s->kind == RAP__SRV_RAP ? rap__srv_rap_attach(s) : rap__srv_conn_attach(s);
}

void rap__srv_detach(struct rap__srv *s)
{
	if (!s->loop)
		return;
	rap__srv_rap_detach(s);
	rap__srv_conn_detach(s);
	rap__srv_gdb_detach(s);
	s->loop = NULL;
}

void rap__srv_free(struct rap__srv *s)
{
	if (!s)
		return;
	rap__srv_detach(s);
	rap__srv_close_listeners(s);
	rap__srv_gdb_free(s->gdb);
	rap_core_free(s->tmpl);
	rap_tls_config_free(s->tls);
	if (s->auth) {
		memset(s->auth, 0, strlen(s->auth));
		rap__free(s->auth);
	}
	rap__free(s);
}

/* ---- foreground ------------------------------------------------------------------------ */

/* Once the server runs: its addresses (tests and scripts read the real port from the
 * first line), and the browser for =H. */
static void announce(struct rap_core *c, struct rap__srv *s)
{
	char addrs[sizeof(s->addrs)];
	snprintf(addrs, sizeof(addrs), "%s", s->addrs);
	char *save = NULL;
	for (char *a = strtok_r(addrs, ", ", &save); a; a = strtok_r(NULL, ", ", &save))
		fprintf(c->out, "listening on %s://%s%s\n", rap__srv_scheme(s), a,
			s->kind == RAP__SRV_HTTP ? "/" : "");
	if (s->browser && !rap__core_open_browser(s->url))
		fprintf(c->out, "open %s in a web browser\n", s->url);
	if (s->kind == RAP__SRV_GDB)
		fprintf(c->out, "debugging %s for each gdb that connects: (gdb) target remote %s\n",
			rap__srv_gdb_program(s->gdb), s->url + strlen("gdb://"));
	fflush(c->out);
}

static void on_sigint(struct rap_loop *loop, int signo, void *user)
{
	struct rap__srv *s = user;
	s->stop_requested = true;
}

static int run_foreground(struct rap_core *c, struct rap__srv *s)
{
	sigset_t old, intset;
	pthread_sigmask(SIG_SETMASK, NULL, &old);
	sigemptyset(&intset);
	sigaddset(&intset, SIGINT);
	struct rap_loop *loop;
	int rc = rap_loop_new(&loop);
	if (rc < 0)
		return rc;
	rc = rap_loop_add_signal(loop, SIGINT, on_sigint, s);
	if (rc == 0)
		rc = rap__srv_attach(s, loop);
	if (rc == 0) {
		announce(c, s);
		fputs("press Ctrl-C to stop the server\n", c->err);
		fflush(c->err);
		/* Bounded by SIGINT (or, for rap.loop=false, the first client's end). */
		while (!s->stop_requested) {
			int n = rap_loop_run_once(loop, -1);
			if (n < 0 && n != -EINTR) {
				rc = n;
				break;
			}
		}
	}
	rap__srv_detach(s);
	/* A second Ctrl-C that arrived after the first was read must not reach the
	 * default action once the mask is restored. */
	struct timespec zero = { 0, 0 };
	for (int i = 0; i < 8 && sigtimedwait(&intset, NULL, &zero) == SIGINT; i++)
		;
	rap_loop_free(loop);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc == 0)
		fprintf(c->err, "%s server stopped\n", rap__srv_kind_name[s->kind]);
	return rc;
}

/* ---- commands ----------------------------------------------------------------------------- */

/* prog: for the gdbserver, "FILE [ARGS]" (modified); NULL for the others. */
static int start_server(struct rap_core *c, enum rap__srv_kind kind, bool background, bool browser,
			const char *portarg, char *prog)
{
	int port;
	if (!portarg || !*portarg) {
		const char *def = kind == RAP__SRV_HTTP ? rap_core_config_get(c, "http.port") : NULL;
		if (!def) {
			rap__core_errorf(c, "missing port (see '=%s?')",
					 kind == RAP__SRV_TCP ? "t" : kind == RAP__SRV_GDB ? "g" : ":");
			return RAP_EINVAL;
		}
		portarg = def;
	}
	port = parse_port(portarg);
	if (port < 0) {
		rap__core_errorf(c, "invalid port '%s' (0 .. 65535; 0 lets the system choose)", portarg);
		return RAP_EINVAL;
	}
	struct rap__srv *s = rap__calloc(1, sizeof(*s));
	if (!s) {
		rap__core_errorf(c, "out of memory");
		return RAP_ENOMEM;
	}
	s->kind = kind;
	s->background = background;
	s->browser = browser;
	s->policy = RAP_CORE_POLICY_READ;
	(void)rap__core_policy_parse(rap_core_config_get(c, "srv.cmd"), &s->policy);
	if (s->policy > c->policy)
		s->policy = c->policy;
	const char *sh = rap_core_config_get(c, "srv.shell");
	s->shell = sh && !strcmp(sh, "true") && c->allow_shell;
	const char *loop = rap_core_config_get(c, "rap.loop");
	s->once = kind == RAP__SRV_RAP && !background && loop && !strcmp(loop, "false");
	s->log = background ? NULL : c->err;
	int rc = 0;
	if (kind == RAP__SRV_HTTP || kind == RAP__SRV_TCP) {
		/* What the web console's page proves its origin with (servers_http.c). */
		rc = rap__http_token_new(s->token);
		if (rc < 0) {
			rap__core_errorf(c, "cannot make the server's token: %s", rap_strerror(rc));
			rap__srv_free(s);
			return rc;
		}
	}
	rc = rap__core_new_shared(c, &s->tmpl);
	if (rc == 0) {
		rap_core_set_policy(s->tmpl, s->policy);
		rap_core_set_allow_shell(s->tmpl, s->shell);
		/* Its clients are on the network: the served mark, which also confines their
		 * local files (> FILE, wtf, wff) to the IO's policy; RAP sessions' cores are
		 * made from tmpl and keep it. */
		rap_core_set_served(s->tmpl);
		/* RAP sessions' cores are made from tmpl and keep its cap. */
		rap_core_set_output_max(s->tmpl,
					kind == RAP__SRV_RAP ? RAP__SRV_RAP_OUTPUT_MAX : RAP__SRV_TEXT_OUTPUT_MAX);
	} else {
		rap__core_errorf(c, "out of memory");
		rap__srv_free(s);
		return rc;
	}
	const char *cert = kind == RAP__SRV_HTTP ? rap_core_config_get(c, "http.cert") : NULL;
	if (cert && *cert) {
		/* https: the certificate is read now, so a bad one stops the start. */
		const char *key = rap_core_config_get(c, "http.key");
		rc = rap__core_os_gate(c, RAP__CORE_OS_FILE, cert);
		if (rc == 0)
			rc = rap_tls_config_new(true, &s->tls);
		if (rc == 0)
			rc = rap_tls_config_set_cert(s->tls, cert, key && *key ? key : NULL);
		if (rc < 0) {
			if (rc == RAP_ENOTSUP)
				rap__core_errorf(c, "https (e http.cert) needs a build with OpenSSL");
			else
				rap__core_errorf(c, "http.cert: %s", s->tls ? rap_tls_config_error(s->tls) : rap_strerror(rc));
			rap__srv_free(s);
			return rc;
		}
	}
	const char *auth = kind == RAP__SRV_HTTP ? rap_core_config_get(c, "http.auth") : NULL;
	if (auth && *auth) {
		rc = load_auth(c, auth, &s->auth);
		if (rc < 0) {
			rap__srv_free(s);
			return rc;
		}
	}
	if (kind == RAP__SRV_GDB) {
		rc = rap__srv_gdb_new(c, prog, &s->gdb);
		if (rc < 0) {
			rap__srv_free(s);
			return rc;
		}
	}
	/* The gdbserver listens on loopback only: a debugger's client can run anything. */
	const char *var = kind == RAP__SRV_RAP ? "rap.bind" : kind == RAP__SRV_TCP ? "tcp.bind" : "http.bind";
	const char *bind = kind == RAP__SRV_GDB ? "localhost" : rap_core_config_get(c, var);
	char err[300];
	rc = rap__core_os_gate(c, RAP__CORE_OS_LISTEN, bind ? bind : "localhost");
	if (rc < 0)
		snprintf(err, sizeof(err), "cannot listen on port %d: %s", port, rap_strerror(rc));
	else
		rc = rap__srv_listen(s, bind ? bind : "localhost", port, err, sizeof(err));
	if (rc < 0) {
		rap__core_errorf(c, "%s", err);
		rap__srv_free(s);
		return rc;
	}
	if (!background) {
		rc = run_foreground(c, s);
		if (rc < 0)
			rap__core_errorf(c, "%s server: %s", rap__srv_kind_name[kind], rap_strerror(rc));
		rap__srv_free(s);
		return rc;
	}
	rc = rap__srv_bg_start(c, s);
	if (rc < 0) {
		rap__core_errorf(c, "cannot start the %s server: %s", rap__srv_kind_name[kind], rap_strerror(rc));
		rap__srv_free(s);
		return rc;
	}
	announce(c, s);
	return 0;
}

/* Stops background servers: of one kind (kind >= 0), on one port (port >= 0), or all. */
static int stop_servers(struct rap_core *c, int kind, int port)
{
	size_t stopped = 0;
	/* Each pass removes one server or ends the loop. */
	for (;;) {
		struct rap__srv *s = rap__srv_bg_list(c);
		while (s && !((kind < 0 || (int)s->kind == kind) && (port < 0 || s->port == port)))
			s = s->next;
		if (!s)
			break;
		rap__srv_bg_stop(c, s);
		stopped++;
	}
	if (!stopped && port >= 0) {
		rap__core_errorf(c, "no background server on port %d (see '=')", port);
		return RAP_EINVAL;
	}
	return 0;
}

void rap__core_servers_list(struct rap_core *c)
{
	struct rap__srv *list = rap__srv_bg_list(c);
	/* Oldest first, like the host table. */
	size_t n = 0;
	for (struct rap__srv *s = list; s; s = s->next)
		n++;
	for (size_t i = n; i-- > 0;) {
		struct rap__srv *s = list;
		for (size_t k = 0; k < i; k++)
			s = s->next;
		static const char *const policy[] = { "none", "read", "write", "all" };
		if (s->kind == RAP__SRV_GDB) {
			fprintf(c->out, "gdb server on %s (background, debugging %s)\n", s->addrs,
				rap__srv_gdb_program(s->gdb));
			continue;
		}
		fprintf(c->out, "%s server on %s (background, srv.cmd=%s%s)\n", rap__srv_kind_name[s->kind],
			s->addrs, policy[s->policy], s->shell ? ", srv.shell=true" : "");
	}
}

size_t rap_core_background_servers(const struct rap_core *c)
{
	size_t n = 0;
	for (struct rap__srv *s = rap__srv_bg_list(c); s; s = s->next)
		n++;
	return n;
}

/* The port argument after a command word: "=t 4000", "=t4000" and "=t  4000" alike.
 * Returns NULL when there is more than one word. */
static const char *port_word(char *rest)
{
	rest = rap__core_trim(rest);
	return strpbrk(rest, " \t") ? NULL : rest;
}

int rap__core_cmd_server(struct rap_core *c, char *text)
{
	char *t = rap__core_trim(text);
	/* Help first: "=h?" must never start a server (radare2 issue 9526). */
	size_t tl = strlen(t);
	if (tl && t[tl - 1] == '?') {
		if (!strncmp(t, "=g", 2))
			rap__core_remote_help(c, RAP__HELP_EQ_GDB);
		else if (!strncmp(t, "=&", 2))
			rap__core_remote_help(c, RAP__HELP_EQ_BG);
		else if (!strncmp(t, "=h", 2) || !strncmp(t, "=H", 2))
			rap__core_remote_help(c, RAP__HELP_EQ_HTTP);
		else if (!strncmp(t, "=t", 2) || !strncmp(t, ".:", 2))
			rap__core_remote_help(c, RAP__HELP_EQ_TCP);
		else
			rap__core_remote_help(c, RAP__HELP_EQ_RAP);
		return 0;
	}
	if (c->served || c->io_borrowed) {
		/* Already refused by the command policy (policy.c); this is where it would
		 * listen. A served session's core: a foreground server would block every client
		 * of this server, and a background one would outlive the session's files. */
		size_t wl = strcspn(t, " \t");
		char word[32];
		snprintf(word, sizeof(word), "%.*s", (int)(wl < sizeof(word) - 1 ? wl : sizeof(word) - 1), t);
		return rap__core_refuse_network(c, word);
	}
	const char *port;
	enum rap__srv_kind kind;
	bool bg = false, browser = false;
	if (!strcmp(t, "=g-"))
		return stop_servers(c, RAP__SRV_GDB, -1);
	if (!strncmp(t, "=g", 2)) {
		/* =g PORT FILE [ARGS], =g& PORT FILE [ARGS] */
		bool gbg = t[2] == '&';
		char *rest = rap__core_trim(t + (gbg ? 3 : 2));
		char *prog = rest + strcspn(rest, " \t");
		if (!*rest || !*prog) {
			rap__core_errorf(c, "usage: =g%s PORT FILE [ARGS] (see '=g?')", gbg ? "&" : "");
			return RAP_EINVAL;
		}
		*prog++ = '\0';
		return start_server(c, RAP__SRV_GDB, gbg, false, rest, prog);
	}
	if (!strncmp(t, "=&-", 3)) {
		const char *p = port_word(t + 3);
		if (!p || (*p && parse_port(p) < 0)) {
			rap__core_errorf(c, "usage: =&-[port]");
			return RAP_EINVAL;
		}
		return stop_servers(c, -1, *p ? parse_port(p) : -1);
	}
	if (!strcmp(t, "=h-") || !strcmp(t, "=h--") || !strcmp(t, "=H-"))
		return stop_servers(c, RAP__SRV_HTTP, -1);
	if (!strcmp(t, "=t-"))
		return stop_servers(c, RAP__SRV_TCP, -1);
	if (!strncmp(t, "=&:", 3) || !strncmp(t, "=&r", 3)) {
		kind = RAP__SRV_RAP;
		bg = true;
		port = port_word(t + 3);
	} else if (!strncmp(t, "=&t", 3) || !strncmp(t, "=t&", 3)) {
		kind = RAP__SRV_TCP;
		bg = true;
		port = port_word(t + 3);
	} else if (!strncmp(t, "=h&", 3) || !strncmp(t, "=H&", 3)) {
		kind = RAP__SRV_HTTP;
		bg = true;
		browser = t[1] == 'H';
		port = port_word(t + 3);
	} else if (!strncmp(t, "=r", 2) || !strncmp(t, "=t", 2)) {
		/* rizin's spellings (and radare2's "=t PORT CMD"): with a command after the
		 * address, run it on that server once; with a port alone, serve on it. */
		char *addr = rap__core_trim(t + 2);
		char *cmd = addr + strcspn(addr, " \t");
		if (*cmd) {
			*cmd++ = '\0';
			return rap__core_remote_query(c, t[1] == 'r' ? "=r" : "=t", t[1] == 't', addr,
						      rap__core_trim(cmd));
		}
		if (strchr(addr, ':')) {
			rap__core_errorf(c, "usage: %.2s [HOST:]PORT CMD runs CMD there; %.2s PORT serves on PORT", t, t);
			return RAP_EINVAL;
		}
		kind = t[1] == 'r' ? RAP__SRV_RAP : RAP__SRV_TCP;
		port = addr;
	} else if (!strncmp(t, "=:", 2)) {
		kind = RAP__SRV_RAP;
		port = port_word(t + 2);
	} else if (!strncmp(t, ".:", 2)) {
		kind = RAP__SRV_TCP;
		port = port_word(t + 2);
	} else if (!strncmp(t, "=h", 2) || !strncmp(t, "=H", 2)) {
		kind = RAP__SRV_HTTP;
		browser = t[1] == 'H';
		port = port_word(t + 2);
	} else {
		rap__core_errorf(c, "unknown server command '%s' (see '=&?')", t);
		return RAP_ENOTSUP;
	}
	if (!port) {
		rap__core_errorf(c, "too many arguments in '%s' (see '%.2s?')", t, t);
		return RAP_EINVAL;
	}
	return start_server(c, kind, bg, browser, port, NULL);
}
