/* Shared between the files of librap-io (and its unit test); never installed. */
#ifndef RAP_IO_PRIVATE_H
#define RAP_IO_PRIVATE_H

#include <stdbool.h>
#include <stdint.h>

#include <rap/io.h>

/* Shown as "auth:" and "lice:" by a radare2-style -L listing. */
#define RAP__IO_AUTHOR "rap developers"
#define RAP__IO_LICENSE "MIT"

/* The built-in plugins, registered by rap_io_new in this order (the -L listing order).
 * rap's depends on whether librap has TLS (see io_rap.c). */
extern const struct rap_io_plugin rap__io_plugin_file;
extern const struct rap_io_plugin rap__io_plugin_malloc;
const struct rap_io_plugin *rap__io_plugin_rap(void);
extern const struct rap_io_plugin rap__io_plugin_dbg;

/* dbg://: takes one debugged process from io's limit and the process-wide one
 * (rap_io_set_max_processes*); -EAGAIN with rap_io_error saying which is full. Given back
 * with rap__io_proc_give. */
int rap__io_proc_take(struct rap_io *io);
void rap__io_proc_give(struct rap_io *io);
/* The plugin state of the open descriptor fd (rap_io_desc_data), or NULL. Borrowed, valid
 * while fd is open. */
void *rap__io_fd_data(struct rap_io *io, int fd);
/* Where debugged programs' output goes (rap_io_set_dbg_output). */
int rap__io_dbg_output(struct rap_io *io);

/* Test hook: the clock io's read cache measures its requests with (see
 * rap__io_cache_set_clock); NULL: the real one. */
void rap__io_set_cache_clock(struct rap_io *io, uint64_t (*now_ns)(void *user), void *user);

/* Test hook: false makes rap_io_open_local behave as on a kernel without openat2 (the
 * component walk), so the unit test can run every escape attempt through both paths.
 * Process-wide; true by default. */
void rap__io_set_openat2(bool on);

#endif
