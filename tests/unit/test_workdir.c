/* Work-directory policy (hf_workdir) and the datastore rules (one_datastore):
 * which work directories are trusted, where "-" and datastore imports keep
 * their work, which form a datastore takes, which directories rm may remove. */
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hf_workdir.h"
#include "one_datastore.h"
#include "unit.h"

static char *join(const char *a, const char *b)
{
    char *s = malloc(strlen(a) + strlen(b) + 2);
    sprintf(s, "%s/%s", a, b);
    return s;
}

static void touch(const char *path)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd >= 0)
        close(fd);
}

static void workdirs(const char *tmp)
{
    hf_error err;
    uid_t me = geteuid();
    char *d = NULL;

    CHECK_STR(hf_workdir_base("/w", "/t"), "/w", "HFHUB_WORK_DIR wins");
    CHECK_STR(hf_workdir_base("", "/t"), "/t", "then TMPDIR");
    CHECK_STR(hf_workdir_base(NULL, NULL), "/var/tmp", "then /var/tmp");

    CHECK(hf_workdir_private(tmp, me, &d, &err) == HF_OK && d, "private work directory made");
    struct stat st;
    CHECK(d && !lstat(d, &st) && S_ISDIR(st.st_mode) && (st.st_mode & 0777) == 0700 &&
              st.st_uid == me,
          "it is a real directory, mode 0700, ours");
    char want[512];
    snprintf(want, sizeof want, "%s/hfhub-%ld", tmp, (long)me);
    CHECK_STR(d, want, "named hfhub-<uid>");
    free(d);
    CHECK(hf_workdir_private(tmp, me, &d, &err) == HF_OK, "found again: accepted");
    free(d);

    /* someone else's directory: a uid that is not ours */
    CHECK(hf_workdir_private(tmp, me + 1, &d, &err) != HF_OK && !d &&
              strstr(err.msg, "belongs to uid") && strstr(err.msg, "HFHUB_WORK_DIR"),
          "a directory owned by another user is refused, saying what to do: %s", err.msg);

    char *open_dir = join(tmp, "open");
    mkdir(open_dir, 0777);
    chmod(open_dir, 0777);
    CHECK(hf_workdir_check(open_dir, me, false, &err) != HF_OK && strstr(err.msg, "chmod 0700"),
          "a world-writable work directory is refused: %s", err.msg);
    chmod(open_dir, 0750);
    CHECK(hf_workdir_check(open_dir, me, false, &err) != HF_OK, "group access is refused too");
    chmod(open_dir, 0700);
    CHECK(hf_workdir_check(open_dir, me, false, &err) == HF_OK, "0700 is accepted");

    /* a planted symlink to a directory we own */
    char *base2 = join(tmp, "base2");
    mkdir(base2, 0700);
    char link_name[512];
    snprintf(link_name, sizeof link_name, "%s/hfhub-%ld", base2, (long)me);
    CHECK(!symlink(open_dir, link_name), "symlink planted");
    CHECK(hf_workdir_private(base2, me, &d, &err) != HF_OK && strstr(err.msg, "symbolic link"),
          "a symlink in place of the work directory is refused: %s", err.msg);

    /* a planted file */
    char *base3 = join(tmp, "base3");
    mkdir(base3, 0700);
    char file_name[512];
    snprintf(file_name, sizeof file_name, "%s/hfhub-%ld", base3, (long)me);
    touch(file_name);
    CHECK(hf_workdir_private(base3, me, &d, &err) != HF_OK && strstr(err.msg, "not a directory"),
          "a file in place of the work directory is refused: %s", err.msg);

    /* beside a destination */
    char *dest = join(tmp, "ds/img1");
    char *ds = join(tmp, "ds");
    mkdir(ds, 0755);
    CHECK(hf_workdir_beside(dest, me, &d, &err) == HF_OK && d && strstr(d, "/ds/.hfhub-work"),
          ".hfhub-work made next to DEST");
    free(d);
    CHECK(hf_workdir_beside(dest, me + 1, &d, &err) != HF_OK,
          ".hfhub-work owned by someone else is refused");

    /* a destination in a directory others can write to (lvm/cp's /var/tmp/one_img...) */
    char *shared = join(tmp, "sharedtmp");
    mkdir(shared, 01777);
    chmod(shared, 01777);
    char *shared_dest = join(shared, "one_img7.abcd");
    CHECK(hf_workdir_for_dest(shared_dest, tmp, me, &d, &err) == HF_OK && d &&
              strstr(d, "/hfhub-") && !strstr(d, "sharedtmp"),
          "DEST in a world-writable directory: the work goes to the private directory");
    free(d);
    char *planted = join(shared, ".hfhub-work");
    mkdir(planted, 0700);
    chown(planted, me + 1, (gid_t)-1);
    CHECK(hf_workdir_for_dest(shared_dest, tmp, me, &d, &err) == HF_OK,
          "a .hfhub-work another user planted there is not even looked at");
    free(d);
    CHECK(hf_workdir_for_dest(dest, tmp, me, &d, &err) == HF_OK && d && strstr(d, "/ds/.hfhub-work"),
          "DEST in a datastore directory: .hfhub-work beside it");
    free(d);
    free(shared), free(shared_dest), free(planted);

    char *p1 = hf_workdir_prefix("/w", "http://a", "hf://o/m", HF_FORMAT_QCOW2);
    char *p2 = hf_workdir_prefix("/w", "http://a", "hf://o/m", HF_FORMAT_QCOW2);
    char *p3 = hf_workdir_prefix("/w", "http://b", "hf://o/m", HF_FORMAT_QCOW2);
    char *p4 = hf_workdir_prefix("/w", "http://a", "hf://o/m", HF_FORMAT_DIR);
    CHECK(p1 && p2 && p3 && p4 && !strcmp(p1, p2) && strcmp(p1, p3) && strcmp(p1, p4) &&
              strlen(p1) == strlen("/w/") + 16,
          "work prefix: stable, and distinct per endpoint and format");
    free(p1), free(p2), free(p3), free(p4);

    /* hf_remove_tree never follows a link */
    char *victim = join(tmp, "victim");
    mkdir(victim, 0700);
    char *victim_file = join(victim, "keep");
    touch(victim_file);
    char *tree = join(tmp, "tree");
    mkdir(tree, 0700);
    char *sub = join(tree, "sub");
    mkdir(sub, 0700);
    char *f = join(sub, "f");
    touch(f);
    char *lnk = join(tree, "link");
    CHECK(!symlink(victim, lnk), "link to a victim planted in a tree");
    CHECK(hf_remove_tree(tree, &err) == HF_OK && lstat(tree, &st) && !lstat(victim_file, &st),
          "remove_tree removes the tree and the link, not the link's target");
    CHECK(hf_remove_tree(tree, &err) == HF_OK, "removing a missing tree is fine");
    free(victim), free(victim_file), free(tree), free(sub), free(f), free(lnk);
    free(open_dir), free(base2), free(base3), free(dest), free(ds);
}

static void forms(void)
{
    hf_error err;
    hf_format f;
    one_datastore_info virtiofs = {.ds_mad = "virtiofs", .tm_mad = "virtiofs", .name = "models"};
    one_datastore_info fs = {.ds_mad = "fs", .tm_mad = "qcow2", .name = "default"};
    one_datastore_info ceph = {.ds_mad = "ceph", .tm_mad = "ceph", .name = "rbd"};
    one_datastore_info lvm = {.ds_mad = "lvm", .tm_mad = "fs_lvm", .name = "lv"};
    one_datastore_info sharedfs = {.ds_mad = "sharedfs", .tm_mad = "sharedfs"};

    CHECK(one_datastore_form(&virtiofs, HF_FORMAT_DEFAULT, &f, &err) == HF_OK &&
              f == HF_FORMAT_DIR,
          "virtiofs takes the directory form");
    CHECK(one_datastore_form(&virtiofs, HF_FORMAT_DIR, &f, &err) == HF_OK && f == HF_FORMAT_DIR,
          "virtiofs with ?format=dir");
    CHECK(one_datastore_form(&virtiofs, HF_FORMAT_QCOW2, &f, &err) != HF_OK &&
              strstr(err.msg, "virtiofs") && strstr(err.msg, "models"),
          "qcow2 into virtiofs is refused, naming the datastore: %s", err.msg);
    one_datastore_info *blocks[] = {&fs, &ceph, &lvm, &sharedfs};
    for (int i = 0; i < 4; i++) {
        CHECK(one_datastore_form(blocks[i], HF_FORMAT_DEFAULT, &f, &err) == HF_OK &&
                  f == HF_FORMAT_QCOW2,
              "%s takes qcow2", blocks[i]->ds_mad);
        CHECK(one_datastore_form(blocks[i], HF_FORMAT_DIR, &f, &err) != HF_OK &&
                  strstr(err.msg, blocks[i]->ds_mad) && strstr(err.msg, "virtiofs"),
              "dir into %s is refused, naming its kind: %s", blocks[i]->ds_mad, err.msg);
    }
}

static void owned_dirs(const char *tmp)
{
    hf_error err;
    char *base = join(tmp, "vds");
    mkdir(base, 0755);
    char *img = join(base, "0123abcd");
    char *dot = join(img, ".hfhub");
    char *man = join(dot, "manifest.json");
    mkdir(img, 0755);
    mkdir(dot, 0755);
    touch(man);
    one_datastore_info ds = {.ds_mad = "virtiofs", .base_path = base, .image_path = "hf://o/m",
                             .image_source = img};
    CHECK(one_datastore_owned_dir(&ds, &err) == HF_OK, "an hf:// import with its manifest is ours");
    ds.image_path = "/srv/models/llama";
    CHECK(one_datastore_owned_dir(&ds, &err) != HF_OK, "a directory registered in place is not");
    ds.image_path = "hf://o/m";
    char *outside = join(tmp, "elsewhere");
    ds.image_source = outside;
    CHECK(one_datastore_owned_dir(&ds, &err) != HF_OK && strstr(err.msg, "BASE_PATH"),
          "a SOURCE outside BASE_PATH is not ours: %s", err.msg);
    char *dotdot = join(base, "..");
    ds.image_source = dotdot;
    CHECK(one_datastore_owned_dir(&ds, &err) != HF_OK, "BASE_PATH/.. is not ours");
    char *deeper = join(img, ".hfhub");
    ds.image_source = deeper;
    CHECK(one_datastore_owned_dir(&ds, &err) != HF_OK, "a directory two levels down is not ours");
    char *plain = join(base, "plain");
    mkdir(plain, 0755);
    ds.image_source = plain;
    CHECK(one_datastore_owned_dir(&ds, &err) != HF_OK && strstr(err.msg, "manifest"),
          "a directory without hfhub's manifest is not ours");
    char *lnk = join(base, "link");
    symlink(img, lnk);
    ds.image_source = lnk;
    CHECK(one_datastore_owned_dir(&ds, &err) != HF_OK, "a symlink to an import is not followed");
    char *gone = join(base, "gone");
    ds.image_source = gone;
    CHECK(one_datastore_owned_dir(&ds, &err) == HF_ERR_NOT_FOUND, "a missing directory is told apart");
    free(base), free(img), free(dot), free(man), free(outside), free(dotdot), free(deeper);
    free(plain), free(lnk), free(gone);
}

int main(void)
{
    char tmpl[] = "/tmp/hfhub-unit-workdir-XXXXXX";
    char *tmp = mkdtemp(tmpl);
    CHECK(tmp != NULL, "scratch directory");
    if (!tmp)
        UNIT_DONE();
    workdirs(tmp);
    forms();
    owned_dirs(tmp);
    hf_error err;
    hf_remove_tree(tmp, &err);
    UNIT_DONE();
}
