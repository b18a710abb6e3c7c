"""JSON shapes of the Hub API, built from fixture objects (hub-api.md §1-§4, §9).

Pure functions: no HTTP here. Field sets and their order follow the recorded responses quoted
in the notes, so a client tested against the emulator sees what huggingface.co sends.
"""

from fixtures import ORGS, PAPERS, SPACES, model_config, object_id

# hub-api.md §1.1 (huggingface_hub ExpandModelProperty_T) + xetEnabled (hub-docs) + gitalyUid (HFJS).
MODEL_EXPANDABLE = [
    "author", "baseModels", "cardData", "childrenModelCount", "config", "createdAt", "disabled", "downloads",
    "downloadsAllTime", "evalResults", "gated", "gguf", "inference", "inferenceProviderMapping", "lastModified",
    "library_name", "likes", "mask_token", "model-index", "pipeline_tag", "private", "resourceGroup",
    "safetensors", "sha", "siblings", "spaces", "tags", "transformersInfo", "trendingScore", "usedStorage",
    "widgetData", "xetEnabled", "gitalyUid",
]
DATASET_EXPANDABLE = [
    "author", "cardData", "citation", "createdAt", "disabled", "description", "downloads", "downloadsAllTime",
    "gated", "lastModified", "likes", "paperswithcode_id", "private", "siblings", "sha", "tags", "trendingScore",
    "usedStorage", "resourceGroup", "xetEnabled", "gitalyUid",
]

_ABSENT = object()


def _prop(repo, commit, name, blobs=False):
    """Value of one model/dataset property at a commit; _ABSENT when the Hub would omit it."""
    if name == "author":
        return repo.author
    if name == "sha":
        return commit.sha
    if name == "lastModified":
        return commit.date
    if name == "createdAt":
        return repo.created_at
    if name == "private":
        return repo.private
    if name == "gated":
        return repo.gated
    if name == "disabled":
        return False
    if name == "downloads":
        return repo.downloads
    if name == "downloadsAllTime":
        return repo.downloads * 7 + 13
    if name == "likes":
        return repo.likes
    if name == "trendingScore":
        return repo.trending
    if name == "tags":
        return list(repo.tags)
    if name == "cardData":
        return repo.card_data
    if name == "siblings":
        return siblings(commit, blobs)
    if name == "usedStorage":
        return repo.used_storage()
    if name == "xetEnabled":
        return False
    if name == "gitalyUid":
        return object_id("gitaly", repo.key)
    if name == "resourceGroup":
        return _ABSENT
    if repo.repo_type == "dataset":
        if name == "description":
            return "An emulated dataset."
        if name == "citation":
            return None
        if name == "paperswithcode_id":
            return None
        return _ABSENT
    # model-only properties
    if name == "pipeline_tag":
        return repo.pipeline_tag if repo.pipeline_tag else _ABSENT
    if name == "library_name":
        return repo.library_name if repo.library_name else _ABSENT
    if name == "config":
        return model_config(repo, commit)
    if name == "gguf":
        return repo.gguf if repo.gguf else _ABSENT
    if name == "safetensors":
        st = repo.safetensors_info(commit)
        return st if st else _ABSENT
    if name == "transformersInfo":
        return getattr(repo, "transformers_info", {})
    if name == "widgetData":
        return [{"text": "Hello, my name is"}] if repo.pipeline_tag == "text-generation" else []
    if name == "model-index":
        return None
    if name == "spaces":
        return [s for s in SPACES if s.split("/")[0] == repo.author]
    if name == "mask_token":
        return "<mask>" if repo.pipeline_tag == "fill-mask" else _ABSENT
    if name == "inference":
        return _ABSENT
    if name == "inferenceProviderMapping":
        return []
    if name == "baseModels":
        base = repo.card_data.get("base_model")
        if not base:
            return _ABSENT
        return {"relation": "quantized" if repo.library_name == "gguf" else "finetune",
                "models": [{"id": m} for m in (base if isinstance(base, list) else [base])]}
    if name == "childrenModelCount":
        return 0
    if name == "evalResults":
        return []
    return _ABSENT


def siblings(commit, blobs=False):
    out = []
    for f in sorted(commit.files.values(), key=lambda f: f.path):
        s = {"rfilename": f.path}
        if blobs:
            s["blobId"] = f.git_oid
            s["size"] = f.size
            if f.lfs:
                # model-info uses sha256/pointerSize here, tree uses lfs.oid (hub-api.md §2.2).
                s["lfs"] = {"sha256": f.sha256, "size": f.size, "pointerSize": len(f.pointer)}
        out.append(s)
    return out


def _pick(repo, commit, names, blobs=False):
    out = {"_id": repo._id, "id": repo.id}
    for n in names:
        v = _prop(repo, commit, n, blobs)
        if v is not _ABSENT:
            out[n] = v
    return out


# Default listing fields, in the order of the recorded response (hub-api.md §1.2).
LIST_DEFAULT = ["likes", "trendingScore", "private", "downloads", "tags", "pipeline_tag", "library_name", "createdAt"]
LIST_FULL_EXTRA = ["author", "gated", "lastModified", "sha", "disabled", "siblings", "cardData"]
DATASET_LIST_DEFAULT = ["author", "sha", "lastModified", "private", "gated", "disabled", "likes", "trendingScore",
                        "downloads", "tags", "createdAt"]


def list_entry(repo, expand=None, full=False, card=False, config=False):
    """One element of GET /api/models (or /api/datasets)."""
    commit = repo.head
    if expand:
        return _pick(repo, commit, expand)
    if repo.repo_type == "dataset":
        names = list(DATASET_LIST_DEFAULT)
        if full:
            names.append("siblings")
        if card or full:
            names.append("cardData")
        out = _pick(repo, commit, names)
        return out
    names = list(LIST_DEFAULT)
    if full:
        names += LIST_FULL_EXTRA
    elif card:
        names.append("cardData")
    if config:
        names.append("config")
    out = _pick(repo, commit, names)
    out["modelId"] = repo.id  # legacy alias, absent in expand mode (hub-api.md §1.1)
    return out


# Model-info default fields (hub-api.md §2.1 recorded key set).
INFO_DEFAULT = ["private", "pipeline_tag", "library_name", "tags", "downloads", "likes", "modelId", "author", "sha",
                "lastModified", "gated", "inference", "disabled", "mask_token", "widgetData", "model-index", "config",
                "cardData", "transformersInfo", "siblings", "spaces", "createdAt", "safetensors", "gguf",
                "usedStorage"]
DATASET_INFO_DEFAULT = ["author", "sha", "lastModified", "private", "gated", "disabled", "tags", "downloads", "likes",
                        "cardData", "siblings", "createdAt", "description", "citation", "paperswithcode_id",
                        "usedStorage"]


def repo_info(repo, commit, expand=None, blobs=False, security=False):
    if expand:
        return _pick(repo, commit, expand, blobs)
    names = INFO_DEFAULT if repo.repo_type == "model" else DATASET_INFO_DEFAULT
    out = {"_id": repo._id, "id": repo.id}
    for n in names:
        if n == "modelId":
            out["modelId"] = repo.id
            continue
        v = _prop(repo, commit, n, blobs)
        if v is not _ABSENT:
            out[n] = v
    if security:
        out["securityRepoStatus"] = {"scansDone": True, "filesWithIssues": []}
    return out


# -- tree ----------------------------------------------------------------------------------------

def _last_commit(repo, commit, path):
    """Oldest commit (walking back from `commit`) since which `path` is unchanged."""
    idx = repo.commits.index(commit)
    ident = _path_identity(commit, path)
    last = commit
    for c in repo.commits[idx + 1:]:
        if _path_identity(c, path) != ident:
            break
        last = c
    return {"id": last.sha, "title": last.title, "date": last.date}


def _path_identity(commit, path):
    f = commit.files.get(path)
    if f is not None:
        return f.identity
    prefix = path + "/"
    return tuple(sorted((p, g.identity) for p, g in commit.files.items() if p.startswith(prefix))) or None


class Tree:
    """Directory structure of one commit, with real git tree ids computed on demand."""

    def __init__(self, commit):
        self.commit = commit
        self.dirs = {"": set()}
        for p in commit.files:
            parts = p.split("/")
            for i in range(1, len(parts)):
                d = "/".join(parts[:i])
                parent = "/".join(parts[:i - 1])
                self.dirs.setdefault(d, set())
                self.dirs[parent].add((parts[i - 1], True))
            self.dirs["/".join(parts[:-1])].add((parts[-1], False))
        self._oids = {}

    def dir_oid(self, d):
        if d not in self._oids:
            from content import git_tree_sha1
            entries = []
            for name, is_dir in self.dirs[d]:
                full = d + "/" + name if d else name
                entries.append((name, is_dir, self.dir_oid(full) if is_dir else self.commit.files[full].git_oid))
            self._oids[d] = git_tree_sha1(entries)
        return self._oids[d]

    def listing(self, d, recursive):
        """Paths under directory d: children sorted by name, directories before their contents."""
        out = []
        for name, is_dir in sorted(self.dirs[d]):
            full = d + "/" + name if d else name
            out.append((full, is_dir))
            if is_dir and recursive:
                out.extend(self.listing(full, True))
        return out


def tree_entry(repo, commit, tree, path, is_dir, expand=False):
    if is_dir:
        e = {"type": "directory", "oid": tree.dir_oid(path), "size": 0, "path": path}
    else:
        f = commit.files[path]
        e = {"type": "file", "oid": f.git_oid, "size": f.size, "path": path}
        if f.lfs:
            e["lfs"] = {"oid": f.sha256, "size": f.size, "pointerSize": len(f.pointer)}
        # Never `xetHash`: clients would switch to the Xet protocol (hub-api.md §5.6).
    if expand:
        e["lastCommit"] = _last_commit(repo, commit, path)
        if not is_dir:
            e["securityFileStatus"] = {"status": "safe", "avScan": {"virusFound": False},
                                       "pickleImportScan": None}
    return e


def refs(repo, include_prs=False):
    out = {"branches": [{"name": n, "ref": "refs/heads/" + n, "targetCommit": c.sha} for n, c in repo.branches.items()],
           "converts": [],
           "tags": [{"name": n, "ref": "refs/tags/" + n, "targetCommit": c.sha} for n, c in repo.tag_refs.items()]}
    if include_prs:
        out["pullRequests"] = []
    return out


# -- collections ---------------------------------------------------------------------------------

def namespace_overview(fixtures, kind, name):
    """/api/organizations/{name}/overview (kind 'org') or /api/users/{name}/overview ('user')."""
    n_models = sum(1 for r in fixtures.models if r.author == name and not r.private)
    out = {"_id": object_id(kind, name), "avatarUrl": "https://cdn-avatars.example/%s.png" % name,
           "fullname": ORGS.get(name, name) if kind == "org" else name, "name": name, "type": kind,
           "numModels": n_models, "numDatasets": sum(1 for d in fixtures.datasets if d.author == name),
           "numSpaces": 0, "numFollowers": len(name) * 11}
    if kind == "org":
        out.update({"isVerified": False, "isEnterprise": False, "numUsers": 3})
    else:
        out.update({"user": name, "isPro": False, "numLikes": 0})
    return out


def _owner(name):
    return {"_id": object_id("org", name), "avatarUrl": "https://cdn-avatars.example/%s.png" % name,
            "fullname": ORGS.get(name, name), "name": name, "type": "org", "isHf": False, "isHfAdmin": False,
            "isMod": False, "followerCount": len(name) * 11, "isUserFollowing": False}


def collection(fixtures, c, max_items=None):
    items = []
    for pos, (kind, ident) in enumerate(c["items"]):
        base = {"_id": object_id("item", "%s:%s:%s" % (c["id"], kind, ident)), "position": pos, "type": kind}
        if kind in ("model", "dataset"):
            r = fixtures.repo(kind, ident)
            base.update({"id": ident, "repoType": kind, "author": r.author, "downloads": r.downloads,
                         "gated": r.gated, "isLikedByUser": False, "lastModified": r.last_modified,
                         "likes": r.likes, "private": r.private})
            if kind == "model":
                base["authorData"] = _owner(r.author)
                base["availableInferenceProviders"] = []
                if r.pipeline_tag:
                    base["pipeline_tag"] = r.pipeline_tag
                if pos == 0:
                    base["note"] = {"html": "Our <b>default</b> pick", "text": "Our default pick"}
            else:
                base.update({"isBenchmark": False, "isTraces": False})
        elif kind == "space":
            s = SPACES[ident]
            base.update({"id": ident, "repoType": "space", "author": ident.split("/")[0], "sdk": s["sdk"],
                         "title": s["title"], "emoji": s["emoji"], "colorFrom": "blue", "colorTo": "green",
                         "likes": 5, "lastModified": "2025-03-01T10:00:00.000Z", "private": False,
                         "runtime": {"stage": "RUNNING"}, "isLikedByUser": False})
        elif kind == "paper":
            p = PAPERS[ident]
            base.update({"id": ident, "title": p["title"], "publishedAt": p["publishedAt"], "upvotes": 120,
                         "thumbnailUrl": "https://cdn-thumbnails.example/papers/%s.png" % ident,
                         "isUpvotedByUser": False})
        elif kind == "collection":
            ns, rest = ident.split("/", 1)
            sub = fixtures.collections_by_id[rest[-24:]]
            base.update({"id": sub["id"], "slug": ident, "title": sub["title"], "numberItems": len(sub["items"]),
                         "owner": _owner(sub["owner"]), "shareUrl": "https://hf.co/collections/" + ident,
                         "theme": sub["theme"], "upvotes": sub["upvotes"], "isUpvotedByUser": False,
                         "lastUpdated": _coll_updated(fixtures, sub), "description": sub["description"]})
        items.append(base)
    if max_items is not None:
        items = items[:max_items]
    slug = "%s/%s-%s" % (c["owner"], c["slug"], c["id"])
    return {"slug": slug, "title": c["title"], "description": c["description"], "gating": False,
            "lastUpdated": _coll_updated(fixtures, c), "owner": _owner(c["owner"]), "items": items,
            "theme": c["theme"], "private": False, "position": 0,
            "shareUrl": "https://hf.co/collections/" + slug, "upvotes": c["upvotes"], "isUpvotedByUser": False}


def _coll_updated(fixtures, c):
    dates = [fixtures.repo(k, i).last_modified for k, i in c["items"] if k in ("model", "dataset")]
    return max(dates) if dates else "2025-01-01T00:00:00.000Z"
