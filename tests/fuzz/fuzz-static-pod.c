/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Static pod manifests: whatever a file says, a parsed pod is one the detection can use. */

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
        static_pod_done(&p);
        return 0;
}
