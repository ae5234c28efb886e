/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Importing a backup file taken on another node: Manager.ImportBackup(h fd, a{sv} options).
 * The file comes as a descriptor (a regular file, a pipe or a socket), is copied into the
 * storage directory on a worker thread, verified end to end there, and becomes a completed
 * Backup under its own id and configuration (or the one the Config option names). One import
 * runs at a time; the call is answered once it is done.
 */

#include <systemd/sd-bus.h>

#include "manager.h"

int bus_manager_method_import_backup(sd_bus_message *msg, void *userdata, sd_bus_error *error);

/* Cancels a running import (its partial file is removed) and answers its caller. */
BackupImport *backup_import_free(BackupImport *i);
DEFINE_TRIVIAL_CLEANUP_FUNC(BackupImport *, backup_import_free);
