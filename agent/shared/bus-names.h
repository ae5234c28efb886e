/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Every name the agent is reached by, defined once for the daemon, the CLI and the tests: the
 * well-known bus name, object paths and their prefixes, interfaces, and the polkit action ids
 * (INTERFACE.md fixes them all; dbus/org.etcdbackup.Agent1.xml and
 * polkit/org.etcdbackup.agent1.policy spell them out for the bus and polkit). Named errors are
 * in errors.h, under AGENT_ERROR_PREFIX.
 */

#define AGENT_BUS_NAME "org.etcdbackup.Agent1"
#define AGENT_ERROR_PREFIX AGENT_BUS_NAME ".Error."

/* The Manager, also the ObjectManager of everything below it. */
#define AGENT_OBJECT_PATH "/org/etcdbackup/Agent1"
#define AGENT_MANAGER_INTERFACE AGENT_BUS_NAME ".Manager"

/* One object per item below the Manager: PREFIX/ID, the id bus-label escaped. */
#define BACKUP_OBJECT_PREFIX AGENT_OBJECT_PATH "/backup"
#define BACKUP_INTERFACE AGENT_BUS_NAME ".Backup"
#define CONFIG_OBJECT_PREFIX AGENT_OBJECT_PATH "/config"
#define CONFIG_INTERFACE AGENT_BUS_NAME ".Config"
#define RESTORE_OBJECT_PREFIX AGENT_OBJECT_PATH "/restore"
#define RESTORE_INTERFACE AGENT_BUS_NAME ".Restore"

/* polkit actions, one per risk level (polkit/org.etcdbackup.agent1.policy). */
#define POLKIT_ACTION_BACKUP "org.etcdbackup.agent1.backup"
#define POLKIT_ACTION_MANAGE_CONFIGS "org.etcdbackup.agent1.manage-configs"
#define POLKIT_ACTION_DELETE_BACKUP "org.etcdbackup.agent1.delete-backup"
#define POLKIT_ACTION_RESTORE "org.etcdbackup.agent1.restore"
#define POLKIT_ACTION_IMPORT_BACKUP "org.etcdbackup.agent1.import-backup"

/* freedesktop's standard interfaces, which sd-bus has no names for. */
#define DBUS_PROPERTIES_INTERFACE "org.freedesktop.DBus.Properties"
#define DBUS_OBJECT_MANAGER_INTERFACE "org.freedesktop.DBus.ObjectManager"
