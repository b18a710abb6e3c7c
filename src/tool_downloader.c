/* hfhub_downloader: imports an hf:// address as a qcow2 disk image or a
 * directory (DEST), or writes it to stdout (DEST "-": the qcow2 bytes, or a
 * tar stream of the directory), or prints the size an import will take
 * (--size-only). Thin: parses options, reports progress, calls the library. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <openssl/evp.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "hf_client.h"
#include "hf_import.h"
#include "hf_rate.h"
#include "hf_sizing.h"
#include "hf_strlist.h"
#include "one_driver_msg.h"

extern char **environ;

static const char *const PROG = "hfhub_downloader";

static void usage(FILE *f)
{
    fprintf(f,
"Usage: hfhub_downloader [OPTIONS] SOURCE DEST\n"
"       hfhub_downloader --size-only [--format F] SOURCE\n"
"Import a Hugging Face repository as a qcow2 disk image (an ext4 filesystem)\n"
"or as a directory, verified, resumable, without root.\n"
"\n"
"SOURCE  " HF_ADDRESS_GRAMMAR "\n"
"DEST    the image file or directory to create (it must not exist), or - for\n"
"        stdout (the qcow2 bytes, or a tar stream of the directory)\n"
"\n"
"Options:\n"
"  --format qcow2|dir      overrides the address's ?format= (default qcow2)\n"
"  --connections N         at most N parallel connections (default 16, 1-64)\n"
"  --progress MODE         auto (a bar on a terminal, else a line every 5 s),\n"
"                          bar, plain or none\n"
"  --size-only             print the MB the import will occupy, download nothing\n"
"  -l, --limit RATE        cap the download at RATE bytes per second over all\n"
"                          connections together; curl's --limit-rate syntax:\n"
"                          a whole number with an optional k, m or g (powers\n"
"                          of 1024), e.g. 500k or 10M (default: no cap)\n"
"  -m, --md5 H, -s, --sha1 H\n"
"                          refused: the import is built from many files, so\n"
"                          no single-file hash of it exists; every file is\n"
"                          verified against the Hub's sha256 instead, and\n"
"                          .hfhub/manifest.json lists them\n"
"  -n, --nodecomp          accepted and ignored (nothing is decompressed)\n"
"  -c, --max-size N        refused: an import is always complete\n"
"  --help, --version\n"
"\n"
"A run that stops (network, disk full, kill) leaves DEST.hfhub-part and\n"
"DEST.hfhub-journal; running the same command again continues from them.\n"
"DEST appears only when every file is downloaded and verified.\n"
"\n"
"Environment: HF_ENDPOINT, HF_TOKEN / HUGGING_FACE_HUB_TOKEN / token file,\n"
"HTTPS_PROXY, HFHUB_WORK_DIR (work area for DEST -, default $TMPDIR or /var/tmp),\n"
"HFHUB_STALL_TIMEOUT (seconds without a byte before a connection is replaced,\n"
"default 20), HFHUB_RETRY_BASE_MS (first retry wait, default 1000),\n"
"HFHUB_TIMEOUT (seconds for the Hub's metadata requests, default 600),\n"
"HFHUB_LIMIT_RATE (the default of --limit).\n"
"Exit status: 0 DEST is complete and verified, 1 failure, 2 bad usage or input.\n");
}

/* ---- progress ------------------------------------------------------------------ */

typedef enum { PROGRESS_NONE, PROGRESS_BAR, PROGRESS_PLAIN } progress_mode;

typedef struct {
    progress_mode mode;
    double last;
    double start;
} progress_state;

static void human(double bytes, char *out, size_t n)
{
    const char *u[] = {"B", "kB", "MB", "GB", "TB"};
    int i = 0;
    while (bytes >= 1000 && i < 4) {
        bytes /= 1000;
        i++;
    }
    snprintf(out, n, i ? "%.1f %s" : "%.0f %s", bytes, u[i]);
}

static void on_progress(void *user, const hf_fetch_progress *p)
{
    progress_state *s = user;
    double now = hf_http_now();
    bool last = p->files_done == p->files_total;
    if (s->mode == PROGRESS_NONE)
        return;
    if (s->mode == PROGRESS_PLAIN && now - s->last < 5.0 && !last)
        return;
    s->last = now;
    char done[32], total[32], rate[32], eta[32] = "--:--";
    human((double)p->done_bytes, done, sizeof done);
    human((double)p->total_bytes, total, sizeof total);
    human(p->rate, rate, sizeof rate);
    if (p->rate > 0 && p->total_bytes > p->done_bytes) {
        long sec = (long)((double)(p->total_bytes - p->done_bytes) / p->rate);
        snprintf(eta, sizeof eta, "%ld:%02ld:%02ld", sec / 3600, sec / 60 % 60, sec % 60);
    }
    int pct = p->total_bytes ? (int)(100.0 * (double)p->done_bytes / (double)p->total_bytes) : 100;
    if (s->mode == PROGRESS_BAR) {
        char bar[31];
        int fill = pct * 30 / 100;
        for (int i = 0; i < 30; i++)
            bar[i] = i < fill ? '#' : '.';
        bar[30] = '\0';
        fprintf(stderr, "\r[%s] %3d%% %s/%s %s/s ETA %s %d conn, %zu/%zu files\033[K", bar, pct,
                done, total, rate, eta, p->connections, p->files_done, p->files_total);
        if (last)
            fputc('\n', stderr);
    } else {
        fprintf(stderr, "%s: %s of %s (%d%%), %s/s, ETA %s, %d connections, %zu/%zu files\n",
                PROG, done, total, pct, rate, eta, p->connections, p->files_done,
                p->files_total);
    }
}

/* ---- stdout ----------------------------------------------------------------------- */

static int copy_to_stdout(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    char *buf = malloc((size_t)1 << 20);
    ssize_t r = 0;
    int rc = buf ? 0 : -1;
    while (!rc && (r = read(fd, buf, (size_t)1 << 20)) > 0) {
        for (ssize_t off = 0; off < r;) {
            ssize_t w = write(STDOUT_FILENO, buf + off, (size_t)(r - off));
            if (w < 0) {
                if (errno == EINTR)
                    continue;
                rc = -1;
                break;
            }
            off += w;
        }
    }
    if (r < 0)
        rc = -1;
    free(buf);
    close(fd);
    return rc;
}

static int tar_to_stdout(const char *dir)
{
    char *argv[] = {"tar", "--numeric-owner", "--owner=0", "--group=0", "-C", (char *)dir, "-cf", "-", ".", NULL};
    pid_t pid;
    if (posix_spawnp(&pid, "tar", NULL, NULL, argv, environ))
        return -1;
    int status;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            return -1;
    return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -1;
}

/* Where "DEST -" builds its result: a stable name per address, so that an
 * interrupted run is resumed by the next one. */
static char *work_dest(const char *source, hf_format format)
{
    const char *base = getenv("HFHUB_WORK_DIR");
    if (!base || !*base)
        base = getenv("TMPDIR");
    if (!base || !*base)
        base = "/var/tmp";
    unsigned char d[EVP_MAX_MD_SIZE];
    unsigned n = 0;
    EVP_Digest(source, strlen(source), d, &n, EVP_sha256(), NULL);
    char *out = malloc(strlen(base) + 64);
    if (out)
        sprintf(out, "%s/hfhub-%02x%02x%02x%02x%02x%02x%02x%02x.%s", base, d[0], d[1], d[2], d[3],
                d[4], d[5], d[6], d[7], format == HF_FORMAT_DIR ? "dir" : "qcow2");
    return out;
}

/* <directory of dest>/.hfhub-work/<16 hex of sha256(source, format)> */
static char *datastore_work_prefix(const char *dest, const char *source, hf_format format)
{
    const char *slash = strrchr(dest, '/');
    size_t dlen = slash ? (size_t)(slash - dest) : 1;
    const char *dir = slash ? dest : ".";
    unsigned char d[EVP_MAX_MD_SIZE];
    unsigned n = 0;
    char key[4200];
    snprintf(key, sizeof key, "%s\n%d", source, (int)format);
    EVP_Digest(key, strlen(key), d, &n, EVP_sha256(), NULL);
    char *out = malloc(dlen + 64);
    if (!out)
        return NULL;
    snprintf(out, dlen + 64, "%.*s/.hfhub-work", (int)dlen, dir);
    if (mkdir(out, 0700) && errno != EEXIST) {
        free(out);
        return NULL; /* fall back to work files next to DEST */
    }
    size_t len = strlen(out);
    snprintf(out + len, dlen + 64 - len, "/%02x%02x%02x%02x%02x%02x%02x%02x", d[0], d[1], d[2],
             d[3], d[4], d[5], d[6], d[7]);
    return out;
}

static int fail(int status, const char *msg)
{
    fprintf(stderr, "%s: %s\n", PROG, msg);
    return status;
}

int main(int argc, char **argv)
{
    enum { OPT_FORMAT = 256, OPT_CONNECTIONS, OPT_PROGRESS, OPT_SIZE_ONLY, OPT_HELP, OPT_VERSION };
    /* -l, -m, -s, -n and -c are OpenNebula downloader.sh's own options */
    static const struct option opts[] = {{"format", required_argument, 0, OPT_FORMAT},
                                         {"limit", required_argument, 0, 'l'},
                                         {"md5", required_argument, 0, 'm'},
                                         {"sha1", required_argument, 0, 's'},
                                         {"nodecomp", no_argument, 0, 'n'},
                                         {"max-size", required_argument, 0, 'c'},
                                         {"connections", required_argument, 0, OPT_CONNECTIONS},
                                         {"progress", required_argument, 0, OPT_PROGRESS},
                                         {"size-only", no_argument, 0, OPT_SIZE_ONLY},
                                         {"help", no_argument, 0, OPT_HELP},
                                         {"version", no_argument, 0, OPT_VERSION},
                                         {0, 0, 0, 0}};
    hf_format format = HF_FORMAT_DEFAULT;
    long connections = 16;
    bool size_only = false;
    const char *progress = "auto";
    const char *limit = NULL;
    char msg[1400];
    int c;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "l:m:s:nc:", opts, NULL)) != -1) {
        switch (c) {
        case 'l':
            limit = optarg;
            break;
        case 'm':
        case 's':
            snprintf(msg, sizeof msg,
                     "--%s is not supported for hf:// imports: the image is built from the "
                     "repository's files, not copied, so no single-file %s of the download "
                     "exists to compare. Every file is verified against the Hub's sha256 "
                     "instead (all are listed in .hfhub/manifest.json); remove %s from the "
                     "image template",
                     c == 'm' ? "md5" : "sha1", c == 'm' ? "MD5" : "SHA1", c == 'm' ? "MD5" : "SHA1");
            return fail(2, msg);
        case 'n':
            break; /* nothing is decompressed: the files are stored as the Hub has them */
        case 'c':
            return fail(2, "--max-size is not supported for hf:// imports: an import is always "
                           "the whole selection of files, verified; choose files with "
                           "?include= or ?exclude= in the address instead");
        case OPT_FORMAT:
            if (!strcmp(optarg, "qcow2"))
                format = HF_FORMAT_QCOW2;
            else if (!strcmp(optarg, "dir"))
                format = HF_FORMAT_DIR;
            else
                return fail(2, "--format takes qcow2 or dir");
            break;
        case OPT_CONNECTIONS:
            if (!hf_parse_long(optarg, 1, 64, &connections))
                return fail(2, "--connections takes a number from 1 to 64");
            break;
        case OPT_PROGRESS:
            if (strcmp(optarg, "auto") && strcmp(optarg, "bar") && strcmp(optarg, "plain") &&
                strcmp(optarg, "none"))
                return fail(2, "--progress takes auto, bar, plain or none");
            progress = optarg;
            break;
        case OPT_SIZE_ONLY:
            size_only = true;
            break;
        case OPT_HELP:
            usage(stdout);
            return 0;
        case OPT_VERSION:
            printf("hfhub_downloader (hfhub) %s\n", HFHUB_VERSION);
            return 0;
        default:
            snprintf(msg, sizeof msg, "unknown or incomplete option '%.100s'; try --help",
                     argv[optind - 1]);
            return fail(2, msg);
        }
    }
    uint64_t max_rate = 0;
    const char *limit_from = "--limit";
    if (!limit) {
        limit_from = "HFHUB_LIMIT_RATE";
        limit = getenv(limit_from);
        if (limit && !*limit)
            limit = NULL; /* set but empty: no cap */
    }
    hf_error rate_err;
    if (limit && hf_rate_parse(limit, &max_rate, &rate_err)) {
        snprintf(msg, sizeof msg, "%s: %s", limit_from, rate_err.msg);
        return fail(2, msg);
    }
    int want_args = size_only ? 1 : 2;
    if (argc - optind != want_args) {
        usage(stderr);
        return 2;
    }
    const char *source = argv[optind];
    const char *dest = size_only ? NULL : argv[optind + 1];
    signal(SIGPIPE, SIG_IGN);

    hf_error err = {0};
    hf_address probe;
    if (hf_address_parse(source, &probe, &err))
        return fail(2, err.msg);
    hf_address_clear(&probe);
    if (dest && !*dest)
        return fail(2, "DEST is empty");

    /* Called by OpenNebula's datastore driver, we learn the datastore's kind
     * from the message it exports (DRV_ACTION): an operator's HFHUB_FORMAT
     * in the datastore template, else the directory form for shared
     * filesystem datastores (DS_MAD or TM_MAD "sharedfs"), else qcow2. */
    hf_format ds_format = HF_FORMAT_DEFAULT;
    const char *drv = getenv("DRV_ACTION");
    if (drv && *drv) {
        one_datastore_info ds;
        if (one_datastore_msg_parse(drv, &ds, &err)) {
            snprintf(msg, sizeof msg, "DRV_ACTION (the datastore driver's message): %s", err.msg);
            return fail(2, msg);
        }
        if (ds.hfhub_format && !strcmp(ds.hfhub_format, "dir"))
            ds_format = HF_FORMAT_DIR;
        else if (ds.hfhub_format && !strcmp(ds.hfhub_format, "qcow2"))
            ds_format = HF_FORMAT_QCOW2;
        else if (ds.hfhub_format && *ds.hfhub_format) {
            snprintf(msg, sizeof msg, "the datastore's HFHUB_FORMAT must be qcow2 or dir, not '%.40s'",
                     ds.hfhub_format);
            one_datastore_info_clear(&ds);
            return fail(2, msg);
        } else if ((ds.ds_mad && !strcmp(ds.ds_mad, "sharedfs")) ||
                   (ds.tm_mad && !strcmp(ds.tm_mad, "sharedfs")))
            ds_format = HF_FORMAT_DIR;
        else
            ds_format = HF_FORMAT_QCOW2;
        one_datastore_info_clear(&ds);
    }

    hf_client client;
    if (hf_client_open(&client, 600, &err))
        return fail(hf_code_exit_status(err.code), err.msg);
    hf_import_plan plan;
    int status = 0;
    if (hf_import_plan_make(&client, source, format, ds_format, &plan, &err)) {
        status = fail(hf_code_exit_status(err.code), err.msg);
        hf_client_close(&client);
        return status;
    }
    if (size_only) {
        printf("%llu\n", (unsigned long long)hf_sizing_mib(plan.stored_bytes));
        status = fflush(stdout) ? 1 : 0;
        hf_import_plan_free(&plan);
        hf_client_close(&client);
        return status;
    }

    bool to_stdout = !strcmp(dest, "-");
    char *work = to_stdout ? work_dest(source, plan.format) : strdup(dest);
    /* Inside OpenNebula each try of an import gets a new image path: keep the
     * work where the next try finds it, one hidden directory per datastore,
     * named after what is imported. */
    char *work_prefix = NULL;
    if (!to_stdout && drv && *drv && work)
        work_prefix = datastore_work_prefix(work, source, plan.format);
    progress_state ps = {.start = hf_http_now()};
    bool tty = isatty(STDERR_FILENO);
    ps.mode = !strcmp(progress, "none")    ? PROGRESS_NONE
              : !strcmp(progress, "bar")   ? PROGRESS_BAR
              : !strcmp(progress, "plain") ? PROGRESS_PLAIN
              : tty                        ? PROGRESS_BAR
                                           : PROGRESS_PLAIN;
    long stall = 0;
    const char *v;
    if ((v = getenv("HFHUB_STALL_TIMEOUT")) && *v && !hf_parse_long(v, 1, 3600, &stall))
        status = fail(2, "HFHUB_STALL_TIMEOUT must be a number of seconds from 1 to 3600");
    hf_import_options io = {.max_connections = (int)connections,
                            .work_prefix = work_prefix,
                            .stall_timeout = (double)stall,
                            .retry_base_ms = client.retry_base_ms,
                            .max_rate = max_rate,
                            .progress = on_progress,
                            .progress_user = &ps};
    hf_import_result res;
    struct stat st;
    if (status) {
        /* a bad setting was reported above */
    } else if (!work) {
        status = fail(1, "out of memory");
    } else if (to_stdout && !lstat(work, &st)) {
        /* complete from an earlier run whose output was lost: send it again */
    } else if (hf_import_run(&client, &plan, work, &io, &res, &err)) {
        status = fail(hf_code_exit_status(err.code), err.msg);
    } else if (ps.mode != PROGRESS_NONE) {
        char got[32], rr[32];
        human((double)res.fetch.downloaded_bytes, got, sizeof got);
        human((double)res.fetch.reread_bytes, rr, sizeof rr);
        double secs = hf_http_now() - ps.start;
        fprintf(stderr,
                "%s: %s@%.12s: %zu files verified into %s (%s, %s downloaded in %.1f s%s, "
                "%ld requests, %ld retries, %s re-read to verify, up to %d connections)\n",
                PROG, plan.address.repo_id, plan.tree.commit, plan.n_files,
                to_stdout ? "stdout" : dest, plan.format == HF_FORMAT_DIR ? "dir" : "qcow2", got,
                secs, res.resumed ? ", resumed" : "", res.fetch.requests, res.fetch.retries, rr,
                res.fetch.max_connections_used);
    }
    if (!status && to_stdout) {
        int r = plan.format == HF_FORMAT_DIR ? tar_to_stdout(work) : copy_to_stdout(work);
        if (r) {
            snprintf(msg, sizeof msg,
                     "cannot write the result to stdout; it is kept in %s for the next run", work);
            status = fail(1, msg);
        } else {
            /* the result went out: the work copy is not needed any more */
            if (plan.format == HF_FORMAT_DIR) {
                char *argv_rm[] = {"rm", "-rf", "--", work, NULL};
                pid_t pid;
                if (!posix_spawnp(&pid, "rm", NULL, NULL, argv_rm, environ))
                    waitpid(pid, NULL, 0);
            } else {
                unlink(work);
            }
        }
    }
    free(work);
    free(work_prefix);
    hf_import_plan_free(&plan);
    hf_client_close(&client);
    return status;
}
