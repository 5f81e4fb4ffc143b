/* Shared between the files of librap-io (and its unit test); never installed. */
#ifndef RAP_IO_PRIVATE_H
#define RAP_IO_PRIVATE_H

#include <stdbool.h>

#include <rap/io.h>

/* Shown as "auth:" and "lice:" by a radare2-style -L listing. */
#define RAP__IO_AUTHOR "rap developers"
#define RAP__IO_LICENSE "MIT"

/* The built-in plugins, registered by rap_io_new in this order (the -L listing order).
 * rap's depends on whether librap has TLS (see io_rap.c). */
extern const struct rap_io_plugin rap__io_plugin_file;
extern const struct rap_io_plugin rap__io_plugin_malloc;
const struct rap_io_plugin *rap__io_plugin_rap(void);

/* Test hook: false makes rap_io_open_local behave as on a kernel without openat2 (the
 * component walk), so the unit test can run every escape attempt through both paths.
 * Process-wide; true by default. */
void rap__io_set_openat2(bool on);

#endif
