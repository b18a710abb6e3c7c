/* Rates in curl's --limit-rate syntax (hfhub_downloader --limit). */
#include <stdint.h>

#include "hf_rate.h"
#include "unit.h"

int main(void)
{
    struct {
        const char *text;
        uint64_t want;
    } good[] = {{"1", 1},
                {"500", 500},
                {"100b", 100},
                {"100B", 100},
                {"1k", 1024},
                {"500K", 512000},
                {"3m", 3 << 20},
                {"10M", 10 << 20},
                {"1g", (uint64_t)1 << 30},
                {"2G", (uint64_t)2 << 30},
                {"1T", (uint64_t)1 << 40},
                {"8191p", (uint64_t)8191 << 50},
                {"010", 10},
                {"9223372036854775807", INT64_MAX},
                {"8589934591G", (uint64_t)8589934591 << 30},
                {NULL, 0}};
    for (int i = 0; good[i].text; i++) {
        uint64_t v = 0;
        hf_error err = {0};
        hf_code rc = hf_rate_parse(good[i].text, &v, &err);
        CHECK(rc == HF_OK && v == good[i].want, "'%s' is %llu bytes/s", good[i].text,
              (unsigned long long)good[i].want);
    }

    struct {
        const char *text, *says;
    } bad[] = {{"abc", "not a rate"},
               {"", "not a rate"},
               {"k", "not a rate"},
               {"-5", "not a rate"},
               {"-5M", "not a rate"},
               {"+5", "not a rate"},
               {" 5", "not a rate"},
               {"5 ", "not a rate"},
               {"1.5M", "not a rate"},
               {"5MB", "not a rate"},
               {"5x", "not a rate"},
               {"5/s", "not a rate"},
               {"0x10", "not a rate"},
               {"0", "zero"},
               {"0k", "zero"},
               {"000G", "zero"},
               {"99999999999G", "too large"},
               {"8589934592G", "too large"},
               {"8192P", "too large"},
               {"9223372036854775808", "too large"},
               {"99999999999999999999999999", "too large"},
               {NULL, NULL}};
    for (int i = 0; bad[i].text; i++) {
        uint64_t v = 42;
        hf_error err = {0};
        hf_code rc = hf_rate_parse(bad[i].text, &v, &err);
        CHECK(rc == HF_ERR_USAGE && v == 42 && strstr(err.msg, bad[i].says),
              "'%s' refused: %s", bad[i].text, bad[i].says);
    }
    hf_error err = {0};
    uint64_t v;
    hf_rate_parse("fast", &v, &err);
    CHECK(strstr(err.msg, "'fast'") && strstr(err.msg, "500k") && strstr(err.msg, "1024"),
          "the message quotes the text and shows the syntax: %s", err.msg);
    CHECK(hf_rate_parse(NULL, &v, &err) == HF_ERR_USAGE, "NULL refused");
    UNIT_DONE();
}
