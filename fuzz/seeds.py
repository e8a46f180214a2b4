#!/usr/bin/env python3
"""Writes the fuzz seed corpora (fuzz/seeds/<target>/): the archive documents
and indexes tests/src/fixtures.rs generates (same shapes, plain and gzip),
its malformed objects, and hand-picked edge cases per target. Run from
anywhere; it rewrites the seeds directory. The fuzzers' own finds go to a
work corpus outside the clone, never here."""
import gzip, json, os, shutil

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "seeds")


def dumps(v):
    # serde_json's compact form, non-ASCII kept.
    return json.dumps(v, separators=(",", ":"), ensure_ascii=False).encode()


def gz(b):
    return gzip.compress(b, mtime=0)


def conversation(cid, email, title, n):
    # tests/src/fixtures.rs `conversation`.
    msgs = []
    for i in range(n):
        user = i % 2 == 0
        msgs.append({
            "id": f"{cid}-m{i:05}",
            "conversation_id": cid,
            "role": "user" if user else "assistant",
            "content": f"Question {i}: how do I reset my password?\nSecond line." if user
            else f"Answer {i}: open Settings → Security and choose “Reset”.",
            "feedback": None if user else ("positive" if i % 3 == 0 else None),
            "created_at": f"2025-01-15T10:{(i // 60) % 60:02}:{i % 60:02}Z",
            "input_tokens": None if user else 120 + i,
            "output_tokens": None if user else 340 + i,
            "cost": None if user else 0.00042,
        })
    return {
        "conversation": {"id": cid, "user_id": email, "title": title,
                         "created_at": "2025-01-15T10:30:00Z", "updated_at": "2025-01-16T14:20:00Z",
                         "provider": "openai", "model": "gpt-4o-mini", "timestamp": "2025-01-15T10:30:00Z"},
        "messages": msgs,
        "archive_metadata": {"archived_at": "2025-01-20T09:00:00Z", "message_count": n, "user_email": email},
    }


def index_entry(d):
    c = d["conversation"]
    return {"conversation_id": c["id"], "title": c["title"], "created_at": c["created_at"],
            "archived_at": d["archive_metadata"]["archived_at"],
            "message_count": d["archive_metadata"]["message_count"]}


def write(target, name, data):
    d = os.path.join(ROOT, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


ALICE = "alice.smith@example.com"
UNICODE = "zoë.ünïcode@bücher.de"
HOSTILE = ("<img src=x onerror=\"window.__xss=1\"><script>window.__xss=2</script>"
           "\u001b[2J\u001b]0;pwned\u0007 \u202etxt.exe")


def documents():
    plain = conversation("a-plain", ALICE, "Billing question — refund 💸", 6)
    extra = conversation("a-extra-fields", ALICE, "Extra fields", 3)
    extra["conversation"]["folder"] = {"name": "VIP", "tags": ["a", "b"]}
    extra["messages"][0]["attachments"] = [{"name": "invoice.pdf", "bytes": 12345}]
    extra["messages"][1]["tool_calls"] = [{"fn": "lookup", "args": {"q": 1}}]
    extra["exported_by"] = "archiver 2.3"
    minimal = {"conversation": {"id": "a-minimal", "title": None},
               "messages": [{"id": 1, "role": "user", "content": "only required fields"},
                            {"id": 2, "role": "assistant", "content": None, "feedback": "negative"}]}
    hostile = conversation("a-hostile", ALICE, "<b>Hostile</b> \u001b[31mcontent", 4)
    hostile["messages"][0]["content"] = HOSTILE
    hostile["messages"][1]["content"] = "[click me](javascript:alert(1))\n**bold** `code`"
    u1 = conversation("u-cjk", UNICODE, "返品について — 質問", 2)
    u2 = conversation("u-rtl", UNICODE, "שאלה לגבי חשבון 🙂 é", 2)
    good = {"plain": plain, "extra-fields": extra, "minimal": minimal, "hostile": hostile,
            "unicode-cjk": u1, "unicode-rtl": u2}
    return good


def document_seeds():
    good = documents()
    for name, d in good.items():
        write("document", f"{name}.json", dumps(d))
    write("document", "plain.json.gz", gz(dumps(good["plain"])))
    write("document", "unicode-rtl.json.gz", gz(dumps(good["unicode-rtl"])))
    write("document", "pretty.json", json.dumps(good["minimal"], indent=2, ensure_ascii=True))
    # Two gzip members (MultiGzDecoder reads both).
    text = dumps(good["minimal"])
    write("document", "two-gzip-members.json.gz", gz(text[:20]) + gz(text[20:]))
    m = lambda cid: conversation(cid, "malformed@example.com", "bad", 2)
    t = gz(dumps(m("m-truncated-gz")))
    write("document", "truncated.json.gz", t[: len(t) // 2])
    b = bytearray(dumps(m("m-bad-utf8")))
    b[len(b) // 2] = 0xFF
    write("document", "bad-utf8.json", bytes(b))
    write("document", "not-json.json", b"<html>502 Bad Gateway</html>")
    w = m("m-wrong-types")
    w["messages"] = {"0": "not an array"}
    write("document", "wrong-types.json", dumps(w))
    dup = m("m-dup-ids")
    dup["messages"][1]["id"] = dup["messages"][0]["id"]
    write("document", "dup-ids.json", dumps(dup))
    deep = dumps(m("m-deep")).replace(b"null", b"[" * 200 + b"]" * 200, 1)
    write("document", "deep.json", deep)
    # Hand-picked edges.
    write("document", "empty", b"")
    write("document", "gzip-magic-only", b"\x1f\x8b")
    write("document", "bom.json", b"\xef\xbb\xbf" + dumps(good["minimal"]))
    write("document", "int-ids.json", b'{"conversation":{"id":42},"messages":[{"id":1,"conversation_id":42},{"id":"2","conversation_id":"42"}]}')
    write("document", "id-mismatch.json", b'{"conversation":{"id":"c"},"messages":[{"id":"m","conversation_id":"d"}]}')
    write("document", "bad-id.json", b'{"conversation":{"id":"../x"},"messages":[]}')
    write("document", "numbers.json", b'{"conversation":{"id":"n"},"messages":[],"x":[1e308,-0.0,0.1,1.7976931348623157e308,5e-324,18446744073709551615,-9223372036854775808,123456789012345678901234567890,0.30000000000000004]}')
    write("document", "escapes.json", b'{"conversation":{"id":"e","title":"\\u00e9\\ud83d\\ude00\\u0000"},"messages":[]}')
    write("document", "lone-surrogate.json", b'{"conversation":{"id":"e","title":"\\ud800"},"messages":[]}')
    write("document", "duplicate-keys.json", b'{"conversation":{"id":"a"},"conversation":{"id":"b"},"messages":[]}')
    write("document", "metadata-wrong.json", b'{"conversation":{"id":"c"},"messages":[],"archive_metadata":{"message_count":-1}}')
    write("document", "metadata-float.json", b'{"conversation":{"id":"c"},"messages":[],"archive_metadata":{"message_count":2.0,"archived_at":null}}')
    write("document", "trailing.json", dumps(good["minimal"]) + b" \n x")
    # Found by fuzzing: numbers serde_json's default parser read one ulp off.
    write("document", "float-roundtrip.json", b'{"conversation":{"id":"n"},"messages":[],"x":[0e308,-0.0,0.1,1.5678901215252,-4e-25]}')
    # The index's stem as an id (refused: its key would be metadata.json).
    write("document", "id-metadata.json", b'{"conversation":{"id":"metadata"},"messages":[]}')


def index_seeds():
    good = documents()
    idx = {"user_email": ALICE, "archived_conversations": [index_entry(d) for n, d in good.items() if n != "minimal"],
           "index_version": 1}
    write("index", "metadata.json", dumps(idx))
    write("index", "metadata.json.gz", gz(dumps(idx)))
    write("index", "corrupt.json", b"{\"user_email\": \"x\", \"archived_conv")
    write("index", "missing-list.json", b'{"user_email":"u@x.io"}')
    write("index", "empty-object.json", b"{}")
    write("index", "not-object.json", b"[]")
    write("index", "list-not-array.json", b'{"archived_conversations":{}}')
    write("index", "entry-without-id.json", b'{"archived_conversations":[{"title":"x"}]}')
    write("index", "duplicates.json", b'{"user_email":null,"archived_conversations":[{"conversation_id":"a"},{"conversation_id":"b","pinned":true},{"conversation_id":"a","title":"again"},{"conversation_id":1},{"conversation_id":"1"}]}')
    write("index", "wrong-types.json", b'{"user_email":5,"archived_conversations":[]}')
    write("index", "count-negative.json", b'{"archived_conversations":[{"conversation_id":"a","message_count":-3}]}')
    write("index", "unicode.json", dumps({"user_email": UNICODE, "archived_conversations": [
        index_entry(good["unicode-cjk"]), index_entry(good["unicode-rtl"])]}))
    # Found by fuzzing: a float read one ulp off.
    write("index", "float-roundtrip.json", b'{"user_e4tsra44444444444":4.444e+26,"archived_conversations":[]}')
    write("index", "new-id-clash.json", b'{"archived_conversations":[{"conversation_id":"fuzz-new-1"}]}')


def layout_seeds():
    cases = {
        "default-email": "archived_conversations/\nalice.smith@example.com\narchived_conversations/alice_smith_at_example_com/a-plain.json",
        "folder-gz": "archived_conversations\nalice_smith_at_example_com\na-gz-suffix.json.gz",
        "index-key": "archived_conversations/\nu_at_x_io\nmetadata.json",
        "unicode": "\nzoë.ünïcode@bücher.de\nzoë_ünïcode_at_bücher_de/u-rtl.json.gz",
        "nested-prefix": "a/b/c/\nlegacy-user\nsub/abc.json",
        "bad-prefix": "a/../b\nu@x.io\n../x.json",
        "abs-prefix": "/abs\nx@y\nx.json",
        "dotdot": "p\n..\n...json",
        "slash": "p\na/b@c.d\na\\b.json",
        "control": "p\na\u0001b\nc\td.json",
        "space": "p\n a@b.c \n x.json",
        "no-at": "p\nno-at-sign\nnotes.txt",
        "at-only": "p\n@\n.json",
        "underscore-domain": "p\njane.doe@example.co_uk\njane_doe_at_example_co_uk/metadata.json",
        "double-at": "p\na@b@c\na.json.gz.json",
        "long-email": "p\n" + "a" * 240 + "@example.com\nx.json",
        "max-id": "p\n" + "i" * 255 + "\n" + "i" * 255 + ".json",
        "metadata-like": "p\nmetadata.json\nmetadata.json.gz",
        "dot-domain": "p\na@b._c\nx.json",
        "empty": "",
        # Found by fuzzing: a 253-byte email whose folder is 256 bytes.
        "long-email-folder": "p\n" + "a" * 248 + "@x.io\nx.json",
        # The index's stem as a conversation id: its key is metadata.json.
        "index-stem-as-id": "p\nmetadata\nmetadata.json",
        "many-at-signs": b'\x01\xfb\n@@@@\xb6\xd1\x96\xbf\xbf@\xbf\x8a@@@`@@@@`@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@\xbf\x8a@@@`@u_',
    }
    for name, text in cases.items():
        write("layout", name, text)


def env_seeds():
    cases = {
        "archiver": "S3_BUCKET_NAME=chat-archive\nAWS_REGION=eu-west-1\nSUPABASE_URL=https://abcd.supabase.co\n",
        "archiver-with-secrets": "# archiver settings\nS3_BUCKET_NAME=chat-archive\nAWS_REGION=eu-west-1\nAWS_ACCESS_KEY_ID=AKIAEXAMPLE\nAWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\nSUPABASE_URL=https://abcd.supabase.co\nSUPABASE_SERVICE_ROLE_KEY=eyJhbGciOiJIUzI1NiJ9.service-role.signature\nARCHIVE_AFTER_DAYS=90\n",
        "export-quotes": "export S3_BUCKET_NAME=\"my bucket\"\nAWS_REGION='us-east-1'\n",
        "id-without-secret": "S3_BUCKET_NAME=b\nAWS_ACCESS_KEY_ID=AKIAEXAMPLE\n",
        "secret-without-id": "S3_BUCKET_NAME=b\nAWS_SECRET_ACCESS_KEY=only-the-secret-value\n",
        "unterminated": "S3_BUCKET_NAME=b\nAWS_SECRET_ACCESS_KEY='unterminated-sekrit\n",
        "not-key-value": "S3_BUCKET_NAME=b\nthis line is not a setting\n",
        "no-bucket": "AWS_REGION=eu-west-1\n",
        "empty-bucket": "S3_BUCKET_NAME=\n",
        "substitution": "BASE=archive\nS3_BUCKET_NAME=${BASE}-prod\nSUPABASE_URL=\"https://$BASE.supabase.co\"\n",
        "duplicates": "S3_BUCKET_NAME=first\nS3_BUCKET_NAME=second\nAWS_REGION=a\nAWS_REGION=b\n",
        "http-url": "S3_BUCKET_NAME=b\nSUPABASE_URL=http://example.com\n",
        "loopback-url": "S3_BUCKET_NAME=b\nSUPABASE_URL=http://127.0.0.1:54321/\n",
        "crlf": "S3_BUCKET_NAME=b\r\nAWS_REGION=r\r\n",
        "multiline": "S3_BUCKET_NAME=b\nNOTE=\"line one\nline two\"\n",
        "comments": "# only a comment\n\n   \nS3_BUCKET_NAME=b # trailing comment\n",
        "bad-utf8": b"S3_BUCKET_NAME=\xff\xfe\n",
        "empty": "",
    }
    for name, text in cases.items():
        write("env_import", name, text)


def search_seeds():
    cases = {
        "email": "alice.smith@example.com",
        "email-prefix": "ali",
        "email-upper": "  ALICE  ",
        "title-prefix": "billing",
        "title-words": "refund question",
        "contains": "smith",
        "diacritics": "zoe",
        "unicode": "ünïcode",
        "cjk": "質問",
        "emoji": "💸",
        "short-words": "in ar",
        "quotes": "\"quoted\"",
        "fts-syntax": "AND OR NOT ( ) * ^ : NEAR",
        "markup": "<b>hostile</b>",
        "folder": "legacy",
        "paged": "example\n2 3",
        "paged-far": "e\n100 5",
        "limit-zero": "conversation\n0 0",
        "huge-numbers": "a\n340282366920938463463374607431768211455 1",
        "blank": "   ",
        # Found by fuzzing: FTS5 stops reading a query at a NUL.
        "nul-in-query": b"\xff\xffp\x00",
        # Found by fuzzing (an oracle gap, not a defect): SQLite folds ê to e.
        "circumflex": "zoê.ünïcode",
    }
    for name, text in cases.items():
        write("search_query", name, text)


if __name__ == "__main__":
    shutil.rmtree(ROOT, ignore_errors=True)
    document_seeds()
    index_seeds()
    layout_seeds()
    env_seeds()
    search_seeds()
    for t in sorted(os.listdir(ROOT)):
        print(t, len(os.listdir(os.path.join(ROOT, t))))
