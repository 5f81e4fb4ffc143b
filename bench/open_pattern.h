/* The requests a stock radare2 client sends when it opens a file with binary loading, read
 * from a recorded transcript (test/vectors/r2/open-ro.txt: "C> hex" lines, one TCP chunk
 * from the client each), so that rapbench can replay the same sequence, one request per
 * round trip as the stock client does, across an emulated link. */
#ifndef RAPBENCH_OPEN_PATTERN_H
#define RAPBENCH_OPEN_PATTERN_H

#include <stddef.h>
#include <stdint.h>

#define OPEN_PATTERN_CMD_MAX 256 /* longer CMD payloads are not part of an open */

struct open_request {
	uint8_t op;     /* RAP_OP_OPEN, RAP_OP_SEEK, RAP_OP_READ or RAP_OP_CMD */
	uint8_t whence; /* SEEK */
	uint64_t offset;
	uint32_t len;   /* READ: bytes asked; CMD: payload length (with its NUL) */
	uint8_t cmd[OPEN_PATTERN_CMD_MAX];
};

struct open_pattern {
	size_t n;
	struct open_request *req; /* owned, n of them */
	size_t opens, seeks, reads, cmds;
};

/* Loads the client's requests of transcript path (the OPEN's path is not kept: the replay
 * opens the benchmark's file). Returns 0, or a negative errno (-ENOENT, -ENOMEM) or
 * RAP_EPROTO for a transcript whose client bytes do not decode as RAP requests, with a
 * reason in why. */
int open_pattern_load(const char *path, struct open_pattern *out, char *why, size_t why_cap);

void open_pattern_free(struct open_pattern *p);

#endif
