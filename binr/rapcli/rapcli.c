/* rapcli: interactive and scripted client. Opens a local file or a rap:// URI and runs
 * radare2-style commands on it through librap-core. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <locale.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sysexits.h>
#include <unistd.h>

#include <rap/core.h>
#include <rap/tls.h>

#include "input.h"
#include "prompt.h"
#include "signals.h"

/* A configuration setting from -a, -b or -e, in command-line order. */
struct cli_setting {
	const char *key;
	const char *value; /* borrowed from argv, or the value part of an -e argument */
};

struct cli_options {
	const char **commands; /* -c, in order */
	size_t ncommands;
	struct cli_setting *settings; /* heap; -a, -b, -e in order, applied before opening */
	size_t nsettings;
	const char *script;    /* -i */
	const char *target;    /* URI or path */
	char *dbg_target;      /* heap, owned: -d's "dbg://PROG ARGS" (target points at it) */
	bool quiet;
	bool writable;
	bool list_plugins;
	const char *tls_ca, *tls_cert, *tls_key;
	bool tls_insecure;
	const char *secret_file; /* --secret-file: authenticate to rap:// servers */
	bool debug; /* -d */
};

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: rapcli [OPTIONS] [URI|PATH]\n"
		"Inspect local files and remote RAP servers with radare2-style commands.\n"
		"\n"
		"  -c CMD      run CMD (repeatable, in order), then exit\n"
		"  -i FILE     run the commands in FILE, then exit\n"
		"  -a ARCH     disassemble ARCH: x86, arm, mips (e asm.arch)\n"
		"  -b BITS     16, 32 or 64 as ARCH allows; arm 16 is Thumb (e asm.bits)\n"
		"  -e KEY=VALUE  set a configuration variable (repeatable)\n"
		"  -n          accepted for radare2's sake: headers are all rapcli reads\n"
		"  -q          quiet: no banner\n"
		"  -w          open the file for writing\n"
		"  -d          debug: PATH is a program to start (dbg://PATH ARGS; ARGS follow PATH)\n"
		"  -L          list the IO plugins and exit\n"
		"  -h, --help     show this help and exit\n"
		"  -V, --version  show the version and exit\n"
		"  --tls-ca FILE     verify raps:// servers against these CAs (default: system store)\n"
		"  --tls-cert FILE   client certificate chain for servers that require one\n"
		"  --tls-key FILE    private key for --tls-cert (default: the --tls-cert file)\n"
		"  --tls-insecure    do not verify the server's certificate (tests only)\n"
		"  --secret-file FILE  authenticate to rap servers with the shared secret in FILE\n"
		"                      (mode 0600; such servers must prove they know it too)\n"
		"\n"
		"Without -c or -i, commands come from standard input when it is not a terminal,\n"
		"otherwise from an interactive prompt. URI examples: rap://127.0.0.1:9999//bin/ls,\n"
		"rap://[::1]:9999/, malloc://4096, file:///etc/hosts; - is a 512-byte scratch\n"
		"buffer (malloc://512, writable).\n"
		"Exit status: 0 when every command succeeded, 1 when one failed (here or on the\n"
		"server), 64 usage error (also an invalid URI or an unusable --secret-file), 66 the\n"
		"file cannot be opened (here or by the server), 69 the server cannot be reached, 77\n"
		"authentication failed or is required, 128+N signal N ended the run.\n");
}

static void version(void)
{
	printf("rapcli (rap) %s\n"
	       "Copyright (c) 2026 the rap authors\n"
	       "License: MIT <https://opensource.org/licenses/MIT>\n",
	       RAP_VERSION_STRING);
}

/* radare2 -L layout: "rw_  name     Description. uris". */
static void list_plugins(struct rap_io *io)
{
	const struct rap_io_plugin *p;
	for (size_t i = 0; (p = rap_io_plugin_at(io, i)) != NULL; i++) {
		printf("r%c%c  %-8s %s.%s%s\n", p->write ? 'w' : '_', p->is_debugger ? 'd' : '_',
		       p->name, p->desc, p->uris && *p->uris ? " " : "", p->uris ? p->uris : "");
	}
}

static int add_setting(struct cli_options *o, const char *key, const char *value)
{
	struct cli_setting *v = realloc(o->settings, sizeof(*v) * (o->nsettings + 1));
	if (!v) {
		fprintf(stderr, "rapcli: out of memory\n");
		return EX_OSERR;
	}
	o->settings = v;
	o->settings[o->nsettings++] = (struct cli_setting){ key, value };
	return 0;
}

static int parse_args(int argc, char **argv, struct cli_options *o)
{
	enum { OPT_TLS_CA = 256, OPT_TLS_CERT, OPT_TLS_KEY, OPT_TLS_INSECURE, OPT_SECRET_FILE };
	static const struct option longopts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ "tls-ca", required_argument, NULL, OPT_TLS_CA },
		{ "tls-cert", required_argument, NULL, OPT_TLS_CERT },
		{ "tls-key", required_argument, NULL, OPT_TLS_KEY },
		{ "tls-insecure", no_argument, NULL, OPT_TLS_INSECURE },
		{ "secret-file", required_argument, NULL, OPT_SECRET_FILE },
		{ NULL, 0, NULL, 0 },
	};
	int c;
	/* '+': stop at the first non-option so a target like "-" or a later word is not parsed.
	 * ':' (and opterr 0): option errors are reported here, as "rapcli:", not with the path
	 * the program was started by. */
	opterr = 0;
	while ((c = getopt_long(argc, argv, "+:c:i:a:b:e:dnqwLhV", longopts, NULL)) != -1) {
		int rc;
		switch (c) {
		case 'a':
			if ((rc = add_setting(o, "asm.arch", optarg)) != 0)
				return rc;
			break;
		case 'b':
			if ((rc = add_setting(o, "asm.bits", optarg)) != 0)
				return rc;
			break;
		case 'e': {
			char *eq = strchr(optarg, '=');
			if (!eq || eq == optarg) {
				fprintf(stderr, "rapcli: -e needs KEY=VALUE, not '%s'\nTry 'rapcli -h' for more information.\n",
					optarg);
				return EX_USAGE;
			}
			*eq = '\0';
			if ((rc = add_setting(o, optarg, eq + 1)) != 0)
				return rc;
			break;
		}
		case 'n':
			break;
		case 'd':
			o->debug = true;
			break;
		case 'c': {
			const char **v = realloc(o->commands, sizeof(*v) * (o->ncommands + 1));
			if (!v) {
				fprintf(stderr, "rapcli: out of memory\n");
				return EX_OSERR;
			}
			o->commands = v;
			o->commands[o->ncommands++] = optarg;
			break;
		}
		case 'i':
			o->script = optarg;
			break;
		case 'q':
			o->quiet = true;
			break;
		case 'w':
			o->writable = true;
			break;
		case 'L':
			o->list_plugins = true;
			break;
		case OPT_TLS_CA:
			o->tls_ca = optarg;
			break;
		case OPT_TLS_CERT:
			o->tls_cert = optarg;
			break;
		case OPT_TLS_KEY:
			o->tls_key = optarg;
			break;
		case OPT_TLS_INSECURE:
			o->tls_insecure = true;
			break;
		case OPT_SECRET_FILE:
			o->secret_file = optarg;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		case 'V':
			version();
			exit(0);
		case ':':
			if (optopt > 0 && optopt < 256)
				fprintf(stderr, "rapcli: option '-%c' needs an argument\n", optopt);
			else
				fprintf(stderr, "rapcli: option '%s' needs an argument\n", argv[optind - 1]);
			fprintf(stderr, "Try 'rapcli -h' for more information.\n");
			return EX_USAGE;
		default:
			if (optopt > 0 && optopt < 256)
				fprintf(stderr, "rapcli: unknown option '-%c'\n", optopt);
			else
				fprintf(stderr, "rapcli: unknown option '%s'\n", argv[optind - 1]);
			fprintf(stderr, "Try 'rapcli -h' for more information.\n");
			return EX_USAGE;
		}
	}
	if (optind < argc)
		o->target = argv[optind++];
	/* radare2's -d PROG [ARGS]: the program started stopped at its first instruction. */
	if (o->debug) {
		if (!o->target) {
			fprintf(stderr, "rapcli: -d needs a program\nTry 'rapcli -h' for more information.\n");
			return EX_USAGE;
		}
		size_t len = strlen("dbg://") + strlen(o->target) + 1;
		for (int i = optind; i < argc; i++)
			len += strlen(argv[i]) + 1;
		o->dbg_target = malloc(len);
		if (!o->dbg_target) {
			fprintf(stderr, "rapcli: out of memory\n");
			return EX_OSERR;
		}
		snprintf(o->dbg_target, len, "dbg://%s", o->target);
		for (; optind < argc; optind++) {
			strcat(o->dbg_target, " ");
			strcat(o->dbg_target, argv[optind]);
		}
		o->target = o->dbg_target;
		o->writable = true;
	}
	/* radare2's "-": a small writable scratch buffer. */
	if (o->target && !strcmp(o->target, "-")) {
		o->target = "malloc://512";
		o->writable = true;
	}
	if (optind < argc) {
		fprintf(stderr, "rapcli: unexpected argument '%s'\nTry 'rapcli -h' for more information.\n",
			argv[optind]);
		return EX_USAGE;
	}
	return 0;
}

static int open_target(struct rap_core *core, const struct cli_options *o)
{
	int perm = RAP_PERM_R | RAP_PERM_X | (o->writable ? RAP_PERM_W : 0);
	int fd = rap_core_open(core, o->target, perm);
	if (fd >= 0)
		return 0;
	const char *detail = rap_io_error(rap_core_io(core));
	/* The server answered fd -1: reached, but the file is missing, outside its root or
	 * refused by its policy (stock RAP says no more; our server says why). That is
	 * "cannot open", not "cannot reach". */
	if (fd == RAP_EREMOTE) {
		fprintf(stderr, "rapcli: cannot open '%s': %s\n", o->target,
			*detail ? detail : "the server refused or could not open the file");
		return EX_NOINPUT;
	}
	/* Either side's proof failed, or one side wanted authentication the other did not. */
	if (fd == RAP_EAUTH) {
		fprintf(stderr, "rapcli: cannot open '%s': %s\n", o->target, *detail ? detail : rap_strerror(fd));
		return EX_NOPERM;
	}
	/* A URI that does not parse (a port past 65535, an unclosed '[') is the user's typo,
	 * not an unreachable server. */
	if (fd == RAP_EURI) {
		fprintf(stderr, "rapcli: invalid URI '%s' (expected SCHEME://HOST:PORT/PATH with a port "
			"from 1 to 65535 and IPv6 addresses in brackets)\nTry 'rapcli -h' for more information.\n",
			o->target);
		return EX_USAGE;
	}
	/* The connection's own account (a TLS alert, a TLS port, a refused connect) says more
	 * than the error class; a server asking for a certificate gets the option's name. */
	const char *hint = fd == RAP_ETLS && !o->tls_cert && strstr(detail, "requires a client certificate")
				   ? " (--tls-cert)"
			   : fd == RAP_ENOTREG ? " (to open a device: rapcli -c 'e io.special=true; o PATH')"
					       : "";
	fprintf(stderr, "rapcli: cannot open '%s': %s%s\n", o->target, *detail ? detail : rap_strerror(fd), hint);
	bool remote = strstr(o->target, "://") && strncmp(o->target, "file://", 7) != 0 &&
		      strncmp(o->target, "malloc://", 9) != 0 && strncmp(o->target, "dbg://", 6) != 0;
	return remote ? EX_UNAVAILABLE : EX_NOINPUT;
}

/* A build without TLS cannot honour --tls-* or a raps:// target: refused up front as a
 * usage error, before anything is opened, instead of failing later as if the server were
 * unreachable. */
static bool tls_requested(const struct cli_options *o)
{
	return o->tls_ca || o->tls_cert || o->tls_key || o->tls_insecure ||
	       (o->target && strncasecmp(o->target, "raps://", 7) == 0);
}

/* A client TLS configuration from the --tls-* options. */
static int make_tls(const struct cli_options *o, struct rap_tls_config **out)
{
	struct rap_tls_config *cfg;
	int rc = rap_tls_config_new(false, &cfg);
	if (rc < 0) {
		fprintf(stderr, "rapcli: TLS: %s\n", rap_strerror(rc));
		return EX_UNAVAILABLE;
	}
	if (o->tls_ca)
		rc = rap_tls_config_set_ca(cfg, o->tls_ca);
	if (rc == 0 && (o->tls_cert || o->tls_key))
		rc = o->tls_cert ? rap_tls_config_set_cert(cfg, o->tls_cert, o->tls_key) : RAP_EINVAL;
	if (rc == 0 && o->tls_insecure)
		rc = rap_tls_config_set_insecure(cfg, true);
	if (rc < 0) {
		fprintf(stderr, "rapcli: TLS: %s\n",
			rc == RAP_EINVAL && !o->tls_cert ? "--tls-key needs --tls-cert" : rap_tls_config_error(cfg));
		rap_tls_config_free(cfg);
		return EX_USAGE;
	}
	*out = cfg;
	return 0;
}

/* Sets the variables of -a, -b and -e in order. A wrong one is a usage error. */
static int apply_settings(struct rap_core *core, const struct cli_options *o)
{
	for (size_t i = 0; i < o->nsettings; i++) {
		const struct cli_setting *s = &o->settings[i];
		if (!rap_core_config_get(core, s->key)) {
			fprintf(stderr, "rapcli: unknown variable '%s' (rapcli -c e lists them)\n", s->key);
			return EX_USAGE;
		}
		int rc = rap_core_config_set(core, s->key, s->value);
		if (rc == RAP_EINVAL) {
			fprintf(stderr, "rapcli: invalid value '%s' for '%s'%s\n", s->value, s->key,
				!strcmp(s->key, "asm.bits") ? " (the bits asm.arch allows: see 'pd?')" : "");
			return EX_USAGE;
		}
		if (rc < 0) {
			fprintf(stderr, "rapcli: cannot set '%s': %s\n", s->key, rap_strerror(rc));
			return EX_OSERR;
		}
	}
	return 0;
}

/* Runs one line; returns false when it failed. */
static bool run_line(struct rap_core *core, const char *line)
{
	int rc = rap_core_cmd(core, line);
	fflush(stdout);
	return rc >= 0;
}

/* Scripted runs (-c, -i, standard input): Ctrl-C, SIGTERM and SIGHUP interrupt the running
 * command and end the run. Returns the signal that did, or 0. */
static int interrupted(void)
{
	unsigned got = signals_take();
	return got & SIGNALS_STOP ? signals_stop_signo() : got & SIGNALS_INT ? SIGINT : 0;
}

/* Runs every line read from fd. Returns false if any failed; stops early on "q" and on a
 * signal (interrupted(): *stopped receives it), which also ends the wait for the next line. */
static bool run_stream(struct rap_core *core, int fd, int *stopped)
{
	bool ok = true;
	struct input in;
	input_init(&in, fd);
	while (!rap_core_quit_requested(core)) {
		char *line;
		enum input_result r = input_line(&in, &line);
		if (r == INPUT_SIGNAL) {
			if ((*stopped = interrupted()))
				break;
			continue;
		}
		if (r == INPUT_ERROR) {
			fprintf(stderr, "rapcli: cannot read commands: %s\n", strerror(errno));
			ok = false;
			break;
		}
		if (r == INPUT_EOF)
			break;
		ok = run_line(core, line) && ok;
		free(line);
		if ((*stopped = interrupted()))
			break;
	}
	input_free(&in);
	return ok;
}

/* After a scripted run that left servers in the background (=&:PORT, =t& PORT, =h& PORT),
 * whatever standard input is: they serve until Ctrl-C, SIGTERM or SIGHUP. */
static void serve_in_background(struct rap_core *core)
{
	size_t n = rap_core_background_servers(core);
	if (!n)
		return;
	fprintf(stderr, "rapcli: %zu server%s running in the background; Ctrl-C stops %s\n", n, n > 1 ? "s" : "",
		n > 1 ? "them" : "it");
	for (;;) {
		struct pollfd pfd = { signals_fd(), POLLIN, 0 };
		if (poll(&pfd, 1, -1) < 0 && errno != EINTR)
			return;
		if (signals_take() & (SIGNALS_INT | SIGNALS_STOP))
			return;
	}
}

/* The interactive prompt. Ctrl-C drops the line being typed (or interrupts the command
 * running); q, Ctrl-D, a second Ctrl-C on an empty line, SIGTERM and SIGHUP end it, the
 * history saved in every case. Returns false if a command failed; *signo receives the
 * SIGTERM/SIGHUP that ended it, or 0. */
static bool interactive(struct rap_core *core, int *signo)
{
	*signo = 0;
	struct prompt *p;
	int rc = prompt_new(core, &p);
	if (rc < 0) {
		fprintf(stderr, "rapcli: cannot start the prompt: %s\n", rap_strerror(rc));
		return false;
	}
	bool ok = true, cancelled_empty = false;
	while (!rap_core_quit_requested(core)) {
		char *line;
		bool empty;
		enum prompt_result r = prompt_read(p, &line, &empty);
		if (r == PROMPT_EOF)
			break;
		if (r == PROMPT_STOPPED) {
			*signo = signals_stop_signo();
			break;
		}
		if (r == PROMPT_CANCELLED) {
			if (empty && cancelled_empty)
				break;
			if (empty)
				printf("(Ctrl-C again, Ctrl-D or q to quit)\n");
			cancelled_empty = empty;
			continue;
		}
		cancelled_empty = false;
		ok = run_line(core, line) && ok;
		free(line);
		/* A Ctrl-C that interrupted the command is spent; a SIGTERM is not. */
		if (signals_take() & SIGNALS_STOP) {
			*signo = signals_stop_signo();
			break;
		}
	}
	prompt_free(p);
	return ok;
}

int main(int argc, char **argv)
{
	struct cli_options o = { 0 };
	struct rap_tls_config *tls = NULL;
	struct rap_secret *secret = NULL;
	int rc = parse_args(argc, argv, &o);
	if (rc != 0) {
		free(o.commands); /* what -c options came before the error */
		free(o.settings);
		free(o.dbg_target);
		return rc;
	}
	signal(SIGPIPE, SIG_IGN);

	struct rap_core *core;
	rc = rap_core_new(&core);
	if (rc < 0) {
		fprintf(stderr, "rapcli: %s\n", rap_strerror(rc));
		free(o.commands);
		free(o.settings);
		free(o.dbg_target);
		return EX_OSERR;
	}
	int status = 0;
	/* A debugged program writes to the terminal, as under radare2 -d. */
	rap_io_set_dbg_output(rap_core_io(core), STDOUT_FILENO);
	if (o.list_plugins) {
		list_plugins(rap_core_io(core));
		goto out;
	}
	if (tls_requested(&o) && !rap_tls_available()) {
		fprintf(stderr, "rapcli: TLS is not available in this build (rap was built without "
			"OpenSSL): raps:// and --tls-* cannot be used\n");
		status = EX_USAGE;
		goto out;
	}
	if (o.tls_ca || o.tls_cert || o.tls_key || o.tls_insecure) {
		if ((status = make_tls(&o, &tls)) != 0)
			goto out;
		rap_io_set_tls(rap_core_io(core), tls);
	}
	if (o.secret_file) {
		/* From a file only: an argument would show in ps, a URI in logs and history. */
		char why[512];
		if (!rap_auth_available()) {
			fprintf(stderr, "rapcli: authentication is not available in this build (rap was built "
				"without OpenSSL): --secret-file cannot be used\n");
			status = EX_USAGE;
			goto out;
		}
		if (rap_secret_load(o.secret_file, &secret, why, sizeof(why)) < 0) {
			fprintf(stderr, "rapcli: --secret-file: %s\n", why);
			status = EX_USAGE;
			goto out;
		}
		rap_io_set_secret(rap_core_io(core), secret);
	}
	/* -a, -b and -e before the file opens: what the user set, its header does not change. */
	if ((status = apply_settings(core, &o)) != 0)
		goto out;
	if (o.target && (status = open_target(core, &o)) != 0)
		goto out;

	bool tty = !o.ncommands && !o.script && isatty(STDIN_FILENO);
	if ((rc = signals_install(core)) < 0) {
		fprintf(stderr, "rapcli: cannot install signal handlers: %s\n", rap_strerror(rc));
		status = EX_OSERR;
		goto out;
	}
	bool ok = true;
	int stopped = 0, signo = 0; /* the signal that ended a scripted run, or the prompt */
	if (o.ncommands || o.script) {
		for (size_t i = 0; i < o.ncommands && !rap_core_quit_requested(core) && !stopped; i++) {
			ok = run_line(core, o.commands[i]) && ok;
			stopped = interrupted();
		}
		if (o.script && !rap_core_quit_requested(core) && !stopped) {
			int fd = open(o.script, O_RDONLY | O_CLOEXEC);
			if (fd < 0) {
				fprintf(stderr, "rapcli: cannot read '%s': %s\n", o.script, strerror(errno));
				status = EX_NOINPUT;
				goto out;
			}
			ok = run_stream(core, fd, &stopped) && ok;
			close(fd);
		}
	} else if (!tty) {
		ok = run_stream(core, STDIN_FILENO, &stopped);
	} else {
		setlocale(LC_CTYPE, ""); /* the line editor decodes keys per the terminal's locale */
		if (!o.quiet)
			printf("rapcli %s -- type ? for help, q to quit\n", RAP_VERSION_STRING);
		ok = interactive(core, &signo);
	}
	if (!tty && !stopped && !rap_core_quit_requested(core))
		serve_in_background(core);
	if (stopped)
		signo = stopped;
	/* 128 + the signal, as shells report a command a signal ended. */
	status = signo ? 128 + signo : ok ? 0 : 1;
out:
	rap_core_free(core);
	rap_secret_free(secret); /* after the core: its connections borrow it */
	rap_tls_config_free(tls);
	free(o.commands);
	free(o.settings);
	free(o.dbg_target);
	return status;
}
