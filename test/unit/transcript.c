#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "transcript.h"

const char *transcript_dir(void)
{
	const char *d = getenv("RAP_INTEROP_DIR");
	return d && *d ? d : TRANSCRIPT_DIR;
}

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	if (fseek(f, 0, SEEK_END) != 0) {
		fclose(f);
		return NULL;
	}
	long n = ftell(f);
	rewind(f);
	char *s = n >= 0 ? malloc((size_t)n + 1) : NULL;
	if (s && fread(s, 1, (size_t)n, f) != (size_t)n) {
		free(s);
		s = NULL;
	}
	if (s)
		s[n] = '\0';
	fclose(f);
	return s;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static struct transcript_conn *conn_get(struct transcript *t, int id)
{
	for (size_t i = 0; i < t->nconns; i++)
		if (t->conns[i].id == id)
			return &t->conns[i];
	if (t->nconns == TRANSCRIPT_MAX_CONNS)
		return NULL;
	struct transcript_conn *c = &t->conns[t->nconns++];
	memset(c, 0, sizeof(*c));
	c->id = id;
	return c;
}

static int append_hex(uint8_t **buf, size_t *len, const char *hex, size_t n)
{
	if (n % 2)
		return -1;
	uint8_t *p = realloc(*buf, *len + n / 2 + 1);
	if (!p)
		return -1;
	*buf = p;
	for (size_t i = 0; i < n; i += 2) {
		int hi = hexval(hex[i]), lo = hexval(hex[i + 1]);
		if (hi < 0 || lo < 0)
			return -1;
		p[(*len)++] = (uint8_t)(hi << 4 | lo);
	}
	return 0;
}

/* The connection a chunk belongs to is named by the decoding line that follows it
 * ("#   conn 2 t=..."); single-connection files have no "conn" tag. */
static int chunk_conn_id(const char *next_line)
{
	if (!next_line || strncmp(next_line, "#   conn ", 9) != 0)
		return 1;
	return atoi(next_line + 9);
}

int transcript_load(const char *name, struct transcript *t)
{
	memset(t, 0, sizeof(*t));
	char path[4096];
	if (strchr(name, '/'))
		snprintf(path, sizeof(path), "%s", name);
	else
		snprintf(path, sizeof(path), "%s/%s", transcript_dir(), name);
	t->text = slurp(path);
	if (!t->text)
		return -1;
	char *copy = strdup(t->text);
	if (!copy)
		return -1;
	char *save = NULL;
	char *line = strtok_r(copy, "\n", &save);
	int rc = 0;
	while (line && rc == 0) {
		char *next = strtok_r(NULL, "\n", &save);
		if (!t->command && strncmp(line, "# client command: ", 18) == 0)
			t->command = strdup(line + 18);
		if ((line[0] == 'C' || line[0] == 'S') && line[1] == '>' && line[2] == ' ') {
			struct transcript_conn *c = conn_get(t, chunk_conn_id(next));
			const char *hex = line + 3;
			size_t n = strcspn(hex, " \r");
			if (!c)
				rc = -1;
			else if (line[0] == 'C')
				rc = append_hex(&c->client, &c->client_len, hex, n);
			else
				rc = append_hex(&c->server, &c->server_len, hex, n);
		}
		line = next;
	}
	free(copy);
	if (rc < 0)
		transcript_free(t);
	return rc;
}

void transcript_free(struct transcript *t)
{
	for (size_t i = 0; i < t->nconns; i++) {
		free(t->conns[i].client);
		free(t->conns[i].server);
	}
	free(t->command);
	free(t->text);
	memset(t, 0, sizeof(*t));
}

const struct transcript_conn *transcript_conn(const struct transcript *t, int id)
{
	for (size_t i = 0; i < t->nconns; i++)
		if (t->conns[i].id == id)
			return &t->conns[i];
	return NULL;
}

char *transcript_section(const struct transcript *t, const char *section)
{
	char header[256];
	snprintf(header, sizeof(header), "# ---- %s", section);
	const char *p = t->text;
	while ((p = strstr(p, header)) != NULL) {
		if (p == t->text || p[-1] == '\n')
			break;
		p++;
	}
	if (!p)
		return NULL;
	p = strchr(p, '\n');
	size_t cap = strlen(t->text) + 1, len = 0;
	char *out = malloc(cap);
	if (!out)
		return NULL;
	while (p && strncmp(p + 1, "#|", 2) == 0) {
		const char *s = p + 3;
		if (*s == ' ')
			s++;
		const char *e = strchr(s, '\n');
		size_t n = e ? (size_t)(e - s) : strlen(s);
		memcpy(out + len, s, n);
		len += n;
		out[len++] = '\n';
		p = e;
	}
	out[len] = '\0';
	return out;
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int transcript_names(char ***names)
{
	DIR *d = opendir(transcript_dir());
	if (!d)
		return -1;
	int n = 0, cap = 64;
	char **v = malloc(sizeof(*v) * (size_t)cap);
	struct dirent *e;
	while (v && (e = readdir(d)) != NULL) {
		size_t l = strlen(e->d_name);
		if (l < 5 || strcmp(e->d_name + l - 4, ".txt") != 0 || strcmp(e->d_name, "README.txt") == 0)
			continue;
		if (n == cap) {
			char **nv = realloc(v, sizeof(*v) * (size_t)(cap *= 2));
			if (!nv)
				break;
			v = nv;
		}
		v[n++] = strdup(e->d_name);
	}
	closedir(d);
	if (!v)
		return -1;
	qsort(v, (size_t)n, sizeof(*v), cmp_names);
	*names = v;
	return n;
}

void transcript_names_free(char **names, int n)
{
	for (int i = 0; i < n; i++)
		free(names[i]);
	free(names);
}
