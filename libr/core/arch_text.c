/* String helpers the per-architecture text rules share: deleting and replacing within a
 * fixed buffer, and reading numbers the way radare2's rewriting reads them. */
#include <ctype.h>
#include <string.h>

#include "arch.h"

void rap__text_delete_char(char *text, char ch)
{
	char *d = text;
	for (const char *s = text; *s; s++)
		if (*s != ch)
			*d++ = *s;
	*d = '\0';
}

bool rap__text_splice(char *text, size_t cap, size_t at, size_t len, const char *repl)
{
	size_t n = strlen(text), rl = strlen(repl);
	if (at > n || len > n - at || n - len + rl + 1 > cap)
		return false;
	memmove(text + at + rl, text + at + len, n - at - len + 1);
	memcpy(text + at, repl, rl);
	return true;
}

bool rap__text_replace_all(char *text, size_t cap, const char *from, const char *to)
{
	size_t fl = strlen(from), tl = strlen(to);
	if (!fl)
		return true;
	for (char *p = strstr(text, from); p; p = strstr(p, from)) {
		if (!rap__text_splice(text, cap, (size_t)(p - text), fl, to))
			return false;
		p += tl;
	}
	return true;
}

uint64_t rap__text_number(const char *s)
{
	while (*s == ' ' || *s == '\t')
		s++;
	uint64_t v = 0;
	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		for (s += 2; isxdigit((unsigned char)*s); s++)
			v = v << 4 | (uint64_t)(isdigit((unsigned char)*s) ? *s - '0' : tolower((unsigned char)*s) - 'a' + 10);
		return v;
	}
	if (s[0] == '0' && isdigit((unsigned char)s[1])) {
		for (; *s >= '0' && *s <= '7'; s++)
			v = v << 3 | (uint64_t)(*s - '0');
		return v;
	}
	bool neg = *s == '-';
	if (neg)
		s++;
	for (; isdigit((unsigned char)*s); s++)
		v = v * 10 + (uint64_t)(*s - '0');
	return neg ? (uint64_t)0 - v : v;
}

void rap__text_mnemonic(const char *text, char *buf, size_t cap)
{
	size_t n = strcspn(text, " \t");
	if (cap == 0)
		return;
	if (n >= cap)
		n = cap - 1;
	memcpy(buf, text, n);
	buf[n] = '\0';
}

bool rap__text_word_in(const char *mnemonic, const char *list)
{
	size_t len = strlen(mnemonic);
	for (const char *p = list;;) {
		size_t n = strcspn(p, " ");
		if (n == len && !strncmp(p, mnemonic, len))
			return true;
		if (!p[n])
			return false;
		p += n + 1;
	}
}

bool rap__text_last_number(const char *text, uint64_t *out)
{
	const char *ops = strchr(text, ' ');
	if (!ops)
		return false;
	const char *comma = strrchr(ops, ',');
	const char *last = comma ? comma + 1 : ops;
	while (*last == ' ')
		last++;
	const char *p = last;
	if (*p == '-')
		p++;
	if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X')) {
		p += 2;
		if (!isxdigit((unsigned char)*p))
			return false;
		while (isxdigit((unsigned char)*p))
			p++;
	} else {
		if (!isdigit((unsigned char)*p))
			return false;
		while (isdigit((unsigned char)*p))
			p++;
	}
	if (*p)
		return false;
	*out = rap__text_number(last);
	return true;
}
