#!/usr/bin/env python3
# Stand-in for OpenNebula's src/datastore_mad/remotes/xpath.rb (Ruby in
# OpenNebula; this one is Python, written for hfhub's tests, so that the
# tests need no Ruby): `xpath.rb -b <base64 XML> XPATH...` prints the text of
# each XPATH's element followed by a NUL byte (empty when it is missing), and
# exits with the number of missing elements, as the real one does.
import base64
import sys
import xml.etree.ElementTree as ET

args = sys.argv[1:]
if len(args) < 2 or args[0] not in ("-b", "--base64"):
    sys.exit(255)
root = ET.fromstring(base64.b64decode(args[1]))
missing = 0
out = []
for xpath in args[2:]:
    parts = xpath.strip("/").split("/")
    el = root if parts and parts[0] == root.tag else None
    for p in parts[1:]:
        el = el.find(p) if el is not None else None
    if el is None:
        missing += 1
    out.append((el.text or "") if el is not None else "")
sys.stdout.write("".join(v + "\0" for v in out))
sys.exit(missing)
