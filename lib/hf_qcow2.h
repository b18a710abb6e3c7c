/* A qcow2 image whose layout is fixed before any data arrives, so the
 * downloader can write a model's bytes straight into the final disk image from
 * many parallel range requests, in any order, and resume after kill -9.
 *
 * The plan is a function of (virtual_size, the set of guest clusters touched by
 * the ranges) only: a rerun with the same inputs computes the same host offsets
 * and keeps writing into the same file. All metadata (header, refcounts, L1/L2
 * tables) is exact from the start, so the file is a valid image once every
 * data cluster exists (hf_qcow2_finish). Format: qemu docs/interop/qcow2.txt. */
#ifndef HF_QCOW2_H
#define HF_QCOW2_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hf_error.h"

typedef struct { uint64_t start; uint64_t length; } hf_range;   /* guest byte ranges */
typedef struct hf_qcow2 hf_qcow2;

/* Plans a qcow2 (version 3, 64 KiB clusters, refcount_order 4, no compression, no backing file,
 * no encryption) of virtual_size bytes (a non-zero multiple of 512) in which exactly the guest
 * clusters touched by ranges[] are allocated (ranges may overlap, touch or come in any order;
 * zero-length ranges touch nothing). Host layout, all deterministic: cluster 0 header; then the
 * refcount table, the refcount blocks, the L1 table, the L2 tables (one per 512 MiB of guest
 * space that holds data); then the data clusters in ascending guest order. Writes all metadata
 * to path with pwrite (the header last); data clusters are left as holes. With resume=true an
 * existing file is opened without truncation and all its metadata must match the plan (else
 * HF_ERR_INVALID: "...does not match this plan; delete it"); with resume=false the file is
 * created or truncated. */
hf_code hf_qcow2_create(const char *path, uint64_t virtual_size, const hf_range *ranges, size_t n,
                        bool resume, hf_qcow2 **out, hf_error *err);

/* Writes guest bytes [guest_off, guest_off+len) (must lie inside allocated clusters; split
 * across clusters as needed). Thread-safe: only pwrite on the fd. */
hf_code hf_qcow2_pwrite(hf_qcow2 *q, const void *buf, size_t len, uint64_t guest_off,
                        hf_error *err);

/* Host file offset of a guest offset (UINT64_MAX if unallocated) — lets callers use their
 * own I/O. Host bytes are contiguous up to the end of the guest cluster at least. */
uint64_t hf_qcow2_host_offset(const hf_qcow2 *q, uint64_t guest_off);
int hf_qcow2_fd(const hf_qcow2 *q);

/* Host offset of the first data cluster: the file's bytes before it are metadata only. */
uint64_t hf_qcow2_data_offset(const hf_qcow2 *q);

/* The allocated guest clusters as byte ranges, ascending, never touching each other; their
 * clusters lie back to back on the host from hf_qcow2_data_offset on. i < hf_qcow2_run_count. */
size_t hf_qcow2_run_count(const hf_qcow2 *q);
hf_range hf_qcow2_run_range(const hf_qcow2 *q, size_t i);

/* Final host file size (end of the last data cluster). */
uint64_t hf_qcow2_file_size(const hf_qcow2 *q);

/* Sets the file's length to hf_qcow2_file_size (ftruncate: a never-written last cluster
 * still exists), fsyncs. */
hf_code hf_qcow2_finish(hf_qcow2 *q, hf_error *err);
void hf_qcow2_close(hf_qcow2 *q);

#endif
