#!/usr/bin/env python3
# Copies the files that docs/connectors.md quotes (```lang title="path"```) into it again.
# Run from the repository root: python3 docs/sync_quotes.py
import re,sys
p='docs/connectors.md'; s=open(p).read()
def repl(m):
    path=m.group(2)
    return m.group(1)+open(path).read()+"```"
s=re.sub(r'(```\w+ title="([^"]+)"\n)(.*?)```', repl, s, flags=re.S)
open(p,'w').write(s)
