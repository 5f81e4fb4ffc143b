/* rapbench: how close RAP over loopback comes to raw TCP, measured in one run.
 *
 * Every RAP figure is taken next to a raw-TCP counterpart that this same process measures
 * between two of its own threads moments later, so the ratios cancel out the machine (CPU,
 * kernel, loopback) and leave what the protocol, the client and the server cost.
 *
 * Only loopback peers are accepted: a benchmark that floods a network by mistake is an
 * accident, and across a network the ratios would measure the network, not rap.
 *
 * Every phase is bounded twice, by a count and by --max-seconds. librap's client blocks
 * without a timeout by design (a remote command may run for minutes), so a watchdog thread
 * shuts the phase's socket down when its time is up: the blocked call fails, and the phase
 * reports what it measured until then. A server that serves one client at a time (stock
 * radare2) therefore costs a bounded wait, never a hang.
 *
 * The last phase has no raw counterpart: it compares the server with itself. A polite
 * client times small round trips on the idle server, then again while other sessions run
 * a heavy command in a loop (from their first answers on, so that the commands run in
 * earnest); a server that runs commands on its one event-loop thread makes the polite
 * client wait for them, one that runs them off the loop does not.
 *
 * With --write, pipelined WRITEs into a file of the server's are measured too, in stock
 * 4 KiB messages and in the extension's 1 MiB ones, each next to raw TCP; with
 * --sync-server also against a second server (rapsrv -w --sync) on the same file, so the
 * ratio of the two is the cost of flushing every WRITE to disk before acknowledging it.
 *
 * With --rtt and/or --rate every connection goes through an emulated link (link.c, in this
 * process): the server's, and the raw-TCP baselines' too, so that each ratio compares
 * rap with raw TCP across the same link; the phases that measure the server rather than
 * the network (idle sessions, the busy server, the local search) are skipped. With
 * --open-transcript the requests of a stock client's binary-loading open are replayed one
 * per round trip, as the stock client sends them.
 *
 * With --relay, rapbench also starts a caching relay (rap/relay.h) of its own in front of the
 * server's address (across the link, when there is one: where a user's relay stands, next
 * to the client), and measures through it, beside the direct figures: the stock open's
 * replay, stock one-request-per-round-trip bulk reads, and bulk reads with librap's rap://
 * plugin and its cache (what rapcli's wtf does), each a fresh session per round. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include <rap/io.h>
#include <rap/rap.h>

#include "link.h"
#include "open_pattern.h"
#include "relay_host.h"
#include "search_phase.h"

#define KIB 1024u
#define MIB (1024u * 1024u)
#define NS_PER_S 1000000000ull

#define DEFAULT_BYTES (256ull * MIB)
#define DEFAULT_SMALL 20000ul
#define DEFAULT_SESSIONS 1000ul
#define DEFAULT_MAX_SECONDS 60.0
#define MAX_SMALL 10000000ul   /* every latency sample is kept for the percentiles: 80 MB */
#define MAX_SESSIONS 1000000ul
#define DEFAULT_ROUNDS 3ul
#define DEFAULT_SEARCH_BYTES (1024ull * MIB)
#define MIN_SEARCH_BYTES 4096ull
#define DEFAULT_WRITE_BYTES (8ull * MIB)
#define DEFAULT_RELAY_BYTES (64ull * MIB)
#define MAX_ROUNDS 99ul
#define DEFAULT_HEAVY 4ul
#define MAX_HEAVY 64ul
#define DEFAULT_HEAVY_CMD "px 0x1000000"
#define DEFAULT_POLITE 500ul

#define SMALL_LEN 16u          /* radare2's small-op benchmark is 'p8 16 @ X' */
#define RAW_REQ 16u            /* raw ping-pong: a question about as long as SEEK+READ ... */
#define RAW_REP 21u            /* ... and exactly as long as the READ 16 reply */
#define PIPE_CALL (4u * MIB)   /* one rap_client_read_at call; large, so that the drained
                                * window at the end of each call is a rounding error */
#define RECV_BUF (64u * KIB)   /* as librap's client, so both sides make the same syscalls */
#define SESSION_STALL_MS 2000  /* a new session that waits this long is not being served */
#define SETTLE_MS 200          /* before reading RSS, so it is not caught mid-reply */
#define FD_SPARE 64
#define POLITE_WINDOW_MS 2000u /* polite round trips are spread over at least this long */
#define HEAVY_REPLY_KEEP (1u * MIB) /* heavy replies above this are drained, not kept */
#define POLITE_CMD_MAX 256u    /* the polite CMD's reply: 32 hex digits, a newline, NUL */
#define BUSY_TARGET_MS 50.0    /* the project's target for the polite p99 beside them */
#define OPEN_PERM (RAP_PERM_R | RAP_PERM_X) /* what radare2 sends for a plain open */
#define RANDOM_SEED 0x9e3779b97f4a7c15ull   /* fixed: runs read the same offsets */

static const char *progname = "rapbench";

/* ---- options -------------------------------------------------------------------------- */

struct options {
	char host[256];
	char port[32];
	char path[RAP_OPEN_PATH_MAX];
	uint64_t bytes;
	uint64_t search_bytes; /* the local search phase's file; 0 skips it */
	unsigned long small;
	unsigned long sessions;
	unsigned long rounds; /* of each bulk and small group; the median round is reported */
	unsigned long heavy;  /* sessions running heavy_cmd in the busy-server phase */
	char heavy_cmd[256];
	unsigned long polite; /* timed round trips of each kind, idle and busy */
	double max_seconds;
	long server_pid;      /* -1: none given */
	int cpu_self, cpu_peer; /* --cpus: measuring thread, raw peers and server; -1 unpinned */
	bool pipeline;        /* also measure librap's pipelined read_at */
	bool r2_exact;        /* stock modes add radare2's SEEK CUR 0 before each READ */
	bool verify;
	bool json;
	bool quiet;
	char write_path[RAP_OPEN_PATH_MAX]; /* --write: "" skips the write phases */
	uint64_t write_bytes;
	char sync_host[256], sync_port[32]; /* --sync-server; sync_port "" when none */
	struct link_options link;           /* --rtt, --rate; all 0: no emulated link */
	char open_transcript[4096];         /* --open-transcript; "" skips the open replay */
	bool relay;                         /* --relay: the relay phases */
	uint64_t relay_bytes;               /* --relay-bytes: per relay/plugin bulk mode */
};

static bool wan(const struct options *o)
{
	return o->link.rtt_ms > 0 || o->link.rate_mbit > 0;
}

/* ---- results -------------------------------------------------------------------------- */

struct result {
	bool ran;
	int exit;             /* the sysexits code this phase calls for; 0 when it completed */
	char note[240];       /* why it stopped early, or a caveat */
	uint64_t asked;       /* bytes, round trips or sessions */
	uint64_t done;
	uint64_t held;        /* sessions / connections still open when RSS was read */
	double seconds;       /* timed part only: after connect and OPEN */
	bool has_lat;
	double p50, p90, p99, max; /* microseconds */
	long rss_before, rss_after; /* KiB, -1 when unknown */
	struct rap_relay_stats upstream; /* relay phases: what the relay asked upstream */
};

struct watchdog {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	pthread_t thread;
	int fd;
	uint64_t when;
	bool armed, fired, quit;
};

struct bench {
	struct options o;
	struct watchdog wd;
	uint64_t size;            /* of the remote file */
	const uint8_t *local;     /* the same file mapped here, to check replies; or NULL */
	char verify_note[96];
	rlim_t fd_limit;
	long cpus;
	double busy_cpus;         /* CPUs busy with other work just before the run, -1 unknown */
	/* The server's memory before rapbench's first connection (--server-pid; KiB, -1
	 * unknown): its whole RSS, which counts the C library's pages every process shares;
	 * its proportional share (PSS: shared pages divided among the processes mapping them);
	 * and its private anonymous part, what the daemon itself holds. */
	long idle_rss, idle_pss, idle_anon;
	char placement[160];
	unsigned long sessions_cap, idle_cap;
	struct result bulk_pipe, bulk_stock, bulk_raw;
	struct result small_lib, small_stock, small_raw;
	struct result sessions, idle_raw;
	struct search_figures search;
	/* Busy server: the polite client's rows on the idle server and beside the heavy
	 * sessions, and the heavy sessions themselves (done = commands answered). */
	struct result polite_read_idle, polite_read_busy, polite_cmd_idle, polite_cmd_busy;
	struct result heavy;
	uint64_t heavy_small;     /* heavy replies that came back short (not heavy at all) */
	uint64_t heavy_timed;     /* heavy commands answered while the polite client was timed */
	struct result write_small, write_small_sync, write_small_raw;
	struct result write_large, write_large_sync, write_large_raw;
	/* --rtt/--rate: the links in front of the server and the sync server (owned), and the
	 * addresses they stand for */
	struct link *link, *sync_link;
	char server_host[256], server_port[32];
	/* --open-transcript: the stock open's requests, and their replay (done = requests
	 * answered) */
	struct open_pattern pattern;
	struct result open_replay;
	/* --relay: through the relay (stock bulk, the open's replay) and with the rap:// plugin */
	struct result bulk_relay, bulk_plugin, open_relay;
};

/* ---- small helpers -------------------------------------------------------------------- */

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * NS_PER_S + (uint64_t)ts.tv_nsec;
}

/* Milliseconds until deadline, rounded up so that a poll() never wakes just short of it. */
static int ms_left(uint64_t deadline)
{
	uint64_t n = now_ns();
	if (n >= deadline)
		return 0;
	uint64_t ms = (deadline - n + 999999u) / 1000000u;
	return ms > INT_MAX ? INT_MAX : (int)ms;
}

static void sleep_ms(unsigned ms)
{
	struct timespec ts = { (time_t)(ms / 1000u), (long)(ms % 1000u) * 1000000L };
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* Sleeps until the monotonic time `when` (ns), or not at all when it has passed. */
static void sleep_until_ns(uint64_t when)
{
	struct timespec ts = { (time_t)(when / NS_PER_S), (long)(when % NS_PER_S) };
	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
		;
}

/* rap_tcp_connect reads a timeout of 0 as "the system's default", which can be minutes. */
static int connect_by(const char *host, const char *port, uint64_t deadline, int *fd)
{
	*fd = -1;
	int ms = ms_left(deadline);
	return ms > 0 ? rap_tcp_connect(host, port, ms, fd) : RAP_ETIMEDOUT;
}

static uint64_t min_u64(uint64_t a, uint64_t b)
{
	return a < b ? a : b;
}

static uint64_t be64(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* xorshift64*: reproducible offsets without depending on the libc's rand(). */
static uint64_t next_random(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 0x2545f4914f6cdd1dull;
}

static void progress(const struct bench *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void progress(const struct bench *b, const char *fmt, ...)
{
	if (b->o.quiet)
		return;
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "%s: ", progname);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

static void stop(struct result *r, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Records why a phase ended early. The first reason wins: later ones are consequences. */
static void stop(struct result *r, int code, const char *fmt, ...)
{
	if (r->exit)
		return;
	r->exit = code;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(r->note, sizeof r->note, fmt, ap);
	va_end(ap);
}

static int exit_for(int err)
{
	switch (err) {
	case RAP_EPROTO:
	case RAP_ETOOBIG:
	case RAP_EREMOTE:
		return EX_PROTOCOL;
	case RAP_ECLOSED:
	case RAP_ETIMEDOUT:
	case RAP_ERESOLVE:
	case -ECONNREFUSED:
	case -ECONNRESET:
	case -EPIPE:
	case -ETIMEDOUT:
		return EX_UNAVAILABLE;
	case RAP_ENOMEM:
	case -ENOMEM:
	case -EMFILE:
	case -ENFILE:
	case -EADDRNOTAVAIL:
		return EX_OSERR;
	default:
		return EX_IOERR;
	}
}

/* Most severe first, so one exit code can summarise several phases. */
static int severity(int code)
{
	switch (code) {
	case 0: return 0;
	case EX_TEMPFAIL: return 1;
	case EX_UNAVAILABLE: return 2;
	case EX_IOERR: return 3;
	case EX_DATAERR: return 4;
	case EX_PROTOCOL: return 5;
	case EX_OSERR: return 6;
	default: return 3;
	}
}

/* A "Key:   N kB" line of /proc/PID/FILE (status, smaps_rollup), in KiB; -1 when unknown. */
static long proc_kib(long pid, const char *file, const char *key)
{
	if (pid <= 0)
		return -1;
	char path[64];
	snprintf(path, sizeof path, "/proc/%ld/%s", pid, file);
	FILE *f = fopen(path, "re");
	if (!f)
		return -1;
	char line[256];
	long v = -1;
	size_t kl = strlen(key);
	while (fgets(line, sizeof line, f)) {
		if (strncmp(line, key, kl) == 0 && line[kl] == ':') {
			v = strtol(line + kl + 1, NULL, 10);
			break;
		}
	}
	fclose(f);
	return v;
}

static long rss_kib(long pid)
{
	return proc_kib(pid, "status", "VmRSS");
}

/* Busy and total jiffies of all CPUs, from the first line of /proc/stat. */
static bool cpu_times(unsigned long long *busy, unsigned long long *total)
{
	FILE *f = fopen("/proc/stat", "re");
	if (!f)
		return false;
	unsigned long long v[8] = { 0 };
	int n = fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2],
		       &v[3], &v[4], &v[5], &v[6], &v[7]);
	fclose(f);
	if (n < 4)
		return false;
	*total = 0;
	for (int i = 0; i < 8; i++)
		*total += v[i];
	*busy = *total - v[3] - v[4]; /* idle and iowait */
	return true;
}

/* Other work on the machine moves the ratios (on two cores it decides whether a pair of
 * peers shares a core), so the report says how busy the machine was right before the run.
 * A sample, not the load average, which still counts a benchmark that just ended. */
static void machine_state(struct bench *b)
{
	b->cpus = sysconf(_SC_NPROCESSORS_ONLN);
	b->idle_rss = rss_kib(b->o.server_pid);
	b->idle_pss = proc_kib(b->o.server_pid, "smaps_rollup", "Pss");
	b->idle_anon = proc_kib(b->o.server_pid, "status", "RssAnon");
	b->busy_cpus = -1;
	unsigned long long b0, t0, b1, t1;
	if (!cpu_times(&b0, &t0))
		return;
	sleep_ms(250);
	if (cpu_times(&b1, &t1) && t1 > t0)
		b->busy_cpus = (double)(b1 - b0) / (double)(t1 - t0) * (double)b->cpus;
}

static int pin_thread(int cpu)
{
	cpu_set_t set;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	return pthread_setaffinity_np(pthread_self(), sizeof set, &set);
}

/* Where the peers run decides the round-trip time more than anything rap does: on one core
 * a ping-pong is two context switches, across cores it also waits for a wake-up of the
 * other core (12 against 27 us here). Unpinned, the scheduler picks per run, and differently
 * for two threads of one process than for two processes, so --cpus puts the RAP pair and
 * the raw pair in the same places: the measuring thread on A, the peers on B. Across
 * cores is also what a client on another machine sees. */
static int apply_placement(struct bench *b)
{
	const struct options *o = &b->o;
	if (o->cpu_self < 0) {
		snprintf(b->placement, sizeof b->placement, "unpinned (see --cpus)");
		return 0;
	}
	int rc = pin_thread(o->cpu_self);
	if (rc != 0) {
		fprintf(stderr, "%s: --cpus: cannot run on CPU %d: %s\n", progname, o->cpu_self,
			strerror(rc));
		return EX_USAGE;
	}
	const char *server = "server placement unknown (no --server-pid)";
	if (o->server_pid > 0) {
		cpu_set_t set;
		CPU_ZERO(&set);
		if (sched_getaffinity((pid_t)o->server_pid, sizeof set, &set) != 0)
			server = "server affinity unreadable";
		else if (CPU_COUNT(&set) == 1 && CPU_ISSET(o->cpu_peer, &set))
			server = "server pinned there too";
		else
			server = "server NOT pinned there (start it with taskset -c B)";
	}
	snprintf(b->placement, sizeof b->placement,
		 "measuring thread on CPU %d, raw peers on CPU %d, %s", o->cpu_self, o->cpu_peer,
		 server);
	return 0;
}

/* ---- watchdog ------------------------------------------------------------------------- */

static void *watchdog_main(void *arg)
{
	struct watchdog *w = arg;
	pthread_mutex_lock(&w->mu);
	while (!w->quit) {
		if (!w->armed) {
			pthread_cond_wait(&w->cv, &w->mu);
			continue;
		}
		if (now_ns() >= w->when) {
			/* shutdown(), not close(): the number stays owned by the phase, so it cannot
			 * be reused by another socket while the blocked call still holds it. */
			shutdown(w->fd, SHUT_RDWR);
			w->fired = true;
			w->armed = false;
			continue;
		}
		struct timespec ts = { (time_t)(w->when / NS_PER_S), (long)(w->when % NS_PER_S) };
		pthread_cond_timedwait(&w->cv, &w->mu, &ts);
	}
	pthread_mutex_unlock(&w->mu);
	return NULL;
}

static int watchdog_start(struct watchdog *w)
{
	pthread_condattr_t ca;
	if (pthread_condattr_init(&ca) != 0)
		return -1;
	/* The deadlines are CLOCK_MONOTONIC; a wall-clock jump must not move them. */
	int rc = pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	if (rc == 0)
		rc = pthread_cond_init(&w->cv, &ca);
	pthread_condattr_destroy(&ca);
	if (rc != 0)
		return -1;
	if (pthread_mutex_init(&w->mu, NULL) != 0) {
		pthread_cond_destroy(&w->cv);
		return -1;
	}
	w->fd = -1;
	if (pthread_create(&w->thread, NULL, watchdog_main, w) != 0) {
		pthread_mutex_destroy(&w->mu);
		pthread_cond_destroy(&w->cv);
		return -1;
	}
	return 0;
}

static void watchdog_arm(struct watchdog *w, int fd, uint64_t when)
{
	pthread_mutex_lock(&w->mu);
	w->fd = fd;
	w->when = when;
	w->armed = true;
	w->fired = false;
	pthread_cond_signal(&w->cv);
	pthread_mutex_unlock(&w->mu);
}

static bool watchdog_fired(struct watchdog *w)
{
	pthread_mutex_lock(&w->mu);
	bool fired = w->fired;
	pthread_mutex_unlock(&w->mu);
	return fired;
}

/* Must run before the armed fd is closed. */
static void watchdog_disarm(struct watchdog *w)
{
	pthread_mutex_lock(&w->mu);
	w->armed = false;
	w->fd = -1;
	pthread_cond_signal(&w->cv);
	pthread_mutex_unlock(&w->mu);
}

static void watchdog_stop(struct watchdog *w)
{
	pthread_mutex_lock(&w->mu);
	w->quit = true;
	pthread_cond_signal(&w->cv);
	pthread_mutex_unlock(&w->mu);
	pthread_join(w->thread, NULL);
	pthread_mutex_destroy(&w->mu);
	pthread_cond_destroy(&w->cv);
}

static uint64_t phase_deadline(const struct bench *b)
{
	return now_ns() + (uint64_t)(b->o.max_seconds * (double)NS_PER_S);
}

/* A failed call in a watched phase: either the watchdog cut it (time limit) or the peer. */
static void call_failed(struct bench *b, struct result *r, int err, const char *what)
{
	if (watchdog_fired(&b->wd))
		stop(r, EX_TEMPFAIL, "--max-seconds (%g s) ran out while waiting for the server",
		     b->o.max_seconds);
	else
		stop(r, exit_for(err), "%s: %s", what, rap_strerror(err));
}

static void time_is_up(const struct bench *b, struct result *r)
{
	stop(r, EX_TEMPFAIL, "stopped by --max-seconds (%g s)", b->o.max_seconds);
}

/* ---- checking replies against the local copy ------------------------------------------ */

static bool data_ok(const struct bench *b, uint64_t off, const uint8_t *data, size_t len,
		    bool full)
{
	if (!b->local)
		return true;
	if (full)
		return memcmp(b->local + off, data, len) == 0;
	/* The head of every stock-sized chunk: enough to catch a reply that belongs to another
	 * offset (what a pipelining mistake produces) at a fraction of a full compare's cost,
	 * which would otherwise show up in the throughput. */
	for (size_t at = 0; at < len; at += RAP_PACKET_MAX) {
		size_t k = len - at < SMALL_LEN ? len - at : SMALL_LEN;
		if (memcmp(b->local + off + at, data + at, k) != 0)
			return false;
	}
	return true;
}

static void map_local(struct bench *b)
{
	if (!b->o.verify) {
		snprintf(b->verify_note, sizeof b->verify_note, "off (--no-verify)");
		return;
	}
	/* Only an absolute path names the same file here and on a loopback server; a relative
	 * one is resolved against the server's root, which we do not know. */
	if (b->o.path[0] != '/') {
		snprintf(b->verify_note, sizeof b->verify_note, "n/a (relative path)");
		return;
	}
	int fd = open(b->o.path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		snprintf(b->verify_note, sizeof b->verify_note, "n/a (file not readable here)");
		if (fd >= 0)
			close(fd);
		return;
	}
	if ((uint64_t)st.st_size != b->size) {
		snprintf(b->verify_note, sizeof b->verify_note,
			 "n/a (local file has %lld bytes)", (long long)st.st_size);
		close(fd);
		return;
	}
	void *p = mmap(NULL, (size_t)b->size, PROT_READ, MAP_PRIVATE, fd, 0);
	close(fd);
	if (p == MAP_FAILED) {
		snprintf(b->verify_note, sizeof b->verify_note, "n/a (mmap: %s)", strerror(errno));
		return;
	}
	b->local = p;
	snprintf(b->verify_note, sizeof b->verify_note,
		 "against the local file (small reads fully, bulk 16 B per 4 KiB)");
}

/* ---- stock packets by hand ------------------------------------------------------------ */

/* One connection spoken to with raw stock packets, one request at a time, as radare2's
 * client does. Replies are read through a buffer like librap's, so that the difference to
 * read_at is the wire pattern, not the number of read() calls. */
struct wire {
	int fd;
	size_t pos, len;
	uint8_t buf[RECV_BUF];
};

static int wire_take(struct wire *w, void *dst, size_t n)
{
	uint8_t *d = dst;
	while (n) {
		if (w->pos == w->len) {
			w->pos = w->len = 0;
			ssize_t k = read(w->fd, w->buf, sizeof w->buf);
			if (k == 0)
				return RAP_ECLOSED;
			if (k < 0) {
				if (errno == EINTR)
					continue;
				return errno == ECONNRESET ? RAP_ECLOSED : -errno;
			}
			w->len = (size_t)k;
		}
		size_t k = w->len - w->pos < n ? w->len - w->pos : n;
		memcpy(d, w->buf + w->pos, k);
		d += k;
		w->pos += k;
		n -= k;
	}
	return 0;
}

static size_t put_seek(uint8_t *out, uint8_t whence, uint64_t off)
{
	struct rap_msg m = { .op = RAP_OP_SEEK, .whence = whence, .offset = off };
	ssize_t n = rap_msg_encode(&m, out, 10);
	return n > 0 ? (size_t)n : 0;
}

static size_t put_read(uint8_t *out, uint32_t len)
{
	struct rap_msg m = { .op = RAP_OP_READ, .len = len };
	ssize_t n = rap_msg_encode(&m, out, 5);
	return n > 0 ? (size_t)n : 0;
}

static size_t put_open(uint8_t *out, size_t cap, const char *path)
{
	struct rap_msg m = {
		.op = RAP_OP_OPEN, .perm = OPEN_PERM,
		.len = (uint32_t)strlen(path) + 1, .data = (const uint8_t *)path,
	};
	ssize_t n = rap_msg_encode(&m, out, cap);
	return n > 0 ? (size_t)n : 0;
}

static int wire_seek(struct wire *w, uint8_t whence, uint64_t off, uint64_t *pos)
{
	uint8_t q[10];
	int rc = rap_send_all(w->fd, q, put_seek(q, whence, off));
	if (rc < 0)
		return rc;
	uint8_t a[9];
	if ((rc = wire_take(w, a, sizeof a)) < 0)
		return rc;
	if (a[0] != (RAP_OP_SEEK | RAP_REPLY))
		return RAP_EPROTO;
	*pos = be64(a + 1);
	return 0;
}

/* Returns the reply's length, which the stock client also refuses above what it asked. */
static int wire_read(struct wire *w, uint8_t *dst, uint32_t len)
{
	uint8_t q[5];
	int rc = rap_send_all(w->fd, q, put_read(q, len));
	if (rc < 0)
		return rc;
	uint8_t h[5];
	if ((rc = wire_take(w, h, sizeof h)) < 0)
		return rc;
	uint32_t n = be32(h + 1);
	if (h[0] != (RAP_OP_READ | RAP_REPLY) || n > len)
		return RAP_EPROTO;
	if ((rc = wire_take(w, dst, n)) < 0)
		return rc;
	return (int)n;
}

/* Stock servers hang up on a failed open instead of answering -1. */
static int wire_open(struct wire *w, const char *path)
{
	uint8_t q[3 + RAP_OPEN_PATH_MAX];
	size_t n = put_open(q, sizeof q, path);
	if (n == 0)
		return RAP_EINVAL;
	int rc = rap_send_all(w->fd, q, n);
	if (rc < 0)
		return rc;
	uint8_t a[5];
	if ((rc = wire_take(w, a, sizeof a)) < 0)
		return rc;
	if (a[0] != (RAP_OP_OPEN | RAP_REPLY))
		return RAP_EPROTO;
	int32_t fd = (int32_t)be32(a + 1);
	return fd < 0 ? RAP_EREMOTE : fd;
}

/* One stock read as radare2 issues it: SEEK SET, (SEEK CUR,) READ, each awaited. */
static int wire_read_at(struct bench *b, struct wire *w, uint64_t off, uint8_t *dst,
			uint32_t len, struct result *r)
{
	uint64_t pos;
	int rc = wire_seek(w, RAP_SEEK_SET, off, &pos);
	if (rc == 0 && pos != off) {
		stop(r, EX_PROTOCOL, "SEEK SET 0x%" PRIx64 " answered 0x%" PRIx64, off, pos);
		return RAP_EPROTO;
	}
	if (rc == 0 && b->o.r2_exact)
		rc = wire_seek(w, RAP_SEEK_CUR, 0, &pos);
	if (rc == 0)
		rc = wire_read(w, dst, len);
	if (rc < 0) {
		call_failed(b, r, rc, "stock read");
		return rc;
	}
	if ((uint32_t)rc != len) {
		stop(r, EX_PROTOCOL, "READ %u at 0x%" PRIx64 " answered %d bytes", len, off, rc);
		return RAP_EPROTO;
	}
	return 0;
}

/* Connects a fresh stock-packet connection and OPENs the file, under the watchdog. */
static int wire_start(struct bench *b, struct wire *w, uint64_t deadline, struct result *r)
{
	int rc = connect_by(b->o.host, b->o.port, deadline, &w->fd);
	if (rc < 0) {
		stop(r, exit_for(rc), "connect: %s", rap_strerror(rc));
		return rc;
	}
	watchdog_arm(&b->wd, w->fd, deadline);
	rc = wire_open(w, b->o.path);
	if (rc < 0)
		call_failed(b, r, rc, "OPEN");
	return rc < 0 ? rc : 0;
}

static void wire_end(struct bench *b, struct wire *w)
{
	watchdog_disarm(&b->wd);
	if (w->fd >= 0)
		close(w->fd);
	w->fd = -1;
}

/* ---- librap client -------------------------------------------------------------------- */

/* Connects to host:port, optionally probes for the extension (larger messages), and opens
 * path with perm, all watched by the watchdog until client_end. */
static struct rap_client *client_start_to(struct bench *b, const char *host, const char *port,
					  const char *path, uint8_t perm, bool probe,
					  uint64_t deadline, struct result *r)
{
	struct rap_client *c = NULL;
	int rc = rap_client_new(&c);
	if (rc < 0) {
		stop(r, EX_OSERR, "rap_client_new: %s", rap_strerror(rc));
		return NULL;
	}
	int fd = -1;
	rc = connect_by(host, port, deadline, &fd);
	if (rc == 0 && (rc = rap_client_attach_fd(c, fd)) < 0)
		close(fd);
	if (rc < 0) {
		stop(r, exit_for(rc), "connect: %s", rap_strerror(rc));
		rap_client_free(c);
		return NULL;
	}
	watchdog_arm(&b->wd, fd, deadline);
	if (probe && (rc = rap_client_probe(c)) != 1) {
		if (rc == 0)
			stop(r, EX_PROTOCOL, "the server does not speak the extension (1 MiB messages)");
		else
			call_failed(b, r, rc, "probe");
		watchdog_disarm(&b->wd);
		rap_client_free(c);
		return NULL;
	}
	rc = rap_client_open(c, path, perm);
	if (rc < 0) {
		call_failed(b, r, rc, "OPEN");
		watchdog_disarm(&b->wd);
		rap_client_free(c);
		return NULL;
	}
	return c;
}

static struct rap_client *client_start(struct bench *b, uint64_t deadline, struct result *r)
{
	return client_start_to(b, b->o.host, b->o.port, b->o.path, OPEN_PERM, false, deadline, r);
}

static void client_end(struct bench *b, struct rap_client *c)
{
	watchdog_disarm(&b->wd);
	rap_client_free(c);
}

/* ---- latency statistics --------------------------------------------------------------- */

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return (x > y) - (x < y);
}

/* Nearest-rank percentile, in microseconds, of sorted samples in nanoseconds. */
static double percentile(const uint64_t *s, size_t n, unsigned per_mille)
{
	size_t rank = (n * per_mille + 999u) / 1000u;
	if (rank == 0)
		rank = 1;
	return (double)s[rank - 1] / 1000.0;
}

static void latency_stats(struct result *r, uint64_t *lat, size_t n)
{
	if (n == 0)
		return;
	qsort(lat, n, sizeof *lat, cmp_u64);
	r->has_lat = true;
	r->p50 = percentile(lat, n, 500);
	r->p90 = percentile(lat, n, 900);
	r->p99 = percentile(lat, n, 990);
	r->max = (double)lat[n - 1] / 1000.0;
}

/* ---- phase 1: bulk reads -------------------------------------------------------------- */

static void bulk_pipelined(struct bench *b, struct result *r)
{
	r->ran = true;
	r->asked = b->o.bytes;
	uint64_t deadline = phase_deadline(b);
	uint8_t *buf = malloc(PIPE_CALL);
	if (!buf) {
		stop(r, EX_OSERR, "out of memory");
		return;
	}
	struct rap_client *c = client_start(b, deadline, r);
	if (!c) {
		free(buf);
		return;
	}
	uint64_t off = 0, t0 = now_ns(), t_end = t0;
	while (r->done < r->asked) {
		if (now_ns() >= deadline) {
			time_is_up(b, r);
			break;
		}
		size_t n = (size_t)min_u64(min_u64(PIPE_CALL, b->size - off), r->asked - r->done);
		ssize_t got = rap_client_read_at(c, off, buf, n);
		if (got < 0) {
			call_failed(b, r, (int)got, "rap_client_read_at");
			break;
		}
		if ((size_t)got != n) {
			stop(r, EX_PROTOCOL, "read_at 0x%" PRIx64 " returned %zd of %zu bytes", off,
			     got, n);
			break;
		}
		if (!data_ok(b, off, buf, n, false)) {
			stop(r, EX_DATAERR, "data near 0x%" PRIx64 " differs from the local file", off);
			break;
		}
		r->done += n;
		t_end = now_ns();
		off += n;
		if (off == b->size)
			off = 0;
	}
	r->seconds = (double)(t_end - t0) / NS_PER_S;
	client_end(b, c);
	free(buf);
}

static void bulk_stock(struct bench *b, struct result *r)
{
	r->ran = true;
	r->asked = b->o.bytes;
	uint64_t deadline = phase_deadline(b);
	struct wire *w = calloc(1, sizeof *w);
	if (!w) {
		stop(r, EX_OSERR, "out of memory");
		return;
	}
	w->fd = -1;
	if (wire_start(b, w, deadline, r) == 0) {
		uint8_t chunk[RAP_PACKET_MAX];
		uint64_t off = 0, t0 = now_ns(), t_end = t0;
		while (r->done < r->asked) {
			if (now_ns() >= deadline) {
				time_is_up(b, r);
				break;
			}
			uint32_t n = (uint32_t)min_u64(min_u64(RAP_PACKET_MAX, b->size - off),
						       r->asked - r->done);
			if (wire_read_at(b, w, off, chunk, n, r) < 0)
				break;
			if (!data_ok(b, off, chunk, n, false)) {
				stop(r, EX_DATAERR, "data at 0x%" PRIx64 " differs from the local file",
				     off);
				break;
			}
			r->done += n;
			t_end = now_ns();
			off += n;
			if (off == b->size)
				off = 0;
		}
		r->seconds = (double)(t_end - t0) / NS_PER_S;
	}
	wire_end(b, w);
	free(w);
}

/* ---- phase 1c: a stock client's open, replayed ---------------------------------------- */

/* One CMD as the stock client sends it, its reply awaited (text not checked: an empty
 * command, radare2's "=!" init, answers an empty text). */
static int wire_cmd_raw(struct wire *w, const uint8_t *cmd, uint32_t len)
{
	uint8_t q[5 + OPEN_PATTERN_CMD_MAX];
	struct rap_msg m = { .op = RAP_OP_CMD, .len = len, .data = cmd };
	ssize_t n = rap_msg_encode(&m, q, sizeof q);
	if (n <= 0)
		return RAP_EINVAL;
	int rc = rap_send_all(w->fd, q, (size_t)n);
	uint8_t h[5];
	if (rc == 0)
		rc = wire_take(w, h, sizeof h);
	if (rc < 0)
		return rc;
	if (h[0] != (RAP_OP_CMD | RAP_REPLY))
		return RAP_EPROTO;
	for (uint32_t left = be32(h + 1); left > 0;) {
		uint8_t sink[4096];
		uint32_t k = left < sizeof sink ? left : (uint32_t)sizeof sink;
		if ((rc = wire_take(w, sink, k)) < 0)
			return rc;
		left -= k;
	}
	return 0;
}

/* The recorded open's requests, each sent once the answer to the one before has come, as
 * the stock client does (its OPEN opens the benchmark's file instead). Reads may come back
 * short: the recorded file and the benchmark's differ. */
static void open_replay(struct bench *b, struct result *r)
{
	r->ran = true;
	r->asked = b->pattern.n;
	uint64_t deadline = phase_deadline(b);
	struct wire *w = calloc(1, sizeof *w);
	uint8_t *buf = malloc(RAP_PACKET_MAX);
	if (!w || !buf) {
		stop(r, EX_OSERR, "out of memory");
		free(w);
		free(buf);
		return;
	}
	w->fd = -1;
	int rc = connect_by(b->o.host, b->o.port, deadline, &w->fd);
	if (rc < 0) {
		stop(r, exit_for(rc), "connect: %s", rap_strerror(rc));
		free(w);
		free(buf);
		return;
	}
	watchdog_arm(&b->wd, w->fd, deadline);
	uint64_t t0 = now_ns(), t_end = t0;
	for (size_t i = 0; i < b->pattern.n; i++) {
		if (now_ns() >= deadline) {
			time_is_up(b, r);
			break;
		}
		const struct open_request *q = &b->pattern.req[i];
		uint64_t pos;
		switch (q->op) {
		case RAP_OP_OPEN:
			rc = wire_open(w, b->o.path);
			break;
		case RAP_OP_SEEK:
			rc = wire_seek(w, q->whence, q->offset, &pos);
			break;
		case RAP_OP_READ:
			rc = wire_read(w, buf, q->len < RAP_PACKET_MAX ? q->len : RAP_PACKET_MAX);
			break;
		default:
			rc = wire_cmd_raw(w, q->cmd, q->len);
			break;
		}
		if (rc < 0) {
			call_failed(b, r, rc, "replayed request");
			break;
		}
		r->done++;
		t_end = now_ns();
	}
	r->seconds = (double)(t_end - t0) / NS_PER_S;
	wire_end(b, w);
	free(w);
	free(buf);
}

/* ---- phase 1d: through a relay, and with the rap:// plugin ---------------------------- */

/* Runs fn against a relay of its own (a fresh one per call, so each round starts with an
 * empty cache) standing in front of the server's address, with bytes as the bulk size;
 * r->upstream receives what the relay asked of the server. */
static void via_relay(struct bench *b, struct result *r, void (*fn)(struct bench *, struct result *),
		      uint64_t bytes)
{
	struct relay_host *h;
	uint16_t port;
	int rc = relay_host_start(b->o.host, b->o.port, &h, &port);
	if (rc < 0) {
		r->ran = true;
		stop(r, EX_OSERR, "cannot start the relay: %s", rap_strerror(rc));
		return;
	}
	char host[sizeof b->o.host], oport[sizeof b->o.port];
	memcpy(host, b->o.host, sizeof host);
	memcpy(oport, b->o.port, sizeof oport);
	uint64_t saved = b->o.bytes;
	snprintf(b->o.host, sizeof b->o.host, "127.0.0.1");
	snprintf(b->o.port, sizeof b->o.port, "%u", port);
	b->o.bytes = bytes;
	fn(b, r);
	b->o.bytes = saved;
	memcpy(b->o.host, host, sizeof host);
	memcpy(b->o.port, oport, sizeof oport);
	relay_host_stop(h, &r->upstream);
}

/* The bulk size of the relay and plugin modes: --relay-bytes, at most the file (a second
 * lap would be answered from the cache). */
static uint64_t relay_bytes(const struct bench *b)
{
	return min_u64(b->o.relay_bytes, b->size);
}

static void bulk_relay(struct bench *b, struct result *r)
{
	via_relay(b, r, bulk_stock, relay_bytes(b));
}

static void open_relay(struct bench *b, struct result *r)
{
	via_relay(b, r, open_replay, b->o.bytes);
}

/* Sequential reads of the file through librap-io's rap:// plugin, in calls of PIPE_CALL
 * bytes, as rapcli's wtf reads: the plugin's cache asks for blocks with read-ahead, and the
 * client keeps a window of requests in flight. */
static void bulk_plugin(struct bench *b, struct result *r)
{
	r->ran = true;
	r->asked = relay_bytes(b);
	uint64_t deadline = phase_deadline(b);
	uint8_t *buf = malloc(PIPE_CALL);
	struct rap_io *io = NULL;
	int rc = buf ? rap_io_new(&io) : RAP_ENOMEM;
	if (rc < 0) {
		stop(r, EX_OSERR, "out of memory");
		free(buf);
		return;
	}
	bool v6 = strchr(b->o.host, ':') != NULL;
	char uri[RAP_OPEN_PATH_MAX + 320];
	snprintf(uri, sizeof uri, "rap://%s%s%s:%s/%s", v6 ? "[" : "", b->o.host, v6 ? "]" : "", b->o.port,
		 b->o.path);
	int fd = rap_io_open(io, uri, RAP_PERM_R);
	if (fd < 0) {
		call_failed(b, r, fd, "rap:// open");
		rap_io_free(io);
		free(buf);
		return;
	}
	uint64_t off = 0, t0 = now_ns(), t_end = t0;
	while (r->done < r->asked) {
		if (now_ns() >= deadline) {
			time_is_up(b, r);
			break;
		}
		size_t n = (size_t)min_u64(PIPE_CALL, r->asked - r->done);
		ssize_t got = rap_io_read_at(io, fd, off, buf, n);
		if (got <= 0) {
			call_failed(b, r, got < 0 ? (int)got : RAP_EPROTO, "rap_io_read_at");
			break;
		}
		if (!data_ok(b, off, buf, (size_t)got, false)) {
			stop(r, EX_DATAERR, "data near 0x%" PRIx64 " differs from the local file", off);
			break;
		}
		r->done += (uint64_t)got;
		t_end = now_ns();
		off += (uint64_t)got;
	}
	r->seconds = (double)(t_end - t0) / NS_PER_S;
	rap_io_free(io);
	free(buf);
}

/* ---- phase 1b: bulk writes ------------------------------------------------------------ */

/* Pipelined WRITEs of --write-bytes into --write PATH, from offset 0 and round again at its
 * end, in calls of PIPE_CALL bytes; the client sends them as stock 4 KiB WRITEs or, after
 * the probe, as the extension's 1 MiB ones. The file's byte at x ends up as buf[x %
 * PIPE_CALL], which a read-back checks once the clock has stopped. */
static void bulk_write(struct bench *b, struct result *r, bool sync_server, bool large)
{
	r->ran = true;
	r->asked = b->o.write_bytes;
	uint64_t deadline = phase_deadline(b);
	uint8_t *buf = malloc(PIPE_CALL), *back = malloc(PIPE_CALL);
	if (!buf || !back) {
		stop(r, EX_OSERR, "out of memory");
		free(buf);
		free(back);
		return;
	}
	uint64_t seed = RANDOM_SEED;
	for (size_t i = 0; i < PIPE_CALL; i += 8) {
		uint64_t v = next_random(&seed);
		memcpy(buf + i, &v, 8);
	}
	const char *host = sync_server ? b->o.sync_host : b->o.host;
	const char *port = sync_server ? b->o.sync_port : b->o.port;
	struct rap_client *c = client_start_to(b, host, port, b->o.write_path, RAP_PERM_RW, large,
					       deadline, r);
	if (!c) {
		free(buf);
		free(back);
		return;
	}
	uint64_t size = 0;
	int rc = rap_client_size(c, &size);
	if (rc < 0) {
		call_failed(b, r, rc, "size of the --write file");
	} else if (size < PIPE_CALL) {
		stop(r, EX_DATAERR, "the --write file has %" PRIu64 " bytes; it needs %u", size,
		     PIPE_CALL);
	} else {
		uint64_t off = 0, written = 0, t0 = now_ns(), t_end = t0;
		while (r->done < r->asked) {
			if (now_ns() >= deadline) {
				time_is_up(b, r);
				break;
			}
			size_t n = (size_t)min_u64(min_u64(PIPE_CALL, size - off), r->asked - r->done);
			ssize_t put = rap_client_write_at(c, off, buf, n);
			if (put < 0) {
				call_failed(b, r, (int)put, "rap_client_write_at");
				break;
			}
			if ((size_t)put != n) {
				stop(r, EX_PROTOCOL, "write_at 0x%" PRIx64 " wrote %zd of %zu bytes", off,
				     put, n);
				break;
			}
			r->done += n;
			t_end = now_ns();
			written = min_u64(size, written + n);
			off += n;
			if (off == size)
				off = 0;
		}
		r->seconds = (double)(t_end - t0) / NS_PER_S;
		size_t check = (size_t)min_u64(PIPE_CALL, written);
		if (r->exit == 0 && check) {
			ssize_t got = rap_client_read_at(c, 0, back, check);
			if (got < 0)
				call_failed(b, r, (int)got, "reading the written data back");
			else if ((size_t)got != check || memcmp(back, buf, check) != 0)
				stop(r, EX_DATAERR, "the data read back differs from what was written");
		}
	}
	client_end(b, c);
	free(buf);
	free(back);
}

static void write_small_plain(struct bench *b, struct result *r)
{
	bulk_write(b, r, false, false);
}

static void write_small_sync(struct bench *b, struct result *r)
{
	bulk_write(b, r, true, false);
}

static void write_large_plain(struct bench *b, struct result *r)
{
	bulk_write(b, r, false, true);
}

static void write_large_sync(struct bench *b, struct result *r)
{
	bulk_write(b, r, true, true);
}

/* ---- phase 2: small reads ------------------------------------------------------------- */

static void small_lib(struct bench *b, struct result *r)
{
	r->ran = true;
	r->asked = b->o.small;
	uint64_t deadline = phase_deadline(b);
	uint64_t *lat = malloc((size_t)r->asked * sizeof *lat);
	if (!lat) {
		stop(r, EX_OSERR, "out of memory");
		return;
	}
	struct rap_client *c = client_start(b, deadline, r);
	if (!c) {
		free(lat);
		return;
	}
	uint32_t len = (uint32_t)min_u64(SMALL_LEN, b->size);
	uint64_t rng = RANDOM_SEED;
	uint8_t buf[SMALL_LEN];
	uint64_t t0 = now_ns(), t_end = t0;
	while (r->done < r->asked) {
		uint64_t t = now_ns();
		if (t >= deadline) {
			time_is_up(b, r);
			break;
		}
		uint64_t off = next_random(&rng) % (b->size - len + 1);
		ssize_t got = rap_client_read_at(c, off, buf, len);
		t_end = now_ns();
		if (got < 0) {
			call_failed(b, r, (int)got, "rap_client_read_at");
			break;
		}
		if ((size_t)got != len) {
			stop(r, EX_PROTOCOL, "read_at 0x%" PRIx64 " returned %zd of %u bytes", off, got,
			     len);
			break;
		}
		if (!data_ok(b, off, buf, len, true)) {
			stop(r, EX_DATAERR, "data at 0x%" PRIx64 " differs from the local file", off);
			break;
		}
		lat[r->done++] = t_end - t;
	}
	r->seconds = (double)(t_end - t0) / NS_PER_S;
	client_end(b, c);
	latency_stats(r, lat, (size_t)r->done);
	free(lat);
}

static void small_stock(struct bench *b, struct result *r)
{
	r->ran = true;
	r->asked = b->o.small;
	uint64_t deadline = phase_deadline(b);
	uint64_t *lat = malloc((size_t)r->asked * sizeof *lat);
	struct wire *w = calloc(1, sizeof *w);
	if (!lat || !w) {
		stop(r, EX_OSERR, "out of memory");
		free(lat);
		free(w);
		return;
	}
	w->fd = -1;
	if (wire_start(b, w, deadline, r) == 0) {
		uint32_t len = (uint32_t)min_u64(SMALL_LEN, b->size);
		uint64_t rng = RANDOM_SEED;
		uint8_t buf[SMALL_LEN];
		uint64_t t0 = now_ns(), t_end = t0;
		while (r->done < r->asked) {
			uint64_t t = now_ns();
			if (t >= deadline) {
				time_is_up(b, r);
				break;
			}
			uint64_t off = next_random(&rng) % (b->size - len + 1);
			int rc = wire_read_at(b, w, off, buf, len, r);
			t_end = now_ns();
			if (rc < 0)
				break;
			if (!data_ok(b, off, buf, len, true)) {
				stop(r, EX_DATAERR, "data at 0x%" PRIx64 " differs from the local file",
				     off);
				break;
			}
			lat[r->done++] = t_end - t;
		}
		r->seconds = (double)(t_end - t0) / NS_PER_S;
	}
	wire_end(b, w);
	latency_stats(r, lat, (size_t)r->done);
	free(lat);
	free(w);
}

/* ---- phase 3: many idle sessions ------------------------------------------------------ */

/* Reads exactly n bytes, waiting at most until deadline (the sessions are set up one after
 * the other, so a stall must end the phase, not hang it). */
static int recv_by(int fd, void *buf, size_t n, uint64_t deadline)
{
	uint8_t *p = buf;
	while (n) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		int ms = ms_left(deadline);
		if (ms == 0)
			return RAP_ETIMEDOUT;
		int pr = poll(&pfd, 1, ms);
		if (pr < 0 && errno != EINTR)
			return -errno;
		if (pr <= 0)
			continue;
		ssize_t k = read(fd, p, n);
		if (k > 0) {
			p += k;
			n -= (size_t)k;
		} else if (k == 0) {
			return RAP_ECLOSED;
		} else if (errno != EINTR && errno != EAGAIN) {
			return errno == ECONNRESET ? RAP_ECLOSED : -errno;
		}
	}
	return 0;
}

/* OPEN, then SEEK SET 0 + READ: what a fresh radare2 client costs the server, give or
 * take the empty CMDs. The READ is a full stock chunk so that any per-session buffer the
 * server grows for it is in the RSS we report. */
static int session_start(struct bench *b, int fd, uint64_t deadline, int *refused)
{
	uint8_t q[3 + RAP_OPEN_PATH_MAX];
	size_t n = put_open(q, sizeof q, b->o.path);
	int rc = rap_send_all(fd, q, n);
	uint8_t a[9 + 5];
	if (rc == 0)
		rc = recv_by(fd, a, 5, deadline);
	if (rc < 0)
		return rc;
	if (a[0] != (RAP_OP_OPEN | RAP_REPLY))
		return RAP_EPROTO;
	if ((int32_t)be32(a + 1) < 0) {
		*refused = 1;
		return RAP_EREMOTE;
	}
	uint32_t len = (uint32_t)min_u64(RAP_PACKET_MAX, b->size);
	n = put_seek(q, RAP_SEEK_SET, 0);
	n += put_read(q + n, len);
	if ((rc = rap_send_all(fd, q, n)) < 0 || (rc = recv_by(fd, a, sizeof a, deadline)) < 0)
		return rc;
	uint32_t got = be32(a + 10);
	if (a[0] != (RAP_OP_SEEK | RAP_REPLY) || be64(a + 1) != 0 ||
	    a[9] != (RAP_OP_READ | RAP_REPLY) || got != len)
		return RAP_EPROTO;
	uint8_t data[RAP_PACKET_MAX];
	if ((rc = recv_by(fd, data, got, deadline)) < 0)
		return rc;
	return data_ok(b, 0, data, got, true) ? 0 : RAP_EPROTO;
}

/* Connections the peer has not closed (nor sent anything unasked on) after the settle. */
static uint64_t count_alive(const int *fds, size_t n, struct pollfd *pf)
{
	for (size_t i = 0; i < n; i++)
		pf[i] = (struct pollfd){ .fd = fds[i], .events = POLLIN | POLLRDHUP };
	if (n && poll(pf, (nfds_t)n, 0) < 0)
		return n;
	uint64_t alive = 0;
	for (size_t i = 0; i < n; i++)
		alive += pf[i].revents == 0;
	return alive;
}

static void close_all(int *fds, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (fds[i] >= 0)
			close(fds[i]);
}

static void sessions(struct bench *b, struct result *r)
{
	r->ran = true;
	r->asked = b->o.sessions;
	r->rss_before = r->rss_after = -1;
	size_t k = b->sessions_cap;
	if (k < r->asked)
		snprintf(r->note, sizeof r->note,
			 "limited to %zu sessions by RLIMIT_NOFILE (%llu)", k,
			 (unsigned long long)b->fd_limit);
	int *fds = malloc(k * sizeof *fds);
	struct pollfd *pf = malloc(k * sizeof *pf);
	if (!fds || !pf) {
		stop(r, EX_OSERR, "out of memory");
		free(fds);
		free(pf);
		return;
	}
	r->rss_before = rss_kib(b->o.server_pid);
	uint64_t deadline = phase_deadline(b), t0 = now_ns();
	while (r->done < k) {
		uint64_t t = now_ns();
		if (t >= deadline) {
			time_is_up(b, r);
			break;
		}
		uint64_t step = min_u64(deadline, t + SESSION_STALL_MS * 1000000ull);
		unsigned long nth = (unsigned long)r->done + 1;
		int fd = -1, refused = 0;
		int rc = connect_by(b->o.host, b->o.port, step, &fd);
		if (rc < 0) {
			stop(r, rc == RAP_ETIMEDOUT ? EX_TEMPFAIL : exit_for(rc),
			     "session %lu: connect: %s", nth, rap_strerror(rc));
			break;
		}
		rc = session_start(b, fd, step, &refused);
		if (rc < 0) {
			close(fd);
			if (rc == RAP_ETIMEDOUT && step < deadline)
				stop(r, EX_TEMPFAIL, "session %lu got no answer within %d ms: the server "
				     "is not serving that many sessions at once", nth, SESSION_STALL_MS);
			else if (rc == RAP_ETIMEDOUT)
				time_is_up(b, r);
			else if (refused)
				stop(r, EX_UNAVAILABLE, "session %lu: the server refused the OPEN", nth);
			else
				stop(r, exit_for(rc), "session %lu: %s", nth, rap_strerror(rc));
			break;
		}
		fds[r->done++] = fd;
	}
	r->seconds = (double)(now_ns() - t0) / NS_PER_S;
	sleep_ms(SETTLE_MS);
	r->held = count_alive(fds, (size_t)r->done, pf);
	r->rss_after = rss_kib(b->o.server_pid);
	if (r->held < r->done)
		stop(r, EX_TEMPFAIL, "the server closed %" PRIu64 " of the idle sessions",
		     r->done - r->held);
	close_all(fds, (size_t)r->done);
	free(fds);
	free(pf);
}

/* ---- phase 4: raw TCP between two of our threads -------------------------------------- */

struct raw_peer {
	int lfd;
	int cpu;             /* -1: unpinned */
	uint64_t deadline;
	uint64_t bytes;      /* bulk: how much to write */
	const struct link_options *wan; /* NULL: direct; else the link raw_pair puts between */
	struct link *link;   /* owned: released by raw_unpair */
};

static void set_nodelay(int fd)
{
	/* As rap_tcp_connect and servers do: the ping-pong must not wait on Nagle. */
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

static int accept_by(int lfd, uint64_t deadline)
{
	for (;;) {
		struct pollfd pfd = { .fd = lfd, .events = POLLIN };
		int ms = ms_left(deadline);
		if (ms == 0)
			return RAP_ETIMEDOUT;
		int pr = poll(&pfd, 1, ms);
		if (pr < 0 && errno != EINTR)
			return -errno;
		if (pr <= 0)
			continue;
		int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
		if (fd >= 0) {
			set_nodelay(fd);
			return fd;
		}
		if (errno != EINTR && errno != EAGAIN && errno != ECONNABORTED)
			return -errno;
	}
}

static int read_exact(int fd, void *buf, size_t n)
{
	uint8_t *p = buf;
	while (n) {
		ssize_t k = read(fd, p, n);
		if (k > 0) {
			p += k;
			n -= (size_t)k;
		} else if (k == 0) {
			return RAP_ECLOSED;
		} else if (errno != EINTR) {
			return errno == ECONNRESET ? RAP_ECLOSED : -errno;
		}
	}
	return 0;
}

static void *bulk_writer(void *arg)
{
	struct raw_peer *p = arg;
	if (p->cpu >= 0)
		pin_thread(p->cpu);
	int fd = accept_by(p->lfd, p->deadline);
	if (fd < 0)
		return NULL;
	/* Start only when the reader's clock starts, so no data sits in the socket early. */
	uint8_t go;
	if (read_exact(fd, &go, 1) == 0) {
		uint8_t block[RAP_PACKET_MAX];
		memset(block, 0xa5, sizeof block);
		for (uint64_t sent = 0; sent < p->bytes;) {
			size_t n = (size_t)min_u64(sizeof block, p->bytes - sent);
			if (rap_send_all(fd, block, n) < 0)
				break;
			sent += n;
		}
	}
	close(fd);
	return NULL;
}

static void *pong_main(void *arg)
{
	struct raw_peer *p = arg;
	if (p->cpu >= 0)
		pin_thread(p->cpu);
	int fd = accept_by(p->lfd, p->deadline);
	if (fd < 0)
		return NULL;
	uint8_t q[RAW_REQ], a[RAW_REP];
	memset(a, 0x82, sizeof a);
	while (read_exact(fd, q, sizeof q) == 0 && rap_send_all(fd, a, sizeof a) == 0)
		;
	close(fd);
	return NULL;
}

/* Starts a listener and the thread that serves it, then connects to it. */
static int raw_pair(struct raw_peer *p, void *(*fn)(void *), pthread_t *th, int *cfd,
		    struct result *r)
{
	int rc = rap_tcp_listen("127.0.0.1", "0", 16, &p->lfd);
	int port = rc < 0 ? rc : rap_tcp_local_port(p->lfd);
	if (port < 0) {
		stop(r, EX_OSERR, "listen: %s", rap_strerror(port));
		if (p->lfd >= 0)
			close(p->lfd);
		return port;
	}
	if (pthread_create(th, NULL, fn, p) != 0) {
		stop(r, EX_OSERR, "cannot start a thread");
		close(p->lfd);
		return -1;
	}
	char ps[16];
	snprintf(ps, sizeof ps, "%d", port);
	if (p->wan) {
		uint16_t lport;
		rc = link_start(p->wan, "127.0.0.1", ps, &p->link, &lport);
		if (rc < 0) {
			stop(r, EX_OSERR, "emulated link: %s", strerror(-rc));
			shutdown(p->lfd, SHUT_RDWR); /* ends the peer's accept */
			pthread_join(*th, NULL);
			close(p->lfd);
			return rc;
		}
		snprintf(ps, sizeof ps, "%u", lport);
	}
	rc = connect_by("127.0.0.1", ps, p->deadline, cfd);
	if (rc < 0) {
		stop(r, EX_OSERR, "connect to our own listener: %s", rap_strerror(rc));
		pthread_join(*th, NULL); /* its accept ends at the deadline */
		close(p->lfd);
		link_stop(p->link);
		p->link = NULL;
		return rc;
	}
	return 0;
}

/* After the peer thread is joined: the listener and the link. */
static void raw_unpair(struct raw_peer *p)
{
	close(p->lfd);
	link_stop(p->link);
	p->link = NULL;
}

static void raw_bulk_bytes(struct bench *b, struct result *r, uint64_t bytes)
{
	r->ran = true;
	r->asked = bytes;
	struct raw_peer p = {
		.lfd = -1, .cpu = b->o.cpu_peer, .deadline = phase_deadline(b), .bytes = r->asked,
		.wan = wan(&b->o) ? &b->o.link : NULL,
	};
	pthread_t th;
	int fd = -1;
	if (raw_pair(&p, bulk_writer, &th, &fd, r) < 0)
		return;
	uint8_t *buf = malloc(RECV_BUF);
	watchdog_arm(&b->wd, fd, p.deadline);
	uint64_t t0 = now_ns(), t_end = t0;
	uint8_t go = 1;
	int rc = buf ? rap_send_all(fd, &go, 1) : RAP_ENOMEM;
	if (rc < 0)
		stop(r, EX_OSERR, "raw bulk start: %s", rap_strerror(rc));
	while (rc == 0 && r->done < r->asked) {
		if (now_ns() >= p.deadline) {
			time_is_up(b, r);
			break;
		}
		ssize_t n = read(fd, buf, RECV_BUF);
		if (n > 0) {
			r->done += (uint64_t)n;
			t_end = now_ns();
		} else if (n == 0 || errno != EINTR) {
			call_failed(b, r, n == 0 ? RAP_ECLOSED : -errno, "raw read");
			break;
		}
	}
	r->seconds = (double)(t_end - t0) / NS_PER_S;
	watchdog_disarm(&b->wd);
	close(fd); /* unread data makes this a reset, which unblocks the writer */
	pthread_join(th, NULL);
	raw_unpair(&p);
	free(buf);
}

static void raw_bulk(struct bench *b, struct result *r)
{
	raw_bulk_bytes(b, r, b->o.bytes);
}

/* The baseline of the write phases: as many bytes over raw TCP. */
static void raw_bulk_write(struct bench *b, struct result *r)
{
	raw_bulk_bytes(b, r, b->o.write_bytes);
}

static void raw_pingpong(struct bench *b, struct result *r)
{
	r->ran = true;
	r->asked = b->o.small;
	uint64_t *lat = malloc((size_t)r->asked * sizeof *lat);
	if (!lat) {
		stop(r, EX_OSERR, "out of memory");
		return;
	}
	struct raw_peer p = { .lfd = -1, .cpu = b->o.cpu_peer, .deadline = phase_deadline(b),
			      .wan = wan(&b->o) ? &b->o.link : NULL };
	pthread_t th;
	int fd = -1;
	if (raw_pair(&p, pong_main, &th, &fd, r) < 0) {
		free(lat);
		return;
	}
	watchdog_arm(&b->wd, fd, p.deadline);
	uint8_t q[RAW_REQ], a[RAW_REP];
	memset(q, 0x02, sizeof q);
	uint64_t t0 = now_ns(), t_end = t0;
	while (r->done < r->asked) {
		uint64_t t = now_ns();
		if (t >= p.deadline) {
			time_is_up(b, r);
			break;
		}
		int rc = rap_send_all(fd, q, sizeof q);
		if (rc == 0)
			rc = read_exact(fd, a, sizeof a);
		t_end = now_ns();
		if (rc < 0) {
			call_failed(b, r, rc, "raw ping-pong");
			break;
		}
		lat[r->done++] = t_end - t;
	}
	r->seconds = (double)(t_end - t0) / NS_PER_S;
	watchdog_disarm(&b->wd);
	close(fd);
	pthread_join(th, NULL);
	raw_unpair(&p);
	latency_stats(r, lat, (size_t)r->done);
	free(lat);
}

/* Both ends live in this process, so the RSS delta counts both; it shows what holding a
 * connection costs in user space when nothing is kept per connection (kernel socket memory
 * is not in RSS, for the server either). */
static void raw_idle(struct bench *b, struct result *r)
{
	r->ran = true;
	r->asked = b->o.sessions;
	r->rss_before = r->rss_after = -1;
	size_t k = b->idle_cap;
	if (k < r->asked)
		snprintf(r->note, sizeof r->note,
			 "limited to %zu connections by RLIMIT_NOFILE (%llu)", k,
			 (unsigned long long)b->fd_limit);
	int *fds = malloc(2 * k * sizeof *fds);
	struct pollfd *pf = malloc(k * sizeof *pf);
	int lfd = -1;
	int rc = fds && pf ? rap_tcp_listen("127.0.0.1", "0", 0, &lfd) : RAP_ENOMEM;
	int port = rc < 0 ? rc : rap_tcp_local_port(lfd);
	if (port < 0) {
		stop(r, EX_OSERR, "raw listener: %s", rap_strerror(port));
		goto out;
	}
	char ps[16];
	snprintf(ps, sizeof ps, "%d", port);
	for (size_t i = 0; i < 2 * k; i++)
		fds[i] = -1;
	int *cfds = fds, *sfds = fds + k;
	r->rss_before = rss_kib((long)getpid());
	uint64_t deadline = phase_deadline(b), t0 = now_ns();
	while (r->done < k) {
		uint64_t t = now_ns();
		if (t >= deadline) {
			time_is_up(b, r);
			break;
		}
		uint64_t step = min_u64(deadline, t + SESSION_STALL_MS * 1000000ull);
		size_t i = (size_t)r->done;
		rc = connect_by("127.0.0.1", ps, step, &cfds[i]);
		if (rc == 0 && (rc = accept_by(lfd, step)) >= 0) {
			sfds[i] = rc;
			uint8_t q[RAW_REQ] = { 0 }, a[RAW_REP] = { 0 };
			rc = rap_send_all(cfds[i], q, sizeof q);
			if (rc == 0)
				rc = recv_by(sfds[i], q, sizeof q, step);
			if (rc == 0)
				rc = rap_send_all(sfds[i], a, sizeof a);
			if (rc == 0)
				rc = recv_by(cfds[i], a, sizeof a, step);
		}
		if (rc < 0) {
			stop(r, exit_for(rc), "raw connection %zu: %s", i + 1, rap_strerror(rc));
			close_all(&cfds[i], 1);
			close_all(&sfds[i], 1);
			cfds[i] = sfds[i] = -1;
			break;
		}
		r->done++;
	}
	r->seconds = (double)(now_ns() - t0) / NS_PER_S;
	sleep_ms(SETTLE_MS);
	r->held = count_alive(cfds, (size_t)r->done, pf);
	r->rss_after = rss_kib((long)getpid());
	close_all(fds, 2 * k);
out:
	if (lfd >= 0)
		close(lfd);
	free(fds);
	free(pf);
}

/* ---- phase 5: a polite client beside heavy commands ----------------------------------- */

/* One CMD as a stock client sends it (the text with its NUL), awaited. The reply's text
 * goes to dst (at most cap bytes, NUL included); a longer one is a protocol error here. */
static int wire_cmd(struct wire *w, const char *cmd, char *dst, size_t cap, size_t *len)
{
	uint8_t q[5 + 256];
	struct rap_msg m = {
		.op = RAP_OP_CMD, .len = (uint32_t)strlen(cmd) + 1, .data = (const uint8_t *)cmd,
	};
	ssize_t n = rap_msg_encode(&m, q, sizeof q);
	if (n <= 0)
		return RAP_EINVAL;
	int rc = rap_send_all(w->fd, q, (size_t)n);
	uint8_t h[5];
	if (rc == 0)
		rc = wire_take(w, h, sizeof h);
	if (rc < 0)
		return rc;
	uint32_t l = be32(h + 1);
	if (h[0] != (RAP_OP_CMD | RAP_REPLY) || l > cap)
		return RAP_EPROTO;
	if ((rc = wire_take(w, dst, l)) < 0)
		return rc;
	*len = l;
	return 0;
}

/* What "p8 16 @ off" must print: the bytes as lower-case hex pairs and a newline. */
static bool p8_ok(const struct bench *b, uint64_t off, const char *text, size_t len,
		  uint32_t n)
{
	static const char hex[] = "0123456789abcdef";
	if (len < 2 * (size_t)n + 1 || text[2 * n] != '\n')
		return false;
	for (uint32_t i = 0; i < 2 * n; i++)
		if (!strchr(hex, text[i]) || !text[i])
			return false;
	if (!b->local)
		return true;
	for (uint32_t i = 0; i < n; i++) {
		uint8_t v = b->local[off + i];
		if (text[2 * i] != hex[v >> 4] || text[2 * i + 1] != hex[v & 15])
			return false;
	}
	return true;
}

/* The polite client's two kinds of round trip, alternated until each was timed `polite`
 * times: a stock read (SEEK SET, await, READ 16, await: what radare2 does) and a small
 * command (CMD "p8 16 @ off", awaited), each at a random offset and checked. The pairs are
 * paced over POLITE_WINDOW_MS at least, so that beside heavy commands they sample all of
 * their work rather than a burst at one moment of it (a pair that comes back late starts
 * the next at once). */
static void polite_rounds(struct bench *b, struct wire *w, uint64_t deadline, uint64_t *rng,
			  struct result *rr, struct result *rc_)
{
	rr->ran = rc_->ran = true;
	rr->asked = rc_->asked = b->o.polite;
	uint64_t *lr = malloc((size_t)b->o.polite * sizeof *lr);
	uint64_t *lc = malloc((size_t)b->o.polite * sizeof *lc);
	if (!lr || !lc) {
		stop(rr, EX_OSERR, "out of memory");
		stop(rc_, EX_OSERR, "out of memory");
		free(lr);
		free(lc);
		return;
	}
	uint32_t len = (uint32_t)min_u64(SMALL_LEN, b->size);
	uint8_t buf[SMALL_LEN];
	char text[POLITE_CMD_MAX];
	uint64_t tr = 0, tc = 0;
	uint64_t pace = (uint64_t)POLITE_WINDOW_MS * 1000000u / b->o.polite, start = now_ns();
	for (uint64_t pair = 0; rr->done < rr->asked || rc_->done < rc_->asked; pair++) {
		sleep_until_ns(min_u64(start + pair * pace, deadline));
		if (now_ns() >= deadline) {
			if (rr->done < rr->asked)
				time_is_up(b, rr);
			if (rc_->done < rc_->asked)
				time_is_up(b, rc_);
			break;
		}
		uint64_t off = next_random(rng) % (b->size - len + 1);
		if (rr->done < rr->asked) {
			uint64_t t = now_ns();
			if (wire_read_at(b, w, off, buf, len, rr) < 0)
				break;
			uint64_t e = now_ns();
			if (!data_ok(b, off, buf, len, true)) {
				stop(rr, EX_DATAERR, "data at 0x%" PRIx64 " differs from the local file",
				     off);
				break;
			}
			lr[rr->done++] = e - t;
			tr += e - t;
		}
		if (rc_->done < rc_->asked) {
			char cmd[64];
			snprintf(cmd, sizeof cmd, "p8 %u @ 0x%" PRIx64, len, off);
			size_t tl = 0;
			uint64_t t = now_ns();
			int rc = wire_cmd(w, cmd, text, sizeof text, &tl);
			uint64_t e = now_ns();
			if (rc < 0) {
				call_failed(b, rc_, rc, "polite CMD");
				break;
			}
			if (!p8_ok(b, off, text, tl, len)) {
				text[tl ? tl - 1 : 0] = '\0';
				stop(rc_, EX_DATAERR, "'%s' answered '%.80s' (are commands allowed? "
				     "rapsrv --cmd read)", cmd, text);
				break;
			}
			lc[rc_->done++] = e - t;
			tc += e - t;
		}
	}
	/* A row cut short by the other kind's failure says so rather than look complete. */
	if (rr->done < rr->asked && !rr->exit)
		stop(rr, rc_->exit, "stopped with the CMD round trips (see there)");
	if (rc_->done < rc_->asked && !rc_->exit)
		stop(rc_, rr->exit, "stopped with the read round trips (see there)");
	/* Each row's time is its own round trips: the two kinds are interleaved. */
	rr->seconds = (double)tr / NS_PER_S;
	rc_->seconds = (double)tc / NS_PER_S;
	latency_stats(rr, lr, (size_t)rr->done);
	latency_stats(rc_, lc, (size_t)rc_->done);
	free(lr);
	free(lc);
}

/* A session that runs the heavy command again and again, reading every reply (a client
 * that reads: the server owes it its output) but keeping none of it. */
struct heavy {
	struct bench *b;
	struct rap_client *c;
	pthread_t thread;
	bool joinable;
	atomic_bool *stopping;
	atomic_ullong answered;   /* commands answered so far (read while it runs) */
	uint64_t small;           /* answers too short to be heavy */
	int err;                  /* the call that ended it early, 0 when none */
	char first_small[96];     /* the start of the first short answer */
};

/* Heavy sessions stand for other machines' clients: they run on any CPU, not on the one
 * --cpus gave the measuring thread (whose affinity new threads inherit). */
static void unpin_thread(long cpus)
{
	cpu_set_t set;
	CPU_ZERO(&set);
	for (long i = 0; i < cpus && i < CPU_SETSIZE; i++)
		CPU_SET((int)i, &set);
	pthread_setaffinity_np(pthread_self(), sizeof set, &set);
}

static void *heavy_main(void *arg)
{
	struct heavy *h = arg;
	if (h->b->o.cpu_self >= 0)
		unpin_thread(h->b->cpus);
	while (!atomic_load(h->stopping)) {
		char *out = NULL;
		size_t len = 0;
		int rc = rap_client_cmd(h->c, h->b->o.heavy_cmd, &out, &len);
		if (rc == RAP_ETOOBIG) {
			/* Longer than HEAVY_REPLY_KEEP: read to its end and dropped. */
			atomic_fetch_add(&h->answered, 1);
			continue;
		}
		if (rc < 0) {
			if (!atomic_load(h->stopping))
				h->err = rc;
			break;
		}
		atomic_fetch_add(&h->answered, 1);
		if (!h->small++)
			snprintf(h->first_small, sizeof h->first_small, "%.*s",
				 (int)strcspn(out, "\n"), out);
		free(out);
	}
	return NULL;
}

/* Connects, probes (our server then sends the whole output, as to rapcli) and opens,
 * within SESSION_STALL_MS: a server that serves one client at a time (stock radare2) does
 * not answer while the polite client is connected. */
static struct rap_client *heavy_client(struct bench *b, size_t nth, uint64_t deadline,
				       struct result *r)
{
	uint64_t step = min_u64(deadline, now_ns() + SESSION_STALL_MS * 1000000ull);
	struct rap_client *c = NULL;
	int rc = rap_client_new(&c);
	int fd = -1;
	if (rc == 0)
		rc = rap_client_set_max_reply(c, HEAVY_REPLY_KEEP);
	if (rc == 0 && (rc = connect_by(b->o.host, b->o.port, step, &fd)) == 0 &&
	    (rc = rap_client_attach_fd(c, fd)) < 0)
		close(fd);
	if (rc < 0) {
		stop(r, exit_for(rc), "heavy session %zu: connect: %s", nth, rap_strerror(rc));
		rap_client_free(c);
		return NULL;
	}
	watchdog_arm(&b->wd, fd, step);
	rc = rap_client_probe(c);
	if (rc >= 0)
		rc = rap_client_open(c, b->o.path, OPEN_PERM);
	watchdog_disarm(&b->wd);
	if (rc < 0) {
		if (watchdog_fired(&b->wd) && step < deadline)
			stop(r, EX_TEMPFAIL, "heavy session %zu got no answer within %d ms: the server "
			     "is not serving that many sessions at once", nth, SESSION_STALL_MS);
		else
			call_failed(b, r, rc, "heavy session: probe and OPEN");
		rap_client_free(c);
		return NULL;
	}
	return c;
}

static uint64_t heavy_answered(struct heavy *hs, size_t n)
{
	uint64_t sum = 0;
	for (size_t i = 0; i < n; i++)
		sum += atomic_load(&hs[i].answered);
	return sum;
}

/* The polite client first times its round trips on the idle server, then, on the same
 * connection, while `heavy` other sessions each run the heavy command in a loop: a
 * server that runs commands on its one event-loop thread makes it wait for them. The busy
 * timing starts once every heavy session has had an answer, so that their commands run
 * in earnest (not just begin) while it lasts. Both halves are bounded by --max-seconds
 * (the wait for those first answers by half of it); the heavy sessions are then cut off
 * (shutdown() ends their blocked calls) and joined. */
static void busy_server(struct bench *b)
{
	struct result *h = &b->heavy;
	h->ran = true;
	h->asked = b->o.heavy;
	uint64_t rng = RANDOM_SEED ^ 0x5bd1e995u;
	struct wire *w = calloc(1, sizeof *w);
	struct heavy *hs = calloc(b->o.heavy, sizeof *hs);
	if (!w || !hs) {
		stop(h, EX_OSERR, "out of memory");
		free(w);
		free(hs);
		return;
	}
	w->fd = -1;
	uint64_t deadline = phase_deadline(b);
	progress(b, "busy server: polite client on the idle server");
	if (wire_start(b, w, deadline, &b->polite_read_idle) < 0) {
		wire_end(b, w);
		free(w);
		free(hs);
		return;
	}
	polite_rounds(b, w, deadline, &rng, &b->polite_read_idle, &b->polite_cmd_idle);
	watchdog_disarm(&b->wd);
	if (b->polite_read_idle.exit || b->polite_cmd_idle.exit) {
		stop(h, EX_TEMPFAIL, "not started: the polite client failed on the idle server");
		wire_end(b, w);
		free(w);
		free(hs);
		return;
	}

	progress(b, "busy server: %lu sessions running '%s'", b->o.heavy, b->o.heavy_cmd);
	deadline = phase_deadline(b);
	atomic_bool stopping;
	atomic_init(&stopping, false);
	/* Every session connects, probes and opens before any asks: against a server that
	 * runs commands on its event loop, a later one could not even connect meanwhile. */
	size_t ready = 0, started = 0;
	for (; ready < b->o.heavy; ready++) {
		hs[ready].b = b;
		hs[ready].stopping = &stopping;
		atomic_init(&hs[ready].answered, 0);
		hs[ready].c = heavy_client(b, ready + 1, deadline, h);
		if (!hs[ready].c)
			break;
	}
	for (; ready == b->o.heavy && started < ready; started++) {
		if (pthread_create(&hs[started].thread, NULL, heavy_main, &hs[started]) != 0) {
			stop(h, EX_OSERR, "cannot start a thread");
			break;
		}
		hs[started].joinable = true;
	}
	/* Time the polite client once every heavy session has been answered: its commands
	 * then run in earnest. A server slow to answer them gets half the phase's time. */
	uint64_t warm = now_ns(), warm_end = warm + (deadline - min_u64(warm, deadline)) / 2;
	size_t answered = 0;
	while (started == b->o.heavy && now_ns() < warm_end) {
		answered = 0;
		for (size_t i = 0; i < started; i++)
			answered += atomic_load(&hs[i].answered) > 0;
		if (answered == started)
			break;
		sleep_ms(5);
	}
	if (started == b->o.heavy && answered < started)
		snprintf(h->note, sizeof h->note, "%zu of %zu heavy sessions answered in the first "
			 "%.1f s; the polite client was timed anyway", answered, started,
			 (double)(warm_end - warm) / NS_PER_S);
	uint64_t t0 = now_ns(), before = heavy_answered(hs, started);
	if (started == b->o.heavy) {
		watchdog_arm(&b->wd, w->fd, deadline);
		polite_rounds(b, w, deadline, &rng, &b->polite_read_busy, &b->polite_cmd_busy);
		watchdog_disarm(&b->wd);
	}
	b->heavy_timed = heavy_answered(hs, started) - before;
	h->seconds = (double)(now_ns() - t0) / NS_PER_S;
	if (started == b->o.heavy && b->heavy_timed == 0 && !h->note[0])
		snprintf(h->note, sizeof h->note, "no heavy command was answered while the polite "
			 "client was timed");
	atomic_store(&stopping, true);
	for (size_t i = 0; i < started; i++)
		shutdown(rap_client_fd(hs[i].c), SHUT_RDWR);
	for (size_t i = 0; i < b->o.heavy; i++) {
		if (hs[i].joinable)
			pthread_join(hs[i].thread, NULL);
		h->done += atomic_load(&hs[i].answered);
		b->heavy_small += hs[i].small;
		if (hs[i].err)
			stop(h, exit_for(hs[i].err), "heavy session %zu: %s", i + 1,
			     rap_strerror(hs[i].err));
		if (hs[i].small && !h->note[0])
			snprintf(h->note, sizeof h->note, "%" PRIu64 " answers were short, not heavy: "
				 "'%s'", hs[i].small, hs[i].first_small);
		rap_client_free(hs[i].c);
	}
	wire_end(b, w);
	free(w);
	free(hs);
}

/* ---- rounds --------------------------------------------------------------------------- */

/* Three phases measured against each other: one or two RAP modes and their raw baseline. */
struct group {
	const char *name;
	void (*fn[3])(struct bench *, struct result *);
	const char *label[3];
	struct result *out[3];
	bool on[3];
};

static double per_second(const struct result *r);

static int cmp_rate(const void *a, const void *b)
{
	double x = per_second(a), y = per_second(b);
	return (x > y) - (x < y);
}

/* On two cores a single sample mostly tells where the scheduler put the threads that
 * round (the same loopback transfer runs at 500 or 1100 MB/s depending on it), so each
 * group runs several rounds, its phases interleaved so that a drift of the machine hits
 * RAP and raw alike, and the median round of each phase is reported. A phase that fails or
 * hits its limit is reported as such and not repeated. */
static int run_group(struct bench *b, const struct group *g)
{
	size_t rounds = b->o.rounds;
	struct result *tmp = calloc(3 * rounds, sizeof *tmp);
	if (!tmp)
		return -1;
	size_t n[3] = { 0 };
	bool failed[3] = { false };
	for (size_t round = 0; round < rounds; round++) {
		for (int j = 0; j < 3; j++) {
			if (!g->on[j] || failed[j])
				continue;
			if (rounds > 1)
				progress(b, "%s, round %zu/%zu: %s", g->name, round + 1, rounds,
					 g->label[j]);
			else
				progress(b, "%s: %s", g->name, g->label[j]);
			struct result *r = &tmp[(size_t)j * rounds + n[j]++];
			g->fn[j](b, r);
			failed[j] = r->exit != 0;
		}
	}
	for (int j = 0; j < 3; j++) {
		if (!n[j])
			continue;
		/* Only the last round can have failed: it stopped the repetition. */
		struct result *rs = &tmp[(size_t)j * rounds];
		size_t good = failed[j] ? n[j] - 1 : n[j];
		if (good == 0) {
			*g->out[j] = rs[n[j] - 1];
			continue;
		}
		qsort(rs, good, sizeof *rs, cmp_rate);
		*g->out[j] = rs[good / 2];
		if (failed[j]) {
			/* The figures of the rounds that completed, and why the next one did not. */
			const struct result *f = &rs[n[j] - 1];
			g->out[j]->exit = f->exit;
			snprintf(g->out[j]->note, sizeof g->out[j]->note,
				 "median of %zu complete rounds; round %zu: %.150s", good, n[j], f->note);
		}
	}
	free(tmp);
	return 0;
}

/* ---- output --------------------------------------------------------------------------- */

static bool measured(const struct result *r)
{
	return r->ran && r->done > 0 && r->seconds > 0;
}

static double per_second(const struct result *r)
{
	return measured(r) ? (double)r->done / r->seconds : 0;
}

static const char *status_of(const struct result *r)
{
	if (!r->ran)
		return "skipped";
	if (!r->exit)
		return "ok";
	return r->done ? "partial" : "failed";
}

/* RSS growth per held session, or a negative value when it cannot be told. */
static double rss_per(const struct result *r)
{
	if (!r->ran || r->held == 0 || r->rss_before < 0 || r->rss_after < 0)
		return -1;
	double d = (double)(r->rss_after - r->rss_before) / (double)r->held;
	return d < 0 ? 0 : d;
}

static void fmt_kib(char *out, size_t cap, long kib)
{
	if (kib < 0)
		snprintf(out, cap, "n/a");
	else
		snprintf(out, cap, "%.1f MiB", (double)kib / 1024.0);
}

static void print_bulk_row(const char *name, const struct result *r)
{
	if (!r->ran) {
		printf("  %-40s %12s %9s %10s  %s\n", name, "-", "-", "-", "skipped");
		return;
	}
	char rate[32] = "n/a";
	if (measured(r))
		snprintf(rate, sizeof rate, "%.1f", per_second(r) / 1e6);
	printf("  %-40s %12" PRIu64 " %9.3f %10s  %s\n", name, r->done, r->seconds, rate,
	       status_of(r));
}

static void print_ops_row(const char *name, const struct result *r)
{
	if (!r->ran) {
		printf("  %-40s %8s %8s %10s %8s %8s %8s %9s  %s\n", name, "-", "-", "-", "-", "-",
		       "-", "-", "skipped");
		return;
	}
	char rate[32] = "n/a";
	if (measured(r))
		snprintf(rate, sizeof rate, "%.0f", per_second(r));
	if (r->has_lat)
		printf("  %-40s %8" PRIu64 " %8.3f %10s %8.1f %8.1f %8.1f %9.1f  %s\n", name,
		       r->done, r->seconds, rate, r->p50, r->p90, r->p99, r->max, status_of(r));
	else
		printf("  %-40s %8" PRIu64 " %8.3f %10s %8s %8s %8s %9s  %s\n", name, r->done,
		       r->seconds, rate, "n/a", "n/a", "n/a", "n/a", status_of(r));
}

static void print_held_row(const char *name, const struct result *r)
{
	if (!r->ran) {
		printf("  %-34s %13s %9s %11s %11s %12s  %s\n", name, "-", "-", "-", "-", "-",
		       "skipped");
		return;
	}
	char held[40], before[24], after[24], per[24] = "n/a";
	snprintf(held, sizeof held, "%" PRIu64 "/%" PRIu64, r->held, r->asked);
	fmt_kib(before, sizeof before, r->rss_before);
	fmt_kib(after, sizeof after, r->rss_after);
	if (rss_per(r) >= 0)
		snprintf(per, sizeof per, "%.2f KiB", rss_per(r));
	printf("  %-34s %13s %9.3f %11s %11s %12s  %s\n", name, held, r->seconds, before, after,
	       per, status_of(r));
}

/* a/b of two rates, or a negative value when either is missing. */
static double ratio(double a, double b)
{
	return a > 0 && b > 0 ? a / b : -1;
}

static void print_ratio(const char *name, double v, const char *extra)
{
	if (v < 0)
		printf("  %-52s %8s\n", name, "n/a");
	else
		printf("  %-52s %8.3f%s\n", name, v, extra);
}

static const char *stock_bulk_name(const struct bench *b)
{
	return b->o.r2_exact ? "rap stock: SEEK SET, SEEK CUR, READ 4096"
			     : "rap stock: SEEK SET, READ 4096, awaited";
}

static const char *stock_small_name(const struct bench *b)
{
	return b->o.r2_exact ? "rap stock: SEEK SET, SEEK CUR, READ 16"
			     : "rap stock: SEEK SET, then READ 16";
}

static double lat_ratio(const struct result *a, const struct result *b, int which)
{
	if (!a->has_lat || !b->has_lat)
		return -1;
	return which == 50 ? ratio(a->p50, b->p50) : ratio(a->p99, b->p99);
}

/* GB/s (10^9 bytes) of a search, or a negative value when it was not measured. */
static double search_rate(const struct search_figures *s, double secs)
{
	return s->ran && !s->exit && secs > 0 ? (double)s->bytes / secs / 1e9 : -1;
}

static void print_search(const struct search_figures *s)
{
	printf("\n  %-52s %8s %8s  %s\n", "local search (GB = 10^9 bytes)", "seconds", "GB/s", "status");
	if (!s->ran) {
		printf("  %-52s %8s %8s  %s\n", "rap /x 8 bytes (librap-core, 1 MiB chunks)", "-", "-", "skipped");
		printf("  %-52s %8s %8s  %s\n", "memmem loop over the mapped file", "-", "-", "skipped");
		return;
	}
	const char *st = s->exit ? "failed" : "ok";
	char what[80];
	snprintf(what, sizeof what, "rap /x 8 bytes over %.2f GiB (%llu hits)", (double)s->bytes / (1u << 30),
		 (unsigned long long)s->rap_hits);
	double rr = search_rate(s, s->rap_s), mr = search_rate(s, s->memmem_s);
	if (s->exit) {
		printf("  %-52s %8s %8s  %s\n", what, "n/a", "n/a", st);
		printf("  %-52s %8s %8s  %s\n", "memmem loop over the mapped file", "n/a", "n/a", st);
		printf("  note: %s\n", s->note);
		return;
	}
	printf("  %-52s %8.3f %8.2f  %s\n", what, s->rap_s, rr, st);
	printf("  %-52s %8.3f %8.2f  %s\n", "memmem loop over the mapped file", s->memmem_s, mr, st);
	char target[64];
	snprintf(target, sizeof target, "   (rap >= 1 GB/s: %s)", rr >= 1.0 ? "met" : "NOT met");
	printf("\nratio to memmem, same run (median of %u rounds)\n", s->rounds);
	print_ratio("search GB/s: rap /x / memmem", ratio(rr, mr), target);
}

/* The polite rows' names, with the heavy session count. */
static void busy_names(const struct bench *b, char names[4][48])
{
	snprintf(names[0], 48, "polite stock read 16, idle server");
	snprintf(names[1], 48, "polite stock read 16, %lu heavy sessions", b->o.heavy);
	snprintf(names[2], 48, "polite CMD p8 16, idle server");
	snprintf(names[3], 48, "polite CMD p8 16, %lu heavy sessions", b->o.heavy);
}

/* A busy row that ran out of --max-seconds: its round trips took longer than any target
 * (the p99 of the ones that finished, if any, says too little). */
static bool busy_timed_out(const struct bench *b)
{
	return b->polite_read_busy.exit == EX_TEMPFAIL || b->polite_cmd_busy.exit == EX_TEMPFAIL;
}

/* The larger of the two busy p99s, in ms, or -1 when either is missing. */
static double busy_p99_ms(const struct bench *b)
{
	const struct result *r = &b->polite_read_busy, *c = &b->polite_cmd_busy;
	if (!r->has_lat || !c->has_lat)
		return -1;
	return (r->p99 > c->p99 ? r->p99 : c->p99) / 1000.0;
}

/* The relay rows: through the relay and with the plugin, beside the direct figures. */
static void print_relay(const struct bench *b)
{
	const struct options *o = &b->o;
	printf("\n  %-40s %12s %9s %10s  %s\n", "relay and plugin reads (MB = 10^6 bytes)", "bytes", "seconds",
	       "MB/s", "status");
	print_bulk_row("stock 4096/round trip, through the relay", &b->bulk_relay);
	print_bulk_row("rap:// plugin (cached, as rapcli)", &b->bulk_plugin);
	const struct rap_relay_stats *u = &b->bulk_relay.upstream;
	if (b->bulk_relay.ran)
		printf("  the relay asked the server %" PRIu64 " reads (%" PRIu64 " bytes) for %" PRIu64
		       " client reads; %s upstream\n", u->reads, u->read_bytes, b->bulk_relay.done / RAP_PACKET_MAX,
		       u->extension ? "extension" : "stock protocol");
	if (o->link.rate_mbit > 0) {
		double link = o->link.rate_mbit * 1e6 / 8;
		printf("  of the link's rate (%.1f MB/s): through the relay %.0f%%, plugin %.0f%%, direct stock "
		       "%.0f%%\n", link / 1e6, 100 * ratio(per_second(&b->bulk_relay), link),
		       100 * ratio(per_second(&b->bulk_plugin), link), 100 * ratio(per_second(&b->bulk_stock), link));
	} else if (b->bulk_stock.ran) {
		printf("  through the relay over direct (stock reads): %.2f\n",
		       ratio(per_second(&b->bulk_relay), per_second(&b->bulk_stock)));
	}
	if (b->open_relay.ran) {
		const struct rap_relay_stats *v = &b->open_relay.upstream;
		printf("  stock open through the relay: %" PRIu64 " requests answered in %.3f s  %s\n"
		       "  (direct: %.3f s); the relay asked the server %" PRIu64 " reads (%" PRIu64
		       " bytes) and %" PRIu64 " commands\n",
		       b->open_relay.done, b->open_relay.seconds, status_of(&b->open_relay), b->open_replay.seconds,
		       v->reads, v->read_bytes, v->cmds);
		if (!wan(o) && b->open_replay.ran)
			printf("  through the relay over direct (open replay): %.2f\n",
			       ratio(per_second(&b->open_relay), per_second(&b->open_replay)));
	}
}

static void print_human(const struct bench *b)
{
	const struct options *o = &b->o;
	char pid[32] = "n/a";
	if (o->server_pid > 0)
		snprintf(pid, sizeof pid, "%ld", o->server_pid);
	printf("rapbench %s: server %s:%s (pid %s), file %s (%" PRIu64 " bytes)\n",
	       RAP_VERSION_STRING, o->host, o->port, pid, o->path, b->size);
	if (b->busy_cpus >= 0)
		printf("machine: %ld CPUs, %.2f of them busy with other work at start%s\n", b->cpus,
		       b->busy_cpus, b->busy_cpus > 0.25 ? " (expect noisy ratios)" : "");
	printf("placement: %s\n", b->placement);
	if (b->idle_rss >= 0)
		printf("server idle, before any session: RSS %ld KiB (PSS %ld KiB), of it private anonymous "
		       "%ld KiB\n", b->idle_rss, b->idle_pss, b->idle_anon);
	if (wan(o)) {
		char rate[32] = "unlimited";
		if (o->link.rate_mbit > 0)
			snprintf(rate, sizeof rate, "%g Mbit/s", o->link.rate_mbit);
		printf("link: emulated by rapbench (bench/link.c), RTT %g ms, %s each way, in front of "
		       "%s:%s and of the raw-TCP baselines; idle sessions, busy server and search "
		       "skipped\n",
		       o->link.rtt_ms, rate, b->server_host, b->server_port);
	}
	printf("bounds: %" PRIu64 " bytes per bulk mode, %lu small reads, %lu sessions, "
	       "%lu polite round trips of each kind beside %lu heavy sessions, %g s per phase; "
	       "median of %lu rounds\ndata checked %s\n",
	       o->bytes, o->small, o->sessions, o->polite, o->heavy, o->max_seconds, o->rounds,
	       b->verify_note);

	printf("\n  %-40s %12s %9s %10s  %s\n", "bulk read (MB = 10^6 bytes)", "bytes", "seconds",
	       "MB/s", "status");
	print_bulk_row("rap read_at (SEEK+READ 4096, pipelined)", &b->bulk_pipe);
	print_bulk_row(stock_bulk_name(b), &b->bulk_stock);
	print_bulk_row("raw tcp: 4096-byte writes", &b->bulk_raw);
	if (o->link.rate_mbit > 0 && b->bulk_raw.ran) {
		double link = o->link.rate_mbit * 1e6 / 8;
		printf("  of the link's rate (%.1f MB/s): rap read_at %.0f%%, rap stock %.0f%%, raw tcp "
		       "%.0f%%\n", link / 1e6, 100 * ratio(per_second(&b->bulk_pipe), link),
		       100 * ratio(per_second(&b->bulk_stock), link), 100 * ratio(per_second(&b->bulk_raw), link));
	}
	if (b->open_replay.ran) {
		const struct open_pattern *pt = &b->pattern;
		printf("\n  stock open replayed from %s: %zu requests (%zu OPEN, %zu CMD, %zu SEEK, %zu READ),\n"
		       "  one per round trip: %" PRIu64 " answered in %.3f s (%.0f per second)  %s\n",
		       o->open_transcript, pt->n, pt->opens, pt->cmds, pt->seeks, pt->reads, b->open_replay.done,
		       b->open_replay.seconds, measured(&b->open_replay) ? per_second(&b->open_replay) : 0.0,
		       status_of(&b->open_replay));
		if (o->link.rtt_ms > 0)
			printf("  the link's floor for it: %zu round trips x %g ms = %.1f s\n", pt->n, o->link.rtt_ms,
			       (double)pt->n * o->link.rtt_ms / 1000);
	}

	if (o->relay)
		print_relay(b);

	if (o->write_path[0]) {
		printf("\n  %-40s %12s %9s %10s  %s\n", "bulk write (MB = 10^6 bytes)", "bytes",
		       "seconds", "MB/s", "status");
		print_bulk_row("rap write_at: WRITE 4096, pipelined", &b->write_small);
		print_bulk_row("  same, server with --sync", &b->write_small_sync);
		print_bulk_row("raw tcp (baseline of the 4096 rows)", &b->write_small_raw);
		print_bulk_row("rap write_at: WRITE 1 MiB (extension)", &b->write_large);
		print_bulk_row("  same, server with --sync", &b->write_large_sync);
		print_bulk_row("raw tcp (baseline of the 1 MiB rows)", &b->write_large_raw);
	}

	printf("\n  %-40s %8s %8s %10s %8s %8s %8s %9s  %s\n", "small round trips (us)", "ops",
	       "seconds", "ops/s", "p50", "p90", "p99", "max", "status");
	print_ops_row("rap read_at: SEEK+READ 16, one trip", &b->small_lib);
	print_ops_row(stock_small_name(b), &b->small_stock);
	print_ops_row("raw tcp ping-pong: 16 B -> 21 B", &b->small_raw);

	printf("\n  %-34s %13s %9s %11s %11s %12s  %s\n", "idle sessions", "held/asked",
	       "setup s", "RSS before", "RSS after", "per session", "status");
	print_held_row("rap sessions (server RSS)", &b->sessions);
	print_held_row("raw tcp pairs (own RSS)", &b->idle_raw);

	char busy[4][48];
	busy_names(b, busy);
	printf("\n  %-40s %8s %8s %10s %8s %8s %8s %9s  %s\n", "busy server: polite client (us)",
	       "ops", "seconds", "ops/s", "p50", "p90", "p99", "max", "status");
	print_ops_row(busy[0], &b->polite_read_idle);
	print_ops_row(busy[1], &b->polite_read_busy);
	print_ops_row(busy[2], &b->polite_cmd_idle);
	print_ops_row(busy[3], &b->polite_cmd_busy);
	if (b->heavy.ran)
		printf("  heavy sessions: %lu running '%s': %" PRIu64 " answered in the %.3f s the "
		       "polite client was timed, %" PRIu64 " in all  %s\n", b->o.heavy,
		       b->o.heavy_cmd, b->heavy_timed, b->heavy.seconds, b->heavy.done,
		       status_of(&b->heavy));
	else
		printf("  heavy sessions: skipped\n");

	const struct result *notes[] = { &b->bulk_pipe, &b->bulk_stock, &b->bulk_raw,
					 &b->small_lib, &b->small_stock, &b->small_raw,
					 &b->sessions, &b->idle_raw, &b->polite_read_idle,
					 &b->polite_read_busy, &b->polite_cmd_idle,
					 &b->polite_cmd_busy, &b->heavy,
					 &b->write_small, &b->write_small_sync, &b->write_small_raw,
					 &b->write_large, &b->write_large_sync, &b->write_large_raw };
	const char *names[] = { "rap read_at bulk", "rap stock bulk", "raw bulk",
				"rap read_at small", "rap stock small", "raw ping-pong",
				"rap sessions", "raw idle", busy[0], busy[1], busy[2], busy[3],
				"heavy sessions",
				"rap write 4096", "rap write 4096 --sync", "raw (write 4096)",
				"rap write 1 MiB", "rap write 1 MiB --sync", "raw (write 1 MiB)" };
	bool header = false;
	for (size_t i = 0; i < sizeof notes / sizeof notes[0]; i++) {
		if (!notes[i]->note[0])
			continue;
		if (!header)
			printf("\nnotes:\n");
		header = true;
		printf("  %s: %s\n", names[i], notes[i]->note);
	}

	double small = ratio(per_second(&b->small_lib), per_second(&b->small_raw));
	char target[64] = "";
	if (small >= 0)
		snprintf(target, sizeof target, "   (target >= 0.70: %s)",
			 small >= 0.70 ? "met" : "NOT met");
	printf("\nratios to raw tcp, same run\n");
	print_ratio("bulk MB/s: rap read_at / raw",
		    ratio(per_second(&b->bulk_pipe), per_second(&b->bulk_raw)), "");
	print_ratio("bulk MB/s: rap stock one-at-a-time / raw",
		    ratio(per_second(&b->bulk_stock), per_second(&b->bulk_raw)), "");
	print_ratio("small-read rate: rap read_at / raw ping-pong", small, target);
	print_ratio("small-read rate: rap stock / raw ping-pong",
		    ratio(per_second(&b->small_stock), per_second(&b->small_raw)), "");
	print_ratio("p50 latency: rap read_at / raw ping-pong",
		    lat_ratio(&b->small_lib, &b->small_raw, 50), "");
	print_ratio("p99 latency: rap read_at / raw ping-pong",
		    lat_ratio(&b->small_lib, &b->small_raw, 99), "");
	char per_s[24] = "n/a", per_r[24] = "n/a";
	if (rss_per(&b->sessions) >= 0)
		snprintf(per_s, sizeof per_s, "%.2f KiB", rss_per(&b->sessions));
	if (rss_per(&b->idle_raw) >= 0)
		snprintf(per_r, sizeof per_r, "%.2f KiB", rss_per(&b->idle_raw));
	printf("  %-52s %s vs %s\n", "RSS per idle session: rap server vs raw pair", per_s,
	       per_r);
	print_search(&b->search);

	printf("\npolite client beside %lu heavy sessions, against the idle server, same run\n",
	       b->o.heavy);
	print_ratio("p50 latency, stock read 16: busy / idle",
		    lat_ratio(&b->polite_read_busy, &b->polite_read_idle, 50), "");
	print_ratio("p99 latency, stock read 16: busy / idle",
		    lat_ratio(&b->polite_read_busy, &b->polite_read_idle, 99), "");
	print_ratio("p50 latency, CMD p8 16: busy / idle",
		    lat_ratio(&b->polite_cmd_busy, &b->polite_cmd_idle, 50), "");
	print_ratio("p99 latency, CMD p8 16: busy / idle",
		    lat_ratio(&b->polite_cmd_busy, &b->polite_cmd_idle, 99), "");
	double p99 = busy_p99_ms(b);
	if (busy_timed_out(b))
		printf("  %-52s %8s   (target < %.0f ms: NOT met: round trips still unanswered "
		       "at --max-seconds)\n", "p99 latency while busy, the worse kind (ms)", "n/a",
		       BUSY_TARGET_MS);
	else if (p99 < 0)
		printf("  %-52s %8s\n", "p99 latency while busy, the worse kind (ms)", "n/a");
	else
		printf("  %-52s %8.1f   (target < %.0f ms: %s)\n",
		       "p99 latency while busy, the worse kind (ms)", p99, BUSY_TARGET_MS,
		       p99 < BUSY_TARGET_MS ? "met" : "NOT met");
	if (o->write_path[0]) {
		print_ratio("write MB/s, WRITE 4096: rap / raw",
			    ratio(per_second(&b->write_small), per_second(&b->write_small_raw)), "");
		print_ratio("write MB/s, WRITE 4096: --sync / without",
			    ratio(per_second(&b->write_small_sync), per_second(&b->write_small)), "");
		print_ratio("write MB/s, WRITE 1 MiB: rap / raw",
			    ratio(per_second(&b->write_large), per_second(&b->write_large_raw)), "");
		print_ratio("write MB/s, WRITE 1 MiB: --sync / without",
			    ratio(per_second(&b->write_large_sync), per_second(&b->write_large)), "");
	}
}

static void json_str(const char *s)
{
	putchar('"');
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\')
			printf("\\%c", c);
		else if (c < 0x20)
			printf("\\u%04x", c);
		else
			putchar(c);
	}
	putchar('"');
}

/* A number, or null when v < 0 (the convention for "not measured" throughout). */
static void json_num(const char *key, double v, bool comma)
{
	printf("\"%s\":", key);
	if (v < 0)
		printf("null");
	else
		printf("%.3f", v);
	if (comma)
		putchar(',');
}

static void json_common(const char *key, const struct result *r)
{
	printf("\"%s\":{\"status\":\"%s\",\"exit\":%d,\"note\":", key, status_of(r), r->exit);
	json_str(r->note);
	printf(",\"asked\":%" PRIu64 ",\"done\":%" PRIu64 ",", r->asked, r->done);
	json_num("seconds", r->ran ? r->seconds : -1, true);
}

static void json_bulk(const char *key, const struct result *r, bool comma)
{
	json_common(key, r);
	json_num("mb_per_s", measured(r) ? per_second(r) / 1e6 : -1, false);
	printf("}%s", comma ? "," : "");
}

static void json_ops(const char *key, const struct result *r, bool comma)
{
	json_common(key, r);
	json_num("ops_per_s", measured(r) ? per_second(r) : -1, true);
	json_num("p50_us", r->has_lat ? r->p50 : -1, true);
	json_num("p90_us", r->has_lat ? r->p90 : -1, true);
	json_num("p99_us", r->has_lat ? r->p99 : -1, true);
	json_num("max_us", r->has_lat ? r->max : -1, false);
	printf("}%s", comma ? "," : "");
}

static void json_held(const char *key, const struct result *r, bool comma)
{
	json_common(key, r);
	printf("\"held\":%" PRIu64 ",", r->held);
	json_num("rss_before_kib", r->ran ? (double)r->rss_before : -1, true);
	json_num("rss_after_kib", r->ran ? (double)r->rss_after : -1, true);
	json_num("rss_per_session_kib", rss_per(r), false);
	printf("}%s", comma ? "," : "");
}

static void print_json(const struct bench *b)
{
	const struct options *o = &b->o;
	printf("{\"rapbench\":\"%s\",\"server\":{\"host\":", RAP_VERSION_STRING);
	json_str(o->host);
	printf(",\"port\":%s,\"pid\":", o->port);
	if (o->server_pid > 0)
		printf("%ld", o->server_pid);
	else
		printf("null");
	printf("},\"path\":");
	json_str(o->path);
	printf(",\"file_size\":%" PRIu64 ",\"cpus\":%ld,", b->size, b->cpus);
	json_num("busy_cpus", b->busy_cpus, true);
	json_num("server_idle_rss_kib", (double)b->idle_rss, true);
	json_num("server_idle_pss_kib", (double)b->idle_pss, true);
	json_num("server_idle_anon_kib", (double)b->idle_anon, true);
	printf("\"placement\":");
	json_str(b->placement);
	printf(",");
	printf("\"verify\":");
	json_str(b->verify_note);
	printf(",\"config\":{\"bytes\":%" PRIu64 ",\"search_bytes\":%" PRIu64 ",\"small\":%lu,\"sessions\":%lu,"
	       "\"heavy\":%lu,\"polite\":%lu,"
	       "\"rounds\":%lu,\"max_seconds\":%g,\"pipeline\":%s,\"r2_exact\":%s,"
	       "\"write_bytes\":%" PRIu64 ",\"write_path\":",
	       o->bytes, o->search_bytes, o->small, o->sessions, o->heavy, o->polite, o->rounds, o->max_seconds,
	       o->pipeline ? "true" : "false",
	       o->r2_exact ? "true" : "false", o->write_path[0] ? o->write_bytes : 0);
	if (o->write_path[0])
		json_str(o->write_path);
	else
		printf("null");
	printf(",\"sync_server\":");
	if (o->sync_port[0]) {
		printf("{\"host\":");
		json_str(o->sync_host);
		printf(",\"port\":%s}", o->sync_port);
	} else {
		printf("null");
	}
	printf("},");
	printf("\"rap\":{");
	json_bulk("bulk_pipelined", &b->bulk_pipe, true);
	json_bulk("bulk_stock", &b->bulk_stock, true);
	json_ops("small_pipelined", &b->small_lib, true);
	json_ops("small_stock", &b->small_stock, true);
	json_held("sessions", &b->sessions, true);
	json_bulk("write_4k", &b->write_small, true);
	json_bulk("write_4k_sync", &b->write_small_sync, true);
	json_bulk("write_1m", &b->write_large, true);
	json_bulk("write_1m_sync", &b->write_large_sync, true);
	json_ops("open_replay", &b->open_replay, false);
	printf("},\"relay\":");
	if (o->relay) {
		printf("{\"bytes\":%" PRIu64 ",", relay_bytes(b));
		json_bulk("bulk_stock", &b->bulk_relay, true);
		json_bulk("bulk_plugin", &b->bulk_plugin, true);
		json_ops("open_replay", &b->open_relay, true);
		printf("\"open_upstream_reads\":%" PRIu64 ",\"open_upstream_cmds\":%" PRIu64
		       ",\"bulk_upstream_reads\":%" PRIu64 ",",
		       b->open_relay.upstream.reads, b->open_relay.upstream.cmds, b->bulk_relay.upstream.reads);
		double link = o->link.rate_mbit > 0 ? o->link.rate_mbit * 1e6 / 8 : -1;
		json_num("bulk_stock_of_link", link > 0 ? ratio(per_second(&b->bulk_relay), link) : -1, true);
		json_num("bulk_plugin_of_link", link > 0 ? ratio(per_second(&b->bulk_plugin), link) : -1, true);
		json_num("bulk_stock_over_direct", ratio(per_second(&b->bulk_relay), per_second(&b->bulk_stock)), true);
		json_num("open_over_direct", ratio(per_second(&b->open_relay), per_second(&b->open_replay)), false);
		printf("}");
	} else {
		printf("null");
	}
	printf(",\"link\":");
	if (wan(o)) {
		printf("{\"rtt_ms\":%g,\"rate_mbit\":%g,\"server\":{\"host\":", o->link.rtt_ms, o->link.rate_mbit);
		json_str(b->server_host);
		printf(",\"port\":%s}}", b->server_port);
	} else {
		printf("null");
	}
	printf(",\"raw\":{");
	json_bulk("bulk", &b->bulk_raw, true);
	json_ops("pingpong", &b->small_raw, true);
	json_held("idle", &b->idle_raw, true);
	json_bulk("write_4k", &b->write_small_raw, true);
	json_bulk("write_1m", &b->write_large_raw, false);
	printf("},\"busy\":{\"heavy_sessions\":%lu,\"heavy_command\":", o->heavy);
	json_str(o->heavy_cmd);
	printf(",\"polite\":%lu,", o->polite);
	json_common("heavy", &b->heavy);
	printf("\"answered\":%" PRIu64 ",\"answered_while_timed\":%" PRIu64
	       ",\"short_answers\":%" PRIu64 "},", b->heavy.done, b->heavy_timed, b->heavy_small);
	json_ops("polite_read_idle", &b->polite_read_idle, true);
	json_ops("polite_read_busy", &b->polite_read_busy, true);
	json_ops("polite_cmd_idle", &b->polite_cmd_idle, true);
	json_ops("polite_cmd_busy", &b->polite_cmd_busy, false);
	double small = ratio(per_second(&b->small_lib), per_second(&b->small_raw));
	printf("},\"ratios\":{");
	json_num("bulk_pipelined", ratio(per_second(&b->bulk_pipe), per_second(&b->bulk_raw)), true);
	json_num("bulk_stock", ratio(per_second(&b->bulk_stock), per_second(&b->bulk_raw)), true);
	json_num("small_rate", small, true);
	json_num("small_rate_target", 0.70, true);
	printf("\"small_rate_target_met\":%s,", small < 0 ? "null" : small >= 0.70 ? "true" : "false");
	json_num("small_stock_rate",
		 ratio(per_second(&b->small_stock), per_second(&b->small_raw)), true);
	json_num("p50_latency", lat_ratio(&b->small_lib, &b->small_raw, 50), true);
	json_num("p99_latency", lat_ratio(&b->small_lib, &b->small_raw, 99), true);
	json_num("write_4k", ratio(per_second(&b->write_small), per_second(&b->write_small_raw)), true);
	json_num("write_4k_sync_cost",
		 ratio(per_second(&b->write_small_sync), per_second(&b->write_small)), true);
	json_num("write_1m", ratio(per_second(&b->write_large), per_second(&b->write_large_raw)), true);
	json_num("write_1m_sync_cost",
		 ratio(per_second(&b->write_large_sync), per_second(&b->write_large)), true);
	json_num("polite_read_p99_busy_over_idle",
		 lat_ratio(&b->polite_read_busy, &b->polite_read_idle, 99), true);
	json_num("polite_cmd_p99_busy_over_idle",
		 lat_ratio(&b->polite_cmd_busy, &b->polite_cmd_idle, 99), true);
	double p99 = busy_p99_ms(b);
	json_num("polite_p99_busy_ms", p99, true);
	json_num("polite_p99_busy_target_ms", BUSY_TARGET_MS, true);
	printf("\"polite_p99_busy_target_met\":%s,",
	       busy_timed_out(b) ? "false" : p99 < 0 ? "null" : p99 < BUSY_TARGET_MS ? "true" : "false");
	const struct search_figures *sf = &b->search;
	double rr = search_rate(sf, sf->rap_s), mr = search_rate(sf, sf->memmem_s);
	json_num("search_rap_memmem", ratio(rr, mr), false);
	printf("},\"search\":{\"status\":\"%s\",\"exit\":%d,\"note\":",
	       !sf->ran ? "skipped" : sf->exit ? "failed" : "ok", sf->exit);
	json_str(sf->note);
	printf(",\"bytes\":%" PRIu64 ",\"rounds\":%u,\"hits\":%" PRIu64 ",", sf->bytes, sf->rounds, sf->rap_hits);
	json_num("rap_gb_per_s", rr, true);
	json_num("memmem_gb_per_s", mr, true);
	printf("\"rap_target_met\":%s}}\n", rr < 0 ? "null" : rr >= 1.0 ? "true" : "false");
}

/* ---- command line --------------------------------------------------------------------- */

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: rapbench [OPTIONS] [rap://]HOST:PORT[/PATH] [PATH]\n"
		"Measure a RAP server on this machine against raw TCP, in one run: bulk reads,\n"
		"small-read rate and latency, the memory of many idle sessions, a polite\n"
		"client's latency while other sessions run heavy commands, a local search\n"
		"(/x through librap-core) against a memmem loop over the same file, and with\n"
		"--write bulk writes (and the cost of rapsrv --sync, with --sync-server).\n"
		"HOST must be loopback: 127.0.0.0/8, ::1 or localhost. PATH is the file the server\n"
		"opens (absolute paths are also checked against the local copy).\n"
		"\n"
		"      --bytes SIZE         bytes per bulk mode, the file re-read as needed\n"
		"                           (default 256M; k/M/G suffixes; 0 skips bulk)\n"
		"      --small N            small-read round trips (default 20000; 0 skips)\n"
		"      --sessions K         idle sessions to hold (default 1000; 0 skips)\n"
		"      --search-bytes SIZE  size of the file the local search phase writes to\n"
		"                           $TMPDIR (default 1G; k/M/G; at least 4k; 0 skips)\n"
		"      --heavy K            sessions running a heavy command while the polite\n"
		"                           client is timed (default 4; 0 skips)\n"
		"      --heavy-cmd CMD      their command (default 'px 0x1000000')\n"
		"      --polite N           polite round trips of each kind, on the idle server\n"
		"                           and beside the heavy sessions (default 500; 0 skips)\n"
		"      --server-pid PID     read the server's RSS from /proc/PID/status\n"
		"      --rounds N           repeat the bulk, write and small phases N times,\n"
		"                           interleaved, and report the median round (default 3)\n"
		"      --max-seconds S      wall-time limit of each phase and round (default 60)\n"
		"      --cpus A,B           run the measuring thread on CPU A and the raw peers on\n"
		"                           CPU B; start the server on B (taskset -c B) too\n"
		"      --no-pipeline        only the stock one-request-per-round-trip modes\n"
		"      --r2-exact           stock modes also send SEEK CUR 0 before each READ,\n"
		"                           exactly as radare2 6.x does\n"
		"      --no-verify          do not compare replies with the local file\n"
		"      --write WPATH        also measure pipelined WRITEs into WPATH, a file of at\n"
		"                           least 4 MiB on a server started with -w (overwritten)\n"
		"      --write-bytes SIZE   bytes per write mode (default 8M; k/M/G suffixes)\n"
		"      --sync-server [HOST:]PORT  a second server, started with -w --sync, serving\n"
		"                           WPATH too: its writes are measured next to the first's\n"
		"      --rtt MS             put an emulated link with this round-trip time between\n"
		"                           every client and its server (raw TCP baselines too);\n"
		"                           skips the idle-session, busy-server and search phases\n"
		"      --rate MBIT          the emulated link's rate in Mbit/s each way\n"
		"      --open-transcript F  replay the requests of a stock client's open recorded\n"
		"                           in F (test/vectors/r2/open-ro.txt), one per round trip\n"
		"      --relay              also measure through a caching relay of rapbench's own\n"
		"                           (rapsrv --upstream's code) and with the rap:// plugin\n"
		"      --relay-bytes SIZE   bytes per relay and plugin bulk mode, at most the file\n"
		"                           (default 64M)\n"
		"      --json               print one JSON object instead of the table\n"
		"  -q, --quiet              no progress lines on stderr\n"
		"  -h, --help               show this help and exit\n"
		"  -V, --version            show the version and exit\n"
		"\n"
		"Exit: 0 all phases complete, 64 usage, 66 the server cannot open PATH, 69 server\n"
		"unreachable, 65 data mismatch, 76 protocol error, 71 local OS error,\n"
		"75 a phase stopped early (time limit, stall; its partial figures are printed).\n");
}

static int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int usage_error(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "%s: ", progname);
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\nTry '%s --help'.\n", progname);
	va_end(ap);
	return EX_USAGE;
}

static int parse_count(const char *opt, const char *s, uint64_t max, bool suffixes,
		       uint64_t *out)
{
	if (!*s || *s == '-' || *s == '+')
		return usage_error("%s: not a number: '%s'", opt, s);
	errno = 0;
	char *end;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || end == s)
		return usage_error("%s: not a number: '%s'", opt, s);
	unsigned shift = 0;
	if (suffixes && *end) {
		switch (*end) {
		case 'k': case 'K': shift = 10; break;
		case 'm': case 'M': shift = 20; break;
		case 'g': case 'G': shift = 30; break;
		default: return usage_error("%s: bad suffix in '%s'", opt, s);
		}
		end++;
	}
	if (*end)
		return usage_error("%s: not a number: '%s'", opt, s);
	if (v > (max >> shift))
		return usage_error("%s: at most %" PRIu64, opt, max);
	*out = (uint64_t)v << shift;
	return 0;
}

static bool loopback_sockaddr(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *s4 = (const struct sockaddr_in *)(const void *)sa;
		return (ntohl(s4->sin_addr.s_addr) >> 24) == 127;
	}
	if (sa->sa_family == AF_INET6) {
		const struct in6_addr *a = &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr;
		return IN6_IS_ADDR_LOOPBACK(a) || (IN6_IS_ADDR_V4MAPPED(a) && a->s6_addr[12] == 127);
	}
	return false;
}

/* Literals are judged as written; "localhost" only when every address it resolves to is
 * loopback, since rap_tcp_connect may try each of them. Other names are refused without a
 * lookup: the answer could change between our check and the connect. */
static bool host_is_loopback(const char *host)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICHOST };
	if (strcasecmp(host, "localhost") == 0)
		hints.ai_flags = 0;
	struct addrinfo *res = NULL;
	if (getaddrinfo(host, NULL, &hints, &res) != 0 || !res)
		return false;
	bool ok = true;
	for (struct addrinfo *ai = res; ai; ai = ai->ai_next)
		ok = ok && loopback_sockaddr(ai->ai_addr);
	freeaddrinfo(res);
	return ok;
}

enum {
	OPT_BYTES = 256, OPT_SMALL, OPT_SESSIONS, OPT_PID, OPT_MAXSEC, OPT_NOPIPE, OPT_R2,
	OPT_NOVERIFY, OPT_JSON, OPT_ROUNDS, OPT_CPUS, OPT_SEARCH, OPT_HEAVY, OPT_HEAVY_CMD, OPT_POLITE,
	OPT_WRITE, OPT_WRITE_BYTES, OPT_SYNC_SERVER, OPT_RTT, OPT_RATE, OPT_OPEN_TRANSCRIPT,
	OPT_RELAY, OPT_RELAY_BYTES,
};

/* Returns 0 to run, -1 after --help/--version, or a sysexits code. */
static int parse_args(int argc, char **argv, struct options *o)
{
	static const struct option longopts[] = {
		{ "bytes", required_argument, NULL, OPT_BYTES },
		{ "small", required_argument, NULL, OPT_SMALL },
		{ "sessions", required_argument, NULL, OPT_SESSIONS },
		{ "search-bytes", required_argument, NULL, OPT_SEARCH },
		{ "heavy", required_argument, NULL, OPT_HEAVY },
		{ "heavy-cmd", required_argument, NULL, OPT_HEAVY_CMD },
		{ "polite", required_argument, NULL, OPT_POLITE },
		{ "server-pid", required_argument, NULL, OPT_PID },
		{ "max-seconds", required_argument, NULL, OPT_MAXSEC },
		{ "rounds", required_argument, NULL, OPT_ROUNDS },
		{ "cpus", required_argument, NULL, OPT_CPUS },
		{ "no-pipeline", no_argument, NULL, OPT_NOPIPE },
		{ "r2-exact", no_argument, NULL, OPT_R2 },
		{ "no-verify", no_argument, NULL, OPT_NOVERIFY },
		{ "json", no_argument, NULL, OPT_JSON },
		{ "write", required_argument, NULL, OPT_WRITE },
		{ "write-bytes", required_argument, NULL, OPT_WRITE_BYTES },
		{ "sync-server", required_argument, NULL, OPT_SYNC_SERVER },
		{ "rtt", required_argument, NULL, OPT_RTT },
		{ "rate", required_argument, NULL, OPT_RATE },
		{ "open-transcript", required_argument, NULL, OPT_OPEN_TRANSCRIPT },
		{ "relay", no_argument, NULL, OPT_RELAY },
		{ "relay-bytes", required_argument, NULL, OPT_RELAY_BYTES },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	*o = (struct options){
		.bytes = DEFAULT_BYTES, .search_bytes = DEFAULT_SEARCH_BYTES,
		.small = DEFAULT_SMALL, .sessions = DEFAULT_SESSIONS,
		.rounds = DEFAULT_ROUNDS, .cpu_self = -1, .cpu_peer = -1,
		.heavy = DEFAULT_HEAVY, .heavy_cmd = DEFAULT_HEAVY_CMD, .polite = DEFAULT_POLITE,
		.max_seconds = DEFAULT_MAX_SECONDS, .server_pid = -1, .pipeline = true,
		.verify = true, .write_bytes = DEFAULT_WRITE_BYTES, .relay_bytes = DEFAULT_RELAY_BYTES,
	};
	const char *sync_server = NULL;
	int c, rc;
	uint64_t v;
	while ((c = getopt_long(argc, argv, "qhV", longopts, NULL)) != -1) {
		switch (c) {
		case OPT_BYTES:
			if ((rc = parse_count("--bytes", optarg, UINT64_MAX >> 1, true, &o->bytes)))
				return rc;
			break;
		case OPT_SEARCH:
			if ((rc = parse_count("--search-bytes", optarg, (uint64_t)SIZE_MAX >> 1, true, &o->search_bytes)))
				return rc;
			if (o->search_bytes && o->search_bytes < MIN_SEARCH_BYTES)
				return usage_error("--search-bytes: at least %llu (or 0)", (unsigned long long)MIN_SEARCH_BYTES);
			break;
		case OPT_SMALL:
			if ((rc = parse_count("--small", optarg, MAX_SMALL, false, &v)))
				return rc;
			o->small = (unsigned long)v;
			break;
		case OPT_SESSIONS:
			if ((rc = parse_count("--sessions", optarg, MAX_SESSIONS, false, &v)))
				return rc;
			o->sessions = (unsigned long)v;
			break;
		case OPT_HEAVY:
			if ((rc = parse_count("--heavy", optarg, MAX_HEAVY, false, &v)))
				return rc;
			o->heavy = (unsigned long)v;
			break;
		case OPT_HEAVY_CMD:
			/* A stock CMD request: text and NUL in one 4096-byte payload; ours: 255. */
			if (!*optarg || strlen(optarg) >= sizeof o->heavy_cmd)
				return usage_error("--heavy-cmd: a command of 1 to %zu bytes",
						   sizeof o->heavy_cmd - 1);
			snprintf(o->heavy_cmd, sizeof o->heavy_cmd, "%s", optarg);
			break;
		case OPT_POLITE:
			if ((rc = parse_count("--polite", optarg, MAX_SMALL, false, &v)))
				return rc;
			o->polite = (unsigned long)v;
			break;
		case OPT_ROUNDS:
			if ((rc = parse_count("--rounds", optarg, MAX_ROUNDS, false, &v)))
				return rc;
			if (v == 0)
				return usage_error("--rounds: at least 1");
			o->rounds = (unsigned long)v;
			break;
		case OPT_CPUS: {
			int a, bb, used = 0;
			if (sscanf(optarg, "%d,%d%n", &a, &bb, &used) != 2 || optarg[used] || a < 0 ||
			    bb < 0 || a >= CPU_SETSIZE || bb >= CPU_SETSIZE)
				return usage_error("--cpus: two CPU numbers, A,B: '%s'", optarg);
			o->cpu_self = a;
			o->cpu_peer = bb;
			break;
		}
		case OPT_PID:
			if ((rc = parse_count("--server-pid", optarg, INT_MAX, false, &v)))
				return rc;
			if (v == 0)
				return usage_error("--server-pid: not a process id: '%s'", optarg);
			o->server_pid = (long)v;
			break;
		case OPT_MAXSEC: {
			char *end;
			errno = 0;
			double s = strtod(optarg, &end);
			if (errno || end == optarg || *end || !(s > 0) || s > 86400)
				return usage_error("--max-seconds: a number of seconds in (0, 86400]: "
						   "'%s'", optarg);
			o->max_seconds = s;
			break;
		}
		case OPT_NOPIPE: o->pipeline = false; break;
		case OPT_R2: o->r2_exact = true; break;
		case OPT_NOVERIFY: o->verify = false; break;
		case OPT_JSON: o->json = true; break;
		case OPT_WRITE:
			if (!*optarg || strlen(optarg) + 1 >= RAP_OPEN_PATH_MAX)
				return usage_error("--write: a path of 1 to %d bytes", RAP_OPEN_PATH_MAX - 2);
			memcpy(o->write_path, optarg, strlen(optarg) + 1);
			break;
		case OPT_WRITE_BYTES:
			if ((rc = parse_count("--write-bytes", optarg, UINT64_MAX >> 1, true, &o->write_bytes)))
				return rc;
			if (o->write_bytes == 0)
				return usage_error("--write-bytes: at least 1 (leave out --write to skip writes)");
			break;
		case OPT_SYNC_SERVER: sync_server = optarg; break;
		case OPT_RTT:
		case OPT_RATE: {
			const char *name = c == OPT_RTT ? "--rtt" : "--rate";
			char *end;
			errno = 0;
			double x = strtod(optarg, &end);
			if (errno || end == optarg || *end || !(x > 0) || x > 100000)
				return usage_error("%s: a number in (0, 100000]: '%s'", name, optarg);
			if (c == OPT_RTT)
				o->link.rtt_ms = x;
			else
				o->link.rate_mbit = x;
			break;
		}
		case OPT_OPEN_TRANSCRIPT:
			if (!*optarg || strlen(optarg) >= sizeof o->open_transcript)
				return usage_error("--open-transcript: a path of 1 to %zu bytes",
						   sizeof o->open_transcript - 1);
			memcpy(o->open_transcript, optarg, strlen(optarg) + 1);
			break;
		case OPT_RELAY:
			o->relay = true;
			break;
		case OPT_RELAY_BYTES:
			if ((rc = parse_count("--relay-bytes", optarg, UINT64_MAX >> 1, true, &o->relay_bytes)))
				return rc;
			if (o->relay_bytes < 4096)
				return usage_error("--relay-bytes: at least 4096");
			break;
		case 'q': o->quiet = true; break;
		case 'h': usage(stdout); return -1;
		case 'V': printf("rapbench (rap) %s\n", RAP_VERSION_STRING); return -1;
		default: return usage_error("unknown option");
		}
	}
	int left = argc - optind;
	if (left < 1 || left > 2)
		return usage_error(left < 1 ? "missing server address" : "too many arguments");
	struct rap_uri u;
	if (rap_uri_parse(argv[optind], "rap", &u) < 0 || !u.port[0])
		return usage_error("cannot parse the server address '%s' (HOST:PORT)", argv[optind]);
	if (strcmp(u.scheme, "rap") != 0)
		return usage_error("only rap:// servers can be measured, not %s://", u.scheme);
	if (u.listen || !u.host[0])
		return usage_error("give the server's host, e.g. 127.0.0.1:%s", u.port);
	if (!host_is_loopback(u.host))
		return usage_error("refusing '%s': only loopback hosts (127.0.0.0/8, ::1, localhost) "
				   "are benchmarked, so the traffic stays on this machine", u.host);
	if (strcmp(u.port, "0") == 0)
		return usage_error("port 0 is not a server's port");
	const char *path = left == 2 ? argv[optind + 1] : u.has_path ? u.path : NULL;
	if (left == 2 && u.has_path)
		return usage_error("the file is given twice (in the address and as PATH)");
	if (!path || !*path)
		return usage_error("missing the file to read (PATH)");
	if (strlen(path) + 1 >= RAP_OPEN_PATH_MAX)
		return usage_error("PATH must be shorter than %d bytes (a stock OPEN limit)",
				   RAP_OPEN_PATH_MAX - 1);
	snprintf(o->host, sizeof o->host, "%s", u.host);
	snprintf(o->port, sizeof o->port, "%s", u.port);
	if (sync_server) {
		/* PORT alone: the same host as the first server. */
		struct rap_uri su;
		bool bare = strspn(sync_server, "0123456789") == strlen(sync_server);
		if (!o->write_path[0])
			return usage_error("--sync-server needs --write (it measures writes)");
		if (bare) {
			snprintf(o->sync_host, sizeof o->sync_host, "%s", u.host);
			snprintf(o->sync_port, sizeof o->sync_port, "%s", sync_server);
		} else if (rap_uri_parse(sync_server, "rap", &su) < 0 || !su.port[0] || !su.host[0] ||
			   strcmp(su.scheme, "rap") != 0 || su.has_path) {
			return usage_error("--sync-server: [HOST:]PORT, not '%s'", sync_server);
		} else {
			snprintf(o->sync_host, sizeof o->sync_host, "%s", su.host);
			snprintf(o->sync_port, sizeof o->sync_port, "%s", su.port);
		}
		if (!host_is_loopback(o->sync_host))
			return usage_error("refusing --sync-server '%s': only loopback hosts are "
					   "benchmarked", o->sync_host);
		unsigned long long sp = strtoull(o->sync_port, NULL, 10);
		if (sp == 0 || sp > 65535)
			return usage_error("--sync-server: not a port: '%s'", o->sync_port);
	}
	memcpy(o->path, path, strlen(path) + 1); /* its length was checked above */
	return 0;
}

/* Each held session costs one descriptor here; each raw pair costs two. */
static void raise_fd_limit(struct bench *b)
{
	struct rlimit rl;
	unsigned long k = b->o.sessions;
	rlim_t want = (rlim_t)k * 2 + FD_SPARE;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < want) {
		rlim_t was = rl.rlim_cur;
		rl.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max > want ? want : rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
			rl.rlim_cur = was;
	}
	b->fd_limit = rl.rlim_cur;
	rlim_t usable = rl.rlim_cur > FD_SPARE ? rl.rlim_cur - FD_SPARE : 0;
	b->sessions_cap = usable < k ? (unsigned long)usable : k;
	b->idle_cap = usable / 2 < k ? (unsigned long)(usable / 2) : k;
}

/* Connects once to learn the file's size (as radare2 does: SEEK CUR, END, SET back) and to
 * fail early, with a precise exit code, when there is nothing to measure. */
static int probe_server(struct bench *b)
{
	struct result r = { 0 };
	uint64_t deadline = phase_deadline(b);
	struct rap_client *c = client_start(b, deadline, &r);
	if (!c) {
		bool cannot_open = strncmp(r.note, "OPEN:", 5) == 0 && r.exit != EX_TEMPFAIL;
		fprintf(stderr, "%s: %s:%s: %s%s\n", progname, b->o.host, b->o.port,
			cannot_open ? "the server cannot open the file: " : "", r.note);
		if (cannot_open)
			return EX_NOINPUT;
		return r.exit == EX_TEMPFAIL ? EX_UNAVAILABLE : r.exit;
	}
	int rc = rap_client_size(c, &b->size);
	bool fired = watchdog_fired(&b->wd);
	client_end(b, c);
	if (rc < 0) {
		fprintf(stderr, "%s: size of %s: %s\n", progname, b->o.path,
			fired ? "no answer in time" : rap_strerror(rc));
		return fired ? EX_UNAVAILABLE : exit_for(rc);
	}
	if (b->size == 0) {
		fprintf(stderr, "%s: %s is empty: nothing to read\n", progname, b->o.path);
		return EX_DATAERR;
	}
	if (b->size > SIZE_MAX / 2) {
		fprintf(stderr, "%s: %s claims %" PRIu64 " bytes\n", progname, b->o.path, b->size);
		return EX_PROTOCOL;
	}
	return 0;
}

/* --open-transcript and --rtt/--rate: loads the pattern, and puts a link in front of the
 * server (and of the sync server), pointing the options at it. Returns 0 or an exit code. */
static int setup_extras(struct bench *b)
{
	struct options *o = &b->o;
	if (o->open_transcript[0]) {
		char why[256] = "";
		if (open_pattern_load(o->open_transcript, &b->pattern, why, sizeof why) < 0) {
			fprintf(stderr, "%s: --open-transcript: %s\n", progname, why);
			return EX_NOINPUT;
		}
	}
	if (!wan(o))
		return 0;
	snprintf(b->server_host, sizeof b->server_host, "%s", o->host);
	snprintf(b->server_port, sizeof b->server_port, "%s", o->port);
	uint16_t port;
	int rc = link_start(&o->link, o->host, o->port, &b->link, &port);
	if (rc == 0 && o->sync_port[0]) {
		uint16_t sport;
		rc = link_start(&o->link, o->sync_host, o->sync_port, &b->sync_link, &sport);
		if (rc == 0) {
			snprintf(o->sync_host, sizeof o->sync_host, "127.0.0.1");
			snprintf(o->sync_port, sizeof o->sync_port, "%u", sport);
		}
	}
	if (rc < 0) {
		fprintf(stderr, "%s: cannot start the emulated link: %s\n", progname, strerror(-rc));
		return EX_OSERR;
	}
	snprintf(o->host, sizeof o->host, "127.0.0.1");
	snprintf(o->port, sizeof o->port, "%u", port);
	progress(b, "emulated link: RTT %g ms, rate %g Mbit/s (0: unlimited), listening on 127.0.0.1:%u",
		 o->link.rtt_ms, o->link.rate_mbit, port);
	return 0;
}

static void release_extras(struct bench *b)
{
	link_stop(b->link);
	link_stop(b->sync_link);
	b->link = b->sync_link = NULL;
	open_pattern_free(&b->pattern);
}

int main(int argc, char **argv)
{
	/* A server that hangs up must show up as an error from send(), not kill us. */
	signal(SIGPIPE, SIG_IGN);
	struct bench *b = calloc(1, sizeof *b);
	if (!b) {
		fprintf(stderr, "%s: out of memory\n", progname);
		return EX_OSERR;
	}
	int rc = parse_args(argc, argv, &b->o);
	if (rc) {
		free(b);
		return rc < 0 ? EX_OK : rc;
	}
	raise_fd_limit(b);
	machine_state(b);
	if ((rc = apply_placement(b)) != 0) {
		free(b);
		return rc;
	}
	if (watchdog_start(&b->wd) != 0) {
		fprintf(stderr, "%s: cannot start the watchdog thread\n", progname);
		free(b);
		return EX_OSERR;
	}
	progress(b, "server %s:%s, file %s", b->o.host, b->o.port, b->o.path);
	rc = setup_extras(b);
	if (rc == 0)
		rc = probe_server(b);
	if (rc) {
		watchdog_stop(&b->wd);
		release_extras(b);
		free(b);
		return rc;
	}
	map_local(b);

	if (b->o.bytes) {
		const struct group bulk = {
			.name = "bulk",
			.fn = { bulk_pipelined, bulk_stock, raw_bulk },
			.label = { "rap read_at", "rap stock", "raw tcp" },
			.out = { &b->bulk_pipe, &b->bulk_stock, &b->bulk_raw },
			.on = { b->o.pipeline, true, true },
		};
		if (run_group(b, &bulk) < 0)
			goto oom;
	}
	if (b->pattern.n) {
		const struct group open = {
			.name = "stock open",
			.fn = { open_replay, NULL, NULL },
			.label = { "replayed requests", NULL, NULL },
			.out = { &b->open_replay, NULL, NULL },
			.on = { true, false, false },
		};
		if (run_group(b, &open) < 0)
			goto oom;
	}
	if (b->o.relay) {
		const struct group relay = {
			.name = "relay",
			.fn = { bulk_relay, bulk_plugin, NULL },
			.label = { "stock reads through the relay", "rap:// plugin", NULL },
			.out = { &b->bulk_relay, &b->bulk_plugin, NULL },
			.on = { true, true, false },
		};
		if (run_group(b, &relay) < 0)
			goto oom;
		if (b->pattern.n) {
			const struct group open = {
				.name = "stock open through the relay",
				.fn = { open_relay, NULL, NULL },
				.label = { "replayed requests", NULL, NULL },
				.out = { &b->open_relay, NULL, NULL },
				.on = { true, false, false },
			};
			if (run_group(b, &open) < 0)
				goto oom;
		}
	}
	if (b->o.small) {
		const struct group small = {
			.name = "small",
			.fn = { small_lib, small_stock, raw_pingpong },
			.label = { "rap read_at", "rap stock", "raw tcp ping-pong" },
			.out = { &b->small_lib, &b->small_stock, &b->small_raw },
			.on = { b->o.pipeline, true, true },
		};
		if (run_group(b, &small) < 0)
			goto oom;
	}
	if (b->o.write_path[0]) {
		bool sync = b->o.sync_port[0] != '\0';
		const struct group wsmall = {
			.name = "write 4096",
			.fn = { write_small_plain, write_small_sync, raw_bulk_write },
			.label = { "rap write_at", "rap write_at, --sync server", "raw tcp" },
			.out = { &b->write_small, &b->write_small_sync, &b->write_small_raw },
			.on = { true, sync, true },
		};
		const struct group wlarge = {
			.name = "write 1 MiB",
			.fn = { write_large_plain, write_large_sync, raw_bulk_write },
			.label = { "rap write_at", "rap write_at, --sync server", "raw tcp" },
			.out = { &b->write_large, &b->write_large_sync, &b->write_large_raw },
			.on = { true, sync, true },
		};
		if (run_group(b, &wsmall) < 0 || run_group(b, &wlarge) < 0)
			goto oom;
	}
	if (b->o.sessions && !wan(&b->o)) {
		progress(b, "sessions: %lu rap sessions", b->sessions_cap);
		sessions(b, &b->sessions);
		progress(b, "sessions: %lu raw tcp pairs", b->idle_cap);
		raw_idle(b, &b->idle_raw);
	}
	if (b->o.search_bytes && !wan(&b->o)) {
		const char *tmp = getenv("TMPDIR");
		search_phase(tmp && *tmp ? tmp : "/tmp", b->o.search_bytes, (unsigned)b->o.rounds, b->o.quiet,
			     &b->search);
	}
	/* Last: heavy output grows the server's memory, which the idle sessions would reuse. */
	if (b->o.heavy && b->o.polite && !wan(&b->o))
		busy_server(b);
	watchdog_stop(&b->wd);

	if (b->o.json)
		print_json(b);
	else
		print_human(b);
	fflush(stdout);

	const struct result *all[] = { &b->bulk_pipe, &b->bulk_stock, &b->bulk_raw,
				       &b->small_lib, &b->small_stock, &b->small_raw,
				       &b->sessions, &b->idle_raw, &b->polite_read_idle,
				       &b->polite_cmd_idle, &b->polite_read_busy,
				       &b->polite_cmd_busy, &b->heavy,
				       &b->write_small, &b->write_small_sync, &b->write_small_raw,
				       &b->write_large, &b->write_large_sync, &b->write_large_raw,
				       &b->open_replay, &b->bulk_relay, &b->bulk_plugin, &b->open_relay };
	int code = 0;
	for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
		if (severity(all[i]->exit) > severity(code))
			code = all[i]->exit;
	if (severity(b->search.exit) > severity(code))
		code = b->search.exit;
	if (b->local)
		munmap((void *)(uintptr_t)b->local, (size_t)b->size);
	release_extras(b);
	free(b);
	return code;
oom:
	watchdog_stop(&b->wd);
	release_extras(b);
	fprintf(stderr, "%s: out of memory\n", progname);
	free(b);
	return EX_OSERR;
}
