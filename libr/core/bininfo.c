/* The executable header of the current file (binhdr.c parses it): asm.arch, asm.bits and
 * cfg.bigendian follow it unless the user set them, as radare2's do after loading a binary,
 * and "i" adds the lines radare2's "i" shows for it. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <rap/core.h>

#include "arch.h"
#include <rap/dbg.h>

#include "binhdr.h"
#include "core_private.h"

struct file_ctx {
	struct rap_core *c;
	int fd;
};

static int read_file(void *ctx, uint64_t off, uint8_t *buf, size_t len)
{
	struct file_ctx *f = ctx;
	if (len > INT32_MAX)
		len = INT32_MAX;
	ssize_t n = rap_io_read_at(f->c->io, f->fd, off, buf, len);
	return (int)n;
}

int rap__core_bin_header(struct rap_core *c, struct rap__binhdr *out)
{
	memset(out, 0, sizeof(*out));
	if (c->fd < 0)
		return RAP_EBADFD;
	uint64_t size;
	if (rap_io_size(c->io, c->fd, &size) < 0)
		size = UINT64_MAX;
	struct file_ctx f = { c, c->fd };
	return rap__binhdr_parse(read_file, &f, size, out);
}

/* A debugged process runs the host's code. */
static bool follow_debugger(struct rap_core *c)
{
	const struct rap_dbg_arch *a = c->fd >= 0 && rap_io_dbg(c->io, c->fd) ? rap_dbg_host_arch() : NULL;
	if (!a)
		return false;
	bool x86 = !strcmp(a->name, "x86_64");
	(void)rap__core_config_auto(c, RAP__VAR_ASM_ARCH, x86 ? "x86" : "arm");
	(void)rap__core_config_auto(c, RAP__VAR_ASM_BITS, a->pc_bits == 64 ? "64" : "32");
	(void)rap__core_config_auto(c, RAP__VAR_CFG_BIGENDIAN, "false");
	return true;
}

void rap__core_bin_follow(struct rap_core *c)
{
	struct rap__binhdr h;
	if (follow_debugger(c))
		return;
	if (rap__core_bin_header(c, &h) < 0)
		return;
	const struct rap__arch *a = rap__arch_find(h.arch);
	if (a)
		(void)rap__core_config_auto(c, RAP__VAR_ASM_ARCH, a->name);
	/* The bits follow when they are a mode of whatever asm.arch is now (the user's choice
	 * of architecture stands, as in radare2 with -a). */
	char bits[8];
	snprintf(bits, sizeof(bits), "%u", h.bits);
	(void)rap__core_config_auto(c, RAP__VAR_ASM_BITS, bits);
	(void)rap__core_config_auto(c, RAP__VAR_CFG_BIGENDIAN, h.big_endian ? "true" : "false");
}

static void pair(struct rap_core *c, const char *key, const char *value)
{
	/* rap's "i" layout, which is radare2's: the key in 9 columns. */
	fprintf(c->out, "%-8s %s\n", key, value);
}

void rap__core_bin_print(struct rap_core *c, const struct rap__binhdr *h)
{
	char buf[80];
	if (h->type)
		pair(c, "type", h->type);
	pair(c, "arch", h->arch);
	pair(c, "bintype", h->bintype);
	snprintf(buf, sizeof(buf), "%u", h->bits);
	pair(c, "bits", buf);
	pair(c, "class", h->bclass);
	pair(c, "endian", h->big_endian ? "big" : "little");
	if (h->has_entry) {
		if (h->has_entry_paddr)
			snprintf(buf, sizeof(buf), "vaddr=0x%08" PRIx64 " paddr=0x%08" PRIx64, h->entry, h->entry_paddr);
		else
			snprintf(buf, sizeof(buf), "vaddr=0x%08" PRIx64, h->entry);
		pair(c, "entry", buf);
	}
	pair(c, "machine", h->machine);
}
