/* rapsrv: serves files to radare2, rizin and rapcli clients over RAP (and RAP over TLS).
 * A thin executable over the libraries: options, listeners, signals, logging, exit codes.
 * Every client gets its own core (files, position) under the operator's policy. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <grp.h>
#include <limits.h>
#include <malloc.h>
#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include <rap/core.h>
#include <rap/loop.h>
#include <rap/server.h>
#include <rap/tls.h>

#include "gdb.h"
#include "sandbox.h"
#include "upstream.h"
#if RAPSRV_TEST_HOOKS
#include "test_hooks.h"
#endif

#define MAX_LISTEN 16
#define MAX_NETWORKS 64
#define SHUTDOWN_GRACE_MS 5000

enum log_level { LOG_ERR = 3, LOG_WARN = 4, LOG_NOTICE = 5, LOG_INFO = 6, LOG_DEBUG = 7 };

struct listen_spec {
	char host[256];
	char port[32];
	bool tls;          /* raps:// */
	bool plain;        /* explicitly rap:// */
	char pem[PATH_MAX]; /* stock raps://:PORT//cert.pem form */
};

struct config {
	struct listen_spec listen[MAX_LISTEN];
	size_t nlisten;
	bool default_listen;
	char root[PATH_MAX];
	bool allow_write;
	bool sync;         /* --sync: fdatasync before a WRITE is acknowledged */
	bool sandbox;      /* Landlock and seccomp after start-up (--no-sandbox: false) */
	enum rap_core_policy cmd_policy;
	bool allow_shell;
	bool allow_devices; /* --allow-devices */
	char allowed_plugins[256];
	const char *networks[MAX_NETWORKS];
	size_t nnetworks;
	size_t max_sessions;
	size_t max_files;
	size_t max_procs, max_procs_total; /* dbg:// processes: per session, in all */
	const char *dbg_output;            /* --dbg-output FILE; NULL: rapsrv's stderr */
	uint32_t max_message;
	int workers;              /* -1: the server's default */
	size_t max_buffered, session_buffered;
	uint64_t idle_ms, request_ms, handshake_ms;
	const char *tls_cert, *tls_key, *tls_client_ca;
	const char *secret_file;  /* --secret-file: clients must authenticate */
	const char *user;
	bool check_only;
	struct listen_spec gdb[2]; /* --gdb: both loopbacks for a bare port */
	size_t ngdb;
	const char *gdb_program;   /* --gdb-program, beneath the root */
	struct rapsrv_upstream_options upstream; /* --upstream*: relay instead of serving files */
};

static int log_max_level = LOG_NOTICE + 1; /* info by default */
static bool log_to_journal;

static void log_line(int level, const char *peer, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void log_line(int level, const char *peer, const char *fmt, ...)
{
	if (level > log_max_level)
		return;
	static const char *names[] = {
		[LOG_ERR] = "error", [LOG_WARN] = "warning", [LOG_NOTICE] = "notice",
		[LOG_INFO] = "info", [LOG_DEBUG] = "debug",
	};
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	const char *lvl = (level >= LOG_ERR && level <= LOG_DEBUG) ? names[level] : "info";
	if (log_to_journal) {
		/* journald reads the <N> priority prefix and adds its own timestamp. */
		fprintf(stderr, "<%d>%s%s%s\n", level, peer ? peer : "", peer ? ": " : "", msg);
		return;
	}
	char stamp[32];
	time_t now = time(NULL);
	struct tm tm;
	gmtime_r(&now, &tm);
	strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%SZ", &tm);
	fprintf(stderr, "%s rapsrv[%d] %s: %s%s%s\n", stamp, (int)getpid(), lvl, peer ? peer : "",
		peer ? ": " : "", msg);
}

/* stderr is the journal when $JOURNAL_STREAM names its device and inode. */
static bool stderr_is_journal(void)
{
	const char *js = getenv("JOURNAL_STREAM");
	struct stat st;
	unsigned long dev, ino;
	if (!js || sscanf(js, "%lu:%lu", &dev, &ino) != 2 || fstat(STDERR_FILENO, &st) < 0)
		return false;
	return (unsigned long)st.st_dev == dev && (unsigned long)st.st_ino == ino;
}

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: rapsrv [OPTIONS] [[rap[s]://]HOST:]PORT\n"
		"Serve files over radare2's Remote Access Protocol.\n"
		"Default: 127.0.0.1:9999 and [::1]:9999, read-only, inspection commands only.\n"
		"\n"
		"  -l, --listen ADDR          listen on [rap[s]://]HOST:PORT (repeatable; [::1]:PORT for IPv6)\n"
		"  -r, --root DIR             serve files beneath DIR only (default: current directory)\n"
		"  -w, --write                allow writes (read-only otherwise)\n"
		"      --sync                 flush each WRITE to disk (fdatasync) before acknowledging it\n"
		"      --cmd LEVEL            remote commands: none, read (default), write or all\n"
		"      --allow-shell          also allow '!' shell commands (dangerous)\n"
		"      --allow-devices        clients may also open devices beneath the root (flash partitions)\n"
		"      --allow-scheme LIST    IO plugins clients may open (default: file), e.g. file,malloc\n"
		"      --allow-from CIDR      accept clients only from these networks (repeatable)\n"
		"      --max-sessions N       concurrent sessions (default 10000)\n"
		"      --max-files N          open files per session (default 64)\n"
		"      --max-processes N      debugged processes (dbg://) per session (default 4)\n"
		"      --max-processes-total N  debugged processes in all sessions (default 64)\n"
		"      --dbg-output FILE      append debugged programs' output to FILE (default: the log, stderr)\n"
		"      --max-message SIZE     largest WRITE/CMD payload (default 1M)\n"
		"      --workers N            long commands running at once, off the event loop (default: CPUs, 2-4)\n"
		"      --max-buffered SIZE    replies queued for all clients, output under way included (default 256M)\n"
		"      --max-session-buffered SIZE  largest output of one command (default 16M)\n"
		"      --idle-timeout SECS    drop idle sessions (default 300; 0 = never)\n"
		"      --request-timeout SECS drop clients that stall mid-message or stop reading (default 30)\n"
		"      --handshake-timeout SECS  TLS handshake deadline (default 10)\n"
		"      --tls-cert FILE        certificate chain (PEM) for raps:// listeners\n"
		"      --tls-key FILE         private key (PEM; default: the --tls-cert file)\n"
		"      --tls-client-ca FILE   require client certificates from this CA (mutual TLS)\n"
		"      --secret-file FILE     clients must prove they know the secret in FILE (mode 0600)\n"
		"      --upstream URI         relay: serve clients from rap[s]://HOST:PORT/ through a cache\n"
		"      --upstream-tls-ca FILE verify the raps:// upstream against these CAs (default: system store)\n"
		"      --upstream-tls-cert FILE, --upstream-tls-key FILE  our certificate towards the upstream\n"
		"      --upstream-secret-file FILE  authenticate to the upstream with the secret in FILE\n"
		"      --upstream-cache SIZE  each relayed session's cache (default 64M)\n"
		"      --upstream-timeout SECS  give up on a silent upstream after SECS (default 30)\n"
		"      --gdb [HOST:]PORT      gdbserver for programs beneath the root (needs dbg in --allow-scheme)\n"
		"      --gdb-program PATH     the program --gdb starts for each connection (else gdb runs one)\n"
		"  -u, --user USER            drop privileges to USER after binding\n"
		"      --no-sandbox           do not confine rapsrv with Landlock and seccomp\n"
		"  -t, --check-config         check options and certificates, then exit\n"
		"  -v, --verbose              log more (repeatable)\n"
		"  -q, --quiet                log only warnings and errors\n"
		"  -h, --help                 show this help and exit\n"
		"  -V, --version              show the version and exit\n"
		"\n"
		"Connect with:  r2 rap://HOST:PORT//path/to/file   or   rapcli rap://HOST:PORT//path\n");
}

static void version(void)
{
	printf("rapsrv (rap) %s\n"
	       "Copyright (c) 2026 the rap authors\n"
	       "License: MIT <https://opensource.org/licenses/MIT>\n",
	       RAP_VERSION_STRING);
}

static int parse_policy(const char *s, enum rap_core_policy *out)
{
	static const char *names[] = { "none", "read", "write", "all" };
	for (int i = 0; i < 4; i++) {
		if (strcmp(s, names[i]) == 0) {
			*out = (enum rap_core_policy)i;
			return 0;
		}
	}
	return -1;
}

static int parse_count(const char *s, unsigned long long max, unsigned long long *out)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || end == s || *s == '-')
		return -1;
	switch (*end) {
	case 'k': case 'K': v <<= 10; end++; break;
	case 'm': case 'M': v <<= 20; end++; break;
	case 'g': case 'G': v <<= 30; end++; break;
	default: break;
	}
	if (*end || v > max)
		return -1;
	*out = v;
	return 0;
}

/* [rap[s]://]HOST:PORT[/PEM], [V6]:PORT, :PORT or PORT. An empty host means loopback. */
static int parse_listen(const char *arg, struct listen_spec *l)
{
	memset(l, 0, sizeof(*l));
	if (strstr(arg, "://")) {
		struct rap_uri u;
		if (rap_uri_parse(arg, "rap", &u) < 0 || (strcmp(u.scheme, "rap") && strcmp(u.scheme, "raps")))
			return -1;
		snprintf(l->host, sizeof(l->host), "%s", u.host);
		snprintf(l->port, sizeof(l->port), "%s", u.port);
		l->tls = u.tls;
		l->plain = !u.tls;
		if (u.tls && u.has_path)
			snprintf(l->pem, sizeof(l->pem), "%s", u.path);
	} else {
		const char *colon = strrchr(arg, ':');
		const char *p = colon ? colon + 1 : arg;
		if (colon) {
			const char *h = arg;
			size_t hl = (size_t)(colon - arg);
			if (hl >= 2 && h[0] == '[' && h[hl - 1] == ']') {
				h++;
				hl -= 2;
			}
			if (hl >= sizeof(l->host))
				return -1;
			memcpy(l->host, h, hl);
			l->host[hl] = '\0';
		}
		snprintf(l->port, sizeof(l->port), "%s", p);
	}
	unsigned long long port;
	return parse_count(l->port, 65535, &port);
}

static int add_listen(struct config *cfg, const char *arg)
{
	if (cfg->default_listen) {
		cfg->nlisten = 0;
		cfg->default_listen = false;
	}
	if (cfg->nlisten == MAX_LISTEN) {
		fprintf(stderr, "rapsrv: at most %d listen addresses\n", MAX_LISTEN);
		return EX_USAGE;
	}
	struct listen_spec l;
	if (parse_listen(arg, &l) < 0) {
		fprintf(stderr, "rapsrv: cannot parse listen address '%s' (want [rap[s]://]HOST:PORT)\n", arg);
		return EX_USAGE;
	}
	if (!l.host[0]) { /* ":PORT": both loopbacks, like the default */
		struct listen_spec v6 = l;
		snprintf(l.host, sizeof(l.host), "127.0.0.1");
		snprintf(v6.host, sizeof(v6.host), "::1");
		cfg->listen[cfg->nlisten++] = l;
		if (cfg->nlisten < MAX_LISTEN)
			cfg->listen[cfg->nlisten++] = v6;
		return 0;
	}
	cfg->listen[cfg->nlisten++] = l;
	return 0;
}

/* --gdb [HOST:]PORT: a bare port (or ":PORT") means both loopbacks. Plain TCP only. */
static int add_gdb_listen(struct config *cfg, const char *arg)
{
	struct listen_spec l;
	if (cfg->ngdb) {
		fprintf(stderr, "rapsrv: --gdb may be given once\n");
		return EX_USAGE;
	}
	if (strstr(arg, "://") || parse_listen(arg, &l) < 0) {
		fprintf(stderr, "rapsrv: cannot parse gdb address '%s' (want [HOST:]PORT)\n", arg);
		return EX_USAGE;
	}
	if (!l.host[0]) {
		cfg->gdb[0] = l;
		cfg->gdb[1] = l;
		snprintf(cfg->gdb[0].host, sizeof(cfg->gdb[0].host), "127.0.0.1");
		snprintf(cfg->gdb[1].host, sizeof(cfg->gdb[1].host), "::1");
		cfg->ngdb = 2;
		return 0;
	}
	cfg->gdb[cfg->ngdb++] = l;
	return 0;
}

static int parse_seconds(const char *name, const char *s, uint64_t *ms)
{
	unsigned long long v;
	if (parse_count(s, 86400ULL * 365, &v) < 0) {
		fprintf(stderr, "rapsrv: %s takes a number of seconds, not '%s'\n", name, s);
		return EX_USAGE;
	}
	*ms = v * 1000;
	return 0;
}

static int parse_args(int argc, char **argv, struct config *cfg)
{
	enum {
		OPT_CMD = 256, OPT_ALLOW_SHELL, OPT_ALLOW_SCHEME, OPT_ALLOW_FROM, OPT_MAX_SESSIONS,
		OPT_MAX_FILES, OPT_MAX_MESSAGE, OPT_IDLE, OPT_REQUEST, OPT_HANDSHAKE, OPT_CERT,
		OPT_KEY, OPT_CLIENT_CA, OPT_WORKERS, OPT_MAX_BUFFERED, OPT_SESSION_BUFFERED, OPT_SYNC,
		OPT_NO_SANDBOX, OPT_ALLOW_DEVICES, OPT_MAX_PROCS, OPT_MAX_PROCS_TOTAL, OPT_DBG_OUTPUT,
		OPT_GDB, OPT_GDB_PROGRAM, OPT_SECRET_FILE, OPT_UPSTREAM, OPT_UPSTREAM_CA,
		OPT_UPSTREAM_CERT, OPT_UPSTREAM_KEY, OPT_UPSTREAM_SECRET, OPT_UPSTREAM_CACHE,
		OPT_UPSTREAM_TIMEOUT,
	};
	static const struct option longopts[] = {
		{ "listen", required_argument, NULL, 'l' },
		{ "root", required_argument, NULL, 'r' },
		{ "write", no_argument, NULL, 'w' },
		{ "sync", no_argument, NULL, OPT_SYNC },
		{ "no-sandbox", no_argument, NULL, OPT_NO_SANDBOX },
		{ "cmd", required_argument, NULL, OPT_CMD },
		{ "allow-shell", no_argument, NULL, OPT_ALLOW_SHELL },
		{ "allow-devices", no_argument, NULL, OPT_ALLOW_DEVICES },
		{ "allow-scheme", required_argument, NULL, OPT_ALLOW_SCHEME },
		{ "gdb", required_argument, NULL, OPT_GDB },
		{ "gdb-program", required_argument, NULL, OPT_GDB_PROGRAM },
		{ "allow-from", required_argument, NULL, OPT_ALLOW_FROM },
		{ "max-sessions", required_argument, NULL, OPT_MAX_SESSIONS },
		{ "max-files", required_argument, NULL, OPT_MAX_FILES },
		{ "max-processes", required_argument, NULL, OPT_MAX_PROCS },
		{ "max-processes-total", required_argument, NULL, OPT_MAX_PROCS_TOTAL },
		{ "dbg-output", required_argument, NULL, OPT_DBG_OUTPUT },
		{ "max-message", required_argument, NULL, OPT_MAX_MESSAGE },
		{ "workers", required_argument, NULL, OPT_WORKERS },
		{ "max-buffered", required_argument, NULL, OPT_MAX_BUFFERED },
		{ "max-session-buffered", required_argument, NULL, OPT_SESSION_BUFFERED },
		{ "idle-timeout", required_argument, NULL, OPT_IDLE },
		{ "request-timeout", required_argument, NULL, OPT_REQUEST },
		{ "handshake-timeout", required_argument, NULL, OPT_HANDSHAKE },
		{ "tls-cert", required_argument, NULL, OPT_CERT },
		{ "tls-key", required_argument, NULL, OPT_KEY },
		{ "tls-client-ca", required_argument, NULL, OPT_CLIENT_CA },
		{ "secret-file", required_argument, NULL, OPT_SECRET_FILE },
		{ "upstream", required_argument, NULL, OPT_UPSTREAM },
		{ "upstream-tls-ca", required_argument, NULL, OPT_UPSTREAM_CA },
		{ "upstream-tls-cert", required_argument, NULL, OPT_UPSTREAM_CERT },
		{ "upstream-tls-key", required_argument, NULL, OPT_UPSTREAM_KEY },
		{ "upstream-secret-file", required_argument, NULL, OPT_UPSTREAM_SECRET },
		{ "upstream-cache", required_argument, NULL, OPT_UPSTREAM_CACHE },
		{ "upstream-timeout", required_argument, NULL, OPT_UPSTREAM_TIMEOUT },
		{ "user", required_argument, NULL, 'u' },
		{ "check-config", no_argument, NULL, 't' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	int c, rc;
	unsigned long long v;
	while ((c = getopt_long(argc, argv, "l:r:wu:tvqhV", longopts, NULL)) != -1) {
		switch (c) {
		case 'l':
			if ((rc = add_listen(cfg, optarg)) != 0)
				return rc;
			break;
		case 'r':
			if (!realpath(optarg, cfg->root)) {
				fprintf(stderr, "rapsrv: root directory '%s': %s\n", optarg, strerror(errno));
				return EX_CONFIG;
			}
			/* An absolute root keeps the operator's spelling: with -r /bin on a merged-/usr
			 * system clients ask for /bin/ls, and libio accepts both /bin/... and the
			 * resolved /usr/bin/... beneath it. */
			if (optarg[0] == '/' && strlen(optarg) < sizeof(cfg->root))
				strcpy(cfg->root, optarg);
			break;
		case 'w':
			cfg->allow_write = true;
			break;
		case OPT_SYNC:
			cfg->sync = true;
			break;
		case OPT_NO_SANDBOX:
			cfg->sandbox = false;
			break;
		case OPT_CMD:
			if (parse_policy(optarg, &cfg->cmd_policy) < 0) {
				fprintf(stderr, "rapsrv: --cmd takes none, read, write or all, not '%s'\n", optarg);
				return EX_USAGE;
			}
			break;
		case OPT_ALLOW_SHELL:
			cfg->allow_shell = true;
			break;
		case OPT_ALLOW_DEVICES:
			cfg->allow_devices = true;
			break;
		case OPT_ALLOW_SCHEME:
			snprintf(cfg->allowed_plugins, sizeof(cfg->allowed_plugins), "%s", optarg);
			break;
		case OPT_GDB:
			if ((rc = add_gdb_listen(cfg, optarg)) != 0)
				return rc;
			break;
		case OPT_GDB_PROGRAM:
			cfg->gdb_program = optarg;
			break;
		case OPT_ALLOW_FROM:
			if (cfg->nnetworks == MAX_NETWORKS) {
				fprintf(stderr, "rapsrv: at most %d --allow-from networks\n", MAX_NETWORKS);
				return EX_USAGE;
			}
			cfg->networks[cfg->nnetworks++] = optarg;
			break;
		case OPT_MAX_SESSIONS:
		case OPT_MAX_FILES:
			if (parse_count(optarg, 10000000, &v) < 0 || v == 0) {
				fprintf(stderr, "rapsrv: %s takes a positive number, not '%s'\n",
					c == OPT_MAX_FILES ? "--max-files" : "--max-sessions", optarg);
				return EX_USAGE;
			}
			*(c == OPT_MAX_FILES ? &cfg->max_files : &cfg->max_sessions) = (size_t)v;
			break;
		case OPT_MAX_PROCS:
		case OPT_MAX_PROCS_TOTAL:
			if (parse_count(optarg, 100000, &v) < 0 || v == 0) {
				fprintf(stderr, "rapsrv: %s takes a positive number, not '%s'\n",
					c == OPT_MAX_PROCS ? "--max-processes" : "--max-processes-total", optarg);
				return EX_USAGE;
			}
			*(c == OPT_MAX_PROCS ? &cfg->max_procs : &cfg->max_procs_total) = (size_t)v;
			break;
		case OPT_DBG_OUTPUT:
			cfg->dbg_output = optarg;
			break;
		case OPT_MAX_MESSAGE:
			if (parse_count(optarg, 1ULL << 30, &v) < 0 || v < RAP_PACKET_MAX) {
				fprintf(stderr, "rapsrv: --max-message takes a size from 4096 to 1G, not '%s'\n", optarg);
				return EX_USAGE;
			}
			cfg->max_message = (uint32_t)v;
			break;
		case OPT_WORKERS:
			if (parse_count(optarg, 64, &v) < 0) {
				fprintf(stderr, "rapsrv: --workers takes a number from 0 to 64, not '%s'\n", optarg);
				return EX_USAGE;
			}
			cfg->workers = (int)v;
			break;
		case OPT_MAX_BUFFERED:
		case OPT_SESSION_BUFFERED:
			if (parse_count(optarg, 1ULL << 40, &v) < 0 || v < (64u << 10)) {
				fprintf(stderr, "rapsrv: %s takes a size from 64K to 1T, not '%s'\n",
					c == OPT_MAX_BUFFERED ? "--max-buffered" : "--max-session-buffered", optarg);
				return EX_USAGE;
			}
			*(c == OPT_MAX_BUFFERED ? &cfg->max_buffered : &cfg->session_buffered) = (size_t)v;
			break;
		case OPT_IDLE:
			if ((rc = parse_seconds("--idle-timeout", optarg, &cfg->idle_ms)) != 0)
				return rc;
			break;
		case OPT_REQUEST:
			if ((rc = parse_seconds("--request-timeout", optarg, &cfg->request_ms)) != 0)
				return rc;
			break;
		case OPT_HANDSHAKE:
			if ((rc = parse_seconds("--handshake-timeout", optarg, &cfg->handshake_ms)) != 0)
				return rc;
			break;
		case OPT_CERT:
			cfg->tls_cert = optarg;
			break;
		case OPT_KEY:
			cfg->tls_key = optarg;
			break;
		case OPT_CLIENT_CA:
			cfg->tls_client_ca = optarg;
			break;
		case OPT_SECRET_FILE:
			cfg->secret_file = optarg;
			break;
		case OPT_UPSTREAM:
			cfg->upstream.uri = optarg;
			break;
		case OPT_UPSTREAM_CA:
			cfg->upstream.tls_ca = optarg;
			break;
		case OPT_UPSTREAM_CERT:
			cfg->upstream.tls_cert = optarg;
			break;
		case OPT_UPSTREAM_KEY:
			cfg->upstream.tls_key = optarg;
			break;
		case OPT_UPSTREAM_SECRET:
			cfg->upstream.secret_file = optarg;
			break;
		case OPT_UPSTREAM_TIMEOUT:
			if ((rc = parse_seconds("--upstream-timeout", optarg, &cfg->upstream.timeout_ms)) != 0)
				return rc;
			if (cfg->upstream.timeout_ms == 0 || cfg->upstream.timeout_ms > 86400000) {
				fprintf(stderr, "rapsrv: --upstream-timeout takes 1 to 86400 seconds\n");
				return EX_USAGE;
			}
			break;
		case OPT_UPSTREAM_CACHE:
			if (parse_count(optarg, 1ULL << 40, &v) < 0 || v < (64u << 10)) {
				fprintf(stderr, "rapsrv: --upstream-cache takes a size from 64K to 1T, not '%s'\n", optarg);
				return EX_USAGE;
			}
			cfg->upstream.cache_max = (size_t)v;
			break;
		case 'u':
			cfg->user = optarg;
			break;
		case 't':
			cfg->check_only = true;
			break;
		case 'v':
			log_max_level = LOG_DEBUG;
			break;
		case 'q':
			log_max_level = LOG_WARN;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		case 'V':
			version();
			exit(0);
		default:
			fprintf(stderr, "Try 'rapsrv --help' for more information.\n");
			return EX_USAGE;
		}
	}
	if (optind < argc - 1) {
		fprintf(stderr, "rapsrv: too many arguments\nTry 'rapsrv --help' for more information.\n");
		return EX_USAGE;
	}
	if (optind == argc - 1 && (rc = add_listen(cfg, argv[optind])) != 0)
		return rc;
	if (!cfg->upstream.uri && (cfg->upstream.tls_ca || cfg->upstream.tls_cert || cfg->upstream.tls_key ||
				   cfg->upstream.secret_file || cfg->upstream.cache_max ||
				   cfg->upstream.timeout_ms)) {
		fprintf(stderr, "rapsrv: the --upstream-* options need --upstream URI\n");
		return EX_USAGE;
	}
	/* Over plain rap:// they would be ignored, and the link plain text. */
	if (cfg->upstream.uri && strncasecmp(cfg->upstream.uri, "raps://", 7) != 0 &&
	    (cfg->upstream.tls_ca || cfg->upstream.tls_cert || cfg->upstream.tls_key)) {
		fprintf(stderr, "rapsrv: the --upstream-tls-* options need a raps:// upstream, not %s\n",
			cfg->upstream.uri);
		return EX_USAGE;
	}
	if (cfg->upstream.uri && cfg->ngdb) {
		fprintf(stderr, "rapsrv: --gdb debugs local programs; a relay (--upstream) has none\n");
		return EX_USAGE;
	}
	if (cfg->gdb_program && !cfg->ngdb) {
		fprintf(stderr, "rapsrv: --gdb-program needs --gdb [HOST:]PORT\n");
		return EX_USAGE;
	}
	if (cfg->session_buffered > cfg->max_buffered) {
		fprintf(stderr, "rapsrv: --max-session-buffered (%zu bytes) cannot exceed --max-buffered "
			"(%zu bytes)\n", cfg->session_buffered, cfg->max_buffered);
		return EX_USAGE;
	}
	return 0;
}

/* ---- TLS ------------------------------------------------------------------------------ */

/* Which listeners speak TLS: raps:// ones, and all unmarked ones when a certificate is
 * configured and no listener asked for plain rap:// explicitly. */
static bool listener_uses_tls(const struct config *cfg, const struct listen_spec *l)
{
	if (l->tls)
		return true;
	if (l->plain || !cfg->tls_cert)
		return false;
	for (size_t i = 0; i < cfg->nlisten; i++)
		if (cfg->listen[i].plain)
			return false;
	return true;
}

/* Whether anything in the configuration asks for TLS. */
static bool tls_configured(const struct config *cfg)
{
	if (cfg->tls_cert || cfg->tls_key || cfg->tls_client_ca)
		return true;
	for (size_t i = 0; i < cfg->nlisten; i++)
		if (cfg->listen[i].tls)
			return true;
	return false;
}

static int make_tls_config(const struct config *cfg, const char *cert, const char *key,
			   struct rap_tls_config **out)
{
	struct rap_tls_config *tc;
	int rc = rap_tls_config_new(true, &tc);
	if (rc < 0) {
		log_line(LOG_ERR, NULL, "TLS: %s", rap_strerror(rc));
		return rc;
	}
	rc = rap_tls_config_set_cert(tc, cert, key);
	if (rc == 0 && cfg->tls_client_ca)
		rc = rap_tls_config_set_ca(tc, cfg->tls_client_ca);
	if (rc < 0) {
		log_line(LOG_ERR, NULL, "TLS: %s", rap_tls_config_error(tc));
		rap_tls_config_free(tc);
		return rc;
	}
	*out = tc;
	return 0;
}

/* ---- sessions ------------------------------------------------------------------------ */

struct daemon {
	struct config *cfg;
	struct rap_loop *loop;
	struct rap_server *server;
	struct rap_tls_config *tls[MAX_LISTEN + 1]; /* [MAX_LISTEN]: shared --tls-cert config */
	/* Holds what every session's IO shares: the --root handle, and the count of files
	 * open in all sessions (which keeps descriptors for accept). */
	struct rap_io *root_holder;
	size_t max_files; /* per session: --max-files, at most half of what all may open */
	int dbg_out_fd;   /* where debugged programs write: --dbg-output's file or stderr */
	struct rap_secret *secret; /* --secret-file's, read once at start; zeroed when freed */
	bool stopping;
	struct rapsrv_gdb *gdb; /* --gdb */
	struct rapsrv_upstream *upstream; /* --upstream: sessions relay to it; NULL: files */
};

static void gdb_log(int level, const char *peer, const char *msg)
{
	log_line(level, peer, "%s", msg);
}

static int session_open(void *user, const char *peer, void **ctx)
{
	struct daemon *d = user;
	if (d->upstream) {
		struct rap_relay_session *rs;
		int rc = rap_relay_session_new(rapsrv_upstream_relay(d->upstream), &rs);
		if (rc < 0) {
			log_line(LOG_ERR, peer, "cannot start a relay session: %s", rap_strerror(rc));
			return rc;
		}
		*ctx = rs;
		return 0;
	}
	struct rap_core *core;
	bool confined = true;
#if RAPSRV_TEST_HOOKS
	confined = !test_hook_bypass_confinement();
#endif
	/* Lean: a client's commands never start servers or open connections anyway. (The
	 * sandbox tests' hook gives its unconfined sessions rap:// too, to connect out.) */
	int rc = confined ? rap_core_new_lean(&core) : rap_core_new(&core);
	if (rc < 0)
		return rc;
	struct rap_io *io = rap_core_io(core);
	rc = confined ? rap_io_share_root(io, d->root_holder) : 0;
	if (rc == 0)
		rc = rap_io_share_max_files_total(io, d->root_holder);
	if (rc == 0)
		rc = rap_io_set_allowed_plugins(io, confined ? d->cfg->allowed_plugins : NULL);
	if (rc < 0) {
		log_line(LOG_ERR, peer, "cannot apply the file policy: %s", rap_strerror(rc));
		rap_core_free(core);
		return rc;
	}
	rap_io_set_allow_write(io, d->cfg->allow_write || !confined);
	rap_io_set_sync(io, d->cfg->sync);
	/* --max-files counts every open of the session: OPEN packets and "o F" alike. */
	rap_io_set_max_files(io, d->max_files);
	/* dbg:// (when --allow-scheme lists it): the session's processes, their output. */
	rap_io_set_max_processes(io, d->cfg->max_procs);
	rap_io_set_dbg_output(io, d->dbg_out_fd);
	rap_core_set_policy(core, d->cfg->cmd_policy);
	rap_core_set_allow_shell(core, d->cfg->allow_shell);
	rap_core_set_allow_devices(core, d->cfg->allow_devices);
	/* A client's core: it never starts servers, opens connections or raises its policy,
	 * at any --cmd level, and its "> FILE", wtf and wff (--cmd all) stay beneath --root
	 * and write only with --write. (The sandbox tests' hook bypasses all of that, so
	 * that only the kernel stands in the way.) */
	if (confined)
		rap_core_set_served(core);
	*ctx = core;
	return 0;
}

static void session_close(void *user, void *ctx)
{
	struct daemon *d = user;
	if (d->upstream)
		rap_relay_session_free(ctx);
	else
		rap_core_free(ctx);
}

/* The relay's lines (connections upstream, refusals). */
static void upstream_log(void *user, int level, const char *msg)
{
	(void)user;
	log_line(level, NULL, "%s", msg);
}

static void server_log(void *user, int level, const char *peer, const char *msg)
{
	(void)user;
	log_line(level, peer, "%s", msg);
}

/* The one server of this process, for handler callbacks (their ctx is the core). */
static struct rap_server *the_server;

/* CMD through the core's handler; a client's q ends its session (after the answer), as
 * on servers started from rapcli, instead of leaving a session that ignores commands. Runs
 * on a worker thread: rap_server_end_session is meant to be called from there. */
static int cmd_or_quit(void *ctx, const char *cmd, char **out)
{
#if RAPSRV_TEST_HOOKS
	if (test_hook_cmd(cmd, out))
		return 0;
#endif
	int rc = rap_core_rap_handler()->cmd(ctx, cmd, out);
	if (rap_core_quit_requested(ctx))
		rap_server_end_session(the_server, ctx);
	return rc;
}

#if RAPSRV_TEST_HOOKS
/* OPEN without the core handler's served mark, for the hook that takes rapsrv's own
 * defences away (the kernel's must hold on their own). */
static int open_unconfined(void *ctx, const char *path, uint8_t perm)
{
	return rap_core_open(ctx, path, perm);
}
#endif

static int cmd_bounded_or_quit(void *ctx, const struct rap_cmd_request *req, char **out, bool *stopped)
{
#if RAPSRV_TEST_HOOKS
	if (test_hook_cmd(req->cmd, out)) {
		*stopped = false;
		return 0;
	}
#endif
	int rc = rap_core_rap_handler()->cmd_bounded(ctx, req, out, stopped);
	if (rap_core_quit_requested(ctx))
		rap_server_end_session(the_server, ctx);
	return rc;
}

/* ---- systemd ------------------------------------------------------------------------- */

/* sd_notify without libsystemd: one datagram to $NOTIFY_SOCKET ('@' = abstract). */
static void notify_systemd(const char *state)
{
	const char *path = getenv("NOTIFY_SOCKET");
	if (!path || (path[0] != '/' && path[0] != '@'))
		return;
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	size_t len = strlen(path);
	if (len >= sizeof(sa.sun_path))
		return;
	memcpy(sa.sun_path, path, len);
	if (sa.sun_path[0] == '@')
		sa.sun_path[0] = '\0';
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return;
	sendto(fd, state, strlen(state), MSG_NOSIGNAL, (struct sockaddr *)&sa,
	       (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len));
	close(fd);
}

/* Sockets passed by systemd (LISTEN_FDS from fd 3), only when LISTEN_PID is ours. */
static int activated_sockets(int *fds, int max)
{
	const char *pid = getenv("LISTEN_PID");
	const char *nfds = getenv("LISTEN_FDS");
	if (!pid || !nfds || strtol(pid, NULL, 10) != (long)getpid())
		return 0;
	long n = strtol(nfds, NULL, 10);
	unsetenv("LISTEN_PID");
	unsetenv("LISTEN_FDS");
	unsetenv("LISTEN_FDNAMES");
	int count = 0;
	for (long i = 0; i < n && count < max; i++) {
		int fd = 3 + (int)i;
		int type = 0, listening = 0;
		socklen_t sl = sizeof(type);
		if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &sl) < 0 || type != SOCK_STREAM)
			continue;
		sl = sizeof(listening);
		if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &sl) < 0 || !listening)
			continue;
		fcntl(fd, F_SETFD, FD_CLOEXEC);
		fds[count++] = fd;
	}
	return count;
}

/* ---- signals and shutdown ------------------------------------------------------------ */

static void shutdown_done(void *user)
{
	struct daemon *d = user;
	rap_loop_stop(d->loop);
}

static void on_stop_signal(struct rap_loop *loop, int signo, void *user)
{
	struct daemon *d = user;
	if (d->stopping) {
		/* A second request means now. */
		log_line(LOG_NOTICE, NULL, "second %s: exiting now", strsignal(signo));
		rap_loop_stop(loop);
		return;
	}
	d->stopping = true;
	notify_systemd("STOPPING=1");
	rapsrv_gdb_stop(d->gdb); /* gdb sessions end now: their programs are killed */
	log_line(LOG_NOTICE, NULL, "%s: shutting down (%zu sessions open)", strsignal(signo),
		 rap_server_session_count(d->server));
	rap_server_shutdown(d->server, SHUTDOWN_GRACE_MS, shutdown_done, d);
}

static void on_reload_signal(struct rap_loop *loop, int signo, void *user)
{
	(void)loop;
	(void)signo;
	struct daemon *d = user;
	notify_systemd("RELOADING=1");
	int ok = 0, failed = 0;
	for (size_t i = 0; i <= MAX_LISTEN; i++) {
		if (!d->tls[i])
			continue;
		if (rap_tls_config_reload(d->tls[i]) == 0) {
			ok++;
		} else {
			failed++;
			log_line(LOG_ERR, NULL, "reload: %s (keeping the previous certificate)",
				 rap_tls_config_error(d->tls[i]));
		}
	}
	log_line(LOG_NOTICE, NULL, "SIGHUP: reloaded %d certificate(s), %d failed", ok, failed);
	notify_systemd("READY=1");
}

/* ---- privileges and resources ---------------------------------------------------------- */

static int drop_privileges(const char *user)
{
	struct passwd *pw = getpwnam(user);
	if (!pw) {
		log_line(LOG_ERR, NULL, "--user: no such user '%s'", user);
		return EX_CONFIG;
	}
	if (setgroups(0, NULL) < 0 || setgid(pw->pw_gid) < 0 || setuid(pw->pw_uid) < 0) {
		log_line(LOG_ERR, NULL, "--user %s: %s", user, strerror(errno));
		return EX_OSERR;
	}
	if (pw->pw_uid != 0 && setuid(0) == 0) {
		log_line(LOG_ERR, NULL, "--user %s: could regain root; refusing to run", user);
		return EX_OSERR;
	}
	prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
	log_line(LOG_INFO, NULL, "running as user %s", user);
	return 0;
}

/* Thousands of sessions need thousands of descriptors (a socket and usually a file each):
 * take what is needed, raising the hard limit too when we are allowed to (root). */
static void raise_fd_limit(size_t sessions)
{
	size_t want = sessions * 2;
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return;
	rlim_t target = (rlim_t)want + 64;
	if (rl.rlim_cur >= target)
		return;
	struct rlimit wanted = { target, rl.rlim_max == RLIM_INFINITY || rl.rlim_max > target ? rl.rlim_max : target };
	if (setrlimit(RLIMIT_NOFILE, &wanted) < 0) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
			log_line(LOG_WARN, NULL, "cannot raise the descriptor limit: %s", strerror(errno));
	}
	if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur >= target)
		return;
	/* Short of a file per session is a detail for -v (most sessions open one file, many
	 * none); short of a socket per session means --max-sessions cannot be reached at all. */
	log_line(rl.rlim_cur < (rlim_t)sessions + 64 ? LOG_WARN : LOG_DEBUG, NULL,
		 "descriptor limit %llu is below the %llu that %zu sessions with an open file each need",
		 (unsigned long long)rl.rlim_cur, (unsigned long long)target, sessions);
}

/* Descriptors kept free for everything but files (at most an eighth of the limit):
 * commands' own local files (> FILE, wtf, wff, ! pipes), logging, and slack. */
#define FD_SPARE 64
/* Refused clients the server answers at once (librap's REFUSING_MAX) and a margin. */
#define FD_REFUSING 64

/* How many files all sessions together may hold open: the descriptor limit less what is
 * open now (listeners, the loop's, the root), a spare, and one socket for every session
 * --max-sessions allows and for the refused ones; at least half of what is left after
 * the spare when the limit is too low for that, so that files still open. Sessions'
 * opens fail with "Too many open files" past it, before accept could starve. */
static size_t files_budget(size_t sessions, size_t *limit_out)
{
	struct rlimit rl;
	*limit_out = 0;
	if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur == RLIM_INFINITY)
		return 0; /* no limit to keep below */
	/* Descriptors are handed out lowest first, and at start-up the table has no holes:
	 * the lowest free one is about how many are open. */
	int probe = fcntl(STDERR_FILENO, F_DUPFD_CLOEXEC, 0);
	if (probe < 0)
		probe = open("/", O_PATH | O_CLOEXEC);
	size_t used = probe >= 0 ? (size_t)probe : 64;
	if (probe >= 0)
		close(probe);
	size_t limit = (size_t)rl.rlim_cur;
	*limit_out = limit;
	size_t spare = limit / 8 < FD_SPARE ? limit / 8 : FD_SPARE;
	size_t room = limit > used + spare ? limit - used - spare : 0;
	size_t conns = sessions + FD_REFUSING;
	size_t files = room > conns ? room - conns : 0;
	if (files < room / 2)
		files = room / 2;
	return files ? files : 1;
}

static int serve(struct daemon *d);

/* ---- main -------------------------------------------------------------------------- */

/* A socket to serve: one of ours (spec, TLS config chosen per listener) or one systemd
 * passed (spec NULL: TLS when a certificate is configured). */
struct opened_listener {
	int fd;
	const struct listen_spec *spec;
	struct rap_tls_config *tls;
};

static int open_listeners(struct daemon *d, struct opened_listener *out, size_t *n)
{
	struct config *cfg = d->cfg;
	int activated[MAX_LISTEN];
	int na = activated_sockets(activated, MAX_LISTEN);
	*n = 0;
	if (na > 0) {
		for (int i = 0; i < na; i++)
			out[(*n)++] = (struct opened_listener){ activated[i], NULL, d->tls[MAX_LISTEN] };
		log_line(LOG_NOTICE, NULL, "using %d socket(s) from systemd", na);
		return 0;
	}
	for (size_t i = 0; i < cfg->nlisten; i++) {
		const struct listen_spec *l = &cfg->listen[i];
		int fd;
		int rc = rap_tcp_listen(l->host, l->port, 511, &fd);
		if (rc < 0) {
			/* The default IPv6 loopback may simply not exist on this machine. */
			if (cfg->default_listen && strchr(l->host, ':')) {
				log_line(LOG_WARN, NULL, "not listening on [%s]:%s: %s", l->host, l->port,
					 rap_strerror(rc));
				continue;
			}
			log_line(LOG_ERR, NULL, "cannot listen on %s:%s: %s", l->host, l->port, rap_strerror(rc));
			return EX_UNAVAILABLE;
		}
		struct rap_tls_config *tls = NULL;
		if (listener_uses_tls(cfg, l))
			tls = d->tls[i] ? d->tls[i] : d->tls[MAX_LISTEN];
		out[(*n)++] = (struct opened_listener){ fd, l, tls };
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct config cfg = {
		.default_listen = true,
		.sandbox = true,
		.nlisten = 2,
		.listen = { { .host = "127.0.0.1", .port = "9999" }, { .host = "::1", .port = "9999" } },
		.cmd_policy = RAP_CORE_POLICY_READ,
		.allowed_plugins = "file",
		.max_sessions = 10000,
		.max_files = 64,
		.max_procs = 4,
		.max_procs_total = 64,
		.max_message = 1u << 20,
		.workers = -1,
		.max_buffered = (size_t)256 << 20,
		.session_buffered = (size_t)16 << 20,
		.idle_ms = 300000,
		.request_ms = 30000,
		.handshake_ms = 10000,
	};
	log_to_journal = stderr_is_journal();
	/* Command output of megabytes comes and goes on worker threads. glibc would raise its
	 * mmap threshold after the first such block is freed and serve the next ones from
	 * per-thread arenas, which keep their high-water mark: a fixed threshold keeps large
	 * blocks mapped, so freeing one gives it back and the RSS follows what is held (see
	 * --max-buffered). */
#ifdef M_MMAP_THRESHOLD /* glibc's: other C libraries have their own policies */
	mallopt(M_MMAP_THRESHOLD, 1 << 20);
#endif
	if (!getcwd(cfg.root, sizeof(cfg.root))) {
		fprintf(stderr, "rapsrv: current directory: %s\n", strerror(errno));
		return EX_OSERR;
	}
	int status = 0;
	int rc = parse_args(argc, argv, &cfg);
	if (rc != 0)
		return rc;
	signal(SIGPIPE, SIG_IGN);

	struct daemon d = { .cfg = &cfg, .dbg_out_fd = 2 };
	/* Certificates first: a bad one is a configuration error before anything listens. So
	 * is asking a build without TLS for it, which no certificate would fix. */
	if (!rap_tls_available() && tls_configured(&cfg)) {
		log_line(LOG_ERR, NULL, "TLS is not available in this build (rap was built without "
			 "OpenSSL): raps:// and --tls-* cannot be used");
		status = EX_CONFIG;
		goto done;
	}
	bool any_tls = false;
	for (size_t i = 0; i < cfg.nlisten; i++) {
		struct listen_spec *l = &cfg.listen[i];
		if (!listener_uses_tls(&cfg, l))
			continue;
		any_tls = true;
		if (l->pem[0]) {
			if (make_tls_config(&cfg, l->pem, NULL, &d.tls[i]) < 0) {
				status = EX_CONFIG;
				goto done;
			}
		} else if (!cfg.tls_cert) {
			log_line(LOG_ERR, NULL, "raps://%s:%s needs --tls-cert (or raps://:PORT//cert.pem)",
				 l->host, l->port);
			status = EX_CONFIG;
			goto done;
		} else if (!d.tls[MAX_LISTEN] &&
			   make_tls_config(&cfg, cfg.tls_cert, cfg.tls_key, &d.tls[MAX_LISTEN]) < 0) {
			status = EX_CONFIG;
			goto done;
		}
	}
	if (cfg.tls_cert && !any_tls && !d.tls[MAX_LISTEN]) {
		/* Socket activation or a typo: still check the files so -t reports them. */
		if (make_tls_config(&cfg, cfg.tls_cert, cfg.tls_key, &d.tls[MAX_LISTEN]) < 0) {
			status = EX_CONFIG;
			goto done;
		}
	}
	if (cfg.secret_file) {
		/* Read once, before anything listens; never logged, never in argv. */
		char why[512];
		if (!rap_auth_available()) {
			log_line(LOG_ERR, NULL, "authentication is not available in this build (rap was built without "
				 "OpenSSL): --secret-file cannot be used");
			status = EX_CONFIG;
			goto done;
		}
		if (rap_secret_load(cfg.secret_file, &d.secret, why, sizeof(why)) < 0) {
			log_line(LOG_ERR, NULL, "--secret-file: %s", why);
			status = EX_CONFIG;
			goto done;
		}
	}
	if (cfg.upstream.uri && (status = rapsrv_upstream_new(&cfg.upstream, upstream_log, NULL, &d.upstream)) != 0)
		goto done;
	struct stat st;
	if (stat(cfg.root, &st) < 0 || !S_ISDIR(st.st_mode)) {
		log_line(LOG_ERR, NULL, "root %s is not a directory", cfg.root);
		status = EX_CONFIG;
		goto done;
	}
	if (cfg.user && !getpwnam(cfg.user)) {
		log_line(LOG_ERR, NULL, "--user: no such user '%s'", cfg.user);
		status = EX_CONFIG;
		goto done;
	}
	for (size_t i = 0; i < cfg.nnetworks; i++) {
		if (rap_server_check_network(cfg.networks[i]) < 0) {
			log_line(LOG_ERR, NULL, "--allow-from: cannot parse '%s'", cfg.networks[i]);
			status = EX_USAGE;
			goto done;
		}
	}
	if (cfg.ngdb && !rap_io_plugin_listed(cfg.allowed_plugins, "dbg")) {
		log_line(LOG_ERR, NULL, "--gdb debugs programs: it needs dbg in --allow-scheme (e.g. "
			 "--allow-scheme file,dbg)");
		status = EX_CONFIG;
		goto done;
	}
	if (cfg.dbg_output) {
		/* Opened before the sandbox: the file may lie outside --root. Never a terminal's
		 * controlling one, never followed into a FIFO that would block. */
		d.dbg_out_fd = open(cfg.dbg_output, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY | O_NONBLOCK, 0600);
		struct stat ost;
		if (d.dbg_out_fd < 0 || fstat(d.dbg_out_fd, &ost) < 0 || !S_ISREG(ost.st_mode)) {
			log_line(LOG_ERR, NULL, "--dbg-output %s: %s", cfg.dbg_output,
				 d.dbg_out_fd < 0 ? strerror(errno) : "not a regular file");
			status = EX_CONFIG;
			goto done;
		}
	}
	rap_io_set_max_processes_total(cfg.max_procs_total);
	if (cfg.check_only) {
		printf("rapsrv: configuration OK\n");
		goto done;
	}
	if ((rc = rap_io_new_local(&d.root_holder)) < 0 || (rc = rap_io_set_root(d.root_holder, cfg.root)) < 0) {
		log_line(LOG_ERR, NULL, "root %s: %s", cfg.root, rap_strerror(rc));
		status = EX_CONFIG;
		goto done;
	}
	status = serve(&d);
done:
	rapsrv_upstream_free(d.upstream);
	rap_secret_free(d.secret);
	rap_io_free(d.root_holder);
	if (d.dbg_out_fd > 2)
		close(d.dbg_out_fd);
	for (size_t i = 0; i <= MAX_LISTEN; i++)
		rap_tls_config_free(d.tls[i]);
	return status;
}

/* ---- confinement ------------------------------------------------------------------ */

static void sandbox_log(int level, const char *msg)
{
	log_line(level, NULL, "%s", msg);
}

/* Whether the list names a scheme other than file, malloc and dbg: those connect out
 * (rap://, raps://, and any added later, which the sandbox must not break). */
static bool scheme_connects_out(const char *list)
{
	char copy[sizeof(((struct config *)0)->allowed_plugins)];
	snprintf(copy, sizeof(copy), "%s", list);
	char *save = NULL;
	for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		while (*t == ' ' || *t == '\t')
			t++;
		size_t n = strlen(t);
		while (n && (t[n - 1] == ' ' || t[n - 1] == '\t'))
			t[--n] = '\0';
		if (n && strcmp(t, "file") && strcmp(t, "malloc") && strcmp(t, "dbg"))
			return true;
	}
	return false;
}

/* Drops privileges (--user) and confines the process (sandbox.c): the rules are built
 * while the files they name can still be opened, enforced once privileges are gone, so
 * the filter need not allow setuid and friends. Returns the exit status. */
static int confine(struct daemon *d)
{
	struct config *cfg = d->cfg;
	if (!cfg->sandbox) {
		log_line(LOG_WARN, NULL, "sandbox off (--no-sandbox): neither Landlock nor seccomp "
			 "confines rapsrv");
		return cfg->user ? drop_privileges(cfg->user) : 0;
	}
	const char *reread[3 + MAX_LISTEN];
	size_t n = 0;
	if (cfg->tls_cert)
		reread[n++] = cfg->tls_cert;
	if (cfg->tls_key)
		reread[n++] = cfg->tls_key;
	if (cfg->tls_client_ca)
		reread[n++] = cfg->tls_client_ca;
	for (size_t i = 0; i < cfg->nlisten; i++)
		if (d->tls[i] && cfg->listen[i].pem[0])
			reread[n++] = cfg->listen[i].pem;
	const char *notify = getenv("NOTIFY_SOCKET");
	struct sandbox_spec spec = {
		.root = cfg->root,
		.write = cfg->allow_write,
		.reread = reread,
		.nreread = n,
		.shell = cfg->allow_shell,
		.debugger = rap_io_plugin_listed(cfg->allowed_plugins, "dbg"),
		.outgoing = scheme_connects_out(cfg->allowed_plugins) || cfg->upstream.uri,
		.abstract_unix = notify && notify[0] == '@',
		.journal = log_to_journal,
	};
	struct sandbox *sb;
	if (sandbox_prepare(&spec, sandbox_log, &sb) < 0)
		return EX_OSERR;
	int status = cfg->user ? drop_privileges(cfg->user) : 0;
	if (status == 0 && sandbox_enter(sb) < 0)
		status = EX_OSERR;
	sandbox_free(sb);
	return status;
}

/* Listens and runs the loop until a stop signal. Returns the exit status. */
static int serve(struct daemon *d)
{
	struct config *cfg = d->cfg;
	int rc, status = 0;
	struct opened_listener listeners[MAX_LISTEN];
	size_t nlisteners = 0, added = 0;
	int gdb_fds[2];
	size_t ngdb = 0;

	/* A socket and an open file per session, typically (the root handle is shared). */
	raise_fd_limit(cfg->max_sessions);
	rc = rap_loop_new(&d->loop);
	if (rc < 0) {
		log_line(LOG_ERR, NULL, "cannot start: %s", rap_strerror(rc));
		return EX_OSERR;
	}
	/* Signals are watched (and so blocked) from here on: one that arrives while we are
	 * still starting waits for the loop instead of killing the process mid-setup. */
	if (rap_loop_add_signal(d->loop, SIGTERM, on_stop_signal, d) < 0 ||
	    rap_loop_add_signal(d->loop, SIGINT, on_stop_signal, d) < 0 ||
	    rap_loop_add_signal(d->loop, SIGHUP, on_reload_signal, d) < 0) {
		log_line(LOG_ERR, NULL, "cannot watch signals: %s", strerror(errno));
		status = EX_OSERR;
		goto out;
	}
	if ((status = open_listeners(d, listeners, &nlisteners)) != 0)
		goto out;
	/* gdb's listeners too, before the sandbox. */
	for (size_t i = 0; i < cfg->ngdb; i++) {
		struct listen_spec *l = &cfg->gdb[i];
		/* A bare port 0: the system's choice for 127.0.0.1, the same one for ::1. */
		if (i == 1 && ngdb == 1 && !strcmp(l->port, "0"))
			snprintf(l->port, sizeof(l->port), "%d", rap_tcp_local_port(gdb_fds[0]));
		rc = rap_tcp_listen(l->host, l->port, 16, &gdb_fds[ngdb]);
		if (rc < 0 && i == 1 && cfg->ngdb == 2) {
			log_line(LOG_WARN, NULL, "gdb: not listening on [%s]:%s: %s", l->host, l->port, rap_strerror(rc));
			continue;
		}
		if (rc < 0) {
			log_line(LOG_ERR, NULL, "gdb: cannot listen on %s:%s: %s", l->host, l->port, rap_strerror(rc));
			status = EX_UNAVAILABLE;
			goto out;
		}
		ngdb++;
	}
	if (nlisteners == 0) {
		log_line(LOG_ERR, NULL, "nothing to listen on");
		status = EX_UNAVAILABLE;
		goto out;
	}
	/* Everything the process holds for itself is open now: what is left is shared between
	 * sessions' sockets and their files. */
	size_t fd_limit;
	size_t files = files_budget(cfg->max_sessions, &fd_limit);
	if (files && (rc = rap_io_set_max_files_total(d->root_holder, files)) < 0) {
		log_line(LOG_ERR, NULL, "cannot start: %s", rap_strerror(rc));
		status = EX_OSERR;
		goto out;
	}
	if (files)
		log_line(LOG_DEBUG, NULL, "at most %zu files open in all sessions together (descriptor limit %zu)", files,
			 fd_limit);
	/* One session alone never takes more than half of that: a client that opens files in
	 * a loop leaves the others room to open theirs. */
	d->max_files = cfg->max_files;
	if (files && d->max_files > files / 2) {
		d->max_files = files / 2 ? files / 2 : 1;
		log_line(LOG_WARN, NULL, "--max-files %zu lowered to %zu: the descriptor limit %zu leaves %zu for the files "
			 "of all sessions", cfg->max_files, d->max_files, fd_limit, files);
	}
	/* Bound and certificates loaded: from here on the process can only do what serving
	 * needs. Before the server exists, so that any thread it starts is confined too. */
	if ((status = confine(d)) != 0)
		goto out;

	struct rap_server_handler handler = *rap_core_rap_handler();
	handler.cmd = cmd_or_quit;
	handler.cmd_bounded = cmd_bounded_or_quit;
#if RAPSRV_TEST_HOOKS
	if (test_hook_bypass_confinement())
		handler.open = open_unconfined;
#endif
	/* A relay's commands, q included, are the upstream's. */
	if (d->upstream)
		handler = *rap_relay_handler();
	handler.log = NULL; /* the server logs session events with the peer */
	struct rap_server_callbacks callbacks = { session_open, session_close, server_log };
	rc = rap_server_new(d->loop, &handler, &callbacks, d, &d->server);
	the_server = d->server;
	if (rc < 0) {
		log_line(LOG_ERR, NULL, "cannot start: %s", rap_strerror(rc));
		status = EX_OSERR;
		goto out;
	}
	rap_server_set_max_sessions(d->server, cfg->max_sessions);
	rap_server_set_max_payload(d->server, cfg->max_message);
	rap_server_set_idle_timeout(d->server, cfg->idle_ms);
	rap_server_set_request_timeout(d->server, cfg->request_ms);
	rap_server_set_handshake_timeout(d->server, cfg->handshake_ms);
	/* Both checked while parsing the options. */
	if (cfg->workers >= 0)
		rap_server_set_workers(d->server, (unsigned)cfg->workers);
	rap_server_set_max_buffered(d->server, cfg->max_buffered, cfg->session_buffered);
	if (d->secret && (rc = rap_server_set_secret(d->server, d->secret)) < 0) {
		log_line(LOG_ERR, NULL, "cannot require authentication: %s", rap_strerror(rc));
		status = EX_CONFIG;
		goto out;
	}
	for (size_t i = 0; i < cfg->nnetworks; i++) {
		if (rap_server_allow_network(d->server, cfg->networks[i]) < 0) {
			log_line(LOG_ERR, NULL, "--allow-from: cannot parse '%s'", cfg->networks[i]);
			status = EX_USAGE;
			goto out;
		}
	}
	for (; added < nlisteners; added++) {
		const struct opened_listener *o = &listeners[added];
		rc = rap_server_add_listener(d->server, o->fd, o->tls);
		if (rc < 0) {
			log_line(LOG_ERR, NULL, "cannot serve a listener: %s", rap_strerror(rc));
			status = EX_OSERR;
			goto out;
		}
		int port = rap_tcp_local_port(o->fd);
		if (o->spec) {
			bool v6 = strchr(o->spec->host, ':') != NULL;
			log_line(LOG_NOTICE, NULL, "listening on %s://%s%s%s:%d", o->tls ? "raps" : "rap",
				 v6 ? "[" : "", o->spec->host, v6 ? "]" : "", port);
		} else {
			log_line(LOG_NOTICE, NULL, "listening on an activated socket, port %d%s", port,
				 o->tls ? ", TLS" : "");
		}
	}
	if (ngdb) {
		int ports[2];
		for (size_t i = 0; i < ngdb; i++)
			ports[i] = rap_tcp_local_port(gdb_fds[i]);
		struct rapsrv_gdb_config gc = {
			.program = cfg->gdb_program,
			.root = d->root_holder,
			.server = d->server,
			.max_sessions = cfg->max_sessions < 64 ? cfg->max_sessions : 64,
			.out_fd = d->dbg_out_fd,
			.log = gdb_log,
		};
		size_t n = ngdb;
		ngdb = 0; /* handed over, also on failure */
		rc = rapsrv_gdb_start(d->loop, gdb_fds, n, &gc, &d->gdb);
		if (rc < 0) {
			log_line(LOG_ERR, NULL, "gdb: cannot serve: %s", rap_strerror(rc));
			status = EX_OSERR;
			goto out;
		}
		for (size_t i = 0; i < n; i++) {
			bool v6 = strchr(cfg->gdb[i].host, ':') != NULL;
			log_line(LOG_NOTICE, NULL, "listening on gdb://%s%s%s:%d (debugging %s)", v6 ? "[" : "",
				 cfg->gdb[i].host, v6 ? "]" : "", ports[i],
				 cfg->gdb_program ? cfg->gdb_program : "what gdb runs beneath the root");
		}
	}
	if (d->upstream)
		log_line(LOG_NOTICE, NULL, "relaying to %s (a cache of %zu MiB per session%s)",
			 rapsrv_upstream_uri(d->upstream),
			 (cfg->upstream.cache_max ? cfg->upstream.cache_max : RAP_IO_CACHE_MAX_DEFAULT) >> 20,
			 d->secret ? "; clients must authenticate (--secret-file)" : "");
	else
		log_line(LOG_NOTICE, NULL, "serving %s (%s%s, commands: %s%s%s)", cfg->root,
		 cfg->allow_write ? "read-write" : "read-only", cfg->sync ? ", synchronous writes" : "",
		 (const char *[]){ "none", "read", "write", "all" }[cfg->cmd_policy],
		 cfg->allow_shell ? ", shell allowed" : "",
		 d->secret ? "; clients must authenticate (--secret-file)" : "");

	notify_systemd("READY=1");
	rc = rap_loop_run(d->loop);
	if (rc < 0) {
		log_line(LOG_ERR, NULL, "event loop: %s", rap_strerror(rc));
		status = EX_OSERR;
	} else {
		log_line(LOG_NOTICE, NULL, "stopped");
	}
out:
	/* Listeners not handed to the server yet are still ours. */
	for (size_t k = added; k < nlisteners; k++)
		close(listeners[k].fd);
	for (size_t k = 0; k < ngdb; k++)
		close(gdb_fds[k]);
	rapsrv_gdb_free(d->gdb);
	rap_server_free(d->server);
	rap_loop_free(d->loop);
	return status;
}
