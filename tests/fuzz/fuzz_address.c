/* libFuzzer target: hf:// addresses, which reach the downloader from oned
 * (an Image's PATH) or from a user. A parsed address must satisfy what the
 * rest of the code relies on: a valid repository id and revision. */
#include <stdint.h>

#include "fuzz_util.h"
#include <stdlib.h>
#include <string.h>

#include "hf_address.h"
#include "hf_repo_id.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = fuzz_cstr(data, size);
    if (!s)
        return 0;
    hf_address a;
    hf_error e;
    if (hf_address_parse(s, &a, &e) == HF_OK) {
        if (!hf_repo_id_is_valid(a.repo_id) || (a.revision && !hf_revision_is_valid(a.revision)))
            abort();
        hf_address_clear(&a);
    }
    free(s);
    return 0;
}
