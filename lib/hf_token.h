/* Finds the Hugging Face token the way huggingface_hub does: HF_TOKEN, then
 * HUGGING_FACE_HUB_TOKEN, then the token file (HF_TOKEN_PATH, else
 * $HF_HOME/token, else ~/.cache/huggingface/token). The token is never taken
 * from a command line, and is checked so it cannot inject header lines. */
#ifndef HF_TOKEN_H
#define HF_TOKEN_H

#include "hf_error.h"

/* *out is NULL when no token is configured (anonymous access); free with
 * hf_token_free. Fails only when a configured token is unusable. */
hf_code hf_token_find(char **out, hf_error *err);

/* Reads a token from one file (first line, surrounding blanks removed). */
hf_code hf_token_read_file(const char *path, char **out, hf_error *err);

/* True when s is a plausible token: 1-512 visible ASCII characters. */
int hf_token_is_valid(const char *s);

void hf_token_free(char *token);

#endif
