/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * What the CLI does on a terminal, as systemd's tools: colors (decided once, from the
 * environment and whether stdout is a terminal) and the pager. The decisions are pure functions
 * of their inputs, so that the unit tests can ask them; the rest reads the process's environment.
 */

#include <stdbool.h>
#include <stddef.h>

#define ANSI_RED "\033[0;31m"
#define ANSI_GREEN "\033[0;32m"
#define ANSI_NORMAL "\033[0m"

/* Whether to color, from NO_COLOR, SYSTEMD_COLORS, TERM and whether stdout is a terminal (each
 * NULL when unset): NO_COLOR set (any value), SYSTEMD_COLORS false ("0", "no", "false", "off"),
 * TERM=dumb or unset, or not a terminal: no. SYSTEMD_COLORS true forces colors even on a pipe. */
bool colors_decide(const char *no_color, const char *systemd_colors, const char *term, bool tty);
/* The decision for this process, taken at the first call (before the pager takes stdout). */
bool colors_enabled(void);
/* The escape sequence of a state, result or phase ("failed", "rolled-back", "broken" red;
 * "completed", "success" green), "" for the others and when colors are off. A TableColorFunc. */
const char *color_of_state(const char *state);
/* ANSI_NORMAL, or "" when colors are off. */
const char *color_normal(void);

/* The pager command from SYSTEMD_PAGER, then PAGER (NULL when unset): NULL when paging is off
 * (set to "" or "cat"), else the command, "" meaning the default (less, then more). */
const char *pager_decide(const char *systemd_pager, const char *pager);
/* Pipes stdout into the pager when stdout is a terminal, --no-pager and --json were not given and
 * the environment does not turn it off. Waits for the pager at exit. Failing to start it is not
 * an error: output goes to the terminal. */
void pager_open(void);
/* Flushes, closes the pipe and waits for the pager; also done at exit. */
void pager_close(void);

/* The width tables are fitted to, as systemd decides it: no limit (SIZE_MAX) with --full or when
 * stdout is not a terminal (tty_columns < 0: a pipe, a file, the pager), so that scripts see
 * every value whole; else $COLUMNS when it is a number from 1 to 65535, the terminal's width
 * (tty_columns, from TIOCGWINSZ; 0 when it does not say), or 80. */
size_t columns_decide(const char *columns_env, int tty_columns, bool full);
/* The decision for stdout now, with arg_full. */
size_t table_width(void);
