/* librap-io: a descriptor table over URI plugins (file, malloc, rap, ...).
 * Errors follow rap.h: 0 or a count on success, RAP_E* or -errno on failure.
 * Open policy (root confinement, allowed schemes, write access) lives here, in one place.
 * An instance may be used from several threads: the table and the policy are under the
 * instance's lock, and every plugin call on a descriptor under that descriptor's own lock
 * (plugins need no locking of their own; see io.c). The read cache has a lock of its own
 * (see "the read cache" below). */
#ifndef RAP_IO_H
#define RAP_IO_H

#include <rap/rap.h>

#ifdef __cplusplus
extern "C" {
#endif

struct rap_io;
struct rap_io_desc;

/* Bumped whenever struct rap_io_plugin changes layout. */
#define RAP_IO_PLUGIN_ABI 1

/* A plugin is a const vtable: all per-file state lives in the descriptor (see
 * rap_io_desc_set_data). Positional read/write: the caller's position lives in libcore. */
struct rap_io_plugin {
	unsigned abi;             /* RAP_IO_PLUGIN_ABI */
	const char *name;         /* "file", "malloc", "rap" */
	const char *desc;         /* one sentence, no trailing period */
	const char *uris;         /* "rap://,raps://" as radare2 -L shows them; "" for plain paths */
	const char *author;
	const char *license;
	/* True when this plugin handles uri. */
	bool (*accepts)(const char *uri);
	/* Opens uri with perm (RAP_PERM_*). Stores its state with rap_io_desc_set_data. */
	int (*open)(struct rap_io_desc *d, const char *uri, int perm);
	/* Releases the state. Called once; the descriptor is gone afterwards. */
	int (*close)(struct rap_io_desc *d);
	/* pread-like: bytes read (fewer only at end of data, 0 past it) or negative. */
	ssize_t (*read)(struct rap_io_desc *d, uint64_t off, void *buf, size_t len);
	/* pwrite-like; NULL when the plugin is read-only. */
	ssize_t (*write)(struct rap_io_desc *d, uint64_t off, const void *buf, size_t len);
	/* Size in bytes; NULL or RAP_ENOTSUP for streams. */
	int (*size)(struct rap_io_desc *d, uint64_t *size);
	/* Optional: runs cmd through the plugin (for rap: a CMD on the server). *out heap.
	 * RAP_EREMOTE when the command ran and failed on the other side (*out still holds its
	 * output and the reason). */
	int (*system)(struct rap_io_desc *d, const char *cmd, char **out);
	/* Optional: seek hook for plugins that must see position changes (streams); NULL when
	 * positions are purely positional. Returns the new position or negative. */
	int64_t (*seek)(struct rap_io_desc *d, uint64_t off, int whence);
	bool is_debugger;         /* shown as 'd' in the -L listing */
};

/* Creates an IO instance with the built-in plugins registered (file, malloc, rap, dbg).
 * Default policy: no root (any path), writes allowed, every registered scheme allowed;
 * servers tighten it. Free with rap_io_free(), which closes every descriptor. */
RAP_API int rap_io_new(struct rap_io **out);
/* The same without the plugins that connect out (file, malloc, dbg; no rap://), for the
 * sessions of daemons, whose clients never open network files: a program linked
 * statically that creates its instances only with this one carries no RAP client for them. */
RAP_API int rap_io_new_local(struct rap_io **out);
/* The same without any plugin: the caller registers its own (rap_io_register). */
RAP_API int rap_io_new_bare(struct rap_io **out);
RAP_API void rap_io_free(struct rap_io *io);

/* Registers an extra plugin (borrowed; must outlive io). Errors: RAP_EINVAL, RAP_ENOMEM. */
RAP_API int rap_io_register(struct rap_io *io, const struct rap_io_plugin *p);

/* Registered plugins in registration order; NULL past the end. Borrowed. */
RAP_API const struct rap_io_plugin *rap_io_plugin_at(const struct rap_io *io, size_t i);

/* The plugin rap_io_open would give uri to (whether or not policy allows it), or NULL. */
RAP_API const struct rap_io_plugin *rap_io_plugin_for(const struct rap_io *io, const char *uri);

/* Confines plain paths and file:// URIs to dir: relative paths resolve beneath it, absolute
 * paths must lie beneath it, and no "..", symlink or /proc link can leave it (openat2
 * RESOLVE_BENEATH). NULL removes the confinement. Errors: -errno if dir cannot be opened. */
RAP_API int rap_io_set_root(struct rap_io *io, const char *dir);

/* Uses from's confinement root (or none) without opening another handle on it: a server
 * creating many instances with one root holds one descriptor for all of them. The root
 * stays valid until every instance sharing it has changed or dropped it.
 * Errors: RAP_EINVAL. */
RAP_API int rap_io_share_root(struct rap_io *io, const struct rap_io *from);

/* Whether opens may ask for write access. When false a request with RAP_PERM_W is opened
 * read-only (writes then fail with RAP_EDENIED). */
RAP_API void rap_io_set_allow_write(struct rap_io *io, bool allow);
/* Whether writes are allowed (rap_io_set_allow_write); false for NULL. */
RAP_API bool rap_io_allow_write(const struct rap_io *io);

/* Synchronous writes: when on, a plugin that writes to storage makes each write durable
 * before returning it as done (the file plugin: fdatasync after the data), so a server
 * acknowledges only writes that survive a power loss; a failed flush fails the write.
 * Off by default. */
RAP_API void rap_io_set_sync(struct rap_io *io, bool on);
/* Whether writes are synchronous (rap_io_set_sync); false for NULL. */
RAP_API bool rap_io_sync(const struct rap_io *io);

/* Comma-separated list of plugin names that may be opened ("file,malloc"); NULL allows
 * all. Errors: RAP_ENOMEM. */
RAP_API int rap_io_set_allowed_plugins(struct rap_io *io, const char *names);
/* Whether name is in such a list: its items trimmed of blanks, empty ones ignored (so ""
 * lists nothing). */
RAP_API bool rap_io_plugin_listed(const char *names, const char *name);

/* Limits on open descriptors, checked by every open (rap_io_open_local, whose descriptor
 * belongs to its caller, is not counted). An open past one fails with -EMFILE, and
 * rap_io_error says which limit it met.
 * rap_io_set_max_files: at most n descriptors open in io at once (0, the default: no
 *   limit of its own).
 * rap_io_set_max_files_total: io starts a new count, which every instance joined to it
 *   with rap_io_share_max_files_total shares: together they hold at most n descriptors
 *   (0 leaves the count: no shared limit). Only opens made after joining count.
 * A server gives each client's instance its own limit and all of them one total below the
 * process's descriptor limit, so that clients opening files can never take the descriptors
 * new connections need. Errors: RAP_ENOMEM, RAP_EINVAL (NULL, or io == from). */
RAP_API void rap_io_set_max_files(struct rap_io *io, size_t n);
RAP_API int rap_io_set_max_files_total(struct rap_io *io, size_t n);
RAP_API int rap_io_share_max_files_total(struct rap_io *io, const struct rap_io *from);

/* dbg:// (debugged processes, see rap/dbg.h). rap_io_set_max_processes: at most n
 * processes started or attached through io at once (0, the default: no limit of its own).
 * rap_io_set_max_processes_total: at most n in the whole process, all instances together
 * (0, the default: none). An open past one fails with -EAGAIN and rap_io_error says which.
 * rap_io_set_dbg_output: the descriptor debugged programs write their stdout and stderr to
 * (borrowed, must stay open while io has dbg:// files; default 2, this process's stderr;
 * -1: /dev/null). Never a client's connection. */
RAP_API void rap_io_set_max_processes(struct rap_io *io, size_t n);
RAP_API void rap_io_set_max_processes_total(size_t n);
RAP_API void rap_io_set_dbg_output(struct rap_io *io, int fd);

struct rap_tls_config;

/* TLS settings for raps:// (borrowed, must outlive io; see rap/tls.h). Without one, raps://
 * verifies the server against the system's trust store and its host name. */
RAP_API void rap_io_set_tls(struct rap_io *io, struct rap_tls_config *cfg);
RAP_API struct rap_tls_config *rap_io_tls(const struct rap_io *io);

/* The shared secret rap:// and raps:// connections authenticate with (borrowed, must
 * outlive io; NULL, the default: none). With one, a server that does not authenticate is
 * refused (see rap_client_set_secret); the URI never carries it. */
RAP_API void rap_io_set_secret(struct rap_io *io, const struct rap_secret *secret);
RAP_API const struct rap_secret *rap_io_secret(const struct rap_io *io);

/* A pointer of the instance's owner (borrowed; NULL by default), for plugins it registers
 * itself that need state shared by all descriptors of the instance (e.g. one connection). */
RAP_API void rap_io_set_user(struct rap_io *io, void *user);
RAP_API void *rap_io_user(const struct rap_io *io);

/* Detail of the last failed open ("" when the error code says it all), e.g. a TLS
 * verification failure. Borrowed, valid until the next open (in any thread sharing io).
 * Plugins set it with rap_io_set_error (detail is copied; NULL clears it). */
RAP_API const char *rap_io_error(const struct rap_io *io);
RAP_API void rap_io_set_error(struct rap_io *io, const char *detail);

/* Options of an open (rap_io_open_ex, rap_io_open_local_ex). */
#define RAP_IO_OPEN_SPECIAL 0x1u /* a local path may also name a FIFO, a device or a socket */

/* Opens uri (a plain path, file://, malloc://N, rap://...). Returns the new fd (>= 3,
 * never reused while open). A local path that names anything but a regular file is
 * refused (RAP_ENOTREG; a directory: -EISDIR), unless opts has RAP_IO_OPEN_SPECIAL: then
 * devices open too (FIFOs and sockets still do not: they have no offsets). rap_io_open is
 * rap_io_open_ex with opts 0. Errors: RAP_EDENIED (policy), RAP_ENOTSUP (no plugin),
 * RAP_ENOTREG, -EMFILE (rap_io_set_max_files), -ENOENT and other -errno, plugin errors. */
RAP_API int rap_io_open(struct rap_io *io, const char *uri, int perm);
RAP_API int rap_io_open_ex(struct rap_io *io, const char *uri, int perm, unsigned opts);

/* Closes fd. Errors: RAP_EBADFD. */
RAP_API int rap_io_close(struct rap_io *io, int fd);

/* Positional IO on fd. read returns bytes read (short at end, 0 past it); write returns
 * bytes written. Errors: RAP_EBADFD, RAP_EDENIED (not opened for writing), plugin errors. */
RAP_API ssize_t rap_io_read_at(struct rap_io *io, int fd, uint64_t off, void *buf, size_t len);
RAP_API ssize_t rap_io_write_at(struct rap_io *io, int fd, uint64_t off, const void *buf, size_t len);

/* Reads [off, off+len) of fd whole: plugins and the cache may answer less than asked before
 * the end of the data, so it asks again until len bytes came, a read answers 0 (the end) or
 * the range would pass 2^64 (nothing lies there). *got receives the bytes read, also on
 * failure; fewer than len with 0 returned means the data ended. Returns 0 or the error of
 * the read that failed (then the bytes read before it are still in buf). */
RAP_API int rap_io_read_full(struct rap_io *io, int fd, uint64_t off, void *buf, size_t len, size_t *got);

/* Size of fd's data. Errors: RAP_EBADFD, RAP_ENOTSUP. */
RAP_API int rap_io_size(struct rap_io *io, int fd, uint64_t *size);

/* Plugin system call (rap: remote command). *out heap, also set with RAP_EREMOTE: the
 * command ran and failed on the other side, and *out says why. Errors: RAP_EBADFD,
 * RAP_ENOTSUP, RAP_EREMOTE, and the plugin's transport errors. */
RAP_API int rap_io_system(struct rap_io *io, int fd, const char *cmd, char **out);

/* Notifies a stream plugin of a position change; returns the new position, or
 * RAP_ENOTSUP when the plugin is positional (the caller keeps the position). */
RAP_API int64_t rap_io_seek(struct rap_io *io, int fd, uint64_t off, int whence);

/* ---- the read cache --------------------------------------------------------------------
 *
 * A layer between the functions above and a descriptor's plugin, for files behind a slow
 * link: reads are answered from aligned blocks of RAP_IO_CACHE_BLOCK bytes held in memory,
 * and each miss asks the plugin once, for the missing block, the rest of the range being
 * read, and the read-ahead. Writes go to the plugin at once (write-through) and then drop
 * the blocks of the written range. The cache is transparent: a read answers the bytes,
 * short counts and errors the plugin would answer, unless the data changed behind the
 * descriptor's back in a way the validity rules below do not cover. A failed read is
 * never cached; when a miss's larger request fails, the caller's own range is asked again
 * alone, so read-ahead never turns a readable range into an error. (One difference: a
 * range whose first bytes are held and whose rest fails answers the bytes held, as pread
 * answers what it read before an error, where the plugin alone might fail it whole.)
 *
 * Which descriptors: the plugin says when it opens (rap_io_desc_set_cache). rap:// and
 * raps:// files are cached; plain files, malloc:// and dbg:// are not (a read there costs no
 * round trip); rap_io_cache_set changes that per descriptor.
 *
 * Validity. A stable descriptor's contents change only through writes made through this
 * instance (a regular file, here or remote): its blocks stay for the session, write-through
 * keeps them coherent, and a short read marks the end of its data until the next write. A
 * volatile one (RAP_IO_CACHE_VOLATILE: contents that change on their own, such as a
 * debugged process, here or behind rap://HOST:PORT/dbg://...) keeps its blocks only until
 * rap_io_cache_invalidate_volatile, which libcore calls before every command and after
 * every debugger command that runs the process, or the next write. Every write drops the
 * written range from every descriptor of the instance (two may be open on one file), every
 * block of volatile ones, and what any of them knew of its end and size.
 * rap_io_system drops the descriptor's blocks after the command, whatever its kind: a
 * command may change the file on the other side. Writes by others to a stable file (another
 * client of the same server) are not seen until rap_io_cache_invalidate.
 *
 * Read-ahead. Each descriptor follows up to four sequential streams. A miss where a
 * stream's last request ended doubles the stream's next request, up to the read-ahead limit
 * (rap_io_cache_set_readahead, and a quarter of the memory bound); the doubling stops for
 * good once a doubled request no longer raised the throughput by 5%: the requests then
 * cover several bandwidth-delay products of the link (on 100 Mbit/s with 20 ms, about
 * 8 MiB), and larger ones would cost memory for nothing. Any other miss asks for its own
 * blocks only, so random access never balloons the requests. Hits inside a stream's last
 * request keep the stream alive.
 *
 * Memory. All descriptors of an instance together hold at most rap_io_cache_max bytes
 * (blocks and their headers); the least recently used blocks go first. A bound below
 * one block holds nothing: reads then go straight to the plugin. Transient buffers for a
 * miss (at most half the bound) come on top while it is served; when they cannot be
 * allocated the read goes straight to the plugin instead of failing.
 *
 * Threads. The cache has a lock of its own, never held across a plugin call, so a slow miss
 * on one descriptor delays no other descriptor's hits. A miss's data arriving after an
 * invalidation that overtook it is handed to its reader but not kept. */

#define RAP_IO_CACHE_BLOCK (64u << 10)                 /* block size and alignment */
#define RAP_IO_CACHE_MAX_DEFAULT ((size_t)64 << 20)    /* rap_io_cache_set_max's default */
#define RAP_IO_CACHE_READAHEAD_DEFAULT ((size_t)8 << 20) /* rap_io_cache_set_readahead's */

/* How a descriptor is cached (rap_io_desc_set_cache, rap_io_cache_set). */
#define RAP_IO_CACHE_ON 0x1u       /* reads go through the cache */
#define RAP_IO_CACHE_VOLATILE 0x2u /* contents change on their own (see Validity) */

/* For plugins, from open: how d is cached (RAP_IO_CACHE_*; 0, the default, not at all).
 * VOLATILE without ON says what the contents are in case a user turns the cache on. */
RAP_API void rap_io_desc_set_cache(struct rap_io_desc *d, unsigned flags);

/* Changes how fd is cached (RAP_IO_CACHE_* flags); any change drops its blocks. Returns
 * the flags it had. rap_io_cache_get: fd's flags. Errors: RAP_EBADFD, RAP_EINVAL (an
 * unknown flag). */
RAP_API int rap_io_cache_set(struct rap_io *io, int fd, unsigned flags);
RAP_API int rap_io_cache_get(const struct rap_io *io, int fd);

/* Drops fd's blocks (and what it knew of its end and size): the next reads ask the plugin.
 * Errors: RAP_EBADFD. */
RAP_API int rap_io_cache_invalidate(struct rap_io *io, int fd);
/* The same for every volatile descriptor of io, or for every descriptor. NULL is fine. */
RAP_API void rap_io_cache_invalidate_volatile(struct rap_io *io);
RAP_API void rap_io_cache_invalidate_all(struct rap_io *io);

/* The memory bound of all descriptors of io together, in bytes (default
 * RAP_IO_CACHE_MAX_DEFAULT; 0 turns the cache off). Lowering it evicts at once. */
RAP_API void rap_io_cache_set_max(struct rap_io *io, size_t bytes);
RAP_API size_t rap_io_cache_max(const struct rap_io *io);

/* The most one sequential stream's request may grow to, in bytes (default
 * RAP_IO_CACHE_READAHEAD_DEFAULT; 0: no read-ahead, each miss asks for its own blocks). */
RAP_API void rap_io_cache_set_readahead(struct rap_io *io, size_t bytes);
RAP_API size_t rap_io_cache_readahead(const struct rap_io *io);

/* What the cache did for one descriptor since it was opened. */
struct rap_io_cache_stats {
	uint64_t hits;          /* reads answered from blocks alone */
	uint64_t misses;        /* reads that asked the plugin */
	uint64_t requests;      /* plugin reads the cache made */
	uint64_t bytes;         /* bytes those reads returned */
	uint64_t evictions;     /* blocks dropped for the memory bound */
	uint64_t invalidations; /* times its blocks were dropped (writes, invalidations) */
	size_t cached;          /* memory its blocks hold now */
	size_t readahead;       /* what the next sequential miss of its latest stream asks */
	size_t used;            /* memory the blocks of all of io's descriptors hold now */
	size_t max;             /* io's bound (rap_io_cache_max) */
};

/* Fills *out for fd. Errors: RAP_EBADFD, RAP_EINVAL (out NULL). */
RAP_API int rap_io_cache_stats(const struct rap_io *io, int fd, struct rap_io_cache_stats *out);

/* Facts about an open fd; NULL/negative for an unknown fd. Strings borrowed, valid while
 * fd is open (and for the next 16 closes after it closes). When other threads share io and
 * may close fd, use rap_io_fd_uri_copy or rap_io_fd_has_uri instead. */
RAP_API const char *rap_io_fd_uri(const struct rap_io *io, int fd);
/* Copies fd's URI into buf (cap bytes, always NUL-terminated when cap > 0), taken under the
 * lock, like snprintf: returns the URI's length, cap or more when it was truncated.
 * Errors: RAP_EBADFD (also for a NULL io), RAP_EINVAL (buf NULL with cap > 0). */
RAP_API ssize_t rap_io_fd_uri_copy(const struct rap_io *io, int fd, char *buf, size_t cap);
/* Whether fd is open with exactly this URI (compared under the lock). */
RAP_API bool rap_io_fd_has_uri(const struct rap_io *io, int fd, const char *uri);
RAP_API int rap_io_fd_perm(const struct rap_io *io, int fd);
RAP_API const struct rap_io_plugin *rap_io_fd_plugin(const struct rap_io *io, int fd);
/* What a STAT answers of fd, but its kind (left as it was: the server says what its files
 * are): the URI it was opened with (cut to RAP_STAT_NAME_MAX), how it is open, and its size
 * (RAP_SIZE_UNKNOWN for a stream, which has none). Errors: RAP_EBADFD, the size's. */
RAP_API int rap_io_fd_stat(struct rap_io *io, int fd, struct rap_stat *st);

/* Open fds in ascending order: writes up to cap into fds, returns how many are open. */
RAP_API size_t rap_io_fds(const struct rap_io *io, int *fds, size_t cap);

/* For plugins: per-file state, the owning IO, and the descriptor's number. */
RAP_API void rap_io_desc_set_data(struct rap_io_desc *d, void *data);
RAP_API void *rap_io_desc_data(const struct rap_io_desc *d);
RAP_API struct rap_io *rap_io_desc_io(const struct rap_io_desc *d);
RAP_API int rap_io_desc_fd(const struct rap_io_desc *d);
/* The options the descriptor is being opened with (RAP_IO_OPEN_*, see rap_io_open_ex). */
RAP_API unsigned rap_io_desc_opts(const struct rap_io_desc *d);

/* The one way local paths are opened (the file plugin, and every local file a command
 * reads or writes): path, under io's confinement (root, follow rules; io NULL: none),
 * with open(2) flags. The open never blocks (O_NONBLOCK, and a FIFO without a reader fails
 * with -ENXIO instead of waiting), never makes a terminal the controlling one (O_NOCTTY),
 * and refuses anything but a regular file, before opening it when it can tell: a directory
 * with -EISDIR, a FIFO, device or socket with RAP_ENOTREG, unless opts has
 * RAP_IO_OPEN_SPECIAL. O_NONBLOCK is then cleared unless flags asked for it. Returns an fd
 * owned by the caller (O_CLOEXEC). rap_io_open_local is rap_io_open_local_ex with opts 0.
 * Errors: RAP_EDENIED (outside the root), RAP_ENOTREG, -EISDIR, -errno. */
RAP_API int rap_io_open_local(struct rap_io *io, const char *path, int flags);
RAP_API int rap_io_open_local_ex(struct rap_io *io, const char *path, int flags, unsigned opts);

#ifdef __cplusplus
}
#endif

#endif
