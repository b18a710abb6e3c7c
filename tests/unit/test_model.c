/* Model records from Hub JSON: licences, gating, types, chat templates. */
#include <stdlib.h>

#include "hf_model.h"
#include "unit.h"

static hf_code from(const char *json, hf_model *m, hf_error *e)
{
    json_t *o = json_loads(json, 0, NULL);
    hf_model_init(m);
    hf_code rc = hf_model_update_from_json(m, o, e);
    json_decref(o);
    return rc;
}

int main(void)
{
    hf_model m;
    hf_error e;
    CHECK(from("{\"id\":\"a/b\",\"tags\":[\"x\",\"license:mit\"],\"downloads\":5,\"gated\":false,"
               "\"sha\":\"0123456789abcdef0123456789abcdef01234567\"}",
               &m, &e) == HF_OK,
          "listing entry parses");
    CHECK_STR(m.license, "mit", "licence from the license: tag");
    CHECK_STR(m.gated, "no", "gated false");
    CHECK(m.downloads == 5 && m.likes == -1, "counters");
    hf_model_clear(&m);
    from("{\"id\":\"a/b\",\"tags\":[\"license:mit\"],\"cardData\":{\"license\":\"apache-2.0\"}}", &m, &e);
    CHECK_STR(m.license, "apache-2.0", "card licence wins over the tag");
    hf_model_clear(&m);
    from("{\"id\":\"a/b\",\"cardData\":{\"license\":[\"mit\",\"cc-by-4.0\"]}}", &m, &e);
    CHECK_STR(m.license, "mit, cc-by-4.0", "licence list joined");
    hf_model_clear(&m);
    from("{\"id\":\"a/b\",\"cardData\":{\"license\":\"other\",\"license_name\":\"x \\\"y\\\"\","
         "\"license_link\":\"LICENSE\"}}", &m, &e);
    CHECK_STR(m.license_name, "x \"y\"", "other licence keeps its name");
    hf_model_clear(&m);
    from("{\"id\":\"a/b\",\"gated\":\"manual\",\"safetensors\":{\"total\":8000}}", &m, &e);
    CHECK_STR(m.gated, "manual", "gated manual");
    CHECK(m.parameters == 8000, "parameters from safetensors");
    hf_model_clear(&m);

    CHECK(from("{\"id\":\"a/../b\"}", &m, &e) == HF_ERR_INVALID, "hostile id refused");
    hf_model_clear(&m);
    CHECK(from("{\"id\":\"a/b\",\"downloads\":\"many\"}", &m, &e) == HF_ERR_PROTOCOL &&
              strstr(e.msg, "downloads"),
          "wrong type refused with the field's name");
    hf_model_clear(&m);
    CHECK(from("{\"id\":\"a/b\",\"sha\":\"abc\"}", &m, &e) == HF_ERR_PROTOCOL, "bad sha refused");
    hf_model_clear(&m);
    CHECK(from("{\"id\":\"a/b\",\"gated\":\"sometimes\"}", &m, &e) == HF_ERR_PROTOCOL,
          "unknown gated value refused");
    hf_model_clear(&m);
    CHECK(from("[1]", &m, &e) == HF_ERR_PROTOCOL, "non-object refused");
    hf_model_clear(&m);

    /* chat template verdicts from model info */
    struct {
        const char *json;
        hf_tri want;
        bool to_read;
        const char *what;
    } cases[] = {
        {"{\"siblings\":[{\"rfilename\":\"chat_template.jinja\",\"size\":3}]}", HF_TRI_YES, false, "jinja file"},
        {"{\"siblings\":[{\"rfilename\":\"tokenizer_config.json\",\"size\":3}],\"config\":{\"tokenizer_config\":{\"chat_template\":\"x\"}}}", HF_TRI_YES, false, "string in config"},
        {"{\"siblings\":[{\"rfilename\":\"tokenizer_config.json\",\"size\":3}],\"config\":{\"tokenizer_config\":{\"chat_template\":[{\"name\":\"d\",\"template\":\"x\"}]}}}", HF_TRI_YES, false, "list in config"},
        {"{\"siblings\":[{\"rfilename\":\"tokenizer_config.json\",\"size\":3}],\"config\":{\"tokenizer_config\":{\"bos_token\":\"x\"}}}", HF_TRI_NO, false, "config without template"},
        {"{\"siblings\":[{\"rfilename\":\"tokenizer_config.json\",\"size\":3}],\"config\":{}}", HF_TRI_UNKNOWN, true, "only the file can tell"},
        {"{\"siblings\":[{\"rfilename\":\"m.gguf\",\"size\":3}],\"gguf\":{\"chat_template\":\"x\"}}", HF_TRI_YES, false, "gguf metadata"},
        {"{\"siblings\":[]}", HF_TRI_NO, false, "no tokenizer at all"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        hf_model_init(&m);
        m.id = strdup("a/b");
        json_t *o = json_loads(cases[i].json, 0, NULL);
        hf_code rc = hf_model_files_from_info(&m, o, &e);
        CHECK(rc == HF_OK && m.chat_template == cases[i].want &&
                  m.tokenizer_config_to_read == cases[i].to_read,
              "chat template: %s", cases[i].what);
        json_decref(o);
        hf_model_clear(&m);
    }
    hf_model_init(&m);
    m.id = strdup("a/b");
    json_t *o = json_loads("{\"siblings\":[{\"rfilename\":\"../../etc/x\",\"size\":3}]}", 0, NULL);
    CHECK(hf_model_files_from_info(&m, o, &e) == HF_ERR_PROTOCOL && strstr(e.msg, "unsafe"),
          "unsafe sibling path refused");
    json_decref(o);
    o = json_loads("{\"siblings\":[{\"rfilename\":\"x\"}]}", 0, NULL);
    CHECK(hf_model_files_from_info(&m, o, &e) == HF_ERR_PROTOCOL, "missing size refused");
    json_decref(o);
    o = json_loads("{\"siblings\":[{\"rfilename\":\"a.safetensors\",\"size\":100},"
                   "{\"rfilename\":\"pytorch_model.bin\",\"size\":100},"
                   "{\"rfilename\":\".gitattributes\",\"size\":5}]}", 0, NULL);
    CHECK(hf_model_files_from_info(&m, o, &e) == HF_OK && m.files == 1 && m.files_bytes == 100,
          "size counts only the default selection");
    json_decref(o);
    hf_model_clear(&m);
    CHECK(hf_model_parse_time("2024-03-15T10:30:00.000Z") == 1710498600, "ISO time parsed");
    CHECK(hf_model_parse_time("garbage") == -1, "bad time refused");
    UNIT_DONE();
}
