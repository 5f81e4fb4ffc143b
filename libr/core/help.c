/* Printing help pages. A page is one string of lines: "COMMAND\tWHAT IT DOES" prints as
 * "| COMMAND", padded with blanks to the page's column, then what it does; a line without a
 * tab (a usage line, a title, a note) prints as it is. Kept so, a page costs its text alone:
 * neither the blanks of a column nor a table of pointers per line. */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "core_private.h"

void rap__help_print(FILE *out, const char *page, int column)
{
	const char *l = page;
	/* No column given: two blanks after the widest command. */
	for (bool widest = !column; widest && *l; l++) {
		int w = (int)strcspn(l, "\t\n");
		if (l[w] == '\t' && w + 2 > column)
			column = w + 2;
		l += strcspn(l, "\n");
		if (!*l)
			break;
	}
	for (l = page; *l; l++) {
		int n = (int)strcspn(l, "\t\n");
		if (l[n] == '\t') {
			int what = (int)strcspn(l + n + 1, "\n");
			/* A command wider than the column still gets its two blanks. */
			fprintf(out, "| %-*.*s%.*s\n", n + 2 > column ? n + 2 : column, n, l, what, l + n + 1);
			l += n + 1 + what;
		} else {
			fprintf(out, "%.*s\n", n, l);
			l += n;
		}
		if (!*l)
			break;
	}
}
