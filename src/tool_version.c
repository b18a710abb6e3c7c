/* --version: the release and the git commit of the build (see tool_version.h). */
#include <stdio.h>

#include "hf_client.h"
#include "hfhub_commit.h"
#include "tool_version.h"

void tool_print_version(const char *prog)
{
    printf("%s (hfhub) %s\ncommit %s\n", prog, HFHUB_VERSION, HFHUB_COMMIT);
}
