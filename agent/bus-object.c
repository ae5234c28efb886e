/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* One lookup and one enumerator for every kind of per-item object (see bus-object.h). */

#include <errno.h>
#include <stdlib.h>

#include "bus-object.h"
#include "macro.h"
#include "string-util.h"

/* What sd-bus hands both callbacks: which kind, and whose objects. */
typedef struct BusObjects {
        const BusObjectKind *kind;
        void *userdata;
} BusObjects;

static const char *object_path(const BusObjectKind *kind, void *object) {
        return *(char **) ((uint8_t *) object + kind->path_offset);
}

static int object_find(sd_bus *bus, const char *path, const char *interface, void *userdata, void **found,
                       sd_bus_error *error) {
        BusObjects *o = userdata;
        _cleanup_free_ char *id = NULL;
        void *object;
        int r;

        r = sd_bus_path_decode(path, o->kind->prefix, &id);
        if (r <= 0)
                return r; /* not below the prefix, or the prefix itself: no object */
        object = o->kind->find(o->userdata, id);
        if (!object)
                return 0;
        *found = object;
        return 1;
}

static int node_enumerator(sd_bus *bus, const char *path, void *userdata, char ***nodes, sd_bus_error *error) {
        BusObjects *o = userdata;
        _cleanup_strv_free_ char **l = calloc(1, sizeof(char *));
        int r;

        if (!l)
                return -ENOMEM;
        for (void *i = o->kind->next(o->userdata, NULL); i; i = o->kind->next(o->userdata, i)) {
                r = strv_extend(&l, object_path(o->kind, i));
                if (r < 0)
                        return r;
        }
        *nodes = TAKE_PTR(l);
        return 1;
}

int bus_object_kind_add(sd_bus *bus, const BusObjectKind *kind, void *userdata) {
        _cleanup_(sd_bus_slot_unrefp) sd_bus_slot *vtable_slot = NULL, *enumerator_slot = NULL;
        _cleanup_free_ BusObjects *o = NULL;
        int r;

        o = new0(BusObjects, 1);
        if (!o)
                return -ENOMEM;
        *o = (BusObjects) { .kind = kind, .userdata = userdata };

        r = sd_bus_add_fallback_vtable(bus, &vtable_slot, kind->prefix, kind->interface, kind->vtable, object_find, o);
        if (r < 0)
                return r;
        r = sd_bus_add_node_enumerator(bus, &enumerator_slot, kind->prefix, node_enumerator, o);
        if (r < 0)
                return r;
        /* Nothing fails from here (a slot just added has its bus). Both slots belong to the bus
         * now; the vtable's frees o, which both use, when the bus goes: sd-bus calls no
         * callback while it frees its slots. */
        (void) sd_bus_slot_set_destroy_callback(vtable_slot, free);
        TAKE_PTR(o);
        (void) sd_bus_slot_set_floating(vtable_slot, true);
        (void) sd_bus_slot_set_floating(enumerator_slot, true);
        return 0;
}
