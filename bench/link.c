/* The benchmark's emulated link (see link.h for the model). */
#include "link.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define READ_CHUNK (16u << 10) /* finer than this, the rate would be checked per syscall */

/* Bytes on their way: read at once from the sender, delivered from off on. */
struct seg {
	struct seg *next; /* owned */
	uint64_t due_ns;  /* when its first byte reaches the other side */
	size_t len, off;
	uint8_t data[];
};

struct dir {
	int from, to;             /* borrowed from the conn */
	struct seg *head, *tail;  /* owned list */
	size_t queued;            /* bytes in the list */
	uint64_t last_depart_ns;  /* when the last queued byte finished serialising */
	bool eof;                 /* the sender half-closed */
	bool shut;                /* ... and that has been passed on */
	bool blocked;             /* the receiver's socket was full: wait for POLLOUT */
};

struct conn {
	bool used;
	int fd[2];    /* owned: [0] the client's, [1] the upstream's */
	struct dir d[2]; /* [0]: client to upstream, [1]: upstream to client */
};

struct link {
	struct link_options o;
	struct sockaddr_storage up;
	socklen_t uplen;
	int lfd;          /* owned: listening socket */
	int wake[2];      /* owned: link_stop writes to [1] */
	pthread_t thread;
	pthread_mutex_t lock; /* guards stats */
	struct link_stats stats;
	struct conn conns[LINK_MAX_CONNS];
};

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void set_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);
	if (fl >= 0)
		fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

static void conn_close(struct conn *c)
{
	for (int k = 0; k < 2; k++) {
		struct seg *s = c->d[k].head;
		while (s) {
			struct seg *next = s->next;
			free(s);
			s = next;
		}
		close(c->fd[k]);
	}
	memset(c, 0, sizeof(*c));
}

static void accept_one(struct link *l)
{
	int cfd = accept(l->lfd, NULL, NULL);
	if (cfd < 0)
		return;
	struct conn *c = NULL;
	for (size_t i = 0; i < LINK_MAX_CONNS && !c; i++)
		if (!l->conns[i].used)
			c = &l->conns[i];
	int ufd = c ? socket(l->up.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0) : -1;
	/* Loopback: a blocking connect answers at once. */
	if (ufd < 0 || connect(ufd, (struct sockaddr *)&l->up, l->uplen) < 0) {
		if (ufd >= 0)
			close(ufd);
		close(cfd);
		return;
	}
	int one = 1;
	setsockopt(cfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	setsockopt(ufd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	set_nonblock(cfd);
	set_nonblock(ufd);
	memset(c, 0, sizeof(*c));
	c->used = true;
	c->fd[0] = cfd;
	c->fd[1] = ufd;
	c->d[0].from = cfd;
	c->d[0].to = ufd;
	c->d[1].from = ufd;
	c->d[1].to = cfd;
	pthread_mutex_lock(&l->lock);
	l->stats.conns++;
	pthread_mutex_unlock(&l->lock);
}

/* Reads what the sender has (one chunk) into the queue. Returns false on a socket error. */
static bool dir_read(struct link *l, struct dir *d)
{
	struct seg *s = malloc(sizeof(*s) + READ_CHUNK);
	if (!s)
		return false;
	ssize_t n = recv(d->from, s->data, READ_CHUNK, 0);
	if (n <= 0) {
		free(s);
		if (n == 0) {
			d->eof = true;
			return true;
		}
		return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR;
	}
	uint64_t t = now_ns();
	uint64_t start = d->last_depart_ns > t ? d->last_depart_ns : t;
	uint64_t serial = l->o.rate_mbit > 0 ? (uint64_t)((double)n * 8000.0 / l->o.rate_mbit) : 0;
	d->last_depart_ns = start + serial;
	s->next = NULL;
	s->len = (size_t)n;
	s->off = 0;
	s->due_ns = d->last_depart_ns + (uint64_t)(l->o.rtt_ms * 1e6 / 2);
	if (d->tail)
		d->tail->next = s;
	else
		d->head = s;
	d->tail = s;
	d->queued += (size_t)n;
	return true;
}

/* Delivers every segment that has arrived, counting the bytes in *delivered (under the
 * lock, before a half-close is passed on, so that a peer that saw the end of the stream
 * reads complete figures). Returns false on a socket error. */
static bool dir_write(struct link *l, struct dir *d, uint64_t t, uint64_t *delivered)
{
	d->blocked = false;
	while (d->head && d->head->due_ns <= t) {
		struct seg *s = d->head;
		ssize_t n = send(d->to, s->data + s->off, s->len - s->off, MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
				d->blocked = true;
				return true;
			}
			return false;
		}
		s->off += (size_t)n;
		d->queued -= (size_t)n;
		pthread_mutex_lock(&l->lock);
		*delivered += (uint64_t)n;
		pthread_mutex_unlock(&l->lock);
		if (s->off < s->len) {
			d->blocked = true;
			return true;
		}
		d->head = s->next;
		if (!d->head)
			d->tail = NULL;
		free(s);
	}
	if (!d->head && d->eof && !d->shut) {
		shutdown(d->to, SHUT_WR);
		d->shut = true;
	}
	return true;
}

static void *run(void *arg)
{
	struct link *l = arg;
	/* wake, listener, then two per connection */
	static const size_t NFDS = 2 + 2 * LINK_MAX_CONNS;
	struct pollfd *p = calloc(NFDS, sizeof(*p));
	size_t *owner = calloc(NFDS, sizeof(*owner));
	if (!p || !owner) {
		free(p);
		free(owner);
		return NULL;
	}
	for (;;) {
		uint64_t t = now_ns(), next = UINT64_MAX;
		size_t n = 0;
		p[n++] = (struct pollfd){ .fd = l->wake[0], .events = POLLIN };
		p[n++] = (struct pollfd){ .fd = l->lfd, .events = POLLIN };
		for (size_t i = 0; i < LINK_MAX_CONNS; i++) {
			struct conn *c = &l->conns[i];
			if (!c->used)
				continue;
			for (int k = 0; k < 2; k++) {
				/* fd[k] is d[k]'s sender and d[1-k]'s receiver */
				struct dir *out = &c->d[k], *in = &c->d[1 - k];
				short ev = 0;
				if (!out->eof && out->queued < LINK_BUFFER)
					ev |= POLLIN;
				if (in->blocked)
					ev |= POLLOUT;
				else if (in->head && in->head->due_ns < next)
					next = in->head->due_ns;
				owner[n] = i;
				/* Not read (its queue is full) and not waited on: left out, or a hang-up
				 * it reports would wake the loop again and again. */
				p[n++] = (struct pollfd){ .fd = ev ? c->fd[k] : -1, .events = ev };
			}
		}
		struct timespec ts, *tsp = NULL;
		if (next != UINT64_MAX) {
			uint64_t wait = next > t ? next - t : 0;
			ts.tv_sec = (time_t)(wait / 1000000000ull);
			ts.tv_nsec = (long)(wait % 1000000000ull);
			tsp = &ts;
		}
		if (ppoll(p, n, tsp, NULL) < 0 && errno != EINTR)
			break;
		if (p[0].revents)
			break;
		if (p[1].revents & POLLIN)
			accept_one(l);
		t = now_ns();
		for (size_t j = 2; j < n; j += 2) {
			struct conn *c = &l->conns[owner[j]];
			bool ok = true;
			for (int k = 0; k < 2 && ok; k++)
				if ((p[j + (size_t)k].revents & (POLLIN | POLLHUP | POLLERR)) && !c->d[k].eof &&
				    c->d[k].queued < LINK_BUFFER)
					ok = dir_read(l, &c->d[k]);
			if (ok)
				ok = dir_write(l, &c->d[0], t, &l->stats.bytes_up) &&
				     dir_write(l, &c->d[1], t, &l->stats.bytes_down);
			if (!ok || (c->d[0].shut && c->d[1].shut))
				conn_close(c);
		}
	}
	free(p);
	free(owner);
	return NULL;
}

int link_start(const struct link_options *o, const char *host, const char *port, struct link **out,
               uint16_t *listen_port)
{
	struct link *l = calloc(1, sizeof(*l));
	if (!l)
		return -ENOMEM;
	l->o = *o;
	l->lfd = l->wake[0] = l->wake[1] = -1;
	/* Numeric only, so that a name never becomes a DNS query; "localhost" is the one name
	 * rapbench accepts. */
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV }, *ai;
	int rc = getaddrinfo(strcmp(host, "localhost") ? host : "127.0.0.1", port, &hints, &ai);
	if (rc != 0) {
		free(l);
		return -EINVAL;
	}
	memcpy(&l->up, ai->ai_addr, ai->ai_addrlen);
	l->uplen = ai->ai_addrlen;
	freeaddrinfo(ai);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t alen = sizeof(a);
	int one = 1;
	l->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (l->lfd < 0 || setsockopt(l->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(l->lfd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(l->lfd, 128) < 0 ||
	    getsockname(l->lfd, (struct sockaddr *)&a, &alen) < 0 || pipe2(l->wake, O_CLOEXEC) < 0) {
		rc = -errno;
		goto fail;
	}
	set_nonblock(l->lfd);
	pthread_mutex_init(&l->lock, NULL);
	rc = -pthread_create(&l->thread, NULL, run, l);
	if (rc < 0) {
		pthread_mutex_destroy(&l->lock);
		goto fail;
	}
	*listen_port = ntohs(a.sin_port);
	*out = l;
	return 0;
fail:
	if (l->lfd >= 0)
		close(l->lfd);
	if (l->wake[0] >= 0) {
		close(l->wake[0]);
		close(l->wake[1]);
	}
	free(l);
	return rc;
}

void link_stats(struct link *l, struct link_stats *out)
{
	pthread_mutex_lock(&l->lock);
	*out = l->stats;
	pthread_mutex_unlock(&l->lock);
}

void link_stop(struct link *l)
{
	if (!l)
		return;
	ssize_t w;
	do
		w = write(l->wake[1], "x", 1);
	while (w < 0 && errno == EINTR);
	pthread_join(l->thread, NULL);
	for (size_t i = 0; i < LINK_MAX_CONNS; i++)
		if (l->conns[i].used)
			conn_close(&l->conns[i]);
	close(l->lfd);
	close(l->wake[0]);
	close(l->wake[1]);
	pthread_mutex_destroy(&l->lock);
	free(l);
}
