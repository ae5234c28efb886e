/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* agent.conf: whatever a file says, an accepted configuration is one the agent can use. */

#include "agent-config.h"
#include "conf-parser.h"
#include "fuzz.h"
#include "log.h"
#include "string-util.h"

static void check_text(const char *s) {
        FUZZ_CHECK(!s || utf8_is_printable(s));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        _cleanup_free_ char *text = fuzz_string(data, size), *target = NULL;
        AgentConfig c;
        bool tls;

        log_set_max_level(-1); /* refusals are the point; their messages would drown the output */
        if (size > CONF_FILE_MAX || agent_config_load_string(text, &c) < 0)
                return 0;

        /* An accepted endpoint is one the client takes. */
        FUZZ_CHECK(etcd_endpoint_parse_url(c.etcd.url, &target, &tls) == 0);
        FUZZ_CHECK(!!c.etcd.cert_file == !!c.etcd.key_file);
        FUZZ_CHECK(c.storage_directory[0] == '/' && c.etcd_data_dir[0] == '/');
        FUZZ_CHECK(c.scope >= 0 && c.scope < _SCOPE_MAX);
        /* What becomes a property, a message or a unit name is text. */
        check_text(c.etcd.url);
        check_text(c.etcd.trusted_ca_file);
        check_text(c.etcd.cert_file);
        check_text(c.etcd.key_file);
        check_text(c.etcd_data_dir);
        check_text(c.etcd_unit);
        check_text(c.etcd_name);
        check_text(c.initial_cluster);
        check_text(c.storage_directory);
        for (char **u = c.control_plane_units; u && *u; u++)
                check_text(*u);
        agent_config_done(&c);
        return 0;
}
