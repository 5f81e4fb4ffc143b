/* The IO instance: plugin registry, descriptor table and the open policy.
 *
 * An instance may be shared between threads (a core and the background servers that serve
 * its open files). Two kinds of lock: the instance's (recursive, because plugins call back
 * into the instance: rap_io_open_local, rap_io_set_error, rap_io_tls) guards the table,
 * the registry and the policy, and is never held across a plugin's I/O; each descriptor's
 * own guards its plugin state, held around every plugin call on it, so plugins need no
 * locks of their own. So a slow rap:// file delays only its own users, and a thread may
 * open rap://127.0.0.1:PORT served by another thread of this process over this same
 * instance. A descriptor is referenced while an operation uses it, so a close on another
 * thread waits for that operation and frees it only after the last one. Lock order:
 * descriptor, then instance.
 *
 * Everything that decides whether an open may happen, and with which permissions, is in
 * this file, so a server can reason about its exposure by reading one place: plugins only
 * see opens that passed the policy, and the file plugin reaches the disk only through
 * rap_io_open_local. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <pthread.h>
#include <stdlib.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <rap/io.h>

#include "common.h"
#include "io_cache.h"
#include "io_private.h"

struct rap_io_desc {
	struct rap_io *io;
	const struct rap_io_plugin *plugin;
	int fd;
	int perm;
	char *uri;
	void *data;
	/* Held around every plugin call on this descriptor (see the top of the file). */
	pthread_mutex_t op;
	/* Under the instance lock: references (the table's, plus one per operation under way
	 * or waiting), and whether the plugin finished opening it. closed is under op. */
	unsigned refs;
	bool ready;
	bool closed;
	unsigned opts; /* RAP_IO_OPEN_* the open was asked with */
	/* The shared count this descriptor takes part in (a reference), until it is closed. */
	struct io_total *charged;
	/* Its read cache (cache.c; owned, freed at close or with the descriptor). Reached
	 * under op (reads, writes, close) or under the instance lock through the table. */
	struct rap__io_cache_fd *cache;
};

/* A confinement root. Servers give thousands of sessions the same root: they share one
 * handle (rap_io_share_root) instead of holding a descriptor each. */
struct io_root {
	int fd;           /* O_PATH handle on the directory */
	char *real;       /* realpath of the root */
	char *given;      /* the absolute path as configured, when it differs; else NULL */
	atomic_uint refs; /* instances using it, possibly in different threads */
};

/* A count of open descriptors shared between instances (rap_io_set_max_files_total):
 * instances and charged descriptors hold references. */
struct io_total {
	atomic_size_t used;
	size_t max;
	atomic_uint refs;
};

static void total_release(struct io_total *t)
{
	if (t && atomic_fetch_sub(&t->refs, 1) == 1)
		rap__free(t);
}

/* Takes one from t unless it is full. */
static bool total_take(struct io_total *t)
{
	size_t cur = atomic_load(&t->used);
	do {
		if (cur >= t->max)
			return false;
	} while (!atomic_compare_exchange_weak(&t->used, &cur, cur + 1));
	return true;
}

/* Gives back what d took from its count (once; nothing when it took nothing). */
static void desc_uncharge(struct rap_io_desc *d)
{
	struct io_total *t = d->charged;
	if (!t)
		return;
	d->charged = NULL;
	atomic_fetch_sub(&t->used, 1);
	total_release(t);
}

static void root_release(struct io_root *r)
{
	if (!r || atomic_fetch_sub(&r->refs, 1) != 1)
		return;
	close(r->fd);
	rap__free(r->real);
	rap__free(r->given);
	rap__free(r);
}

struct rap_io {
	/* Mutable even through const pointers: the read-only accessors lock too. */
	pthread_mutex_t lock;

	const struct rap_io_plugin **plugins;
	size_t nplugins;
	size_t plugins_cap;

	/* Sorted by fd, so listing is ascending and the lowest free number is the first gap. */
	struct rap_io_desc **descs;
	size_t ndescs;
	size_t descs_cap;

	/* Confinement: an O_PATH handle on the root, so renaming or replacing the directory
	 * after rap_io_set_root cannot redirect opens, plus the spellings of its path that
	 * absolute paths are matched against. */
	struct io_root *root; /* NULL: no confinement; shared between instances (refcounted) */

	bool allow_write;
	bool sync;     /* plugins make writes durable before returning (rap_io_set_sync) */
	char *allowed; /* comma-separated plugin names; NULL allows every plugin */
	size_t max_files;      /* descriptors in the table at once; 0: no limit */
	struct io_total *total; /* shared count (a reference); NULL: none */
	/* dbg://: debugged processes (rap_io_set_max_processes) and their output. */
	size_t max_procs;      /* 0: no limit */
	size_t nprocs;
	int dbg_out_fd;        /* borrowed; -1: /dev/null */

	/* URIs of recently closed descriptors. rap_io_fd_uri hands out a borrowed pointer;
	 * in an instance shared between threads another thread may close that fd while the
	 * caller still prints the string, so the text outlives the descriptor for the next
	 * 16 closes instead of being freed at once. */
	char *retired[16];
	size_t retired_next;

	struct rap_tls_config *tls; /* borrowed; for raps:// (NULL: a verifying default) */
	const struct rap_secret *secret; /* borrowed; rap:// authentication (NULL: none) */
	void *user;                 /* borrowed; the owner's, for the plugins it registers */
	char error[256];            /* detail of the last failed open */
	struct rap__io_cache *cache; /* owned: the read cache of every descriptor (cache.c) */
};

/* First fd handed out: 0..2 look like stdio to radare2 users, and r2's RIO starts at 3. */
#define FIRST_FD 3

static bool use_openat2 = true;

static void io_lock(const struct rap_io *io)
{
	pthread_mutex_lock((pthread_mutex_t *)&io->lock);
}

static void io_unlock(const struct rap_io *io)
{
	pthread_mutex_unlock((pthread_mutex_t *)&io->lock);
}

void rap__io_set_openat2(bool on)
{
	use_openat2 = on;
}

/* ---- plugins ------------------------------------------------------------------------ */

static const struct rap_io_plugin *find_plugin_by_name(const struct rap_io *io, const char *name)
{
	for (size_t i = 0; i < io->nplugins; i++) {
		if (strcmp(io->plugins[i]->name, name) == 0)
			return io->plugins[i];
	}
	return NULL;
}

static int locked_register(struct rap_io *io, const struct rap_io_plugin *p)
{
	if (!io || !p || p->abi != RAP_IO_PLUGIN_ABI || !p->name || !p->name[0] ||
	    !p->accepts || !p->open || !p->close || !p->read)
		return RAP_EINVAL;
	/* Names are what allow-lists and -L filters refer to, so they must be unambiguous. */
	if (find_plugin_by_name(io, p->name))
		return RAP_EINVAL;
	if (io->nplugins == io->plugins_cap) {
		size_t cap = io->plugins_cap ? io->plugins_cap * 2 : 4;
		const struct rap_io_plugin **v = rap__realloc(io->plugins, cap * sizeof(*v));
		if (!v)
			return RAP_ENOMEM;
		io->plugins = v;
		io->plugins_cap = cap;
	}
	io->plugins[io->nplugins++] = p;
	return 0;
}

int rap_io_register(struct rap_io *io, const struct rap_io_plugin *p)
{
	if (!io)
		return locked_register(io, p);
	io_lock(io);
	int r = locked_register(io, p);
	io_unlock(io);
	return r;
}

const struct rap_io_plugin *rap_io_plugin_at(const struct rap_io *io, size_t i)
{
	if (!io)
		return NULL;
	io_lock(io);
	const struct rap_io_plugin *p = i < io->nplugins ? io->plugins[i] : NULL;
	io_unlock(io);
	return p;
}

static const struct rap_io_plugin *locked_plugin_for(const struct rap_io *io, const char *uri)
{
	for (size_t i = 0; i < io->nplugins; i++) {
		if (io->plugins[i]->accepts(uri))
			return io->plugins[i];
	}
	return NULL;
}

const struct rap_io_plugin *rap_io_plugin_for(const struct rap_io *io, const char *uri)
{
	if (!io || !uri)
		return NULL;
	io_lock(io);
	const struct rap_io_plugin *p = locked_plugin_for(io, uri);
	io_unlock(io);
	return p;
}

/* ---- instance ----------------------------------------------------------------------- */

/* An instance with the nbuiltin plugins of builtin registered (borrowed, static). */
static int io_new(struct rap_io **out, const struct rap_io_plugin *const *builtin, size_t nbuiltin)
{
	if (!out)
		return RAP_EINVAL;
	*out = NULL;
	struct rap_io *io = rap__calloc(1, sizeof(*io));
	if (!io)
		return RAP_ENOMEM;
	pthread_mutexattr_t attr;
	int rc = pthread_mutexattr_init(&attr);
	if (rc == 0) {
		rc = pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_RECURSIVE);
		if (rc == 0)
			rc = pthread_mutex_init(&io->lock, &attr);
		pthread_mutexattr_destroy(&attr);
	}
	if (rc != 0) {
		rap__free(io);
		return -rc;
	}
	io->allow_write = true;
	io->dbg_out_fd = 2;
	rc = rap__io_cache_new(&io->cache);
	if (rc < 0) {
		pthread_mutex_destroy(&io->lock);
		rap__free(io);
		return rc;
	}
	for (size_t i = 0; i < nbuiltin; i++) {
		rc = rap_io_register(io, builtin[i]);
		if (rc < 0) {
			rap_io_free(io);
			return rc;
		}
	}
	*out = io;
	return 0;
}

int rap_io_new(struct rap_io **out)
{
	const struct rap_io_plugin *const builtin[] = {
		&rap__io_plugin_file,
		&rap__io_plugin_malloc,
		rap__io_plugin_rap(),
		&rap__io_plugin_dbg,
	};
	return io_new(out, builtin, sizeof(builtin) / sizeof(builtin[0]));
}

int rap_io_new_local(struct rap_io **out)
{
	const struct rap_io_plugin *const builtin[] = {
		&rap__io_plugin_file,
		&rap__io_plugin_malloc,
		&rap__io_plugin_dbg,
	};
	return io_new(out, builtin, sizeof(builtin) / sizeof(builtin[0]));
}

int rap_io_new_bare(struct rap_io **out)
{
	return io_new(out, NULL, 0);
}

static void desc_free(struct rap_io_desc *d)
{
	desc_uncharge(d);
	rap__io_cache_fd_free(d->cache);
	pthread_mutex_destroy(&d->op);
	rap__free(d->uri);
	rap__free(d);
}

void rap_io_free(struct rap_io *io)
{
	if (!io)
		return;
	/* Highest first, so each removal is the cheap end of the array. */
	while (io->ndescs > 0) {
		size_t before = io->ndescs;
		(void)rap_io_close(io, io->descs[io->ndescs - 1]->fd);
		/* Only an open still under way on another thread (a caller's bug) stays. */
		if (io->ndescs == before)
			break;
	}
	rap__free(io->descs);
	rap__free(io->plugins);
	root_release(io->root);
	total_release(io->total);
	rap__free(io->allowed);
	for (size_t i = 0; i < sizeof(io->retired) / sizeof(io->retired[0]); i++)
		rap__free(io->retired[i]);
	rap__io_cache_free(io->cache);
	pthread_mutex_destroy(&io->lock);
	rap__free(io);
}

/* ---- policy ------------------------------------------------------------------------- */

bool rap_io_allow_write(const struct rap_io *io)
{
	if (!io)
		return false;
	io_lock(io);
	bool allow = io->allow_write;
	io_unlock(io);
	return allow;
}

void rap_io_set_allow_write(struct rap_io *io, bool allow)
{
	if (!io)
		return;
	io_lock(io);
	io->allow_write = allow;
	io_unlock(io);
}

bool rap_io_sync(const struct rap_io *io)
{
	if (!io)
		return false;
	io_lock(io);
	bool on = io->sync;
	io_unlock(io);
	return on;
}

void rap_io_set_sync(struct rap_io *io, bool on)
{
	if (!io)
		return;
	io_lock(io);
	io->sync = on;
	io_unlock(io);
}

static int locked_set_allowed_plugins(struct rap_io *io, const char *names)
{
	if (!io)
		return RAP_EINVAL;
	char *copy = NULL;
	if (names) {
		copy = rap__strdup(names);
		if (!copy)
			return RAP_ENOMEM;
	}
	rap__free(io->allowed);
	io->allowed = copy;
	return 0;
}

int rap_io_set_allowed_plugins(struct rap_io *io, const char *names)
{
	if (!io)
		return locked_set_allowed_plugins(io, names);
	io_lock(io);
	int r = locked_set_allowed_plugins(io, names);
	io_unlock(io);
	return r;
}

void rap_io_set_max_files(struct rap_io *io, size_t n)
{
	if (!io)
		return;
	io_lock(io);
	io->max_files = n;
	io_unlock(io);
}

int rap_io_set_max_files_total(struct rap_io *io, size_t n)
{
	if (!io)
		return RAP_EINVAL;
	struct io_total *t = NULL;
	if (n) {
		t = rap__calloc(1, sizeof(*t));
		if (!t)
			return RAP_ENOMEM;
		atomic_init(&t->used, 0);
		atomic_init(&t->refs, 1);
		t->max = n;
	}
	io_lock(io);
	total_release(io->total);
	io->total = t;
	io_unlock(io);
	return 0;
}

int rap_io_share_max_files_total(struct rap_io *io, const struct rap_io *from)
{
	if (!io || !from || io == from)
		return RAP_EINVAL;
	/* from's lock keeps its count alive while the reference is taken. */
	io_lock(from);
	struct io_total *t = from->total;
	if (t)
		atomic_fetch_add(&t->refs, 1);
	io_unlock(from);
	io_lock(io);
	total_release(io->total);
	io->total = t;
	io_unlock(io);
	return 0;
}

static bool is_space(char c)
{
	return c == ' ' || c == '\t';
}

/* Names in the list are trimmed of blanks so "file, malloc" from a config file works. */
bool rap_io_plugin_listed(const char *names, const char *name)
{
	size_t nlen = strlen(name);
	const char *p = names;
	while (*p) {
		size_t len = strcspn(p, ",");
		const char *b = p, *e = p + len;
		while (b < e && is_space(*b))
			b++;
		while (e > b && is_space(e[-1]))
			e--;
		if (nlen && (size_t)(e - b) == nlen && memcmp(b, name, nlen) == 0)
			return true;
		p += len;
		if (*p == ',')
			p++;
	}
	return false;
}

/* Lexically strips root from the absolute path abs, treating runs of '/' as one and
 * skipping "." components of abs. Returns the part below root ("." for root itself), or
 * NULL when abs is not beneath root. Only the meaning of the path depends on this: the
 * remainder is still resolved beneath the root handle, so ".." left in it cannot escape. */
static const char *strip_root(const char *abs, const char *root)
{
	const char *a = abs, *r = root;
	for (;;) {
		while (*r == '/')
			r++;
		for (;;) {
			while (*a == '/')
				a++;
			if (a[0] == '.' && (a[1] == '/' || a[1] == '\0')) {
				a++;
				continue;
			}
			break;
		}
		if (*r == '\0')
			return *a ? a : ".";
		size_t rl = strcspn(r, "/"), al = strcspn(a, "/");
		if (rl != al || memcmp(r, a, rl) != 0)
			return NULL;
		r += rl;
		a += al;
	}
}

static int locked_set_root(struct rap_io *io, const char *dir)
{
	if (!io)
		return RAP_EINVAL;
	if (!dir) {
		root_release(io->root);
		io->root = NULL;
		return 0;
	}
	int fd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	char buf[PATH_MAX];
	struct stat st_fd, st_path;
	if (!realpath(dir, buf) || fstat(fd, &st_fd) < 0 || stat(buf, &st_path) < 0) {
		int err = -errno;
		close(fd);
		return err;
	}
	/* The directory was swapped between open and realpath: the handle and the prefix
	 * absolute paths are matched against would disagree. */
	if (st_fd.st_dev != st_path.st_dev || st_fd.st_ino != st_path.st_ino) {
		close(fd);
		return -ESTALE;
	}
	/* A user who configured "/srv/link" writes absolute paths as "/srv/link/x", not as
	 * the symlink's target: keep that spelling too when it differs. */
	const char *same = dir[0] == '/' ? strip_root(dir, buf) : NULL;
	bool keep_given = dir[0] == '/' && !(same && strcmp(same, ".") == 0);
	struct io_root *r = rap__calloc(1, sizeof(*r));
	char *real = r ? rap__strdup(buf) : NULL;
	char *given = keep_given && real ? rap__strdup(dir) : NULL;
	if (!real || (keep_given && !given)) {
		rap__free(real);
		rap__free(r);
		close(fd);
		return RAP_ENOMEM;
	}
	r->fd = fd;
	r->real = real;
	r->given = given;
	atomic_init(&r->refs, 1);
	root_release(io->root);
	io->root = r;
	return 0;
}

int rap_io_share_root(struct rap_io *io, const struct rap_io *from)
{
	if (!io || !from || io == from)
		return RAP_EINVAL;
	/* from's lock keeps its root alive while the reference is taken. */
	io_lock((struct rap_io *)from);
	struct io_root *r = from->root;
	if (r)
		atomic_fetch_add(&r->refs, 1);
	io_unlock((struct rap_io *)from);
	io_lock(io);
	root_release(io->root);
	io->root = r;
	io_unlock(io);
	return 0;
}

int rap_io_set_root(struct rap_io *io, const char *dir)
{
	if (!io)
		return locked_set_root(io, dir);
	io_lock(io);
	int r = locked_set_root(io, dir);
	io_unlock(io);
	return r;
}

/* ---- confined opens ----------------------------------------------------------------- */

static mode_t create_mode(int flags)
{
	/* umask still applies; only creating opens may pass a mode to openat2. */
	return ((flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE) ? 0666 : 0;
}

/* The fallback for kernels without openat2 (before 5.6): one component at a time with
 * O_NOFOLLOW, refusing ".." and every symlink. Stricter than openat2 (a symlink that stays
 * inside the root is refused too), but it needs no path-resolution guarantees from the
 * kernel beyond O_NOFOLLOW. */
static int open_beneath_walk(int rootfd, const char *rel, int flags)
{
	int cur = rootfd;
	const char *p = rel;
	int rc;
	char name[NAME_MAX + 1];

	if (!*rel)
		return -ENOENT;
	for (;;) {
		while (*p == '/')
			p++;
		size_t len = strcspn(p, "/");
		const char *next = p + len;
		while (*next == '/')
			next++;
		bool last = *next == '\0';
		if (len == 0) {
			/* Only "." components and slashes: the directory reached so far. */
			memcpy(name, ".", 2);
		} else if (len > NAME_MAX) {
			rc = -ENAMETOOLONG;
			goto out;
		} else {
			memcpy(name, p, len);
			name[len] = '\0';
		}
		if (strcmp(name, "..") == 0) {
			rc = RAP_EDENIED;
			goto out;
		}
		if (strcmp(name, ".") == 0 && !last) {
			p = next;
			continue;
		}
		if (last) {
			rc = openat(cur, name, flags | O_NOFOLLOW | O_CLOEXEC, create_mode(flags));
			if (rc < 0)
				rc = errno == ELOOP ? RAP_EDENIED : -errno;
			goto out;
		}
		int nfd = openat(cur, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
		if (nfd < 0) {
			rc = -errno;
			goto out;
		}
		struct stat st;
		if (fstat(nfd, &st) < 0)
			rc = -errno;
		else if (S_ISLNK(st.st_mode))
			rc = RAP_EDENIED;
		else if (!S_ISDIR(st.st_mode))
			rc = -ENOTDIR;
		else
			rc = 0;
		if (rc < 0) {
			close(nfd);
			goto out;
		}
		if (cur != rootfd)
			close(cur);
		cur = nfd;
		p = next;
	}
out:
	if (cur != rootfd)
		close(cur);
	return rc;
}

static int open_beneath(int rootfd, const char *rel, int flags)
{
	if (use_openat2) {
		struct open_how how = {
			.flags = (uint64_t)(unsigned)(flags | O_CLOEXEC),
			.mode = create_mode(flags),
			/* Magic links (/proc/self/fd/N, /proc/PID/root) jump anywhere, whatever
			 * the lexical path says. */
			.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS,
		};
		long fd;
		do
			fd = syscall(SYS_openat2, rootfd, rel, &how, sizeof(how));
		while (fd < 0 && errno == EINTR);
		if (fd >= 0)
			return (int)fd;
		if (errno == EXDEV || errno == ELOOP)
			return RAP_EDENIED;
		/* Only a kernel without openat2 falls back; any other failure is the answer. */
		if (errno != ENOSYS)
			return -errno;
	}
	return open_beneath_walk(rootfd, rel, flags);
}

/* Opens path with flags under io's root (io NULL, or an instance without a root: as
 * given), nothing added but O_CLOEXEC. */
static int open_raw(const struct rap_io *io, const char *path, int flags)
{
	if (!io || !io->root) {
		int fd;
		do
			fd = open(path, flags | O_CLOEXEC, create_mode(flags));
		while (fd < 0 && errno == EINTR);
		return fd < 0 ? -errno : fd;
	}
	const char *rel = path;
	if (path[0] == '/') {
		rel = strip_root(path, io->root->real);
		if (!rel && io->root->given)
			rel = strip_root(path, io->root->given);
		if (!rel)
			return RAP_EDENIED;
	}
	if (!*rel)
		return -ENOENT;
	return open_beneath(io->root->fd, rel, flags);
}

/* Why a file of this type is refused (0: it is not). A symbolic link is left to the real
 * open, which follows it or refuses it by the confinement's rules. */
static int type_refusal(mode_t mode, unsigned opts)
{
	if (S_ISREG(mode) || S_ISLNK(mode))
		return 0;
	if (S_ISDIR(mode))
		return -EISDIR;
	return (opts & RAP_IO_OPEN_SPECIAL) ? 0 : RAP_ENOTREG;
}

static int locked_open_local(struct rap_io *io, const char *path, int flags, unsigned opts)
{
	if (!path)
		return RAP_EINVAL;
	/* First a look without opening: opening a device or a FIFO is an act of its own (a
	 * tape rewinds, a FIFO's reader wakes up), so a refused one is never opened. */
	int fd = open_raw(io, path, O_PATH | (flags & O_NOFOLLOW));
	if (fd >= 0) {
		struct stat st;
		int rc = fstat(fd, &st) < 0 ? -errno : type_refusal(st.st_mode, opts);
		close(fd);
		if (rc < 0)
			return rc;
	} else if (fd != -ENOENT || !(flags & O_CREAT)) {
		return fd;
	}
	/* Then the open, which cannot block: the path may have changed in between (and
	 * without RAP_IO_OPEN_SPECIAL nothing but a regular file may stay open). */
	fd = open_raw(io, path, flags | O_NONBLOCK | O_NOCTTY);
	if (fd < 0)
		return fd;
	struct stat st;
	int rc = fstat(fd, &st) < 0 ? -errno : type_refusal(st.st_mode, opts);
	if (rc == 0 && !(flags & O_NONBLOCK)) {
		/* Reads and writes then wait for their data like those of any file. */
		int fl = fcntl(fd, F_GETFL);
		if (fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) < 0)
			rc = -errno;
	}
	if (rc < 0) {
		close(fd);
		return rc;
	}
	return fd;
}

int rap_io_open_local_ex(struct rap_io *io, const char *path, int flags, unsigned opts)
{
	if (!io)
		return locked_open_local(io, path, flags, opts);
	io_lock(io);
	int r = locked_open_local(io, path, flags, opts);
	io_unlock(io);
	return r;
}

int rap_io_open_local(struct rap_io *io, const char *path, int flags)
{
	if (!io)
		return RAP_EINVAL;
	return rap_io_open_local_ex(io, path, flags, 0);
}

/* ---- descriptors -------------------------------------------------------------------- */

/* Index of fd in the sorted table, or the index where it would go. */
static size_t desc_index(const struct rap_io *io, int fd, bool *found)
{
	size_t lo = 0, hi = io->ndescs;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (io->descs[mid]->fd < fd)
			lo = mid + 1;
		else
			hi = mid;
	}
	*found = lo < io->ndescs && io->descs[lo]->fd == fd;
	return lo;
}

/* The open descriptor numbered fd; one whose plugin is still opening it does not count. */
static struct rap_io_desc *desc_get(const struct rap_io *io, int fd)
{
	bool found;
	if (!io)
		return NULL;
	size_t i = desc_index(io, fd, &found);
	return found && io->descs[i]->ready ? io->descs[i] : NULL;
}

static void desc_unref(struct rap_io *io, struct rap_io_desc *d)
{
	io_lock(io);
	bool last = --d->refs == 0;
	io_unlock(io);
	if (last)
		desc_free(d);
}

/* Looks fd up and takes a reference under the table lock, then the descriptor's operation
 * lock without it. Returns NULL with *err set when fd is not open, closes while this waits
 * for the operation lock (RAP_EBADFD), or, with want_write, may not be written
 * (RAP_EDENIED). rap_io_desc_release undoes it. */
static struct rap_io_desc *desc_acquire(struct rap_io *io, int fd, bool want_write, int *err)
{
	io_lock(io);
	struct rap_io_desc *d = desc_get(io, fd);
	*err = RAP_EBADFD;
	/* allow_write is checked again so that turning writes off also covers descriptors
	 * that were opened while they were on. */
	if (d && want_write && (!(d->perm & RAP_PERM_W) || !io->allow_write || !d->plugin->write)) {
		*err = RAP_EDENIED;
		d = NULL;
	}
	if (d)
		d->refs++;
	io_unlock(io);
	if (!d)
		return NULL;
	pthread_mutex_lock(&d->op);
	if (d->closed) {
		pthread_mutex_unlock(&d->op);
		desc_unref(io, d);
		return NULL;
	}
	return d;
}

static void desc_release(struct rap_io *io, struct rap_io_desc *d)
{
	pthread_mutex_unlock(&d->op);
	desc_unref(io, d);
}

/* The policy part of an open, under the table lock: the plugin for uri and the permissions
 * it gets, then a reserved entry (not yet ready) holding the lowest free number, so the
 * plugin can open without the lock and the number is known while it does. */
static int open_reserve(struct rap_io *io, const char *uri, int perm, unsigned opts, struct rap_io_desc **out)
{
	io->error[0] = '\0';

	const struct rap_io_plugin *p = locked_plugin_for(io, uri);
	if (!p)
		return RAP_ENOTSUP;
	if (io->allowed && !rap_io_plugin_listed(io->allowed, p->name))
		return RAP_EDENIED;

	/* Only R, W and X mean something; read access is implied, as on stock servers, so a
	 * perm of 0 (what radare2's "=+" sends) still gives a readable descriptor. A write
	 * request that policy or the plugin cannot honour degrades to read-only rather than
	 * failing, and the write itself is refused later. */
	perm = (perm & RAP_PERM_RWX) | RAP_PERM_R;
	if (!io->allow_write || !p->write)
		perm &= ~RAP_PERM_W;

	/* The lowest number not in use (or reserved): the first gap in the sorted table. */
	size_t at = 0;
	int fd = FIRST_FD;
	while (at < io->ndescs && io->descs[at]->fd == fd) {
		if (fd == INT_MAX)
			return RAP_ENOMEM;
		at++;
		fd++;
	}

	/* The limits count reserved entries too: opens under way hold descriptors soon. */
	if (io->max_files && io->ndescs >= io->max_files) {
		snprintf(io->error, sizeof(io->error), "at most %zu files may be open at once", io->max_files);
		return -EMFILE;
	}

	/* Everything that can fail for lack of memory happens before the plugin opens, so a
	 * successful plugin open never has to be undone. */
	if (io->ndescs == io->descs_cap) {
		size_t cap = io->descs_cap ? io->descs_cap * 2 : 8;
		struct rap_io_desc **v = rap__realloc(io->descs, cap * sizeof(*v));
		if (!v)
			return RAP_ENOMEM;
		io->descs = v;
		io->descs_cap = cap;
	}
	struct rap_io_desc *d = rap__calloc(1, sizeof(*d));
	if (!d)
		return RAP_ENOMEM;
	d->uri = rap__strdup(uri);
	if (!d->uri || rap__io_cache_fd_new(io->cache, &d->cache) < 0) {
		rap__free(d->uri);
		rap__free(d);
		return RAP_ENOMEM;
	}
	if (pthread_mutex_init(&d->op, NULL) != 0) {
		rap__io_cache_fd_free(d->cache);
		rap__free(d->uri);
		rap__free(d);
		return RAP_ENOMEM;
	}
	/* Last, so that nothing after it can fail: the shared count. */
	if (io->total && !total_take(io->total)) {
		snprintf(io->error, sizeof(io->error),
			 "all %zu files that may be open at once are open; the other descriptors are kept for new "
			 "connections",
			 io->total->max);
		pthread_mutex_destroy(&d->op);
		rap__io_cache_fd_free(d->cache);
		rap__free(d->uri);
		rap__free(d);
		return -EMFILE;
	}
	if (io->total) {
		atomic_fetch_add(&io->total->refs, 1);
		d->charged = io->total;
	}
	d->io = io;
	d->plugin = p;
	d->fd = fd;
	d->perm = perm;
	d->opts = opts;
	d->refs = 1;
	memmove(io->descs + at + 1, io->descs + at, (io->ndescs - at) * sizeof(*io->descs));
	io->descs[at] = d;
	io->ndescs++;
	*out = d;
	return 0;
}

/* Takes d out of the table (the caller holds the table lock). */
static void desc_unlink(struct rap_io *io, struct rap_io_desc *d)
{
	bool found;
	size_t i = desc_index(io, d->fd, &found);
	if (!found || io->descs[i] != d)
		return;
	memmove(io->descs + i, io->descs + i + 1, (io->ndescs - i - 1) * sizeof(*io->descs));
	io->ndescs--;
}

int rap_io_open(struct rap_io *io, const char *uri, int perm)
{
	return rap_io_open_ex(io, uri, perm, 0);
}

int rap_io_open_ex(struct rap_io *io, const char *uri, int perm, unsigned opts)
{
	if (!io || !uri)
		return RAP_EINVAL;
	struct rap_io_desc *d = NULL;
	io_lock(io);
	int rc = open_reserve(io, uri, perm, opts, &d);
	io_unlock(io);
	if (rc < 0)
		return rc;
	/* Without the table lock: a rap:// open waits on a server, which may be one this
	 * process runs on another thread over this same instance. */
	rc = d->plugin->open(d, d->uri, d->perm);
	io_lock(io);
	if (rc < 0)
		desc_unlink(io, d);
	else
		d->ready = true;
	io_unlock(io);
	if (rc < 0) {
		desc_uncharge(d);
		desc_unref(io, d);
		return rc;
	}
	return d->fd;
}

int rap_io_close(struct rap_io *io, int fd)
{
	if (!io)
		return RAP_EBADFD;
	io_lock(io);
	struct rap_io_desc *d = desc_get(io, fd);
	if (!d) {
		io_unlock(io);
		return RAP_EBADFD;
	}
	/* Out of the table first: whatever the plugin reports, the number is gone. The URI
	 * outlives it a while (see retired). */
	desc_unlink(io, d);
	size_t slot = io->retired_next++ % (sizeof(io->retired) / sizeof(io->retired[0]));
	rap__free(io->retired[slot]);
	io->retired[slot] = d->uri;
	d->uri = NULL;
	io_unlock(io);
	/* An operation already under way on another thread finishes first; any still waiting
	 * finds the descriptor closed. The table's reference goes with it. */
	pthread_mutex_lock(&d->op);
	int rc = d->plugin->close(d);
	d->closed = true;
	desc_uncharge(d); /* its OS descriptor, if it had one, is gone */
	/* Its blocks go now; nothing reaches the cache state of a closed descriptor (see
	 * struct rap_io_desc), and the table no longer lists it. */
	struct rap__io_cache_fd *cache = d->cache;
	d->cache = NULL;
	rap__io_cache_fd_free(cache);
	pthread_mutex_unlock(&d->op);
	desc_unref(io, d);
	return rc < 0 ? rc : 0;
}

/* The plugin's calls as the cache makes them (d's operation lock is held). */
static ssize_t plugin_read(void *user, uint64_t off, void *buf, size_t len)
{
	struct rap_io_desc *d = user;
	return d->plugin->read(d, off, buf, len);
}

static int plugin_size(void *user, uint64_t *size)
{
	struct rap_io_desc *d = user;
	return d->plugin->size(d, size);
}

ssize_t rap_io_read_at(struct rap_io *io, int fd, uint64_t off, void *buf, size_t len)
{
	if (!buf && len)
		return RAP_EINVAL;
	int err;
	struct rap_io_desc *d = io ? desc_acquire(io, fd, false, &err) : NULL;
	if (!d)
		return io ? err : RAP_EBADFD;
	if (len > SSIZE_MAX)
		len = SSIZE_MAX;
	ssize_t r = len ? rap__io_cache_read(d->cache, plugin_read, d, off, buf, len) : 0;
	desc_release(io, d);
	return r;
}

int rap_io_read_full(struct rap_io *io, int fd, uint64_t off, void *buf, size_t len, size_t *got)
{
	*got = 0;
	while (*got < len && off + *got >= off) {
		ssize_t n = rap_io_read_at(io, fd, off + *got, (uint8_t *)buf + *got, len - *got);
		if (n <= 0)
			return (int)n;
		*got += (size_t)n;
	}
	return 0;
}

ssize_t rap_io_write_at(struct rap_io *io, int fd, uint64_t off, const void *buf, size_t len)
{
	int err;
	struct rap_io_desc *d = io ? desc_acquire(io, fd, true, &err) : NULL;
	if (!d)
		return io ? err : RAP_EBADFD;
	ssize_t r;
	if (!buf && len) {
		r = RAP_EINVAL;
	} else if (len) {
		len = len > SSIZE_MAX ? SSIZE_MAX : len;
		r = d->plugin->write(d, off, buf, len);
		/* Write-through: whatever the plugin reports, the range may have changed. */
		rap__io_cache_wrote(d->cache, off, len);
	} else {
		r = 0;
	}
	desc_release(io, d);
	return r;
}

int rap_io_size(struct rap_io *io, int fd, uint64_t *size)
{
	int err;
	struct rap_io_desc *d = io ? desc_acquire(io, fd, false, &err) : NULL;
	if (!d)
		return io ? err : RAP_EBADFD;
	int r = !size ? RAP_EINVAL : !d->plugin->size ? RAP_ENOTSUP : rap__io_cache_size(d->cache, plugin_size, d, size);
	desc_release(io, d);
	return r;
}

int rap_io_system(struct rap_io *io, int fd, const char *cmd, char **out)
{
	if (out)
		*out = NULL;
	int err;
	struct rap_io_desc *d = io ? desc_acquire(io, fd, false, &err) : NULL;
	if (!d)
		return io ? err : RAP_EBADFD;
	int r = !cmd || !out ? RAP_EINVAL : !d->plugin->system ? RAP_ENOTSUP : d->plugin->system(d, cmd, out);
	/* A command on the other side may have changed the file (":wx", ":dc"). */
	if (r != RAP_EINVAL && r != RAP_ENOTSUP)
		rap__io_cache_invalidate(d->cache);
	desc_release(io, d);
	return r;
}

int64_t rap_io_seek(struct rap_io *io, int fd, uint64_t off, int whence)
{
	int err;
	struct rap_io_desc *d = io ? desc_acquire(io, fd, false, &err) : NULL;
	if (!d)
		return io ? err : RAP_EBADFD;
	int64_t r = d->plugin->seek ? d->plugin->seek(d, off, whence) : RAP_ENOTSUP;
	desc_release(io, d);
	return r;
}

static const char *locked_fd_uri(const struct rap_io *io, int fd)
{
	const struct rap_io_desc *d = desc_get(io, fd);
	return d ? d->uri : NULL;
}

const char *rap_io_fd_uri(const struct rap_io *io, int fd)
{
	if (!io)
		return locked_fd_uri(io, fd);
	io_lock(io);
	const char *r = locked_fd_uri(io, fd);
	io_unlock(io);
	return r;
}

ssize_t rap_io_fd_uri_copy(const struct rap_io *io, int fd, char *buf, size_t cap)
{
	if (!io || (!buf && cap))
		return io ? RAP_EINVAL : RAP_EBADFD;
	io_lock(io);
	const char *uri = locked_fd_uri(io, fd);
	size_t len = uri ? strlen(uri) : 0;
	if (uri && cap) {
		size_t n = len < cap ? len : cap - 1;
		memcpy(buf, uri, n);
		buf[n] = '\0';
	}
	io_unlock(io);
	if (!uri)
		return RAP_EBADFD;
	return len > SSIZE_MAX ? SSIZE_MAX : (ssize_t)len;
}

bool rap_io_fd_has_uri(const struct rap_io *io, int fd, const char *uri)
{
	if (!io || !uri)
		return false;
	io_lock(io);
	const char *have = locked_fd_uri(io, fd);
	bool same = have && strcmp(have, uri) == 0;
	io_unlock(io);
	return same;
}

static int locked_fd_perm(const struct rap_io *io, int fd)
{
	const struct rap_io_desc *d = desc_get(io, fd);
	if (!d)
		return RAP_EBADFD;
	/* Report what a write would actually get. */
	return io->allow_write ? d->perm : d->perm & ~RAP_PERM_W;
}

int rap_io_fd_perm(const struct rap_io *io, int fd)
{
	if (!io)
		return locked_fd_perm(io, fd);
	io_lock(io);
	int r = locked_fd_perm(io, fd);
	io_unlock(io);
	return r;
}

int rap_io_fd_stat(struct rap_io *io, int fd, struct rap_stat *st)
{
	int perm = rap_io_fd_perm(io, fd);
	if (perm < 0 || rap_io_fd_uri_copy(io, fd, st->name, sizeof(st->name)) < 0)
		return RAP_EBADFD; /* closed meanwhile, by another thread sharing io */
	st->perm = (uint8_t)perm;
	int rc = rap_io_size(io, fd, &st->size);
	if (rc == RAP_ENOTSUP)
		st->size = RAP_SIZE_UNKNOWN;
	return rc == RAP_ENOTSUP ? 0 : rc;
}

static const struct rap_io_plugin *locked_fd_plugin(const struct rap_io *io, int fd)
{
	const struct rap_io_desc *d = desc_get(io, fd);
	return d ? d->plugin : NULL;
}

const struct rap_io_plugin *rap_io_fd_plugin(const struct rap_io *io, int fd)
{
	if (!io)
		return locked_fd_plugin(io, fd);
	io_lock(io);
	const struct rap_io_plugin *r = locked_fd_plugin(io, fd);
	io_unlock(io);
	return r;
}

static size_t locked_fds(const struct rap_io *io, int *fds, size_t cap)
{
	if (!io)
		return 0;
	size_t n = 0;
	for (size_t i = 0; i < io->ndescs; i++) {
		if (!io->descs[i]->ready)
			continue;
		if (n < cap)
			fds[n] = io->descs[i]->fd;
		n++;
	}
	return n;
}

size_t rap_io_fds(const struct rap_io *io, int *fds, size_t cap)
{
	if (!io)
		return locked_fds(io, fds, cap);
	io_lock(io);
	size_t r = locked_fds(io, fds, cap);
	io_unlock(io);
	return r;
}

void rap_io_desc_set_data(struct rap_io_desc *d, void *data)
{
	d->data = data;
}

void *rap_io_desc_data(const struct rap_io_desc *d)
{
	return d->data;
}

struct rap_io *rap_io_desc_io(const struct rap_io_desc *d)
{
	return d->io;
}

int rap_io_desc_fd(const struct rap_io_desc *d)
{
	return d->fd;
}

unsigned rap_io_desc_opts(const struct rap_io_desc *d)
{
	return d->opts;
}

/* ---- the read cache (cache.c does the work) ------------------------------------------ */

void rap_io_desc_set_cache(struct rap_io_desc *d, unsigned flags)
{
	if (d && d->cache)
		rap__io_cache_fd_set(d->cache, flags & (RAP_IO_CACHE_ON | RAP_IO_CACHE_VOLATILE));
}

/* The instance lock keeps the descriptor (and its cache state) from being closed while
 * these run; the cache's own lock is taken under it. */
int rap_io_cache_set(struct rap_io *io, int fd, unsigned flags)
{
	if (!io)
		return RAP_EBADFD;
	io_lock(io);
	struct rap_io_desc *d = desc_get(io, fd);
	int r = RAP_EBADFD;
	if (d && (flags & ~(RAP_IO_CACHE_ON | RAP_IO_CACHE_VOLATILE))) {
		r = RAP_EINVAL;
	} else if (d) {
		r = (int)rap__io_cache_fd_flags(d->cache);
		rap__io_cache_fd_set(d->cache, flags);
	}
	io_unlock(io);
	return r;
}

int rap_io_cache_get(const struct rap_io *io, int fd)
{
	if (!io)
		return RAP_EBADFD;
	io_lock(io);
	struct rap_io_desc *d = desc_get(io, fd);
	int r = d ? (int)rap__io_cache_fd_flags(d->cache) : RAP_EBADFD;
	io_unlock(io);
	return r;
}

int rap_io_cache_invalidate(struct rap_io *io, int fd)
{
	if (!io)
		return RAP_EBADFD;
	io_lock(io);
	struct rap_io_desc *d = desc_get(io, fd);
	if (d)
		rap__io_cache_invalidate(d->cache);
	io_unlock(io);
	return d ? 0 : RAP_EBADFD;
}

void rap_io_cache_invalidate_volatile(struct rap_io *io)
{
	if (io)
		rap__io_cache_invalidate_volatile(io->cache);
}

void rap_io_cache_invalidate_all(struct rap_io *io)
{
	if (io)
		rap__io_cache_invalidate_all(io->cache);
}

void rap_io_cache_set_max(struct rap_io *io, size_t bytes)
{
	if (io)
		rap__io_cache_set_max(io->cache, bytes);
}

size_t rap_io_cache_max(const struct rap_io *io)
{
	return io ? rap__io_cache_max(io->cache) : 0;
}

void rap_io_cache_set_readahead(struct rap_io *io, size_t bytes)
{
	if (io)
		rap__io_cache_set_readahead(io->cache, bytes);
}

size_t rap_io_cache_readahead(const struct rap_io *io)
{
	return io ? rap__io_cache_readahead(io->cache) : 0;
}

int rap_io_cache_stats(const struct rap_io *io, int fd, struct rap_io_cache_stats *out)
{
	if (!io)
		return RAP_EBADFD;
	io_lock(io);
	struct rap_io_desc *d = desc_get(io, fd);
	int r = !d ? RAP_EBADFD : !out ? RAP_EINVAL : 0;
	if (r == 0)
		rap__io_cache_stats(d->cache, out);
	io_unlock(io);
	return r;
}

void rap__io_set_cache_clock(struct rap_io *io, uint64_t (*now_ns)(void *user), void *user)
{
	rap__io_cache_set_clock(io->cache, now_ns, user);
}

void rap_io_set_tls(struct rap_io *io, struct rap_tls_config *cfg)
{
	io_lock(io);
	io->tls = cfg;
	io_unlock(io);
}

struct rap_tls_config *rap_io_tls(const struct rap_io *io)
{
	io_lock(io);
	struct rap_tls_config *cfg = io->tls;
	io_unlock(io);
	return cfg;
}

void rap_io_set_secret(struct rap_io *io, const struct rap_secret *secret)
{
	io_lock(io);
	io->secret = secret;
	io_unlock(io);
}

const struct rap_secret *rap_io_secret(const struct rap_io *io)
{
	io_lock(io);
	const struct rap_secret *s = io->secret;
	io_unlock(io);
	return s;
}

void rap_io_set_user(struct rap_io *io, void *user)
{
	io_lock(io);
	io->user = user;
	io_unlock(io);
}

void *rap_io_user(const struct rap_io *io)
{
	io_lock(io);
	void *user = io->user;
	io_unlock(io);
	return user;
}

/* The text is one buffer per instance: in a shared instance another thread's failed open
 * may replace it, so a caller reads it right after its own open failed. */
const char *rap_io_error(const struct rap_io *io)
{
	return io->error;
}

void rap_io_set_error(struct rap_io *io, const char *detail)
{
	io_lock(io);
	snprintf(io->error, sizeof(io->error), "%s", detail ? detail : "");
	io_unlock(io);
}

/* ---- debugged processes (dbg://) ---------------------------------------------------- */

/* Processes of all instances together: one count per process (a server has one total). */
static atomic_size_t procs_total_used;
static atomic_size_t procs_total_max;

void rap_io_set_max_processes(struct rap_io *io, size_t n)
{
	if (!io)
		return;
	io_lock(io);
	io->max_procs = n;
	io_unlock(io);
}

void rap_io_set_max_processes_total(size_t n)
{
	atomic_store(&procs_total_max, n);
}

void rap_io_set_dbg_output(struct rap_io *io, int fd)
{
	if (!io)
		return;
	io_lock(io);
	io->dbg_out_fd = fd;
	io_unlock(io);
}

int rap__io_dbg_output(struct rap_io *io)
{
	io_lock(io);
	int fd = io->dbg_out_fd;
	io_unlock(io);
	return fd;
}

int rap__io_proc_take(struct rap_io *io)
{
	io_lock(io);
	if (io->max_procs && io->nprocs >= io->max_procs) {
		snprintf(io->error, sizeof(io->error), "at most %zu debugged processes may run at once in a session",
			 io->max_procs);
		io_unlock(io);
		return -EAGAIN;
	}
	size_t max = atomic_load(&procs_total_max);
	size_t cur = atomic_load(&procs_total_used);
	do {
		if (max && cur >= max) {
			snprintf(io->error, sizeof(io->error), "all %zu debugged processes allowed at once are running", max);
			io_unlock(io);
			return -EAGAIN;
		}
	} while (!atomic_compare_exchange_weak(&procs_total_used, &cur, cur + 1));
	io->nprocs++;
	io_unlock(io);
	return 0;
}

void rap__io_proc_give(struct rap_io *io)
{
	io_lock(io);
	if (io->nprocs > 0) {
		io->nprocs--;
		atomic_fetch_sub(&procs_total_used, 1);
	}
	io_unlock(io);
}

void *rap__io_fd_data(struct rap_io *io, int fd)
{
	if (!io)
		return NULL;
	io_lock(io);
	struct rap_io_desc *d = desc_get(io, fd);
	void *data = d ? d->data : NULL;
	io_unlock(io);
	return data;
}
