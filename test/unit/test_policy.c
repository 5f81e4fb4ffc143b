/* The policy of a core (policy.c): the served mark and what it forbids at every level
 * (servers, connections, network files, raising a policy), every command of the command
 * table walked in a served core while counting its sockets, the clamp of a server started
 * from a core, and the one way commands open local files (FIFOs, devices, sockets). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include <rap/core.h>
#include <rap/io.h>
#include <rap/server.h>

#include "common.h"
#include "core_private.h"
#include "servers.h"

/* ---- helpers -------------------------------------------------------------------------- */

struct result {
	int rc;
	char *out;
	char *err;
};

static struct result run(struct rap_core *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static struct result run(struct rap_core *c, const char *fmt, ...)
{
	char line[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	struct result r;
	r.rc = rap_core_cmd_str(c, line, &r.out, &r.err);
	assert_non_null(r.out);
	assert_non_null(r.err);
	return r;
}

static void result_free(struct result *r)
{
	free(r->out);
	free(r->err);
}

/* Expects rc and needle in the error text (exactly one line of it). */
static void expect_fail(struct rap_core *c, const char *line, int rc, const char *needle)
{
	struct result r = run(c, "%s", line);
	char *nl = strchr(r.err, '\n');
	if (r.rc != rc || !strstr(r.err, needle) || !nl || nl[1])
		fail_msg("'%s': rc %d (want %d)\n--- err\n%s--- want one line with '%s'", line, r.rc, rc, r.err,
			 needle);
	result_free(&r);
}

static void expect_out(struct rap_core *c, const char *line, const char *want)
{
	struct result r = run(c, "%s", line);
	if (r.rc != 0 || strcmp(r.out, want) != 0 || r.err[0])
		fail_msg("'%s': rc %d\n--- out\n%s--- want\n%s--- err\n%s", line, r.rc, r.out, want, r.err);
	result_free(&r);
}

/* Sockets, and the epoll and eventfd descriptors a server's loop and thread would add. */
static int count_endpoints(void)
{
	DIR *d = opendir("/proc/self/fd");
	assert_non_null(d);
	int n = 0;
	struct dirent *e;
	while ((e = readdir(d))) {
		char path[300], link[128];
		snprintf(path, sizeof(path), "/proc/self/fd/%s", e->d_name);
		ssize_t l = readlink(path, link, sizeof(link) - 1);
		if (l <= 0)
			continue;
		link[l] = '\0';
		n += !strncmp(link, "socket:", 7) || !strncmp(link, "anon_inode:", 11);
	}
	closedir(d);
	return n;
}

/* A loopback listener that counts whoever connects and hangs up on them at once, so that
 * a client that would wait for an answer fails fast instead. */
struct watch {
	int fd;
	int port;
	atomic_int seen;
	atomic_bool stop;
	pthread_t thread;
};

static void watch_accept(struct watch *w)
{
	int c;
	while ((c = accept(w->fd, NULL, NULL)) >= 0) {
		close(c);
		atomic_fetch_add(&w->seen, 1);
	}
}

static void *watch_main(void *arg)
{
	struct watch *w = arg;
	while (!atomic_load(&w->stop)) {
		struct pollfd p = { .fd = w->fd, .events = POLLIN };
		if (poll(&p, 1, 50) > 0)
			watch_accept(w);
	}
	return NULL;
}

static void watch_start(struct watch *w)
{
	assert_int_equal(rap_tcp_listen("127.0.0.1", "0", 64, &w->fd), 0);
	w->port = rap_tcp_local_port(w->fd);
	assert_true(w->port > 0);
	int fl = fcntl(w->fd, F_GETFL);
	assert_int_equal(fcntl(w->fd, F_SETFL, fl | O_NONBLOCK), 0);
	atomic_init(&w->seen, 0);
	atomic_init(&w->stop, false);
	assert_int_equal(pthread_create(&w->thread, NULL, watch_main, w), 0);
}

/* Whether anything connected since the last call. A connect that returned is complete in
 * the kernel: it is in the queue if the thread has not taken it yet. */
static bool watch_connected(struct watch *w)
{
	watch_accept(w);
	return atomic_exchange(&w->seen, 0) > 0;
}

static void watch_stop(struct watch *w)
{
	atomic_store(&w->stop, true);
	pthread_join(w->thread, NULL);
	close(w->fd);
}

/* The line being walked, for the alarm's message. */
static char walking[2048];

static void on_alarm(int signo)
{
	(void)signo;
	static const char msg[] = "test_policy: a command did not return within 30 s: ";
	ssize_t n = write(2, msg, sizeof(msg) - 1);
	n = write(2, walking, strlen(walking));
	n = write(2, "\n", 1);
	(void)n;
	_exit(1);
}

static void make_dir(char *out, size_t cap)
{
	char tmpl[] = "/tmp/rap-test-policy-XXXXXX";
	assert_non_null(mkdtemp(tmpl));
	assert_non_null(realpath(tmpl, out));
	assert_true(strlen(out) < cap);
}

static void rm_dir(const char *dir)
{
	DIR *d = opendir(dir);
	if (!d)
		return;
	struct dirent *e;
	while ((e = readdir(d))) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		char p[PATH_MAX];
		snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
		unlink(p);
	}
	closedir(d);
	rmdir(dir);
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "wb");
	assert_non_null(f);
	fputs(text, f);
	assert_int_equal(fclose(f), 0);
}

/* A core at "all" with the shell allowed and a file open, confined to dir, then served
 * (as rapsrv --cmd all --allow-shell makes them). */
static struct rap_core *served_core(const char *dir, bool allow_write)
{
	struct rap_core *c;
	assert_int_equal(rap_core_new(&c), 0);
	assert_int_equal(rap_io_set_root(rap_core_io(c), dir), 0);
	rap_io_set_allow_write(rap_core_io(c), allow_write);
	assert_true(rap_core_open(c, "sample.bin", RAP_PERM_R) >= 3);
	rap_core_set_policy(c, RAP_CORE_POLICY_ALL);
	rap_core_set_allow_shell(c, true);
	rap_core_set_served(c);
	return c;
}

struct fixture {
	char dir[PATH_MAX];
};

static int setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));
	make_dir(fx->dir, sizeof(fx->dir));
	char p[PATH_MAX + 16];
	snprintf(p, sizeof(p), "%s/sample.bin", fx->dir);
	write_file(p, "@00000000|rap2!\n@00000010|rap2!\n");
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *fx = *state;
	rm_dir(fx->dir);
	free(fx);
	return 0;
}

/* ---- the served mark ------------------------------------------------------------------- */

static void test_mark_is_for_good(void **state)
{
	struct fixture *fx = *state;
	struct rap_core *c;
	assert_int_equal(rap_core_new(&c), 0);
	assert_false(rap_core_served(c));
	assert_false(c->confined);
	rap_core_set_served(c);
	assert_true(rap_core_served(c));
	/* Confined, and it stays so. */
	assert_true(c->confined);
	rap_core_set_confined(c, false);
	assert_true(c->confined);
	/* Nothing a client sends clears it. */
	rap_core_set_policy(c, RAP_CORE_POLICY_ALL);
	rap_core_set_allow_shell(c, false);
	expect_fail(c, "e srv.shell=true", RAP_EDENIED, "a served session never widens its policy");
	assert_int_equal(rap_core_cmd_str(c, "e srv.cmd=all; e io.special=false; o--; q", NULL, NULL), 0);
	assert_true(rap_core_served(c));
	/* Cores made from it are served. */
	struct rap_core *child;
	assert_int_equal(rap__core_new_shared(c, &child), 0);
	assert_true(rap_core_served(child));
	assert_true(child->confined);
	rap_core_free(child);
	rap_core_free(c);

	/* rap_core_rap_handler marks the core it serves, whoever made it. */
	assert_int_equal(rap_core_new(&c), 0);
	char *out = NULL;
	assert_int_equal(rap_core_rap_handler()->cmd(c, "?e hi", &out), 0);
	free(out);
	assert_true(rap_core_served(c));
	rap_core_free(c);
	assert_int_equal(rap_core_new(&c), 0);
	char path[PATH_MAX + 16];
	snprintf(path, sizeof(path), "%s/sample.bin", fx->dir);
	assert_true(rap_core_rap_handler()->open(c, path, RAP_PERM_R) >= 3);
	assert_true(rap_core_served(c));
	rap_core_free(c);
}

static void test_served_never_raises_policy(void **state)
{
	(void)state;
	struct rap_core *c;
	assert_int_equal(rap_core_new(&c), 0);
	/* Values set before the mark read as clamped once it is there. */
	assert_int_equal(rap_core_config_set(c, "srv.cmd", "all"), 0);
	assert_int_equal(rap_core_config_set(c, "srv.shell", "true"), 0);
	assert_int_equal(rap_core_config_set(c, "io.special", "true"), 0);
	rap_core_set_policy(c, RAP_CORE_POLICY_READ);
	rap_core_set_allow_shell(c, false);
	assert_string_equal(rap_core_config_get(c, "srv.cmd"), "all"); /* not served: as set */
	rap_core_set_served(c);
	assert_string_equal(rap_core_config_get(c, "srv.cmd"), "read");
	assert_string_equal(rap_core_config_get(c, "srv.shell"), "false");
	assert_string_equal(rap_core_config_get(c, "io.special"), "false");
	assert_int_equal(rap__core_open_opts(c, false), 0);
	assert_int_equal(rap__core_open_opts(c, true), 0);
	/* The caller may let a served core open devices (rapsrv --allow-devices): OPEN and
	 * "o" then pass the special option, the local files of > wtf wff never do. */
	rap_core_set_allow_devices(c, true);
	assert_int_equal(rap__core_open_opts(c, false), RAP_IO_OPEN_SPECIAL);
	assert_int_equal(rap__core_open_opts(c, true), 0);
	rap_core_set_allow_devices(c, false);
	expect_out(c, "e srv.cmd; e srv.shell; e io.special", "read\nfalse\nfalse\n");
	struct result r = run(c, "e");
	assert_non_null(strstr(r.out, "io.special = false\n"));
	assert_non_null(strstr(r.out, "srv.cmd = read\n"));
	assert_non_null(strstr(r.out, "srv.shell = false\n"));
	result_free(&r);

	/* Setting them higher is refused with a reason ("e KEY=VALUE" needs "all"). */
	rap_core_set_policy(c, RAP_CORE_POLICY_ALL);
	rap_core_set_allow_shell(c, false);
	expect_fail(c, "e srv.shell=true", RAP_EDENIED,
		    "'srv.shell' cannot be raised above 'false' here: a served session never widens its policy");
	expect_fail(c, "e io.special=1", RAP_EDENIED, "'io.special' cannot be raised above 'false'");
	assert_int_equal(rap_core_config_set(c, "srv.shell", "true"), RAP_EDENIED);
	assert_int_equal(rap_core_config_set(c, "io.special", "true"), RAP_EDENIED);
	/* At or below the core's own level is fine. */
	expect_out(c, "e srv.cmd=all; e srv.cmd", "all\n");
	expect_out(c, "e srv.cmd=none; e srv.cmd", "none\n");
	expect_out(c, "e srv.shell=false; e io.special=false", "");
	rap_core_set_policy(c, RAP_CORE_POLICY_WRITE);
	assert_int_equal(rap_core_config_set(c, "srv.cmd", "all"), RAP_EDENIED);
	assert_int_equal(rap_core_config_set(c, "srv.cmd", "write"), 0);
	/* With the shell allowed by its caller, srv.shell may say so too. */
	rap_core_set_allow_shell(c, true);
	assert_int_equal(rap_core_config_set(c, "srv.shell", "true"), 0);
	assert_string_equal(rap_core_config_get(c, "srv.shell"), "true");
	/* The clamp follows the caller's level when it lowers it. */
	rap_core_set_allow_shell(c, false);
	assert_string_equal(rap_core_config_get(c, "srv.shell"), "false");
	rap_core_set_policy(c, RAP_CORE_POLICY_READ);
	assert_string_equal(rap_core_config_get(c, "srv.cmd"), "read");
	/* A core made from it copies what it reads, not what it stored. */
	struct rap_core *child;
	assert_int_equal(rap__core_new_shared(c, &child), 0);
	assert_string_equal(child->vars[RAP__VAR_SRV_CMD], "read");
	assert_string_equal(child->vars[RAP__VAR_SRV_SHELL], "false");
	rap_core_free(child);
	rap_core_free(c);
}

/* Every vector of the issue, from a served core at "all" with the shell allowed: refused,
 * with one line naming the command, and nothing listens or connects. */
static void test_served_refuses_network_vectors(void **state)
{
	struct fixture *fx = *state;
	struct rap_core *c = served_core(fx->dir, true);
	struct watch w;
	watch_start(&w);
	int before = count_endpoints();
	char line[256];
	const char *const vectors[] = {
		"e srv.shell=true;e srv.cmd=all;=&:0", "=&:0", "=&r 0", "=:0", "=r 0", ".:0", "=t 0",
		"=t& 0", "=&t 0", "=h 0", "=h& 0", "=H& 0", "=H 0", "=h", "=g",
		"=+ tcp://127.0.0.1:%d", "=+ rap://127.0.0.1:%d/x", "=+ udp://127.0.0.1:%d",
		"=+ http://127.0.0.1:%d/", "=+ 127.0.0.1:%d", "=0 ?V", "= ?V", "=<0 ?V", "=< ?V", "==0", "==",
		"=!=0", "=:127.0.0.1:%d ?V", "=r 127.0.0.1:%d ?V", "=t 127.0.0.1:%d ?V", "=r %d ?V", "=t %d ?V",
		"=h- ", "=&-", "=t-",
	};
	for (size_t i = 0; i < sizeof(vectors) / sizeof(vectors[0]); i++) {
		snprintf(line, sizeof(line), vectors[i], w.port);
		struct result r = run(c, "%s", line);
		if (r.rc != RAP_EDENIED || !strstr(r.err, "refused: commands from the network never start servers or open "
							  "connections"))
			fail_msg("'%s': rc %d\n%s", line, r.rc, r.err);
		result_free(&r);
		assert_false(watch_connected(&w));
		assert_int_equal(count_endpoints(), before);
		assert_int_equal(rap_core_background_servers(c), 0);
	}
	/* The reason names the command as typed. */
	snprintf(line, sizeof(line), "=+ tcp://127.0.0.1:%d", w.port);
	expect_fail(c, line, RAP_EDENIED, "error: '=+' refused");
	expect_fail(c, "=&:0", RAP_EDENIED, "error: '=&:0' refused");
	/* Network files: not by "o", not by the protocol's OPEN. */
	snprintf(line, sizeof(line), "o rap://127.0.0.1:%d/x", w.port);
	expect_fail(c, line, RAP_EDENIED, "a served session opens local files, malloc:// and dbg:// only");
	snprintf(line, sizeof(line), "rap://127.0.0.1:%d//x", w.port);
	assert_int_equal(rap_core_rap_handler()->open(c, line, RAP_PERM_R), RAP_EDENIED);
	assert_false(watch_connected(&w));
	assert_int_equal(count_endpoints(), before);
	/* What stays local still works: listings, help, local files, memory, the shell. */
	expect_out(c, "=", "");
	struct result r = run(c, "=h?; =+?; =?");
	assert_int_equal(r.rc, 0);
	assert_non_null(strstr(r.out, "Usage: =[hH][&-] [port]"));
	result_free(&r);
	expect_out(c, "o malloc://4; p8 4", "00000000\n");
	expect_out(c, "!echo shell-ok", "shell-ok\n");
	rap_core_free(c);
	watch_stop(&w);
}

/* A served lean core (rapsrv's sessions) has no rap:// plugin at all: network files and
 * URIs no plugin takes are refused by the policy, saying what a session may open, and
 * local names (relative, absolute, with ':' in them, file://, malloc://) still open. */
static void test_served_lean_core_opens(void **state)
{
	struct fixture *fx = *state;
	char p[PATH_MAX + 16];
	snprintf(p, sizeof(p), "%s/a:b", fx->dir);
	write_file(p, "colon");
	struct rap_core *c;
	assert_int_equal(rap_core_new_lean(&c), 0);
	assert_int_equal(rap_io_set_root(rap_core_io(c), fx->dir), 0);
	rap_core_set_policy(c, RAP_CORE_POLICY_ALL);
	rap_core_set_served(c);
	const char *why = "a served session opens local files, malloc:// and dbg:// only";
	expect_fail(c, "o rap://127.0.0.1:1//x", RAP_EDENIED, why);
	expect_fail(c, "o RAPS://127.0.0.1:1//x", RAP_EDENIED, why);
	expect_fail(c, "o foo://x", RAP_EDENIED, why);
	assert_int_equal(rap_core_rap_handler()->open(c, "rap://127.0.0.1:1//x", RAP_PERM_R), RAP_EDENIED);
	expect_out(c, "o sample.bin; p8 4", "40303030\n");
	expect_out(c, "o a:b; p8 2", "636f\n");
	char line[PATH_MAX + 32];
	snprintf(line, sizeof(line), "o file://%s/sample.bin; p8 1", fx->dir);
	expect_out(c, line, "40\n");
	snprintf(line, sizeof(line), "o %s/a:b; p8 1", fx->dir);
	expect_out(c, line, "63\n");
	expect_out(c, "o malloc://4; p8 4", "00000000\n");
	rap_core_free(c);
}

/* The exhaustive check: every command of the command table, and every spelling of the '='
 * family, with every argument that names a server or a port, in a served core at "all"
 * with the shell allowed. None may leave a listener, a connection, or a server's loop
 * behind, nor connect even for a moment. A foreground server would never return:
 * alarm() turns that into a failure. */
static void walk_line(struct rap_core *c, struct watch *w, int before, const char *line)
{
	snprintf(walking, sizeof(walking), "%s", line);
	alarm(30);
	char *out = NULL, *err = NULL;
	(void)rap_core_cmd_str(c, line, &out, &err);
	alarm(0);
	c->quit = false; /* a "q" would end every later line */
	int after = count_endpoints();
	bool connected = watch_connected(w);
	if (after != before || connected || rap_core_background_servers(c))
		fail_msg("'%s' left %d endpoint(s) (had %d), connected: %d\n--- out\n%s--- err\n%s", line, after,
			 before, connected, out, err);
	free(out);
	free(err);
}

static void test_served_walk_every_command(void **state)
{
	struct fixture *fx = *state;
	struct rap_core *c = served_core(fx->dir, false);
	struct watch w;
	watch_start(&w);
	char p[16];
	snprintf(p, sizeof(p), "%d", w.port);
	char args[16][96];
	const char *const arg_fmts[] = {
		"", "0", "%s", "127.0.0.1:%s", "[::1]:%s", "localhost:%s", "tcp://127.0.0.1:%s",
		"rap://127.0.0.1:%s/x", "raps://127.0.0.1:%s/x", "udp://127.0.0.1:%s", "http://127.0.0.1:%s/",
		"127.0.0.1:%s ?V", "%s ?V", "rap://127.0.0.1:%s//x rw", "0 ?V",
	};
	size_t nargs = sizeof(arg_fmts) / sizeof(arg_fmts[0]);
	for (size_t i = 0; i < nargs; i++)
		snprintf(args[i], sizeof(args[i]), arg_fmts[i], p);
	/* The '=' family has no table of its own: every prefix its dispatch knows. */
	const char *const family[] = {
		"=", "=+", "=-", "=j", "=<", "=<0", "==", "==0", "=!=", "=!=0", "=!", "!=!", "=:", "=&", "=&:",
		"=&r", "=&t", "=t&", "=h&", "=H&", "=&-", "=r", "=t", "=h", "=H", "=h-", "=t-", "=g", ".:", "=0",
		":", "=?", "=x",
	};
	int before = count_endpoints();
	char line[2048];
	size_t lines = 0, names = 0;
	for (size_t i = 0; rap__core_command_name(i); i++, names++) {
		for (size_t a = 0; a < nargs; a++) {
			snprintf(line, sizeof(line), "%s %s", rap__core_command_name(i), args[a]);
			walk_line(c, &w, before, line);
			lines++;
		}
	}
	for (size_t i = 0; i < sizeof(family) / sizeof(family[0]); i++) {
		for (size_t a = 0; a < nargs; a++) {
			/* Glued ("=:127.0.0.1:P CMD", "=&:0") and spaced ("=r P CMD"). */
			snprintf(line, sizeof(line), "%s%s", family[i], args[a]);
			walk_line(c, &w, before, line);
			snprintf(line, sizeof(line), "%s %s", family[i], args[a]);
			walk_line(c, &w, before, line);
			lines += 2;
		}
	}
	/* The table was walked, all of it (its size grows with the language). */
	assert_true(names >= 30);
	assert_true(lines > 1000);
	rap_core_free(c);

	/* The count sees what it looks for: the same lines on a core that is not served
	 * start a server and connect. */
	assert_int_equal(rap_core_new(&c), 0);
	snprintf(line, sizeof(line), "=+ tcp://127.0.0.1:%d", w.port);
	struct result r = run(c, "%s", line);
	assert_int_equal(r.rc, 0);
	result_free(&r);
	assert_true(watch_connected(&w));
	r = run(c, "=&:0");
	assert_int_equal(r.rc, 0);
	result_free(&r);
	assert_true(count_endpoints() > before);
	assert_int_equal(rap_core_background_servers(c), 1);
	rap_core_free(c);
	assert_int_equal(count_endpoints(), before);
	watch_stop(&w);
}

/* A server is never more permissive than the core that starts it: its level and shell
 * switch are clamped to the core's, and its clients' cores are served. */
static void test_server_clamped_to_starting_core(void **state)
{
	(void)state;
	struct rap_core *c;
	assert_int_equal(rap_core_new(&c), 0);
	rap_core_set_policy(c, RAP_CORE_POLICY_WRITE);
	rap_core_set_allow_shell(c, false);
	assert_int_equal(rap_core_config_set(c, "srv.cmd", "all"), 0);
	assert_int_equal(rap_core_config_set(c, "srv.shell", "true"), 0);
	/* "e" and "=" need "all": the user's own API starts it. */
	char text[] = "=&:0";
	FILE *devnull = fopen("/dev/null", "w");
	rap_core_set_output(c, devnull, devnull);
	assert_int_equal(rap__core_cmd_server(c, text), 0);
	rap_core_set_output(c, NULL, NULL);
	fclose(devnull);
	struct rap__srv *s = rap__srv_bg_list(c);
	assert_non_null(s);
	assert_int_equal(s->policy, RAP_CORE_POLICY_WRITE);
	assert_false(s->shell);
	assert_true(rap_core_served(s->tmpl));
	assert_int_equal(s->tmpl->policy, RAP_CORE_POLICY_WRITE);
	assert_false(s->tmpl->allow_shell);
	rap_core_free(c);
}

/* ---- local files: the one way commands open them ----------------------------------------- */

/* True when a writer connected to the FIFO reader (and left) since it opened. */
static bool writer_came(int reader)
{
	struct pollfd pfd = { .fd = reader, .events = POLLIN };
	return poll(&pfd, 1, 0) == 1 && (pfd.revents & POLLHUP);
}

static void test_local_special_files(void **state)
{
	struct fixture *fx = *state;
	char fifo[PATH_MAX + 16], line[PATH_MAX + 64];
	snprintf(fifo, sizeof(fifo), "%s/fifo", fx->dir);
	assert_int_equal(mkfifo(fifo, 0600), 0);
	struct rap_core *c;
	assert_int_equal(rap_core_new(&c), 0);
	snprintf(line, sizeof(line), "%s/sample.bin", fx->dir);
	assert_true(rap_core_open(c, line, RAP_PERM_RW) >= 3);

	/* Refused by default, by every command that opens a local path, at once: nothing
	 * reads this FIFO, so a blocking open would never return. A reader waiting on it
	 * never sees a writer. */
	int reader = open(fifo, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	assert_true(reader >= 0);
	const char *const cmds[] = { "px 16 > %s", "px 16 >> %s", "wtf %s", "wtf %s 4", "wff %s", "o %s", "o+ %s" };
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		snprintf(line, sizeof(line), cmds[i], fifo);
		memcpy(walking, line, strlen(line) + 1 < sizeof(walking) ? strlen(line) + 1 : 1);
		alarm(30);
		expect_fail(c, line, RAP_ENOTREG, "not a regular file (a FIFO, device or socket; 'e io.special=true' opens them)");
		alarm(0);
	}
	assert_false(writer_came(reader));
	/* Devices and directories too. */
	expect_fail(c, "o /dev/zero", RAP_ENOTREG, "cannot open '/dev/zero': not a regular file");
	expect_fail(c, "wff /dev/zero 16", RAP_ENOTREG, "cannot open '/dev/zero': not a regular file");
	expect_fail(c, "px 4 > /dev/null", RAP_ENOTREG, "cannot open '/dev/null' for writing: not a regular file");
	snprintf(line, sizeof(line), "px 4 > %s", fx->dir);
	expect_fail(c, line, -EISDIR, "Is a directory");

	/* Asked for: a dump goes into the FIFO its reader waits on; without a reader the open
	 * fails at once rather than waiting. */
	expect_out(c, "e io.special=true", "");
	snprintf(line, sizeof(line), "p8 4 > %s", fifo);
	expect_out(c, line, "");
	char buf[16] = { 0 };
	assert_int_equal(read(reader, buf, sizeof(buf)), 9);
	assert_memory_equal(buf, "40303030\n", 9);
	close(reader);
	snprintf(line, sizeof(line), "p8 4 > %s", fifo);
	expect_fail(c, line, -ENXIO, "cannot open");
	/* A FIFO still has no offsets for "o"; devices open. */
	snprintf(line, sizeof(line), "o %s", fifo);
	expect_fail(c, line, RAP_ENOTSUP, "not supported");
	expect_out(c, "o /dev/zero; p8 4", "00000000\n");
	rap_core_free(c);

	/* A served core never opens them, whatever it asks. */
	assert_int_equal(rap_core_new(&c), 0);
	rap_core_set_served(c);
	assert_int_equal(rap_core_config_set(c, "io.special", "true"), RAP_EDENIED);
	snprintf(line, sizeof(line), "%s/sample.bin", fx->dir);
	assert_true(rap_core_open(c, line, RAP_PERM_R) >= 3);
	expect_fail(c, "o /dev/zero", RAP_ENOTREG, "not a regular file (a FIFO, device or socket): refused by the server");
	snprintf(line, sizeof(line), "px 4 > %s", fifo);
	expect_fail(c, line, RAP_ENOTREG, "refused by the server");
	rap_core_free(c);
	unlink(fifo);
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	signal(SIGALRM, on_alarm);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_mark_is_for_good, setup, teardown),
		cmocka_unit_test_setup_teardown(test_served_never_raises_policy, setup, teardown),
		cmocka_unit_test_setup_teardown(test_served_refuses_network_vectors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_served_lean_core_opens, setup, teardown),
		cmocka_unit_test_setup_teardown(test_served_walk_every_command, setup, teardown),
		cmocka_unit_test_setup_teardown(test_server_clamped_to_starting_core, setup, teardown),
		cmocka_unit_test_setup_teardown(test_local_special_files, setup, teardown),
	};
	return cmocka_run_group_tests_name("policy", tests, NULL, NULL);
}
