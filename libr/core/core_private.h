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
#ifndef FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION
#define RAP__CORE_BLOCK_MAX (16u << 20)
#else
#define RAP__CORE_BLOCK_MAX (4u << 10) /* libFuzzer builds: see meson.build */
#endif
/* Files one core on a borrowed IO (a served session) may have open at once. */
#define RAP__CORE_OWNED_MAX 64

/* Configuration variables, in the order "e" lists them (sorted by key). */
enum rap__core_var {
	RAP__VAR_ASM_ARCH,
	RAP__VAR_ASM_BITS,
	RAP__VAR_ASM_COMMENTS,
	RAP__VAR_ASM_LINES,
	RAP__VAR_CFG_BIGENDIAN,
	RAP__VAR_HTTP_AUTH,
	RAP__VAR_HTTP_BIND,
	RAP__VAR_HTTP_CERT,
	RAP__VAR_HTTP_KEY,
	RAP__VAR_HTTP_PORT,
	RAP__VAR_IO_CACHE_SIZE,
	RAP__VAR_IO_SPECIAL,
	RAP__VAR_RAP_BIND,
	RAP__VAR_RAP_LOOP,
	RAP__VAR_SCR_COLOR,
	/* search.c */
	RAP__VAR_SEARCH_FROM,
	RAP__VAR_SEARCH_IN,
	RAP__VAR_SEARCH_MAXHITS,
	RAP__VAR_SEARCH_TO,
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

/* The '=' family (remote.c, servers*.c): remote hosts, background servers and the
 * remote-command mode, which only an interactive client uses. rap_core_new plugs it in
 * (rap__core_remote_ops); rap_core_new_lean leaves it out, and a statically linked program
 * that only calls that (rapsrv) does not carry its code: nothing else refers to it. */
struct rap__core_remote_ops {
	int (*cmd)(struct rap_core *c, char *text);                   /* rap__core_cmd_remote */
	bool (*routes)(const struct rap_core *c, const char *line);   /* rap__core_remote_routes */
	int (*line)(struct rap_core *c, const char *line);            /* rap__core_remote_line */
	size_t (*prompt)(const struct rap_core *c, char *buf, size_t cap); /* rap__core_remote_prompt */
	void (*free)(struct rap_core *c); /* servers, then hosts */
};
extern const struct rap__core_remote_ops rap__core_remote_ops;

struct rap__progress;
/* Draws a progress bar's line (progress.c's rap__progress_draw). rap_core_new plugs it in;
 * rap_core_new_lean leaves it out, as a daemon's commands never draw on a terminal (their
 * streams are its clients'), and rapsrv then carries none of the drawing. */
typedef void rap__progress_draw_fn(struct rap__progress *p, uint64_t done, int64_t t, bool final);

struct rap_core {
	struct rap_io *io;
	int fd;             /* current file, -1 when none */
	uint64_t off;       /* current position (radare2's seek) */
	uint32_t blocksize;
	enum rap_core_policy policy;
	bool allow_shell;
	bool allow_devices; /* see rap_core_set_allow_devices */
	bool confined; /* see rap_core_set_confined */
	bool served;   /* serves a network client, for good (rap_core_set_served, policy.c) */
	bool quit;
	/* rap_core_interrupt (possibly from a signal handler) asked the running line to stop;
	 * cleared when a top-level rap_core_cmd starts (cmd_depth counts nested ones). */
	atomic_bool interrupted;
	unsigned cmd_depth;
	FILE *out;          /* borrowed; swapped while output is captured */
	FILE *err;
	/* Each variable's value: its default (static, core.c's table) until it is set, then a
	 * heap copy (owned; freed with the core): an idle session pays nothing for them. */
	const char *vars[RAP__VAR_COUNT];
	/* The '=' family (remote hosts, servers, remote-command mode), or NULL in a lean core
	 * (rap_core_new_lean): static, never freed. */
	const struct rap__core_remote_ops *remote_ops;
	rap__progress_draw_fn *progress_draw; /* NULL in a lean core: no progress bars */
	struct rap__remote *remote;   /* NULL until the first '=' command needs it */
	struct rap__servers *servers; /* NULL until a server starts */
	/* io belongs to the parent core this one was made from (rap__core_new_shared): a
	 * server's session core serves the user's open files without owning them. */
	bool io_borrowed;
	/* On a borrowed io: the files this core opened itself (with the URI they were opened
	 * with, so a number the user's side closed and reused is not taken for ours). Only
	 * these may be closed from here; they close with the core. Heap, grown on demand up
	 * to RAP__CORE_OWNED_MAX entries (NULL until the first), so that cores with their own
	 * io (rapsrv's sessions) pay nothing for it. */
	struct rap__core_owned {
		int fd;
		char *uri; /* owned */
	} *owned;
	size_t nowned, owned_cap;
	/* Output cap of rap_core_cmd_str (0: none) and whether rap_core_set_output_max chose it. */
	size_t output_max;
	bool output_max_set;
	/* While a capped rap_core_cmd_str runs: its two streams and the '~' filter's buffer,
	 * whose sizes count against output_max; output_over latches once they pass it. */
	FILE *cap_out, *cap_err, *cap_filter;
	bool output_over;
	/* While rap__core_cmd_stream runs: its stream (also cap_out), whose size is what it
	 * handed on so far (cap_streamed), since a stream that goes elsewhere cannot tell. */
	FILE *cap_stream;
	size_t cap_streamed;
	/* Test seam (unit tests, fuzz/fuzz_cmd.c; nothing else sets it): asked before each
	 * operation of enum rap__core_os, see rap__core_os_gate. NULL: the real OS. Cores made
	 * from this one inherit it. */
	int (*os_gate)(enum rap__core_os op, const char *what);
	/* search.c: searches this core ran so far (N of the hitN_M names of the next one). */
	unsigned searches;
	/* Bit i: variable i was set by the user (rap_core_config_set, "e"). The header of a
	 * file made current sets asm.arch, asm.bits and cfg.bigendian only where it is clear. */
	uint32_t vars_user;
	/* While a served CMD runs (serve.c): its request, whose checkpoint() is called where the
	 * line checks for an interruption (it may wait there for the command's turn) and, when
	 * true, interrupts it like rap_core_interrupt, but is never lost to the start of the
	 * line. Borrowed. */
	const struct rap_cmd_request *cancel_req;
	/* rap__core_fd_uri's copy (heap, owned; grown as needed). */
	char *uri_buf;
	size_t uri_cap;
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

/* Whether "KEY=VALUE" sets a view variable (search.*, asm.*, cfg.bigendian): one that
 * changes only what this core's own commands show, so that setting it needs no more than
 * the read level. */
bool rap__core_var_is_view(const char *assignment);

/* Sets variable i as the core itself would (the file's header), not as the user: a value
 * the user set stays, and this one does not count as the user's. asm.bits is checked
 * against asm.arch. Errors: RAP_EINVAL, RAP_ENOMEM. */
int rap__core_config_auto(struct rap_core *c, enum rap__core_var i, const char *value);

/* Key, description and value of variable i (for the "e" listing). The value is what
 * rap_core_config_get reads: clamped to the policy of a served core (borrowed). */
const char *rap__core_var_key(enum rap__core_var i);
const char *rap__core_var_desc(enum rap__core_var i);
const char *rap__core_var_value(const struct rap_core *c, enum rap__core_var i);

/* A core on parent's IO instance (borrowed: parent must outlive it), starting at parent's
 * current file, position and block size, with a copy of its variables (as parent reads
 * them) and its policy, served mark included. Used for a server's clients, which see the
 * user's files but move their own position. Not synchronised with parent: call it from the
 * thread that uses parent. Errors: RAP_ENOMEM. */
int rap__core_new_shared(struct rap_core *parent, struct rap_core **out);

/* fd's URI, copied out of the IO under its lock into c's own buffer (*uri): valid until the
 * next rap__core_fd_uri on c, whatever other threads sharing the IO close meanwhile.
 * Errors (*uri NULL then): RAP_EBADFD (fd is not open), RAP_ENOMEM. */
int rap__core_fd_uri(struct rap_core *c, int fd, const char **uri);

/* Makes fd current at position 0 (fd -1: none). */
void rap__core_set_current(struct rap_core *c, int fd);

/* After fd was closed: when it was current, the highest remaining fd becomes current. */
void rap__core_forget_fd(struct rap_core *c, int fd);

/* Opens a local file a command reads or writes (flags as open(2)) through libio's one
 * way (rap_io_open_local_ex: never blocks, no FIFO, device or socket unless io.special),
 * under the confinement of rap_core_set_confined. Returns an OS descriptor, or a negative
 * errno, RAP_ENOTREG, or RAP_EDENIED (writing while the IO refuses writes, or a path
 * outside its root). rap__core_open_reason explains a failure. */
int rap__core_open_file(struct rap_core *c, const char *path, int flags);

/* Closes fd and forgets it. On a borrowed io only a file this core opened may be closed
 * (RAP_EDENIED otherwise). Errors: RAP_EDENIED, RAP_EBADFD, errors of the IO plugin. */
int rap__core_close(struct rap_core *c, int fd);

/* Whether fd is a file this core opened on its borrowed io (and still open). */
bool rap__core_owns(struct rap_core *c, int fd);

/* True once the output captured by a capped rap_core_cmd_str has passed the cap (then it
 * stays true until that capture ends). Commands that print a lot check it as they go. */
bool rap__core_output_over(struct rap_core *c);

/* True once rap_core_interrupt asked the running command line to stop, or the served
 * request it runs for was cancelled (its checkpoint, which may also wait for the command's
 * turn). Long commands check it between pieces and stop with -EINTR (rap_core_cmd prints
 * "error: interrupted"). */
bool rap__core_interrupted(const struct rap_core *c);

/* Bytes a capped rap_core_cmd_str (or rap__core_cmd_stream) may still capture before it passes its cap (SIZE_MAX when
 * nothing is capped), so that long prints can take smaller pieces near the cap. */
size_t rap__core_output_room(struct rap_core *c);

/* Reads len bytes at off from the current file. Bytes past the end of the data read as 0xff,
 * like radare2's unallocated fill, so buf is always fully defined on success.
 * Errors: RAP_EBADFD (no file open), errors of the IO plugin. */
int rap__core_read(struct rap_core *c, uint64_t off, uint8_t *buf, size_t len);

/* ---- policy.c: levels, confinement and the served mark --------------------------------- */

/* "none", "read", "write", "all" to a policy level and back. Errors: RAP_EINVAL. */
int rap__core_policy_parse(const char *name, enum rap_core_policy *out);
const char *rap__core_policy_name(enum rap_core_policy p);

/* Gives child parent's level, shell switch, confinement and served mark. */
void rap__core_policy_inherit(struct rap_core *child, const struct rap_core *parent);

/* Variable i as c reads a stored value: value, or the highest c's policy allows when it is
 * served and value is above it (borrowed). */
const char *rap__core_policy_var(const struct rap_core *c, enum rap__core_var i, const char *value);
/* 0 when variable i may be set to value (canonical spelling) in c; RAP_EDENIED when that
 * would raise a served core's policy, or when i belongs to whoever owns the IO instance
 * (rap__core_var_owners) and c is served or on a borrowed IO. */
int rap__core_policy_var_check(const struct rap_core *c, enum rap__core_var i, const char *value);
/* Whether variable i sets something of the IO instance itself (io.cache.size: its memory),
 * which only a core that owns its IO and serves no client may change. */
bool rap__core_var_owners(enum rap__core_var i);

/* Prints the one-line reason why what (a command as typed) may not start a server or open
 * a connection here, and returns RAP_EDENIED. */
int rap__core_refuse_network(struct rap_core *c, const char *what);

/* 0 when c may open uri: a served core (or one on a borrowed IO) opens local files and
 * malloc:// only, never a network file. RAP_EDENIED otherwise. */
int rap__core_open_policy(struct rap_core *c, const char *uri);

/* The RAP_IO_OPEN_* options c's opens use (local: the local files of "> FILE", wtf and wff;
 * otherwise a file made current, "o" or OPEN): special files when io.special is true; in a
 * served core devices only, for non-local opens, when rap_core_set_allow_devices said so. */
unsigned rap__core_open_opts(const struct rap_core *c, bool local);

/* Why opening uri (NULL: a local file of a command) failed with rc, for a message (static
 * text). */
const char *rap__core_open_reason(struct rap_core *c, const char *uri, int rc);

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

/* rap_core_cmd_str, and *over (may be NULL) tells whether the line was stopped at the output
 * cap (the result is then RAP_ETOOBIG). */
int rap__core_cmd_capture(struct rap_core *c, const char *line, char **out, char **err, bool *over);

/* Takes len bytes (len > 0) of a streamed command's text. Returns 0, or negative when
 * nothing more is wanted: then the rest of the text is dropped (the line goes on until it
 * notices an interruption; stop it through cancel_req or rap_core_interrupt). */
typedef int (*rap__core_sink)(void *user, const char *data, size_t len);

/* Runs line with its output and its error text together, in the order written, handed to
 * fn line by line as they come (so a long command shows its progress), on the thread that
 * calls it. c->output_max caps the text as in rap__core_cmd_capture (0: no cap): the line
 * stops once it passes the cap, and "error: output exceeds N bytes; command stopped" ends
 * the text; *over (may be NULL) says so, and the result is RAP_ETOOBIG then. Returns as
 * rap_core_cmd, or RAP_ENOMEM when the stream cannot be made. */
int rap__core_cmd_stream(struct rap_core *c, const char *line, rap__core_sink fn, void *user, bool *over);

/* Space, tab, CR or LF. */
bool rap__core_blank(char ch);
/* Cuts blanks from both ends in place; returns the first non-blank character of s. */
char *rap__core_trim(char *s);

/* The command table's names, in order, for the tests that walk every command; NULL past
 * the end. The '=' family, "!" and ":" are outside the table (resolve() routes them). */
const char *rap__core_command_name(size_t i);

/* C escapes of radare2's "w": \n \t \r \e \\ \" \' \0 \xNN; anything else stays as is.
 * Rewrites s in place and returns the length of the result (which may hold NULs). */
size_t rap__core_unescape(char *s);

/* Evaluates a number expression: 0x hex, decimal, $$ (position), $s (size), $b (block size),
 * joined with + and -; arithmetic wraps like uint64_t. Errors: RAP_EINVAL. */
int rap__core_eval(struct rap_core *c, const char *expr, uint64_t *out);

/* ---- remote.c: the '=' family ---------------------------------------------------------- */

/* False when text (an '=' family command, as rap__core_cmd_remote takes it) may start a
 * server or open a connection: everything but the listings, help pages, host removal,
 * remote-command mode off and the current file's own channel ("=!CMD"). A served core
 * refuses those whatever its level. */
bool rap__core_remote_stays_local(const char *text);

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

/* ---- help.c: printing help pages ------------------------------------------------------- */

/* Prints page: each line "COMMAND\tWHAT" as "| COMMAND", blanks to column (0: two past the
 * widest command), then WHAT; a line without a tab as it is. Every line ends in '\n'. */
void rap__help_print(FILE *out, const char *page, int column);

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

/* ---- progress.c: the progress bar of long commands -------------------------------------- */

struct rap__progress {
	FILE *f;          /* the error stream when it is a terminal; NULL: draw nothing */
	rap__progress_draw_fn *draw; /* the core's (set whenever f is) */
	FILE *out;        /* flushed before each redraw, so the bar stays the last line */
	uint64_t total;
	bool total_known;
	int64_t start_ns;
	int64_t last_ns;  /* the last redraw (set ahead to delay the first one) */
	int width;        /* length of the line on screen, to blank what a shorter one leaves */
	bool visible;     /* a bar is on screen */
};

/* Starts a bar for total bytes (known false: a total that is only an upper bound; then
 * bytes and rate only). Nothing is drawn before delay_ns have passed, and then at most ten
 * times a second. */
void rap__progress_start(struct rap__progress *p, struct rap_core *c, uint64_t total, bool known,
			 int64_t delay_ns);
/* The drawing rap_core_new plugs into its cores (final: the work is complete, so the time
 * it took replaces the estimate). */
void rap__progress_draw(struct rap__progress *p, uint64_t done, int64_t t, bool final);
/* done bytes so far: redraws when a redraw is due. */
void rap__progress_update(struct rap__progress *p, uint64_t done);
/* Erases the bar, so that output can go on a clean line; the next update draws it again. */
void rap__progress_clear(struct rap__progress *p);
/* Ends the bar: with ok a final line with the time it took (even for quick work), then a
 * newline; otherwise only the newline after a bar on screen, so that an error message
 * starts on a line of its own. */
void rap__progress_end(struct rap__progress *p, uint64_t done, bool ok);

/* ---- record.c: views as data ----------------------------------------------------------- */

/* What searches and hashes produce, before anything is printed: one formatter turns every
 * record into its line, so other views (JSON, panels) can be built on the same records. */
enum rap__record_kind {
	RAP__RECORD_TEXT_HIT,  /* a text search hit: "0xADDR hitN_M \"preview\"" */
	RAP__RECORD_BYTES_HIT, /* a byte search hit: "0xADDR hitN_M hexpairs" */
	RAP__RECORD_DIGEST,    /* a hash of a range: its text if any, else its bytes in hex */
	RAP__RECORD_NAME,      /* one entry of a listing: its text */
};

struct rap__record {
	enum rap__record_kind kind;
	uint64_t addr;        /* where the bytes it describes start */
	uint64_t len;         /* how many bytes it describes */
	unsigned search;      /* hits: N of hitN_M, which search of the session found it */
	uint64_t index;       /* hits: M of hitN_M, which hit of that search it is */
	const uint8_t *bytes; /* borrowed: the bytes found, or the digest; NULL when none */
	size_t nbytes;
	const char *text;     /* borrowed: preview, digest text, or name; NULL when none */
};

/* Prints r as one line on out. */
void rap__record_print(FILE *out, const struct rap__record *r);

/* ---- search.c: "/", "/x", "/w" --------------------------------------------------------- */

/* Longest pattern a search accepts, in bytes. */
#define RAP__SEARCH_PATTERN_MAX 4096u

/* A search pattern: bytes, and which of their bits must match. */
struct rap__pattern {
	uint8_t *bytes;    /* owned (rap__pattern_free); already masked */
	uint8_t *mask;     /* owned; NULL when every bit must match */
	size_t len;
	bool text;         /* hits are shown with a string preview (/ and /w), else in hex */
	/* The longest run of bytes whose every bit must match: scanned for with memmem, the
	 * rest of the pattern is then checked under its mask. anchor_len 0: no such byte. */
	size_t anchor_off, anchor_len;
};

/* Fills p from text (len bytes, escapes already resolved); wide makes it UTF-16LE (text
 * is read as UTF-8; a byte that is not UTF-8 stands for itself). Errors: RAP_EINVAL
 * (empty or longer than RAP__SEARCH_PATTERN_MAX), RAP_ENOMEM. */
int rap__pattern_text(struct rap__pattern *p, const uint8_t *text, size_t len, bool wide);

/* Fills p from "hexpairs[:maskpairs]": a '.' stands for a nibble that may be anything, a
 * mask shorter than the pattern leaves the bytes after it exact, blanks are ignored.
 * Errors: RAP_EINVAL (*why receives a static reason), RAP_ENOMEM. */
int rap__pattern_hex(struct rap__pattern *p, const char *spec, const char **why);

void rap__pattern_free(struct rap__pattern *p);

/* The first match of p in buf[0..len) that starts at from or later and ends within len:
 * its offset, or SIZE_MAX when there is none. */
size_t rap__pattern_find(const struct rap__pattern *p, const uint8_t *buf, size_t len, size_t from);

/* Called for each hit of rap__search_scan: addr is the hit; win (winlen bytes at winaddr)
 * holds it and whatever else the scan has in memory around it. Returns 0 to go on, 1 to
 * stop the scan there, or a negative error that ends the scan. */
typedef int (*rap__search_hit_fn)(void *ctx, uint64_t addr, const uint8_t *win, size_t winlen,
				  uint64_t winaddr);

/* Scans [from, to) of the current file for p, reading chunk bytes at a time (never one
 * byte at a time) and finding matches that cross chunk boundaries; hits do not overlap
 * and lie wholly inside the range; the scan ends where the data ends. Shows a progress
 * bar on a terminal once it runs for a second and stops when rap_core_interrupt asks
 * (-EINTR) or a capture passes its cap (RAP_ETOOBIG); both, and read errors, are reported
 * on the error stream. *scanned receives the bytes searched. */
int rap__search_scan(struct rap_core *c, const struct rap__pattern *p, uint64_t from, uint64_t to,
		     size_t chunk, rap__search_hit_fn fn, void *ctx, uint64_t *scanned);

/* "/ text", "/x hex[:mask]", "/w text" (name says which) over search.in, search.from and
 * search.to, printing radare2's hit lines, at most search.maxhits of them. */
int rap__core_cmd_search(struct rap_core *c, const char *name, char *args);

/* Checks a search.in value ("io.maps", "file", "block", "range"). */
bool rap__search_in_valid(const char *value);

/* ---- hash.c: "ph" ---------------------------------------------------------------------- */

/* A finished hash: its bytes (crc32 big-endian, as radare2 prints it), or for entropy,
 * which is a value rather than bytes, its text with radare2's 8 decimals. */
struct rap__digest {
	uint8_t bytes[64];
	size_t len;    /* 0 for entropy */
	char text[32]; /* "" unless entropy */
};

struct rap__hash; /* one digest being computed */

/* Starts hashing with algorithm name (md5 sha1 sha256 sha512 crc32 entropy). Errors:
 * RAP_EINVAL (unknown name), RAP_ENOTSUP (not in this build: *why names what it lacks),
 * RAP_ENOMEM. */
int rap__hash_new(const char *name, struct rap__hash **out, const char **why);
void rap__hash_update(struct rap__hash *h, const uint8_t *buf, size_t len);
/* Ends h (and frees it), writing its digest into d. */
void rap__hash_finish(struct rap__hash *h, struct rap__digest *d);
/* Frees h without a result (NULL is fine). */
void rap__hash_free(struct rap__hash *h);

/* The algorithm names of this build, in the order "ph" lists them; NULL past the end. */
const char *rap__hash_name_at(size_t i);

/* "ph" (the list), "ph ALGO [len]": the digest of len bytes (default: the block size) at
 * the position, streamed through the IO in chunks. */
int rap__core_cmd_hash(struct rap_core *c, const char *name, char *args);
/* ---- bininfo.c: the executable header of the current file --------------------------- */

struct rap__binhdr;

/* Reads the current file's ELF, PE or Mach-O header. Returns 0, RAP_EINVAL when it is
 * none of them, RAP_EBADFD without a file, or the read's error. */
int rap__core_bin_header(struct rap_core *c, struct rap__binhdr *out);

/* After the current file changed: asm.arch, asm.bits and cfg.bigendian follow its header
 * (where the user did not set them and it names an architecture the disassembler has). */
void rap__core_bin_follow(struct rap_core *c);

/* The lines "i" adds for an executable (type, arch, bits, endian, entry...). */
void rap__core_bin_print(struct rap_core *c, const struct rap__binhdr *h);

/* ---- disasm_cmd.c: pd, pi, pD --------------------------------------------------------- */

int rap__core_cmd_disasm(struct rap_core *c, const char *name, char *args);

/* ---- transfer.c ----------------------------------------------------------------------- */

/* "wtf LOCALFILE [N]" and "wff LOCALFILE". */
int rap__core_cmd_wtf(struct rap_core *c, const char *name, char *args);
int rap__core_cmd_wff(struct rap_core *c, const char *name, char *args);

#endif
