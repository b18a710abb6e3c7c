/* hf_catalog: lists Hugging Face models as OpenNebula marketplace apps (APP
 * lines), or as JSON or a table for people. Thin: parses options and calls
 * the library's catalog. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hf_catalog.h"
#include "hf_client.h"
#include "hf_strlist.h"
#include "one_app.h"
#include "tool_common.h"
#include "tool_version.h"

static const char *const PROG = "hf_catalog";

static void usage(FILE *f)
{
    fprintf(f,
"Usage: hf_catalog [OPTIONS]\n"
"List Hugging Face Hub models as OpenNebula marketplace apps.\n"
"\n"
"Sources (collections override organisations, task and search):\n"
"  --org NAME            organisation or user to index; repeatable, or a comma\n"
"                        list (default: ONEnextgen)\n"
"  --collection SLUG     collection to index, as in its URL: owner/title-<24 hex>;\n"
"                        repeatable, or a comma list\n"
"  --task TAG            only models with this pipeline tag (text-generation, ...)\n"
"  --search TEXT         only models whose id contains TEXT\n"
"Order and size:\n"
"  --sort FIELD          downloads (default), likes or lastModified\n"
"  --direction -1|1      -1 descending (default), 1 ascending\n"
"  --limit N             at most N models over all sources (default 50, max %d)\n"
"  --full 1              also decide HAS_CHAT_TEMPLATE (may read tokenizer_config.json)\n"
"Output:\n"
"  --output FORMAT       apps (default: APP=\"<base64>\" lines for oned), json or table\n"
"  --market-id ID        name the apps as the monitor of marketplace ID does\n"
"                        (<org>--<name>@ID); without it, <org>--<name>\n"
"  --quiet               no progress on stderr\n"
"  --help, --version\n"
"\n"
"Environment: HF_ENDPOINT (default https://huggingface.co); HF_TOKEN or\n"
"HUGGING_FACE_HUB_TOKEN or the token file (HF_TOKEN_PATH, $HF_HOME/token,\n"
"~/.cache/huggingface/token) for gated and private models; HTTPS_PROXY;\n"
"HFHUB_TIMEOUT (seconds, default 300); HFHUB_CONCURRENCY (default 16);\n"
"HFHUB_CACHE_DIR (default ~/.cache/hfhub), HFHUB_NO_CACHE=1.\n"
"\n"
"Exit status: 0 success, 1 the Hub or the network failed, 2 bad usage or input.\n",
            HF_CATALOG_MAX_LIMIT);
}

static int fail_usage(const char *what, const char *arg)
{
    fprintf(stderr, "%s: %s%s%s%s\nTry '%s --help'.\n", PROG, what, arg ? " '" : "",
            arg ? arg : "", arg ? "'" : "", PROG);
    return 2;
}

int main(int argc, char **argv)
{
    enum { OPT_ORG = 256, OPT_COLLECTION, OPT_TASK, OPT_SEARCH, OPT_SORT, OPT_DIRECTION,
           OPT_LIMIT, OPT_FULL, OPT_OUTPUT, OPT_MARKET_ID, OPT_QUIET, OPT_HELP, OPT_VERSION };
    static const struct option opts[] = {
        {"org", required_argument, 0, OPT_ORG},
        {"collection", required_argument, 0, OPT_COLLECTION},
        {"task", required_argument, 0, OPT_TASK},
        {"search", required_argument, 0, OPT_SEARCH},
        {"sort", required_argument, 0, OPT_SORT},
        {"direction", required_argument, 0, OPT_DIRECTION},
        {"limit", required_argument, 0, OPT_LIMIT},
        {"full", required_argument, 0, OPT_FULL},
        {"output", required_argument, 0, OPT_OUTPUT},
        {"market-id", required_argument, 0, OPT_MARKET_ID},
        {"quiet", no_argument, 0, OPT_QUIET},
        {"help", no_argument, 0, OPT_HELP},
        {"version", no_argument, 0, OPT_VERSION},
        {0, 0, 0, 0}};
    hf_strlist orgs = {0}, collections = {0};
    hf_catalog_query q = {.sort = "downloads", .direction = -1, .limit = 50};
    const char *output = "apps";
    const char *market_id = NULL;
    bool quiet = false;
    long v;
    int c, status = 0;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case OPT_ORG:
            hf_strlist_add_csv(&orgs, optarg);
            break;
        case OPT_COLLECTION:
            hf_strlist_add_csv(&collections, optarg);
            break;
        case OPT_TASK:
            q.task = optarg;
            break;
        case OPT_SEARCH:
            q.search = optarg;
            break;
        case OPT_SORT:
            q.sort = optarg;
            break;
        case OPT_DIRECTION:
            if (!hf_parse_long(optarg, -1, 1, &v) || v == 0) {
                status = fail_usage("--direction takes -1 (descending) or 1 (ascending), not", optarg);
                goto out;
            }
            q.direction = (int)v;
            break;
        case OPT_LIMIT:
            if (!hf_parse_long(optarg, 1, HF_CATALOG_MAX_LIMIT, &v)) {
                status = fail_usage("--limit takes a whole number from 1 to 10000, not", optarg);
                goto out;
            }
            q.limit = (size_t)v;
            break;
        case OPT_FULL:
            if (strcmp(optarg, "1") && strcmp(optarg, "0")) {
                status = fail_usage("--full takes 1 (or 0), not", optarg);
                goto out;
            }
            q.full = !strcmp(optarg, "1");
            break;
        case OPT_OUTPUT:
            if (strcmp(optarg, "apps") && strcmp(optarg, "json") && strcmp(optarg, "table")) {
                status = fail_usage("--output takes apps, json or table, not", optarg);
                goto out;
            }
            output = optarg;
            break;
        case OPT_MARKET_ID:
            if (!one_market_id_is_valid(optarg)) {
                status = fail_usage("--market-id takes an OpenNebula marketplace ID (a whole "
                                    "number), not", optarg);
                goto out;
            }
            market_id = optarg;
            break;
        case OPT_QUIET:
            quiet = true;
            break;
        case OPT_HELP:
            usage(stdout);
            goto out;
        case OPT_VERSION:
            tool_print_version(PROG);
            goto out;
        default:
            status = fail_usage("unknown or incomplete option", argv[optind - 1]);
            goto out;
        }
    }
    if (optind < argc) {
        status = fail_usage("unexpected argument", argv[optind]);
        goto out;
    }
    if (!orgs.n && !collections.n)
        hf_strlist_add_csv(&orgs, "ONEnextgen");
    q.orgs = hf_strlist_view(&orgs);
    q.collections = hf_strlist_view(&collections);
    if (collections.n && (orgs.n || q.task || q.search) && !quiet)
        fprintf(stderr, "%s: note: collections override --org, --task and --search\n", PROG);

    hf_error err = {0};
    if (hf_catalog_query_check(&q, &err)) {
        status = fail_usage(err.msg, NULL);
        goto out;
    }
    hf_client client;
    if (hf_client_open(&client, 300, &err)) {
        fprintf(stderr, "%s: %s\n", PROG, err.msg);
        status = hf_code_exit_status(err.code);
        goto out;
    }
    if (client.cache.warning[0])
        fprintf(stderr, "%s: warning: %s\n", PROG, client.cache.warning);
    tool_progress progress;
    tool_progress_init(&progress, PROG, !quiet);
    hf_catalog cat;
    if (hf_catalog_build(&client.hub, &client.cache, &q, tool_progress_cb, &progress, &cat, &err)) {
        fprintf(stderr, "%s: %s\n", PROG, err.msg);
        status = hf_code_exit_status(err.code);
    } else {
        for (size_t i = 0; i < cat.n_warnings && !quiet; i++)
            fprintf(stderr, "%s: warning: %s\n", PROG, cat.warnings[i]);
        hf_buf out;
        hf_buf_init(&out, 0);
        if (!tool_render_catalog(&cat, output, client.hub.endpoint, q.full, market_id, &out)) {
            fprintf(stderr, "%s: cannot render the catalog (out of memory, or no unique app "
                            "NAMEs)\n", PROG);
            status = 1;
        } else if (!tool_write_stdout(&out)) {
            fprintf(stderr, "%s: cannot write the output (disk full or pipe closed)\n", PROG);
            status = 1;
        }
        if (!quiet)
            fprintf(stderr, "%s: %zu models, %zu detail requests, %zu from cache, %ld HTTP requests\n",
                    PROG, cat.n, cat.detail_requests, cat.cache_hits,
                    hf_http_requests_sent(client.http));
        hf_buf_free(&out);
        hf_catalog_free(&cat);
    }
    hf_client_close(&client);
out:
    hf_strlist_free(&orgs);
    hf_strlist_free(&collections);
    return status;
}
