/* The download engine's transfers (see hf_fetch.c): one libcurl easy
 * handle per range request, its header and body callbacks (checking that
 * the answer is the range and size asked for, writing to the sink, feeding
 * the hash, and in stream mode the stream), and what is done when it ends:
 * done, redirected, refused, or retried later with the bytes it did not
 * deliver given back.
 *
 * The rate cap (max_rate) is one token bucket for all connections. A
 * transfer receives file bytes against its own credit, which it draws from
 * the bucket a quantum at a time. When the bucket is empty, or others are
 * already waiting, the write callback pauses the transfer
 * (CURL_WRITEFUNC_PAUSE: libcurl keeps the bytes and stops reading that
 * socket, so TCP slows the sender) and it joins a queue; the main loop
 * refills the bucket and resumes the queue in order, one quantum each, so
 * every connection gets its turn and the sum stays at the cap. */
#include "hf_fetch_internal.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "hf_http.h"
#include "hf_http_headers.h"
#include "hf_hub.h"

#define MAX_ERROR_BODY ((size_t)64 << 10)

/* ---- requests and callbacks ------------------------------------------------------ */

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

/* ---- body bytes into the sink ------------------------------------------------------ */

/* libcurl hands the body over in pieces of 16-64 KiB at any offset. The
 * sink gets it in pieces that end on PIECE boundaries of the file (or at the
 * end of the transfer's range): fewer, larger and page-aligned writes, which
 * cost the kernel less per byte, and whole buffers for the hasher. A
 * transfer's bytes [wpos, pos) wait in its buffer; only what is in the sink
 * is hashed, stashed and journaled. */

/* [wpos, wpos + len) of x's file, from p: into the sink, then through the
 * hash (or kept until the hash gets there), then into the journal. */
static bool store(fetch *c, xfer *x, const unsigned char *p, size_t len)
{
    file_state *fs = x->fs;
    hf_error e;
    if (!c->stream && c->sink->write(c->sink->user, fs->index, x->wpos, p, len, &e)) {
        fetch_fail(c, &e);
        return false;
    }
    bool now = fetch_hash_now(c, fs, x->wpos);
    if (now && p == x->buf) {
        fetch_hash_piece(c, fs, x->buf, len); /* the hasher has it now */
        x->buf = NULL;
    } else if (now) {
        fetch_hash_bytes(c, fs, p, len);
    } else if (c->stream && p == x->buf) {
        /* no sink to read it back from: the piece itself waits for its turn */
        if (!fetch_stash_piece(c, fs, x->wpos, x->buf, len)) {
            fetch_out_of_memory(c);
            return false;
        }
        x->buf = NULL;
    } else if (!fetch_stash(c, fs, x->wpos, p, len)) {
        fetch_out_of_memory(c);
        return false;
    }
    x->wpos += len;
    if (x->wpos - x->jpos >= c->opt->journal_grain)
        fetch_journal_written(c, x);
    if (fetch_hash_now(c, fs, x->wpos) || fs->n_pending)
        fetch_drain(c, fs);
    return !c->failed;
}

bool fetch_flush_xfer(fetch *c, xfer *x)
{
    size_t len = x->blen;
    x->blen = 0;
    return !len || c->failed || store(c, x, x->buf, len);
}

/* Takes len received bytes at x->pos. */
static bool put_bytes(fetch *c, xfer *x, const char *data, size_t len)
{
    while (len) {
        uint64_t piece_end = (x->pos / PIECE + 1) * PIECE;
        if (piece_end > x->stop_at)
            piece_end = x->stop_at;
        size_t want = (size_t)(piece_end - x->pos);
        size_t k = len < want ? len : want;
        if (!x->blen && k == want) {
            /* a whole piece in libcurl's buffer: no copy */
            x->pos += k;
            if (!store(c, x, (const unsigned char *)data, k))
                return false;
        } else {
            if (!x->buf && !(x->buf = fetch_piece_get(c))) {
                fetch_out_of_memory(c);
                return false;
            }
            memcpy(x->buf + x->blen, data, k);
            x->blen += k;
            x->pos += k;
            if (x->pos == piece_end && !fetch_flush_xfer(c, x))
                return false;
        }
        data += k;
        len -= k;
    }
    return true;
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
        if (!put_bytes(c, x, data, take))
            return 0;
        c->done_bytes += take;
        c->win_bytes += take;
        c->stats->downloaded_bytes += take;
        x->last_byte = hf_http_now();
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

bool fetch_start_xfer(fetch *c, file_state *fs, uint64_t start, uint64_t end)
{
    xfer *x = calloc(1, sizeof *x);
    if (!x)
        return false;
    x->c = c;
    x->fs = fs;
    x->start = x->jpos = x->win_pos = start;
    x->pos = x->wpos = start;
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

void fetch_free_xfer(fetch *c, xfer *x)
{
    fetch_flush_xfer(c, x);
    fetch_journal_written(c, x); /* what it wrote, whatever ends it */
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
    fetch_piece_put(c, x->buf);
    free(x);
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
    fetch_fail(c, &e);
}

void fetch_give_back(fetch *c, xfer *x)
{
    fetch_flush_xfer(c, x); /* what it received is in the sink before the rest is handed on */
    if (!fetch_todo_add(c, x->fs, x->pos, x->stop_at))
        fetch_out_of_memory(c);
}

void fetch_finish_xfer(fetch *c, xfer *x, CURLcode cc, double now)
{
    file_state *fs = x->fs;
    if (!x->checked || cc != CURLE_OK)
        curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &x->status);
    long s = x->status;

    if (x->stopped || (cc == CURLE_OK && x->checked && x->pos == x->stop_at)) {
        fs->failures = 0;
        fetch_free_xfer(c, x);
        fetch_drain(c, fs);
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
        fetch_fail(c, &e);
        fetch_give_back(c, x);
        fetch_free_xfer(c, x);
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
            fetch_fail(c, &e);
        } else if (!next) {
            /* file://, ftp://, gopher://...: never followed, and no retry
             * would change the answer */
            hf_error_prefix(&why, "%s: %s: the %s answered with ", c->opt->repo_id, fs->f->path,
                            x->via_cdn ? "CDN" : "Hub");
            fetch_fail(c, &why);
        } else if (++fs->reresolves > 20) {
            hf_error e;
            hf_error_set(&e, HF_ERR_PROTOCOL, "%s: too many redirects for %s", c->opt->repo_id,
                         fs->f->path);
            fetch_fail(c, &e);
        } else {
            free(fs->url);
            fs->url = next;
            next = NULL;
        }
        free(next);
        fetch_give_back(c, x);
        fetch_free_xfer(c, x);
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
            fetch_fail(c, &e);
        }
        fetch_give_back(c, x);
        fetch_free_xfer(c, x);
        return;
    }
    if (cc == CURLE_OK && !x->via_cdn && (s == 401 || s == 403 || s == 404 || s == 416)) {
        hub_error(c, x);
        fetch_give_back(c, x);
        fetch_free_xfer(c, x);
        return;
    }
    /* Anything else is worth another try: a dropped or truncated transfer,
     * 408/429/5xx, a wrong range. An attempt that moved the file forward
     * (fetch_progress_bytes: a low-speed window's worth, or an eighth of its
     * range) is not a failure: a link that drops every connection after a
     * while still gets the file, one piece at a time. Less than that counts,
     * as for a stall, so that a server that sends a few bytes and hangs up
     * fails in bounded time. */
    bool progressed = x->pos - x->start >= fetch_progress_bytes(c, x);
    double delay = (double)c->opt->retry_base_ms / 1000.0 *
                   (double)(progressed ? 1 : 1 << (fs->failures < 4 ? fs->failures : 4));
    if (s == 429 && x->rl_remaining == 0 && x->rl_reset >= 0)
        delay = x->rl_reset + 1;
    else if (x->retry_after >= 0)
        delay = x->retry_after;
    if (s == 429 || s == 503) {
        /* the server says slow down: fewer connections, and a pause */
        fetch_throttle(c);
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
        fetch_fail(c, &e);
    }
    fetch_give_back(c, x);
    fetch_free_xfer(c, x);
}

/* ---- the rate cap ------------------------------------------------------------- */

/* The rate cap: refills the bucket and resumes the waiting transfers,
 * oldest first, a quantum of credit each, while there are tokens. Returns
 * how long the main loop may sleep (ms) before the next one is due. */
long fetch_pace(fetch *c, double now)
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
