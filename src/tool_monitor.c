/* hfhub_monitor: the marketplace driver's `monitor` action, installed as
 * remotes/market/hfhub/monitor. oned's market MAD runs it as
 *   monitor <base64 driver message> <market id>
 * and reads APP="<base64 app template>" lines from stdout. The market id names
 * the apps (see one_app_names): oned finds apps by NAME across every
 * marketplace. It either prints
 * the complete catalog or fails with one line on stderr and prints nothing:
 * a partial list would make oned drop the apps of the sources that failed. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "hf_catalog.h"
#include "hf_client.h"
#include "hf_strlist.h"
#include "one_app.h"
#include "one_driver_msg.h"
#include "tool_common.h"
#include "tool_version.h"

static const char *const PROG = "hfhub monitor";

static void usage(FILE *f)
{
    fprintf(f,
"Usage: monitor <BASE64_DRIVER_MESSAGE> [<MARKET_ID>]\n"
"   or: monitor --help | --version\n"
"OpenNebula market driver action: prints the marketplace's apps as\n"
"APP=\"<base64 app template>\" lines. oned's market MAD calls it; to test it\n"
"by hand, see the operator guide.\n"
"\n"
"Marketplace attributes (with defaults):\n"
"  HFHUB_ORG=ONEnextgen  organisations, comma-separated\n"
"  HFHUB_COLLECTION      collection slugs, comma-separated (override ORG and TASK)\n"
"  HFHUB_TASK            pipeline tag filter\n"
"  HFHUB_SEARCH          id substring filter (hfhub extension)\n"
"  HFHUB_LIMIT=50        global limit (at most %d apps per marketplace)\n"
"  HFHUB_SORT=downloads  downloads, likes or lastModified\n"
"  HFHUB_DIRECTION=-1    -1 descending, 1 ascending\n"
"  HFHUB_AUTO_INDEX=YES  NO: print nothing (oned keeps the apps)\n"
"  HFHUB_FULL=NO         YES: decide HAS_CHAT_TEMPLATE (hfhub extension)\n"
"\n"
"Environment: as hf_catalog (HF_ENDPOINT, HF_TOKEN, HTTPS_PROXY, HFHUB_TIMEOUT\n"
"default 240 s, HFHUB_CACHE_DIR).\n"
"Apps are named <org>--<name>@<MARKET_ID>, one app per model and marketplace.\n"
"Exit status: 0 success, 1 the Hub or the network failed, 2 bad driver message.\n",
            ONE_MARKET_MAX_APPS);
}

static int fail(int status, const char *msg)
{
    /* One line: the MAD forwards stderr to oned as the error message. */
    fprintf(stderr, "%s: %s\n", PROG, msg);
    return status;
}

static bool yes_no(const char *v, bool dflt, bool *out)
{
    if (!v || !*v) {
        *out = dflt;
        return true;
    }
    if (!strcasecmp(v, "YES") || !strcasecmp(v, "TRUE") || !strcmp(v, "1")) {
        *out = true;
        return true;
    }
    if (!strcasecmp(v, "NO") || !strcasecmp(v, "FALSE") || !strcmp(v, "0")) {
        *out = false;
        return true;
    }
    return false;
}

int main(int argc, char **argv)
{
    if (argc == 2 && !strcmp(argv[1], "--help")) {
        usage(stdout);
        return 0;
    }
    if (argc == 2 && !strcmp(argv[1], "--version")) {
        tool_print_version("hfhub_monitor");
        return 0;
    }
    if (argc < 2 || argc > 3) {
        usage(stderr);
        return 2;
    }
    char msg[1400];
    hf_error err = {0};
    one_market_conf conf;
    if (one_driver_msg_parse(argv[1], &conf, &err))
        return fail(2, err.msg);

    int status = 0;
    hf_strlist orgs = {0}, collections = {0};
    /* oned passes the market id twice: as argv[2] (one_market.rb) and as
     * MARKETPLACE/ID in the message. They must agree. */
    const char *market_id = argc == 3 ? argv[2] : conf.market_id;
    if (argc == 3 && !one_market_id_is_valid(argv[2])) {
        snprintf(msg, sizeof msg, "the marketplace ID argument must be a whole number, not '%.60s'",
                 argv[2]);
        status = fail(2, msg);
        goto out;
    }
    if (conf.market_id && !one_market_id_is_valid(conf.market_id)) {
        snprintf(msg, sizeof msg, "the driver message's MARKETPLACE/ID '%.60s' is not a whole number",
                 conf.market_id);
        status = fail(2, msg);
        goto out;
    }
    if (!market_id) {
        status = fail(2, "no marketplace ID: the driver message has no MARKETPLACE/ID and none "
                         "was given as the second argument (monitor <message> <market id>)");
        goto out;
    }
    if (conf.market_id && strcmp(conf.market_id, market_id)) {
        snprintf(msg, sizeof msg,
                 "the driver message is for marketplace %.20s but the second argument says %.20s",
                 conf.market_id, market_id);
        status = fail(2, msg);
        goto out;
    }
    bool auto_index, full;
    long limit = 50, direction = -1;
    if (!yes_no(conf.auto_index, true, &auto_index)) {
        snprintf(msg, sizeof msg, "HFHUB_AUTO_INDEX must be YES or NO, not '%.60s'", conf.auto_index);
        status = fail(2, msg);
        goto out;
    }
    if (!auto_index)
        goto out; /* nothing printed: oned keeps every app */
    if (!yes_no(conf.full, false, &full)) {
        snprintf(msg, sizeof msg, "HFHUB_FULL must be YES or NO, not '%.60s'", conf.full);
        status = fail(2, msg);
        goto out;
    }
    if (conf.limit && *conf.limit && !hf_parse_long(conf.limit, 1, LONG_MAX, &limit)) {
        snprintf(msg, sizeof msg, "HFHUB_LIMIT must be a whole number from 1 to %d, not '%.60s'",
                 ONE_MARKET_MAX_APPS, conf.limit);
        status = fail(2, msg);
        goto out;
    }
    if (limit > ONE_MARKET_MAX_APPS) {
        snprintf(msg, sizeof msg,
                 "HFHUB_LIMIT is %ld, but a marketplace can hold at most %d apps: oned passes "
                 "the ID of every app on the monitor's command line, and past about 6000 apps "
                 "(old and new ones together, while the sources change) that fails with "
                 "\"Argument list too long\" and the apps stop being updated. Lower "
                 "HFHUB_LIMIT, or split the sources over several marketplaces",
                 limit, ONE_MARKET_MAX_APPS);
        status = fail(2, msg);
        goto out;
    }
    if (conf.direction && *conf.direction &&
        (!hf_parse_long(conf.direction, -1, 1, &direction) || direction == 0)) {
        snprintf(msg, sizeof msg, "HFHUB_DIRECTION must be -1 or 1, not '%.60s'", conf.direction);
        status = fail(2, msg);
        goto out;
    }
    if (!hf_strlist_add_csv(&collections, conf.collection) ||
        !hf_strlist_add_csv(&orgs, conf.org ? conf.org : "")) {
        status = fail(1, "out of memory");
        goto out;
    }
    if (!orgs.n)
        hf_strlist_add_csv(&orgs, "ONEnextgen");
    hf_catalog_query q = {
        .orgs = hf_strlist_view(&orgs),
        .collections = hf_strlist_view(&collections),
        .task = conf.task && *conf.task ? conf.task : NULL,
        .search = conf.search && *conf.search ? conf.search : NULL,
        .sort = conf.sort && *conf.sort ? conf.sort : "downloads",
        .direction = (int)direction,
        .limit = (size_t)limit,
        .full = full,
    };
    if (hf_catalog_query_check(&q, &err)) {
        snprintf(msg, sizeof msg, "marketplace attributes: %s", err.msg);
        status = fail(2, msg);
        goto out;
    }
    hf_client client;
    if (hf_client_open(&client, 240, &err)) {
        status = fail(hf_code_exit_status(err.code), err.msg);
        goto out;
    }
    if (client.cache.warning[0])
        fprintf(stderr, "%s: warning: %s\n", PROG, client.cache.warning);
    hf_catalog cat;
    if (hf_catalog_build(&client.hub, &client.cache, &q, NULL, NULL, &cat, &err)) {
        status = fail(hf_code_exit_status(err.code), err.msg);
    } else {
        hf_buf out;
        hf_buf_init(&out, 0);
        for (size_t i = 0; i < cat.n_warnings; i++)
            fprintf(stderr, "%s: warning: %s\n", PROG, cat.warnings[i]);
        /* Everything is rendered before the first byte goes out. */
        if (!tool_render_catalog(&cat, "apps", client.hub.endpoint, q.full, market_id, &out))
            status = fail(1, "cannot render the apps (out of memory, or no unique app NAMEs)");
        else if (!tool_write_stdout(&out))
            status = fail(1, "cannot write to stdout");
        hf_buf_free(&out);
        hf_catalog_free(&cat);
    }
    hf_client_close(&client);
out:
    hf_strlist_free(&orgs);
    hf_strlist_free(&collections);
    one_market_conf_clear(&conf);
    return status;
}
