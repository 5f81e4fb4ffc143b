/* The benchmark's emulated link: bytes pass unchanged both ways, a half-close is passed on,
 * and the link is never faster than it emulates — a round trip takes at least the RTT, and
 * a transfer at least its size over the rate. (Lower bounds only: how much slower a loaded
 * machine makes it is not the link's business, and performance figures come from rapbench.) */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "link.h"

/* An upstream that echoes every byte back, one connection at a time, until told to stop. */
struct echo {
	int lfd;
	uint16_t port;
	pthread_t thread;
};

static void *echo_run(void *arg)
{
	struct echo *e = arg;
	for (;;) {
		int fd = accept(e->lfd, NULL, NULL);
		if (fd < 0)
			return NULL;
		char buf[65536];
		ssize_t n;
		while ((n = recv(fd, buf, sizeof(buf), 0)) > 0) {
			for (ssize_t off = 0; off < n;) {
				ssize_t w = send(fd, buf + off, (size_t)(n - off), MSG_NOSIGNAL);
				if (w <= 0)
					break;
				off += w;
			}
		}
		/* the client half-closed: so do we (the link must pass both on) */
		close(fd);
	}
}

static void echo_start(struct echo *e)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t alen = sizeof(a);
	e->lfd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(e->lfd >= 0);
	assert_int_equal(bind(e->lfd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(e->lfd, 8), 0);
	assert_int_equal(getsockname(e->lfd, (struct sockaddr *)&a, &alen), 0);
	e->port = ntohs(a.sin_port);
	assert_int_equal(pthread_create(&e->thread, NULL, echo_run, e), 0);
}

static void echo_stop(struct echo *e)
{
	shutdown(e->lfd, SHUT_RDWR);
	pthread_join(e->thread, NULL);
	close(e->lfd);
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int dial(uint16_t port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port),
		                 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	struct timeval tv = { .tv_sec = 30 }; /* a broken link fails the test, never hangs it */
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	return fd;
}

static void recv_all(int fd, uint8_t *buf, size_t len)
{
	for (size_t got = 0; got < len;) {
		ssize_t n = recv(fd, buf + got, len - got, 0);
		if (n <= 0)
			fail_msg("recv after %zu of %zu bytes: %s", got, len, n ? strerror(errno) : "end of stream");
		got += (size_t)n;
	}
}

/* A writer thread, so that a transfer larger than the socket buffers cannot deadlock. */
struct writer {
	int fd;
	const uint8_t *data;
	size_t len;
	pthread_t thread;
};

static void *write_run(void *arg)
{
	struct writer *w = arg;
	for (size_t off = 0; off < w->len;) {
		ssize_t n = send(w->fd, w->data + off, w->len - off, MSG_NOSIGNAL);
		if (n <= 0)
			return NULL;
		off += (size_t)n;
	}
	shutdown(w->fd, SHUT_WR);
	return NULL;
}

/* Sends len pattern bytes through a link with o and checks they come back unchanged, then
 * the end of stream. Returns the seconds it took. */
static double round_trip(const struct link_options *o, size_t len)
{
	struct echo e;
	echo_start(&e);
	char port[8];
	snprintf(port, sizeof(port), "%u", e.port);
	struct link *l;
	uint16_t lport;
	assert_int_equal(link_start(o, "127.0.0.1", port, &l, &lport), 0);
	uint8_t *data = malloc(len), *back = malloc(len);
	assert_non_null(data);
	assert_non_null(back);
	for (size_t i = 0; i < len; i++)
		data[i] = (uint8_t)(i * 131 + (i >> 9));
	int fd = dial(lport);
	double t0 = now_s();
	struct writer w = { .fd = fd, .data = data, .len = len };
	assert_int_equal(pthread_create(&w.thread, NULL, write_run, &w), 0);
	recv_all(fd, back, len);
	double took = now_s() - t0;
	char extra;
	assert_int_equal(recv(fd, &extra, 1, 0), 0); /* the echo's close came through */
	pthread_join(w.thread, NULL);
	assert_memory_equal(data, back, len);
	struct link_stats st;
	link_stats(l, &st);
	assert_int_equal(st.conns, 1);
	assert_int_equal(st.bytes_up, len);
	assert_int_equal(st.bytes_down, len);
	close(fd);
	link_stop(l);
	echo_stop(&e);
	free(data);
	free(back);
	return took;
}

static void test_transparent(void **state)
{
	(void)state;
	struct link_options o = { 0 };
	round_trip(&o, 1);
	round_trip(&o, 3u << 20);
}

static void test_delay(void **state)
{
	(void)state;
	struct link_options o = { .rtt_ms = 40 };
	double took = round_trip(&o, 100);
	assert_true(took >= 0.040);
}

static void test_rate(void **state)
{
	(void)state;
	/* 1 MiB each way at 80 Mbit/s: the two directions overlap, but one of them alone takes
	 * 105 ms to serialise it. */
	struct link_options o = { .rate_mbit = 80 };
	double took = round_trip(&o, 1u << 20);
	assert_true(took >= (double)(1u << 20) * 8 / 80e6);
}

static void test_many_connections(void **state)
{
	(void)state;
	struct echo e;
	echo_start(&e);
	char port[8];
	snprintf(port, sizeof(port), "%u", e.port);
	struct link *l;
	uint16_t lport;
	struct link_options o = { .rtt_ms = 1 };
	assert_int_equal(link_start(&o, "127.0.0.1", port, &l, &lport), 0);
	/* one after the other (the echo serves one at a time), each closed by the client */
	for (int i = 0; i < 20; i++) {
		int fd = dial(lport);
		uint8_t b = (uint8_t)i, r;
		assert_int_equal(send(fd, &b, 1, 0), 1);
		recv_all(fd, &r, 1);
		assert_int_equal(r, b);
		close(fd);
	}
	struct link_stats st;
	link_stats(l, &st);
	assert_int_equal(st.conns, 20);
	link_stop(l);
	echo_stop(&e);
	/* an upstream nobody listens on: the client's connection is closed, nothing hangs */
	int probe = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t alen = sizeof(a);
	assert_int_equal(bind(probe, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(getsockname(probe, (struct sockaddr *)&a, &alen), 0);
	snprintf(port, sizeof(port), "%u", ntohs(a.sin_port));
	assert_int_equal(link_start(&o, "127.0.0.1", port, &l, &lport), 0);
	int fd = dial(lport);
	char c;
	assert_true(recv(fd, &c, 1, 0) <= 0);
	close(fd);
	close(probe);
	link_stop(l);
	/* a bad upstream address */
	assert_int_equal(link_start(&o, "not-an-address", "1", &l, &lport), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_transparent),
		cmocka_unit_test(test_delay),
		cmocka_unit_test(test_rate),
		cmocka_unit_test(test_many_connections),
	};
	return cmocka_run_group_tests_name("link", tests, NULL, NULL);
}
