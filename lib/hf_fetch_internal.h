/* Private to the download engine (hf_fetch*.c): the state of a run, shared
 * by its parts, and the functions one part calls in another. Nothing outside
 * lib/hf_fetch*.c includes it; the interface is hf_fetch.h.
 *
 * The parts: hf_fetch.c (hf_fetch_run: set-up, main loop, progress),
 * hf_fetch_journal.c (the resume journal), hf_fetch_verify.c (hashing and
 * the bytes waiting for it), hf_fetch_transfer.c (libcurl transfers, how
 * they end, the rate cap), hf_fetch_sched.c (ranges to fetch, which
 * transfer to start next, how many connections). */
#ifndef HF_FETCH_INTERNAL_H
#define HF_FETCH_INTERNAL_H

#include <curl/curl.h>
#include <openssl/evp.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hf_fetch.h"

/* Received bytes go to the sink and the hasher in pieces of this size. */
#define PIECE ((size_t)1 << 20)
#define SEG_MAX PIECE   /* the largest pending segment: a whole piece buffer */

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
    uint64_t hash_pos;      /* bytes handed to the digests (some may wait in the hasher) */
    int hash_queued;        /* pieces of this file in the hasher's queue (under its lock) */
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
    uint64_t start, pos, stop_at, end;   /* requested [start, end); we stop at stop_at;
                                          * [start, pos) received */
    uint64_t wpos;        /* [start, wpos) is in the sink; [wpos, pos) in buf */
    uint64_t jpos;        /* [start, jpos) is in the journal */
    unsigned char *buf;   /* received bytes on their way to the sink (hf_fetch_transfer.c) */
    size_t blen;
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
    bool short_of_work;     /* the last round of starts left connections unused */
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
    struct hasher *hasher;  /* the hashing thread (hf_fetch_verify.c) */
    /* the rate cap: a token bucket shared by all transfers */
    double tokens;          /* bytes that may be received now (negative: owed) */
    double tokens_at;       /* when the bucket was last refilled */
    double bucket;          /* most tokens it holds */
    double quantum;         /* credit handed out at a time */
    xfer **queue;           /* paused transfers waiting for credit, oldest first */
    int n_queue;
    /* stream mode (hf_fetch.h): order[] is the stream order, rank its index */
    bool stream;
    size_t stream_cur;      /* order[] before it: emitted and verified */
    uint64_t *stream_start; /* per file: its first byte's position in the stream */
    double emit_blocked;    /* seconds spent in emit since the main loop last looked */
} fetch;

/* hf_fetch.c */
void fetch_fail(fetch *c, const hf_error *e);
void fetch_out_of_memory(fetch *c);
uint64_t fetch_progress_bytes(const fetch *c, const xfer *x);

/* hf_fetch_journal.c */
void fetch_journal_line(fetch *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void fetch_journal_written(fetch *c, xfer *x);
hf_code fetch_replay_journal(fetch *c, hf_error *err);
hf_code fetch_plan_file(fetch *c, file_state *fs);

/* hf_fetch_verify.c */
bool fetch_hasher_start(fetch *c);
void fetch_hasher_stop(fetch *c);
unsigned char *fetch_piece_get(fetch *c);
void fetch_piece_put(fetch *c, unsigned char *b);
bool fetch_hash_start(file_state *fs);
void fetch_hash_bytes(fetch *c, file_state *fs, const void *p, size_t n);
void fetch_hash_piece(fetch *c, file_state *fs, unsigned char *piece, size_t len);
bool fetch_hash_now(const fetch *c, const file_state *fs, uint64_t off);
void fetch_free_pending(fetch *c, file_state *fs);
void fetch_drain(fetch *c, file_state *fs);
bool fetch_stash(fetch *c, file_state *fs, uint64_t off, const void *data, size_t len);
bool fetch_stash_piece(fetch *c, file_state *fs, uint64_t off, unsigned char *piece, size_t len);
bool fetch_pending_disk(file_state *fs, uint64_t off, uint64_t len);

/* hf_fetch_transfer.c */
bool fetch_start_xfer(fetch *c, file_state *fs, uint64_t start, uint64_t end);
void fetch_free_xfer(fetch *c, xfer *x);
void fetch_give_back(fetch *c, xfer *x);
bool fetch_flush_xfer(fetch *c, xfer *x);
void fetch_finish_xfer(fetch *c, xfer *x, CURLcode cc, double now);
long fetch_pace(fetch *c, double now);

/* hf_fetch_sched.c */
bool fetch_todo_add(fetch *c, file_state *fs, uint64_t start, uint64_t end);
bool fetch_start_next(fetch *c, double now);
bool fetch_stream_start_next(fetch *c, double now);
void fetch_adapt(fetch *c, double now, bool work_left);
void fetch_throttle(fetch *c);

#endif
