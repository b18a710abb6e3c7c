/* Finds the Hugging Face token: HF_TOKEN, then HUGGING_FACE_HUB_TOKEN (as
 * huggingface_hub does), then the operator's protected file for the
 * drivers (HFHUB_TOKEN_FILE, default $ONE_LOCATION/etc/hfhub/token for a
 * self-contained OpenNebula, else /etc/one/hfhub/token; it is the documented
 * way, since not every driver action reads fs.conf: it must be owned by root and give nothing to
 * others, e.g. root:oneadmin 0640, or it is refused), then the user's token
 * file (HF_TOKEN_PATH, else $HF_HOME/token, else ~/.cache/huggingface/token).
 * The token is never taken from a command line, and is checked so it cannot
 * inject header lines. */
#ifndef HF_TOKEN_H
#define HF_TOKEN_H

#include <stdbool.h>

#include "hf_error.h"

/* *out is NULL when no token is configured (anonymous access); free with
 * hf_token_free. Fails only when a configured token is unusable. */
hf_code hf_token_find(char **out, hf_error *err);

#define HF_TOKEN_PROTECTED_FILE "/etc/one/hfhub/token"

/* True for an environment entry ("NAME=value") that carries a token
 * (HF_TOKEN, HUGGING_FACE_HUB_TOKEN). */
bool hf_env_is_secret(const char *entry);

/* The entries of env that carry no token, for a child process (mke2fs, tar):
 * a malloc'd, NULL-terminated array of pointers into env; free() it alone.
 * NULL when out of memory. */
char **hf_env_without_secrets(char *const *env);

/* Reads a token from one file (first line, surrounding blanks removed). */
hf_code hf_token_read_file(const char *path, char **out, hf_error *err);

/* Reads the protected token file, refusing one that is not root-owned, is
 * writable by its group, or is accessible to others. */
hf_code hf_token_read_protected(const char *path, char **out, hf_error *err);

/* True when s is a plausible token: 1-512 visible ASCII characters. */
int hf_token_is_valid(const char *s);

void hf_token_free(char *token);

#endif
