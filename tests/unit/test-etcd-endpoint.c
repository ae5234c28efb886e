/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Endpoint URLs: what becomes a gRPC target, and what is refused; the --initial-cluster a
 * joining member builds from the member list MemberAdd answered. */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "etcd-client.h"
#include "tap.h"

static void check_url(const char *url, const char *target, bool tls) {
        char *t = NULL;
        bool got_tls = !tls;

        if (etcd_endpoint_parse_url(url, &t, &got_tls) < 0 || strcmp(t, target) != 0 || got_tls != tls) {
                printf("#   %s -> %s (tls %i), expected %s (tls %i)\n", url, t ?: "error", got_tls, target, tls);
                tap_current_failed = true;
        }
        free(t);
}

static void check_refused(const char *url) {
        char *t = NULL;
        bool tls;

        if (etcd_endpoint_parse_url(url, &t, &tls) >= 0) {
                printf("#   accepted %s -> %s\n", url, t);
                tap_current_failed = true;
        }
        free(t);
}

TEST(accepted) {
        check_url("http://127.0.0.1:2379", "127.0.0.1:2379", false);
        check_url("https://10.0.0.5:2379", "10.0.0.5:2379", true);
        check_url("https://10.0.0.5:2379/", "10.0.0.5:2379", true);
        check_url("https://localhost", "localhost:2379", true);
        check_url("http://etcd.example.com:12379", "etcd.example.com:12379", false);
        check_url("https://[::1]:2379", "[::1]:2379", true);
        check_url("https://[fd00::5]", "[fd00::5]:2379", true);
        check_url("https://[::ffff:10.0.0.1]:2379", "[::ffff:10.0.0.1]:2379", true);
        check_url("http://etcd_1.local:1", "etcd_1.local:1", false);
        check_url("http://10.0.0.1:65535/", "10.0.0.1:65535", false);
}

TEST(refused) {
        check_refused("127.0.0.1:2379");
        check_refused("unix:///run/etcd.sock");
        check_refused("ftp://10.0.0.1:2379");
        check_refused("http://");
        check_refused("http://10.0.0.1:2379/v3/kv");
        check_refused("http://10.0.0.1:");
        check_refused("http://user@10.0.0.1:2379");
        check_refused("http://10.0.0.1:2379?x=1");
        /* What the agent once took, and then could not dial. */
        check_refused("http://[::1");
        check_refused("http://[::1:2379");
        check_refused("http://[not-an-address]:2379");
        check_refused("http://:2379");
        check_refused("http://host:abc");
        check_refused("http://host:2379x");
        check_refused("http://host:99999");
        check_refused("http://host:65536");
        check_refused("http://host:0");
        check_refused("http://host:-1");
        check_refused("http://host::2379");
        check_refused("http://10.0.0.1:2379,http://10.0.0.2:2379");
        check_refused("http://10.0.0.1:2379,10.0.0.2:2379");
        check_refused("http://10.0.0.1:2379 http://10.0.0.2:2379");
        check_refused("http://.example.com");
        check_refused("http://-host");
        check_refused("http://a..b");
        check_refused("http://ho%73t");
}

static char *a_urls[] = { "https://10.0.0.1:2380", NULL }, *b_urls[] = { "https://10.0.0.2:2380", "https://[fd00::2]:2380", NULL },
            *c_urls[] = { "https://10.0.0.3:2380", NULL }, *no_urls[] = { NULL };

static int initial_cluster(EtcdMember *m, size_t n, uint64_t self, const char *name, char **ret) {
        EtcdMemberList l = { .members = m, .n_members = n };
        char *message = NULL;
        int r;

        *ret = NULL;
        r = etcd_member_list_initial_cluster(&l, self, name, ret, &message);
        if (r < 0)
                printf("#   %s\n", message);
        free(message);
        return r;
}

TEST(initial_cluster) {
        EtcdMember m[] = {
                { .id = 0xa, .name = (char *) "a", .peer_urls = a_urls, .client_urls = no_urls },
                { .id = 0xb, .name = (char *) "", .peer_urls = b_urls, .client_urls = no_urls, .is_learner = true },
                { .id = 0xc, .name = (char *) "", .peer_urls = c_urls, .client_urls = no_urls, .is_learner = true },
        };
        char *s;

        /* The new member's name is ours to give, for each of its peer URLs. */
        CHECK_EQ(initial_cluster(m, 2, 0xb, "b", &s), 0);
        CHECK_STREQ(s, "a=https://10.0.0.1:2380,b=https://10.0.0.2:2380,b=https://[fd00::2]:2380");
        free(s);
        /* Another member added and not started: its name is not known. */
        CHECK_EQ(initial_cluster(m, 3, 0xb, "b", &s), -EBUSY);
        CHECK(!s);
        CHECK_EQ(initial_cluster(m, 2, 0xd, "d", &s), -ENOENT);
        CHECK_EQ(initial_cluster(m, 2, 0xb, "b=x", &s), -EINVAL);
        CHECK_EQ(initial_cluster(m, 2, 0xb, "", &s), -EINVAL);
        m[1].peer_urls = no_urls;
        CHECK_EQ(initial_cluster(m, 2, 0xb, "b", &s), -EINVAL);
}

int main(void) {
        RUN(accepted);
        RUN(refused);
        RUN(initial_cluster);
        return tap_finish();
}
