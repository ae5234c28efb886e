/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * The agent's per-item bus objects (backups, configurations, restores). Each kind lives at
 * PREFIX/ID, the id bus-label escaped (sd_bus_path_encode()), and is served by one fallback
 * vtable, whose lookup turns a path back into an id and the id into the object, and listed by
 * a node enumerator (introspection and the ObjectManager's GetManagedObjects walk it). A kind
 * says how to find one object and how to walk them all; bus_object_kind_add() registers both.
 * Non-logging.
 */

#include <stddef.h>
#include <systemd/sd-bus.h>

typedef struct BusObjectKind {
        const char *prefix; /* BACKUP_OBJECT_PREFIX, ... */
        const char *interface;
        const sd_bus_vtable *vtable;
        /* The object of that id (decoded from the path), or NULL: it becomes the vtable's
         * userdata. userdata is bus_object_kind_add()'s, the owner of the objects. */
        void *(*find)(void *userdata, const char *id);
        /* Walks the objects: the first for prev NULL, then the one after prev; NULL after the
         * last. */
        void *(*next)(void *userdata, void *prev);
        /* Where each object keeps its path: a char * (as sd_bus_path_encode() gives it). */
        size_t path_offset;
} BusObjectKind;

/* Serves the kind's objects on bus, for their owner userdata, until the bus is freed. kind
 * must live as long (a static const). */
int bus_object_kind_add(sd_bus *bus, const BusObjectKind *kind, void *userdata);
