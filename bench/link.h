/* An emulated network link inside the benchmark: a TCP proxy on loopback that delays every
 * byte by half a round-trip time in each direction and lets bytes through no faster than a
 * given rate, so that rapbench can measure what a client does across a slow link without
 * any external tool or privilege (no tc/netem, no network namespace).
 *
 * The model, per direction: bytes read from one side at time t are serialised at the link's
 * rate behind the bytes before them (they leave at d = max(t, previous d) + len / rate) and
 * arrive at the other side at d + rtt / 2. Each direction buffers at most LINK_BUFFER bytes
 * (it stops reading the sender until they drain, as a TCP window would), which is larger
 * than the bandwidth-delay product of any link the benchmark emulates. A half-close is
 * passed on once the bytes before it have arrived.
 *
 * One thread serves every connection; connections are accepted on 127.0.0.1 and each is
 * joined to a new connection to the upstream address. */
#ifndef RAP_BENCH_LINK_H
#define RAP_BENCH_LINK_H

#include <stddef.h>
#include <stdint.h>

#define LINK_BUFFER (32u << 20) /* per direction and connection */
#define LINK_MAX_CONNS 256

struct link_options {
	double rtt_ms;    /* round-trip time added; 0: none */
	double rate_mbit; /* megabits (10^6 bits) per second in each direction; 0: unlimited */
};

struct link_stats {
	uint64_t conns;      /* accepted so far */
	uint64_t bytes_up;   /* client to upstream, delivered */
	uint64_t bytes_down; /* upstream to client, delivered */
};

struct link;

/* Starts a link to the upstream host:port (a numeric address, or "localhost") and
 * writes the port it listens on (on 127.0.0.1) to *port. *out is owned by the caller until
 * link_stop(). Returns 0 or a negative errno. */
int link_start(const struct link_options *o, const char *host, const char *port, struct link **out,
               uint16_t *listen_port);

/* What the link has passed on so far (a consistent copy). */
void link_stats(struct link *l, struct link_stats *out);

/* Stops the thread, closes every connection and frees l. NULL is ignored. */
void link_stop(struct link *l);

#endif
