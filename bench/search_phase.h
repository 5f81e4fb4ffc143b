/* rapbench's search phase: a local "/x" of 8 bytes through librap-core over a large file,
 * against a plain memmem loop over the same bytes (the file mapped), measured in the same
 * run. */
#ifndef RAPBENCH_SEARCH_PHASE_H
#define RAPBENCH_SEARCH_PHASE_H

#include <stdbool.h>
#include <stdint.h>

struct search_figures {
	bool ran;
	int exit;           /* a sysexits code; 0 when it completed */
	char note[240];     /* why it stopped, or a caveat */
	uint64_t bytes;     /* the size of the file searched */
	unsigned rounds;    /* rounds measured; the median is reported */
	double rap_s;       /* median seconds of rap_core_cmd_str("/x ...") */
	double memmem_s;    /* median seconds of the memmem loop */
	uint64_t rap_hits, memmem_hits;
};

/* Writes a pseudo-random file of bytes bytes (with the pattern planted at a few places,
 * one across a 1 MiB boundary) into dir, then rounds times searches it through
 * librap-core and with memmem, interleaved, after one untimed round of each; removes the
 * file. Unless quiet, says what it does on stderr, one line per step. */
void search_phase(const char *dir, uint64_t bytes, unsigned rounds, bool quiet, struct search_figures *out);

#endif
