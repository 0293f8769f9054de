"""Small handout sources for the handout library and renderer tests."""

GUIDANCE = """\
---
slug: sample-guidance
title: Talking it through
summary: A short sample handout for the tests.
kind: guidance
focuses: [anxiety, depression]
modules: []
---
Some calm words for the test.

## A heading

- one point

| Step | What to try |
|---|---|
| One | Take a breath |
"""

MODULE = """\
---
slug: sample-module
title: A module worksheet
summary: A short sample worksheet.
kind: module
focuses: [adhd]
modules: [adhd-01-sample, adhd-02-sample]
---
Write below.

:::lines 3

- [ ] First thing
- [ ] Second thing
"""
