/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The names users type: backup configuration names and backup ids (INTERFACE.md). */

#include <stdbool.h>

#define CONFIG_NAME_MAX 63
#define BACKUP_ID_STRING_MAX 37 /* 36 characters of UUID and the NUL */

/* [a-z0-9][a-z0-9_-]{0,62}: safe in a file name, a unit instance name and an object path. */
bool config_name_is_valid(const char *s);

/* A UUID in any case; writes the canonical lower-case form into ret. -EINVAL if not a UUID. */
int backup_id_normalize(const char *s, char ret[static BACKUP_ID_STRING_MAX]);
/* A new random backup id. */
void backup_id_generate(char ret[static BACKUP_ID_STRING_MAX]);
