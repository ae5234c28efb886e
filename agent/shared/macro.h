/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Ownership and error idioms shared by the daemon, the CLI and the tests. systemd's own
 * versions (_cleanup_free_, TAKE_PTR, DEFINE_TRIVIAL_CLEANUP_FUNC) live in its private
 * src/basic, which libsystemd does not export, so we keep small equivalents here.
 */

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define _cleanup_(f) __attribute__((cleanup(f)))
#define _unused_ __attribute__((unused))
#define _printf_(a, b) __attribute__((format(printf, a, b)))
#define _sentinel_ __attribute__((sentinel))
#define _noreturn_ __attribute__((noreturn))

#define ELEMENTSOF(x) (sizeof(x) / sizeof((x)[0]))

/* x is one of the values listed (integers). */
#define IN_SET(x, ...)                                                          \
        ({                                                                      \
                const __typeof__(x) _set_[] = { __VA_ARGS__ };                  \
                bool _in_ = false;                                              \
                for (size_t _i_ = 0; _i_ < ELEMENTSOF(_set_); _i_++)             \
                        if (_set_[_i_] == (x))                                  \
                                _in_ = true;                                    \
                _in_;                                                           \
        })
#define MIN(a, b) ((a) < (b) ? (a) : (b))
#define MAX(a, b) ((a) > (b) ? (a) : (b))
#define DIV_ROUND_UP(x, y) (((x) + (y) - 1) / (y))

/* calloc() of n objects of type t (at least one, so that the result is never NULL on success). */
#define new0(t, n) ((t *) calloc((n) ?: 1, sizeof(t)))

/* A NULL-terminated string array on the stack, for calls that take one. */
#define STRV_MAKE(...) ((char **) ((const char *[]) { __VA_ARGS__, NULL }))

/* Hand ownership out of a _cleanup_ variable: returns the pointer and leaves NULL behind. */
#define TAKE_PTR(p)                          \
        ({                                   \
                __typeof__(p) _ptr_ = (p);   \
                (p) = NULL;                  \
                _ptr_;                       \
        })
#define TAKE_FD(fd)                          \
        ({                                   \
                int _fd_ = (fd);             \
                (fd) = -EBADF;               \
                _fd_;                        \
        })

/* Defines name##p(type **p) that calls func(*p) when *p is set, for use with _cleanup_. */
#define DEFINE_TRIVIAL_CLEANUP_FUNC(type, func)        \
        static inline void func##p(type *p) {          \
                if (*p)                                \
                        *p = func(*p);                 \
        }

static inline void freep(void *p) {
        free(*(void **) p);
}
#define _cleanup_free_ _cleanup_(freep)

static inline void *mfree(void *p) {
        free(p);
        return NULL;
}

static inline int safe_close(int fd) {
        if (fd >= 0) {
                int saved = errno;
                /* close() is not retried on EINTR on Linux: the fd is gone either way. */
                (void) close(fd);
                errno = saved;
        }
        return -EBADF;
}
static inline void closep(int *fd) {
        *fd = safe_close(*fd);
}
#define _cleanup_close_ _cleanup_(closep)

static inline void fclosep(FILE **f) {
        if (*f)
                (void) fclose(*f);
}

#define STRV_FOREACH(s, l) for (char **s = (l); s && *s; s++)

/* Free a NULL-terminated string array. */
static inline char **strv_free(char **l) {
        if (l) {
                for (char **i = l; *i; i++)
                        free(*i);
                free(l);
        }
        return NULL;
}
DEFINE_TRIVIAL_CLEANUP_FUNC(char **, strv_free);
#define _cleanup_strv_free_ _cleanup_(strv_freep)

/* For errors we invent ourselves rather than receive from a call: keeps errno-style returns. */
#define SYNTHETIC_ERRNO(e) (-(e))

static inline bool streq_ptr(const char *a, const char *b) {
        if (!a || !b)
                return a == b;
        return strcmp(a, b) == 0;
}
#define streq(a, b) (strcmp((a), (b)) == 0)
#define isempty(s) (!(s) || !(s)[0])

static inline const char *strempty(const char *s) {
        return s ?: "";
}
static inline const char *strna(const char *s) {
        return s ?: "n/a";
}

/* Replace *p by a copy of s (or NULL); -ENOMEM on failure, *p untouched. */
static inline int free_and_strdup(char **p, const char *s) {
        char *t = NULL;
        if (s) {
                t = strdup(s);
                if (!t)
                        return -ENOMEM;
        }
        free(*p);
        *p = t;
        return 0;
}

typedef uint64_t usec_t;
#define USEC_PER_SEC ((usec_t) 1000000ULL)
#define USEC_PER_MSEC ((usec_t) 1000ULL)
#define USEC_PER_MINUTE (60 * USEC_PER_SEC)
#define USEC_PER_HOUR (60 * USEC_PER_MINUTE)
#define USEC_PER_DAY (24 * USEC_PER_HOUR)
#define NSEC_PER_USEC ((uint64_t) 1000ULL)
#define USEC_INFINITY ((usec_t) UINT64_MAX)
