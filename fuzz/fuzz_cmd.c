/* Fuzz target for the command interpreter (libr/core: cmd.c, the '=' family in remote.c,
 * the server commands of servers.c, serve.c's CMD) on a core over malloc:// files, with the
 * operating system stubbed: the core's os_gate (core_private.h) refuses every shell
 * command, local file, outgoing connection and listening server before it reaches the
 * system, and the IO allows the malloc plugin only, so "o PATH" and "o rap://..." are
 * refused by policy. Nothing per input makes a system call.
 *
 * Input layout:
 *   byte 0      settings: bits 0-1 policy (all, write, read, none), bit 2 run on a served
 *               session's core (rap__core_new_shared, confined, as servers do), bit 3 through
 *               rap_core_rap_handler()'s CMD instead of rap_core_cmd_str, bits 4-5 output
 *               cap (64 KiB, 4 KiB, 256, 16 bytes), bit 6 shell allowed, bit 7 a second file
 *   the rest    command lines separated by NUL bytes (at most 8), run in turn on one core
 * Checks: results are 0 or negative; captured output and errors stay within the cap; the
 * current file is open and the block size in range after every line; the gate is asked
 * only for what it knows; no line ever reaches the OS. */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rap/core.h>

#include "core_private.h"

#include "fuzz.h"

#define INPUT_MAX 4096 /* a command line longer than this adds nothing but time */
#define LINES_MAX 8

static int gate(enum rap__core_os op, const char *what)
{
	CHECK(what != NULL);
	switch (op) {
	case RAP__CORE_OS_SHELL: return -EACCES;
	case RAP__CORE_OS_FILE: return -EACCES;
	case RAP__CORE_OS_CONNECT: return -ECONNREFUSED;
	case RAP__CORE_OS_LISTEN: return -EADDRINUSE;
	}
	abort();
}

static void check_state(struct rap_core *c)
{
	int fd = rap_core_current_fd(c);
	CHECK(fd == -1 || rap_io_fd_uri(rap_core_io(c), fd) != NULL);
	CHECK(c->blocksize >= 1 && c->blocksize <= RAP__CORE_BLOCK_MAX);
	CHECK(c->cmd_depth == 0);
	char prompt[64];
	size_t n = rap_core_prompt(c, prompt, sizeof prompt);
	CHECK(n < sizeof prompt && strlen(prompt) == n);
}

static void run_line(struct rap_core *c, const char *line, bool served_cmd, size_t cap)
{
	if (served_cmd) {
		char *out = NULL;
		int rc = rap_core_rap_handler()->cmd(c, line, &out);
		CHECK(rc <= 0);
		CHECK(!out || *out);
		free(out);
		return;
	}
	char *out = NULL, *err = NULL;
	int rc = rap_core_cmd_str(c, line, &out, &err);
	CHECK(rc <= 0);
	if (rc == RAP_ENOMEM && !out)
		return;
	CHECK(out != NULL && err != NULL);
	/* Output and errors stay within the cap, except that the reason for stopping is always
	 * given, alone when the cap is smaller than it. (Text with NUL bytes in it, from "pr",
	 * is longer than strlen says: this checks a lower bound.) */
	if (strlen(out) + strlen(err) > cap) {
		char stop[96];
		snprintf(stop, sizeof stop, "error: output exceeds %zu bytes; command stopped\n", cap);
		CHECK(rc == RAP_ETOOBIG && !*out && !strcmp(err, stop));
	}
	free(out);
	free(err);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const enum rap_core_policy policies[4] = { RAP_CORE_POLICY_ALL, RAP_CORE_POLICY_WRITE,
							  RAP_CORE_POLICY_READ, RAP_CORE_POLICY_NONE };
	static const size_t caps[4] = { 64u << 10, 4u << 10, 256, 16 };
	if (size < 1 || size > INPUT_MAX)
		return 0;
	uint8_t cfg = data[0];
	char *text = malloc(size);
	CHECK(text != NULL);
	memcpy(text, data + 1, size - 1);
	text[size - 1] = '\0';

	struct rap_core *owner = NULL;
	CHECK(rap_core_new(&owner) == 0);
	owner->os_gate = gate;
	struct rap_io *io = rap_core_io(owner);
	CHECK(rap_io_set_allowed_plugins(io, "malloc") == 0);
	CHECK(rap_core_open(owner, "malloc://4096", RAP_PERM_RW) >= 0);
	static const char pattern[] = "@00000000|rap2!\n@00000010|rap2!\n\xc3\xa9\x00\xff\x7f";
	CHECK(rap_io_write_at(io, rap_core_current_fd(owner), 0, pattern, sizeof pattern) ==
	      (ssize_t)sizeof pattern);
	if (cfg & 128)
		CHECK(rap_core_open(owner, "malloc://16", RAP_PERM_R) >= 0);

	struct rap_core *c = owner;
	if (cfg & 4) {
		CHECK(rap__core_new_shared(owner, &c) == 0);
		rap_core_set_confined(c, true);
	}
	rap_core_set_policy(c, policies[cfg & 3]);
	rap_core_set_allow_shell(c, cfg & 64);
	size_t cap = caps[(cfg >> 4) & 3];
	rap_core_set_output_max(c, cap);

	const char *line = text, *end = text + size - 1;
	for (int i = 0; i < LINES_MAX && line < end; i++) {
		run_line(c, line, cfg & 8, cap);
		check_state(c);
		line += strlen(line) + 1;
	}

	if (c != owner)
		rap_core_free(c);
	rap_core_free(owner);
	free(text);
	return 0;
}
