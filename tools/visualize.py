"""Pictures of s3pt_mm, as PNG files.

    # spatial clusters of pre-trained teachers with CrIBo's and S3PT's clustering settings (Figure 1)
    python tools/visualize.py clusters --data-root data/nuscenes --index 0 \
        --checkpoint DINO=work_dirs/dino/epoch_40.pth --checkpoint S3PT=work_dirs/s3pt/epoch_40.pth \
        --out clusters.png
    # image, projected LiDAR depth, IP-Basic completed depth
    python tools/visualize.py depth --data-root data/nuscenes --index 0 --out depth.png
    # nuImages val images, their labels and the predictions of segmentation runs (Figure 6)
    python tools/visualize.py seg --data-root data/nuimages --index 0 5 9 \
        --model DINO=work_dirs/linear_dino --model S3PT=work_dirs/linear_s3pt --out seg.png

clusters / depth: images come from the pre-training info file (``--info``, default
``s3pt_infos_pretrain_val.pkl`` under the data root) written by tools/create_data.py. seg: images and
labels of ``semantic_splits/<split>.txt`` of tools/dataset_converters/nuimages_seg.py; a model is the
work dir of a tools/train.py run (its config and last checkpoint).
"""
import argparse
import glob
import os.path as osp
import sys

import cv2
import numpy as np

from s3pt_mm.utils.cli import name_and_path
from s3pt_mm.utils.info_files import load_info_file


def load_entry(args):
    info = args.info or osp.join(args.data_root, 's3pt_infos_pretrain_val.pkl')
    if not osp.isfile(info):
        raise SystemExit(f'info file not found: {info} (run tools/create_data.py first)')
    infos = load_info_file(info)
    entries = infos['data_list']
    if not 0 <= args.index < len(entries):
        raise SystemExit(f'--index {args.index} out of range: {info} has {len(entries)} images')
    entry = entries[args.index]
    image = cv2.imread(osp.join(args.data_root, entry['img_path']))
    depth = None
    if entry.get('depth_path'):
        raw = cv2.imread(osp.join(args.data_root, entry['depth_path']), cv2.IMREAD_UNCHANGED)
        depth = cv2.resize(raw.astype(np.float32) / infos['metainfo']['depth_scale'],
                           (image.shape[1], image.shape[0]), interpolation=cv2.INTER_NEAREST_EXACT)
    return entry, image, depth


def cmd_clusters(args):
    from s3pt_mm.visualization import (CLUSTER_SETTINGS, build_teacher, caption, grid, overlay_labels,
                                       teacher_clusters)
    _, image, depth = load_entry(args)
    rows = []
    for name, path in args.checkpoint:
        backbone, preprocessor, patch = build_teacher(path)
        row = []
        for label, clusters, iters, beta in (CLUSTER_SETTINGS[0], CLUSTER_SETTINGS[-1]):
            labels = teacher_clusters(backbone, image, depth, num_clusters=clusters, num_iters=iters,
                                      depth_alpha=beta, height=args.height, patch_size=patch,
                                      data_preprocessor=preprocessor)
            row.append(caption(overlay_labels(image, labels), f'{name} | {label}'))
        rows.append(row)
    return grid(rows)


def cmd_depth(args):
    from s3pt_mm.depth import fill_in_fast, lidar_to_camera, sparse_depth_map
    from s3pt_mm.visualization import caption, colorize_depth, grid
    from nuscenes.nuscenes import NuScenes
    entry, image, depth = load_entry(args)
    nusc = NuScenes(version=args.version, dataroot=args.data_root, verbose=False)
    cam = nusc.get('sample_data', entry['sample_data_token'])
    lidar = nusc.get('sample_data', nusc.get('sample', cam['sample_token'])['data']['LIDAR_TOP'])
    calib = nusc.get('calibrated_sensor', cam['calibrated_sensor_token'])
    matrix = lidar_to_camera(nusc.get('calibrated_sensor', lidar['calibrated_sensor_token']),
                             nusc.get('ego_pose', lidar['ego_pose_token']),
                             nusc.get('ego_pose', cam['ego_pose_token']), calib)
    points = np.fromfile(osp.join(args.data_root, lidar['filename']), np.float32).reshape(-1, 5)[:, :3]
    sparse = sparse_depth_map(points, matrix, np.array(calib['camera_intrinsic']), image.shape[:2]).depth
    # dilate the projected points so that single pixels are visible
    shown = cv2.dilate(np.where(sparse > 0, 1000 - sparse, 0), np.ones((3, 3), np.uint8))
    shown = np.where(shown > 0, 1000 - shown, 0)
    completed = depth if depth is not None else fill_in_fast(sparse)
    return grid([[caption(image, entry['img_path'].split('/')[-1][:60]),
                  caption(colorize_depth(shown), f'LiDAR projected ({int((sparse > 0).sum())} px)'),
                  caption(colorize_depth(completed), 'IP-Basic completed')]])


def load_segmenter(work_dir):
    """mmseg model of a training work dir: its dumped config and its last (or only) checkpoint."""
    from mmseg.apis import init_model

    import s3pt_mm.seg  # noqa: F401
    configs = sorted(glob.glob(osp.join(work_dir, '*.py')))
    if len(configs) != 1:
        raise SystemExit(f'{work_dir}: expected the one config a tools/train.py run dumps, found {configs}')
    last = osp.join(work_dir, 'last_checkpoint')
    if osp.isfile(last):
        with open(last) as f:
            checkpoint = f.read().strip()
    else:
        checkpoints = sorted(glob.glob(osp.join(work_dir, '*.pth')), key=osp.getmtime)
        if not checkpoints:
            raise SystemExit(f'{work_dir}: no checkpoint (*.pth) found')
        checkpoint = checkpoints[-1]
    return init_model(configs[0], checkpoint, device='cpu')


def cmd_seg(args):
    from mmseg.apis import inference_model

    from s3pt_mm.seg.classes import IGNORE_INDEX, NUIMAGES_SEG_PALETTE
    from s3pt_mm.converters.nuimages_seg import LABEL_DIR, split_names
    from s3pt_mm.visualization import caption, grid, overlay_labels
    try:
        names = split_names(args.data_root, args.split)
    except FileNotFoundError as error:
        raise SystemExit(str(error))
    models = []
    for name, work_dir in args.model:
        models.append((name, load_segmenter(work_dir)))
    palette = np.asarray(NUIMAGES_SEG_PALETTE, np.uint8)[:, ::-1]  # RGB -> BGR
    rows = []
    for index in args.index:
        if not 0 <= index < len(names):
            raise SystemExit(f'--index {index} out of range: the {args.split} split of {args.data_root} has '
                             f'{len(names)} images')
        image = cv2.imread(osp.join(args.data_root, names[index] + '.jpg'))
        label = cv2.imread(osp.join(args.data_root, LABEL_DIR, names[index] + '.png'), cv2.IMREAD_UNCHANGED)
        if image is None or label is None:
            raise SystemExit(f'cannot read the image or the label of {names[index]} under {args.data_root}')
        row = [caption(image, names[index].split('/')[-1][:60]),
               caption(overlay_labels(image, label, 0.6, palette, IGNORE_INDEX), 'ground truth')]
        for name, model in models:
            prediction = inference_model(model, image).pred_sem_seg.data[0].numpy()
            row.append(caption(overlay_labels(image, prediction, 0.6, palette), name))
        rows.append(row)
    return grid(rows)


def main(argv=None):
    parser = argparse.ArgumentParser(description='s3pt_mm pictures')
    sub = parser.add_subparsers(dest='command', required=True)
    for name in ('clusters', 'depth', 'seg'):
        p = sub.add_parser(name)
        p.add_argument('--out', required=True, help='output PNG')
        p.add_argument('--scale', type=float, default=1.0, help='resize the picture by this factor')
    for name in ('clusters', 'depth'):
        p = sub.choices[name]
        p.add_argument('--data-root', required=True, help='nuScenes root (with create_data output)')
        p.add_argument('--info', help='pre-training info file (default: <root>/s3pt_infos_pretrain_val.pkl)')
        p.add_argument('--index', type=int, default=0, help='image index in the info file')
    seg = sub.choices['seg']
    seg.add_argument('--data-root', required=True, help='nuImages root (with nuimages_seg.py output)')
    seg.add_argument('--split', default='val', help='split file of the converter (default: val)')
    seg.add_argument('--index', type=int, nargs='+', default=[0], help='image indices in the split (rows)')
    seg.add_argument('--model', action='append', required=True, type=name_and_path, metavar='NAME=WORK_DIR',
                     help='NAME=WORK_DIR of a segmentation training run (repeatable, columns)')
    sub.choices['clusters'].add_argument('--checkpoint', action='append', required=True, type=name_and_path,
                                         metavar='NAME=PATH',
                                         help='NAME=PATH of a pre-training checkpoint (repeatable)')
    sub.choices['clusters'].add_argument('--height', type=int, default=224, help='ViT input height')
    sub.choices['depth'].add_argument('--version', default='v1.0-mini')
    args = parser.parse_args(argv)
    picture = dict(clusters=cmd_clusters, depth=cmd_depth, seg=cmd_seg)[args.command](args)
    if args.scale != 1.0:
        picture = cv2.resize(picture, None, fx=args.scale, fy=args.scale, interpolation=cv2.INTER_NEAREST)
    from s3pt_mm.utils.fileio import write_png_atomic
    write_png_atomic(args.out, picture)
    print(f'wrote {args.out} ({picture.shape[1]}x{picture.shape[0]})', file=sys.stderr)


if __name__ == '__main__':
    main()
