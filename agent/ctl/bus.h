/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * The CLI's side of the bus: reading an object's properties into a C struct through a map, and
 * saying why a call failed, with a hint where one helps. Every function that fails says why on
 * stderr, once.
 */

#include <stddef.h>
#include <systemd/sd-bus.h>

/* One property: its name, its D-Bus type ('s' and 'o' become a char * the struct owns, 'a' an
 * "as" as a NULL-terminated char ** it owns, 'T' an "a(sss)" as one flat NULL-terminated char ** of
 * three strings an entry, 'b' a bool, the numbers their C types) and where
 * it goes in the struct. Ends with {}. */
typedef struct PropertyMap {
        const char *name;
        char type;
        size_t offset;
} PropertyMap;

/* Reads an a{sv} (GetAll's reply, PropertiesChanged's changes) into data, for the names the map
 * knows; others are skipped. */
int map_properties(sd_bus_message *m, const PropertyMap *map, void *data);
/* Frees the strings and arrays map_properties() filled in, and leaves NULL. */
void free_properties(const PropertyMap *map, void *data);
/* The string field of data for a property, or NULL if the map has none of type 's'. */
char **property_string_field(const PropertyMap *map, void *data, const char *name);

/* GetAll on one of the agent's objects, into data. */
int get_properties(sd_bus *bus, const char *path, const char *interface, const PropertyMap *map, void *data);

/* "Failed to WHAT: message", and a hint for the errors that have one; returns r. */
int error_bus(const char *what, const sd_bus_error *e, int r);
