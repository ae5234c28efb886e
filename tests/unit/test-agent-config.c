/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* agent.conf: defaults, keys, drop-in order, resets and refusals. */

#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "agent-config.h"
#include "conf-parser.h"
#include "string-util.h"
#include "tap.h"

static char dir[] = "/tmp/test-agent-config-XXXXXX";
static char path[256];

static void write_file(const char *name, const char *text) {
        char p[512];
        FILE *f;

        snprintf(p, sizeof(p), "%s/%s", dir, name);
        f = fopen(p, "we");
        fputs(text, f);
        fclose(f);
}

static void reset(void) {
        char cmd[512];

        snprintf(cmd, sizeof(cmd), "rm -rf %s/agent.conf %s/agent.conf.d && mkdir %s/agent.conf.d", dir, dir, dir);
        if (system(cmd) != 0)
                abort();
}

TEST(defaults) {
        AgentConfig c;
        char host[256] = {}, expected[512];

        reset();
        write_file("agent.conf", "");
        CHECK_EQ(agent_config_load(path, &c), 0);
        CHECK_STREQ(c.etcd.url, "http://127.0.0.1:2379");
        CHECK(!c.etcd.trusted_ca_file && !c.etcd.cert_file && !c.etcd.key_file);
        CHECK_STREQ(c.etcd_data_dir, "/var/lib/etcd/default");
        CHECK_STREQ(c.etcd_unit, "etcd.service");
        gethostname(host, sizeof(host) - 1);
        CHECK_STREQ(c.etcd_name, host);
        snprintf(expected, sizeof(expected), "%s=http://localhost:2380", host);
        CHECK_STREQ(c.initial_cluster, expected);
        CHECK_STREQ(c.initial_advertise_peer_urls, "http://localhost:2380");
        CHECK(!c.restore_command);
        CHECK_EQ(strv_length(c.control_plane_units), 1);
        CHECK_STREQ(c.control_plane_units[0], "kube-apiserver.service");
        CHECK_STREQ(c.storage_directory, "/var/lib/etcd-backup");
        CHECK_EQ(c.scope, SCOPE_SYSTEM);
        agent_config_done(&c);
}

TEST(every_key) {
        AgentConfig c;

        reset();
        write_file("agent.conf", "[Etcd]\n"
                                 "Endpoint=https://10.0.0.5:2379\n"
                                 "TrustedCAFile=/etc/kubernetes/pki/etcd/ca.crt\n"
                                 "CertFile=/etc/kubernetes/pki/etcd/healthcheck-client.crt\n"
                                 "KeyFile=/etc/kubernetes/pki/etcd/healthcheck-client.key\n"
                                 "DataDir=/var/lib/etcd\n"
                                 "Unit=etcd-member.service\n"
                                 "Name=cp1\n"
                                 "InitialAdvertisePeerURLs=https://10.0.0.5:2380,https://[fd00::5]:2380\n"
                                 "InitialClusterToken=tok\n"
                                 "RestoreCommand=/usr/local/bin/etcdutl\n"
                                 "[ControlPlane]\n"
                                 "Units=kube-apiserver.service kube-scheduler.service\n"
                                 "Units=kube-controller-manager.service\n"
                                 "[Storage]\n"
                                 "Directory=/srv/etcd-backups\n"
                                 "[Systemd]\n"
                                 "Scope=user\n"
                                 "[Metrics]\n"
                                 "TextfilePath=/srv/metrics/etcd.prom\n");
        CHECK_EQ(agent_config_load(path, &c), 0);
        CHECK_STREQ(c.etcd.url, "https://10.0.0.5:2379");
        CHECK_STREQ(c.etcd.trusted_ca_file, "/etc/kubernetes/pki/etcd/ca.crt");
        CHECK_STREQ(c.etcd.key_file, "/etc/kubernetes/pki/etcd/healthcheck-client.key");
        CHECK_STREQ(c.etcd_data_dir, "/var/lib/etcd");
        CHECK_STREQ(c.etcd_unit, "etcd-member.service");
        /* etcd's own default cluster: this member at each of its peer URLs */
        CHECK_STREQ(c.initial_cluster, "cp1=https://10.0.0.5:2380,cp1=https://[fd00::5]:2380");
        CHECK_STREQ(c.initial_cluster_token, "tok");
        CHECK_STREQ(c.restore_command, "/usr/local/bin/etcdutl");
        CHECK_EQ(strv_length(c.control_plane_units), 3);
        CHECK_STREQ(c.control_plane_units[2], "kube-controller-manager.service");
        CHECK_STREQ(c.storage_directory, "/srv/etcd-backups");
        CHECK_EQ(c.scope, SCOPE_USER);
        CHECK_STREQ(c.metrics_textfile, "/srv/metrics/etcd.prom");
        agent_config_done(&c);

        /* "no" turns the metrics off; nothing set is Debian's node_exporter directory. */
        write_file("agent.conf", "[Metrics]\nTextfilePath=no\n");
        CHECK_EQ(agent_config_load(path, &c), 0);
        CHECK_STREQ(c.metrics_textfile, "");
        agent_config_done(&c);
        write_file("agent.conf", "[Metrics]\nTextfilePath=\n");
        CHECK_EQ(agent_config_load(path, &c), 0);
        CHECK_STREQ(c.metrics_textfile, METRICS_TEXTFILE_DEFAULT);
        agent_config_done(&c);
}

TEST(dropins_in_order_and_resets) {
        AgentConfig c;

        reset();
        write_file("agent.conf", "[Etcd]\nEndpoint=http://10.0.0.1:2379\nDataDir=/a\n[ControlPlane]\nUnits=a.service\n");
        write_file("agent.conf.d/20-b.conf", "[Etcd]\nEndpoint=http://10.0.0.3:2379\n");
        write_file("agent.conf.d/10-a.conf", "[Etcd]\nEndpoint=http://10.0.0.2:2379\nDataDir=\n");
        write_file("agent.conf.d/30-units.conf", "[ControlPlane]\nUnits=\n");
        write_file("agent.conf.d/README", "[Etcd]\nEndpoint=http://10.9.9.9:2379\n");
        CHECK_EQ(agent_config_load(path, &c), 0);
        CHECK_STREQ(c.etcd.url, "http://10.0.0.3:2379");
        /* An empty assignment restores the default... */
        CHECK_STREQ(c.etcd_data_dir, "/var/lib/etcd/default");
        /* ...and empties a list, which then stays empty: no control-plane units at all. */
        CHECK_EQ(strv_length(c.control_plane_units), 0);
        agent_config_done(&c);
}

TEST(unknown_keys_ignored) {
        AgentConfig c;

        reset();
        write_file("agent.conf", "[Etcd]\nEndpointt=http://10.0.0.1:2379\n[Future]\nKey=1\n");
        CHECK_EQ(agent_config_load(path, &c), 0);
        CHECK_STREQ(c.etcd.url, "http://127.0.0.1:2379");
        agent_config_done(&c);
}

TEST(invalid_values_refused) {
        static const char * const bad[] = {
                "[Etcd]\nEndpoint=127.0.0.1:2379\n",
                "[Etcd]\nEndpoint=unix:///run/etcd.sock\n",
                "[Etcd]\nEndpoint=http://10.0.0.1:2379/v3\n",
                "[Etcd]\nEndpoint=http://\n",
                "[Etcd]\nTrustedCAFile=ca.crt\n",
                "[Etcd]\nDataDir=/var/lib/../etc\n",
                "[Etcd]\nUnit=etcd\n",
                "[ControlPlane]\nUnits=kube-apiserver.service ../evil.service\n",
                "[Storage]\nDirectory=relative/dir\n",
                "[Systemd]\nScope=session\n",
                "[Metrics]\nTextfilePath=etcd.prom\n",
                "[Metrics]\nTextfilePath=/var/lib/prometheus/node-exporter/\n",
                "[Etcd]\nCertFile=/etc/x.crt\n",
                "Endpoint=http://10.0.0.1:2379\n",
                "[Etcd]\nthis is not an assignment\n",
                /* One authority, HOST[:PORT], and nothing else. */
                "[Etcd]\nEndpoint=http://[::1\n",
                "[Etcd]\nEndpoint=http://:2379\n",
                "[Etcd]\nEndpoint=http://host:abc\n",
                "[Etcd]\nEndpoint=http://host:99999\n",
                "[Etcd]\nEndpoint=http://10.0.0.1:2379,http://10.0.0.2:2379\n",
                "[Etcd]\nEndpoint=http://10.0.0.1:2379,10.0.0.2:2379\n",
                /* Values are text: they become properties and unit names. */
                "[Etcd]\nName=cp\x1b[2J1\n",
                "[Etcd]\nName=cp\t1\n",
                "[Storage]\nDirectory=/srv/\xff\xfe\n",
        };

        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                AgentConfig c;

                reset();
                write_file("agent.conf", bad[i]);
                if (agent_config_load(path, &c) >= 0) {
                        printf("#   accepted: %s", bad[i]);
                        tap_current_failed = true;
                        agent_config_done(&c);
                }
        }
}

static double seconds(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

TEST(units_linear) {
        /* A 3 MB Units= list took a minute when each unit was appended to a list counted anew. */
        size_t units = 150000;
        char *text = malloc(units * 24 + 64), *p = text;
        AgentConfig c;
        double t;

        p += sprintf(p, "[ControlPlane]\nUnits=");
        for (size_t i = 0; i < units; i++)
                p += sprintf(p, "u%012zu.service ", i);
        sprintf(p, "\n");
        t = seconds();
        CHECK_EQ(agent_config_load_string(text, &c), 0);
        CHECK(seconds() - t < 1.0);
        CHECK_EQ(strv_length(c.control_plane_units), units);
        agent_config_done(&c);
        free(text);
}

TEST(file_limit) {
        /* The documented limit: 64 KiB, where the parser once read up to 4 MiB. */
        AgentConfig c;
        char *text = malloc(64 * 1024 + 64);

        reset();
        snprintf(text, 64 * 1024 + 64, "[Etcd]\nName=%0*d\n", 64 * 1024, 0);
        write_file("agent.conf", text);
        CHECK(agent_config_load(path, &c) < 0);
        free(text);
}

TEST(fifos) {
        AgentConfig c;
        char p[512];

        /* A FIFO among the drop-ins is ignored, not waited on; the others apply. */
        reset();
        write_file("agent.conf", "[Etcd]\nEndpoint=http://10.0.0.1:2379\n");
        write_file("agent.conf.d/10-a.conf", "[Etcd]\nEndpoint=http://10.0.0.2:2379\n");
        snprintf(p, sizeof(p), "%s/agent.conf.d/20-fifo.conf", dir);
        CHECK(mkfifo(p, 0600) == 0);
        tap_deadline(5);
        CHECK_EQ(agent_config_load(path, &c), 0);
        CHECK_STREQ(c.etcd.url, "http://10.0.0.2:2379");
        agent_config_done(&c);

        /* agent.conf itself, given with --config, is refused. */
        snprintf(p, sizeof(p), "%s/agent.conf", dir);
        unlink(p);
        CHECK(mkfifo(p, 0600) == 0);
        CHECK(agent_config_load(path, &c) < 0);
        tap_deadline(0);
}

TEST(explicit_path_must_exist) {
        AgentConfig c;
        char p[300];

        snprintf(p, sizeof(p), "%s/missing.conf", dir);
        CHECK(agent_config_load(p, &c) < 0);
}

int main(void) {
        char cmd[512];
        int r;

        if (!mkdtemp(dir))
                return 1;
        snprintf(path, sizeof(path), "%s/agent.conf", dir);

        RUN(defaults);
        RUN(every_key);
        RUN(dropins_in_order_and_resets);
        RUN(unknown_keys_ignored);
        RUN(invalid_values_refused);
        RUN(units_linear);
        RUN(file_limit);
        RUN(fifos);
        RUN(explicit_path_must_exist);
        r = tap_finish();

        snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
        (void) !system(cmd);
        return r;
}
