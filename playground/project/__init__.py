"""Project files: one JSON format for presets and for the user's files.

A project is ``NAME.json`` (schema_version, graph, training settings, recipe, notes) plus,
when it has trained weights, ``NAME.npz`` beside it. Loading validates every field and
names the one at fault; it never executes code (``json`` and ``np.load(allow_pickle=False)``
only). Saving writes temp files and renames them, so a failed save leaves the old files.

This layer knows the file's structure, not the node types: the graph layer checks types and
params when it builds the model (:meth:`playground.graph.GraphModel.from_dict`).
"""

from .format import (SCHEMA_VERSION, Project, ProjectError, Training, from_dict, load,
                     preset_names, presets_dir, resolve, save, to_dict)

__all__ = ["SCHEMA_VERSION", "Project", "ProjectError", "Training", "from_dict", "load",
           "preset_names", "presets_dir", "resolve", "save", "to_dict"]
