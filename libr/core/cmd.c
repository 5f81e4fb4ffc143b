/* The command language: splitting a line into commands (';', newline, '#'), the per-command
 * clauses ('@', '~', '>'), the command policy, and the commands themselves. Where a command
 * exists in radare2 it prints what radare2 prints with colours off. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <rap/core.h>

#include "binhdr.h"
#include "common.h"
#include "core_private.h"
#include "debug.h"

#define MAX_FILTERS 8

enum cmd_class {
	CLASS_READ,  /* inspection; allowed from RAP_CORE_POLICY_READ up */
	CLASS_WRITE, /* changes files or the open-file table */
	CLASS_ALL,   /* configuration, remote commands, output files */
	CLASS_SHELL, /* "!": only with rap_core_set_allow_shell */
};

typedef int (*cmd_fn)(struct rap_core *c, const char *name, char *args);

/* A command word (at most 3 characters: the table is most of the language, kept small). */
struct cmd {
	char name[4];
	unsigned char cls; /* enum cmd_class */
	cmd_fn fn;
};

/* What a command text resolved to. */
struct resolved {
	const struct cmd *cmd;
	const char *name; /* the command's word; a help page's family; static or in the help request */
	enum cmd_class cls;
	char *args;   /* points into the command text; trimmed */
	bool network; /* may start a server or open a connection: never in a served core */
};

/* ---- small string helpers ---------------------------------------------------------- */

bool rap__core_blank(char ch)
{
	return ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n';
}

char *rap__core_trim(char *s)
{
	while (rap__core_blank(*s))
		s++;
	size_t n = strlen(s);
	while (n && rap__core_blank(s[n - 1]))
		s[--n] = '\0';
	return s;
}

/* The closing quote matching the one at *p, or NULL when it never closes (then the quote
 * is an ordinary character, so "?e don't" still works). */
static const char *closing_quote(const char *p)
{
	return strchr(p + 1, *p);
}

/* Removes one pair of quotes wrapping the whole argument, the way a user would expect
 * w "a b" or ?e "x;y" to behave. */
static char *unquote(char *s)
{
	size_t n = strlen(s);
	if (n >= 2 && (s[0] == '"' || s[0] == '\'') && s[n - 1] == s[0]) {
		s[n - 1] = '\0';
		return s + 1;
	}
	return s;
}

/* Splits args into at most max words; quotes group words and are removed. Returns the
 * count, or -1 when there are more than max words. */
static int split_words(char *args, char **words, int max)
{
	int n = 0;
	char *p = args;
	for (;;) {
		while (rap__core_blank(*p))
			p++;
		if (!*p)
			return n;
		if (n == max)
			return -1;
		char *w = p, *d = p;
		while (*p && !rap__core_blank(*p)) {
			if ((*p == '"' || *p == '\'') && closing_quote(p)) {
				const char *q = closing_quote(p);
				size_t len = (size_t)(q - p - 1);
				memmove(d, p + 1, len);
				d += len;
				p += len + 2;
			} else {
				*d++ = *p++;
			}
		}
		char *next = *p ? p + 1 : p;
		*d = '\0';
		words[n++] = w;
		p = next;
	}
}

/* ---- numbers -------------------------------------------------------------------------- */

static int parse_term(struct rap_core *c, const char **pp, uint64_t *v)
{
	const char *p = *pp;
	if (p[0] == '$') {
		switch (p[1]) {
		case '$':
			*v = c->off;
			break;
		case 'b':
			*v = c->blocksize;
			break;
		case 's':
			if (c->fd < 0 || rap_io_size(c->io, c->fd, v) < 0)
				return RAP_EINVAL;
			break;
		default:
			return RAP_EINVAL;
		}
		*pp = p + 2;
		return 0;
	}
	uint64_t acc = 0;
	if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X')) {
		p += 2;
		if (!isxdigit((unsigned char)*p))
			return RAP_EINVAL;
		for (; isxdigit((unsigned char)*p); p++) {
			if (acc > UINT64_MAX >> 4)
				return RAP_EINVAL;
			int d = isdigit((unsigned char)*p) ? *p - '0' : (tolower((unsigned char)*p) - 'a' + 10);
			acc = acc << 4 | (uint64_t)d;
		}
	} else if (isdigit((unsigned char)*p)) {
		for (; isdigit((unsigned char)*p); p++) {
			unsigned d = (unsigned)(*p - '0');
			if (acc > (UINT64_MAX - d) / 10)
				return RAP_EINVAL;
			acc = acc * 10 + d;
		}
	} else if (isalpha((unsigned char)*p)) {
		/* A register of the debugged process: "px 32 @ rsp", "s rip". */
		const char *start = p;
		while (isalnum((unsigned char)*p) || *p == '_')
			p++;
		if (rap__core_debug_reg(c, start, (size_t)(p - start), &acc) < 0)
			return RAP_EINVAL;
	} else {
		return RAP_EINVAL;
	}
	/* "12abc" or "0x10g" is a typo, not 12 followed by garbage. */
	if (isalnum((unsigned char)*p) || *p == '_')
		return RAP_EINVAL;
	*v = acc;
	*pp = p;
	return 0;
}

int rap__core_eval(struct rap_core *c, const char *expr, uint64_t *out)
{
	const char *p = expr;
	uint64_t acc = 0;
	bool negate = false;
	for (;;) {
		while (rap__core_blank(*p))
			p++;
		while (*p == '+' || *p == '-') {
			if (*p == '-')
				negate = !negate;
			p++;
			while (rap__core_blank(*p))
				p++;
		}
		uint64_t v;
		if (parse_term(c, &p, &v) < 0)
			return RAP_EINVAL;
		acc = negate ? acc - v : acc + v;
		while (rap__core_blank(*p))
			p++;
		if (!*p)
			break;
		if (*p != '+' && *p != '-')
			return RAP_EINVAL;
		negate = *p == '-';
		p++;
	}
	*out = acc;
	return 0;
}

static int eval_arg(struct rap_core *c, const char *what, const char *expr, uint64_t *v)
{
	if (rap__core_eval(c, expr, v) == 0)
		return 0;
	rap__core_errorf(c, "invalid %s '%s'", what, expr);
	return RAP_EINVAL;
}

/* ---- help ------------------------------------------------------------------------------- */

/* The pages, printed by rap__help_print (help.c): the usage line, then "COMMAND\tWHAT". */
struct help_page {
	const char *families; /* space-separated command words this page documents */
	const char *text;
};

static const char help_general[] =
	"Usage: [cmd] [args] [@ addr] [~text] [> file]\n"
	"s[addr]\tprint or set the position (s?)\n"
	"b[len]\tprint or set the block size (b?)\n"
	"px[len]\thexdump (x is an alias)\n"
	"p8[len]\tbytes as one hex string\n"
	"pr[len]\traw bytes\n"
	"pd[n]\tdisassemble n instructions (also pi, pD; pd?)\n"
	"w[xz] arg\twrite text, hex or a NUL-terminated string (w?)\n"
	"wtf file [n]\tcopy from the position into a local file (wtf?)\n"
	"wff file\twrite a local file at the position\n"
	"o[uri [perm]]\tlist, open or close files (o?)\n"
	"i\tinformation about the current file\n"
	"/[xw] arg\tsearch for text, hex pairs or wide text (/?)\n"
	"ph [algo [len]]\thash len bytes at the position (ph?)\n"
	"e[key[=value]]\tlist, read or set configuration (e?)\n"
	"!cmd\trun a shell command\n"
	"=!cmd\trun cmd through the current file's IO plugin (also :cmd)\n"
	"=?\tremote hosts and servers: the = family\n"
	"?V\tshow the version\n"
	"?e text\techo text\n"
	"?v expr\tevaluate a number expression\n"
	"q\tquit\n"
	"cmd; cmd\trun commands in order (also one per line)\n"
	"cmd @ addr[!len]\trun cmd at addr (with block size len), then come back\n"
	"cmd ~[!]text\tkeep only output lines containing text (! inverts)\n"
	"cmd > file\twrite the output to a local file (>> appends)\n"
	"#text\tcomment\n";

static const char help_seek[] =
	"Usage: s[+-] [addr]   print or change the position\n"
	"s\tprint the current position\n"
	"s addr\tseek to addr (0x hex, decimal, $$ $s $b, + and -)\n"
	"s+ n\tseek n bytes forward\n"
	"s- n\tseek n bytes backward\n"
	"s++\tseek one block forward\n"
	"s--\tseek one block backward\n";

static const char help_block[] =
	"Usage: b [len]   print or set the block size\n"
	"b\tprint the block size\n"
	"b len\tset the block size (default length of px, p8, pr)\n";

static const char help_print[] =
	"Usage: p[x8r] [len]   print bytes\n"
	"px [len]\thexdump of len bytes (default: the block size; -len: before)\n"
	"x [len]\talias of px\n"
	"p8 [len]\tbytes as one hex string\n"
	"pr [len]\traw bytes\n";

static const char help_disasm[] =
	"Usage: pd[iD] [n]   disassemble\n"
	"pd [n]\tdisassemble n instructions (default: the block size)\n"
	"pd -n\tdisassemble the n instructions before the position\n"
	"pi [n]\tthe instructions alone, without address and bytes\n"
	"pD [len]\tdisassemble the instructions in len bytes (-len: before)\n"
	"e asm.arch=x\tarchitecture: x86, arm, mips (from the file's header)\n"
	"e asm.bits=n\t16, 32 or 64 as the arch allows (arm 16: Thumb)\n"
	"e asm.lines=b\tjump arrows before the addresses (pd, pD)\n"
	"e asm.comments=b\treference comments after the text (pd, pD)\n"
	"e cfg.bigendian=b\tbig-endian code (arm, mips)\n";

static const char help_write[] =
	"Usage: w[xz] [arg], wtf/wff file   write at the position\n"
	"w text\twrite text at the position (\\n \\t \\xNN escapes)\n"
	"wx hex\twrite hex pairs at the position\n"
	"wz text\twrite text and a NUL byte at the position\n"
	"wtf file [n]\tcopy n bytes (default: all) from the position to a local file\n"
	"wff file [n]\twrite a local file (at most n bytes of it) at the position\n";

static const char help_open[] =
	"Usage: o[+-] [uri|fd] [perm]   open files\n"
	"o\tlist open files (* marks the current one)\n"
	"o uri [perm]\topen uri (path, file://, malloc://N, rap://) as r, rw, rwx...\n"
	"o+ uri\topen uri for reading and writing\n"
	"o-fd\tclose fd\n"
	"o--\tclose every file\n";

static const char help_info[] =
	"Usage: i   file information\n"
	"i\tfd, file, size, mode and block size of the current file\n"
	"i*\tbinary information as commands (none: files are raw)\n";

static const char help_eval[] =
	"Usage: e [key[=value]]   configuration variables\n"
	"e\tlist every variable\n"
	"e key\tprint the value of key\n"
	"e key=value\tset key\n";

static const char help_search[] =
	"Usage: /[xw] arg   search the file: hits are named hitN_M\n"
	"/ text\tsearch for text (escapes: \\xNN \\n \\t \\0 \\\\)\n"
	"/x hex[:mask]\tsearch for hex pairs ('.' nibbles and mask 0 bits: any)\n"
	"/w text\tsearch for text as UTF-16LE (wide)\n"
	"e search.in=range\tsearch from search.from to search.to\n"
	"e search.in=io.maps\tsearch the whole file (the default; also 'file')\n"
	"e search.in=block\tsearch the block at the position\n"
	"e search.maxhits=n\tstop after n hits (0: no limit)\n";

static const char help_hash[] =
	"Usage: ph [algo [len]]   message digests and entropy of a range\n"
	"ph\tlist the algorithms of this build\n"
	"ph algo\thash the block at the position\n"
	"ph algo len\thash len bytes at the position (ph sha256 0x1000)\n";

static const char help_quit[] =
	"Usage: q   quit\n"
	"q\tquit\n";

static const char help_shell[] =
	"Usage: !cmd   run a shell command\n"
	"!cmd\trun cmd with /bin/sh and show its output (when allowed)\n";

static const struct help_page help_pages[] = {
	{ "", help_general },
	{ "s s+ s- s++ s--", help_seek },
	{ "b", help_block },
	{ "p px x p8 pr", help_print },
	{ "pd pi pD", help_disasm },
	{ "w wx wz wt wtf wf wff", help_write },
	{ "o o+ o- o--", help_open },
	{ "i i*", help_info },
	{ "e", help_eval },
	{ "/ /x /w", help_search },
	{ "ph", help_hash },
	{ "q q!", help_quit },
	{ "!", help_shell },
};

static bool word_in(const char *word, size_t len, const char *list)
{
	for (const char *p = list;;) {
		size_t n = strcspn(p, " ");
		if (n == len && strncmp(p, word, len) == 0)
			return true;
		if (!p[n])
			return false;
		p += n + 1;
	}
}

static const struct help_page *find_help(const char *family, size_t len)
{
	for (size_t i = 0; i < sizeof(help_pages) / sizeof(help_pages[0]); i++)
		if (word_in(family, len, help_pages[i].families))
			return &help_pages[i];
	return NULL;
}

static int cmd_help(struct rap_core *c, const char *name, char *args)
{
	/* name is the family with its trailing '?'s removed ("" for "?" and "??"). */
	const struct help_page *page = find_help(name, strlen(name));
	if (!page)
		page = &help_pages[0];
	rap__help_print(c->out, page->text, 0);
	if (page->text == help_eval) {
		/* The variables are few enough to document right in the help. */
		int kw = 12;
		for (int i = 0; i < RAP__VAR_COUNT; i++)
			if ((int)strlen(rap__core_var_key((enum rap__core_var)i)) > kw)
				kw = (int)strlen(rap__core_var_key((enum rap__core_var)i));
		for (int i = 0; i < RAP__VAR_COUNT; i++)
			fprintf(c->out, "| %-*s %s\n", kw, rap__core_var_key((enum rap__core_var)i),
				rap__core_var_desc((enum rap__core_var)i));
	}
	return 0;
}

/* ---- commands ----------------------------------------------------------------------------- */

static int usage_error(struct rap_core *c, const char *name)
{
	rap__core_errorf(c, "missing argument for '%s' (see '%s?')", name, name);
	return RAP_EINVAL;
}

static int need_file(struct rap_core *c)
{
	if (c->fd >= 0)
		return 0;
	rap__core_errorf(c, "no file is open (open one with 'o URI')");
	return RAP_EBADFD;
}

static int cmd_seek(struct rap_core *c, const char *name, char *args)
{
	uint64_t v = 0;
	if (!strcmp(name, "s++") || !strcmp(name, "s--"))
		return rap_core_seek(c, name[1] == '+' ? c->off + c->blocksize : c->off - c->blocksize);
	if (!strcmp(name, "s")) {
		if (!*args) {
			fprintf(c->out, "0x%" PRIx64 "\n", c->off);
			return 0;
		}
		if (eval_arg(c, "address", args, &v) < 0)
			return RAP_EINVAL;
		return rap_core_seek(c, v);
	}
	if (!*args)
		return usage_error(c, name);
	if (eval_arg(c, "offset", args, &v) < 0)
		return RAP_EINVAL;
	return rap_core_seek(c, name[1] == '+' ? c->off + v : c->off - v);
}

static int cmd_block(struct rap_core *c, const char *name, char *args)
{
	if (!*args) {
		fprintf(c->out, "0x%" PRIx32 "\n", c->blocksize);
		return 0;
	}
	uint64_t v;
	if (eval_arg(c, "block size", args, &v) < 0)
		return RAP_EINVAL;
	if (v < 1 || v > RAP__CORE_BLOCK_MAX) {
		rap__core_errorf(c, "block size 0x%" PRIx64 " is out of range (1 .. 0x%x)", v, RAP__CORE_BLOCK_MAX);
		return RAP_EINVAL;
	}
	c->blocksize = (uint32_t)v;
	return 0;
}

static int cmd_print(struct rap_core *c, const char *name, char *args)
{
	uint64_t off = c->off, len = c->blocksize;
	if (*args) {
		uint64_t v;
		if (eval_arg(c, "length", args, &v) < 0)
			return RAP_EINVAL;
		len = v;
		/* radare2 reads a negative length as "that many bytes before the position". */
		if ((int64_t)v < 0) {
			len = (uint64_t)0 - v;
			off = c->off - len;
		}
	}
	if (len > RAP__CORE_BLOCK_MAX) {
		rap__core_errorf(c, "length 0x%" PRIx64 " is larger than the maximum 0x%x (use '%s @ addr' in pieces)",
				 len, RAP__CORE_BLOCK_MAX, name);
		return RAP_ETOOBIG;
	}
	char kind = !strcmp(name, "p8") ? '8' : !strcmp(name, "pr") ? 'r' : 'x';
	return rap__print_cmd(c, kind, off, len);
}

size_t rap__core_unescape(char *s)
{
	char *d = s;
	for (const char *p = s; *p;) {
		if (*p != '\\' || !p[1]) {
			*d++ = *p++;
			continue;
		}
		p++;
		switch (*p) {
		case 'n': *d++ = '\n'; p++; break;
		case 't': *d++ = '\t'; p++; break;
		case 'r': *d++ = '\r'; p++; break;
		case 'e': *d++ = 0x1b; p++; break;
		case '0': *d++ = '\0'; p++; break;
		case '\\': case '"': case '\'': *d++ = *p++; break;
		case 'x':
			if (rap__hexval(p[1]) >= 0 && rap__hexval(p[2]) >= 0) {
				*d++ = (char)((unsigned)rap__hexval(p[1]) << 4 | (unsigned)rap__hexval(p[2]));
				p += 3;
				break;
			}
			/* fall through */
		default:
			*d++ = '\\';
			break;
		}
	}
	return (size_t)(d - s);
}

static int write_bytes(struct rap_core *c, const uint8_t *data, size_t len)
{
	int rc = need_file(c);
	if (rc < 0)
		return rc;
	int perm = rap_io_fd_perm(c->io, c->fd);
	if (perm < 0 || !(perm & RAP_PERM_W)) {
		const char *uri;
		(void)rap__core_fd_uri(c, c->fd, &uri);
		rap__core_errorf(c, "cannot write: '%s' is open read-only (reopen it with 'o URI rw')", uri ? uri : "?");
		return RAP_EDENIED;
	}
	if (!len)
		return 0;
	ssize_t n = rap_io_write_at(c->io, c->fd, c->off, data, len);
	if (n < 0) {
		rap__core_errorf(c, "cannot write at 0x%08" PRIx64 ": %s", c->off, rap__core_write_error(c, (int)n));
		return (int)n;
	}
	if ((size_t)n < len) {
		rap__core_errorf(c, "short write at 0x%08" PRIx64 ": %zd of %zu bytes", c->off, n, len);
		return -EIO;
	}
	return 0;
}

static int cmd_write(struct rap_core *c, const char *name, char *args)
{
	if (!strcmp(name, "wx")) {
		if (!*args)
			return usage_error(c, name);
		size_t n = 0;
		uint8_t *buf = rap__malloc(strlen(args) / 2 + 1);
		if (!buf) {
			rap__core_errorf(c, "out of memory");
			return RAP_ENOMEM;
		}
		int hi = -1;
		const char *p = args;
		for (; *p; p++) {
			if (rap__core_blank(*p))
				continue;
			int v = rap__hexval(*p);
			if (v < 0)
				break;
			if (hi < 0) {
				hi = v;
			} else {
				buf[n++] = (uint8_t)(hi << 4 | v);
				hi = -1;
			}
		}
		int rc;
		if (*p || hi >= 0) {
			rap__core_errorf(c, "invalid hex string '%s' (expected pairs of hex digits)", args);
			rc = RAP_EINVAL;
		} else {
			rc = write_bytes(c, buf, n);
		}
		rap__free(buf);
		return rc;
	}
	if (!*args)
		return usage_error(c, name);
	char *text = unquote(args);
	size_t n = rap__core_unescape(text);
	/* wz also writes the terminating NUL, which text still has at text[n]. */
	return write_bytes(c, (const uint8_t *)text, n + (!strcmp(name, "wz") ? 1 : 0));
}

static int parse_perm(const char *s, int *perm)
{
	int p = 0;
	for (; *s; s++) {
		switch (*s) {
		case 'r': p |= RAP_PERM_R; break;
		case 'w': p |= RAP_PERM_W; break;
		case 'x': p |= RAP_PERM_X; break;
		case '-': break;
		default: return RAP_EINVAL;
		}
	}
	*perm = p;
	return 0;
}

static int list_files(struct rap_core *c)
{
	int small[64], *fds = small;
	size_t n = rap_io_fds(c->io, fds, 64);
	if (n > 64) {
		fds = rap__malloc(n * sizeof(*fds));
		if (!fds) {
			rap__core_errorf(c, "out of memory");
			return RAP_ENOMEM;
		}
		n = rap_io_fds(c->io, fds, n);
	}
	int rc = 0;
	for (size_t i = 0; i < n; i++) {
		uint64_t size = 0;
		char perm[4];
		const char *uri;
		if (rap__core_fd_uri(c, fds[i], &uri) == RAP_ENOMEM) {
			rap__core_errorf(c, "out of memory");
			rc = RAP_ENOMEM;
			break;
		}
		if (rap_io_size(c->io, fds[i], &size) < 0)
			size = 0;
		fprintf(c->out, "%2d %c %s 0x%08" PRIx64 " %s\n", fds[i], fds[i] == c->fd ? '*' : '-',
			rap__print_perm(perm, rap_io_fd_perm(c->io, fds[i])), size, uri ? uri : "");
	}
	if (fds != small)
		rap__free(fds);
	return rc;
}

static int cmd_open(struct rap_core *c, const char *name, char *args)
{
	if (!*args)
		return list_files(c);
	char *w[2];
	int n = split_words(args, w, 2);
	if (n < 1) {
		rap__core_errorf(c, "usage: o URI [perm]");
		return RAP_EINVAL;
	}
	/* radare2 opens r-x unless told otherwise; o+ is its read-write spelling. */
	int perm = RAP_PERM_R | RAP_PERM_X;
	if (!strcmp(name, "o+"))
		perm |= RAP_PERM_W;
	if (n == 2 && parse_perm(w[1], &perm) < 0) {
		rap__core_errorf(c, "invalid permissions '%s' (use r, rw, rwx...)", w[1]);
		return RAP_EINVAL;
	}
	int fd = rap_core_open(c, w[0], perm);
	if (fd < 0) {
		/* A limit says which one it met. */
		const char *detail = fd == -EMFILE ? rap_io_error(c->io) : "";
		rap__core_errorf(c, "cannot open '%s': %s%s%s%s", w[0], rap__core_open_reason(c, w[0], fd),
				 *detail ? " (" : "", detail, *detail ? ")" : "");
		return fd;
	}
	return 0;
}

/* o-/o-- on a served session's core: the open files are the user's and the other
 * clients', so only what this session opened itself may be closed. */
static int close_owned(struct rap_core *c, const char *name, char *args)
{
	if (!strcmp(name, "o--") || !strcmp(args, "*")) {
		/* Every close shrinks the list; a failed one is dropped from it too. */
		while (c->nowned) {
			size_t before = c->nowned;
			(void)rap__core_close(c, c->owned[c->nowned - 1].fd);
			if (c->nowned == before)
				break;
		}
		return 0;
	}
	if (!*args)
		return usage_error(c, name);
	uint64_t v;
	if (eval_arg(c, "fd", args, &v) < 0)
		return RAP_EINVAL;
	int rc = v > INT32_MAX ? RAP_EBADFD : rap__core_close(c, (int)v);
	if (rc == RAP_EDENIED) {
		rap__core_errorf(c, "cannot close fd %s: only files this session opened can be closed here", args);
		return rc;
	}
	if (rc < 0) {
		rap__core_errorf(c, "cannot close fd %s: %s", args, rap_strerror(rc));
		return rc;
	}
	return 0;
}

static int cmd_close(struct rap_core *c, const char *name, char *args)
{
	if (c->io_borrowed)
		return close_owned(c, name, args);
	if (!strcmp(name, "o--") || !strcmp(args, "*")) {
		int fds[64];
		size_t n = 0;
		bool progress = true;
		/* The list holds at most 64 fds at a time, so take it again until it is empty;
		 * a pass that closes nothing ends the loop instead of spinning. */
		while (progress && (n = rap_io_fds(c->io, fds, 64)) > 0) {
			progress = false;
			for (size_t i = 0; i < n && i < 64; i++)
				progress |= rap_io_close(c->io, fds[i]) == 0;
		}
		c->fd = -1;
		if (!n)
			return 0;
		rap__core_errorf(c, "%zu file(s) could not be closed", n);
		return RAP_EBADFD;
	}
	if (!*args)
		return usage_error(c, name);
	uint64_t v;
	if (eval_arg(c, "fd", args, &v) < 0)
		return RAP_EINVAL;
	int rc = v > INT32_MAX ? RAP_EBADFD : rap_io_close(c->io, (int)v);
	if (rc < 0) {
		rap__core_errorf(c, "cannot close fd %s: %s", args, rap_strerror(rc));
		return rc;
	}
	rap__core_forget_fd(c, (int)v);
	return 0;
}

static int cmd_info(struct rap_core *c, const char *name, char *args)
{
	int rc = need_file(c);
	if (rc < 0)
		return rc;
	const char *uri;
	if (rap__core_fd_uri(c, c->fd, &uri) == RAP_ENOMEM) {
		rap__core_errorf(c, "out of memory");
		return RAP_ENOMEM;
	}
	int perm = rap_io_fd_perm(c->io, c->fd);
	char permstr[4];
	/* An executable's header adds its format and lines of its own (bininfo.c). */
	struct rap__binhdr bin;
	bool is_bin = rap__core_bin_header(c, &bin) == 0;
	/* The layout of radare2's "i" for a file without a recognised binary format. */
	fprintf(c->out, "%-8s %d\n", "fd", c->fd);
	fprintf(c->out, "%-8s %s\n", "file", uri ? uri : "");
	uint64_t size;
	if (rap_io_size(c->io, c->fd, &size) == 0) {
		char human[32];
		rap__print_units(human, sizeof(human), size);
		fprintf(c->out, "%-8s 0x%" PRIx64 "\n", "size", size);
		fprintf(c->out, "%-8s %s\n", "humansz", human);
	}
	fprintf(c->out, "%-8s %s\n", "mode", rap__print_perm(permstr, perm));
	fprintf(c->out, "%-8s %s\n", "format", is_bin ? bin.format : "null");
	fprintf(c->out, "%-8s %s\n", "iorw", perm >= 0 && (perm & RAP_PERM_W) ? "true" : "false");
	fprintf(c->out, "%-8s 0x%" PRIx32 "\n", "block", c->blocksize);
	if (is_bin)
		rap__core_bin_print(c, &bin);
	return 0;
}

static int cmd_nothing(struct rap_core *c, const char *name, char *args)
{
	/* radare2 clients send these after opening; raw files have no symbols, flags or maps
	 * to report, and an empty answer is what they expect. */
	return 0;
}

static int cmd_eval(struct rap_core *c, const char *name, char *args)
{
	if (!*args) {
		for (int i = 0; i < RAP__VAR_COUNT; i++)
			fprintf(c->out, "%s = %s\n", rap__core_var_key((enum rap__core_var)i),
				rap__core_var_value(c, (enum rap__core_var)i));
		return 0;
	}
	char *eq = strchr(args, '=');
	if (!eq) {
		const char *v = rap_core_config_get(c, args);
		if (!v) {
			rap__core_errorf(c, "unknown variable '%s' (see 'e')", args);
			return RAP_EINVAL;
		}
		fprintf(c->out, "%s\n", v);
		return 0;
	}
	*eq = '\0';
	char *key = rap__core_trim(args), *value = rap__core_trim(eq + 1);
	if (!rap_core_config_get(c, key)) {
		rap__core_errorf(c, "unknown variable '%s' (see 'e')", key);
		return RAP_EINVAL;
	}
	int rc = rap_core_config_set(c, key, value);
	bool owners = false;
	for (int i = 0; i < RAP__VAR_COUNT; i++)
		if (!strcmp(rap__core_var_key((enum rap__core_var)i), key))
			owners = rap__core_var_owners((enum rap__core_var)i);
	if (rc == RAP_EINVAL)
		rap__core_errorf(c, "invalid value '%s' for '%s'", value, key);
	else if (rc == RAP_EDENIED && owners)
		rap__core_errorf(c, "'%s' cannot be changed here: it sets the memory of files this session does not own",
				 key);
	else if (rc == RAP_EDENIED)
		rap__core_errorf(c, "'%s' cannot be raised above '%s' here: a served session never widens its policy",
				 key, rap_core_config_get(c, key));
	else if (rc < 0)
		rap__core_errorf(c, "cannot set '%s': %s", key, rap_strerror(rc));
	return rc;
}

static int cmd_quit(struct rap_core *c, const char *name, char *args)
{
	c->quit = true;
	return 0;
}

static int cmd_version(struct rap_core *c, const char *name, char *args)
{
	fprintf(c->out, "rap %s\n", RAP_VERSION_STRING);
	return 0;
}

static int cmd_echo(struct rap_core *c, const char *name, char *args)
{
	fprintf(c->out, "%s\n", unquote(args));
	return 0;
}

static int cmd_number(struct rap_core *c, const char *name, char *args)
{
	uint64_t v;
	if (!*args)
		return usage_error(c, name);
	if (eval_arg(c, "expression", args, &v) < 0)
		return RAP_EINVAL;
	fprintf(c->out, "0x%" PRIx64 "\n", v);
	return 0;
}

static int cmd_iosystem(struct rap_core *c, const char *name, char *args)
{
	int rc = need_file(c);
	if (rc < 0)
		return rc;
	/* A dbg:// file's commands are the debugger's (radare2's =!dr on a debugged file). */
	if (rap_io_dbg(c->io, c->fd))
		return rap__core_cmd_debug(c, "=!", args);
	char *out = NULL;
	rc = rap_io_system(c->io, c->fd, args, &out);
	/* A plain local file has no command channel; radare2 prints nothing then. */
	if (rc == RAP_ENOTSUP)
		return 0;
	if (rc == RAP_EREMOTE) {
		/* It ran and failed over there: the output carries the server's reason. */
		if (out)
			fputs(out, c->out);
		free(out);
		return rc;
	}
	if (rc < 0) {
		rap__core_errorf(c, "remote command failed: %s", rap_strerror(rc));
		free(out);
		return rc;
	}
	if (out)
		fputs(out, c->out);
	free(out);
	return 0;
}

static void close_if_open(int fd)
{
	if (fd >= 0)
		close(fd);
}

/* Copies what the child writes on both pipes to the core's streams until both close. */
static void drain_pipes(struct rap_core *c, int outfd, int errfd)
{
	struct pollfd pfd[2] = { { .fd = outfd, .events = POLLIN }, { .fd = errfd, .events = POLLIN } };
	FILE *dst[2] = { c->out, c->err };
	char buf[4096];
	while (pfd[0].fd >= 0 || pfd[1].fd >= 0) {
		if (poll(pfd, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		for (int i = 0; i < 2; i++) {
			if (pfd[i].fd < 0 || !pfd[i].revents)
				continue;
			ssize_t n = read(pfd[i].fd, buf, sizeof(buf));
			if (n > 0) {
				fwrite(buf, 1, (size_t)n, dst[i]);
			} else if (n == 0 || errno != EINTR) {
				close(pfd[i].fd);
				pfd[i].fd = -1;
			}
		}
		/* Past the capture's cap: stop reading; the command dies of SIGPIPE on its next
		 * write instead of filling memory. */
		if (rap__core_output_over(c)) {
			for (int i = 0; i < 2; i++)
				close_if_open(pfd[i].fd);
			return;
		}
	}
}

/* The child side of "!": never returns. Only async-signal-safe calls, since the parent
 * may have threads. */
static void exec_shell(const char *cmd, int outfd, int errfd)
{
	int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (null < 0 || dup2(null, 0) < 0 || dup2(outfd, 1) < 0 || dup2(errfd, 2) < 0)
		_exit(127);
	/* The server's sockets and files must not leak into the shell. */
	if (syscall(SYS_close_range, 3u, ~0u, 0u) < 0)
		for (int fd = 3; fd < 65536; fd++)
			close(fd);
	/* Servers ignore SIGPIPE, and ignored signals stay ignored across exec. */
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_DFL;
	sigaction(SIGPIPE, &sa, NULL);
	char *argv[] = { "sh", "-c", (char *)cmd, NULL };
	execve("/bin/sh", argv, environ);
	_exit(127);
}

static int cmd_shell(struct rap_core *c, const char *name, char *args)
{
	if (!*args)
		return usage_error(c, "!");
	int po[2] = { -1, -1 }, pe[2] = { -1, -1 };
	pid_t pid = -1;
	int rc = rap__core_os_gate(c, RAP__CORE_OS_SHELL, args);
	if (rc == 0 && pipe2(po, O_CLOEXEC) == 0 && pipe2(pe, O_CLOEXEC) == 0)
		pid = fork();
	if (pid == 0)
		exec_shell(args, po[1], pe[1]);
	if (rc == 0)
		rc = pid < 0 ? -errno : 0;
	/* The write ends belong to the child now; without a child the read ends go too. */
	close_if_open(po[1]);
	close_if_open(pe[1]);
	if (rc < 0) {
		close_if_open(po[0]);
		close_if_open(pe[0]);
		rap__core_errorf(c, "cannot run a shell: %s", rap_strerror(rc));
		return rc;
	}
	fflush(c->out);
	drain_pipes(c, po[0], pe[0]);
	int status;
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	/* Like radare2, a command that ran but exited non-zero is not a command-language error. */
	return 0;
}

/* ---- resolution and policy ----------------------------------------------------------- */

static const struct cmd commands[] = {
	{ "s", CLASS_READ, cmd_seek },
	{ "s+", CLASS_READ, cmd_seek },
	{ "s-", CLASS_READ, cmd_seek },
	{ "s++", CLASS_READ, cmd_seek },
	{ "s--", CLASS_READ, cmd_seek },
	{ "b", CLASS_READ, cmd_block },
	{ "px", CLASS_READ, cmd_print },
	{ "x", CLASS_READ, cmd_print },
	{ "p8", CLASS_READ, cmd_print },
	{ "pr", CLASS_READ, cmd_print },
	/* Disassembly (disasm_cmd.c). */
	{ "pd", CLASS_READ, rap__core_cmd_disasm },
	{ "pi", CLASS_READ, rap__core_cmd_disasm },
	{ "pD", CLASS_READ, rap__core_cmd_disasm },
	{ "w", CLASS_WRITE, cmd_write },
	{ "wx", CLASS_WRITE, cmd_write },
	{ "wz", CLASS_WRITE, cmd_write },
	{ "o", CLASS_READ, cmd_open }, /* WRITE when it opens something, see resolve() */
	{ "o+", CLASS_WRITE, cmd_open },
	{ "o-", CLASS_WRITE, cmd_close },
	{ "o--", CLASS_WRITE, cmd_close },
	{ "i", CLASS_READ, cmd_info },
	{ "i*", CLASS_READ, cmd_nothing },
	{ "f*", CLASS_READ, cmd_nothing },
	{ "om*", CLASS_READ, cmd_nothing },
	{ "e", CLASS_READ, cmd_eval }, /* ALL when it sets a variable */
	{ "q", CLASS_READ, cmd_quit },
	{ "q!", CLASS_READ, cmd_quit },
	{ "?", CLASS_READ, cmd_help },
	{ "?V", CLASS_READ, cmd_version },
	{ "?e", CLASS_READ, cmd_echo },
	{ "?v", CLASS_READ, cmd_number },
	/* Searches and hashes read the file only; they run where the file is. */
	{ "/", CLASS_READ, rap__core_cmd_search },
	{ "/x", CLASS_READ, rap__core_cmd_search },
	{ "/w", CLASS_READ, rap__core_cmd_search },
	{ "ph", CLASS_READ, rap__core_cmd_hash },
	/* Transfers read or write files on this side's filesystem. */
	{ "wtf", CLASS_ALL, rap__core_cmd_wtf },
	{ "wff", CLASS_ALL, rap__core_cmd_wff },
};

static int cmd_remote(struct rap_core *c, const char *name, char *args)
{
	(void)name;
	if (!c->remote_ops) {
		rap__core_errorf(c, "'%s': this program has no '=' commands (remote hosts, servers)", args);
		return RAP_ENOTSUP;
	}
	return c->remote_ops->cmd(c, args);
}

static const struct cmd cmd_shell_entry = { "!", CLASS_SHELL, cmd_shell };
/* The debugger commands (debug_cmd.c): they control a process, so they are write-class
 * (their help pages are not). */
static const struct cmd cmd_debug_entry = { "d", CLASS_WRITE, rap__core_cmd_debug };
static const struct cmd cmd_iosys_entry = { "=!", CLASS_ALL, cmd_iosystem };
/* The '=' family (remote hosts, servers, remote-command mode): remote.c parses the whole
 * text. Everything in it reaches the network or starts servers, so only POLICY_ALL. */
static const struct cmd cmd_remote_entry = { "=", CLASS_ALL, cmd_remote };

const char *rap__core_command_name(size_t i)
{
	return i < sizeof(commands) / sizeof(commands[0]) ? commands[i].name : NULL;
}

static const struct cmd *find_cmd(const char *word, size_t len)
{
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (strlen(commands[i].name) == len && !strncmp(commands[i].name, word, len))
			return &commands[i];
	return NULL;
}

/* The help page a "word?" asks for, stored as a command whose name is the family. */
struct help_request {
	struct cmd cmd;
	char family[16];
};

/* Maps text (trimmed, non-empty) to a command and its arguments. Returns 0, or RAP_ENOTSUP
 * when no command matches. */
static int resolve(char *text, struct resolved *r, struct help_request *help)
{
	r->network = false;
	if (!strcmp(text, "!?")) {
		text[1] = '\0';
		goto help;
	}
	/* "=!=" (remote-command mode on), "!=!" (off), ".:PORT" and every "=" command other
	 * than "=!CMD" belong to the '=' family. */
	if ((text[0] == '=' && (text[1] != '!' || text[2] == '=' || !strcmp(text + 2, "?"))) || !strncmp(text, "!=!", 3) ||
	    (text[0] == '.' && text[1] == ':')) {
		r->cmd = &cmd_remote_entry;
		r->name = cmd_remote_entry.name;
		r->args = text;
		r->cls = CLASS_ALL;
		r->network = !rap__core_remote_stays_local(text);
		return 0;
	}
	if (text[0] == '!') {
		r->cmd = &cmd_shell_entry;
		r->name = cmd_shell_entry.name;
		r->args = rap__core_trim(text + 1);
		r->cls = CLASS_SHELL;
		return 0;
	}
	if (text[0] == 'd') {
		r->cmd = &cmd_debug_entry;
		r->name = cmd_debug_entry.name;
		r->args = text;
		r->cls = rap__core_debug_is_help(text) ? CLASS_READ : CLASS_WRITE;
		return 0;
	}
	if (text[0] == ':' || (text[0] == '=' && text[1] == '!')) {
		r->cmd = &cmd_iosys_entry;
		r->name = cmd_iosys_entry.name;
		r->args = rap__core_trim(text + (text[0] == ':' ? 1 : 2));
		r->cls = CLASS_ALL;
		return 0;
	}
	size_t wl = strcspn(text, " \t");
	const struct cmd *cmd = find_cmd(text, wl);
	char *args = text + wl;
	if (!cmd && wl >= 1 && text[wl - 1] == '?') {
		size_t fl = wl;
		while (fl && text[fl - 1] == '?')
			fl--;
		if (!fl || find_help(text, fl)) {
			text[fl] = '\0';
			goto help;
		}
	}
	if (!cmd) {
		/* radare2 accepts arguments glued to some commands: "px16", "s+0x10", "o-3". */
		static const char *const glued[] = { "s+", "s-", "px", "p8", "pr", "x", "b", "o-" };
		for (size_t i = 0; i < sizeof(glued) / sizeof(glued[0]); i++) {
			size_t n = strlen(glued[i]);
			if (wl > n && !strncmp(text, glued[i], n) &&
			    (isdigit((unsigned char)text[n]) || text[n] == '$' || !strcmp(glued[i], "o-"))) {
				cmd = find_cmd(glued[i], n);
				args = text + n;
				break;
			}
		}
	}
	if (!cmd)
		return RAP_ENOTSUP;
	r->cmd = cmd;
	r->name = cmd->name;
	r->args = rap__core_trim(args);
	r->cls = cmd->cls;
	if (cmd->fn == cmd_open && *r->args)
		r->cls = CLASS_WRITE;
	if (cmd->fn == cmd_eval && strchr(r->args, '=') && !rap__core_var_is_view(r->args))
		r->cls = CLASS_ALL;
	return 0;
help:
	snprintf(help->family, sizeof(help->family), "%s", text);
	help->cmd.fn = cmd_help;
	help->cmd.cls = CLASS_READ;
	r->cmd = &help->cmd;
	r->name = help->family;
	r->args = text + strlen(text);
	r->cls = CLASS_READ;
	return 0;
}

/* ---- one command with its clauses ------------------------------------------------------- */

struct clauses {
	char *cmd;
	char *at;       /* "@ ADDR[!LEN]" */
	char *redirect; /* "> FILE" */
	bool append;
	char *filter[MAX_FILTERS];
	bool invert[MAX_FILTERS];
	int nfilters;
};

static int refuse(struct rap_core *c, const char *what, const char *why)
{
	rap__core_errorf(c, "command '%s' refused by the server's command policy (%s)", what, why);
	return RAP_EDENIED;
}

/* The one place that decides whether a command may run under the core's policy, with all
 * of its clauses. r is NULL for an unknown command (refused under "none", otherwise left to
 * the caller's error); word is the command word as typed. */
static int enforce_policy(struct rap_core *c, const struct clauses *cl, const struct resolved *r,
			  const char *word)
{
	if (c->policy == RAP_CORE_POLICY_NONE)
		return refuse(c, r ? r->name : word, "none");
	if (!r)
		return 0;
	/* A core that serves a network client starts no server and opens no connection, at
	 * every level (policy.c). */
	if (c->served && r->network)
		return rap__core_refuse_network(c, word);
	/* A redirection writes a file on this machine, whatever the command: only "all". */
	if (cl->redirect && c->policy < RAP_CORE_POLICY_ALL) {
		rap__core_errorf(c, "output redirection to '%s' refused by the server's command policy (%s)",
				 cl->redirect, rap__core_policy_name(c->policy));
		return RAP_EDENIED;
	}
	bool ok;
	switch (r->cls) {
	case CLASS_READ: ok = true; break;
	case CLASS_WRITE: ok = c->policy >= RAP_CORE_POLICY_WRITE; break;
	case CLASS_ALL: ok = c->policy >= RAP_CORE_POLICY_ALL; break;
	case CLASS_SHELL: ok = c->allow_shell; break;
	default: ok = false; break;
	}
	if (ok)
		return 0;
	return refuse(c, r->name,
		      r->cls == CLASS_SHELL ? "shell commands are disabled" : rap__core_policy_name(c->policy));
}

/* Cuts seg at its top-level '@', '~' and '>' (outside quotes). A command that starts with
 * '!', ':' or '=!' is passed on whole: the shell or the remote side parses it. */
static int split_clauses(struct rap_core *c, char *seg, struct clauses *cl)
{
	memset(cl, 0, sizeof(*cl));
	char *p = seg;
	/* These take the rest of the line verbatim: the shell, the remote side or a local
	 * command run by the '=' family parses it ('=0 px 16 @ 0x10' seeks remotely). */
	if (*p == '!' || *p == ':' || *p == '=' || (p[0] == '.' && p[1] == ':')) {
		cl->cmd = seg;
		return 0;
	}
	/* radare2's quoted command: "cmd" runs cmd with no special characters at all. */
	if (*p == '"' && closing_quote(p)) {
		char *q = (char *)closing_quote(p);
		*q = '\0';
		cl->cmd = p + 1;
		p = q + 1;
		while (rap__core_blank(*p))
			p++;
		if (*p && *p != '@' && *p != '~' && *p != '>') {
			rap__core_errorf(c, "unexpected text after a quoted command: '%s'", p);
			return RAP_EINVAL;
		}
	} else {
		cl->cmd = seg;
	}
	for (; *p; p++) {
		if ((*p == '"' || *p == '\'') && closing_quote(p)) {
			p = (char *)closing_quote(p);
			continue;
		}
		if (*p != '@' && *p != '~' && *p != '>')
			continue;
		char kind = *p;
		*p = '\0';
		if (kind == '@') {
			if (p[1] == '@') {
				rap__core_errorf(c, "'@@' iterators are not supported");
				return RAP_ENOTSUP;
			}
			if (cl->at) {
				rap__core_errorf(c, "only one '@' per command");
				return RAP_EINVAL;
			}
			cl->at = p + 1;
		} else if (kind == '>') {
			if (cl->redirect) {
				rap__core_errorf(c, "only one '>' per command");
				return RAP_EINVAL;
			}
			cl->append = p[1] == '>';
			if (cl->append)
				p++;
			cl->redirect = p + 1;
		} else {
			if (cl->nfilters == MAX_FILTERS) {
				rap__core_errorf(c, "too many '~' filters (at most %d)", MAX_FILTERS);
				return RAP_EINVAL;
			}
			cl->invert[cl->nfilters] = p[1] == '!';
			if (p[1] == '!')
				p++;
			cl->filter[cl->nfilters++] = p + 1;
		}
	}
	cl->cmd = rap__core_trim(cl->cmd);
	if (cl->at)
		cl->at = rap__core_trim(cl->at);
	for (int i = 0; i < cl->nfilters; i++)
		cl->filter[i] = rap__core_trim(cl->filter[i]);
	if (cl->redirect) {
		cl->redirect = unquote(rap__core_trim(cl->redirect));
		if (!*cl->redirect) {
			rap__core_errorf(c, "'>' needs a file name");
			return RAP_EINVAL;
		}
	}
	return 0;
}

static bool line_passes(const struct clauses *cl, const char *line, size_t len)
{
	for (int i = 0; i < cl->nfilters; i++) {
		size_t plen = strlen(cl->filter[i]);
		bool found = !plen || memmem(line, len, cl->filter[i], plen) != NULL;
		if (found == cl->invert[i])
			return false;
	}
	return true;
}

static void filter_lines(const struct clauses *cl, const char *text, size_t len, FILE *dst)
{
	for (size_t i = 0; i < len;) {
		const char *nl = memchr(text + i, '\n', len - i);
		size_t end = nl ? (size_t)(nl - text) + 1 : len;
		size_t linelen = end - i - (nl ? 1 : 0);
		if (line_passes(cl, text + i, linelen))
			fwrite(text + i, 1, end - i, dst);
		i = end;
	}
}

static int run_resolved(struct rap_core *c, const struct clauses *cl, const struct resolved *r)
{
	uint64_t saved_off = c->off;
	uint32_t saved_bs = c->blocksize;
	if (cl->at) {
		if (!*cl->at) {
			rap__core_errorf(c, "'@' needs an address");
			return RAP_EINVAL;
		}
		char *bang = strchr(cl->at, '!');
		uint64_t addr, bs = c->blocksize;
		if (bang)
			*bang = '\0';
		if (eval_arg(c, "address", cl->at, &addr) < 0)
			return RAP_EINVAL;
		if (bang) {
			if (eval_arg(c, "block size", bang + 1, &bs) < 0)
				return RAP_EINVAL;
			if (bs < 1 || bs > RAP__CORE_BLOCK_MAX) {
				rap__core_errorf(c, "block size 0x%" PRIx64 " is out of range (1 .. 0x%x)", bs, RAP__CORE_BLOCK_MAX);
				return RAP_EINVAL;
			}
		}
		int rc = rap_core_seek(c, addr);
		if (rc < 0) {
			rap__core_errorf(c, "cannot seek to 0x%" PRIx64 ": %s", addr, rap_strerror(rc));
			return rc;
		}
		c->blocksize = (uint32_t)bs;
	}
	FILE *target = c->out, *file = NULL, *mem = NULL;
	char *membuf = NULL;
	size_t memlen = 0;
	int rc = 0;
	if (cl->redirect) {
		int fd = rap__core_open_file(c, cl->redirect, O_WRONLY | O_CREAT | (cl->append ? O_APPEND : O_TRUNC));
		file = fd >= 0 ? fdopen(fd, cl->append ? "a" : "w") : NULL;
		if (!file) {
			rc = fd < 0 ? fd : -errno;
			if (fd >= 0)
				close(fd);
			rap__core_errorf(c, "cannot open '%s' for writing: %s", cl->redirect,
					 rap__core_open_reason(c, NULL, rc));
			goto restore;
		}
		c->out = file;
	}
	if (cl->nfilters) {
		mem = open_memstream(&membuf, &memlen);
		if (!mem) {
			rc = RAP_ENOMEM;
			rap__core_errorf(c, "out of memory");
			goto restore;
		}
		c->out = mem;
	}
	/* The filter's buffer is memory too: it counts against a capture's cap. */
	FILE *saved_filter = c->cap_filter;
	if (mem && c->cap_out)
		c->cap_filter = mem;
	rc = r->cmd->fn(c, r->name, r->args);
	c->cap_filter = saved_filter;
	if (mem) {
		FILE *dst = file ? file : target;
		if (fclose(mem) == 0)
			filter_lines(cl, membuf, memlen, dst);
		mem = NULL;
		free(membuf);
	}
restore:
	c->out = target;
	if (file && fclose(file) != 0 && rc == 0) {
		rc = -errno;
		rap__core_errorf(c, "cannot write '%s': %s", cl->redirect, strerror(errno));
	}
	if (cl->at) {
		c->blocksize = saved_bs;
		(void)rap_core_seek(c, saved_off);
	}
	return rc;
}

static int run_segment(struct rap_core *c, char *seg)
{
	seg = rap__core_trim(seg);
	if (!*seg)
		return 0;
	struct clauses cl;
	int rc = split_clauses(c, seg, &cl);
	if (rc < 0)
		return rc;
	if (!*cl.cmd) {
		if (cl.at || cl.redirect || cl.nfilters) {
			rap__core_errorf(c, "missing command before '%s'", cl.at ? "@" : cl.redirect ? ">" : "~");
			return RAP_EINVAL;
		}
		return 0;
	}
	char word[65];
	size_t wl = strcspn(cl.cmd, " \t");
	snprintf(word, sizeof(word), "%.*s", (int)(wl < 64 ? wl : 64), cl.cmd);
	/* What changes on its own (a debugged process) is read afresh by every command. */
	rap_io_cache_invalidate_volatile(c->io);
	struct resolved r;
	struct help_request help;
	bool known = resolve(cl.cmd, &r, &help) == 0;
	rc = enforce_policy(c, &cl, known ? &r : NULL, word);
	if (rc < 0)
		return rc;
	if (!known) {
		rap__core_errorf(c, "unknown command '%s' (see '?')", word);
		return RAP_ENOTSUP;
	}
	return run_resolved(c, &cl, &r);
}

int rap_core_cmd(struct rap_core *c, const char *line)
{
	if (!line)
		return RAP_EINVAL;
	/* In remote-command mode or an "==" session whole lines go to the remote host. */
	if (c->remote_ops && c->remote_ops->routes(c, line))
		return c->remote_ops->line(c, line);
	char *buf = rap__strdup(line);
	if (!buf) {
		rap__core_errorf(c, "out of memory");
		return RAP_ENOMEM;
	}
	if (c->cmd_depth++ == 0)
		atomic_store(&c->interrupted, false);
	int first = 0;
	bool noticed = false; /* a command saw the interruption and said so */
	char *p = buf;
	while (*p && !c->quit && !c->output_over && !rap__core_interrupted(c)) {
		char *start = p, *end = p;
		bool comment = false;
		for (; *end; end++) {
			if ((*end == '"' || *end == '\'') && closing_quote(end)) {
				end = (char *)closing_quote(end);
				continue;
			}
			if (*end == ';' || *end == '\n')
				break;
			/* '#' starts a comment at the start of a command or after a blank, so
			 * "wx 41#42" is still an (invalid) hex string rather than a silent "wx 41". */
			if (*end == '#' && (end == start || rap__core_blank(end[-1]))) {
				comment = true;
				break;
			}
		}
		char sep = *end;
		*end = '\0';
		int rc = run_segment(c, start);
		if (rc < 0 && first == 0)
			first = rc;
		noticed = noticed || rc == -EINTR;
		/* A capture past its cap runs nothing more (rap_core_cmd_str says why). */
		if (rap__core_output_over(c)) {
			first = RAP_ETOOBIG;
			break;
		}
		if (comment) {
			char *nl = strchr(end + 1, '\n');
			p = nl ? nl + 1 : end + 1 + strlen(end + 1);
		} else {
			p = sep ? end + 1 : end;
		}
	}
	rap__free(buf);
	/* A command that noticed the interruption said so; one that finished before it is
	 * followed by nothing more of the list, and that is worth a word. */
	if (--c->cmd_depth == 0 && rap__core_interrupted(c) && !noticed) {
		fflush(c->out);
		rap__core_errorf(c, "interrupted");
		if (first == 0)
			first = -EINTR;
	}
	fflush(c->out);
	return first;
}

/* Cuts text[0..len) to at most max bytes, after the last newline in range when there is
 * one. Returns the new length. */
static size_t cut_lines(char *text, size_t len, size_t max)
{
	if (len <= max)
		return len;
	size_t n = max;
	while (n > 0 && text[n - 1] != '\n')
		n--;
	if (n == 0)
		n = max;
	text[n] = '\0';
	return n;
}

/* After a capture passed its cap: output and error text are cut so that together with the
 * one-line reason appended to the error text they stay below the cap. */
static int finish_over(struct rap_core *c, char *obuf, size_t *olen, char **ebuf, size_t *elen)
{
	char msg[96];
	int ml = snprintf(msg, sizeof(msg), "error: output exceeds %zu bytes; command stopped\n", c->output_max);
	size_t mlen = ml > 0 ? (size_t)ml : 0;
	size_t budget = c->output_max > mlen + 1 ? c->output_max - mlen - 1 : 0;
	*elen = cut_lines(*ebuf, *elen, *elen <= budget / 2 ? *elen : budget / 2);
	*olen = cut_lines(obuf, *olen, budget - *elen);
	char *e = realloc(*ebuf, *elen + mlen + 1);
	if (!e)
		return RAP_ENOMEM;
	memcpy(e + *elen, msg, mlen + 1);
	*elen += mlen;
	*ebuf = e;
	return 0;
}

/* A command's output streams while it runs with them redirected (rap__core_cmd_capture,
 * rap__core_cmd_stream), and what they were before. */
struct saved_output {
	FILE *out, *err; /* borrowed */
	FILE *cap_out, *cap_err, *cap_filter, *cap_stream; /* borrowed */
	size_t cap_streamed;
	bool output_over;
	bool capped;   /* the core has an output cap (output_max) */
	bool streamed; /* to a stream, which counts what it hands on (cap_streamed) */
};

/* Sends c's output to out and its errors to err. Under an output cap, those are what
 * count against it, err too unless there is a stream (which counts what it hands on,
 * cap_streamed, from 0). */
static void redirect_output(struct rap_core *c, struct saved_output *sv, FILE *out, FILE *err, FILE *stream)
{
	*sv = (struct saved_output){
		.out = c->out,
		.err = c->err,
		.cap_out = c->cap_out,
		.cap_err = c->cap_err,
		.cap_filter = c->cap_filter,
		.cap_stream = c->cap_stream,
		.cap_streamed = c->cap_streamed,
		.output_over = c->output_over,
		.capped = c->output_max != 0,
		.streamed = stream != NULL,
	};
	c->out = out;
	c->err = err;
	if (sv->capped) {
		c->cap_out = out;
		c->cap_err = stream ? NULL : err;
		c->cap_filter = NULL;
		if (stream) {
			c->cap_stream = stream;
			c->cap_streamed = 0;
		}
		c->output_over = false;
	}
}

static void restore_output(struct rap_core *c, const struct saved_output *sv)
{
	c->out = sv->out;
	c->err = sv->err;
	if (sv->capped) {
		c->cap_out = sv->cap_out;
		c->cap_err = sv->cap_err;
		c->cap_filter = sv->cap_filter;
		if (sv->streamed) {
			c->cap_stream = sv->cap_stream;
			c->cap_streamed = sv->cap_streamed;
		}
		c->output_over = sv->output_over;
	}
}

int rap_core_cmd_str(struct rap_core *c, const char *line, char **out, char **err)
{
	return rap__core_cmd_capture(c, line, out, err, NULL);
}

int rap__core_cmd_capture(struct rap_core *c, const char *line, char **out, char **err, bool *stopped)
{
	if (stopped)
		*stopped = false;
	if (out)
		*out = NULL;
	if (err)
		*err = NULL;
	char *obuf = NULL, *ebuf = NULL;
	size_t olen = 0, elen = 0;
	FILE *of = open_memstream(&obuf, &olen);
	FILE *ef = of ? open_memstream(&ebuf, &elen) : NULL;
	if (!ef) {
		if (of)
			fclose(of);
		free(obuf);
		return RAP_ENOMEM;
	}
	struct saved_output saved;
	redirect_output(c, &saved, of, ef, NULL);
	int rc = rap_core_cmd(c, line);
	bool over = saved.capped && c->output_over;
	restore_output(c, &saved);
	bool ok = fclose(of) == 0;
	ok = fclose(ef) == 0 && ok;
	if (ok && over) {
		rc = RAP_ETOOBIG;
		ok = finish_over(c, obuf, &olen, &ebuf, &elen) == 0;
		if (stopped)
			*stopped = true;
	}
	if (!ok) {
		free(obuf);
		free(ebuf);
		return RAP_ENOMEM;
	}
	if (out)
		*out = obuf;
	else
		free(obuf);
	if (err)
		*err = ebuf;
	else
		free(ebuf);
	return rc;
}

/* rap__core_cmd_stream's cookie: every line written goes to the sink. */
struct stream_sink {
	struct rap_core *c;
	rap__core_sink fn;
	void *user;
	bool dropped; /* the sink wants no more */
};

static ssize_t stream_write(void *cookie, const char *buf, size_t size)
{
	struct stream_sink *k = cookie;
	k->c->cap_streamed += size;
	if (!k->dropped && size && k->fn(k->user, buf, size) < 0)
		k->dropped = true;
	/* Taken either way: a failed write would only be retried with the next one. */
	return (ssize_t)size;
}

int rap__core_cmd_stream(struct rap_core *c, const char *line, rap__core_sink fn, void *user, bool *over)
{
	if (over)
		*over = false;
	struct stream_sink k = { .c = c, .fn = fn, .user = user };
	cookie_io_functions_t io = { .write = stream_write };
	FILE *f = fopencookie(&k, "w", io);
	if (!f)
		return RAP_ENOMEM;
	/* Line by line: a long search shows its hits as they are found. */
	if (setvbuf(f, NULL, _IOLBF, 16384) != 0) {
		fclose(f);
		return RAP_ENOMEM;
	}
	struct saved_output saved;
	redirect_output(c, &saved, f, f, f);
	int rc = rap_core_cmd(c, line);
	bool stopped = saved.capped && c->output_over;
	if (stopped) {
		fprintf(f, "error: output exceeds %zu bytes; command stopped\n", c->output_max);
		rc = RAP_ETOOBIG;
	}
	restore_output(c, &saved);
	fclose(f);
	if (over)
		*over = stopped;
	return rc;
}
