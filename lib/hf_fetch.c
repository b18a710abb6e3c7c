/* The download engine (see hf_fetch.h).
 *
 * Each file has a list of byte ranges still to fetch ("todo"), a hash
 * position (every byte before it went through the digests, in order) and a
 * list of "pending" segments: bytes already stored but not yet hashed
 * because they arrived ahead of the hash position. A scheduler hands ranges
 * to transfers: first the head of every file nobody works on, then ranges
 * further into files, then halves of running transfers (tail splitting).
 * Every byte is fetched once; a failed transfer gives back exactly the bytes
 * it did not deliver.
 *
 * The rate cap (max_rate) is one token bucket for all connections. A
 * transfer receives file bytes against its own credit, which it draws from
 * the bucket a quantum at a time. When the bucket is empty, or others are
 * already waiting, the write callback pauses the transfer
 * (CURL_WRITEFUNC_PAUSE: libcurl keeps the bytes and stops reading that
 * socket, so TCP slows the sender) and it joins a queue; the main loop
 * refills the bucket and resumes the queue in order, one quantum each, so
 * every connection gets its turn and the sum stays at the cap. */
#define _GNU_SOURCE /* qsort_r */
#include "hf_fetch.h"

#include <curl/curl.h>
#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "hf_http.h"
#include "hf_hub.h"
#include "hf_http_headers.h"

#define SEG_MAX ((size_t)1 << 20)
#define READBACK ((size_t)1 << 20)
#define MIN_SPLIT ((uint64_t)4 << 20)
#define MAX_REDIRECTS 5
#define MAX_ERROR_BODY ((size_t)64 << 10)

typedef struct {
    uint64_t off, len;
    unsigned char *buf;   /* NULL: only in the sink, read back when hashed */
    size_t cap;
} segment;

typedef struct {
    uint64_t start, end;
} span;

typedef struct {
    hf_fetch_file *f;
    size_t index;
    EVP_MD_CTX *sha256;
    EVP_MD_CTX *sha1;       /* git blob id, regular files only */
    uint64_t hash_pos;
    segment *pending;
    size_t n_pending, cap_pending;
    span *todo;
    size_t n_todo, cap_todo;
    uint64_t todo_left;     /* bytes in todo */
    size_t rank;            /* position in the scheduling order */
    span *have;             /* on disk from an earlier run (journal replay) */
    size_t n_have, cap_have;
    char *url;              /* where the bytes come from once redirected (CDN) */
    int failures, paced, reresolves, mismatches;
    double not_before;
    int active;
    bool verified;
    uint64_t resumed;
} file_state;

struct fetch;

typedef struct {
    struct fetch *c;
    CURL *easy;
    struct curl_slist *hdrs;
    file_state *fs;
    char *url;
    uint64_t start, pos, stop_at, end;   /* requested [start, end); we stop at stop_at */
    uint64_t jpos;        /* [start, jpos) is in the journal */
    double last_byte;
    /* the low-speed window: position at its start, seconds not paused in it */
    uint64_t win_pos;
    double win_time, tick;
    /* the server's size of the file when it is not the file list's (0: same) */
    uint64_t lie_size;
    bool lie_at_least;    /* lie_size is a lower bound (more bytes than expected arrived) */
    bool lied;
    bool checked, stopped, overrun, via_cdn;
    long status;
    size_t discarded;
    char *location, *x_error_code, *x_error_message;
    bool have_cr;
    uint64_t cr_start, cr_total;
    long long linked_size;
    double retry_after, rl_reset;
    long rl_remaining;
    int redirects;
    bool paused;          /* waiting in the rate queue */
    double credit;        /* bytes it may receive under the rate cap */
} xfer;

typedef struct fetch {
    const hf_fetch_options *opt;
    const hf_fetch_sink *sink;
    hf_fetch_stats *stats;
    file_state *files;
    size_t n;
    size_t *order;          /* files by size, largest first */
    size_t head_cursor;     /* order[] before it: nothing left to start a head for */
    uint64_t todo_left;     /* bytes not yet handed to any transfer, all files */
    CURLM *multi;
    xfer **active;
    int n_active;
    int target;
    double ref_rate;
    int good_target;        /* the last connection count that paid off */
    int probe_windows;      /* windows left before judging an increase */
    int hold_windows;       /* windows to wait before the next increase */
    size_t ram_used;
    char *auth_header;
    int journal_fd;
    double pause_until;
    uint64_t done_bytes, total_bytes;
    double win_start;
    uint64_t win_bytes;
    double rate;
    double started;
    double next_progress;
    size_t files_done;
    bool failed;
    hf_error err;
    unsigned char *readbuf;
    /* the rate cap: a token bucket shared by all transfers */
    double tokens;          /* bytes that may be received now (negative: owed) */
    double tokens_at;       /* when the bucket was last refilled */
    double bucket;          /* most tokens it holds */
    double quantum;         /* credit handed out at a time */
    xfer **queue;           /* paused transfers waiting for credit, oldest first */
    int n_queue;
} fetch;

static void fail(fetch *c, const hf_error *e)
{
    if (!c->failed) {
        c->failed = true;
        c->err = *e;
    }
}

static void throttle(fetch *c);

static void out_of_memory(fetch *c)
{
    hf_error e;
    hf_error_set(&e, HF_ERR_NOMEM, "out of memory");
    fail(c, &e);
}

/* ---- journal -------------------------------------------------------------- */

static void journal_line(fetch *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void journal_line(fetch *c, const char *fmt, ...)
{
    if (c->journal_fd < 0)
        return;
    char line[200];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    /* One write(2) per line with O_APPEND: a kill leaves at most a torn last
     * line, which replay ignores. */
    if (n > 0 && write(c->journal_fd, line, (size_t)n) != n) {
        hf_error e;
        hf_error_set(&e, HF_ERR_IO, "cannot write the resume journal %s: %s",
                     c->opt->journal_path, strerror(errno));
        fail(c, &e);
    }
}

/* Records that [jpos, pos) of x's file is written: at most a grain of what a
 * transfer wrote is missing from the journal at any moment. */
static void journal_written(fetch *c, xfer *x)
{
    if (x->pos > x->jpos)
        journal_line(c, "W %zu %llu %llu\n", x->fs->index, (unsigned long long)x->jpos,
                     (unsigned long long)(x->pos - x->jpos));
    x->jpos = x->pos;
}

/* ---- ranges ------------------------------------------------------------------ */

static bool todo_add(fetch *c, file_state *fs, uint64_t start, uint64_t end)
{
    if (start >= end)
        return true;
    fs->todo_left += end - start;
    c->todo_left += end - start;
    if (fs->rank < c->head_cursor)
        c->head_cursor = fs->rank; /* it has work again */
    size_t i = 0;
    while (i < fs->n_todo && fs->todo[i].start < start)
        i++;
    /* merge with the previous or next range when they touch */
    if (i > 0 && fs->todo[i - 1].end == start) {
        fs->todo[i - 1].end = end;
        if (i < fs->n_todo && fs->todo[i].start == end) {
            fs->todo[i - 1].end = fs->todo[i].end;
            memmove(&fs->todo[i], &fs->todo[i + 1], (fs->n_todo - i - 1) * sizeof *fs->todo);
            fs->n_todo--;
        }
        return true;
    }
    if (i < fs->n_todo && fs->todo[i].start == end) {
        fs->todo[i].start = start;
        return true;
    }
    if (fs->n_todo == fs->cap_todo) {
        size_t cap = fs->cap_todo ? fs->cap_todo * 2 : 4;
        span *v = realloc(fs->todo, cap * sizeof *v);
        if (!v)
            return false;
        fs->todo = v;
        fs->cap_todo = cap;
    }
    memmove(&fs->todo[i + 1], &fs->todo[i], (fs->n_todo - i) * sizeof *fs->todo);
    fs->todo[i] = (span){start, end};
    fs->n_todo++;
    return true;
}

/* ---- hashing -------------------------------------------------------------------- */

static void hex(const unsigned char *d, unsigned n, char *out)
{
    for (unsigned i = 0; i < n; i++)
        snprintf(out + 2 * i, 3, "%02x", d[i]);
}

static bool hash_start(file_state *fs)
{
    fs->hash_pos = 0;
    if (!fs->sha256 && !(fs->sha256 = EVP_MD_CTX_new()))
        return false;
    if (!EVP_DigestInit_ex(fs->sha256, EVP_sha256(), NULL))
        return false;
    if (!fs->f->sha256) {
        if (!fs->sha1 && !(fs->sha1 = EVP_MD_CTX_new()))
            return false;
        char hdr[64];
        int n = snprintf(hdr, sizeof hdr, "blob %llu", (unsigned long long)fs->f->size);
        if (!EVP_DigestInit_ex(fs->sha1, EVP_sha1(), NULL) ||
            !EVP_DigestUpdate(fs->sha1, hdr, (size_t)n + 1)) /* with the NUL */
            return false;
    }
    return true;
}

static void hash_bytes(file_state *fs, const void *p, size_t n)
{
    EVP_DigestUpdate(fs->sha256, p, n);
    if (fs->sha1)
        EVP_DigestUpdate(fs->sha1, p, n);
    fs->hash_pos += n;
}

static void restart_file(fetch *c, file_state *fs);

/* The whole file went through the digests: compare with the tree. */
static void finish_file(fetch *c, file_state *fs)
{
    unsigned char d[EVP_MAX_MD_SIZE];
    unsigned n = 0;
    EVP_DigestFinal_ex(fs->sha256, d, &n);
    hex(d, n, fs->f->computed_sha256);
    char got[81] = "", *want;
    const char *kind;
    if (fs->f->sha256) {
        strcpy(got, fs->f->computed_sha256);
        want = (char *)fs->f->sha256;
        kind = "sha256";
    } else {
        EVP_DigestFinal_ex(fs->sha1, d, &n);
        hex(d, n, got);
        want = (char *)fs->f->oid;
        kind = "git blob sha1";
    }
    if (strcmp(got, want)) {
        if (++fs->mismatches <= 1) {
            /* Bytes can be damaged in transit or by an earlier crash: fetch
             * the file once more before calling it corrupt. */
            restart_file(c, fs);
            return;
        }
        hf_error e;
        hf_error_set(&e, HF_ERR_PROTOCOL,
                     "%s: %s mismatch after two downloads (expected %.16s..., got %.16s...): the "
                     "server sends corrupt data; nothing was installed",
                     fs->f->path, kind, want, got);
        fail(c, &e);
        return;
    }
    fs->verified = true;
    c->files_done++;
    journal_line(c, "V %zu %s\n", fs->index, fs->f->computed_sha256);
}

static void free_pending(fetch *c, file_state *fs)
{
    for (size_t i = 0; i < fs->n_pending; i++) {
        c->ram_used -= fs->pending[i].cap;
        free(fs->pending[i].buf);
    }
    fs->n_pending = 0;
}

/* Hashes pending segments that start at the hash position. */
static void drain(fetch *c, file_state *fs)
{
    while (!c->failed && fs->n_pending && fs->pending[0].off == fs->hash_pos) {
        segment s = fs->pending[0];
        memmove(&fs->pending[0], &fs->pending[1], (fs->n_pending - 1) * sizeof *fs->pending);
        fs->n_pending--;
        if (s.buf) {
            hash_bytes(fs, s.buf, (size_t)s.len);
            c->ram_used -= s.cap;
            free(s.buf);
            continue;
        }
        for (uint64_t done = 0; done < s.len && !c->failed;) {
            size_t n = s.len - done < READBACK ? (size_t)(s.len - done) : READBACK;
            hf_error e;
            if (c->sink->read(c->sink->user, fs->index, s.off + done, c->readbuf, n, &e)) {
                fail(c, &e);
                return;
            }
            hash_bytes(fs, c->readbuf, n);
            c->stats->reread_bytes += n;
            done += n;
        }
    }
    if (!c->failed && !fs->verified && fs->hash_pos == fs->f->size && fs->n_todo == 0 &&
        fs->active == 0)
        finish_file(c, fs);
}

/* Inserts s at position i of fs's pending list (kept sorted by offset). */
static bool pending_insert(file_state *fs, size_t i, segment s)
{
    if (fs->n_pending == fs->cap_pending) {
        size_t cap = fs->cap_pending ? fs->cap_pending * 2 : 8;
        segment *v = realloc(fs->pending, cap * sizeof *v);
        if (!v)
            return false;
        fs->pending = v;
        fs->cap_pending = cap;
    }
    memmove(&fs->pending[i + 1], &fs->pending[i], (fs->n_pending - i) * sizeof *fs->pending);
    fs->pending[i] = s;
    fs->n_pending++;
    return true;
}

/* Keeps bytes that arrived ahead of the hash position. */
static bool stash(fetch *c, file_state *fs, uint64_t off, const void *data, size_t len)
{
    /* the segment that ends where these bytes start, if any */
    size_t i = fs->n_pending;
    while (i > 0 && fs->pending[i - 1].off > off)
        i--;
    if (i > 0) {
        segment *s = &fs->pending[i - 1];
        if (s->off + s->len == off) {
            if (!s->buf && c->ram_used + len > c->opt->ram_budget) {
                s->len += len; /* stays on disk only */
                return true;
            }
            if (s->buf && s->len + len <= SEG_MAX) {
                if (s->len + len > s->cap) {
                    size_t cap = s->cap * 2;
                    while (cap < s->len + len)
                        cap *= 2;
                    if (cap > SEG_MAX)
                        cap = SEG_MAX;
                    if (c->ram_used + (cap - s->cap) <= c->opt->ram_budget) {
                        unsigned char *b = realloc(s->buf, cap);
                        if (!b)
                            return false;
                        c->ram_used += cap - s->cap;
                        s->buf = b;
                        s->cap = cap;
                    }
                }
                if (s->len + len <= s->cap) {
                    memcpy(s->buf + s->len, data, len);
                    s->len += len;
                    return true;
                }
            }
        }
    }
    segment s = {off, len, NULL, 0};
    size_t cap = len < 65536 ? 65536 : len;
    if (cap <= SEG_MAX && c->ram_used + cap <= c->opt->ram_budget) {
        s.buf = malloc(cap);
        if (s.buf) {
            memcpy(s.buf, data, len);
            s.cap = cap;
            c->ram_used += cap;
        }
    }
    if (!pending_insert(fs, i, s)) {
        if (s.buf) {
            c->ram_used -= s.cap;
            free(s.buf);
        }
        return false;
    }
    return true;
}

/* Records bytes that are in the sink from an earlier run, to be read back
 * and hashed when the hash position reaches them. */
static bool pending_disk(file_state *fs, uint64_t off, uint64_t len)
{
    if (fs->n_pending && fs->pending[fs->n_pending - 1].off + fs->pending[fs->n_pending - 1].len == off &&
        !fs->pending[fs->n_pending - 1].buf) {
        fs->pending[fs->n_pending - 1].len += len;
        return true;
    }
    return pending_insert(fs, fs->n_pending, (segment){off, len, NULL, 0});
}

/* Forgets everything about a file and fetches it again from scratch. */
static void restart_file(fetch *c, file_state *fs)
{
    free_pending(c, fs);
    c->todo_left -= fs->todo_left;
    fs->todo_left = 0;
    fs->n_todo = 0;
    c->done_bytes -= fs->f->size;
    journal_line(c, "R %zu\n", fs->index);
    free(fs->url);
    fs->url = NULL;
    if (!hash_start(fs) || !todo_add(c, fs, 0, fs->f->size))
        out_of_memory(c);
}

/* ---- transfers --------------------------------------------------------------- */

static size_t on_header(char *data, size_t size, size_t nmemb, void *userp)
{
    xfer *x = userp;
    size_t n = size * nmemb;
    const char *colon = memchr(data, ':', n);
    if (!colon)
        return n;
    size_t klen = (size_t)(colon - data);
    char *v = hf_header_trim(colon + 1, n - klen - 1);
    if (!v)
        return n;
#define IS(h) (klen == sizeof(h) - 1 && !strncasecmp(data, h, klen))
    if (IS("location")) {
        free(x->location);
        x->location = v;
        v = NULL;
    } else if (IS("x-error-code")) {
        free(x->x_error_code);
        x->x_error_code = v;
        v = NULL;
    } else if (IS("x-error-message")) {
        free(x->x_error_message);
        x->x_error_message = v;
        v = NULL;
    } else if (IS("content-range")) {
        uint64_t end;
        x->have_cr = hf_header_content_range(v, &x->cr_start, &end, &x->cr_total);
    } else if (IS("x-linked-size")) {
        x->linked_size = strtoll(v, NULL, 10);
    } else if (IS("retry-after")) {
        hf_header_seconds(v, &x->retry_after);
    } else if (IS("ratelimit")) {
        hf_header_ratelimit(v, &x->rl_remaining, &x->rl_reset);
    }
#undef IS
    free(v);
    return n;
}

static bool check_response(xfer *x)
{
    uint64_t size = x->fs->f->size;
    curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &x->status);
    if (x->status == 206) {
        if (x->have_cr && x->cr_total != size) {
            x->lied = true; /* another size than the file list's */
            x->lie_size = x->cr_total;
            return false;
        }
        return x->have_cr && x->cr_start == x->pos;
    }
    if (x->status != 200)
        return false;
    /* a server that ignores Range sends the whole file: its length is the file's */
    curl_off_t len = -1;
    curl_easy_getinfo(x->easy, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &len);
    if (len >= 0 && (uint64_t)len != size) {
        x->lied = true;
        x->lie_size = (uint64_t)len;
        return false;
    }
    return x->pos == 0 && x->end == size;
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *userp)
{
    xfer *x = userp;
    fetch *c = x->c;
    size_t n = size * nmemb;
    if (!x->checked) {
        curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &x->status);
        if (x->status >= 300 || x->status < 200) {
            /* redirect or error text: not file data */
            x->discarded += n;
            return x->discarded > MAX_ERROR_BODY ? 0 : n;
        }
        if (!check_response(x)) {
            x->overrun = true; /* wrong range or size: retried, then reported */
            return 0;
        }
        x->checked = true;
    }
    if (c->failed)
        return 0;
    uint64_t room = x->stop_at - x->pos;
    if (room && c->opt->max_rate) {
        if (x->credit < (double)n && !c->n_queue && c->tokens > 0) {
            /* nobody is waiting: draw straight from the bucket */
            x->credit += c->quantum;
            c->tokens -= c->quantum;
        }
        if (x->credit < (double)n) {
            /* libcurl keeps these bytes and hands them over again when the
             * main loop resumes this transfer */
            if (!x->paused) {
                x->paused = true;
                c->queue[c->n_queue++] = x;
            }
            return CURL_WRITEFUNC_PAUSE;
        }
        x->credit -= (double)n;
    }
    size_t take = n <= room ? n : (size_t)room;
    if (take) {
        file_state *fs = x->fs;
        hf_error e;
        if (c->sink->write(c->sink->user, fs->index, x->pos, data, take, &e)) {
            fail(c, &e);
            return 0;
        }
        if (x->pos == fs->hash_pos) {
            hash_bytes(fs, data, take);
        } else if (!stash(c, fs, x->pos, data, take)) {
            out_of_memory(c);
            return 0;
        }
        x->pos += take;
        if (x->pos - x->jpos >= c->opt->journal_grain)
            journal_written(c, x);
        c->done_bytes += take;
        c->win_bytes += take;
        c->stats->downloaded_bytes += take;
        x->last_byte = hf_http_now();
        if (x->pos == fs->hash_pos || fs->n_pending)
            drain(c, fs);
    }
    if (take < n) {
        if (x->stop_at < x->end) {
            x->stopped = true; /* the rest was handed to another transfer */
        } else if (x->end == x->fs->f->size) {
            /* bytes past the end of the file: the server's file is longer */
            x->lied = true;
            x->lie_at_least = true;
            x->lie_size = x->pos + (n - take);
        } else {
            /* all of its range arrived, then more than asked for: the rest
             * is not ours (every byte is verified by the file's hash) */
            x->stopped = true;
        }
        return 0;
    }
    return n;
}

static bool start_xfer(fetch *c, file_state *fs, uint64_t start, uint64_t end)
{
    xfer *x = calloc(1, sizeof *x);
    if (!x)
        return false;
    x->c = c;
    x->fs = fs;
    x->start = x->jpos = x->win_pos = start;
    x->pos = start;
    x->stop_at = x->end = end;
    x->linked_size = -1;
    x->retry_after = x->rl_reset = -1;
    x->rl_remaining = -1;
    x->url = fs->url ? strdup(fs->url)
                     : hf_resolve_url(c->opt->endpoint, hf_repo_type_prefix(c->opt->repo_type),
                                      c->opt->repo_id, c->opt->commit, fs->f->path);
    CURL *e = x->url ? curl_easy_init() : NULL;
    if (!e) {
        free(x->url);
        free(x);
        return false;
    }
    x->via_cdn = !hf_http_same_origin(x->url, c->opt->endpoint);
    if (c->auth_header && !x->via_cdn)
        x->hdrs = curl_slist_append(x->hdrs, c->auth_header);
    char range[64];
    snprintf(range, sizeof range, "%llu-%llu", (unsigned long long)start,
             (unsigned long long)end - 1);
    curl_easy_setopt(e, CURLOPT_URL, x->url);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, x->hdrs);
    curl_easy_setopt(e, CURLOPT_USERAGENT, c->opt->user_agent ? c->opt->user_agent : "hfhub");
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(e, CURLOPT_RANGE, range);
    /* Under a rate cap transfers are paused and resumed all the time, and
     * pausing an HTTP/2 stream has stalled transfers in several libcurl
     * releases (curl issues 9180, 10988, 16960, 19334); with one transfer per
     * connection, HTTP/1.1 costs nothing. */
    curl_easy_setopt(e, CURLOPT_HTTP_VERSION, c->opt->max_rate ? (long)CURL_HTTP_VERSION_1_1
                                                               : (long)CURL_HTTP_VERSION_2TLS);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, 10000L);
    curl_easy_setopt(e, CURLOPT_BUFFERSIZE, 256L * 1024);
    curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, x);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, x);
    curl_easy_setopt(e, CURLOPT_PRIVATE, x);
    x->easy = e;
    x->last_byte = x->tick = hf_http_now();
    curl_multi_add_handle(c->multi, e);
    c->active[c->n_active++] = x;
    fs->active++;
    c->stats->requests++;
    if (c->n_active > c->stats->max_connections_used)
        c->stats->max_connections_used = c->n_active;
    return true;
}

static void free_xfer(fetch *c, xfer *x)
{
    journal_written(c, x); /* what it wrote, whatever ends it */
    for (int i = 0; i < c->n_active; i++)
        if (c->active[i] == x) {
            c->active[i] = c->active[--c->n_active];
            break;
        }
    for (int i = 0; x->paused && i < c->n_queue; i++)
        if (c->queue[i] == x) {
            memmove(&c->queue[i], &c->queue[i + 1], (size_t)(c->n_queue - i - 1) * sizeof *c->queue);
            c->n_queue--;
            break;
        }
    if (x->credit > 0)
        c->tokens += x->credit; /* unused credit goes back to the others */
    curl_multi_remove_handle(c->multi, x->easy);
    curl_easy_cleanup(x->easy);
    curl_slist_free_all(x->hdrs);
    x->fs->active--;
    free(x->url);
    free(x->location);
    free(x->x_error_code);
    free(x->x_error_message);
    free(x);
}

/* ---- scheduling -------------------------------------------------------------- */

/* Takes [start, end), at most max bytes, off the front of fs's first todo range. */
static void take_span(fetch *c, file_state *fs, uint64_t max, uint64_t *start, uint64_t *end)
{
    span *s = &fs->todo[0];
    *start = s->start;
    uint64_t len = s->end - s->start;
    if (len > max)
        len = max;
    *end = s->start + len;
    s->start = *end;
    fs->todo_left -= len;
    c->todo_left -= len;
    if (s->start == s->end) {
        memmove(&fs->todo[0], &fs->todo[1], (fs->n_todo - 1) * sizeof *fs->todo);
        fs->n_todo--;
    }
}

/* Starts a transfer for the next span of fs (at most max bytes); gives the
 * span back on failure. */
static bool start_span(fetch *c, file_state *fs, uint64_t max)
{
    uint64_t a, b;
    take_span(c, fs, max, &a, &b);
    if (start_xfer(c, fs, a, b))
        return true;
    todo_add(c, fs, a, b);
    out_of_memory(c);
    return false;
}

static bool start_next(fetch *c, double now)
{
    /* 1. the head of a file nobody works on, largest files first; files
     * before the cursor have nothing left to start (a model can have many
     * thousands of files: no rescan from the start each time) */
    while (c->head_cursor < c->n && !c->files[c->order[c->head_cursor]].n_todo)
        c->head_cursor++;
    for (size_t k = c->head_cursor; k < c->n; k++) {
        file_state *fs = &c->files[c->order[k]];
        if (fs->n_todo && fs->active == 0 && fs->not_before <= now)
            return start_span(c, fs, c->opt->span_max);
    }
    /* 2. a second (third...) connection on the file with the most left. It
     * works just ahead of the file's foremost transfer, a short span ahead,
     * so that what it fetches is still in RAM when the hash gets there. */
    size_t shared = 1; /* files that already have more than one transfer, plus this one */
    for (size_t k = 0; k < c->n; k++)
        if (c->files[k].active > 1)
            shared++;
    uint64_t near = c->opt->ram_budget / (2 * shared);
    if (near < MIN_SPLIT)
        near = MIN_SPLIT;
    near -= near % 65536;
    file_state *best = NULL;
    uint64_t best_left = 0;
    for (size_t k = 0; k < c->n; k++) {
        file_state *fs = &c->files[c->order[k]];
        if (fs->not_before > now || (!fs->n_todo && !fs->active))
            continue;
        uint64_t left = fs->todo_left;
        for (int i = 0; fs->active && i < c->n_active; i++)
            if (c->active[i]->fs == fs)
                left += c->active[i]->stop_at - c->active[i]->pos;
        if (left > best_left) {
            best = fs;
            best_left = left;
        }
    }
    if (best) {
        xfer *head = NULL;
        for (int i = 0; i < c->n_active; i++) {
            xfer *x = c->active[i];
            if (x->fs == best && x->checked && (!head || x->pos < head->pos))
                head = x;
        }
        if (head && head->stop_at - head->pos >= 2 * near) {
            uint64_t old = head->stop_at, mid = head->pos + near;
            head->stop_at = mid;
            if (start_xfer(c, best, mid, old))
                return true;
            head->stop_at = old;
            out_of_memory(c);
            return false;
        }
        if (best->n_todo) /* just past the foremost transfer: a short span */
            return start_span(c, best, 2 * near);
    }
    /* 3. split the running transfer with the most left */
    xfer *big = NULL;
    for (int i = 0; i < c->n_active; i++) {
        xfer *x = c->active[i];
        if (x->checked && x->stop_at - x->pos >= 2 * MIN_SPLIT &&
            (!big || x->stop_at - x->pos > big->stop_at - big->pos))
            big = x;
    }
    if (big) {
        /* halves, but never more than a short span ahead of it */
        uint64_t half = (big->stop_at - big->pos) / 2;
        uint64_t mid = big->pos + (half < near ? half : near);
        mid -= mid % 65536;
        if (mid > big->pos) {
            uint64_t old = big->stop_at;
            big->stop_at = mid;
            if (start_xfer(c, big->fs, mid, old))
                return true;
            big->stop_at = old;
            out_of_memory(c);
        }
    }
    return false;
}

/* ---- completion ----------------------------------------------------------------- */

static void hub_error(fetch *c, xfer *x)
{
    hf_error e;
    const char *code = x->x_error_code ? x->x_error_code : "";
    const char *msg = x->x_error_message ? x->x_error_message : "";
    if (!strcmp(code, "GatedRepo"))
        hf_error_set(&e, HF_ERR_AUTH,
                     "%s is gated: %s. Accept its conditions on the Hub and set HF_TOKEN to a token "
                     "of an approved account",
                     c->opt->repo_id, msg);
    else if (!strcmp(code, "EntryNotFound"))
        hf_error_set(&e, HF_ERR_NOT_FOUND, "%s: %s not found at commit %.12s", c->opt->repo_id,
                     x->fs->f->path, c->opt->commit);
    else if (x->status == 401)
        hf_error_set(&e, HF_ERR_AUTH,
                     "%s: the Hub refused the download (401: %s); check HF_TOKEN", c->opt->repo_id,
                     msg);
    else
        hf_error_set(&e, x->status == 404 ? HF_ERR_NOT_FOUND : HF_ERR_HTTP,
                     "%s: downloading %s failed with HTTP %ld (%s)", c->opt->repo_id,
                     x->fs->f->path, x->status, msg);
    fail(c, &e);
}

static void give_back(fetch *c, xfer *x)
{
    if (!todo_add(c, x->fs, x->pos, x->stop_at))
        out_of_memory(c);
}

static void finish_xfer(fetch *c, xfer *x, CURLcode cc, double now)
{
    file_state *fs = x->fs;
    if (!x->checked || cc != CURLE_OK)
        curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &x->status);
    long s = x->status;

    if (x->stopped || (cc == CURLE_OK && x->checked && x->pos == x->stop_at)) {
        fs->failures = 0;
        free_xfer(c, x);
        drain(c, fs);
        return;
    }
    if (x->lied) {
        /* the file list and the server disagree about the file: no retry
         * can make the bytes match the file list's hash */
        hf_error e;
        hf_error_set(&e, HF_ERR_PROTOCOL,
                     "%s: %s has %llu bytes in the file list at commit %.12s, but the server "
                     "sends %s%llu bytes (HTTP %ld from %s); the Hub and its storage disagree "
                     "about the file, nothing was installed",
                     c->opt->repo_id, fs->f->path, (unsigned long long)fs->f->size,
                     c->opt->commit, x->lie_at_least ? "at least " : "",
                     (unsigned long long)x->lie_size, s, x->via_cdn ? "the CDN" : "the Hub");
        fail(c, &e);
        give_back(c, x);
        free_xfer(c, x);
        return;
    }
    if (cc == CURLE_OK && s >= 300 && s < 400 && x->location) {
        /* the Hub points at the bytes: the CDN for LFS files, resolve-cache
         * for small ones. The next request goes there, with the token only
         * if it stays on the Hub's origin. */
        hf_error why;
        char *next = hf_http_redirect_url(x->url, x->location, &why);
        if (x->linked_size >= 0 && (uint64_t)x->linked_size != fs->f->size) {
            hf_error e;
            hf_error_set(&e, HF_ERR_PROTOCOL,
                         "%s: the Hub says %s has %lld bytes, its file list said %llu",
                         c->opt->repo_id, fs->f->path, x->linked_size,
                         (unsigned long long)fs->f->size);
            fail(c, &e);
        } else if (!next) {
            /* file://, ftp://, gopher://...: never followed, and no retry
             * would change the answer */
            hf_error_prefix(&why, "%s: %s: the %s answered with ", c->opt->repo_id, fs->f->path,
                            x->via_cdn ? "CDN" : "Hub");
            fail(c, &why);
        } else if (++fs->reresolves > 20) {
            hf_error e;
            hf_error_set(&e, HF_ERR_PROTOCOL, "%s: too many redirects for %s", c->opt->repo_id,
                         fs->f->path);
            fail(c, &e);
        } else {
            free(fs->url);
            fs->url = next;
            next = NULL;
        }
        free(next);
        give_back(c, x);
        free_xfer(c, x);
        return;
    }
    if (cc == CURLE_OK && x->via_cdn && (s == 403 || s == 410)) {
        /* the signed URL expired: ask the Hub for a new one */
        c->stats->reresolves++;
        free(fs->url);
        fs->url = NULL;
        if (++fs->reresolves > 20) {
            hf_error e;
            hf_error_set(&e, HF_ERR_HTTP, "%s: the CDN keeps refusing %s (HTTP %ld)",
                         c->opt->repo_id, fs->f->path, s);
            fail(c, &e);
        }
        give_back(c, x);
        free_xfer(c, x);
        return;
    }
    if (cc == CURLE_OK && !x->via_cdn && (s == 401 || s == 403 || s == 404 || s == 416)) {
        hub_error(c, x);
        give_back(c, x);
        free_xfer(c, x);
        return;
    }
    /* Anything else is worth another try: a dropped or truncated transfer,
     * 408/429/5xx, a wrong range. An attempt that moved the file forward is
     * not a failure: a link that drops every connection after a while still
     * gets the file, one piece at a time. */
    bool progressed = x->pos > x->start;
    double delay = (double)c->opt->retry_base_ms / 1000.0 *
                   (double)(progressed ? 1 : 1 << (fs->failures < 4 ? fs->failures : 4));
    if (s == 429 && x->rl_remaining == 0 && x->rl_reset >= 0)
        delay = x->rl_reset + 1;
    else if (x->retry_after >= 0)
        delay = x->retry_after;
    if (s == 429 || s == 503) {
        /* the server says slow down: fewer connections, and a pause */
        throttle(c);
        if (now + delay > c->pause_until)
            c->pause_until = now + delay;
    }
    fs->not_before = now + delay;
    c->stats->retries++;
    /* A 429 that says how long to wait is the server pacing us, not a
     * failure; it still has a (larger) bound. */
    bool paced = s == 429 && (x->retry_after >= 0 || x->rl_reset >= 0);
    if (paced ? ++fs->paced > 10 * c->opt->max_failures
              : !progressed && ++fs->failures > c->opt->max_failures) {
        hf_error e;
        if (cc != CURLE_OK && !x->overrun)
            hf_error_set(&e, HF_ERR_NETWORK,
                         "%s: giving up on %s after %d attempts in a row without progress: %s",
                         c->opt->repo_id, fs->f->path, fs->failures, curl_easy_strerror(cc));
        else if (x->overrun)
            hf_error_set(&e, HF_ERR_PROTOCOL,
                         "%s: giving up on %s after %d attempts: the server does not answer the "
                         "range requested (HTTP %ld)",
                         c->opt->repo_id, fs->f->path, fs->failures, s);
        else
            hf_error_set(&e, s == 429 ? HF_ERR_RATE_LIMIT : HF_ERR_SERVER,
                         "%s: giving up on %s after %d attempts: HTTP %ld%s%s", c->opt->repo_id,
                         fs->f->path, fs->failures, s, x->x_error_message ? ": " : "",
                         x->x_error_message ? x->x_error_message : "");
        fail(c, &e);
    }
    give_back(c, x);
    free_xfer(c, x);
}

/* ---- set-up ----------------------------------------------------------------- */

static bool have_add(file_state *fs, uint64_t a, uint64_t b)
{
    if (fs->n_have == fs->cap_have) {
        size_t cap = fs->cap_have ? fs->cap_have * 2 : 8;
        span *v = realloc(fs->have, cap * sizeof *v);
        if (!v)
            return false;
        fs->have = v;
        fs->cap_have = cap;
    }
    fs->have[fs->n_have++] = (span){a, b};
    return true;
}

/* The journal: a header with the key, then one line per event, each
 * written with one write(2) after the bytes it describes are in the sink:
 *   W <file> <offset> <length>   these bytes are written
 *   V <file> <sha256>            the file was verified
 *   R <file>                     the file is fetched again from scratch */
static hf_code replay_journal(fetch *c, hf_error *err)
{
    const hf_fetch_options *o = c->opt;
    c->journal_fd = open(o->journal_path, O_RDWR | O_CREAT | O_APPEND | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (c->journal_fd < 0)
        return hf_error_set(err, HF_ERR_IO, "cannot open the resume journal %s: %s",
                            o->journal_path, strerror(errno));
    FILE *f = fdopen(dup(c->journal_fd), "r");
    if (!f)
        return hf_error_set(err, HF_ERR_IO, "cannot read the resume journal");
    char line[256], header[256];
    snprintf(header, sizeof header, "hfhub-journal 2 %s\n", o->journal_key ? o->journal_key : "");
    bool valid = fgets(line, sizeof line, f) && !strcmp(line, header);
    hf_code rc = HF_OK;
    while (valid && !rc && fgets(line, sizeof line, f)) {
        size_t len = strlen(line);
        if (!len || line[len - 1] != '\n')
            break; /* torn last line */
        size_t i;
        unsigned long long off, n;
        char sha[80];
        if (sscanf(line, "W %zu %llu %llu", &i, &off, &n) == 3 && i < c->n && n > 0 &&
            off <= c->files[i].f->size && n <= c->files[i].f->size - off) {
            if (!have_add(&c->files[i], off, off + n))
                rc = hf_error_set(err, HF_ERR_NOMEM, "out of memory");
        } else if (sscanf(line, "V %zu %64s", &i, sha) == 2 && i < c->n && strlen(sha) == 64) {
            /* verified by an earlier run: every byte is on disk, and is
             * hashed again from there before the result is used, so that
             * nothing left in a work area is trusted unverified */
            c->files[i].n_have = 0;
            if (!have_add(&c->files[i], 0, c->files[i].f->size))
                rc = hf_error_set(err, HF_ERR_NOMEM, "out of memory");
        } else if (sscanf(line, "R %zu", &i) == 1 && i < c->n) {
            c->files[i].n_have = 0;
        }
    }
    fclose(f);
    if (rc)
        return rc;
    if (!valid) {
        for (size_t i = 0; i < c->n; i++)
            c->files[i].n_have = 0;
        if (ftruncate(c->journal_fd, 0) || write(c->journal_fd, header, strlen(header)) < 0)
            return hf_error_set(err, HF_ERR_IO, "cannot write the resume journal %s: %s",
                                o->journal_path, strerror(errno));
    }
    return HF_OK;
}

static int cmp_span(const void *a, const void *b)
{
    uint64_t x = ((const span *)a)->start, y = ((const span *)b)->start;
    return x < y ? -1 : x > y;
}

/* From the journal's state: what is left to fetch, and what to hash from disk. */
static hf_code plan_file(fetch *c, file_state *fs)
{
    if (fs->n_have)
        qsort(fs->have, fs->n_have, sizeof *fs->have, cmp_span);
    uint64_t pos = 0;
    for (size_t k = 0; k < fs->n_have; k++) {
        uint64_t a = fs->have[k].start, b = fs->have[k].end;
        if (b <= pos)
            continue;
        if (a < pos)
            a = pos;
        if (a > pos && !todo_add(c, fs, pos, a))
            return HF_ERR_NOMEM;
        /* on disk from an earlier run: hash it when the hash gets there */
        if (!pending_disk(fs, a, b - a))
            return HF_ERR_NOMEM;
        fs->resumed += b - a;
        pos = b;
    }
    if (!todo_add(c, fs, pos, fs->f->size))
        return HF_ERR_NOMEM;
    free(fs->have);
    fs->have = NULL;
    fs->n_have = fs->cap_have = 0;
    c->done_bytes += fs->resumed;
    return HF_OK;
}

static int cmp_size_desc(const void *a, const void *b, void *arg)
{
    const file_state *fs = arg;
    uint64_t x = fs[*(const size_t *)a].f->size, y = fs[*(const size_t *)b].f->size;
    return x < y ? 1 : x > y ? -1 : 0;
}

static void report(fetch *c, double now, bool force)
{
    if (!c->opt->progress || (!force && now < c->next_progress))
        return;
    c->next_progress = now + 1.0;
    double rate = c->rate;
    if (rate <= 0 && now > c->started)
        rate = (double)c->stats->downloaded_bytes / (now - c->started); /* before the first window */
    hf_fetch_progress p = {.done_bytes = c->done_bytes,
                           .total_bytes = c->total_bytes,
                           .resumed_bytes = c->stats->resumed_bytes,
                           .rate = rate,
                           .connections = c->n_active,
                           .target = c->target,
                           .files_done = c->files_done,
                           .files_total = c->n};
    c->opt->progress(c->opt->progress_user, &p);
}

/* Probes for more connections while that makes the download faster: after
 * an increase, if the next windows are not at least 10% faster, it goes
 * back to the last good count and waits a while before probing again. */
static void adapt(fetch *c, double now, bool work_left)
{
    double dt = now - c->win_start;
    if (dt < 1.0)
        return;
    double rate = (double)c->win_bytes / dt;
    c->rate = rate;
    c->win_start = now;
    c->win_bytes = 0;
    if (c->probe_windows > 0) {
        /* the first window after an increase is spent opening connections */
        if (--c->probe_windows > 0)
            return;
        if (rate > c->ref_rate * 1.10) {
            c->good_target = c->target; /* it helped: keep probing */
        } else {
            c->target = c->good_target;
            c->hold_windows = 10;
            return;
        }
    }
    c->ref_rate = rate;
    if (c->hold_windows > 0) {
        c->hold_windows--;
        return;
    }
    /* Under a rate cap that the download already reaches, more connections
     * cannot make it faster: they would only share the same bytes. */
    bool capped = c->opt->max_rate && rate >= 0.85 * (double)c->opt->max_rate;
    bool saturated = c->n_active >= c->target && work_left && !capped;
    if (saturated && c->target < c->opt->max_connections) {
        c->good_target = c->target;
        int step = c->target / 2 > 1 ? c->target / 2 : 1;
        c->target = c->target + step > c->opt->max_connections ? c->opt->max_connections
                                                               : c->target + step;
        c->probe_windows = 2;
    }
}

/* The rate cap: refills the bucket and resumes the waiting transfers,
 * oldest first, a quantum of credit each, while there are tokens. Returns
 * how long the main loop may sleep (ms) before the next one is due. */
static long pace(fetch *c, double now)
{
    if (!c->opt->max_rate)
        return 100;
    double rate = (double)c->opt->max_rate;
    c->tokens += (now - c->tokens_at) * rate;
    c->tokens_at = now;
    if (c->tokens > c->bucket)
        c->tokens = c->bucket;
    while (c->n_queue && c->tokens > 0) {
        xfer *x = c->queue[0];
        memmove(&c->queue[0], &c->queue[1], (size_t)(c->n_queue - 1) * sizeof *c->queue);
        c->n_queue--;
        x->paused = false;
        x->credit += c->quantum;
        c->tokens -= c->quantum;
        x->last_byte = now; /* it waited for us, not for the server */
        /* libcurl may hand the kept bytes to on_body right here, or at the
         * next curl_multi_perform; either way they are paid for */
        curl_easy_pause(x->easy, CURLPAUSE_CONT);
    }
    if (!c->n_queue || c->tokens > 0)
        return 100;
    long ms = (long)(-c->tokens / rate * 1000.0) + 1;
    return ms < 100 ? ms : 100;
}

/* The server asked us to slow down, or a connection stalled. */
static void throttle(fetch *c)
{
    c->target = c->target / 2 > 1 ? c->target / 2 : 1;
    c->good_target = c->target;
    c->probe_windows = 0;
    c->hold_windows = 10;
}

#define SET_DEFAULT(field, value)                                                            \
    if (!o.field)                                                                            \
    o.field = (value)

hf_code hf_fetch_run(hf_fetch_file *files, size_t n, const hf_fetch_options *opt_in,
                     const hf_fetch_sink *sink, hf_fetch_stats *stats, hf_error *err)
{
    hf_fetch_options o = *opt_in;
    SET_DEFAULT(max_connections, 16);
    SET_DEFAULT(initial_connections, 4);
    SET_DEFAULT(journal_grain, (uint64_t)1 << 20);
    SET_DEFAULT(span_max, (uint64_t)64 << 20);
    SET_DEFAULT(ram_budget, (size_t)32 << 20);
    SET_DEFAULT(stall_timeout, 20.0);
    SET_DEFAULT(low_speed_limit, 1024);
    SET_DEFAULT(low_speed_time, 30.0);
    SET_DEFAULT(max_failures, 8);
    SET_DEFAULT(retry_base_ms, 1000);
    if (o.max_rate) {
        /* under a cap, a connection gets at least 64 KiB/s: more of them
         * would only take turns */
        uint64_t most = o.max_rate / (64 << 10);
        if (most < 1)
            most = 1;
        if ((uint64_t)o.max_connections > most)
            o.max_connections = (int)most;
    }
    if (o.initial_connections > o.max_connections)
        o.initial_connections = o.max_connections;
    memset(stats, 0, sizeof *stats);

    fetch c = {.opt = &o, .sink = sink, .stats = stats, .n = n, .journal_fd = -1};
    c.files = calloc(n ? n : 1, sizeof *c.files);
    c.order = calloc(n ? n : 1, sizeof *c.order);
    c.active = calloc((size_t)o.max_connections + 1, sizeof *c.active);
    c.queue = calloc((size_t)o.max_connections + 1, sizeof *c.queue);
    c.readbuf = malloc(READBACK);
    c.multi = curl_multi_init();
    hf_code rc = HF_OK;
    if (!c.files || !c.order || !c.active || !c.queue || !c.readbuf || !c.multi) {
        rc = hf_error_set(err, HF_ERR_NOMEM, "out of memory");
        goto out;
    }
    /* One TCP connection per transfer: CDNs cap each connection, so streams
     * multiplexed on one HTTP/2 connection would share one cap. */
    curl_multi_setopt(c.multi, CURLMOPT_PIPELINING, (long)CURLPIPE_NOTHING);
    if (o.token && *o.token) {
        size_t len = strlen(o.token) + 32;
        if ((c.auth_header = malloc(len)))
            snprintf(c.auth_header, len, "Authorization: Bearer %s", o.token);
    }
    for (size_t i = 0; i < n; i++) {
        file_state *fs = &c.files[i];
        fs->f = &files[i];
        fs->index = i;
        c.order[i] = i;
        c.total_bytes += files[i].size;
        if (!hash_start(fs)) {
            rc = hf_error_set(err, HF_ERR_NOMEM, "out of memory");
            goto out;
        }
    }
    qsort_r(c.order, n, sizeof *c.order, cmp_size_desc, c.files);
    for (size_t k = 0; k < n; k++)
        c.files[c.order[k]].rank = k;
    if (o.journal_path && (rc = replay_journal(&c, err)))
        goto out;
    for (size_t i = 0; i < n; i++) {
        if (plan_file(&c, &c.files[i])) {
            rc = hf_error_set(err, HF_ERR_NOMEM, "out of memory");
            goto out;
        }
        stats->resumed_bytes += c.files[i].resumed;
        drain(&c, &c.files[i]); /* resumed prefixes, and empty files */
    }
    c.target = c.good_target = o.initial_connections;
    c.win_start = c.started = hf_http_now();
    if (o.max_rate) {
        /* A quantum is 1/50 s of the rate, at least what libcurl hands
         * the write callback at once (CURL_MAX_WRITE_SIZE) and at most
         * 256 KiB. Credit is handed out only while the bucket is not in
         * debt, and the bucket starts one quantum in debt: so the bytes
         * received by any time t never exceed t times the rate. An idle
         * bucket saves at most 1/20 s of the rate. */
        double r = (double)o.max_rate;
        c.quantum = r / 50 > 262144 ? 262144 : r / 50;
        if (c.quantum < CURL_MAX_WRITE_SIZE)
            c.quantum = CURL_MAX_WRITE_SIZE;
        c.bucket = r / 20 > c.quantum ? r / 20 : c.quantum;
        c.tokens = -c.quantum;
        c.tokens_at = c.started;
    }

    while (!c.failed && c.files_done < n) {
        double now = hf_http_now();
        pace(&c, now);
        while (!c.failed && c.n_active < c.target && now >= c.pause_until && start_next(&c, now))
            ;
        int running;
        curl_multi_perform(c.multi, &running);
        CURLMsg *m;
        int left;
        while ((m = curl_multi_info_read(c.multi, &left))) {
            if (m->msg != CURLMSG_DONE)
                continue;
            xfer *x = NULL;
            curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&x);
            finish_xfer(&c, x, m->data.result, hf_http_now());
        }
        now = hf_http_now();
        for (int i = 0; i < c.n_active; i++) {
            xfer *x = c.active[i];
            double dt = now - x->tick;
            x->tick = now;
            if (x->paused) {
                x->last_byte = now; /* waiting for the rate cap, not for the server */
                continue;
            }
            x->win_time += dt;
            char why[200] = "";
            if (now - x->last_byte > o.stall_timeout) {
                snprintf(why, sizeof why, "no byte for %.0f s (HFHUB_STALL_TIMEOUT)",
                         o.stall_timeout);
            } else if (x->win_time >= o.low_speed_time) {
                /* the low-speed rule: enough bytes in the window, or all that
                 * was left of its range */
                uint64_t moved = x->pos - x->win_pos, rest = x->stop_at - x->win_pos;
                uint64_t need = (uint64_t)((double)o.low_speed_limit * o.low_speed_time);
                if (moved < (need < rest ? need : rest))
                    snprintf(why, sizeof why,
                             "%llu bytes in %.0f s, below the low-speed limit of %llu bytes/s "
                             "(HFHUB_LOW_SPEED_LIMIT, HFHUB_LOW_SPEED_TIME)",
                             (unsigned long long)moved, x->win_time,
                             (unsigned long long)o.low_speed_limit);
                x->win_pos = x->pos;
                x->win_time = 0;
            }
            if (!why[0])
                continue;
            /* stalled or crawling: replace the connection. Unless it
             * moved at least a window's worth of bytes before, the attempt
             * counts towards giving up on the file, even if a few bytes
             * trickled in: a file that never moves fails in bounded time. */
            stats->stalls++;
            throttle(&c);
            file_state *fs = x->fs;
            fs->not_before = now + (double)o.retry_base_ms / 1000.0;
            uint64_t window = (uint64_t)((double)o.low_speed_limit * o.low_speed_time);
            if (x->pos - x->start < window && ++fs->failures > o.max_failures) {
                hf_error e;
                hf_error_set(&e, HF_ERR_NETWORK,
                             "%s: giving up on %s after %d attempts in a row without progress; "
                             "the last one received %s. The server or the network is too slow; "
                             "run the same command again later to continue",
                             o.repo_id, fs->f->path, fs->failures, why);
                fail(&c, &e);
            }
            give_back(&c, x);
            free_xfer(&c, x);
            i--;
        }
        adapt(&c, now, c.todo_left > 0);
        report(&c, now, false);
        /* nothing running and nothing startable: files waiting for a retry */
        if (c.n_active == 0 && !c.failed && c.files_done < n) {
            if (c.todo_left == 0) {
                hf_error e;
                hf_error_set(&e, HF_ERR_PROTOCOL, "internal error: download stalled with nothing to fetch");
                fail(&c, &e);
                break;
            }
        }
        /* sleep until a socket is ready, or until the rate cap lets the
         * next waiting transfer go on */
        curl_multi_poll(c.multi, NULL, 0, (int)pace(&c, hf_http_now()), NULL);
    }
    report(&c, hf_http_now(), true);
    if (c.failed) {
        *err = c.err;
        rc = err->code;
    }
out:
    while (c.n_active)
        free_xfer(&c, c.active[c.n_active - 1]);
    for (size_t i = 0; c.files && i < n; i++) {
        free_pending(&c, &c.files[i]);
        free(c.files[i].pending);
        free(c.files[i].todo);
        free(c.files[i].have);
        free(c.files[i].url);
        EVP_MD_CTX_free(c.files[i].sha256);
        EVP_MD_CTX_free(c.files[i].sha1);
    }
    if (c.journal_fd >= 0)
        close(c.journal_fd);
    if (c.multi)
        curl_multi_cleanup(c.multi);
    if (c.auth_header) {
        memset(c.auth_header, 0, strlen(c.auth_header));
        free(c.auth_header);
    }
    free(c.files);
    free(c.order);
    free(c.active);
    free(c.queue);
    free(c.readbuf);
    return rc;
}
