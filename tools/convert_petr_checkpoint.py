"""Convert the PETR head of an mmdetection3d PETR checkpoint (projects/PETR) for s3pt_mm's PETR.

    python tools/convert_petr_checkpoint.py PORT_CKPT OUT.pth [--config CONFIG]

Writes ``{'state_dict': {pts_bbox_head.*}, 'meta': {...}}`` with the port's head weights renamed and the
last classification / regression rows reordered (key map and code order: s3pt_mm/det3d/port_checkpoint.py,
docs/detection3d.md). The class order is the config's ``class_names`` (default: the PETR configs of
configs/detection3d). Load it with ``--cfg-options load_from=OUT.pth`` (mmengine loads non-strictly and
lists missing keys: the backbone). ``input_proj`` only fits a head whose ``in_channels`` equals the port's
(256, its CPFPN neck); for a ViT the converted projection is reported as a size mismatch and stays random.
"""
import argparse
import os.path as osp

from mmengine.config import Config

from s3pt_mm.det3d.port_checkpoint import PORT_CLASSES, convert_port_head
from s3pt_mm.utils.checkpoint import save_checkpoint_atomic
from s3pt_mm.utils.compat import UntrustedCheckpointError, load_checkpoint_safely

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
DEFAULT_CONFIG = osp.join(ROOT, 'configs', 'detection3d', '_base_', 'nuscenes_petr_800x320.py')


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('checkpoint', help='mmdetection3d PETR checkpoint (.pth)')
    parser.add_argument('out', help='output file (.pth)')
    parser.add_argument('--config', default=DEFAULT_CONFIG, help='config whose class_names give our class order')
    parser.add_argument('--port-classes', nargs='+', default=list(PORT_CLASSES),
                        help='class order of the port checkpoint (default: its nuScenes config)')
    args = parser.parse_args(argv)
    if not osp.isfile(args.checkpoint):
        raise SystemExit(f'error: checkpoint not found: {args.checkpoint}')
    try:
        checkpoint = load_checkpoint_safely(args.checkpoint, map_location='cpu')
    except UntrustedCheckpointError as error:
        raise SystemExit(f'error: {error}')
    state = checkpoint.get('state_dict', checkpoint)
    classes = Config.fromfile(args.config).get('class_names')
    if classes is None:
        raise SystemExit(f'error: {args.config} has no class_names')
    try:
        converted, dropped = convert_port_head(state, classes, args.port_classes)
    except ValueError as error:
        raise SystemExit(f'error: {args.checkpoint}: {error}')
    save_checkpoint_atomic(dict(state_dict=converted, meta=dict(converted_from=args.checkpoint,
                                                                port_classes=list(args.port_classes),
                                                                classes=list(classes))), args.out)
    print(f'{len(converted)} head tensors -> {args.out}; left out {len(dropped)} keys '
          f'(backbone, neck, code_weights)')
    return converted, dropped


if __name__ == '__main__':
    main()
