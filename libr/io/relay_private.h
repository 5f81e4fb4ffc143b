/* What the relay's handler (relay.c) and its IO plugin (p/io_upstream.c) share. */
#ifndef RAP_IO_RELAY_PRIVATE_H
#define RAP_IO_RELAY_PRIVATE_H

#include <rap/io.h>
#include <rap/relay.h>

struct rap_relay {
	char uri[320];              /* scheme://host:port/, for messages (never a secret) */
	char host[256];
	char port[32];
	bool tls;
	struct rap_tls_config *tls_cfg;   /* borrowed (NULL: a verifying default per connection) */
	const struct rap_secret *secret;  /* borrowed; NULL: none */
	size_t cache_max;
	int connect_timeout_ms;
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

#endif
