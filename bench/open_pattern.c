/* Loading a stock client's requests from a transcript (see open_pattern.h). */
#include "open_pattern.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rap/rap.h>

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static int add(struct open_pattern *p, size_t *cap, const struct rap_msg *m, char *why, size_t why_cap)
{
	if (p->n == *cap) {
		size_t ncap = *cap ? *cap * 2 : 1024;
		struct open_request *r = realloc(p->req, ncap * sizeof(*r));
		if (!r)
			return -ENOMEM;
		p->req = r;
		*cap = ncap;
	}
	struct open_request *r = &p->req[p->n];
	memset(r, 0, sizeof(*r));
	r->op = m->op;
	switch (m->op) {
	case RAP_OP_OPEN:
		p->opens++;
		break;
	case RAP_OP_SEEK:
		r->whence = m->whence;
		r->offset = m->offset;
		p->seeks++;
		break;
	case RAP_OP_READ:
		r->len = m->len;
		p->reads++;
		break;
	case RAP_OP_CMD:
		if (m->len > sizeof(r->cmd)) {
			snprintf(why, why_cap, "a CMD of %u bytes in an open", m->len);
			return RAP_EPROTO;
		}
		r->len = m->len;
		memcpy(r->cmd, m->data, m->len);
		p->cmds++;
		break;
	default:
		snprintf(why, why_cap, "request 0x%02x has no place in an open", m->op);
		return RAP_EPROTO;
	}
	p->n++;
	return 0;
}

int open_pattern_load(const char *path, struct open_pattern *out, char *why, size_t why_cap)
{
	memset(out, 0, sizeof(*out));
	FILE *f = fopen(path, "r");
	if (!f) {
		int e = errno;
		snprintf(why, why_cap, "%s: %s", path, strerror(e));
		return -e;
	}
	struct rap_decoder *d = NULL;
	int rc = rap_decoder_new(RAP_ROLE_SERVER, &d);
	char *line = NULL;
	size_t lcap = 0, cap = 0, lineno = 0;
	uint8_t *bytes = NULL;
	while (rc == 0 && getline(&line, &lcap, f) > 0) {
		lineno++;
		if (strncmp(line, "C> ", 3) != 0)
			continue;
		const char *h = line + 3;
		size_t hl = strcspn(h, "\r\n");
		if (hl % 2) {
			snprintf(why, why_cap, "%s:%zu: odd number of hex digits", path, lineno);
			rc = RAP_EPROTO;
			break;
		}
		uint8_t *nb = realloc(bytes, hl / 2 + 1);
		if (!nb) {
			rc = -ENOMEM;
			break;
		}
		bytes = nb;
		for (size_t i = 0; i < hl / 2; i++) {
			int hi = hexval(h[2 * i]), lo = hexval(h[2 * i + 1]);
			if (hi < 0 || lo < 0) {
				snprintf(why, why_cap, "%s:%zu: not hex", path, lineno);
				rc = RAP_EPROTO;
				break;
			}
			bytes[i] = (uint8_t)(hi << 4 | lo);
		}
		for (size_t off = 0; rc == 0 && off < hl / 2;) {
			size_t used = 0;
			struct rap_msg m;
			int got = rap_decoder_decode(d, bytes + off, hl / 2 - off, &used, &m);
			off += used;
			if (got < 0) {
				snprintf(why, why_cap, "%s:%zu: %s", path, lineno, rap_strerror(got));
				rc = RAP_EPROTO;
			} else if (got == 1) {
				rc = add(out, &cap, &m, why, why_cap);
			} else if (used == 0) {
				break;
			}
		}
	}
	if (rc == 0 && d && !rap_decoder_idle(d)) {
		snprintf(why, why_cap, "%s: the client's last request is cut short", path);
		rc = RAP_EPROTO;
	}
	if (rc == 0 && out->n == 0) {
		snprintf(why, why_cap, "%s: no client requests (\"C> \" lines)", path);
		rc = RAP_EPROTO;
	}
	if (rc == -ENOMEM)
		snprintf(why, why_cap, "out of memory");
	free(bytes);
	free(line);
	rap_decoder_free(d);
	fclose(f);
	if (rc < 0)
		open_pattern_free(out);
	return rc;
}

void open_pattern_free(struct open_pattern *p)
{
	free(p->req);
	memset(p, 0, sizeof(*p));
}
