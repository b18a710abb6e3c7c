/* hfhub_downloader: imports an hf:// address as a qcow2 disk image or a
 * directory (DEST), or writes it to stdout (DEST "-": the qcow2 bytes as
 * they download, or a tar stream of the directory), or prints the size an import will take
 * (--size-only). Thin: parses options, reports progress, calls the library. */
#define _GNU_SOURCE /* F_SETPIPE_SZ */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "hf_client.h"
#include "hf_import.h"
#include "hf_rate.h"
#include "hf_sizing.h"
#include "hf_status.h"
#include "hf_token.h"
#include "hf_strlist.h"
#include "hf_workdir.h"
#include "one_datastore.h"
#include "one_driver_msg.h"
#include "tool_version.h"

extern char **environ;

static const char *const PROG = "hfhub_downloader";

static void usage(FILE *f)
{
    fprintf(f,
"Usage: hfhub_downloader [OPTIONS] SOURCE DEST\n"
"   or: hfhub_downloader --size-only [--format F] SOURCE\n"
"   or: DRV_ACTION=... hfhub_downloader --remove-image\n"
"   or: hfhub_downloader --status [DIR...]\n"
"Import a Hugging Face repository as a qcow2 disk image (an ext4 filesystem)\n"
"or as a directory, verified, resumable, without root.\n"
"\n"
"SOURCE  " HF_ADDRESS_GRAMMAR "\n"
"DEST    the image file or directory to create (it must not exist), or - for\n"
"        stdout: the qcow2 bytes, streamed in order as they download (only the\n"
"        filesystem's metadata and the qcow2 tables go to the work directory;\n"
"        a failed stream is not resumable), or a tar stream of the directory\n"
"        (built in the work directory first)\n"
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
"  --status [DIR...]       list imports in progress (bytes, rate, ETA) from the\n"
"                          status files in this user's work directory and in\n"
"                          each DIR and DIR/.hfhub-work (a datastore's BASE_PATH)\n"
"  --remove-image          (for OpenNebula's virtiofs/rm) remove the directory\n"
"                          image that DRV_ACTION describes, if hfhub imported it\n"
"  --help, --version\n"
"\n"
"A run that stops (network, disk full, kill) leaves DEST.hfhub-part and\n"
"DEST.hfhub-journal; running the same command again continues from them.\n"
"DEST appears only when every file is downloaded and verified.\n"
"\n"
"Environment: HF_ENDPOINT, HF_TOKEN / HUGGING_FACE_HUB_TOKEN / token file,\n"
"HTTPS_PROXY, HFHUB_WORK_DIR (where DEST - keeps its work, in a private\n"
"hfhub-<uid> directory; default $TMPDIR, else /var/tmp),\n"
"HFHUB_STREAM_WINDOW (DEST - of an image: how far ahead of the stream data is\n"
"fetched, in --limit's syntax, default 128M; RAM stays within twice that),\n"
"HFHUB_STALL_TIMEOUT (seconds without a byte before a connection is replaced,\n"
"default 20), HFHUB_LOW_SPEED_LIMIT and HFHUB_LOW_SPEED_TIME (a connection\n"
"that receives less than LIMIT bytes/s over TIME seconds is replaced; a file\n"
"whose connections keep crawling or stalling fails after 9 in a row; LIMIT in\n"
"--limit's syntax, default 1k; TIME in seconds, default 30),\n"
"HFHUB_RETRY_BASE_MS (first retry wait, default 1000),\n"
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
    /* the status file --status reads (NULL: none), rewritten every 2 s */
    char *status_path;
    hf_status status;
    double last_status;
} progress_state;

static void write_status(progress_state *s, const hf_fetch_progress *p, double now)
{
    if (!s->status_path)
        return;
    s->last_status = now;
    s->status.updated = (double)time(NULL);
    s->status.done_bytes = p->done_bytes;
    s->status.total_bytes = p->total_bytes;
    s->status.rate = p->rate;
    s->status.connections = p->connections;
    s->status.files_done = (long)p->files_done;
    s->status.files_total = (long)p->files_total;
    hf_error ignored;
    hf_status_write(s->status_path, &s->status, &ignored); /* best effort: only a view */
}

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

/* Bytes done and total, rate and ETA as an operator reads them. */
typedef struct {
    char done[32], total[32], rate[32], eta[32];
    int pct;
} progress_text;

static void describe(uint64_t done, uint64_t total, double rate, progress_text *t)
{
    human((double)done, t->done, sizeof t->done);
    human((double)total, t->total, sizeof t->total);
    human(rate, t->rate, sizeof t->rate);
    snprintf(t->eta, sizeof t->eta, "--:--");
    if (rate > 0 && total > done) {
        long sec = (long)((double)(total - done) / rate);
        snprintf(t->eta, sizeof t->eta, "%ld:%02ld:%02ld", sec / 3600, sec / 60 % 60, sec % 60);
    }
    t->pct = total ? (int)(100.0 * (double)done / (double)total) : 100;
}

static void on_progress(void *user, const hf_fetch_progress *p)
{
    progress_state *s = user;
    double now = hf_http_now();
    bool last = p->files_done == p->files_total;
    if (now - s->last_status >= 2.0 || last)
        write_status(s, p, now);
    if (s->mode == PROGRESS_NONE)
        return;
    if (s->mode == PROGRESS_PLAIN && now - s->last < 5.0 && !last)
        return;
    s->last = now;
    progress_text pt;
    describe(p->done_bytes, p->total_bytes, p->rate, &pt);
    const char *done = pt.done, *total = pt.total, *rate = pt.rate, *eta = pt.eta;
    int pct = pt.pct;
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
    char **clean = hf_env_without_secrets(environ); /* tar never sees the token */
    int e = clean ? posix_spawnp(&pid, "tar", NULL, NULL, argv, clean) : ENOMEM;
    free(clean);
    if (e)
        return -1;
    int status;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            return -1;
    return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -1;
}

static int fail(int status, const char *msg)
{
    fprintf(stderr, "%s: %s\n", PROG, msg);
    return status;
}

static int print_dir_status(const char *dir, int *shown)
{
    hf_status *list;
    size_t n;
    hf_error err = {0};
    if (hf_status_list(dir, &list, &n, &err)) {
        fprintf(stderr, "%s: %s\n", PROG, err.msg);
        return 1;
    }
    double now = (double)time(NULL);
    for (size_t i = 0; i < n; i++) {
        hf_status *st = &list[i];
        progress_text pt;
        describe(st->done_bytes, st->total_bytes, st->rate, &pt);
        const char *done = pt.done, *total = pt.total, *rate = pt.rate, *eta = pt.eta;
        int pct = pt.pct;
        if (st->running)
            printf("%s -> %s: %s of %s (%d%%), %s/s, ETA %s, %d connections, %ld/%ld files, "
                   "pid %ld, updated %.0f s ago\n",
                   st->source, st->dest, done, total, pct, rate, eta, st->connections,
                   st->files_done, st->files_total, st->pid, now - st->updated);
        else
            printf("%s -> %s: stopped at %s of %s (%d%%) %.0f s ago; the next try continues it "
                   "(status file %s)\n",
                   st->source, st->dest, done, total, pct, now - st->updated, st->path);
        (*shown)++;
    }
    hf_status_list_free(list, n);
    return 0;
}

/* --status [DIR...]: imports in progress, from their status files in this
 * user's private work directory (DEST -) and in each DIR and DIR/.hfhub-work
 * (a datastore's BASE_PATH, or the directory of a DEST). */
static int print_status(char **dirs, int n_dirs)
{
    int status = 0, shown = 0;
    const char *base = hf_workdir_base(getenv("HFHUB_WORK_DIR"), getenv("TMPDIR"));
    char own[4096];
    snprintf(own, sizeof own, "%s/hfhub-%ld", base, (long)geteuid());
    hf_error err;
    if (!hf_workdir_check(own, geteuid(), false, &err))
        status |= print_dir_status(own, &shown);
    for (int i = 0; i < n_dirs; i++) {
        char sub[4096];
        snprintf(sub, sizeof sub, "%s/.hfhub-work", dirs[i]);
        status |= print_dir_status(dirs[i], &shown);
        status |= print_dir_status(sub, &shown);
    }
    if (!shown)
        printf("no import in progress%s\n",
               n_dirs ? "" : " in this user's work directory (give a datastore's directory to look there)");
    return status;
}

/* The rm action of a directory datastore (virtiofs/rm): removes the image's
 * directory when it is an hf:// import of ours (one_datastore.h says which),
 * leaves anything else alone. */
static int remove_directory_image(const char *drv)
{
    hf_error err = {0};
    one_datastore_info ds;
    if (!drv || !*drv)
        return fail(2, "--remove-image needs the datastore driver's message in DRV_ACTION");
    if (one_datastore_msg_parse(drv, &ds, &err)) {
        char msg[1200];
        snprintf(msg, sizeof msg, "DRV_ACTION (the datastore driver's message): %s", err.msg);
        return fail(2, msg);
    }
    int status = 0;
    if (one_datastore_kind(&ds) != ONE_DS_DIRECTORY || !ds.image_path ||
        strncmp(ds.image_path, "hf://", 5)) {
        /* not an hf:// directory image: not ours, nothing to do */
    } else if (one_datastore_owned_dir(&ds, &err)) {
        if (err.code != HF_ERR_NOT_FOUND) /* already gone: done */
            status = fail(1, err.msg);
    } else if (hf_remove_tree(ds.image_source, &err)) {
        status = fail(1, err.msg);
    } else {
        fprintf(stderr, "%s: removed %s\n", PROG, ds.image_source);
    }
    one_datastore_info_clear(&ds);
    return status;
}

int main(int argc, char **argv)
{
    enum { OPT_FORMAT = 256, OPT_CONNECTIONS, OPT_PROGRESS, OPT_SIZE_ONLY, OPT_REMOVE_IMAGE,
           OPT_STATUS, OPT_HELP, OPT_VERSION };
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
                                         {"remove-image", no_argument, 0, OPT_REMOVE_IMAGE},
                                         {"status", no_argument, 0, OPT_STATUS},
                                         {"help", no_argument, 0, OPT_HELP},
                                         {"version", no_argument, 0, OPT_VERSION},
                                         {0, 0, 0, 0}};
    hf_format format = HF_FORMAT_DEFAULT;
    long connections = 16;
    bool size_only = false, remove_image = false, show_status = false;
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
        case OPT_REMOVE_IMAGE:
            remove_image = true;
            break;
        case OPT_STATUS:
            show_status = true;
            break;
        case OPT_HELP:
            usage(stdout);
            return 0;
        case OPT_VERSION:
            tool_print_version(PROG);
            return 0;
        default:
            snprintf(msg, sizeof msg, "unknown or incomplete option '%.100s'; try --help",
                     argv[optind - 1]);
            return fail(2, msg);
        }
    }
    if (show_status)
        return print_status(argv + optind, argc - optind);
    if (remove_image) {
        if (argc != optind) {
            usage(stderr);
            return 2;
        }
        return remove_directory_image(getenv("DRV_ACTION"));
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
    if (dest && !*dest) {
        hf_address_clear(&probe);
        return fail(2, "DEST is empty");
    }

    /* Called by OpenNebula's datastore driver, we learn the datastore's kind
     * from the message it exports (DRV_ACTION): a directory datastore
     * (virtiofs) takes the directory form, every other one a qcow2 image. A
     * form the datastore cannot hold is refused before any request. */
    const char *drv = getenv("DRV_ACTION");
    if (drv && *drv) {
        one_datastore_info ds;
        if (one_datastore_msg_parse(drv, &ds, &err)) {
            snprintf(msg, sizeof msg, "DRV_ACTION (the datastore driver's message): %s", err.msg);
            return fail(2, msg);
        }
        hf_format requested = format != HF_FORMAT_DEFAULT ? format : probe.format;
        hf_code rc = one_datastore_form(&ds, requested, &format, &err);
        one_datastore_info_clear(&ds);
        if (rc) {
            hf_address_clear(&probe);
            return fail(hf_code_exit_status(rc), err.msg);
        }
    }
    hf_address_clear(&probe);

    hf_client client;
    if (hf_client_open(&client, 600, &err))
        return fail(hf_code_exit_status(err.code), err.msg);
    hf_import_plan plan;
    int status = 0;
    if (hf_import_plan_make(&client, source, format, HF_FORMAT_DEFAULT, &plan, &err)) {
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
    /* DEST "-" builds its result in this user's private work directory and
     * streams it from there; inside OpenNebula (DRV_ACTION) each try of an
     * import gets a new image path, so the work is kept in the datastore's
     * .hfhub-work, named after what is imported, where the next try finds it.
     * Both directories are checked before use (hf_workdir.h). */
    char *work_dir = NULL, *work_prefix = NULL;
    const char *work_base = hf_workdir_base(getenv("HFHUB_WORK_DIR"), getenv("TMPDIR"));
    if (to_stdout)
        status = hf_workdir_private(work_base, geteuid(), &work_dir, &err);
    else if (drv && *drv)
        status = hf_workdir_for_dest(dest, work_base, geteuid(), &work_dir, &err);
    if (status) {
        status = fail(hf_code_exit_status((hf_code)status), err.msg);
        hf_import_plan_free(&plan);
        hf_client_close(&client);
        return status;
    }
    if (work_dir && !(work_prefix = hf_workdir_prefix(work_dir, client.hub.endpoint, source,
                                                      plan.format)))
        status = fail(1, "out of memory");
    progress_state ps = {.start = hf_http_now()};
    const char *status_base = work_prefix ? work_prefix : to_stdout ? NULL : dest;
    if (status_base && (ps.status_path = malloc(strlen(status_base) + 16)))
        sprintf(ps.status_path, "%s.hfhub-status", status_base);
    ps.status = (hf_status){.source = (char *)source, .dest = (char *)dest, .pid = (long)getpid(),
                            .started = (double)time(NULL)};
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
    long low_time = 0;
    uint64_t low_limit = 0;
    if (!status && (v = getenv("HFHUB_LOW_SPEED_TIME")) && *v && !hf_parse_long(v, 1, 3600, &low_time))
        status = fail(2, "HFHUB_LOW_SPEED_TIME must be a number of seconds from 1 to 3600");
    if (!status && (v = getenv("HFHUB_LOW_SPEED_LIMIT")) && *v &&
        hf_rate_parse(v, &low_limit, &rate_err)) {
        snprintf(msg, sizeof msg, "HFHUB_LOW_SPEED_LIMIT: %s", rate_err.msg);
        status = fail(2, msg);
    }
    uint64_t window = 0;
    if (!status && (v = getenv("HFHUB_STREAM_WINDOW")) && *v &&
        hf_rate_parse(v, &window, &rate_err)) {
        snprintf(msg, sizeof msg, "HFHUB_STREAM_WINDOW: %s", rate_err.msg);
        status = fail(2, msg);
    }
    /* an image goes out as it downloads; a directory is built, then sent as tar */
    bool stream = to_stdout && plan.format == HF_FORMAT_QCOW2;
    if (stream)
        fcntl(STDOUT_FILENO, F_SETPIPE_SZ, 1 << 20); /* fewer wake-ups; a file or an old kernel: no matter */
    hf_import_options io = {.max_connections = (int)connections,
                            .work_prefix = work_prefix,
                            .keep_in_work = to_stdout && !stream,
                            .stream = stream,
                            .stream_fd = STDOUT_FILENO,
                            .stream_window = window,
                            .stall_timeout = (double)stall,
                            .low_speed_limit = low_limit,
                            .low_speed_time = (double)low_time,
                            .retry_base_ms = client.retry_base_ms,
                            .max_rate = max_rate,
                            .progress = on_progress,
                            .progress_user = &ps};
    hf_import_result res;
    hf_code run = status ? HF_OK : hf_import_run(&client, &plan, to_stdout ? NULL : dest, &io,
                                                  &res, &err);
    if (run && stream && res.not_streamable) {
        /* nothing was sent yet: build the image first, as a directory is */
        fprintf(stderr, "%s: %s; building the image in %s first, then sending it\n", PROG,
                err.msg, work_dir);
        stream = io.stream = false;
        io.keep_in_work = true;
        run = hf_import_run(&client, &plan, NULL, &io, &res, &err);
    }
    if (status) {
        /* a bad setting was reported above */
    } else if (run && stream) {
        snprintf(msg, sizeof msg,
                 "%s; the image sent to stdout is incomplete, and a stream cannot be resumed: "
                 "run the import again",
                 err.msg);
        status = fail(hf_code_exit_status(err.code), msg);
    } else if (run) {
        status = fail(hf_code_exit_status(err.code), err.msg);
    } else if (ps.mode != PROGRESS_NONE) {
        char got[32], rr[32], kept[64] = "";
        human((double)res.fetch.downloaded_bytes, got, sizeof got);
        human((double)res.fetch.reread_bytes, rr, sizeof rr);
        if (res.resumed) {
            char k[32];
            human((double)res.fetch.resumed_bytes, k, sizeof k);
            snprintf(kept, sizeof kept, ", resumed with %s kept (%llu bytes)", k,
                     (unsigned long long)res.fetch.resumed_bytes);
        }
        double secs = hf_http_now() - ps.start;
        fprintf(stderr,
                "%s: %s@%.12s: %zu files verified into %s (%s, %s downloaded in %.1f s%s, "
                "%ld requests, %ld retries, %s re-read to verify, up to %d connections)\n",
                PROG, plan.address.repo_id, plan.tree.commit, plan.n_files,
                to_stdout ? "stdout" : dest, plan.format == HF_FORMAT_DIR ? "dir" : "qcow2", got,
                secs, kept, res.fetch.requests, res.fetch.retries, rr,
                res.fetch.max_connections_used);
    }
    if (!status && to_stdout && !stream) {
        char *result = hf_import_result_path(work_prefix);
        int r = !result ? -1 : plan.format == HF_FORMAT_DIR ? tar_to_stdout(result)
                                                             : copy_to_stdout(result);
        if (r) {
            hf_import_release(&res);
            snprintf(msg, sizeof msg,
                     "cannot write the result to stdout; the verified work is kept in %s, and "
                     "the next run verifies it again and sends it",
                     work_dir);
            status = fail(1, msg);
        } else if (hf_import_discard_work(work_prefix, &res, &err)) {
            /* the result went out: the work is not needed any more */
            fprintf(stderr, "%s: warning: %s\n", PROG, err.msg);
        }
        free(result);
    }
    if (ps.status_path)
        unlink(ps.status_path); /* the import is over: nothing to watch */
    free(ps.status_path);
    free(work_dir);
    free(work_prefix);
    hf_import_plan_free(&plan);
    hf_client_close(&client);
    return status;
}
