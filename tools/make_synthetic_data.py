"""Generate a small synthetic driving dataset in the genuine nuScenes and nuImages formats.

    python tools/make_synthetic_data.py OUT_DIR [--seed S] [--scenes N] [--samples-per-scene K]
                                        [--image-size H W] [--lidar-azimuth-step DEG] [--overwrite]
                                        [--preview PNG|JPG]

Writes ``OUT_DIR/nuscenes`` (``NuScenes(version='v1.0-mini', dataroot=OUT_DIR/nuscenes)``; beyond 10
scenes ``version='v1.0-trainval'``, named after scenes of the official train / val splits) and
``OUT_DIR/nuimages`` (``NuImages(version='v1.0-mini' | 'v1.0-train' | 'v1.0-val', ...)``). The output
appears atomically once complete; an existing non-empty OUT_DIR is only replaced with --overwrite.
--preview writes a picture of the first key frame of up to four scenes (front-left, front and
front-right cameras, the very frames of the dataset).
"""
import argparse
import sys
import time

import numpy as np

from s3pt_mm.synthetic import SyntheticConfig, generate_synthetic_dataset, plan_nuscenes, render_camera
from s3pt_mm.utils.fileio import write_jpeg_atomic, write_png_atomic

PREVIEW_CAMERAS = ('CAM_FRONT_LEFT', 'CAM_FRONT', 'CAM_FRONT_RIGHT')


def preview(config: SyntheticConfig, scenes: int = 4) -> np.ndarray:
    """BGR picture: one row per scene (first key frame), the three front cameras side by side."""
    rows = []
    for plan in plan_nuscenes(config)[:scenes]:
        cameras = {camera.channel: camera for camera in plan.cameras}
        rows.append(np.concatenate([render_camera(plan.world, plan.times[0], cameras[c]).image
                                    for c in PREVIEW_CAMERAS], axis=1))
    return np.concatenate(rows, axis=0)[..., ::-1]


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Generate synthetic nuScenes + nuImages data')
    parser.add_argument('out_dir', help='output directory (gets nuscenes/ and nuimages/)')
    parser.add_argument('--seed', type=int, default=0, help='random seed (default: 0)')
    parser.add_argument('--scenes', type=int, default=2,
                        help='nuScenes scenes and nuImages logs, 1..64 (default: 2): up to 10 a v1.0-mini '
                        'dataset (scene 2 is mini_val), more a v1.0-trainval one (scenes 2, 7, 12, ... are val)')
    parser.add_argument('--samples-per-scene', type=int, default=3, help='keyframes per scene (default: 3)')
    parser.add_argument('--image-size', type=int, nargs=2, metavar=('H', 'W'), default=(180, 320),
                        help='camera image height and width in pixels (default: 180 320; real: 900 1600)')
    parser.add_argument('--lidar-azimuth-step', type=float, default=0.4,
                        help='horizontal LiDAR resolution in degrees (default: 0.4)')
    parser.add_argument('--objects-per-scene', type=int, default=24,
                        help='random objects per scene besides the guaranteed ones (default: 24)')
    parser.add_argument('--overwrite', action='store_true', help='replace an existing non-empty OUT_DIR')
    parser.add_argument('--preview', metavar='FILE',
                        help='also write a picture of the first key frames here (PNG, or JPEG for .jpg / .jpeg)')
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    start = time.time()
    try:
        config = generate_synthetic_dataset(
            args.out_dir, seed=args.seed, num_scenes=args.scenes, samples_per_scene=args.samples_per_scene,
            image_size=tuple(args.image_size), lidar_azimuth_step=args.lidar_azimuth_step,
            objects_per_scene=args.objects_per_scene, overwrite=args.overwrite, progress=True)
    except (FileExistsError, ValueError) as error:
        print(f'error: {error}', file=sys.stderr)
        return 2
    print(f'Wrote {config.num_scenes} scenes x {config.samples_per_scene} samples '
          f'({config.image_size[0]}x{config.image_size[1]} images) to {args.out_dir}/nuscenes and '
          f'{args.out_dir}/nuimages in {time.time() - start:.1f} s')
    if args.preview:
        picture = preview(config)
        if args.preview.lower().endswith(('.jpg', '.jpeg')):
            write_jpeg_atomic(args.preview, picture, quality=92)
        else:
            write_png_atomic(args.preview, picture)
        print(f'Wrote the preview {args.preview}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
