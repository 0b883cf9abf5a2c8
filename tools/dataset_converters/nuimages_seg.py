"""Convert nuImages annotations into semantic segmentation labels for mmseg (NuImagesSegDataset).

    python tools/dataset_converters/nuimages_seg.py data/nuimages [--versions v1.0-train v1.0-val]
        [--out-dir DIR] [--workers 8] [--overwrite]

Reads the official release with the nuImages devkit and writes, next to it (or under --out-dir):

    semantic_labels/samples/CAM_*/<name>.png    uint8 class ids, 255 = ignored
    semantic_labels/classes.txt                 the class of each id
    semantic_splits/train.txt, val.txt          one image per line (samples/CAM_*/<name>)

Classes (ids 0-12): background, driveable surface, car, truck, trailer, bus, construction vehicle,
bicycle, motorcycle, pedestrian, traffic cone, barrier, ego vehicle; the mapping from nuImages categories
is documented in s3pt_mm/seg/classes.py and docs/segmentation.md (the 12-class variant is selected in the
dataset config, from the same labels). Interrupted runs resume: existing labels are kept unless
--overwrite (and refused if classes.txt shows they were written for other classes).
"""
import argparse
import sys

from s3pt_mm.converters.nuimages_seg import convert_version


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('dataroot', help='nuImages dataroot (holds samples/ and v1.0-*/)')
    parser.add_argument('--versions', nargs='+', default=['v1.0-train', 'v1.0-val'],
                        help='nuImages versions to convert (default: v1.0-train v1.0-val)')
    parser.add_argument('--out-dir', help='output root (default: the dataroot)')
    parser.add_argument('--workers', type=int, default=1, help='processes writing labels')
    parser.add_argument('--overwrite', action='store_true', help='rewrite existing labels')
    args = parser.parse_args(argv)
    for version in args.versions:
        try:
            stats = convert_version(args.dataroot, version, args.out_dir, args.workers, args.overwrite)
        except (FileNotFoundError, ValueError, KeyError) as error:
            sys.exit(f'error: {error.args[0] if error.args else error}')
        print(f'{version}: {stats["images"]} images, {stats["written"]} labels written, '
              f'{stats["skipped"]} already there')


if __name__ == '__main__':
    main()
