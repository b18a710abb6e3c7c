"""The Hub emulator's fixture set: models, datasets, collections, users and tokens.

Everything is deterministic (seeded by repo id), built in memory at startup without hashing any
file, so startup stays fast. Each model row below names the edge cases it exists for (licence
placement, chat-template placement, gating, hostile strings...). `dump()` gives tests the facts a
correct client must derive from the emulator's answers.
"""

import hashlib
import json
import random
from datetime import datetime, timedelta, timezone

from content import FileSpec, gguf_head, safetensors_head

# -- tokens and users ---------------------------------------------------------------------------
# `hf_` + >= 34 alphanumerics, so clients that validate token syntax (llama.cpp) send them.
TOKEN_GRANTED = "hf_EmulatorGrantedToken00000000000000001"
TOKEN_UNAPPROVED = "hf_EmulatorUnapprovedToken000000000000002"

USERS = {
    "granted": {"name": "emu-granted", "fullname": "Emulator Granted User",
                "orgs": ["acme-ai", "ONEnextgen"], "token_name": "emulator-granted"},
    "unapproved": {"name": "emu-unapproved", "fullname": "Emulator Unapproved User",
                   "orgs": [], "token_name": "emulator-unapproved"},
}


def classify_token(token):
    """'granted' | 'unapproved' | 'invalid' for a bearer token string."""
    if token == TOKEN_GRANTED:
        return "granted"
    if token == TOKEN_UNAPPROVED:
        return "unapproved"
    return "invalid"


# -- chat templates (short but real Jinja) ------------------------------------------------------
CHATML = ("{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content']"
          " + '<|im_end|>' + '\\n' }}{% endfor %}{% if add_generation_prompt %}"
          "{{ '<|im_start|>assistant\\n' }}{% endif %}")
LLAMA3 = ("{{ bos_token }}{% for message in messages %}{{ '<|start_header_id|>' + message['role'] + "
          "'<|end_header_id|>\\n\\n' + message['content'] | trim + '<|eot_id|>' }}{% endfor %}"
          "{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{% endif %}")
INST = ("{{ bos_token }}{% for message in messages %}{% if message['role'] == 'user' %}"
        "{{ '[INST] ' + message['content'] + ' [/INST]' }}{% else %}{{ message['content'] + eos_token }}"
        "{% endif %}{% endfor %}")
TOOL_USE = ("{{ bos_token }}{% if tools %}{{ '<tools>' + tools | tojson + '</tools>' }}{% endif %}"
            "{% for message in messages %}{{ '<|' + message['role'] + '|>' + message['content'] }}{% endfor %}")
GEMMA = ("{{ bos_token }}{% for message in messages %}{{ '<start_of_turn>' + message['role'] + '\\n' + "
         "message['content'] | trim + '<end_of_turn>\\n' }}{% endfor %}{% if add_generation_prompt %}"
         "{{ '<start_of_turn>model\\n' }}{% endif %}")

# Strings that break naive template writers, shells, XML and JSON (opennebula.md §2).
HOSTILE = {
    "quote": 'say "hello"',
    "backslash": "C:\\models\\emu",
    "trailing_backslash": "ends-with-backslash\\",
    "newline": 'line one\nNAME="injected"\nline three',
    "dollar": "costs $5 ${HOME} $(id) `id`",
    "braces": "{{ not a template }} {x}",
    "single_quote": "it's O'Brien's",
    "hash": "#not-a-comment # really",
    "tab": "col1\tcol2",
    "unicode": "caf\u00e9 \u65e5\u672c\u8a9e \U0001F680",
    "markup": "<b>&amp; ]]> </APP>",
}

AUTO_MODEL = {
    "text-generation": "AutoModelForCausalLM", "text-classification": "AutoModelForSequenceClassification",
    "token-classification": "AutoModelForTokenClassification", "fill-mask": "AutoModelForMaskedLM",
    "feature-extraction": "AutoModel", "automatic-speech-recognition": "AutoModelForSpeechSeq2Seq",
    "translation": "AutoModelForSeq2SeqLM", "text2text-generation": "AutoModelForSeq2SeqLM",
    "image-classification": "AutoModelForImageClassification",
    "zero-shot-image-classification": "AutoModelForZeroShotImageClassification",
    "image-text-to-text": "AutoModelForImageTextToText", "text-to-speech": "AutoModelForTextToWaveform",
}

EPOCH = datetime(2023, 1, 2, 9, 0, 0, tzinfo=timezone.utc)


def iso(dt):
    return dt.strftime("%Y-%m-%dT%H:%M:%S.000Z")


def object_id(kind, key):
    """24-hex Mongo-like id, deterministic."""
    return hashlib.sha1(("%s:%s" % (kind, key)).encode()).hexdigest()[:24]


def commit_sha(repo_key, n):
    return hashlib.sha1(("hfhub-emulator commit %s %d" % (repo_key, n)).encode()).hexdigest()


_JDUMP_CACHE = {}


def jdump(obj):
    """Indented JSON file bytes. Indenting uses the slow pure-Python encoder, and most generated
    files repeat across models, so results are memoized on the fast compact encoding."""
    key = json.dumps(obj, ensure_ascii=False, separators=(",", ":"))
    out = _JDUMP_CACHE.get(key)
    if out is None:
        out = _JDUMP_CACHE[key] = (json.dumps(obj, indent=2, ensure_ascii=False) + "\n").encode()
    return out


class Commit:
    def __init__(self, sha, date, title, files):
        self.sha = sha
        self.date = date            # ISO string
        self.title = title
        self.files = files          # path -> FileSpec


class Repo:
    """One model or dataset repository with its commits and Hub metadata."""

    def __init__(self, repo_type, repo_id, **kw):
        self.repo_type = repo_type
        self.id = repo_id
        self.author, self.name = repo_id.split("/", 1)
        self.key = ("datasets/" if repo_type == "dataset" else "") + repo_id
        self._id = object_id(repo_type, repo_id)
        self.private = kw.get("private", False)
        self.gated = kw.get("gated", False)
        self.downloads = kw["downloads"]
        self.likes = kw["likes"]
        self.trending = kw["trending"]
        self.created_at = kw["created_at"]
        self.library_name = kw.get("library_name")
        self.pipeline_tag = kw.get("pipeline_tag")
        self.tags = kw.get("tags", [])
        self.card_data = kw.get("card_data", {})
        self.commits = kw["commits"]            # newest first
        self.branches = kw.get("branches") or {"main": self.commits[0]}
        self.tag_refs = kw.get("tag_refs") or {}
        self.hide_tokenizer_config = kw.get("hide_tokenizer_config", False)
        self.config = kw.get("config", {})       # model-info `config` base (architectures...)
        self.gguf = kw.get("gguf")
        self.chat = kw.get("chat")
        self.extra_history = kw.get("extra_history", 0)

    @property
    def head(self):
        return self.branches["main"]

    @property
    def last_modified(self):
        return self.head.date

    def resolve_rev(self, rev):
        """Commit for a branch, tag, 'HEAD', refs/... name or full 40-hex sha; None if unknown."""
        if rev == "HEAD":
            return self.head
        for prefix, table in (("refs/heads/", self.branches), ("refs/tags/", self.tag_refs)):
            if rev.startswith(prefix) and rev[len(prefix):] in table:
                return table[rev[len(prefix):]]
        if rev in self.branches:
            return self.branches[rev]
        if rev in self.tag_refs:
            return self.tag_refs[rev]
        if len(rev) == 40:
            for c in self.commits:
                if c.sha == rev:
                    return c
        return None

    def used_storage(self):
        # History counts: every distinct blob ever committed, plus objects of deleted history.
        seen = {}
        for c in self.commits:
            for f in c.files.values():
                seen[f.identity] = f.size
        return sum(seen.values()) + self.extra_history

    def safetensors_info(self, commit):
        params = {}
        for f in commit.files.values():
            st = getattr(f, "safetensors", None)
            if st:
                dtype, count = st
                params[dtype] = params.get(dtype, 0) + count
        if not params:
            return None
        return {"parameters": params, "total": sum(params.values())}


# -- chat template detection as hub-api.md §8 defines it -----------------------------------------

def chat_template_source(repo, commit):
    """Where a client finds a chat template at this commit: first source of §8's order, or None."""
    files = commit.files
    if "chat_template.jinja" in files:
        return "chat_template.jinja"
    if any(p.startswith("additional_chat_templates/") and p.endswith(".jinja") for p in files):
        return "additional_chat_templates"
    tc = files.get("tokenizer_config.json")
    if tc is not None and "chat_template" in json.loads(tc.data):
        return "tokenizer_config.json"
    for name in ("chat_template.json", "processor_config.json"):
        if name in files and "chat_template" in json.loads(files[name].data):
            return name
    if repo.gguf and "chat_template" in repo.gguf:
        return "gguf"
    return None


def model_config(repo, commit):
    """Model-info `config`: config.json subset + tokenizer_config subset + chat_template_jinja."""
    files = commit.files
    cfg = {}
    if "config.json" in files:
        raw = json.loads(files["config.json"].data)
        for k in ("architectures", "model_type", "quantization_config"):
            if k in raw:
                cfg[k] = raw[k]
    cfg.update(repo.config)
    tc = files.get("tokenizer_config.json")
    if tc is not None and not repo.hide_tokenizer_config:
        raw = json.loads(tc.data)
        cfg["tokenizer_config"] = {k: raw[k] for k in ("bos_token", "eos_token", "pad_token", "unk_token",
                                                       "chat_template") if k in raw}
    for name in ("chat_template.json", "processor_config.json"):
        if name in files:
            raw = json.loads(files[name].data)
            if "chat_template" in raw:
                cfg.setdefault("processor_config", {})["chat_template"] = raw["chat_template"]
    if "chat_template.jinja" in files:
        cfg["chat_template_jinja"] = files["chat_template.jinja"].data.decode()
    return cfg


def derived_license(repo):
    """Licence a client should report. Rule: the `license:` tags in tag order, else
    cardData.license; several values joined with ', '. `other` stays `other` (license_name and
    license_link are reported separately)."""
    from_tags = [t[len("license:"):] for t in repo.tags if t.startswith("license:")]
    if from_tags:
        return ", ".join(from_tags)
    lic = repo.card_data.get("license")
    if isinstance(lic, list):
        return ", ".join(lic)
    return lic


# -- building one model --------------------------------------------------------------------------

GITATTRIBUTES = "".join("%s filter=lfs diff=lfs merge=lfs -text\n" % p for p in (
    "*.7z", "*.arrow", "*.bin", "*.bz2", "*.ckpt", "*.gguf", "*.gz", "*.h5", "*.joblib", "*.model",
    "*.msgpack", "*.npy", "*.npz", "*.onnx", "*.ot", "*.parquet", "*.pb", "*.pickle", "*.pkl", "*.pt",
    "*.pth", "*.rar", "*.safetensors", "saved_model/**/*", "*.tar.*", "*.tflite", "*.xz", "*.zip",
    "*.zst", "*tfevents*")).encode()

LFS_SUFFIXES = (".bin", ".gguf", ".h5", ".model", ".onnx", ".parquet", ".safetensors", ".pt")


def yaml_front_matter(card):
    # JSON scalars are valid YAML flow scalars, and escape every hostile character safely.
    lines = ["---"]
    for k, v in card.items():
        lines.append("%s: %s" % (k, json.dumps(v, ensure_ascii=False)))
    lines.append("---")
    return "\n".join(lines) + "\n"


class _Builder:
    """Collects the files of one commit."""

    def __init__(self, repo_key, rng, variant):
        self.key = repo_key
        self.rng = rng
        self.variant = variant
        self.files = {}

    def text(self, path, data):
        if isinstance(data, str):
            data = data.encode()
        self.files[path] = FileSpec(path, data)

    def json(self, path, obj):
        self.files[path] = FileSpec(path, jdump(obj))

    def lfs(self, path, size, head=b""):
        f = FileSpec(path, lfs=True, size=size, seed="%s@%s:%s" % (self.key, self.variant, path), head=head)
        self.files[path] = f
        return f

    def safetensors(self, path, size, tensor):
        head, count = safetensors_head(size, tensor)
        f = self.lfs(path, size, head)
        f.safetensors = ("BF16", count)
        return f

    def size(self, base):
        """A size near `base`, varied per file (exercises odd lengths)."""
        return max(2048, int(base * self.rng.uniform(0.6, 1.4)) + self.rng.randrange(0, 4096))


def _tokenizer_files(b, chat, template, tokens):
    bos, eos = tokens
    tc = {"add_bos_token": True, "bos_token": bos, "eos_token": eos, "pad_token": None,
          "unk_token": "<unk>", "model_max_length": 131072, "tokenizer_class": "PreTrainedTokenizerFast",
          "clean_up_tokenization_spaces": False}
    if chat in ("string", "hidden"):
        tc["chat_template"] = template
    elif chat == "list":
        tc["chat_template"] = [{"name": "default", "template": template},
                               {"name": "tool_use", "template": TOOL_USE}]
    b.json("tokenizer_config.json", tc)
    b.json("special_tokens_map.json", {"bos_token": bos, "eos_token": eos, "unk_token": "<unk>"})
    b.json("tokenizer.json", {"version": "1.0", "added_tokens": [{"id": 0, "content": "<unk>"},
                                                                 {"id": 1, "content": bos},
                                                                 {"id": 2, "content": eos}],
                              "model": {"type": "BPE", "vocab": {"a": 3, "b": 4, "ab": 5}, "merges": ["a b"]}})
    if chat == "jinja":
        b.text("chat_template.jinja", template)
    if chat == "processor":
        b.json("chat_template.json", {"chat_template": template})
        b.json("processor_config.json", {"processor_class": "PixtralProcessor", "patch_size": 16})
    if chat == "additional":
        b.text("additional_chat_templates/tool_use.jinja", TOOL_USE)


def _weight_files(b, spec, arch):
    kind = spec[0]
    if kind == "st":
        b.safetensors("model.safetensors", b.size(spec[1]), "model.embed_tokens.weight")
    elif kind == "shards":
        n, base = spec[1], spec[2]
        weight_map, total = {}, 0
        for i in range(1, n + 1):
            name = "model-%05d-of-%05d.safetensors" % (i, n)
            f = b.safetensors(name, b.size(base), "model.layers.%d.weight" % i)
            weight_map["model.layers.%d.weight" % i] = name
            total += f.safetensors[1] * 2
        b.json("model.safetensors.index.json", {"metadata": {"total_size": total}, "weight_map": weight_map})
    elif kind == "bin":
        b.lfs("pytorch_model.bin", b.size(spec[1]))
    elif kind == "bin_shards":
        n, base = spec[1], spec[2]
        weight_map = {}
        for i in range(1, n + 1):
            name = "pytorch_model-%05d-of-%05d.bin" % (i, n)
            b.lfs(name, b.size(base))
            weight_map["model.layers.%d.weight" % i] = name
        b.json("pytorch_model.bin.index.json", {"metadata": {"total_size": 0}, "weight_map": weight_map})
    elif kind == "onnx":
        b.lfs("onnx/model.onnx", b.size(spec[1]))
        b.lfs("onnx/quantized/model_q4.onnx", b.size(spec[1] // 4))  # a two-level directory
        b.json("onnx/config.json", {"opset": 17})
    elif kind == "h5":
        b.lfs("tf_model.h5", b.size(spec[1]))
    elif kind == "sp":
        b.lfs("tokenizer.model", b.size(spec[1]))
    elif kind == "sentence":
        b.json("modules.json", [{"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
                                {"idx": 1, "name": "1", "path": "1_Pooling",
                                 "type": "sentence_transformers.models.Pooling"}])
        b.json("sentence_bert_config.json", {"max_seq_length": 512, "do_lower_case": False})
        b.json("config_sentence_transformers.json", {"__version__": {"sentence_transformers": "3.0.1"}})
        b.json("1_Pooling/config.json", {"word_embedding_dimension": 384, "pooling_mode_mean_tokens": True})
    elif kind == "diffusers":
        b.json("model_index.json", {"_class_name": "StableDiffusionPipeline", "_diffusers_version": "0.30.0",
                                    "scheduler": ["diffusers", "EulerDiscreteScheduler"],
                                    "text_encoder": ["transformers", "CLIPTextModel"],
                                    "tokenizer": ["transformers", "CLIPTokenizer"],
                                    "unet": ["diffusers", "UNet2DConditionModel"],
                                    "vae": ["diffusers", "AutoencoderKL"]})
        b.json("scheduler/scheduler_config.json", {"_class_name": "EulerDiscreteScheduler", "num_train_timesteps": 1000})
        b.json("text_encoder/config.json", {"architectures": ["CLIPTextModel"], "model_type": "clip_text_model"})
        b.safetensors("text_encoder/model.safetensors", b.size(spec[1]), "text_model.embeddings.weight")
        b.json("tokenizer/tokenizer_config.json", {"model_max_length": 77, "bos_token": "<|startoftext|>",
                                                   "eos_token": "<|endoftext|>"})
        b.text("tokenizer/merges.txt", "#version: 0.2\na b\nab c\n")
        b.json("tokenizer/vocab.json", {"a": 0, "b": 1, "ab": 2, "c": 3})
        b.json("unet/config.json", {"_class_name": "UNet2DConditionModel", "sample_size": 64})
        b.safetensors("unet/diffusion_pytorch_model.safetensors", b.size(spec[1] * 2), "conv_in.weight")
        b.json("vae/config.json", {"_class_name": "AutoencoderKL", "latent_channels": 4})
        b.safetensors("vae/diffusion_pytorch_model.safetensors", b.size(spec[1]), "decoder.conv_in.weight")
    elif kind == "lora":
        b.safetensors("pytorch_lora_weights.safetensors", b.size(spec[1]), "unet.lora.down.weight")
    elif kind == "gguf":
        quants, base, meta = spec[1], spec[2], spec[3]
        stem = b.key.split("/", 1)[1].replace("-GGUF", "").replace("-gguf", "")
        for q in quants:
            b.lfs("%s-%s.gguf" % (stem, q), b.size(base), head=gguf_head(meta))
    else:
        raise ValueError(kind)


def _random_dates(rng):
    created = EPOCH + timedelta(days=rng.randrange(0, 900), seconds=rng.randrange(0, 86400))
    modified = created + timedelta(days=rng.randrange(1, 300), seconds=rng.randrange(0, 86400))
    return created, modified


def build_model(row):
    """Turn one catalog row (a dict) into a Repo."""
    rid = row["id"]
    rng = random.Random("hfhub-emulator:" + rid)
    pipeline = row.get("task")
    library = row.get("lib", "transformers")
    chat = row.get("chat", "none")
    template = row.get("template", CHATML)
    lic = row.get("lic")
    created, modified = _random_dates(rng)
    downloads = row.get("downloads", rng.randrange(10, 5_000_000))
    likes = row.get("likes", rng.randrange(0, 5000))
    trending = row.get("trending", rng.randrange(0, 400))

    # Licence placement (tag, cardData, both, other+name/link, list).
    tags, card = [], {}
    if lic:
        how, val = lic[0], lic[1]
        if how in ("both", "tag"):
            tags.append("license:" + val)
        if how in ("both", "card"):
            card["license"] = val
        if how == "other":
            tags.append("license:other")
            card.update({"license": "other", "license_name": val, "license_link": lic[2]})
        if how == "list":
            tags.extend("license:" + v for v in val)
            card["license"] = list(val)
    card.update(row.get("card", {}))
    if pipeline:
        card.setdefault("pipeline_tag", pipeline)
    if library:
        card.setdefault("library_name", library)
    card.setdefault("language", ["en"])
    if row.get("gated"):
        card.setdefault("extra_gated_prompt", "You agree to the %s licence terms." % rid)

    gguf_info = None
    commits = []
    variants = row.get("history", [None])  # newest first; each entry may override fields
    n_commits = len(variants)
    for ci, override in enumerate(variants):
        override = override or {}
        vchat = override.get("chat", chat)
        vweights = override.get("weights", row.get("weights", [("st", 200_000)]))
        b = _Builder(rid, random.Random("hfhub-emulator:%s:%d" % (rid, ci)), "c%d" % (n_commits - 1 - ci))
        b.text(".gitattributes", GITATTRIBUTES)
        if library not in ("gguf", "diffusers") and not row.get("no_config"):
            b.json("config.json", {"architectures": [row.get("arch", "LlamaForCausalLM")],
                                   "model_type": row.get("mtype", "llama"), "hidden_size": 2048,
                                   "num_hidden_layers": 16, "vocab_size": 32000, "torch_dtype": "bfloat16",
                                   "transformers_version": "4.46.0", "emulator_revision": b.variant})
        if vchat not in ("no_tokenizer", "gguf", "gguf_none") and library not in ("gguf", "diffusers"):
            _tokenizer_files(b, vchat, template, row.get("tokens", ("<s>", "</s>")))
        for spec in vweights:
            if spec[0] == "gguf":
                meta = {"general.architecture": row.get("mtype", "llama"), "general.name": rid,
                        "%s.context_length" % row.get("mtype", "llama"): 8192,
                        "tokenizer.ggml.bos_token_id": 1, "tokenizer.ggml.eos_token_id": 2}
                if vchat == "gguf":
                    meta["tokenizer.chat_template"] = template
                spec = (spec[0], spec[1], spec[2], meta)
            _weight_files(b, spec, row.get("arch"))
        card_for_readme = dict(card)
        b.text("README.md", yaml_front_matter(card_for_readme) + "\n# %s\n\n%s\n" % (
            rid.split("/")[1], row.get("description", "An emulated model for hfhub tests.")))
        for extra_path, extra_data in override.get("extra_files", {}).items():
            b.text(extra_path, extra_data)
        date = modified - timedelta(days=30 * ci)
        commits.append(Commit(commit_sha(rid, n_commits - 1 - ci), iso(date),
                              override.get("title", "Upload folder using huggingface_hub"), b.files))
        if ci == 0 and library == "gguf":
            ggufs = [f for f in b.files.values() if f.path.endswith(".gguf")]
            gguf_info = {"total": row.get("params", 1_000_000_000), "architecture": row.get("mtype", "llama"),
                         "context_length": 8192, "bos_token": "<bos>", "eos_token": "<eos>",
                         "totalFileSize": sum(f.size for f in ggufs)}
            if vchat == "gguf":
                gguf_info["chat_template"] = template

    head = commits[0]
    # Hub-computed tags: library, file formats, task, conversational, licence, region.
    auto = []
    if library:
        auto.append(library)
    if any(p.endswith(".safetensors") for p in head.files):
        auto.append("safetensors")
    if any(p.endswith(".bin") for p in head.files) and library != "gguf":
        auto.append("pytorch")
    if any(p.endswith(".onnx") for p in head.files):
        auto.append("onnx")
    if any(p.endswith(".gguf") for p in head.files) and "gguf" not in auto:
        auto.append("gguf")
    if row.get("mtype") and library != "diffusers":
        auto.append(row["mtype"])
    if pipeline:
        auto.append(pipeline)
    tmp_repo = Repo("model", rid, downloads=0, likes=0, trending=0, created_at="", commits=commits,
                    gguf=gguf_info)
    if chat_template_source(tmp_repo, head) and not row.get("hide_tokenizer_config"):
        auto.append("conversational")  # the Hub adds it to chat models
    auto += row.get("tags", [])
    auto.append("en")
    auto += tags
    if library == "transformers" and pipeline:
        auto += ["text-generation-inference", "endpoints_compatible"] if pipeline == "text-generation" \
            else ["endpoints_compatible"]
    auto.append("region:us")
    seen = set()
    all_tags = [t for t in auto if not (t in seen or seen.add(t))]

    tag_refs = {}
    if n_commits > 1:
        tag_refs = {row.get("tag_name", "v1.0"): commits[-1]}
    repo = Repo("model", rid, private=row.get("private", False), gated=row.get("gated", False),
                downloads=downloads, likes=likes, trending=trending, created_at=iso(created),
                library_name=library, pipeline_tag=pipeline, tags=all_tags, card_data=card,
                commits=commits, tag_refs=tag_refs, hide_tokenizer_config=row.get("hide_tokenizer_config", False),
                gguf=gguf_info, chat=chat, extra_history=rng.randrange(10_000, 3_000_000))
    repo.transformers_info = {}
    if library == "transformers" and pipeline in AUTO_MODEL:
        repo.transformers_info = {"auto_model": AUTO_MODEL[pipeline], "pipeline_tag": pipeline,
                                  "processor": "AutoTokenizer"}
    return repo


# -- the catalog --------------------------------------------------------------------------------
# One row per model. Keys: id, task, lib, arch, mtype, lic, chat, template, weights, tags, card,
# gated, private, hide_tokenizer_config, history, description, downloads, likes, trending.

HOSTILE_TAGS = [HOSTILE["quote"], HOSTILE["backslash"], HOSTILE["trailing_backslash"], HOSTILE["newline"],
                HOSTILE["dollar"], HOSTILE["braces"], HOSTILE["single_quote"], HOSTILE["hash"], HOSTILE["tab"],
                HOSTILE["unicode"], HOSTILE["markup"]]

HOSTILE_DESCRIPTION = ('A "model" with \\ backslashes, $VARS, {braces}, it\'s #1\n'
                       'NAME="evil" ; rm -rf / \t tab, caf\u00e9 \u65e5\u672c\u8a9e \U0001F916 and a trailing backslash\\')

CATALOG = [
    # ONEnextgen: the OpenNebula-certified org.
    dict(id="ONEnextgen/Qwen2.5-1.5B-Instruct-emu", task="text-generation", arch="Qwen2ForCausalLM",
         mtype="qwen2", lic=("both", "apache-2.0"), chat="jinja", template=CHATML,
         weights=[("shards", 2, 300_000)], tags=["chat"], downloads=4_900_000, likes=4200, trending=380,
         tokens=("<|endoftext|>", "<|im_end|>"),
         # Two commits: main has chat_template.jinja and shards; tag v1.0 is older, with the
         # template inline in tokenizer_config.json and a single model.safetensors.
         history=[None, {"chat": "string", "weights": [("st", 250_000)], "title": "Initial release"}]),
    dict(id="ONEnextgen/Llama-3.1-8B-Instruct-emu", task="text-generation", arch="LlamaForCausalLM",
         mtype="llama", lic=("both", "llama3.1"), chat="string", template=LLAMA3,
         weights=[("shards", 2, 400_000), ("sp", 20_000)], tokens=("<|begin_of_text|>", "<|eot_id|>")),
    dict(id="ONEnextgen/Mistral-7B-Instruct-v0.3-emu", task="text-generation", arch="MistralForCausalLM",
         mtype="mistral", lic=("tag", "apache-2.0"), chat="list", template=INST,
         weights=[("st", 500_000), ("sp", 30_000)]),
    dict(id="ONEnextgen/gemma-3-1b-it-GGUF-emu", task="text-generation", lib="gguf", mtype="gemma3",
         lic=("card", "gemma"), chat="gguf", template=GEMMA, weights=[("gguf", ["Q4_K_M", "Q8_0"], 300_000)],
         card={"base_model": ["ONEnextgen/gemma-3-1b-it-emu"]}, tags=["base_model:quantized:ONEnextgen/gemma-3-1b-it-emu"]),
    dict(id="ONEnextgen/bge-small-en-emu", task="feature-extraction", lib="sentence-transformers",
         arch="BertModel", mtype="bert", lic=("both", "mit"), chat="none",
         weights=[("st", 120_000), ("onnx", 130_000), ("sentence",)], tags=["sentence-similarity"]),
    dict(id="ONEnextgen/stable-diffusion-emu", task="text-to-image", lib="diffusers", lic=("both", "openrail++"),
         chat="no_tokenizer", weights=[("diffusers", 150_000)], tags=["stable-diffusion"]),
    dict(id="ONEnextgen/whisper-tiny-emu", task="automatic-speech-recognition", arch="WhisperForConditionalGeneration",
         mtype="whisper", lic=("both", "apache-2.0"), chat="none", weights=[("st", 150_000), ("bin", 150_000)]),
    dict(id="ONEnextgen/hostile-strings-emu", task="text-generation", arch="LlamaForCausalLM", mtype="llama",
         lic=("other", 'Emu "Special" Licence v1 \\ caf\u00e9 \u65e5\u672c\u8a9e\\',
              "https://example.com/licence?a=1&b=%22two%22#sec"),
         chat="string", weights=[("st", 60_000)], tags=HOSTILE_TAGS,
         card={"description": HOSTILE_DESCRIPTION, "model_name": 'hostile "name" $x {y} #z \\',
               "tags": HOSTILE_TAGS},
         description=HOSTILE_DESCRIPTION),
    # Chat template in tokenizer_config.json but model-info `config` carries no tokenizer_config:
    # a client has to fetch the file to know.
    dict(id="ONEnextgen/phi-3-mini-emu", task="text-generation", arch="Phi3ForCausalLM", mtype="phi3",
         lic=("both", "mit"), chat="hidden", template=CHATML, hide_tokenizer_config=True,
         weights=[("st", 350_000)]),
    dict(id="ONEnextgen/no-pipeline-emu", task=None, lib=None, lic=("both", "apache-2.0"), chat="none",
         arch="CustomModel", mtype="custom", weights=[("bin", 40_000)]),
    dict(id="ONEnextgen/Llama-3.2-1B-Instruct-emu", task="text-generation", arch="LlamaForCausalLM",
         mtype="llama", lic=("both", "llama3.2"), chat="string", template=LLAMA3, weights=[("st", 250_000)]),
    dict(id="ONEnextgen/tinyllama-chat-emu", task="text-generation", arch="LlamaForCausalLM", mtype="llama",
         lic=("both", "apache-2.0"), chat="string", template=CHATML, weights=[("st", 100_000), ("bin", 100_000)]),
    dict(id="ONEnextgen/granite-3b-code-emu", task="text-generation", arch="GraniteForCausalLM", mtype="granite",
         lic=("both", "apache-2.0"), chat="additional", template=CHATML, weights=[("st", 220_000)]),

    # meta-llama-emu: gated models.
    dict(id="meta-llama-emu/Llama-3.2-1B-Instruct", task="text-generation", arch="LlamaForCausalLM",
         mtype="llama", lic=("both", "llama3.2"), chat="string", template=LLAMA3, gated="manual",
         weights=[("st", 300_000)], tokens=("<|begin_of_text|>", "<|eot_id|>")),
    dict(id="meta-llama-emu/Llama-3.1-8B-Instruct", task="text-generation", arch="LlamaForCausalLM",
         mtype="llama", lic=("both", "llama3.1"), chat="string", template=LLAMA3, gated="auto",
         weights=[("shards", 2, 350_000)], tokens=("<|begin_of_text|>", "<|eot_id|>")),
    dict(id="meta-llama-emu/Llama-3.2-3B", task="text-generation", arch="LlamaForCausalLM", mtype="llama",
         lic=("both", "llama3.2"), chat="none", gated="manual", weights=[("st", 280_000)]),
    dict(id="meta-llama-emu/Llama-Guard-3-1B", task="text-generation", arch="LlamaForCausalLM", mtype="llama",
         lic=("both", "llama3.2"), chat="string", template=LLAMA3, gated="auto", weights=[("st", 200_000)]),
    dict(id="meta-llama-emu/CodeLlama-7b-emu", task="text-generation", arch="LlamaForCausalLM", mtype="llama",
         lic=("tag", "llama2"), chat="none", weights=[("bin_shards", 2, 200_000), ("sp", 25_000)]),

    # acme-ai: private model, licence oddities, GGUF, ONNX.
    dict(id="acme-ai/internal-private-model", task="text-generation", arch="LlamaForCausalLM", mtype="llama",
         lic=("both", "apache-2.0"), chat="string", private=True, weights=[("st", 90_000)]),
    dict(id="acme-ai/sentiment-bert", task="text-classification", arch="BertForSequenceClassification",
         mtype="bert", lic=("card", "cc-by-4.0"), chat="none", weights=[("st", 110_000), ("h5", 110_000)]),
    dict(id="acme-ai/acme-embed-v2", task="feature-extraction", lib="sentence-transformers", arch="XLMRobertaModel",
         mtype="xlm-roberta", lic=("both", "mit"), chat="none", weights=[("st", 160_000), ("sentence",)]),
    dict(id="acme-ai/acme-coder-GGUF", task="text-generation", lib="gguf", mtype="qwen2", lic=("both", "apache-2.0"),
         chat="gguf", template=CHATML, weights=[("gguf", ["Q4_K_M", "Q5_K_M", "Q8_0"], 250_000)]),
    dict(id="acme-ai/acme-vision-onnx", task="image-classification", lib="transformers.js", arch="ViTForImageClassification",
         mtype="vit", lic=("both", "apache-2.0"), chat="no_tokenizer", weights=[("onnx", 180_000)]),
    dict(id="acme-ai/acme-tts", task="text-to-speech", arch="VitsModel", mtype="vits", lic=("both", "cc-by-nc-4.0"),
         chat="none", weights=[("st", 140_000)]),
    dict(id="acme-ai/multi-license-model", task="text-generation", arch="GPT2LMHeadModel", mtype="gpt2",
         lic=("list", ["apache-2.0", "mit"]), chat="none", weights=[("st", 70_000)]),
    dict(id="acme-ai/acme-chat-7b", task="text-generation", arch="MistralForCausalLM", mtype="mistral",
         lic=("both", "apache-2.0"), chat="string", template=INST,
         weights=[("shards", 2, 250_000), ("bin_shards", 2, 250_000)]),
    dict(id="acme-ai/acme-sdxl-lora", task="text-to-image", lib="diffusers", lic=("both", "openrail++"),
         chat="no_tokenizer", weights=[("lora", 90_000)], card={"base_model": "stabilityai/sdxl-emu"}),
    dict(id="acme-ai/acme-translate", task="translation", arch="MarianMTModel", mtype="marian",
         lic=("both", "cc-by-4.0"), chat="none", weights=[("st", 120_000)]),
    dict(id="acme-ai/no-license-model", task="fill-mask", arch="RobertaForMaskedLM", mtype="roberta",
         lic=None, chat="none", weights=[("st", 80_000)]),

    # mistral-emu.
    dict(id="mistral-emu/Mistral-7B-v0.1", task="text-generation", arch="MistralForCausalLM", mtype="mistral",
         lic=("both", "apache-2.0"), chat="none", weights=[("shards", 2, 300_000)]),
    dict(id="mistral-emu/Mistral-7B-Instruct-v0.2", task="text-generation", arch="MistralForCausalLM",
         mtype="mistral", lic=("both", "apache-2.0"), chat="string", template=INST, weights=[("st", 400_000)]),
    dict(id="mistral-emu/Mixtral-8x7B-Instruct-emu", task="text-generation", arch="MixtralForCausalLM",
         mtype="mixtral", lic=("both", "apache-2.0"), chat="string", template=INST, weights=[("shards", 3, 350_000)]),
    dict(id="mistral-emu/Mistral-Small-GGUF", task="text-generation", lib="gguf", mtype="llama",
         lic=("both", "apache-2.0"), chat="gguf_none", weights=[("gguf", ["Q4_0"], 300_000)]),
    dict(id="mistral-emu/Codestral-emu", task="text-generation", arch="MistralForCausalLM", mtype="mistral",
         lic=("other", "mnpl", "https://mistral.ai/licenses/MNPL-0.1.md"), chat="string", template=INST,
         weights=[("st", 260_000)]),
    dict(id="mistral-emu/Pixtral-emu", task="image-text-to-text", arch="LlavaForConditionalGeneration",
         mtype="llava", lic=("both", "apache-2.0"), chat="processor", template=INST, weights=[("st", 300_000)]),
    dict(id="mistral-emu/mistral-embed-emu", task="feature-extraction", lib="sentence-transformers",
         arch="MistralModel", mtype="mistral", lic=("tag", "apache-2.0"), chat="none",
         weights=[("st", 100_000), ("sentence",)]),

    # northwind-labs: assorted tasks, some without pipeline_tag or tokenizer.
    dict(id="northwind-labs/tiny-random-gpt2", task="text-generation", arch="GPT2LMHeadModel", mtype="gpt2",
         lic=("both", "mit"), chat="no_tokenizer", weights=[("st", 8_000)], downloads=12),
    dict(id="northwind-labs/sd-turbo-emu", task="text-to-image", lib="diffusers", lic=("other", "sai-nc-community",
         "https://example.com/sai-nc-community"), chat="no_tokenizer", weights=[("diffusers", 100_000)]),
    dict(id="northwind-labs/clip-emu", task="zero-shot-image-classification", arch="CLIPModel", mtype="clip",
         lic=("both", "mit"), chat="none", weights=[("st", 170_000), ("bin", 170_000)]),
    dict(id="northwind-labs/t5-small-emu", task="text2text-generation", arch="T5ForConditionalGeneration",
         mtype="t5", lic=("both", "apache-2.0"), chat="none", weights=[("st", 130_000), ("h5", 130_000), ("sp", 15_000)]),
    dict(id="northwind-labs/no-pipeline-weights", task=None, lib="transformers", arch="BertModel", mtype="bert",
         lic=("card", "bsd-3-clause"), chat="none", weights=[("st", 50_000)]),
    dict(id="northwind-labs/deberta-ner-emu", task="token-classification", arch="DebertaV2ForTokenClassification",
         mtype="deberta-v2", lic=("both", "mit"), chat="none", weights=[("st", 140_000)]),
    dict(id="northwind-labs/chat-small-emu", task="text-generation", arch="Qwen2ForCausalLM", mtype="qwen2",
         lic=("both", "apache-2.0"), chat="jinja", template=CHATML, weights=[("st", 1_000_000)], likes=7),
    dict(id="northwind-labs/bare-model", task=None, lib=None, lic=None, chat="no_tokenizer", no_config=True,
         weights=[("bin", 20_000)]),
]

# Old id -> current id (307 relative redirect, hub-api.md §2.3).
RENAMED = {"ONEnextgen/old-llama-emu": "ONEnextgen/Llama-3.2-1B-Instruct-emu"}

DATASETS = [
    dict(id="ONEnextgen/emu-chat-instructions", tags=["task_categories:text-generation", "language:en",
                                                      "size_categories:1K<n<10K", "format:parquet", "license:cc-by-4.0"],
         card={"license": "cc-by-4.0", "task_categories": ["text-generation"], "language": ["en"]}),
    dict(id="acme-ai/acme-eval", tags=["task_categories:question-answering", "license:mit", "format:json"],
         card={"license": "mit"}),
]


def build_dataset(row):
    rid = row["id"]
    rng = random.Random("hfhub-emulator-dataset:" + rid)
    b = _Builder("datasets/" + rid, rng, "c0")
    b.text(".gitattributes", GITATTRIBUTES)
    b.text("README.md", yaml_front_matter(row["card"]) + "\n# %s\n\nAn emulated dataset.\n" % rid)
    b.lfs("data/train-00000-of-00002.parquet", b.size(300_000))
    b.lfs("data/train-00001-of-00002.parquet", b.size(300_000))
    b.text("data/test.jsonl", "".join(json.dumps({"prompt": "q%d" % i, "response": "a%d" % i}) + "\n"
                                      for i in range(50)))
    created, modified = _random_dates(rng)
    repo = Repo("dataset", rid, downloads=rng.randrange(100, 90000), likes=rng.randrange(0, 300),
                trending=rng.randrange(0, 50), created_at=iso(created), tags=row["tags"], card_data=row["card"],
                commits=[Commit(commit_sha("datasets/" + rid, 0), iso(modified), "Upload dataset", b.files)],
                extra_history=rng.randrange(1000, 100000))
    return repo


# text-to-image (diffusers, no tokenizer) sits at an odd index: even-numbered models carry
# the chat template, so exactly half of them have one.
SYNTH_TASKS = ["text-generation", "text-generation", "feature-extraction", "text-classification",
               None, "text-to-image"]


def synthetic_rows(n):
    """`--synthetic-models N`: small generated models in bench-org, half with a chat template."""
    rows = []
    for i in range(n):
        task = SYNTH_TASKS[i % len(SYNTH_TASKS)]
        rows.append(dict(id="bench-org/synthetic-model-%05d" % i, task=task,
                         lib=None if task is None else ("diffusers" if task == "text-to-image" else "transformers"),
                         arch="LlamaForCausalLM", mtype="llama", lic=("both", ["apache-2.0", "mit"][i % 2]),
                         chat="string" if i % 2 == 0 else "none", template=CHATML,
                         weights=[("st", 8_000)] if task != "text-to-image" else [("lora", 8_000)],
                         no_config=task == "text-to-image"))
    return rows


BIG_SHARD = 500 * 1024 * 1024


def big_model():
    """bench-org/big-model: ~2.4 GiB in 5 shards of ~500 MiB, for download benchmarks."""
    rid = "bench-org/big-model"
    rng = random.Random("hfhub-emulator:" + rid)
    b = _Builder(rid, rng, "c0")
    b.text(".gitattributes", GITATTRIBUTES)
    b.json("config.json", {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "torch_dtype": "bfloat16"})
    _tokenizer_files(b, "string", LLAMA3, ("<|begin_of_text|>", "<|eot_id|>"))
    weight_map = {}
    n = 5
    for i in range(1, n + 1):
        name = "model-%05d-of-%05d.safetensors" % (i, n)
        # Sizes differ a little (and are not multiples of any chunk size) to catch off-by-ones.
        b.safetensors(name, BIG_SHARD + i * 4099, "model.layers.%d.weight" % i)
        weight_map["model.layers.%d.weight" % i] = name
    b.json("model.safetensors.index.json", {"metadata": {"total_size": 0}, "weight_map": weight_map})
    card = {"license": "apache-2.0", "pipeline_tag": "text-generation", "library_name": "transformers"}
    b.text("README.md", yaml_front_matter(card) + "\n# big-model\n\nDownload benchmark model.\n")
    created, modified = _random_dates(rng)
    repo = Repo("model", rid, downloads=1000, likes=10, trending=5, created_at=iso(created),
                library_name="transformers", pipeline_tag="text-generation",
                tags=["transformers", "safetensors", "llama", "text-generation", "conversational",
                      "license:apache-2.0", "region:us"], card_data=card,
                commits=[Commit(commit_sha(rid, 0), iso(modified), "Upload big model", b.files)],
                chat="string", extra_history=0)
    repo.transformers_info = {"auto_model": "AutoModelForCausalLM", "pipeline_tag": "text-generation",
                              "processor": "AutoTokenizer"}
    return repo


def many_files_model(n):
    """`--many-files N`: bench-org/many-files, N small text files in directories of 100 (plus a
    config.json), for the imports of many small files (a directory import flushes those with
    one syncfs)."""
    rid = "bench-org/many-files"
    rng = random.Random("hfhub-emulator:" + rid)
    b = _Builder(rid, rng, "c0")
    b.json("config.json", {"architectures": ["LlamaForCausalLM"], "model_type": "llama"})
    for i in range(n):
        b.text("data/%03d/%05d.txt" % (i // 100, i), "file %d of %d\n%s\n" % (i, n, "x" * rng.randrange(0, 300)))
    created, modified = _random_dates(rng)
    return Repo("model", rid, downloads=1, likes=0, trending=0, created_at=iso(created),
                tags=["region:us"], commits=[Commit(commit_sha(rid, 0), iso(modified), "Many files", b.files)],
                extra_history=0)


# -- collections ---------------------------------------------------------------------------------

SPACES = {
    "ONEnextgen/chat-playground": {"sdk": "gradio", "title": "Chat Playground", "emoji": "\U0001F4AC"},
    "acme-ai/leaderboard": {"sdk": "docker", "title": "Acme Leaderboard", "emoji": "\U0001F3C6"},
}
PAPERS = {
    "2407.21783": {"title": "The Llama 3 Herd of Models", "publishedAt": "2024-07-31T17:54:27.000Z"},
    "2310.06825": {"title": "Mistral 7B", "publishedAt": "2023-10-10T17:54:27.000Z"},
}

COLLECTIONS = [
    dict(owner="ONEnextgen", slug="certified-llms", id="6740a1b2c3d4e5f601234567",
         title="OpenNebula certified LLMs", theme="indigo", upvotes=42,
         description="Models validated by OpenNebula for the vLLM appliance.",
         items=[("model", "ONEnextgen/Qwen2.5-1.5B-Instruct-emu"), ("model", "ONEnextgen/Llama-3.1-8B-Instruct-emu"),
                ("model", "meta-llama-emu/Llama-3.2-1B-Instruct"), ("model", "mistral-emu/Mistral-7B-Instruct-v0.2"),
                ("model", "ONEnextgen/gemma-3-1b-it-GGUF-emu"), ("dataset", "ONEnextgen/emu-chat-instructions"),
                ("space", "ONEnextgen/chat-playground"), ("paper", "2407.21783"),
                ("collection", "acme-ai/acme-favourites-6740a1b2c3d4e5f6012345ff")]),
    dict(owner="acme-ai", slug="acme-favourites", id="6740a1b2c3d4e5f6012345ff",
         title="Acme favourites", theme="orange", upvotes=3, description="What Acme uses in production.",
         items=[("model", "ONEnextgen/Qwen2.5-1.5B-Instruct-emu"), ("model", "acme-ai/acme-chat-7b"),
                ("model", "acme-ai/acme-embed-v2"), ("model", "northwind-labs/chat-small-emu"),
                ("dataset", "acme-ai/acme-eval"), ("space", "acme-ai/leaderboard"), ("paper", "2310.06825")]),
]

ORGS = {
    "ONEnextgen": "OpenNebula Next Generation", "meta-llama-emu": "Meta Llama (emulated)",
    "acme-ai": "Acme AI", "mistral-emu": "Mistral (emulated)", "northwind-labs": "Northwind Labs",
    "bench-org": "Benchmark Org", "quiet-labs-emu": "Quiet Labs (an organisation without models)",
}


def namespace_kind(name):
    """'org', 'user' or None: what /api/organizations|users/{name}/overview know (case-sensitive)."""
    if name in ORGS:
        return "org"
    if name in {u["name"] for u in USERS.values()}:
        return "user"
    return None


class FixtureSet:
    """All repositories and collections, with lookups."""

    def __init__(self, synthetic=0, many_files=0):
        self.models = [build_model(row) for row in CATALOG + synthetic_rows(synthetic)]
        self.big = big_model()
        self.models.append(self.big)
        if many_files:
            self.models.append(many_files_model(many_files))
        self.datasets = [build_dataset(row) for row in DATASETS]
        self.by_key = {r.key: r for r in self.models + self.datasets}
        self.renamed = dict(RENAMED)
        self.collections = COLLECTIONS
        self.collections_by_id = {c["id"]: c for c in COLLECTIONS}

    def repo(self, repo_type, repo_id):
        return self.by_key.get(("datasets/" if repo_type == "dataset" else "") + repo_id)

    def big_files(self):
        return [f for r in self.models for c in r.commits for f in c.files.values()
                if f.data is None and f.size >= 64 * 1024 * 1024]

    # -- what tests compare against ----------------------------------------------------------
    def _files_json(self, commit):
        return [{"path": f.path, "size": f.size, "sha256": f.sha256, "oid": f.git_oid, "lfs": f.lfs}
                for f in sorted(commit.files.values(), key=lambda f: f.path)]

    def dump(self):
        models = []
        for r in self.models:
            head = r.head
            src = chat_template_source(r, head)
            cfg = model_config(r, head)
            in_info = bool(("tokenizer_config" in cfg and "chat_template" in cfg["tokenizer_config"])
                           or "chat_template_jinja" in cfg or "chat_template" in cfg.get("processor_config", {})
                           or (r.gguf and "chat_template" in r.gguf))
            files = self._files_json(head)
            models.append({
                "id": r.id, "author": r.author, "sha": head.sha, "pipeline_tag": r.pipeline_tag,
                "library_name": r.library_name, "license": derived_license(r),
                "license_name": r.card_data.get("license_name"), "license_link": r.card_data.get("license_link"),
                "gated": r.gated, "private": r.private, "downloads": r.downloads, "likes": r.likes,
                "trendingScore": r.trending, "createdAt": r.created_at, "lastModified": r.last_modified,
                "tags": r.tags, "has_chat_template": src is not None, "chat_template_source": src,
                "chat_template_in_model_info": in_info,
                "refs": {"branches": {k: c.sha for k, c in r.branches.items()},
                         "tags": {k: c.sha for k, c in r.tag_refs.items()}},
                "revisions": {k: {"sha": c.sha, "files": self._files_json(c)} for k, c in r.tag_refs.items()},
                "files": files, "total_size": sum(f["size"] for f in files),
            })
        datasets = [{"id": d.id, "author": d.author, "sha": d.head.sha, "license": derived_license(d),
                     "files": self._files_json(d.head)} for d in self.datasets]
        colls = [{"slug": "%s/%s-%s" % (c["owner"], c["slug"], c["id"]), "owner": c["owner"], "title": c["title"],
                  "items": [{"type": t, "id": i} for t, i in c["items"]],
                  "model_ids": [i for t, i in c["items"] if t == "model"]} for c in self.collections]
        return {"tokens": {"granted": TOKEN_GRANTED, "unapproved": TOKEN_UNAPPROVED},
                "organizations": sorted(ORGS), "users": sorted(u["name"] for u in USERS.values()),
                "license_rule": " ".join(derived_license.__doc__.split("Rule: ", 1)[1].split()),
                "models": models, "datasets": datasets, "collections": colls, "renamed": self.renamed}
