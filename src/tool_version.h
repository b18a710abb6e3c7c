/* --version for every hfhub program: the release (HFHUB_VERSION) and the git
 * commit the build was made from, which the Makefile writes into
 * build/gen/hfhub_commit.h at build time ("unknown (built without git)" for a
 * source tree without .git and without a COMMIT file). */
#ifndef TOOL_VERSION_H
#define TOOL_VERSION_H

/* Prints "<prog> (hfhub) <version>" and "commit <id>" on stdout. */
void tool_print_version(const char *prog);

#endif
