/* The help texts of the '=' family: remote hosts (remote.c) and the servers started from
 * the prompt (servers.c), one page per "?" form. */
#include <stdio.h>
#include <string.h>

#include "core_private.h"

/* Pages of rap__help_print (help.c): "COMMAND\tWHAT" lines, and lines of their own (a
 * section title or a note). */

/* ---- remote hosts ------------------------------------------------------------------------ */

static const char help_main[] =
	"remote hosts:\n"
	"=\tlist the hosts (N - URI), then the running servers\n"
	"=j\tlist the hosts as JSON\n"
	"=+ URI\tadd a host: [rap|raps|tcp|udp|http://]host:port[/path]\n"
	"=-[N]\tclose host N, or every host (=-?)\n"
	"=[N] cmd\trun cmd on host N (default: the last one used)\n"
	"=<[N] cmd\trun cmd here, send its output to tcp/udp host N (=<?)\n"
	"==[N]\tsession: every line runs on host N, q returns (==?)\n"
	"=:host:port cmd\trun cmd once on a rap server (also =r host:port cmd)\n"
	"=! cmd\trun cmd through the current file's IO plugin (:cmd)\n"
	"=!=[N]\tremote-command mode on: lines run on host N (=!=?)\n"
	"!=!\tremote-command mode off (a line starting with q too)\n"
	"servers:\n"
	"=:port\tserve the open files over rap (also =r port; =:?)\n"
	"=&:port\tthe same in the background (=&- stops it; =&?)\n"
	"=t port\ttcp command server (.:port; =t& background; =t?)\n"
	"=t port cmd\trun cmd once on a tcp command server (host:port too)\n"
	"=h [port]\thttp server: GET /cmd/CMD, POST /cmd (=h&, =h-; =h?)\n"
	"=H [port]\tlike =h, and open its page in a browser\n"
	"=g port file\tgdbserver: gdb debugs file (=g&, =g-; =g?)\n"
	"examples:\n"
	"| =+ rap://localhost:9999//bin/ls  /bin/ls on a rap server (rapsrv, r2)\n"
	"| =+ tcp://localhost:9090          a tcp command server (=t 9090)\n"
	"| =+ http://localhost:9090/cmd/    an http server (=h 9090)\n";

static const char help_add[] =
	"=+ rap://host:9999//bin/ls\trap (the default): /bin/ls on the server\n"
	"=+ host:9999/bin/ls\tthe same, a path relative to the server's\n"
	"=+ rap://host:9999\trap without a path: commands only\n"
	"=+ rap://host:9999/dbg:///bin/ls\topen it under the server's debugger\n"
	"=+ rap://[::1]:9999//bin/ls\tIPv6 addresses go in brackets\n"
	"=+ raps://host:9999//bin/ls\trap over TLS, verified (rapcli --tls-*)\n"
	"=+ tcp://host:9090\ttcp command server: a connection per command\n"
	"=+ udp://host:9090\tudp sink: commands and =< output go out\n"
	"=+ http://host:9090[/cmd/]\thttp server: GET /cmd/CMD (URL-encoded)\n"
	"The new host gets the lowest free number and becomes the default one.\n";

static const char help_remove[] =
	"=-\tclose every host\n"
	"=-N\tclose host N (also a dead one)\n";

static const char help_push[] =
	"=<N cmd\trun cmd here and send its raw output to host N\n"
	"=<cmd\tthe same to the last host used\n"
	"Only tcp and udp hosts take output (e.g. 'nc -l 9090', 'nc -lu 9090').\n";

static const char help_session[] =
	"==N\tevery following line runs on host N; the prompt is 'fd:N> '\n"
	"==\tthe same with the last host used\n"
	"q\t(in the session) back to local commands\n";

static const char help_mode[] =
	"=!=N\tremote-command mode on: every line runs on host N\n"
	"=!=\tevery line runs through the current file's IO plugin\n"
	"!=!\tremote-command mode off; any line starting with 'q' too\n"
	"Lines starting with '=' or '!=' still run here. The prompt shows [=!ADDR]>.\n";

static const char help_io[] =
	"=! cmd\trun cmd through the current file's IO plugin\n"
	":cmd\tthe same\n"
	"=!=[N]\tremote-command mode on (=!=?)\n";

/* ---- servers ------------------------------------------------------------------------------- */

/* Printed after every server page. */
static const char help_srv_policy[] =
	"Clients share the open files but have their own position, so yours never moves.\n"
	"Their commands run under 'e srv.cmd' (none, read, write, all; default read) and\n"
	"'e srv.shell' (default false), read when the server starts; a refused command\n"
	"answers its one-line reason.\n";

static const char help_srv_rap[] =
	"=:port\tserve the open files over RAP (0: any port); Ctrl-C stops\n"
	"=r port\tsame as =:port\n"
	"=&:port\tthe same in the background (also =&r); =&-port stops it\n"
	"=:host:port cmd\trun cmd on a remote rap server once\n"
	"=r [host:]port cmd\tthe same (a bare port: this machine)\n"
	"=\tlist connections and running servers\n"
	"Listens on 'e rap.bind' (localhost: 127.0.0.1 and ::1; public: every interface).\n"
	"A client's q ends its own session; it never stops the server. With\n"
	"'e rap.loop=false' a foreground server stops after its first client.\n"
	"Below 'e srv.cmd=write' a client may OPEN only the files you have open,\n"
	"read-only.\n"
	"A client may CLOSE only the files it opened; they close when it leaves.\n";

static const char help_srv_bg[] =
	"=&:port\tserve the open files over RAP in the background (0: any free port)\n"
	"=&r port\tsame as =&:port\n"
	"=&t port\tTCP command server in the background (also =t& port)\n"
	"=h& [port]\tHTTP server in the background (also =H& to open a browser)\n"
	"=g& port\tgdbserver in the background: =g& port file [args]\n"
	"=&-\tstop every background server\n"
	"=&-port\tstop the background server on port\n"
	"=t-\tstop the background TCP command servers\n"
	"=h-\tstop the background HTTP servers\n"
	"=g-\tstop the background gdbservers\n"
	"=\tlist connections and running servers\n";

static const char help_srv_gdb[] =
	"=g port file [args]\tgdbserver (0: any free port); Ctrl-C stops\n"
	"=g& port file [args]\tthe same in the background\n"
	"=g-\tstop the background gdbservers (=&-port: one)\n"
	"Each gdb that connects gets file started under the debugger, stopped at its\n"
	"first instruction, and killed when gdb kills it, detaches or disconnects; one\n"
	"gdb at a time. In gdb: target remote 127.0.0.1:port. Listens on 127.0.0.1 and\n"
	"::1 only (a gdb can make the program do anything); for other addresses, ssh\n"
	"-L or rapsrv --gdb. The program's output goes to this prompt's error stream.\n"
	"With target extended-remote, gdb's run starts the program again (gdb's args).\n";

static const char help_srv_tcp[] =
	"=t port\tTCP command server (0: any free port); Ctrl-C stops\n"
	".:port\tsame as =t port\n"
	"=t& port\tthe same in the background (=&t port too)\n"
	"=t-\tstop the background TCP command servers (=&-port: one)\n"
	"=t [host:]port cmd\trun cmd on a TCP command server once and print the answer\n"
	"Each connection sends one command line and gets its output (a newline when\n"
	"empty), then the server closes it: echo px | nc ::1 port. An HTTP request\n"
	"works too, under the rules of =h against browsers (=h?):\n"
	"curl -g 'http://[::1]:port/cmd/px'. One core serves every connection, so 's'\n"
	"persists between them. Listens on 'e tcp.bind' (localhost: 127.0.0.1 and ::1;\n"
	"public: every interface).\n";

static const char help_srv_http[] =
	"=h [port]\tHTTP server (default: e http.port; 0: any port); Ctrl-C stops\n"
	"=h& [port]\tthe same in the background\n"
	"=h-\tstop the background HTTP servers\n"
	"=H [port]\tlike =h, and open its web console in $BROWSER or xdg-open\n"
	"=H& [port]\tlike =h&, and open its web console in $BROWSER or xdg-open\n"
	"GET / is the web console: a command line with history, the output as it\n"
	"comes, the open files, the position and a hexdump of the block there.\n"
	"GET /cmd/<url-encoded command> and POST /cmd (the body is the command) answer\n"
	"the output as text/plain; a refused command answers 403 with its reason.\n"
	"POST /cmd?stream=1 sends it in chunks as the command writes it; closing the\n"
	"connection stops the command. Connections stay open (HTTP/1.1 keep-alive).\n"
	"So that no web page can run commands here, a request with a non-loopback or\n"
	"'null' Origin, or a Sec-Fetch-Site other than same-origin or none, answers 403;\n"
	"so does a browser's request to /cmd (an Origin or Sec-Fetch-Site header) without\n"
	"the X-Rap-Token header of the console's page (a random token per server, which\n"
	"no other origin can read), and one with only a Referer, Sec-Fetch-Mode or a\n"
	"User-Agent starting with Mozilla/ without that token or an 'X-Rap' header.\n"
	"curl, r2pipe and scripts work as they are (curl http://127.0.0.1:9090/cmd/px).\n"
	"Listens on 'e http.bind' (localhost: 127.0.0.1 and ::1; public: every\n"
	"interface); beyond loopback, set 'e http.auth' to a file (mode 0600) holding\n"
	"user:password that every request must give (Basic), and 'e http.cert' (and\n"
	"'e http.key') to serve https.\n";

/* ---- pages --------------------------------------------------------------------------------- */

struct help_page {
	const char *usage;
	const char *lines;
	const char *notes; /* printed after the lines, or NULL */
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

void rap__core_remote_help(struct rap_core *c, enum rap__remote_help page)
{
	const struct help_page *p = &pages[page];
	fprintf(c->out, "%s\n", p->usage);
	rap__help_print(c->out, p->lines, 0);
	if (p->notes)
		rap__help_print(c->out, p->notes, 0);
}
