/* The download engine: fetches a repository's files at one commit into a
 * sink (a directory tree or a disk image), in parallel across files and
 * within large files (HTTP range requests), with adaptive concurrency, and
 * verifies every byte while it streams: the sha256 of LFS files, the git
 * blob sha1 of the others, and every file's size.
 *
 * Robustness, as users of other downloaders asked for it:
 * - resume: the byte ranges written are appended to a journal as they land
 *   (every journal_grain bytes of each transfer, and when it ends), so a run
 *   killed at any moment continues where it stopped, re-fetching at most a
 *   grain per connection (the journal grain and the 1 MiB pieces in which
 *   received bytes go to the sink, hf_fetch_transfer.c, coincide by default);
 * - redirects to the CDN are followed without the token; an expired signed
 *   URL (403 from the CDN) is resolved again; a redirect to anything but
 *   http(s) fails at once, naming the scheme;
 * - 429 and 5xx are retried with backoff honouring RateLimit/Retry-After and
 *   lower the concurrency; a connection that stalls, or crawls below the
 *   low-speed limit, is replaced; only attempts that moved no bytes forward
 *   (and crawling ones) count towards giving up on a file, so a link that
 *   drops every connection after a while still completes, and a file that
 *   never moves fails in bounded time; the tail of a download is split
 *   across idle connections (no slow last percent);
 * - a server that sends a file of another size than the file list says
 *   fails at once, naming the file and both sizes;
 * - memory is bounded: data that arrives ahead of a file's hash position is
 *   kept in RAM up to a budget, beyond which it is read back from the sink
 *   when the hash reaches it (the count of such bytes is reported);
 * - an optional cap on the aggregate rate of all connections together.
 *
 * Stream mode (options.emit set) serves a destination that can only be
 * written in order, such as a pipe: there is no sink and no journal, and
 * every byte goes to emit exactly once, in one global order (the files in
 * stream_order, each from its first byte to its last), as it passes
 * through the digests. Only bytes less than stream_window ahead of the
 * emitted position are requested, and the scheduler also stops while
 * stream_window bytes wait in RAM, so memory stays bounded whatever the
 * file sizes claim. A file is checked against its hash when its last byte
 * has been emitted; a mismatch then fails the run (the bytes are gone, so
 * there is no second try). */
#ifndef HF_FETCH_H
#define HF_FETCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hf_address.h"
#include "hf_error.h"

typedef struct {
    void *user;
    /* Stores len bytes of file `file` at byte offset off. Must be safe for
     * any order of calls; called from one thread. */
    hf_code (*write)(void *user, size_t file, uint64_t off, const void *buf, size_t len,
                     hf_error *err);
    /* Reads back what write stored (for hashing data that arrived early). */
    hf_code (*read)(void *user, size_t file, uint64_t off, void *buf, size_t len, hf_error *err);
} hf_fetch_sink;

typedef struct {
    const char *path;
    uint64_t size;
    const char *oid;      /* git blob sha1 (40 hex) */
    const char *sha256;   /* LFS sha256 (64 hex), or NULL for a regular file */
    char computed_sha256[65];   /* out: the content's sha256 */
} hf_fetch_file;

typedef struct {
    uint64_t done_bytes;     /* verified-or-written bytes so far, resumed ones included */
    uint64_t total_bytes;
    uint64_t resumed_bytes;  /* already there when the run started */
    double rate;             /* bytes/s, recent */
    int connections;         /* transfers in flight */
    int target;              /* current concurrency target */
    size_t files_done, files_total;
} hf_fetch_progress;

typedef void (*hf_fetch_progress_fn)(void *user, const hf_fetch_progress *p);

/* Stream mode's consumer: len bytes of file `file` at offset off, called in
 * stream order from the engine's thread. May block (the time it blocks is
 * not counted against the connections' stall and low-speed limits). */
typedef hf_code (*hf_fetch_emit_fn)(void *user, size_t file, uint64_t off, const void *buf,
                                    size_t len, hf_error *err);

typedef struct {
    const char *endpoint;        /* Hub origin: the only one that gets the token */
    const char *token;           /* NULL: anonymous */
    const char *user_agent;
    hf_repo_type repo_type;
    const char *repo_id;
    const char *commit;
    int max_connections;         /* default 16 */
    int initial_connections;     /* default 4 */
    uint64_t journal_grain;      /* bytes a transfer writes between journal lines, default 1 MiB */
    uint64_t span_max;           /* bytes per range request, default 64 MiB */
    size_t ram_budget;           /* early data kept for hashing, default 32 MiB */
    double stall_timeout;        /* seconds without a byte, default 20 */
    /* the low-speed rule: a transfer that receives fewer than
     * low_speed_limit * low_speed_time bytes in low_speed_time seconds (time
     * paused by the rate cap not counted) is replaced; defaults 1024 B/s, 30 s */
    uint64_t low_speed_limit;
    double low_speed_time;
    int max_failures;            /* attempts in a row without progress on one file before the
                                  * one that gives up, default 8 */
    long retry_base_ms;          /* default 1000 */
    uint64_t max_rate;           /* bytes/s over all connections together; 0: no cap */
    const char *journal_path;    /* NULL: no resume */
    const char *journal_key;     /* a journal with another key is started afresh */
    hf_fetch_progress_fn progress;
    void *progress_user;
    /* stream mode (see above): emit set, sink and journal_path unused */
    hf_fetch_emit_fn emit;
    void *emit_user;
    const size_t *stream_order;  /* a permutation of 0..n-1 */
    uint64_t stream_window;      /* bytes, default 128 MiB, at least 1 MiB */
} hf_fetch_options;

typedef struct {
    uint64_t downloaded_bytes;   /* received over the network in this run */
    uint64_t resumed_bytes;
    uint64_t reread_bytes;       /* read back from the sink to hash */
    long requests;
    long retries;
    long stalls;
    long reresolves;
    int max_connections_used;
} hf_fetch_stats;

hf_code hf_fetch_run(hf_fetch_file *files, size_t n, const hf_fetch_options *opt,
                     const hf_fetch_sink *sink, hf_fetch_stats *stats, hf_error *err);

#endif
