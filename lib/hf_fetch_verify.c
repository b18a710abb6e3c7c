/* The download engine's verification (see hf_fetch.c): each file goes
 * through its digests in order (sha256, and the git blob sha1 of files
 * without one), bytes that arrive ahead of the hash position wait in RAM
 * (or on disk, read back when their turn comes), and a finished file is
 * compared with the tree: a mismatch fetches it once more, then fails.
 *
 * The digests are computed on a thread of their own (the hasher), so that
 * receiving and writing never wait for SHA-256: the main loop hands it
 * pieces in each file's order, and waits for a file's queue to empty only
 * before it reads or resets that file's digests. All the bookkeeping
 * (hash_pos, what is pending) stays on the main thread.
 *
 * In stream mode the bytes leave through emit as they are handed to the
 * hasher, one file after the other in stream order; a mismatch fails at
 * once. */
#include "hf_fetch_internal.h"
#include "hf_buf.h"

#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>

#include "hf_http.h"
#include <stdlib.h>
#include <string.h>


/* Segments that grow take a whole piece buffer from the hasher's spares
 * (already faulted in, no realloc copies); smaller ones are malloc'd. */
static unsigned char *seg_buf_get(fetch *c) { return fetch_piece_get(c); }

static void seg_buf_put(fetch *c, unsigned char *b, size_t cap)
{
    if (cap == PIECE)
        fetch_piece_put(c, b);
    else
        free(b);
}

static void hex(const unsigned char *d, unsigned n, char *out)
{
    for (unsigned i = 0; i < n; i++)
        snprintf(out + 2 * i, 3, "%02x", d[i]);
}

bool fetch_hash_start(file_state *fs)
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

static void digest(file_state *fs, const void *p, size_t n)
{
    EVP_DigestUpdate(fs->sha256, p, n);
    if (fs->sha1)
        EVP_DigestUpdate(fs->sha1, p, n);
}

/* ---- the hasher ------------------------------------------------------------------ */

#define HASH_QUEUE 16     /* pieces waiting: at most 16 x 1 MiB in RAM */
#define HASH_SPARE 16     /* piece buffers kept for reuse (already faulted in); in stream
                           * mode as many as the window holds */
#define HASH_COPY_MIN ((size_t)64 << 10) /* below this, bytes are hashed in place */

typedef struct {
    file_state *fs;
    unsigned char *buf;
    size_t len;
    bool piece;           /* a PIECE buffer (back to the spares), else malloc'd */
} hash_job;

struct hasher {
    pthread_t thread;
    bool running;         /* else every piece is hashed on the calling thread */
    pthread_mutex_t mu;
    pthread_cond_t more, done;
    hash_job q[HASH_QUEUE];
    size_t head, n;
    bool stop;
    unsigned char **spare;
    size_t n_spare, max_spare;
};

static void *hasher_main(void *arg)
{
    struct hasher *h = arg;
    pthread_mutex_lock(&h->mu);
    for (;;) {
        while (!h->n && !h->stop)
            pthread_cond_wait(&h->more, &h->mu);
        if (!h->n)
            break;
        hash_job j = h->q[h->head];
        pthread_mutex_unlock(&h->mu);
        digest(j.fs, j.buf, j.len);
        pthread_mutex_lock(&h->mu);
        h->head = (h->head + 1) % HASH_QUEUE;
        h->n--;
        j.fs->hash_queued--;
        if (j.piece && h->n_spare < h->max_spare)
            h->spare[h->n_spare++] = j.buf;
        else
            free(j.buf);
        pthread_cond_broadcast(&h->done);
    }
    pthread_mutex_unlock(&h->mu);
    return NULL;
}

bool fetch_hasher_start(fetch *c)
{
    struct hasher *h = calloc(1, sizeof *h);
    /* A stream keeps up to a window of pieces waiting: recycling them all
     * spares a page fault on every 4 KiB of every fresh buffer. */
    uint64_t window = c->opt->stream_window ? c->opt->stream_window : (uint64_t)128 << 20;
    if (h)
        h->max_spare = c->opt->emit ? (size_t)(window / PIECE) + HASH_SPARE : HASH_SPARE;
    if (h && !(h->spare = calloc(h->max_spare, sizeof *h->spare))) {
        free(h);
        h = NULL;
    }
    if (!h || pthread_mutex_init(&h->mu, NULL)) {
        if (h)
            free(h->spare);
        free(h);
        return false;
    }
    pthread_cond_init(&h->more, NULL);
    pthread_cond_init(&h->done, NULL);
    h->running = !pthread_create(&h->thread, NULL, hasher_main, h);
    c->hasher = h;
    return true;
}

/* Waits for the queue to empty, then stops the thread. */
void fetch_hasher_stop(fetch *c)
{
    struct hasher *h = c->hasher;
    if (!h)
        return;
    if (h->running) {
        pthread_mutex_lock(&h->mu);
        h->stop = true;
        pthread_cond_signal(&h->more);
        pthread_mutex_unlock(&h->mu);
        pthread_join(h->thread, NULL);
    }
    for (size_t i = 0; i < h->n_spare; i++)
        free(h->spare[i]);
    free(h->spare);
    pthread_cond_destroy(&h->more);
    pthread_cond_destroy(&h->done);
    pthread_mutex_destroy(&h->mu);
    free(h);
    c->hasher = NULL;
}

/* A PIECE-sized, page-aligned buffer, or NULL. */
unsigned char *fetch_piece_get(fetch *c)
{
    struct hasher *h = c->hasher;
    unsigned char *b = NULL;
    pthread_mutex_lock(&h->mu);
    if (h->n_spare)
        b = h->spare[--h->n_spare];
    pthread_mutex_unlock(&h->mu);
    if (!b && posix_memalign((void **)&b, 4096, PIECE))
        b = NULL;
    return b;
}

void fetch_piece_put(fetch *c, unsigned char *b)
{
    struct hasher *h = c->hasher;
    if (!b)
        return;
    if (!h) { /* the run is being cleaned up: the hasher is gone */
        free(b);
        return;
    }
    pthread_mutex_lock(&h->mu);
    if (h->n_spare < h->max_spare) {
        h->spare[h->n_spare++] = b;
        b = NULL;
    }
    pthread_mutex_unlock(&h->mu);
    free(b);
}

/* Until the hasher has done every piece of fs it was given. */
static void hash_wait(fetch *c, file_state *fs)
{
    struct hasher *h = c->hasher;
    pthread_mutex_lock(&h->mu);
    while (fs->hash_queued)
        pthread_cond_wait(&h->done, &h->mu);
    pthread_mutex_unlock(&h->mu);
}

/* Stream mode: sends the next len bytes of fs (at its hash position) to
 * emit. False when that failed (the run then fails). */
static bool emit(fetch *c, file_state *fs, const void *p, size_t len)
{
    if (!c->stream)
        return true;
    if (c->failed)
        return false;
    hf_error e;
    double t0 = hf_http_now();
    hf_code rc = c->opt->emit(c->opt->emit_user, fs->index, fs->hash_pos, p, len, &e);
    c->emit_blocked += hf_http_now() - t0;
    if (rc)
        fetch_fail(c, &e);
    return !rc;
}

/* Hands buf (len bytes at fs's hash position) to the hasher, which frees or
 * recycles it: piece says it came from fetch_piece_get, else from malloc.
 * In stream mode the bytes are emitted first. */
static void hash_give(fetch *c, file_state *fs, unsigned char *buf, size_t len, bool piece)
{
    struct hasher *h = c->hasher;
    if (!emit(c, fs, buf, len)) {
        if (piece)
            fetch_piece_put(c, buf);
        else
            free(buf);
        return;
    }
    fs->hash_pos += len;
    if (!h->running) {
        digest(fs, buf, len);
        if (piece)
            fetch_piece_put(c, buf);
        else
            free(buf);
        return;
    }
    pthread_mutex_lock(&h->mu);
    while (h->n == HASH_QUEUE)
        pthread_cond_wait(&h->done, &h->mu);
    h->q[(h->head + h->n) % HASH_QUEUE] = (hash_job){fs, buf, len, piece};
    h->n++;
    fs->hash_queued++;
    pthread_cond_signal(&h->more);
    pthread_mutex_unlock(&h->mu);
}

void fetch_hash_piece(fetch *c, file_state *fs, unsigned char *piece, size_t len)
{
    hash_give(c, fs, piece, len, true);
}

void fetch_hash_bytes(fetch *c, file_state *fs, const void *p, size_t n)
{
    const unsigned char *b = p;
    while (n >= HASH_COPY_MIN && c->hasher->running) {
        unsigned char *copy = fetch_piece_get(c);
        if (!copy)
            break;
        size_t k = n < PIECE ? n : PIECE;
        memcpy(copy, b, k);
        hash_give(c, fs, copy, k, true);
        b += k;
        n -= k;
    }
    if (n && emit(c, fs, b, n)) {
        hash_wait(c, fs);
        digest(fs, b, n);
        fs->hash_pos += n;
    }
}

/* Whether bytes at off of fs can go through the digests now: they are next
 * in the file, and in stream mode fs is the file being emitted. */
bool fetch_hash_now(const fetch *c, const file_state *fs, uint64_t off)
{
    return off == fs->hash_pos && (!c->stream || fs->rank == c->stream_cur);
}

static void restart_file(fetch *c, file_state *fs);

/* The whole file went through the digests: compare with the tree. */
static void finish_file(fetch *c, file_state *fs)
{
    hash_wait(c, fs);
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
        /* Bytes can be damaged in transit or by an earlier crash: fetch the
         * file once more before calling it corrupt; a stream cannot take
         * back what it sent. */
        if (!c->stream && ++fs->mismatches <= 1) {
            restart_file(c, fs);
            return;
        }
        hf_error e;
        hf_error_set(&e, HF_ERR_PROTOCOL, "%s: %s mismatch%s (expected %.16s..., got %.16s...): %s",
                     fs->f->path, kind, c->stream ? "" : " after two downloads", want, got,
                     c->stream ? "the server sent corrupt data and the stream is incomplete; run "
                                 "the import again"
                               : "the server sends corrupt data; nothing was installed");
        fetch_fail(c, &e);
        return;
    }
    fs->verified = true;
    c->files_done++;
    fetch_journal_line(c, "V %zu %s\n", fs->index, fs->f->computed_sha256);
}

void fetch_free_pending(fetch *c, file_state *fs)
{
    for (size_t i = 0; i < fs->n_pending; i++) {
        c->ram_used -= fs->pending[i].cap;
        seg_buf_put(c, fs->pending[i].buf, fs->pending[i].cap);
    }
    fs->n_pending = 0;
}

/* Hashes pending segments that start at the hash position. */
static void drain_file(fetch *c, file_state *fs)
{
    while (!c->failed && fs->n_pending && fs->pending[0].off == fs->hash_pos) {
        segment s = fs->pending[0];
        memmove(&fs->pending[0], &fs->pending[1], (fs->n_pending - 1) * sizeof *fs->pending);
        fs->n_pending--;
        if (s.buf) {
            c->ram_used -= s.cap;
            hash_give(c, fs, s.buf, (size_t)s.len, s.cap == PIECE);
            continue;
        }
        for (uint64_t done = 0; done < s.len && !c->failed;) {
            size_t n = s.len - done < PIECE ? (size_t)(s.len - done) : PIECE;
            unsigned char *b = fetch_piece_get(c);
            hf_error e;
            if (!b) {
                fetch_out_of_memory(c);
                return;
            }
            if (c->sink->read(c->sink->user, fs->index, s.off + done, b, n, &e)) {
                fetch_piece_put(c, b);
                fetch_fail(c, &e);
                return;
            }
            hash_give(c, fs, b, n, true);
            c->stats->reread_bytes += n;
            done += n;
        }
    }
    if (!c->failed && !fs->verified && fs->hash_pos == fs->f->size && fs->n_todo == 0 &&
        fs->active == 0)
        finish_file(c, fs);
}

/* Stream mode: drains the file being emitted, and the ones after it as long
 * as each is complete (a loop, not a recursion: thousands of small files
 * can be waiting). */
static void drain_stream(fetch *c)
{
    while (!c->failed && c->stream_cur < c->n) {
        file_state *cur = &c->files[c->order[c->stream_cur]];
        drain_file(c, cur);
        if (!cur->verified)
            break;
        c->stream_cur++;
    }
}

void fetch_drain(fetch *c, file_state *fs)
{
    if (c->stream)
        drain_stream(c);
    else
        drain_file(c, fs);
}

/* Inserts s at position i of fs's pending list (kept sorted by offset). */
static bool pending_insert(file_state *fs, size_t i, segment s)
{
    segment *v = hf_array_reserve(fs->pending, &fs->cap_pending, fs->n_pending, sizeof *v, 8);
    if (!v)
        return false;
    fs->pending = v;
    memmove(&fs->pending[i + 1], &fs->pending[i], (fs->n_pending - i) * sizeof *fs->pending);
    fs->pending[i] = s;
    fs->n_pending++;
    return true;
}

/* Keeps bytes that arrived ahead of the hash position. */
bool fetch_stash(fetch *c, file_state *fs, uint64_t off, const void *data, size_t len)
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
                if (s->len + len > s->cap &&
                    c->ram_used + (SEG_MAX - s->cap) <= c->opt->ram_budget) {
                    /* a segment that grows is a transfer's run of bytes: it goes
                     * into a whole buffer at once (no realloc copies) */
                    unsigned char *b = seg_buf_get(c);
                    if (!b)
                        return false;
                    memcpy(b, s->buf, s->len);
                    seg_buf_put(c, s->buf, s->cap);
                    c->ram_used += SEG_MAX - s->cap;
                    s->buf = b;
                    s->cap = SEG_MAX;
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
    size_t cap = len < 65536 ? 65536 : SEG_MAX;
    if (len <= SEG_MAX && c->ram_used + cap <= c->opt->ram_budget) {
        s.buf = cap == SEG_MAX ? seg_buf_get(c) : malloc(cap);
        if (s.buf) {
            memcpy(s.buf, data, len);
            s.cap = cap;
            c->ram_used += cap;
        }
    }
    if (!s.buf && c->stream)
        return false; /* no sink to keep it in */
    if (!pending_insert(fs, i, s)) {
        if (s.buf) {
            c->ram_used -= s.cap;
            seg_buf_put(c, s.buf, s.cap);
        }
        return false;
    }
    return true;
}

/* Keeps a whole piece buffer that arrived ahead of the hash position as a
 * segment of its own (no copy); the segment owns it from now on. */
bool fetch_stash_piece(fetch *c, file_state *fs, uint64_t off, unsigned char *piece, size_t len)
{
    size_t i = fs->n_pending;
    while (i > 0 && fs->pending[i - 1].off > off)
        i--;
    if (!pending_insert(fs, i, (segment){off, len, piece, PIECE}))
        return false;
    c->ram_used += PIECE;
    return true;
}

/* Records bytes that are in the sink from an earlier run, to be read back
 * and hashed when the hash position reaches them. */
bool fetch_pending_disk(file_state *fs, uint64_t off, uint64_t len)
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
    hash_wait(c, fs);
    fetch_free_pending(c, fs);
    c->todo_left -= fs->todo_left;
    fs->todo_left = 0;
    fs->n_todo = 0;
    c->done_bytes -= fs->f->size;
    fetch_journal_line(c, "R %zu\n", fs->index);
    free(fs->url);
    fs->url = NULL;
    if (!fetch_hash_start(fs) || !fetch_todo_add(c, fs, 0, fs->f->size))
        fetch_out_of_memory(c);
}
