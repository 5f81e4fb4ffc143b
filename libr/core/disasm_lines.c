/* radare2's jump arrows ("asm.lines"), derived from what radare2 6.2.1 draws:
 *
 * Every jump of the listing (from its address to its target, even outside the listing) is
 * a vertical line in a column, its "level": 1 is the column nearest the addresses. Levels
 * are handed out by walking the ends of all jumps in address order (at one address, the end
 * of the jump met later in the listing first): the first end of a jump takes the lowest free
 * level, the second end frees it, so jumps that do not overlap share columns.
 *
 * The line at an address shows the jumps that span it, highest level first (leftmost): at a
 * jump's source a corner ("┌" going down, "└" coming up from a target above) and a
 * horizontal run to the address column ending in "─<"; at a target the same ending in "─>";
 * elsewhere a vertical, "│" for a jump downwards and "╎" for one upwards. Once a corner is
 * drawn, the lines to its right are covered by its horizontal run. The drawing is padded or
 * cut on the left to seven cells, then the three cells of the arrow follow. */
#include <stdlib.h>
#include <string.h>

#include <rap/rap.h>

#include "common.h"
#include "disasm.h"

#define LINES_WIDTH 7

struct refline {
	uint64_t from, to;
	int level;    /* 1-based; 0 until laid out */
	size_t index; /* order of addition */
};

struct rap__reflines {
	struct refline *v; /* owned */
	size_t n, cap;
};

int rap__reflines_new(struct rap__reflines **out)
{
	*out = rap__calloc(1, sizeof(**out));
	return *out ? 0 : RAP_ENOMEM;
}

void rap__reflines_free(struct rap__reflines *r)
{
	if (!r)
		return;
	rap__free(r->v);
	rap__free(r);
}

int rap__reflines_add(struct rap__reflines *r, uint64_t from, uint64_t to)
{
	if (r->n == r->cap) {
		size_t cap = r->cap ? r->cap * 2 : 16;
		struct refline *v = rap__realloc(r->v, cap * sizeof(*v));
		if (!v)
			return RAP_ENOMEM;
		r->v = v;
		r->cap = cap;
	}
	r->v[r->n] = (struct refline){ .from = from, .to = to, .level = 0, .index = r->n };
	r->n++;
	return 0;
}

struct end {
	uint64_t val;
	size_t order; /* 2 * index, +1 for the target end */
	struct refline *ref;
};

static int cmp_end(const void *pa, const void *pb)
{
	const struct end *a = pa, *b = pb;
	if (a->val != b->val)
		return a->val < b->val ? -1 : 1;
	/* At one address the end added later comes first. */
	return a->order < b->order ? 1 : a->order > b->order ? -1 : 0;
}

void rap__reflines_layout(struct rap__reflines *r)
{
	if (!r->n)
		return;
	struct end *ends = rap__malloc(2 * r->n * sizeof(*ends));
	bool *used = rap__calloc(r->n + 1, sizeof(*used));
	if (!ends || !used) {
		/* Without memory every jump shares column 1: still a drawing, never a crash. */
		for (size_t i = 0; i < r->n; i++)
			r->v[i].level = 1;
		rap__free(ends);
		rap__free(used);
		return;
	}
	for (size_t i = 0; i < r->n; i++) {
		ends[2 * i] = (struct end){ r->v[i].from, 2 * i, &r->v[i] };
		ends[2 * i + 1] = (struct end){ r->v[i].to, 2 * i + 1, &r->v[i] };
	}
	qsort(ends, 2 * r->n, sizeof(*ends), cmp_end);
	size_t lowest = 0; /* the lowest free level - 1 */
	for (size_t i = 0; i < 2 * r->n; i++) {
		struct refline *ref = ends[i].ref;
		if (!ref->level) {
			ref->level = (int)lowest + 1;
			used[lowest] = true;
			while (lowest < r->n && used[++lowest])
				;
		} else {
			used[ref->level - 1] = false;
			if (lowest > (size_t)ref->level - 1)
				lowest = (size_t)ref->level - 1;
		}
	}
	rap__free(ends);
	rap__free(used);
}

static int cmp_level_desc(const void *pa, const void *pb)
{
	const struct refline *a = *(const struct refline *const *)pa, *b = *(const struct refline *const *)pb;
	if (a->level != b->level)
		return a->level > b->level ? -1 : 1;
	return a->index < b->index ? -1 : a->index > b->index ? 1 : 0;
}

/* The drawing in ASCII, one byte a cell, as radare2 builds it before it swaps in the box
 * characters: ',' '.' '`' corners, '=' and '-' runs, '|' and ':' verticals. */
struct row {
	char c[160];
	size_t len;
};

static void put(struct row *w, char ch)
{
	if (w->len < sizeof(w->c))
		w->c[w->len++] = ch;
}

static void put_at(struct row *w, size_t at, char ch)
{
	if (at < w->len)
		w->c[at] = ch;
}

static void spaces(struct row *w, int level, int pos)
{
	if (pos != -1 && pos > level + 1)
		for (int i = 0; i < pos - level - 1; i++)
			put(w, ' ');
}

static const char *cell(char ch)
{
	switch (ch) {
	case '<': return "<";
	case '>': return ">";
	case ':': return "\xe2\x95\x8e"; /* ╎ */
	case '|': return "\xe2\x94\x82"; /* │ */
	case '=':
	case '-': return "\xe2\x94\x80"; /* ─ */
	case ',':
	case '.': return "\xe2\x94\x8c"; /* ┌ */
	case '`': return "\xe2\x94\x94"; /* └ */
	default: return " ";
	}
}

size_t rap__reflines_render(const struct rap__reflines *r, uint64_t addr, char *buf, size_t cap)
{
	struct refline *small[64], **active = small;
	size_t nactive = 0;
	if (r && r->n > 64) {
		active = rap__malloc(r->n * sizeof(*active));
		if (!active)
			active = small;
	}
	size_t room = r && active != small ? r->n : 64;
	for (size_t i = 0; r && i < r->n && nactive < room; i++) {
		struct refline *ref = &r->v[i];
		uint64_t lo = ref->from < ref->to ? ref->from : ref->to, hi = ref->from < ref->to ? ref->to : ref->from;
		if (lo <= addr && addr <= hi)
			active[nactive++] = ref;
	}
	qsort(active, nactive, sizeof(*active), cmp_level_desc);
	struct row w = { .len = 0 };
	put(&w, ' ');
	int pos = -1, max_level = -1, dir = 0;
	for (size_t i = 0; i < nactive; i++) {
		struct refline *ref = active[i];
		if (ref->from == addr || ref->to == addr) {
			char corner = ref->from == ref->to ? '@'
				      : addr == ref->to   ? (ref->from > ref->to ? '.' : '`')
							  : (ref->from > ref->to ? '`' : ',');
			char run = ref->from == addr ? '=' : '-';
			if (pos == 0) {
				size_t at = (size_t)(max_level + 1 - ref->level);
				put_at(&w, at, corner);
				for (int k = 0; k < ref->level - 1; k++)
					put_at(&w, at + 1 + (size_t)k, run);
			} else {
				spaces(&w, ref->level, pos);
				put(&w, corner);
				for (int k = 0; k < ref->level - 1; k++)
					put(&w, run);
			}
			dir = ref->to == addr ? 1 : 2;
			pos = 0;
		} else {
			if (pos == 0)
				continue;
			spaces(&w, ref->level, pos);
			put(&w, ref->from >= ref->to ? ':' : '|');
			pos = ref->level;
		}
		if (max_level == -1)
			max_level = ref->level;
	}
	spaces(&w, 0, pos);
	if (active != small)
		rap__free(active);
	/* Seven cells: padded on the left, or the leftmost cut. */
	size_t skip = w.len > LINES_WIDTH ? w.len - LINES_WIDTH : 0;
	size_t pad = w.len < LINES_WIDTH ? LINES_WIDTH - w.len : 0;
	const char *arrow = dir == 1 ? "-> " : dir == 2 ? "=< " : "   ";
	size_t n = 0;
	for (size_t i = 0; i < pad + (w.len - skip) + 3; i++) {
		char ch = i < pad ? ' ' : i < pad + (w.len - skip) ? w.c[skip + i - pad] : arrow[i - pad - (w.len - skip)];
		const char *s = cell(ch);
		size_t sl = strlen(s);
		if (n + sl < cap)
			memcpy(buf + n, s, sl);
		n += sl;
	}
	if (cap)
		buf[n < cap ? n : cap - 1] = '\0';
	return n;
}
