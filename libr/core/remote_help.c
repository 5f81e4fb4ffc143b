/* The help texts of the '=' family: remote hosts (remote.c) and the servers started from
 * the prompt (servers.c), one page per "?" form. */
#include <stdio.h>
#include <string.h>

#include "core_private.h"

struct help_line {
	const char *cmd; /* NULL: args is a line of its own (a section title or a note) */
	const char *args;
	const char *desc;
};

/* ---- remote hosts ------------------------------------------------------------------------ */

static const struct help_line help_main[] = {
	{ NULL, "remote hosts:", NULL },
	{ "=", "", "list the hosts (N - URI), then the running servers" },
	{ "=j", "", "list the hosts as JSON" },
	{ "=+", " URI", "add a host: [rap|raps|tcp|udp|http://]host:port[/path]" },
	{ "=-", "[N]", "close host N, or every host (=-?)" },
	{ "=", "[N] cmd", "run cmd on host N (default: the last one used)" },
	{ "=<", "[N] cmd", "run cmd here, send its output to tcp/udp host N (=<?)" },
	{ "==", "[N]", "session: every line runs on host N, q returns (==?)" },
	{ "=:", "host:port cmd", "run cmd once on a rap server (also =r host:port cmd)" },
	{ "=!", " cmd", "run cmd through the current file's IO plugin (:cmd)" },
	{ "=!=", "[N]", "remote-command mode on: lines run on host N (=!=?)" },
	{ "!=!", "", "remote-command mode off (a line starting with q too)" },
	{ NULL, "servers:", NULL },
	{ "=:", "port", "serve the open files over rap (also =r port; =:?)" },
	{ "=&:", "port", "the same in the background (=&- stops it; =&?)" },
	{ "=t", " port", "tcp command server (.:port; =t& background; =t?)" },
	{ "=t", " port cmd", "run cmd once on a tcp command server (host:port too)" },
	{ "=h", " [port]", "http server: GET /cmd/CMD, POST /cmd (=h&, =h-; =h?)" },
	{ "=H", " [port]", "like =h, and open its page in a browser" },
	{ "=g", " port file", "gdbserver: gdb debugs file (=g&, =g-; =g?)" },
	{ NULL, "examples:", NULL },
	{ NULL, "| =+ rap://localhost:9999//bin/ls  /bin/ls on a rap server (rapsrv, r2)", NULL },
	{ NULL, "| =+ tcp://localhost:9090          a tcp command server (=t 9090)", NULL },
	{ NULL, "| =+ http://localhost:9090/cmd/    an http server (=h 9090)", NULL },
	{ NULL, NULL, NULL },
};

static const struct help_line help_add[] = {
	{ "=+", " rap://host:9999//bin/ls", "rap (the default): /bin/ls on the server" },
	{ "=+", " host:9999/bin/ls", "the same, a path relative to the server's" },
	{ "=+", " rap://host:9999", "rap without a path: commands only" },
	{ "=+", " rap://host:9999/dbg:///bin/ls", "open it under the server's debugger" },
	{ "=+", " rap://[::1]:9999//bin/ls", "IPv6 addresses go in brackets" },
	{ "=+", " raps://host:9999//bin/ls", "rap over TLS, verified (rapcli --tls-*)" },
	{ "=+", " tcp://host:9090", "tcp command server: a connection per command" },
	{ "=+", " udp://host:9090", "udp sink: commands and =< output go out" },
	{ "=+", " http://host:9090[/cmd/]", "http server: GET /cmd/CMD (URL-encoded)" },
	{ NULL, "The new host gets the lowest free number and becomes the default one.", NULL },
	{ NULL, NULL, NULL },
};

static const struct help_line help_remove[] = {
	{ "=-", "", "close every host" },
	{ "=-", "N", "close host N (also a dead one)" },
	{ NULL, NULL, NULL },
};

static const struct help_line help_push[] = {
	{ "=<", "N cmd", "run cmd here and send its raw output to host N" },
	{ "=<", "cmd", "the same to the last host used" },
	{ NULL, "Only tcp and udp hosts take output (e.g. 'nc -l 9090', 'nc -lu 9090').", NULL },
	{ NULL, NULL, NULL },
};

static const struct help_line help_session[] = {
	{ "==", "N", "every following line runs on host N; the prompt is 'fd:N> '" },
	{ "==", "", "the same with the last host used" },
	{ "q", "", "(in the session) back to local commands" },
	{ NULL, NULL, NULL },
};

static const struct help_line help_mode[] = {
	{ "=!=", "N", "remote-command mode on: every line runs on host N" },
	{ "=!=", "", "every line runs through the current file's IO plugin" },
	{ "!=!", "", "remote-command mode off; any line starting with 'q' too" },
	{ NULL, "Lines starting with '=' or '!=' still run here. The prompt shows [=!ADDR]>.", NULL },
	{ NULL, NULL, NULL },
};

static const struct help_line help_io[] = {
	{ "=!", " cmd", "run cmd through the current file's IO plugin" },
	{ ":", "cmd", "the same" },
	{ "=!=", "[N]", "remote-command mode on (=!=?)" },
	{ NULL, NULL, NULL },
};

/* ---- servers ------------------------------------------------------------------------------- */

/* Printed after every server page. */
static const struct help_line help_srv_policy[] = {
	{ NULL, "Clients share the open files but have their own position, so yours never moves.", NULL },
	{ NULL, "Their commands run under 'e srv.cmd' (none, read, write, all; default read) and", NULL },
	{ NULL, "'e srv.shell' (default false), read when the server starts; a refused command", NULL },
	{ NULL, "answers its one-line reason.", NULL },
	{ NULL, NULL, NULL },
};

static const struct help_line help_srv_rap[] = {
	{ "=:", "port", "serve the open files over RAP (0: any port); Ctrl-C stops" },
	{ "=r", " port", "same as =:port" },
	{ "=&:", "port", "the same in the background (also =&r); =&-port stops it" },
	{ "=:", "host:port cmd", "run cmd on a remote rap server once" },
	{ "=r", " [host:]port cmd", "the same (a bare port: this machine)" },
	{ "=", "", "list connections and running servers" },
	{ NULL, "Listens on 'e rap.bind' (localhost: 127.0.0.1 and ::1; public: every interface).", NULL },
	{ NULL, "A client's q ends its own session; it never stops the server. With", NULL },
	{ NULL, "'e rap.loop=false' a foreground server stops after its first client.", NULL },
	{ NULL, "Below 'e srv.cmd=write' a client may OPEN only the files you have open,", NULL },
	{ NULL, "read-only.", NULL },
	{ NULL, "A client may CLOSE only the files it opened; they close when it leaves.", NULL },
	{ NULL, NULL, NULL },
};

static const struct help_line help_srv_bg[] = {
	{ "=&:", "port", "serve the open files over RAP in the background (0: any free port)" },
	{ "=&r", " port", "same as =&:port" },
	{ "=&t", " port", "TCP command server in the background (also =t& port)" },
	{ "=h&", " [port]", "HTTP server in the background (also =H& to open a browser)" },
	{ "=g&", " port", "gdbserver in the background: =g& port file [args]" },
	{ "=&-", "", "stop every background server" },
	{ "=&-", "port", "stop the background server on port" },
	{ "=t-", "", "stop the background TCP command servers" },
	{ "=h-", "", "stop the background HTTP servers" },
	{ "=g-", "", "stop the background gdbservers" },
	{ "=", "", "list connections and running servers" },
	{ NULL, NULL, NULL },
};

static const struct help_line help_srv_gdb[] = {
	{ "=g", " port file [args]", "gdbserver (0: any free port); Ctrl-C stops" },
	{ "=g&", " port file [args]", "the same in the background" },
	{ "=g-", "", "stop the background gdbservers (=&-port: one)" },
	{ NULL, "Each gdb that connects gets file started under the debugger, stopped at its", NULL },
	{ NULL, "first instruction, and killed when gdb kills it, detaches or disconnects; one", NULL },
	{ NULL, "gdb at a time. In gdb: target remote 127.0.0.1:port. Listens on 127.0.0.1 and", NULL },
	{ NULL, "::1 only (a gdb can make the program do anything); for other addresses, ssh", NULL },
	{ NULL, "-L or rapsrv --gdb. The program's output goes to this prompt's error stream.", NULL },
	{ NULL, "With target extended-remote, gdb's run starts the program again (gdb's args).", NULL },
	{ NULL, NULL, NULL },
};

static const struct help_line help_srv_tcp[] = {
	{ "=t", " port", "TCP command server (0: any free port); Ctrl-C stops" },
	{ ".:", "port", "same as =t port" },
	{ "=t&", " port", "the same in the background (=&t port too)" },
	{ "=t-", "", "stop the background TCP command servers (=&-port: one)" },
	{ "=t", " [host:]port cmd", "run cmd on a TCP command server once and print the answer" },
	{ NULL, "Each connection sends one command line and gets its output (a newline when", NULL },
	{ NULL, "empty), then the server closes it: echo px | nc ::1 port. An HTTP request", NULL },
	{ NULL, "works too, under the rules of =h against browsers (=h?):", NULL },
	{ NULL, "curl -g 'http://[::1]:port/cmd/px'. One core serves every connection, so 's'", NULL },
	{ NULL, "persists between them. Listens on 'e tcp.bind' (localhost: 127.0.0.1 and ::1;", NULL },
	{ NULL, "public: every interface).", NULL },
	{ NULL, NULL, NULL },
};

static const struct help_line help_srv_http[] = {
	{ "=h", " [port]", "HTTP server (default: e http.port; 0: any port); Ctrl-C stops" },
	{ "=h&", " [port]", "the same in the background" },
	{ "=h-", "", "stop the background HTTP servers" },
	{ "=H", " [port]", "like =h, and open its web console in $BROWSER or xdg-open" },
	{ "=H&", " [port]", "like =h&, and open its web console in $BROWSER or xdg-open" },
	{ NULL, "GET / is the web console: a command line with history, the output as it", NULL },
	{ NULL, "comes, the open files, the position and a hexdump of the block there.", NULL },
	{ NULL, "GET /cmd/<url-encoded command> and POST /cmd (the body is the command) answer", NULL },
	{ NULL, "the output as text/plain; a refused command answers 403 with its reason.", NULL },
	{ NULL, "POST /cmd?stream=1 sends it in chunks as the command writes it; closing the", NULL },
	{ NULL, "connection stops the command. Connections stay open (HTTP/1.1 keep-alive).", NULL },
	{ NULL, "So that no web page can run commands here, a request with a non-loopback or", NULL },
	{ NULL, "'null' Origin, or a Sec-Fetch-Site other than same-origin or none, answers 403;", NULL },
	{ NULL, "so does a browser's request to /cmd (an Origin or Sec-Fetch-Site header) without", NULL },
	{ NULL, "the X-Rap-Token header of the console's page (a random token per server, which", NULL },
	{ NULL, "no other origin can read), and one with only a Referer, Sec-Fetch-Mode or a", NULL },
	{ NULL, "User-Agent starting with Mozilla/ without that token or an 'X-Rap' header.", NULL },
	{ NULL, "curl, r2pipe and scripts work as they are (curl http://127.0.0.1:9090/cmd/px).", NULL },
	{ NULL, "Listens on 'e http.bind' (localhost: 127.0.0.1 and ::1; public: every", NULL },
	{ NULL, "interface); beyond loopback, set 'e http.auth' to a file (mode 0600) holding", NULL },
	{ NULL, "user:password that every request must give (Basic), and 'e http.cert' (and", NULL },
	{ NULL, "'e http.key') to serve https.", NULL },
	{ NULL, NULL, NULL },
};

/* ---- pages --------------------------------------------------------------------------------- */

struct help_page {
	const char *usage;
	const struct help_line *lines;
	const struct help_line *notes; /* printed after the lines, or NULL */
};

static const struct help_page pages[] = {
	[RAP__HELP_EQ] = { "Usage: =[+-<=!:&thHg] [...]   remote hosts and servers", help_main, NULL },
	[RAP__HELP_EQ_ADD] = { "Usage: =+ [proto://]host:port[/path]   connect to a remote host and add it", help_add,
			       NULL },
	[RAP__HELP_EQ_REMOVE] = { "Usage: =-[N]   close remote hosts", help_remove, NULL },
	[RAP__HELP_EQ_PUSH] = { "Usage: =<[N] cmd   send the output of a local command to a remote host", help_push,
				NULL },
	[RAP__HELP_EQ_SESSION] = { "Usage: ==[N]   interactive session with a remote host", help_session, NULL },
	[RAP__HELP_EQ_MODE] = { "Usage: =!=[N]   remote-command mode", help_mode, NULL },
	[RAP__HELP_EQ_IO] = { "Usage: =! cmd   run a command through the current file's IO plugin", help_io, NULL },
	[RAP__HELP_EQ_RAP] = { "Usage: =:port   serve the open files over RAP", help_srv_rap, help_srv_policy },
	[RAP__HELP_EQ_BG] = { "Usage: =&[:rt-] [port]   servers in the background; the prompt stays usable", help_srv_bg,
			      help_srv_policy },
	[RAP__HELP_EQ_TCP] = { "Usage: =t port   TCP command server (=t [host:]port cmd queries one)", help_srv_tcp,
			       help_srv_policy },
	[RAP__HELP_EQ_HTTP] = { "Usage: =[hH][&-] [port]   HTTP server", help_srv_http, help_srv_policy },
	[RAP__HELP_EQ_GDB] = { "Usage: =g[&-] port file [args]   gdbserver (GDB remote protocol)", help_srv_gdb, NULL },
};

/* Lines as "| CMDARGS  DESC", the descriptions in one column; lines without a command as
 * they are. */
static void print_lines(struct rap_core *c, const struct help_line *lines)
{
	int width = 0;
	for (const struct help_line *l = lines; l->args; l++) {
		int w = l->cmd ? (int)(strlen(l->cmd) + strlen(l->args)) : 0;
		if (w > width)
			width = w;
	}
	for (const struct help_line *l = lines; l->args; l++) {
		if (!l->cmd) {
			fprintf(c->out, "%s\n", l->args);
			continue;
		}
		int w = (int)(strlen(l->cmd) + strlen(l->args));
		fprintf(c->out, "| %s%s%*s  %s\n", l->cmd, l->args, width - w, "", l->desc);
	}
}

void rap__core_remote_help(struct rap_core *c, enum rap__remote_help page)
{
	const struct help_page *p = &pages[page];
	fprintf(c->out, "%s\n", p->usage);
	print_lines(c, p->lines);
	if (p->notes)
		print_lines(c, p->notes);
}
