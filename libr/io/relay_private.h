/* What the relay's handler (relay.c) and its IO plugin (p/io_upstream.c) share. */
#ifndef RAP_IO_RELAY_PRIVATE_H
#define RAP_IO_RELAY_PRIVATE_H

#include <pthread.h>

#include <rap/io.h>
#include <rap/relay.h>

/* The most one fetch of the prefetch reads (it grows to this from 256 KiB). */
#define RELAY_PREFETCH_MAX ((size_t)8 << 20)

enum relay_prefetch_state {
	PF_IDLE,    /* nothing held */
	PF_QUEUED,  /* asked of the thread, not started */
	PF_RUNNING, /* the thread is reading: the connection is its own */
	PF_DONE,    /* got holds the result (bytes in buf, or an error) */
};

struct pf_slot {
	enum relay_prefetch_state state;
	int32_t rfd;    /* the upstream fd read */
	uint64_t gen;   /* of the connection it was read on */
	uint64_t off;
	size_t len;     /* asked */
	ssize_t got;    /* DONE: bytes read into buf, or an error */
	bool counted;   /* got was added to the session's stats */
	uint8_t *buf;   /* owned; cap bytes */
	size_t cap;
};

/* The session's prefetch (relay_prefetch.c): two slots, at most one fetch under way.
 * Everything but thread and started is under mu. */
struct relay_prefetch {
	pthread_t thread; /* started with the first fetch */
	bool started;
	pthread_mutex_t mu;
	pthread_cond_t cv; /* slot state changes */
	bool quit;
	size_t window;     /* the next fetch's size */
	struct pf_slot slot[2];
};

struct rap_relay {
	char uri[320];              /* scheme://host:port/, for messages (never a secret) */
	char host[256];
	char port[32];
	bool tls;
	struct rap_tls_config *tls_cfg;   /* borrowed (NULL: a verifying default per connection) */
	const struct rap_secret *secret;  /* borrowed; NULL: none */
	size_t cache_max;
	int connect_timeout_ms;
	int timeout_ms;             /* the upstream's stall timeout outside commands */
	void (*log)(void *user, int level, const char *msg);
	void *log_user;
};

struct rap_relay_session {
	const struct rap_relay *relay; /* borrowed */
	struct rap_io *io;             /* owned: only the upstream plugin is registered */
	struct rap_client *up;         /* owned; NULL while not connected */
	uint64_t gen;                  /* bumped per connection: files of an older one are gone */
	bool ext;                      /* the upstream granted the extension messages */
	int32_t last_rfd;              /* the upstream fd opened last (a stock upstream's file) */
	int fd;                        /* the client's current file (an fd of io), -1: none */
	uint64_t off;                  /* the client's position */
	struct rap_relay_stats stats;  /* hits: those of the files closed already */
	struct relay_prefetch pf;
};

/* Connects s to the upstream unless it is connected: 0 or negative, the reason then in
 * rap_io_error(s->io) and logged. */
int rap__relay_connect(struct rap_relay_session *s);

/* After a failed upstream call: when the connection is lost, closes it (its files then
 * fail with RAP_ECLOSED) and logs why. rc is returned. */
int rap__relay_check(struct rap_relay_session *s, int rc);

/* The plugin of the relay's IO instances: every URI is a path on the session's upstream
 * (rap_io_user of the instance). */
extern const struct rap_io_plugin rap__io_plugin_upstream;

/* The prefetch (relay_prefetch.c). init/fini: with the session (fini waits for a fetch
 * under way and stops the thread). wait: until no fetch uses the connection; every other
 * user of s->up calls it first. drop: forgets the data held for rfd (-1: any). take:
 * copies what the slots hold of rfd (read on connection gen) from off on, waiting for a
 * fetch under way that holds what comes next, and returns how much. advance: after a
 * sequential read ended at at, starts the next fetch when a slot is free and less than a
 * window is held ahead (limit: the size, or UINT64_MAX when unknown). */
int rap__prefetch_init(struct relay_prefetch *p);
void rap__prefetch_fini(struct relay_prefetch *p);
void rap__prefetch_wait(struct rap_relay_session *s);
void rap__prefetch_drop(struct rap_relay_session *s, int32_t rfd);
size_t rap__prefetch_take(struct rap_relay_session *s, int32_t rfd, uint64_t gen, uint64_t off, uint8_t *buf,
			  size_t len);
void rap__prefetch_advance(struct rap_relay_session *s, int32_t rfd, uint64_t gen, uint64_t at, uint64_t limit);

#endif
