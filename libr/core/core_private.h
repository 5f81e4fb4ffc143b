/* Internals shared by the files of librap-core (never installed). */
#ifndef RAP_CORE_PRIVATE_H
#define RAP_CORE_PRIVATE_H

#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <rap/core.h>

/* radare2's default block size: the length px, p8 and pr use without an argument. */
#define RAP__CORE_BLOCK_DEFAULT 0x100u
/* Largest block size and print length. A remote READ-level user can ask for it, and the text
 * of a hexdump is about 4.4 times the data, so it stays far below radare2's 50 MiB. */
#define RAP__CORE_BLOCK_MAX (16u << 20)
/* Files one core on a borrowed IO (a served session) may have open at once. */
#define RAP__CORE_OWNED_MAX 64

/* Configuration variables, in the order "e" lists them (sorted by key). */
enum rap__core_var {
	RAP__VAR_HTTP_BIND,
	RAP__VAR_HTTP_PORT,
	RAP__VAR_RAP_BIND,
	RAP__VAR_RAP_LOOP,
	RAP__VAR_SCR_COLOR,
	RAP__VAR_SRV_CMD,
	RAP__VAR_SRV_SHELL,
	RAP__VAR_TCP_BIND,
	RAP__VAR_COUNT,
};

/* What a command may ask of the operating system beyond memory (see rap__core_os_gate). */
enum rap__core_os {
	RAP__CORE_OS_SHELL,   /* "!CMD": a process */
	RAP__CORE_OS_FILE,    /* "> FILE", "wtf", "wff": a local file */
	RAP__CORE_OS_CONNECT, /* "=+", "=:HOST:PORT CMD", "=r", "=t": an outgoing connection */
	RAP__CORE_OS_LISTEN,  /* "=:PORT", "=&:PORT", "=t PORT", "=h": a listening server */
};

struct rap__remote;  /* remote.c: host table, remote-command mode, "==" sessions */
struct rap__servers; /* servers_thread.c: the background servers this core started */

struct rap_core {
	struct rap_io *io;
	int fd;             /* current file, -1 when none */
	uint64_t off;       /* current position (radare2's seek) */
	uint32_t blocksize;
	enum rap_core_policy policy;
	bool allow_shell;
	bool confined; /* see rap_core_set_confined */
	bool quit;
	/* rap_core_interrupt (possibly from a signal handler) asked the running line to stop;
	 * cleared when a top-level rap_core_cmd starts (cmd_depth counts nested ones). */
	atomic_bool interrupted;
	unsigned cmd_depth;
	FILE *out;          /* borrowed; swapped while output is captured */
	FILE *err;
	char *vars[RAP__VAR_COUNT]; /* heap values */
	struct rap__remote *remote;   /* NULL until the first '=' command needs it */
	struct rap__servers *servers; /* NULL until a server starts */
	/* io belongs to the parent core this one was made from (rap__core_new_shared): a
	 * server's session core serves the user's open files without owning them. */
	bool io_borrowed;
	/* On a borrowed io: the files this core opened itself (with the URI they were opened
	 * with, so a number the user's side closed and reused is not taken for ours). Only
	 * these may be closed from here; they close with the core. */
	struct {
		int fd;
		char *uri;
	} owned[RAP__CORE_OWNED_MAX];
	size_t nowned;
	/* Output cap of rap_core_cmd_str (0: none) and whether rap_core_set_output_max chose it. */
	size_t output_max;
	bool output_max_set;
	/* While a capped rap_core_cmd_str runs: its two streams and the '~' filter's buffer,
	 * whose sizes count against output_max; output_over latches once they pass it. */
	FILE *cap_out, *cap_err, *cap_filter;
	bool output_over;
	/* Test seam (unit tests, fuzz/fuzz_cmd.c; nothing else sets it): asked before each
	 * operation of enum rap__core_os, see rap__core_os_gate. NULL: the real OS. Cores made
	 * from this one inherit it. */
	int (*os_gate)(enum rap__core_os op, const char *what);
};

/* ---- core.c ---------------------------------------------------------------------------- */

/* Whether a command may go ahead with op on the operating system: 0 (always, unless a
 * test set c->os_gate), or the negative error the gate answers, which the caller reports
 * as if the system had refused (e.g. -ECONNREFUSED, -EACCES). what names the object (a
 * path, "host:port", the shell command) for the gate. Lets a harness run every command
 * without processes, files, connections or servers. */
int rap__core_os_gate(struct rap_core *c, enum rap__core_os op, const char *what);

/* Prints "error: <message>\n" on the core's error stream. */
void rap__core_errorf(struct rap_core *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Why a write to the current file failed, for a message (static text): a rap:// file the
 * server refused to write was opened read-only there, because the server allows no writes. */
const char *rap__core_write_error(const struct rap_core *c, int rc);

/* Key, description and value of variable i (for the "e" listing). */
const char *rap__core_var_key(enum rap__core_var i);
const char *rap__core_var_desc(enum rap__core_var i);

/* A core on parent's IO instance (borrowed: parent must outlive it), starting at parent's
 * current file, position and block size, with a copy of its variables and policy. Used for
 * a server's clients, which see the user's files but move their own position. Not
 * synchronised with parent: call it from the thread that uses parent. Errors: RAP_ENOMEM. */
int rap__core_new_shared(struct rap_core *parent, struct rap_core **out);

/* "none", "read", "write", "all" to a policy level. Errors: RAP_EINVAL. */
int rap__core_policy_parse(const char *name, enum rap_core_policy *out);

/* Makes fd current at position 0 (fd -1: none). */
void rap__core_set_current(struct rap_core *c, int fd);

/* After fd was closed: when it was current, the highest remaining fd becomes current. */
void rap__core_forget_fd(struct rap_core *c, int fd);

/* Opens a local file a command reads or writes (flags as open(2); O_CLOEXEC is added),
 * under the confinement of rap_core_set_confined. Returns an OS descriptor, or a negative
 * errno or RAP_EDENIED (writing while the IO refuses writes, or a path outside its root). */
int rap__core_open_file(struct rap_core *c, const char *path, int flags);

/* Closes fd and forgets it. On a borrowed io only a file this core opened may be closed
 * (RAP_EDENIED otherwise). Errors: RAP_EDENIED, RAP_EBADFD, errors of the IO plugin. */
int rap__core_close(struct rap_core *c, int fd);

/* Whether fd is a file this core opened on its borrowed io (and still open). */
bool rap__core_owns(struct rap_core *c, int fd);

/* True once the output captured by a capped rap_core_cmd_str has passed the cap (then it
 * stays true until that capture ends). Commands that print a lot check it as they go. */
bool rap__core_output_over(struct rap_core *c);

/* True once rap_core_interrupt asked the running command line to stop. Long commands check
 * it between pieces and stop with -EINTR (rap_core_cmd prints "error: interrupted"). */
bool rap__core_interrupted(const struct rap_core *c);

/* Reads len bytes at off from the current file. Bytes past the end of the data read as 0xff,
 * like radare2's unallocated fill, so buf is always fully defined on success.
 * Errors: RAP_EBADFD (no file open), errors of the IO plugin. */
int rap__core_read(struct rap_core *c, uint64_t off, uint8_t *buf, size_t len);

/* ---- print.c --------------------------------------------------------------------------- */

/* radare2's "px" with colours off: a header line for start address addr, then 16-byte rows.
 * rows may be called repeatedly with consecutive 16-byte-aligned pieces of one dump. */
void rap__print_hexdump_header(FILE *out, uint64_t addr);
void rap__print_hexdump_rows(FILE *out, uint64_t addr, const uint8_t *buf, size_t len);
/* Header and rows; nothing at all when len is 0 (radare2 prints nothing for "px 0"). */
void rap__print_hexdump(FILE *out, uint64_t addr, const uint8_t *buf, size_t len);

/* "p8": lower-case hex pairs without separators and a newline; nothing when len is 0. */
void rap__print_hexpairs(FILE *out, const uint8_t *buf, size_t len);

/* radare2's r_num_units: "128K", "1.5M", "1000". Returns the length (snprintf-like). */
int rap__print_units(char *buf, size_t cap, uint64_t n);

/* radare2's permission string: "r-x", "rw-". buf needs 4 bytes. */
const char *rap__print_perm(char buf[4], int perm);

/* Runs px (kind 'x'), p8 ('8') or pr ('r') over len bytes at off of the current file,
 * reading and printing in pieces so a large length never needs one large buffer. Stops
 * with RAP_ETOOBIG (and no message: rap_core_cmd_str prints it) when a capture's output
 * passes its cap. */
int rap__print_cmd(struct rap_core *c, char kind, uint64_t off, uint64_t len);

/* ---- cmd.c ----------------------------------------------------------------------------- */

/* Space, tab, CR or LF. */
bool rap__core_blank(char ch);
/* Cuts blanks from both ends in place; returns the first non-blank character of s. */
char *rap__core_trim(char *s);

/* Evaluates a number expression: 0x hex, decimal, $$ (position), $s (size), $b (block size),
 * joined with + and -; arithmetic wraps like uint64_t. Errors: RAP_EINVAL. */
int rap__core_eval(struct rap_core *c, const char *expr, uint64_t *out);

/* ---- remote.c: the '=' family ---------------------------------------------------------- */

/* Runs an '=' family command. text is the whole command ("=+ rap://h:1//x", "=0 px 16",
 * "==1", "=!=", "!=!", "=<1 px", "=:HOST:PORT CMD", ...); server commands ("=:PORT",
 * "=&:PORT", "=r", "=t",
 * ".:PORT", "=h", "=H") are handed to rap__core_cmd_server. */
int rap__core_cmd_remote(struct rap_core *c, char *text);

/* Runs cmd once on the rap server (tcp false) or TCP command server (tcp true) at addr,
 * "[HOST:]PORT" (a bare port is this machine) or a rap:// or raps:// URI, and prints what
 * it answers. spelling ("=:", "=r", "=t") is what usage messages name. */
int rap__core_remote_query(struct rap_core *c, const char *spelling, bool tcp, const char *addr,
			   const char *cmd);

/* True when line must go to a remote host (remote-command mode or an "==" session) rather
 * than run here; then rap_core_cmd passes it to rap__core_remote_line. */
bool rap__core_remote_routes(const struct rap_core *c, const char *line);
int rap__core_remote_line(struct rap_core *c, const char *line);

/* The prompt of an active remote mode ("fd:1> ", "[=!0x00001000]> "); 0 when none. */
size_t rap__core_remote_prompt(const struct rap_core *c, char *buf, size_t cap);

/* Closes every connection of the host table (rap_core_free). */
void rap__core_remote_free(struct rap_core *c);

/* ---- remote_help.c: the help texts of the '=' family -------------------------------- */

enum rap__remote_help {
	RAP__HELP_EQ,         /* "=?": the whole family */
	RAP__HELP_EQ_ADD,     /* "=+?" */
	RAP__HELP_EQ_REMOVE,  /* "=-?" */
	RAP__HELP_EQ_PUSH,    /* "=<?" */
	RAP__HELP_EQ_SESSION, /* "==?" */
	RAP__HELP_EQ_MODE,    /* "=!=?" */
	RAP__HELP_EQ_IO,      /* "=!?" */
	RAP__HELP_EQ_RAP,     /* "=:?", "=r?": the RAP server */
	RAP__HELP_EQ_BG,      /* "=&?": background servers */
	RAP__HELP_EQ_TCP,     /* "=t?", ".:?" */
	RAP__HELP_EQ_HTTP,    /* "=h?", "=H?" */
	RAP__HELP_EQ_GDB,     /* "=g?" */
};

/* Prints a help page on the core's output. */
void rap__core_remote_help(struct rap_core *c, enum rap__remote_help page);

/* ---- servers.c: servers started from the prompt (servers.h has the rest) -------------- */

/* "=:PORT", "=r PORT", "=&:PORT", "=&r PORT", "=t PORT", ".:PORT",
 * "=h [PORT]", "=h& [PORT]", "=h-", "=H [PORT]" and their "?" help. */
int rap__core_cmd_server(struct rap_core *c, char *text);

/* Prints the running servers (part of the "=" listing). */
void rap__core_servers_list(struct rap_core *c);

/* ---- servers_thread.c ------------------------------------------------------------------ */

/* Stops every server (rap_core_free). */
void rap__core_servers_free(struct rap_core *c);

/* ---- browser.c ------------------------------------------------------------------------- */

/* Opens url (borrowed) in $BROWSER (run by the shell, so it may carry arguments) or
 * xdg-open from $PATH, detached. Returns false when neither exists or it failed to start;
 * then the caller shows the URL. */
bool rap__core_open_browser(const char *url);

/* ---- transfer.c ----------------------------------------------------------------------- */

/* "wtf LOCALFILE [N]" and "wff LOCALFILE". */
int rap__core_cmd_wtf(struct rap_core *c, const char *name, char *args);
int rap__core_cmd_wff(struct rap_core *c, const char *name, char *args);

#endif
