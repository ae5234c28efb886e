/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Intrusive doubly-linked lists, after systemd's src/basic/list.h (private to systemd, so ours):
 * an object that lives on a list has LIST_FIELDS(Type, name) (name##_next, name##_prev), the
 * owner keeps a `Type *head`, and the macros keep both in step. Removal needs no walk, so
 * destructors can take themselves off their owner's list in O(1).
 */

#define LIST_FIELDS(t, name) t *name##_next, *name##_prev

/* Puts item first. */
#define LIST_PREPEND(name, head, item)                                     \
        do {                                                               \
                __typeof__(*(head)) **_head = &(head), *_item = (item);   \
                _item->name##_prev = NULL;                                 \
                if ((_item->name##_next = *_head))                         \
                        _item->name##_next->name##_prev = _item;           \
                *_head = _item;                                            \
        } while (0)

/* Puts item after a (at the head when a is NULL). */
#define LIST_INSERT_AFTER(name, head, a, item)                             \
        do {                                                               \
                __typeof__(*(head)) **_h = &(head), *_a = (a), *_it = (item); \
                _it->name##_prev = _a;                                     \
                _it->name##_next = _a ? _a->name##_next : *_h;             \
                if (_it->name##_next)                                      \
                        _it->name##_next->name##_prev = _it;               \
                if (_a)                                                    \
                        _a->name##_next = _it;                             \
                else                                                       \
                        *_h = _it;                                         \
        } while (0)

/* Takes item off the list; harmless for an item on no list (both links NULL, not the head). */
#define LIST_REMOVE(name, head, item)                                      \
        do {                                                               \
                __typeof__(*(head)) **_head = &(head), *_item = (item);   \
                if (_item->name##_next)                                    \
                        _item->name##_next->name##_prev = _item->name##_prev; \
                if (_item->name##_prev)                                    \
                        _item->name##_prev->name##_next = _item->name##_next; \
                else if (*_head == _item)                                  \
                        *_head = _item->name##_next;                       \
                _item->name##_next = _item->name##_prev = NULL;            \
        } while (0)

#define LIST_FOREACH(name, i, head) for (__typeof__(head) i = (head); i; i = i->name##_next)

/* Safe against freeing i in the body. */
#define LIST_FOREACH_SAFE(name, i, n, head) \
        for (__typeof__(head) i = (head), n = i ? i->name##_next : NULL; i; i = n, n = i ? i->name##_next : NULL)
