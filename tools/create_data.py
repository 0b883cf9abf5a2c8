"""Prepare datasets for s3pt_mm (OpenMMLab-style create_data).

    python tools/create_data.py nuscenes --root-path data/nuscenes --version v1.0-trainval \
        [--out-dir data/nuscenes] [--workers 8] [--depth-downsample 2] [--ip-basic fast|multiscale] \
        [--max-depth 100] [--skip-errors] [--no-det3d-infos] [--backend-args JSON]

nuscenes: pre-training infos of every camera image of the official train/val splits, with the LIDAR_TOP
sweep projected into each camera and completed with IP-Basic into 16-bit depth PNGs (see
s3pt_mm/converters/nuscenes_pretrain.py for the format). Re-running resumes: images whose depth map
exists are skipped. It also writes nuscenes_infos_{train,val}.pkl, the mmdetection3d 1.4 infos PETR trains
and evaluates on (s3pt_mm/converters/nuscenes_det3d.py), unless --no-det3d-infos is given.
"""
import argparse
import json
import sys

from s3pt_mm.converters import ConversionError, create_nuscenes_det3d_infos, create_pretrain_infos


def main(argv=None):
    parser = argparse.ArgumentParser(description='s3pt_mm data preparation')
    sub = parser.add_subparsers(dest='dataset', required=True)
    nus = sub.add_parser('nuscenes', help='nuScenes pre-training infos + dense LiDAR depth maps')
    nus.add_argument('--root-path', required=True, help='nuScenes dataroot')
    nus.add_argument('--version', default='v1.0-trainval',
                     choices=['v1.0-trainval', 'v1.0-mini', 'v1.0-test'])
    nus.add_argument('--out-dir', help='where infos and depth maps go (default: the root path)')
    nus.add_argument('--workers', type=int, default=4, help='worker processes (0 = in-process)')
    nus.add_argument('--depth-downsample', type=int, default=2,
                     help='depth maps at image size / this integer factor')
    nus.add_argument('--image-scale', type=float, default=1.0,
                     help='also write the camera images resized by this factor (e.g. 0.5) and point the infos '
                     'to them: a quarter of the pixels to decode per image, for clusters short of CPU cores '
                     '(image scale x depth downsample must be an integer)')
    nus.add_argument('--ip-basic', choices=['fast', 'multiscale'], default='fast',
                     help='IP-Basic variant for the depth completion')
    nus.add_argument('--max-depth', type=float, default=100.0, help='LiDAR range kept (metres)')
    nus.add_argument('--skip-errors', action='store_true',
                     help='count and skip images that cannot be converted instead of stopping')
    nus.add_argument('--no-det3d-infos', action='store_true',
                     help='do not write the mmdetection3d infos for PETR (nuscenes_infos_{train,val}.pkl)')
    nus.add_argument('--backend-args', type=json.loads,
                     help='mmengine.fileio backend arguments (JSON) for reading the images and point clouds, '
                     'e.g. \'{"backend": "petrel", "path_mapping": {"data/nuscenes/": "s3://nuscenes/"}}\'')
    args = parser.parse_args(argv)
    try:
        report = create_pretrain_infos(args.root_path, args.version, args.out_dir, workers=args.workers,
                                       depth_downsample=args.depth_downsample, completion=args.ip_basic,
                                       max_depth=args.max_depth, skip_errors=args.skip_errors,
                                       backend_args=args.backend_args, image_scale=args.image_scale)
        if not args.no_det3d_infos and args.version != 'v1.0-test':  # the test split has no annotations
            report['det3d_info_files'] = create_nuscenes_det3d_infos(args.root_path, args.version,
                                                                     args.out_dir)
    except (ConversionError, FileNotFoundError, ValueError) as error:
        print(f'error: {error}', file=sys.stderr)
        return 1
    print(json.dumps({k: report[k] for k in ('images', 'done', 'skipped', 'failed', 'failure_reasons',
                                              'nonfinite_points_dropped', 'info_files', 'det3d_info_files')
                      if k in report}, indent=2))
    return 0


if __name__ == '__main__':
    sys.exit(main())
