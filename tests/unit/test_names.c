/* Hub naming rules, repository path safety and OpenNebula NAME mapping. */
#include <stdlib.h>

#include "hf_repo_id.h"
#include "hf_repo_path.h"
#include "one_app.h"
#include "one_template.h"
#include "unit.h"

int main(void)
{
    const char *good_ids[] = {"ONEnextgen/Llama-3.1-8B-Instruct", "a/b", "org_1/m.v2",
                              "meta-llama/Meta-Llama-3-8B", NULL};
    const char *bad_ids[] = {"", "noslash", "/x", "x/", "a/b/c", "a//b", "a/../b", "..a/b",
                             "a/b..c", "a--b/c", "a/-b", "a/b-", "a/b.git", "a/b c", "a/b\n",
                             "a/\xc3\xa9", "a/b;rm", "a/b\"", NULL};
    for (int i = 0; good_ids[i]; i++)
        CHECK(hf_repo_id_is_valid(good_ids[i]), "valid id %s", good_ids[i]);
    for (int i = 0; bad_ids[i]; i++)
        CHECK(!hf_repo_id_is_valid(bad_ids[i]), "invalid id #%d refused", i);
    char long_name[200];
    memset(long_name, 'a', sizeof long_name);
    memcpy(long_name, "org/", 4);
    long_name[4 + 96] = '\0';
    CHECK(hf_repo_id_is_valid(long_name), "96-character name accepted");
    long_name[4 + 96] = 'a';
    long_name[4 + 97] = '\0';
    CHECK(!hf_repo_id_is_valid(long_name), "97-character name refused");

    hf_error err;
    CHECK(hf_repo_id_check("a b", &err) == HF_ERR_INVALID && strstr(err.msg, "<org>/<name>"),
          "invalid id message shows the grammar");
    CHECK(hf_org_is_valid("ONEnextgen") && !hf_org_is_valid("bad org") && !hf_org_is_valid(""),
          "organisation names");
    CHECK(hf_collection_slug_is_valid("ONEnextgen/llm-models-6650ecc1c2d7b8a5e2a1b3c4"),
          "collection slug with id accepted");
    CHECK(!hf_collection_slug_is_valid("org/collection-slug"), "slug without id refused");
    CHECK(!hf_collection_slug_is_valid("org/x-6650ECC1C2D7B8A5E2A1B3C4"), "upper-case hex refused");
    CHECK(!hf_collection_slug_is_valid("org/../x-6650ecc1c2d7b8a5e2a1b3c4"), "slug with .. refused");
    CHECK(hf_collection_slug_check("a/b", &err) && strstr(err.msg, "24 hex"),
          "invalid slug message shows the form");

    const char *safe[] = {"config.json", "onnx/model.onnx", "a/b/c.txt", ".gitattributes",
                          "dir/.hidden", "caf\xc3\xa9.txt", NULL};
    const char *unsafe[] = {"", "/etc/passwd", "../x", "a/../b", "a/./b", "a//b", "a/", ".",
                            "..", "a\\b", "a\nb", "a\x01", NULL};
    for (int i = 0; safe[i]; i++)
        CHECK(hf_repo_path_is_safe(safe[i]), "safe path %s", safe[i]);
    for (int i = 0; unsafe[i]; i++)
        CHECK(!hf_repo_path_is_safe(unsafe[i]), "unsafe path #%d refused", i);

    char *name = one_app_name("ONEnextgen/Llama-3.1-8B-Instruct", NULL);
    CHECK_STR(name, "ONEnextgen--Llama-3.1-8B-Instruct", "app NAME is org--name");
    CHECK(one_name_is_valid(name), "that NAME is valid for oned");
    free(name);
    char id[200];
    memset(id, 'x', 96);
    memcpy(id + 96, "/", 1);
    memset(id + 97, 'y', 96);
    id[193] = '\0';
    char *n1 = one_app_name(id, NULL);
    id[192] = 'z';
    char *n2 = one_app_name(id, NULL);
    CHECK(n1 && strlen(n1) == 128 && one_name_is_valid(n1), "long id gives a 128-character NAME");
    CHECK(n1 && n2 && strcmp(n1, n2), "long ids differing at the end get different NAMEs");
    free(n1);
    free(n2);
    CHECK(!one_name_is_valid("a/b") && !one_name_is_valid("") && !one_name_is_valid("a$b"),
          "NAME rules of oned");
    const char *bad_names[] = {"a&b", "a|b", "a:b", "a\\b", "a\"b", "a;b", "a'b", "a#b", "a{b",
                               "a}b", "a<b", "a>b", "a\tb", "a\nb", "a\x01b", "a\x7f", NULL};
    for (int i = 0; bad_names[i]; i++)
        CHECK(!one_name_is_valid(bad_names[i]), "NAME with a forbidden character #%d refused", i);
    CHECK(one_name_is_valid("org--model@100") && one_name_is_valid("HF Hub (certified)"),
          "'@', spaces and brackets are allowed");
    UNIT_DONE();
}
