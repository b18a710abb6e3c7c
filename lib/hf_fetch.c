/* The download engine (see hf_fetch.h): hf_fetch_run sets a run up, turns
 * the main loop (start transfers, let libcurl move bytes, end transfers,
 * replace stalled ones, adapt, report progress) and cleans up.
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
 * The parts (their shared state is in hf_fetch_internal.h):
 * hf_fetch_journal.c   the resume journal: writing it, replaying it
 * hf_fetch_verify.c    hashing in order, bytes waiting for the hash, checks
 * hf_fetch_transfer.c  libcurl transfers, how each one ends, the rate cap
 * hf_fetch_sched.c     ranges to fetch, what to start next, how many
 *                      connections */
#define _GNU_SOURCE /* qsort_r */
#include "hf_fetch_internal.h"

#include <curl/curl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hf_http.h"

void fetch_fail(fetch *c, const hf_error *e)
{
    if (!c->failed) {
        c->failed = true;
        c->err = *e;
    }
}

/* What an attempt must have moved for its end not to count as a failure:
 * one low-speed window's worth of bytes, or an eighth of its range if that
 * is less (a link that cuts every range part-way still finishes a file),
 * and at least a byte. */
uint64_t fetch_progress_bytes(const fetch *c, const xfer *x)
{
    uint64_t window = (uint64_t)((double)c->opt->low_speed_limit * c->opt->low_speed_time);
    uint64_t eighth = (x->stop_at - x->start) / 8;
    uint64_t need = window < eighth ? window : eighth;
    return need ? need : 1;
}

void fetch_out_of_memory(fetch *c)
{
    hf_error e;
    hf_error_set(&e, HF_ERR_NOMEM, "out of memory");
    fetch_fail(c, &e);
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
    c.multi = curl_multi_init();
    hf_code rc = HF_OK;
    if (!c.files || !c.order || !c.active || !c.queue || !c.multi || !fetch_hasher_start(&c)) {
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
        if (!fetch_hash_start(fs)) {
            rc = hf_error_set(err, HF_ERR_NOMEM, "out of memory");
            goto out;
        }
    }
    if (o.emit) {
        /* stream mode: the stream's order, no journal, RAM bounded by the window */
        c.stream = true;
        o.journal_path = NULL;
        o.ram_budget = SIZE_MAX;
        SET_DEFAULT(stream_window, (uint64_t)128 << 20);
        if (o.stream_window < ((uint64_t)1 << 20))
            o.stream_window = (uint64_t)1 << 20;
        bool *seen = calloc(n ? n : 1, sizeof *seen);
        c.stream_start = calloc(n ? n : 1, sizeof *c.stream_start);
        if (!seen || !c.stream_start) {
            free(seen);
            rc = hf_error_set(err, HF_ERR_NOMEM, "out of memory");
            goto out;
        }
        uint64_t at = 0;
        for (size_t k = 0; k < n && !rc; k++) {
            size_t i = o.stream_order ? o.stream_order[k] : k;
            if (i >= n || seen[i]) {
                rc = hf_error_set(err, HF_ERR_USAGE, "internal error: the stream order is not a "
                                                     "permutation of the files");
                break;
            }
            seen[i] = true;
            c.order[k] = i;
            c.stream_start[i] = at;
            at += files[i].size;
        }
        free(seen);
        if (rc)
            goto out;
    } else {
        qsort_r(c.order, n, sizeof *c.order, cmp_size_desc, c.files);
    }
    for (size_t k = 0; k < n; k++)
        c.files[c.order[k]].rank = k;
    if (o.journal_path && (rc = fetch_replay_journal(&c, err)))
        goto out;
    for (size_t i = 0; i < n; i++) {
        if (fetch_plan_file(&c, &c.files[i])) {
            rc = hf_error_set(err, HF_ERR_NOMEM, "out of memory");
            goto out;
        }
        stats->resumed_bytes += c.files[i].resumed;
        fetch_drain(&c, &c.files[i]); /* resumed prefixes, and empty files */
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
        fetch_pace(&c, now);
        while (!c.failed && c.n_active < c.target && now >= c.pause_until &&
               (c.stream ? fetch_stream_start_next(&c, now) : fetch_start_next(&c, now)))
            ;
        /* whether more connections could have been used just now (read by
         * fetch_adapt: a count taken after transfers end would often be
         * short by the ones that just ended, with short ranges above all) */
        c.short_of_work = c.n_active < c.target;
        int running;
        curl_multi_perform(c.multi, &running);
        CURLMsg *m;
        int left;
        bool finished_any = false;
        while ((m = curl_multi_info_read(c.multi, &left))) {
            if (m->msg != CURLMSG_DONE)
                continue;
            xfer *x = NULL;
            curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&x);
            fetch_finish_xfer(&c, x, m->data.result, hf_http_now());
            finished_any = true;
        }
        now = hf_http_now();
        /* time spent waiting for the stream's reader is nobody's stall */
        double blocked = c.emit_blocked;
        c.emit_blocked = 0;
        for (int i = 0; i < c.n_active; i++) {
            xfer *x = c.active[i];
            double dt = now - x->tick - blocked;
            x->tick = now;
            x->last_byte += blocked;
            if (x->last_byte > now)
                x->last_byte = now;
            if (dt < 0)
                dt = 0;
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
            fetch_throttle(&c);
            file_state *fs = x->fs;
            fs->not_before = now + (double)o.retry_base_ms / 1000.0;
            if (x->pos - x->start < fetch_progress_bytes(&c, x) && ++fs->failures > o.max_failures) {
                hf_error e;
                hf_error_set(&e, HF_ERR_NETWORK,
                             "%s: giving up on %s after %d attempts in a row without progress; "
                             "the last one received %s. The server or the network is too slow; "
                             "run the same command again later to continue",
                             o.repo_id, fs->f->path, fs->failures, why);
                fetch_fail(&c, &e);
            }
            fetch_give_back(&c, x);
            fetch_free_xfer(&c, x);
            i--;
        }
        fetch_adapt(&c, now, c.todo_left > 0);
        report(&c, now, false);
        /* nothing running and nothing startable: files waiting for a retry */
        if (c.n_active == 0 && !c.failed && c.files_done < n) {
            if (c.todo_left == 0) {
                hf_error e;
                hf_error_set(&e, HF_ERR_PROTOCOL, "internal error: download stalled with nothing to fetch");
                fetch_fail(&c, &e);
                break;
            }
        }
        /* sleep until a socket is ready, or until the rate cap lets the
         * next waiting transfer go on; but when transfers just finished and
         * there is room for more, start them at once (with many small files
         * the poll's timeout would otherwise pace the requests) */
        long wait_ms = fetch_pace(&c, hf_http_now());
        if (finished_any && c.n_active < c.target && hf_http_now() >= c.pause_until)
            wait_ms = 0;
        curl_multi_poll(c.multi, NULL, 0, (int)wait_ms, NULL);
    }
    report(&c, hf_http_now(), true);
    if (c.failed) {
        *err = c.err;
        rc = err->code;
    }
out:
    while (c.n_active)
        fetch_free_xfer(&c, c.active[c.n_active - 1]);
    fetch_hasher_stop(&c); /* before the digests go */
    for (size_t i = 0; c.files && i < n; i++) {
        fetch_free_pending(&c, &c.files[i]);
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
    free(c.stream_start);
    free(c.active);
    free(c.queue);
    return rc;
}
