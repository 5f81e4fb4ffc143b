/* Reader for the radare2 byte transcripts in test/vectors/r2 (see its README.txt):
 * concatenates the C> and S> chunks of each connection and collects the "#|" sections. */
#ifndef RAP_TEST_TRANSCRIPT_H
#define RAP_TEST_TRANSCRIPT_H

#include <stddef.h>
#include <stdint.h>

#define TRANSCRIPT_MAX_CONNS 8

struct transcript_conn {
	int id;            /* "conn N" number, 1 when the file has one connection */
	uint8_t *client;   /* bytes client -> server, in order */
	size_t client_len;
	uint8_t *server;   /* bytes server -> client */
	size_t server_len;
};

struct transcript {
	char *command;     /* the "# client command:" line's text */
	struct transcript_conn conns[TRANSCRIPT_MAX_CONNS];
	size_t nconns;
	char *text;        /* whole file, for section lookups */
};

/* Directory of the transcripts: $RAP_INTEROP_DIR. Static string. */
const char *transcript_dir(void);

/* Loads name (a file name inside transcript_dir(), or a path with a '/'). 0 or -1. */
int transcript_load(const char *name, struct transcript *t);
void transcript_free(struct transcript *t);

/* The verbatim "#| " lines of the section whose header line starts with
 * "# ---- <section>" (e.g. "client stdout"), joined with '\n' after each line.
 * Heap string (free()), or NULL when the section does not exist. */
char *transcript_section(const struct transcript *t, const char *section);

/* The conn with that id, or NULL. */
const struct transcript_conn *transcript_conn(const struct transcript *t, int id);

/* Every *.txt transcript file name in transcript_dir() except README; sorted. *names is a
 * heap array of heap strings; free with transcript_names_free. Returns the count or -1. */
int transcript_names(char ***names);
void transcript_names_free(char **names, int n);

#endif
