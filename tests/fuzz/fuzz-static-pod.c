/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Static pod manifests: whatever a file says, a parsed pod is one the detection can use, and
 * flags set in it read back as set. */

#include "fuzz.h"
#include "macro.h"
#include "static-pod.h"
#include "string-util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        _cleanup_free_ char *text = fuzz_string(data, size), *error = NULL;
        StaticPod p = {};
        int r;

        r = static_pod_parse(text, size, &p, &error);
        if (r < 0) {
                /* Every refusal says why. */
                FUZZ_CHECK(r == -ENOMEM || error);
                return 0;
        }
        FUZZ_CHECK(p.n_containers >= 1 && p.n_containers <= STATIC_POD_CONTAINERS_MAX);
        FUZZ_CHECK(p.n_volumes <= STATIC_POD_VOLUMES_MAX);
        for (size_t i = 0; i < p.n_containers; i++) {
                const StaticPodContainer *c = &p.containers[i];
                _cleanup_free_ char *host = NULL;

                FUZZ_CHECK(c->name && c->argv && c->argv[0]);
                FUZZ_CHECK(strv_length(c->argv) <= STATIC_POD_ARGS_MAX);
                for (size_t j = 0; j < c->n_mounts; j++)
                        FUZZ_CHECK(c->mounts[j].mount_path[0] == '/');
                (void) static_pod_flag(c->argv, "data-dir");
                /* A host path is one: under an absolute hostPath. */
                if (static_pod_host_path(&p, c, "/var/lib/etcd", &host) == 0)
                        FUZZ_CHECK(host[0] == '/');
        }
        if (p.n_containers == 1) {
                _cleanup_free_ char *out = NULL, *why = NULL;
                size_t out_size;
                StaticPod q = {};

                r = static_pod_set_flags(text, size, NULL,
                                         STRV_MAKE("--initial-cluster=a=http://1.2.3.4:2380,b=http://[::1]:2380",
                                                   "--initial-cluster-state=existing", "--data-dir=/x #y"),
                                         &out, &out_size, &why);
                FUZZ_CHECK(r == -ENOMEM || r == -EOPNOTSUPP || r == -EFBIG || r >= 0);
                FUZZ_CHECK(r >= 0 || r == -ENOMEM || why);
                if (r >= 0) {
                        FUZZ_CHECK(static_pod_parse(out, out_size, &q, NULL) == 0);
                        FUZZ_CHECK(streq_ptr(static_pod_flag(q.containers[0].argv, "initial-cluster-state"), "existing"));
                        FUZZ_CHECK(streq_ptr(static_pod_flag(q.containers[0].argv, "data-dir"), "/x #y"));
                        static_pod_done(&q);
                }
        }
        static_pod_done(&p);
        return 0;
}
