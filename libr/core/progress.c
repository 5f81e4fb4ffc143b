/* The progress bar of long commands (wtf, wff, searches, hashes): one line on the error
 * stream, redrawn in place ten times a second, and only when that stream is a terminal, so
 * captured output (memory streams, files, pipes, a remote client) never receives
 * carriage-return animation. A command that usually ends at once asks for a delay: its bar
 * appears only once it has run that long. Only cores made by rap_core_new draw (their
 * progress_draw); a lean core's commands never do. */
#include <inttypes.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core_private.h"

/* A terminal redraw costs a write; ten a second looks continuous. */
#define REDRAW_NS 100000000LL

static int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

void rap__progress_start(struct rap__progress *p, struct rap_core *c, uint64_t total, bool known,
			 int64_t delay_ns)
{
	memset(p, 0, sizeof(*p));
	int fd = c->err ? fileno(c->err) : -1;
	p->draw = c->progress_draw;
	p->f = p->draw && fd >= 0 && isatty(fd) ? c->err : NULL;
	p->out = c->out;
	p->total = total;
	p->total_known = known;
	p->start_ns = p->last_ns = now_ns();
	/* The first redraw is due once the delay has passed (REDRAW_NS after the start at
	 * the earliest, as before any redraw). */
	if (delay_ns > REDRAW_NS)
		p->last_ns = p->start_ns + delay_ns - REDRAW_NS;
}

static void fmt_size(char *buf, size_t cap, double n)
{
	if (n < 1024.0)
		snprintf(buf, cap, "%.0f B", n);
	else if (n < 1024.0 * 1024.0)
		snprintf(buf, cap, "%.1f KiB", n / 1024.0);
	else if (n < 1024.0 * 1024.0 * 1024.0)
		snprintf(buf, cap, "%.1f MiB", n / (1024.0 * 1024.0));
	else
		snprintf(buf, cap, "%.2f GiB", n / (1024.0 * 1024.0 * 1024.0));
}

static void fmt_rate(char *buf, size_t cap, double bps)
{
	if (bps < 1024.0 * 1024.0)
		snprintf(buf, cap, "%.1f KiB/s", bps / 1024.0);
	else
		snprintf(buf, cap, "%.1f MiB/s", bps / (1024.0 * 1024.0));
}

static void fmt_eta(char *buf, size_t cap, double secs)
{
	/* Beyond 100 hours the estimate is noise; say so rather than print a huge number. */
	if (!(secs >= 0.0) || secs > 360000.0) {
		snprintf(buf, cap, "ETA --:--");
		return;
	}
	unsigned s = (unsigned)(secs + 0.5);
	if (s >= 3600)
		snprintf(buf, cap, "ETA %u:%02u:%02u", s / 3600, s / 60 % 60, s % 60);
	else
		snprintf(buf, cap, "ETA %u:%02u", s / 60, s % 60);
}

void rap__progress_draw(struct rap__progress *p, uint64_t done, int64_t t, bool final)
{
	double secs = (double)(t - p->start_ns) / 1e9;
	double rate = secs > 0.0 ? (double)done / secs : 0.0;
	char d[32], r[32], when[32], line[160];
	fmt_size(d, sizeof(d), (double)done);
	fmt_rate(r, sizeof(r), rate);
	if (final) {
		unsigned s = (unsigned)secs;
		snprintf(when, sizeof(when), "in %u:%02u", s / 60, s % 60);
	} else if (p->total_known) {
		fmt_eta(when, sizeof(when), rate > 0.0 ? (double)(p->total - done) / rate : -1.0);
	} else {
		when[0] = '\0';
	}
	int n;
	if (p->total_known) {
		char tot[32];
		fmt_size(tot, sizeof(tot), (double)p->total);
		unsigned pct = p->total ? (unsigned)((double)done * 100.0 / (double)p->total) : 100;
		n = snprintf(line, sizeof(line), "%s / %s  %3u%%  %s  %s", d, tot, pct > 100 ? 100 : pct, r, when);
	} else {
		n = snprintf(line, sizeof(line), "%s  %s%s%s", d, r, *when ? "  " : "", when);
	}
	if (n < 0)
		return;
	/* What the command printed so far goes first, so the bar stays the last line. */
	if (p->out && p->out != p->f)
		fflush(p->out);
	int pad = p->width > n ? p->width - n : 0;
	fprintf(p->f, "\r%s%*s", line, pad, "");
	fflush(p->f);
	p->width = n;
	p->visible = true;
	p->last_ns = t;
}

void rap__progress_update(struct rap__progress *p, uint64_t done)
{
	if (!p->f)
		return;
	int64_t t = now_ns();
	if (t - p->last_ns >= REDRAW_NS)
		p->draw(p, done, t, false);
}

void rap__progress_clear(struct rap__progress *p)
{
	if (!p->f || !p->visible)
		return;
	fprintf(p->f, "\r%*s\r", p->width, "");
	fflush(p->f);
	p->width = 0;
	p->visible = false;
}

void rap__progress_end(struct rap__progress *p, uint64_t done, bool ok)
{
	if (!p->f)
		return;
	if (ok)
		p->draw(p, done, now_ns(), true);
	if (p->visible) {
		fputc('\n', p->f);
		fflush(p->f);
	}
}
