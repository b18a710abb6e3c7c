/* The download engine's scheduling (see hf_fetch.c): the ranges of each
 * file still to fetch, which transfer to start next (the heads of files,
 * then a span just ahead of a file's foremost transfer, then half of the
 * running transfer with the most left), and how many connections to run
 * (probing for more while that pays off, fewer when the server says so).
 * In stream mode, what to start next is the first range not yet asked for
 * within the window ahead of the emitted position. */
#include "hf_fetch_internal.h"
#include "hf_buf.h"

#include <stdlib.h>
#include <string.h>

#define MIN_SPLIT ((uint64_t)4 << 20)
#define MIN_PIECE ((uint64_t)1 << 20)

/* ---- ranges ------------------------------------------------------------------ */

bool fetch_todo_add(fetch *c, file_state *fs, uint64_t start, uint64_t end)
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
    span *v = hf_array_reserve(fs->todo, &fs->cap_todo, fs->n_todo, sizeof *v, 4);
    if (!v)
        return false;
    fs->todo = v;
    memmove(&fs->todo[i + 1], &fs->todo[i], (fs->n_todo - i) * sizeof *fs->todo);
    fs->todo[i] = (span){start, end};
    fs->n_todo++;
    return true;
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
    if (fetch_start_xfer(c, fs, a, b))
        return true;
    fetch_todo_add(c, fs, a, b);
    fetch_out_of_memory(c);
    return false;
}

bool fetch_start_next(fetch *c, double now)
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
            if (fetch_start_xfer(c, best, mid, old))
                return true;
            head->stop_at = old;
            fetch_out_of_memory(c);
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
            if (fetch_start_xfer(c, big->fs, mid, old))
                return true;
            big->stop_at = old;
            fetch_out_of_memory(c);
        }
    }
    return false;
}

/* Stream mode: order[] is the stream order. Starts the first range still to
 * fetch that begins less than a window ahead of the emitted position, in
 * pieces small enough that every connection (as many as the current target)
 * has one and the window still holds a second round (the connections must
 * not all wait for one slow piece at the front), and no smaller: each piece
 * is a request. While a window's worth of bytes waits in RAM (small
 * files cost more RAM than their bytes) only the file being emitted gets
 * new transfers: the bytes the stream waits for can always be fetched. */
bool fetch_stream_start_next(fetch *c, double now)
{
    uint64_t window = c->opt->stream_window;
    if (c->stream_cur >= c->n)
        return false;
    bool ram_full = c->ram_used >= window;
    file_state *cur = &c->files[c->order[c->stream_cur]];
    uint64_t limit = c->stream_start[cur->index] + cur->hash_pos + window;
    uint64_t piece = window / (2 * (uint64_t)c->target);
    if (piece < MIN_PIECE)
        piece = MIN_PIECE;
    if (piece > c->opt->span_max)
        piece = c->opt->span_max;
    while (c->head_cursor < c->n && !c->files[c->order[c->head_cursor]].n_todo)
        c->head_cursor++;
    for (size_t k = c->head_cursor; k < c->n; k++) {
        file_state *fs = &c->files[c->order[k]];
        if (!fs->n_todo)
            continue;
        uint64_t at = c->stream_start[fs->index] + fs->todo[0].start;
        if (at >= limit)
            break; /* this and everything after it is beyond the window */
        if (ram_full && fs->rank != c->stream_cur)
            return false; /* only what the stream waits for */
        if (fs->not_before > now)
            continue;
        uint64_t max = limit - at < piece ? limit - at : piece;
        return start_span(c, fs, max);
    }
    return false;
}

/* ---- concurrency -------------------------------------------------------------- */

/* Probes for more connections while that makes the download faster: after
 * an increase, if the next windows are not at least 10% faster, it goes
 * back to the last good count and waits a while before probing again. */
void fetch_adapt(fetch *c, double now, bool work_left)
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
    bool saturated = !c->short_of_work && work_left && !capped;
    if (saturated && c->target < c->opt->max_connections) {
        c->good_target = c->target;
        int step = c->target / 2 > 1 ? c->target / 2 : 1;
        c->target = c->target + step > c->opt->max_connections ? c->opt->max_connections
                                                               : c->target + step;
        c->probe_windows = 2;
    }
}

/* The server asked us to slow down, or a connection stalled. */
void fetch_throttle(fetch *c)
{
    c->target = c->target / 2 > 1 ? c->target / 2 : 1;
    c->good_target = c->target;
    c->probe_windows = 0;
    c->hold_windows = 10;
}
