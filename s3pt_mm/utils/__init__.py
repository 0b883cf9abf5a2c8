"""Helpers of every stage, one module each, imported explicitly (this package imports none of them, so
that the light ones stay light): :mod:`.fileio` (atomic writes; stdlib, cv2 on demand), :mod:`.cli`
(command-line parsing), :mod:`.nuscenes_constants` (cameras, versions, splits, dataroot checks),
:mod:`.compat` (torch >= 2.6 fixes for mmengine), :mod:`.checkpoint` (backbone weights of checkpoints),
:mod:`.runner` (the Runner of the tools), :mod:`.deferred_view` (the recipes of views rendered on
the device; numpy only)."""
