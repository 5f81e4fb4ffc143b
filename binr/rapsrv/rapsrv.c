/* rapsrv: serves files to radare2, rizin and rapcli clients over RAP.
 * A thin executable over librap-core: options, signals, logging, exit codes. */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>

#include <rap/core.h>

#define DEFAULT_HOST "127.0.0.1"
#define DEFAULT_PORT "9999"

enum log_level { LOG_ERR = 3, LOG_WARN = 4, LOG_NOTICE = 5, LOG_INFO = 6, LOG_DEBUG = 7 };

struct server_config {
	char host[256];
	char port[32];
	char root[PATH_MAX];
	bool allow_write;
	enum rap_core_policy cmd_policy;
	bool allow_shell;
	const char *allowed_plugins;
	int verbosity; /* highest level printed */
};

static volatile sig_atomic_t stop_requested;
static int log_max_level = LOG_INFO;

static void log_line(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void log_line(int level, const char *fmt, ...)
{
	if (level > log_max_level)
		return;
	static const char *names[] = {
		[LOG_ERR] = "error", [LOG_WARN] = "warning", [LOG_NOTICE] = "notice",
		[LOG_INFO] = "info", [LOG_DEBUG] = "debug",
	};
	char stamp[32];
	time_t now = time(NULL);
	struct tm tm;
	gmtime_r(&now, &tm);
	strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%SZ", &tm);
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	fprintf(stderr, "%s rapsrv[%d] %s: %s\n", stamp, (int)getpid(), names[level], msg);
}

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: rapsrv [OPTIONS] [[rap://]HOST:]PORT\n"
		"Serve files over radare2's Remote Access Protocol (default 127.0.0.1:9999).\n"
		"\n"
		"  -r, --root DIR       serve files beneath DIR only (default: current directory)\n"
		"  -w, --write          allow clients to write (read-only otherwise)\n"
		"      --cmd LEVEL      remote commands: none, read (default), write or all\n"
		"      --allow-shell    allow '!' shell commands from clients (dangerous)\n"
		"  -v, --verbose        log more (debug)\n"
		"  -q, --quiet          log only warnings and errors\n"
		"  -h, --help           show this help and exit\n"
		"  -V, --version        show the version and exit\n"
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
	static const struct {
		const char *name;
		enum rap_core_policy level;
	} levels[] = {
		{ "none", RAP_CORE_POLICY_NONE },
		{ "read", RAP_CORE_POLICY_READ },
		{ "write", RAP_CORE_POLICY_WRITE },
		{ "all", RAP_CORE_POLICY_ALL },
	};
	for (size_t i = 0; i < sizeof(levels) / sizeof(levels[0]); i++) {
		if (strcmp(s, levels[i].name) == 0) {
			*out = levels[i].level;
			return 0;
		}
	}
	return -1;
}

/* Accepts PORT, HOST:PORT, [V6]:PORT and the rap:// forms of them. */
static int parse_listen_address(const char *arg, struct server_config *cfg)
{
	if (strncmp(arg, "rap://", 6) == 0) {
		struct rap_uri u;
		if (rap_uri_parse(arg, "rap", &u) < 0)
			return -1;
		snprintf(cfg->host, sizeof(cfg->host), "%s", u.host[0] ? u.host : DEFAULT_HOST);
		snprintf(cfg->port, sizeof(cfg->port), "%s", u.port);
		return 0;
	}
	const char *colon = strrchr(arg, ':');
	if (!colon) {
		snprintf(cfg->port, sizeof(cfg->port), "%s", arg);
	} else {
		const char *h = arg;
		size_t hl = (size_t)(colon - arg);
		if (hl >= 2 && h[0] == '[' && h[hl - 1] == ']') {
			h++;
			hl -= 2;
		}
		if (hl >= sizeof(cfg->host))
			return -1;
		if (hl > 0) {
			memcpy(cfg->host, h, hl);
			cfg->host[hl] = '\0';
		}
		snprintf(cfg->port, sizeof(cfg->port), "%s", colon + 1);
	}
	char *end;
	long p = strtol(cfg->port, &end, 10);
	return (*end || end == cfg->port || p < 0 || p > 65535) ? -1 : 0;
}

static int parse_args(int argc, char **argv, struct server_config *cfg)
{
	enum { OPT_CMD = 256, OPT_ALLOW_SHELL };
	static const struct option longopts[] = {
		{ "root", required_argument, NULL, 'r' },
		{ "write", no_argument, NULL, 'w' },
		{ "cmd", required_argument, NULL, OPT_CMD },
		{ "allow-shell", no_argument, NULL, OPT_ALLOW_SHELL },
		{ "verbose", no_argument, NULL, 'v' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	int c;
	while ((c = getopt_long(argc, argv, "r:wvqhV", longopts, NULL)) != -1) {
		switch (c) {
		case 'r':
			if (!realpath(optarg, cfg->root)) {
				fprintf(stderr, "rapsrv: root directory '%s': %s\n", optarg, strerror(errno));
				return EX_CONFIG;
			}
			break;
		case 'w':
			cfg->allow_write = true;
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
	if (optind == argc - 1 && parse_listen_address(argv[optind], cfg) < 0) {
		fprintf(stderr, "rapsrv: cannot parse listen address '%s' (want [[rap://]HOST:]PORT)\n",
			argv[optind]);
		return EX_USAGE;
	}
	return 0;
}

static void on_stop_signal(int sig)
{
	(void)sig;
	stop_requested = 1;
}

static void install_signals(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);
	/* No SA_RESTART: a blocking accept() must return so the loop sees the request. */
	sa.sa_handler = on_stop_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
}

/* The handler's context is the session's core, so the peer of the session being served
 * (one at a time) is kept here for the log lines. */
static const char *current_peer = "-";

static void session_log(void *ctx, int level, const char *msg)
{
	(void)ctx;
	log_line(level, "%s: %s", current_peer, msg);
}

static void format_peer(const struct sockaddr_storage *ss, char *out, size_t cap)
{
	char addr[INET6_ADDRSTRLEN] = "?";
	int port = 0;
	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)ss;
		inet_ntop(AF_INET, &in->sin_addr, addr, sizeof(addr));
		port = ntohs(in->sin_port);
		snprintf(out, cap, "%s:%d", addr, port);
	} else if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)ss;
		inet_ntop(AF_INET6, &in6->sin6_addr, addr, sizeof(addr));
		port = ntohs(in6->sin6_port);
		snprintf(out, cap, "[%s]:%d", addr, port);
	} else {
		snprintf(out, cap, "unknown");
	}
}

static int configure_core(struct rap_core *core, const struct server_config *cfg)
{
	struct rap_io *io = rap_core_io(core);
	int rc = rap_io_set_root(io, cfg->root);
	if (rc < 0)
		return rc;
	rap_io_set_allow_write(io, cfg->allow_write);
	rc = rap_io_set_allowed_plugins(io, cfg->allowed_plugins);
	if (rc < 0)
		return rc;
	rap_core_set_policy(core, cfg->cmd_policy);
	rap_core_set_allow_shell(core, cfg->allow_shell);
	return 0;
}

/* One client at a time: each gets a fresh core (its own files and position). */
static void serve_client(int fd, const char *peer, const struct server_config *cfg,
			 struct rap_server_handler *handler)
{
	struct rap_core *core = NULL;
	struct rap_server_session *session = NULL;
	int rc = rap_core_new(&core);
	if (rc == 0)
		rc = configure_core(core, cfg);
	if (rc == 0)
		rc = rap_server_session_new(handler, core, &session);
	if (rc < 0) {
		log_line(LOG_ERR, "%s: cannot set up a session: %s", peer, rap_strerror(rc));
		goto out;
	}
	log_line(LOG_INFO, "%s: client connected", peer);
	current_peer = peer;
	rc = rap_server_session_serve_fd(session, fd);
	current_peer = "-";
	if (rc == 0)
		log_line(LOG_INFO, "%s: client disconnected", peer);
	else if (rc == RAP_EPROTO)
		log_line(LOG_WARN, "%s: dropped: %s", peer, rap_server_session_error(session));
	else
		log_line(LOG_WARN, "%s: connection ended: %s", peer, rap_strerror(rc));
out:
	rap_server_session_free(session);
	rap_core_free(core);
}

int main(int argc, char **argv)
{
	struct server_config cfg = {
		.host = DEFAULT_HOST,
		.port = DEFAULT_PORT,
		.cmd_policy = RAP_CORE_POLICY_READ,
		.allowed_plugins = "file",
	};
	if (!getcwd(cfg.root, sizeof(cfg.root))) {
		fprintf(stderr, "rapsrv: current directory: %s\n", strerror(errno));
		return EX_OSERR;
	}
	int rc = parse_args(argc, argv, &cfg);
	if (rc != 0)
		return rc;
	install_signals();

	int lfd;
	rc = rap_tcp_listen(cfg.host, cfg.port, 64, &lfd);
	if (rc < 0) {
		log_line(LOG_ERR, "cannot listen on %s:%s: %s", cfg.host, cfg.port, rap_strerror(rc));
		return EX_UNAVAILABLE;
	}
	int port = rap_tcp_local_port(lfd);
	bool v6 = strchr(cfg.host, ':') != NULL;
	log_line(LOG_NOTICE, "listening on rap://%s%s%s:%d serving %s (%s, commands: %s%s)",
		 v6 ? "[" : "", cfg.host, v6 ? "]" : "", port, cfg.root,
		 cfg.allow_write ? "read-write" : "read-only",
		 (const char *[]){ "none", "read", "write", "all" }[cfg.cmd_policy],
		 cfg.allow_shell ? ", shell allowed" : "");

	struct rap_server_handler handler = *rap_core_rap_handler();
	handler.log = session_log;

	while (!stop_requested) {
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);
		int cfd = accept4(lfd, (struct sockaddr *)&ss, &sl, SOCK_CLOEXEC);
		if (cfd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno == EMFILE || errno == ENFILE) {
				log_line(LOG_WARN, "accept: %s; pausing", strerror(errno));
				struct timespec pause = { 0, 100 * 1000 * 1000 };
				nanosleep(&pause, NULL);
				continue;
			}
			log_line(LOG_ERR, "accept: %s", strerror(errno));
			close(lfd);
			return EX_OSERR;
		}
		char peer[INET6_ADDRSTRLEN + 16];
		format_peer(&ss, peer, sizeof(peer));
		serve_client(cfd, peer, &cfg, &handler);
		close(cfd);
	}
	log_line(LOG_NOTICE, "shutting down");
	close(lfd);
	return 0;
}
