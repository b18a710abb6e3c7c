/* A planned qcow2 disk image written strictly in order to a descriptor that
 * cannot seek (a pipe to `ssh ... dd`), so that the image never exists in
 * full on this machine.
 *
 * The image is the same, byte for byte, as the file hf_qcow2_create, the
 * metadata copy and the data writes make (holes read as zeros): first the
 * qcow2 metadata (read from the head file hf_qcow2_create wrote), then every
 * allocated guest cluster in ascending guest order. Within the clusters,
 * the bytes of the metadata ranges come from the raw filesystem file, the
 * file data from the caller (hf_image_stream_put, in ascending guest order),
 * and everything else is zero. Small pieces go out through a 1 MiB buffer. */
#ifndef HF_IMAGE_STREAM_H
#define HF_IMAGE_STREAM_H

#include <stddef.h>
#include <stdint.h>

#include "hf_error.h"
#include "hf_ext4.h"
#include "hf_qcow2.h"

typedef struct hf_image_stream hf_image_stream;

/* Starts the stream: writes the qcow2 metadata, [0, hf_qcow2_data_offset(q)) of head_fd, to
 * out_fd. meta_fd holds the filesystem's metadata at guest offsets; meta[] (sorted, disjoint,
 * as hf_ext4_metadata_ranges gives them, image_offset = guest offset) says which of its
 * bytes go into the image. q, meta and the descriptors must outlive the stream. */
hf_code hf_image_stream_open(const hf_qcow2 *q, int head_fd, int meta_fd, const hf_extent *meta,
                             size_t n_meta, int out_fd, hf_image_stream **out, hf_error *err);

/* Writes len bytes of file data at guest offset guest, after whatever lies between the
 * stream's position and guest. guest must not be below the position, and the bytes must lie
 * in allocated clusters: anything else is an internal error (HF_ERR_USAGE). */
hf_code hf_image_stream_put(hf_image_stream *s, uint64_t guest, const void *buf, size_t len,
                            hf_error *err);

/* Writes the rest of the image and flushes the buffer: after HF_OK, out_fd has received
 * exactly hf_qcow2_file_size(q) bytes. */
hf_code hf_image_stream_finish(hf_image_stream *s, hf_error *err);

/* Bytes handed to out_fd so far. */
uint64_t hf_image_stream_written(const hf_image_stream *s);

void hf_image_stream_free(hf_image_stream *s);

#endif
