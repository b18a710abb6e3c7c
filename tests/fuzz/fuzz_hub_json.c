/* libFuzzer target: Hub JSON answers (listing entries, model info with
 * siblings, tokenizer_config.json), and the id and path checks. */
#include <stdint.h>

#include "fuzz_util.h"
#include <stdlib.h>
#include <string.h>

#include "hf_model.h"
#include "hf_repo_id.h"
#include "hf_repo_path.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = fuzz_cstr(data, size);
    if (!s)
        return 0;
    hf_repo_id_is_valid(s);
    hf_collection_slug_is_valid(s);
    hf_repo_path_is_safe(s);
    hf_model_parse_time(s);
    json_t *j = json_loadb((const char *)data, size, 0, NULL);
    if (j) {
        hf_model m;
        hf_error e;
        hf_model_init(&m);
        if (hf_model_update_from_json(&m, j, &e) == HF_OK)
            hf_model_files_from_info(&m, j, &e);
        json_t *back = hf_model_to_json(&m);
        json_decref(back);
        hf_model_clear(&m);
        hf_model_chat_template_in_tokenizer_config(j);
        json_decref(j);
    }
    free(s);
    return 0;
}
