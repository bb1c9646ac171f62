#!/usr/bin/env python3
"""Trunk's post-build hook: seal the built page under the policy in Trunk.toml.

Trunk starts the wasm with an inline module script, which a policy without 'unsafe-inline'
refuses; this moves it into its own file (start.js). It then writes the policy from
Trunk.toml's [serve.headers] into the page as a meta tag (for hosts that send no headers;
frame-ancestors is left out, as a meta tag cannot carry it) and writes every header into
`_headers` (the format of Netlify, Cloudflare Pages and similar static hosts).
Runs in Trunk's staging directory (TRUNK_STAGING_DIR).
"""
import html
import os
import re
import sys
import tomllib

root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
staging = os.environ.get("TRUNK_STAGING_DIR") or sys.exit("run by trunk as a post_build hook (TRUNK_STAGING_DIR unset)")
with open(os.path.join(root, "Trunk.toml"), "rb") as f:
    headers = tomllib.load(f)["serve"]["headers"]
policy = headers["Content-Security-Policy"]

page_path = os.path.join(staging, "index.html")
with open(page_path) as f:
    page = f.read()

inline = re.findall(r"<script type=\"module\"[^>]*>(.*?)</script>", page, flags=re.S)
inline = [s for s in inline if s.strip()]
if len(inline) != 1:
    sys.exit(f"seal-page: expected Trunk's one inline start script, found {len(inline)}")
with open(os.path.join(staging, "start.js"), "w") as f:
    f.write(inline[0].strip() + "\n")
page = re.sub(r"<script type=\"module\"[^>]*>.*?</script>", '<script type="module" src="./start.js"></script>', page, count=1, flags=re.S)

meta_policy = "; ".join(d for d in (d.strip() for d in policy.split(";")) if d and not d.startswith("frame-ancestors"))
meta = f'<meta http-equiv="Content-Security-Policy" content="{html.escape(meta_policy, quote=False)}" />'
# First in <head>, so the policy covers every element after it.
page, n = re.subn(r"(<head[^>]*>)", lambda m: m.group(1) + "\n    " + meta, page, count=1)
if n != 1:
    sys.exit("seal-page: the page has no <head>")
with open(page_path, "w") as f:
    f.write(page)

with open(os.path.join(staging, "_headers"), "w") as f:
    f.write("/*\n" + "".join(f"  {k}: {v}\n" for k, v in headers.items()))
