"""Test setup: Qt renders offscreen, and BLAS uses one thread (small arrays)."""

import os
import tempfile

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
# autosaves go to a scratch folder, never the user's
os.environ.setdefault("PLAYGROUND_AUTOSAVE_DIR", tempfile.mkdtemp(prefix="playground-autosave-"))
